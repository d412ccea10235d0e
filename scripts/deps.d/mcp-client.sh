# mcp-client: the MCP tests of all three tools (and examples/mcp) drive the servers with the
# official MCP Python SDK, a real client not written here, from one venv the tests find at
# $TRIAD_CACHE/venv-mcp (or $TRIAD_MCP_PYTHON).
deps_mcp_client() {
    if [ "$1" = test ]; then
        command -v python3 >/dev/null 2>&1 || need_apt python3 python3-venv
        python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt python3-venv
        need_pip_venv "$TRIAD_CACHE/venv-mcp" mcp==2.3.0
    fi
}
