#!/usr/bin/env bash
# The Security Triad demo: an AI coding agent's session, contained by the three tools.
# Run through `./triad demo` (which builds the binaries); needs no network: the registry answers
# are recorded fixtures served from loopback, the "internal" rates service is a loopback server.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${TRIAD_BIN:-$CARGO_TARGET_DIR/debug}
out=${TRIAD_DEMO_OUT:-$(mktemp -d /tmp/triad-demo.XXXXXX)}
mkdir -p "$out"
ex="$root/examples"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# A free loopback port.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# serve DIR PORT: a static HTTP server on loopback.
serve() {
    (cd "$1" && exec python3 -m http.server "$2" --bind 127.0.0.1) >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$2),0.2)" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "demo: the loopback server on port $2 did not start" >&2
    exit 1
}
title() { printf '\n\033[1m━━ %s\033[0m\n' "$*"; }
say() { printf '\033[2m%s\033[0m\n' "$*"; }
run() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }

reg_port=$(port)
serve "$root/crates/sentinel/tests/fixtures/registry" "$reg_port"
rates_port=$(port)
serve "$ex/agent" "$rates_port"

export SENTINEL_PYPI_URL="http://127.0.0.1:$reg_port/pypi"
export SENTINEL_CACHE_DIR="$out/sentinel-cache"
export CUTUFATO_DIR="$out/audit"
export PATH="$bin:$PATH"

title "1. Sentinel: the agent's dependencies"
say "The agent wrote examples/agent/requirements.txt. Sentinel checks each name against the registry"
say "(recorded PyPI answers), the popular-name corpus, and an offline OSV mirror (real advisories)."
run sentinel db import "$root/crates/sentinel/tests/fixtures/osv/PyPI/all.zip"
set +e
run sentinel scan "$ex/agent/requirements.txt"
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "demo: expected Sentinel to block (exit 2), got $rc" >&2; exit 1; }
say "Both blocked (exit 2). The agent takes the suggestions; Sentinel also pins a version without known advisories:"
run sentinel scan "$ex/agent/requirements.fixed.txt"

title "2. Babuino: the agent's script runs in the sandbox"
say "Only rates.internal.test (a loopback server standing in for an internal service) is allowed."
run env BABUINO_TEST_RESOLVE="rates.internal.test=127.0.0.1:$rates_port" \
    babuino run --network-allow rates.internal.test \
    --env RATES_URL=http://rates.internal.test/today.json \
    --output "$out/run-output" "$ex/agent/fetch_rates.py"
env BABUINO_TEST_RESOLVE="rates.internal.test=127.0.0.1:$rates_port" \
    babuino run --quiet --json --network-allow rates.internal.test \
    --env RATES_URL=http://rates.internal.test/today.json \
    "$ex/agent/fetch_rates.py" >"$out/run-report.json" 2>/dev/null
say "Result copied out of the sandbox: $(cat "$out/run-output/summary.txt")"
grep -q '"denied-write"' "$out/run-report.json" && grep -q '"blocked-connect"' "$out/run-report.json" ||
    { echo "demo: the run report lacks the denial events" >&2; exit 1; }

title "3. Cutufato: the LLM decision, signed, attributed, verified"
say "The agent also answered a contract question from two documents. Cutufato records it."
run cutufato init --origin demo.security-triad/audit
run cutufato docs add "$ex/decision/docs/contract_2024.md" "$ex/decision/docs/retention_policy.md"
cutufato docs chunks contract_2024.md retention_policy.md >"$out/chunks.json"
printf '\033[36m$ %s\033[0m\n' "cutufato record --prompt prompt.txt --context chunks.json --response answer.txt --model gpt-x --actor coding-agent"
id=$(cutufato record --prompt "$ex/decision/prompt.txt" --context "$out/chunks.json" \
    --response "$ex/decision/answer.txt" --model gpt-x --actor coding-agent --purpose "contract question")
echo "$id"
run cutufato show "$id"
cutufato show "$id" --html >"$out/diff.html"
run cutufato verify "$id"

say "Now someone edits the stored answer in a copy of the log (EUR 12,000 becomes EUR 1,200)."
cp -a "$out/audit" "$out/audit-tampered"
python3 - "$out/audit-tampered/log.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(body,) = db.execute("select body from content where idx = 0").fetchone()
db.execute("update content set body = ? where idx = 0",
           (body.replace(b"monthly fee of EUR 12,000. Either", b"monthly fee of EUR 1,200. Either"),))
db.commit()
PY
set +e
run env CUTUFATO_DIR="$out/audit-tampered" cutufato verify --all
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "demo: verify did not catch the tampering" >&2; exit 1; }

title "Summary"
cat <<EOF
  Sentinel   blocked 2 of 2 bad dependencies (a typo and a hallucinated name) and named the right ones
  Babuino    denied the write to /etc/passwd, blocked evil.example, let rates.internal.test through
  Cutufato   signed and logged the decision, flagged the unsupported sentence, caught the tampering

  artifacts in $out:
    run-report.json        Babuino's run report (JSON)
    run-output/            what the script left in /out
    audit/                 the Cutufato log (verify with: CUTUFATO_DIR=$out/audit cutufato verify --all)
    diff.html              the answer beside its sources, unsupported sentence highlighted
EOF
