# babuino-audit: `babuino mcp` runs node code in the sandbox in its tests (the MCP client venv is
# scripts/deps.d/mcp-client.sh).
deps_babuino_audit() {
    if [ "$1" = test ]; then
        command -v node >/dev/null 2>&1 || need_apt nodejs
    fi
}
