# sentinel-mcp: the proxy tests install through `sentinel proxy` with npm (and pip, from the MCP
# client venv of scripts/deps.d/mcp-client.sh).
deps_sentinel_mcp() {
    if [ "$1" = test ]; then
        command -v npm >/dev/null 2>&1 || need_apt nodejs npm
    fi
}
