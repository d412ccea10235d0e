# sentinel-mcp: what the MCP, proxy and hook tests need.
#   - the MCP Python SDK (a real MCP client not written here) and pip, in a venv the tests find
#     at $TRIAD_CACHE/venv-mcp (or $TRIAD_MCP_PYTHON);
#   - npm, to install through the registry proxy.
deps_sentinel_mcp() {
    if [ "$1" = test ]; then
        command -v python3 >/dev/null 2>&1 || need_apt python3 python3-venv
        python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt python3-venv
        need_pip_venv "$TRIAD_CACHE/venv-mcp" mcp==2.3.0
        command -v npm >/dev/null 2>&1 || need_apt nodejs npm
    fi
}
