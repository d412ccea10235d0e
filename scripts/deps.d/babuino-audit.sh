# babuino-audit: `babuino mcp` is tested with the official MCP Python SDK (the venv shared with
# sentinel-mcp at $TRIAD_CACHE/venv-mcp) and runs node code in the sandbox.
deps_babuino_audit() {
    if [ "$1" = test ]; then
        command -v python3 >/dev/null 2>&1 || need_apt python3 python3-venv
        python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt python3-venv
        need_pip_venv "$TRIAD_CACHE/venv-mcp" mcp==2.3.0
        command -v node >/dev/null 2>&1 || need_apt nodejs
    fi
}
