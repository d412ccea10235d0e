# Helpers shared by ./triad and the per-component install steps in scripts/deps.d/.
# Each file in scripts/deps.d/ defines what its component needs by calling need_apt / need_pip
# from a function named deps_<file name without .sh>; ensure_deps runs them all.

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }

_apt_updated=0
# need_apt PKG...: installs the Debian packages that are not installed yet.
need_apt() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if [ $_apt_updated -eq 0 ]; then
        step "apt-get update (to install: ${missing[*]})"
        $sudo apt-get update -qq
        _apt_updated=1
    fi
    step "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# need_pip_venv DIR PKG...: a Python virtualenv at DIR holding the given requirement specs.
need_pip_venv() {
    local dir=$1
    shift
    local stamp="$dir/.triad-requirements"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$*" ]; then
        return 0
    fi
    step "python venv $dir: $*"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q "$@" >&2
    echo "$*" >"$stamp"
}

# ensure_deps MODE: runs deps_<component> MODE for every scripts/deps.d/<component>.sh.
ensure_deps() {
    local mode=$1 f name
    mkdir -p "$TRIAD_CACHE"
    for f in "$root"/scripts/deps.d/*.sh; do
        [ -e "$f" ] || continue
        # shellcheck disable=SC1090
        source "$f"
        name=$(basename "$f" .sh)
        "deps_${name//-/_}" "$mode"
    done
}
