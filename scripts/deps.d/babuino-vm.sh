# Babuino's micro-VM backend (--sandbox kvm): QEMU, the tools `babuino setup vm` uses to build the
# guest assets (apt-get download of the cloud kernel, lz4 to unpack it, debootstrap and
# squashfs-tools for the read-only root, cpio to check the initramfs writer), then the assets
# themselves, cached under $TRIAD_CACHE/babuino/vm (idempotent: a second run only re-hashes).
deps_babuino_vm() {
    need_apt qemu-system-x86 debootstrap squashfs-tools lz4 cpio
    if [ "$1" = test ] || [ "$1" = demo ]; then
        step "babuino: micro-VM guest assets in $TRIAD_CACHE/babuino/vm"
        BABUINO_CACHE="$TRIAD_CACHE/babuino" cargo run --quiet --locked -p babuino -- setup vm >&2
    fi
}
