# cutufato-mcp: the MCP tests drive `cutufato mcp` with the official MCP Python SDK (a real client
# not written here), from the venv the tests find at $TRIAD_CACHE/venv-mcp (or $TRIAD_MCP_PYTHON).
# Same venv and pin as scripts/deps.d/sentinel-mcp.sh; need_pip_venv is idempotent.
deps_cutufato_mcp() {
    if [ "$1" = test ]; then
        command -v python3 >/dev/null 2>&1 || need_apt python3 python3-venv
        python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt python3-venv
        need_pip_venv "$TRIAD_CACHE/venv-mcp" mcp==2.3.0
    fi
}
