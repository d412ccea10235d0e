# babuino native backend: the kernel is all it needs to run. Its tests use python3 and curl
# inside the sandbox (from the host's /usr), and its benchmark compares against bubblewrap.
deps_babuino_native() {
    need_apt python3 curl
    if [ "$1" = test ] || [ "$1" = demo ]; then
        need_apt bubblewrap
    fi
}
