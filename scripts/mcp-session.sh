#!/usr/bin/env bash
# One assistant session over the three MCP servers (examples/mcp/session.py), offline, then an
# independent check of the log it left. Run by `./triad test` after the demo; alone:
#
#   TRIAD_BIN=target/debug scripts/mcp-session.sh
#
# Sets up what an operator would: a Cutufato log (TRIAD_AUDIT) and a session id (TRIAD_SESSION)
# shared by the three servers, Sentinel pointed at the recorded registry answers served on
# loopback (SENTINEL_PYPI_URL, and the proxy Babuino starts for @pypi), advisories imported from
# the recorded OSV archive into a temporary cache. Then session.py starts the servers from
# examples/mcp/mcp.json and plays the assistant; then `cutufato verify --all` checks the whole
# log and that it holds Sentinel's and Babuino's events beside the decision.
#
# Exit: 0 the session and the log check passed; 1 something failed (the reason on stderr);
# 2 a prerequisite is missing (binaries, the MCP SDK venv).
# Environment: TRIAD_BIN (default $CARGO_TARGET_DIR/debug), TRIAD_MCP_PYTHON (default
# $TRIAD_CACHE/venv-mcp/bin/python), TRIAD_MCP_OUT (keep the session's files there).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${TRIAD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/security-triad}
bin=${TRIAD_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug}
python=${TRIAD_MCP_PYTHON:-$cache/venv-mcp/bin/python}
fail() { echo "mcp-session: $*" >&2; exit 1; }

for b in sentinel babuino cutufato; do
    [ -x "$bin/$b" ] || { echo "mcp-session: $bin/$b not found: build with \`cargo build -p sentinel -p babuino -p cutufato\` and set TRIAD_BIN" >&2; exit 2; }
done
"$python" -c 'import mcp' 2>/dev/null ||
    { echo "mcp-session: $python cannot import the MCP SDK: run ./triad test once (it makes the venv) or set TRIAD_MCP_PYTHON" >&2; exit 2; }

out=${TRIAD_MCP_OUT:-$(mktemp -d /tmp/triad-mcp.XXXXXX)}
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The recorded registry answers, on a free loopback port (as scripts/demo.sh does).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$root/crates/sentinel/tests/fixtures/registry" && exec python3 -m http.server "$port" --bind 127.0.0.1) >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
    sleep 0.1
done
python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null ||
    fail "the loopback registry on port $port did not start"

export PATH="$bin:$PATH" TRIAD_BIN="$bin"
export SENTINEL_PYPI_URL="http://127.0.0.1:$port/pypi"
export SENTINEL_PROXY_PYPI_SIMPLE="http://127.0.0.1:$port/pypi/simple/"
export SENTINEL_PROXY_PYPI_FILES="http://127.0.0.1:$port/pypi/files/"
export SENTINEL_CACHE_DIR="$out/sentinel-cache"
export TRIAD_AUDIT="$out/audit"
export TRIAD_SESSION=${TRIAD_SESSION:-assistant-session-1}

sentinel db import "$root/crates/sentinel/tests/fixtures/osv/PyPI/all.zip" >"$out/setup.log" 2>&1 ||
    { cat "$out/setup.log" >&2; fail "importing the recorded advisories failed"; }
cutufato --dir "$TRIAD_AUDIT" init --origin example.security-triad/mcp-session >>"$out/setup.log" 2>&1 ||
    { cat "$out/setup.log" >&2; fail "cutufato init failed"; }

rc=0
"$python" -u "$root/examples/mcp/session.py" --config "$root/examples/mcp/mcp.json" \
    --server-log "$out/servers.log" --json "$out/session.json" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "mcp-session: session.py failed (exit $rc); the servers' stderr ($out/servers.log):" >&2
    tail -n 40 "$out/servers.log" >&2 || true
    exit 1
fi

# Independently of the servers: the whole log verifies, and holds the session's records.
echo
echo "\$ cutufato verify --all"
cutufato --dir "$TRIAD_AUDIT" verify --all || fail "cutufato verify --all failed on the session's log"
cutufato --dir "$TRIAD_AUDIT" verify --all --json >"$out/verify.json" ||
    fail "cutufato verify --all --json failed"
cutufato --dir "$TRIAD_AUDIT" list --session "$TRIAD_SESSION" --oldest-first --json --limit 100 >"$out/list.json" ||
    fail "cutufato list failed"
python3 - "$out/verify.json" "$out/list.json" "$out/session.json" <<'PY' || fail "the log does not cover the session (above)"
import json, sys
verify, records, session = (json.load(open(p)) for p in sys.argv[1:4])
def need(cond, msg):
    if not cond:
        sys.exit(f"mcp-session: {msg}")
need(not verify["findings"], f"verify --all has findings: {verify['findings']}")
by_source = {}
for r in records:
    by_source.setdefault(r.get("source") or r["kind"], []).append(r)
need(len(by_source.get("sentinel", [])) == 1, f"expected Sentinel's one block in the session, got {records}")
need([r["execution_id"] for r in by_source.get("babuino", [])] == [session["run"]],
     f"expected Babuino's run {session['run']} in the session, got {records}")
need([r["execution_id"] for r in by_source.get("decision", [])] == [session["decision"]],
     f"expected the decision {session['decision']} in the session, got {records}")
need(verify["entries"] == len(records) and verify["events"] == 2 and verify["decisions"] == 1,
     f"verify --all covered {verify['entries']} entries ({verify['events']} events, "
     f"{verify['decisions']} decisions); the session has {len(records)} records")
print(f"log verified: {verify['entries']} entries ({verify['events']} events: Sentinel's block and "
      f"Babuino's run; {verify['decisions']} decision), all in session {session['session']}")
PY
echo "mcp session passed (files in $out)"
