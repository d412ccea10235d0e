# babuino --packages: pip and npm run inside the sandbox from the host's /usr (the sandbox mounts
# /usr read-only), so the system python3 needs pip and a system node needs npm. Interpreters
# under /root (pyenv) are not visible in the sandbox and do not count.
deps_babuino_packages() {
    if [ "$1" = test ] || [ "$1" = demo ]; then
        need_apt python3 python3-pip
        if [ ! -x /usr/bin/npm ] && [ ! -x /usr/local/bin/npm ]; then
            need_apt nodejs npm
        fi
    fi
}
