# Cutufato log: the Go reference implementation of signed notes and tlog proofs
# (golang.org/x/mod/sumdb/note, sumdb/tlog) verifies our checkpoints and proofs in a test.
deps_cutufato_log() {
    if [ "$1" = test ]; then
        need_apt golang-go golang-golang-x-mod-dev
    fi
}
