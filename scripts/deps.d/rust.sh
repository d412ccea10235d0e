# The Rust toolchain's own components that the test command uses.
deps_rust() {
    if [ "$1" = test ]; then
        rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
    fi
}
