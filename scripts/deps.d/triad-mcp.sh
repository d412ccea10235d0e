# triad-mcp: scripts/mcp-session.sh (a test step of ./triad test) runs examples/mcp/session.py, a
# real MCP client session over the three servers, with the official MCP Python SDK from the venv at
# $TRIAD_CACHE/venv-mcp. Same venv and pin as sentinel-mcp.sh and cutufato-mcp.sh (idempotent).
deps_triad_mcp() {
    if [ "$1" = test ]; then
        command -v python3 >/dev/null 2>&1 || need_apt python3 python3-venv
        python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt python3-venv
        need_pip_venv "$TRIAD_CACHE/venv-mcp" mcp==2.3.0
    fi
}
