#!/usr/bin/env bash
# The Security Triad demo (see README). Filled in as the three tools land.
set -euo pipefail
bin=$CARGO_TARGET_DIR/release
echo "Security Triad demo: binaries in $bin"
