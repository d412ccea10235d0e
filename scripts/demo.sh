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
# Babuino's embedded Sentinel proxy forwards pip to the same recorded registry.
export SENTINEL_PROXY_PYPI_SIMPLE="http://127.0.0.1:$reg_port/pypi/simple/"
export SENTINEL_PROXY_PYPI_FILES="http://127.0.0.1:$reg_port/pypi/files/"
export SENTINEL_CACHE_DIR="$out/sentinel-cache"
audit="$out/audit"
export CUTUFATO_DIR="$audit"
export TRIAD_SESSION=coding-agent-42
export PATH="$bin:$PATH"

title "0. One audit log for the agent's session"
say "Cutufato keeps the session's signed log. Each tool below records into it (--audit) under the"
say "session id in TRIAD_SESSION ($TRIAD_SESSION)."
run cutufato init --origin demo.security-triad/audit

title "1. Sentinel: the agent's dependencies"
say "The agent wrote examples/agent/requirements.txt. Sentinel checks each name against the registry"
say "(recorded PyPI answers), the popular-name corpus, and an offline OSV mirror (real advisories)."
run sentinel db import "$root/crates/sentinel/tests/fixtures/osv/PyPI/all.zip"
set +e
run sentinel scan --audit "$audit" "$ex/agent/requirements.txt"
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "demo: expected Sentinel to block (exit 2), got $rc" >&2; exit 1; }
say "Both blocked (exit 2) and recorded. The agent takes the suggestions; Sentinel also pins a version"
say "without known advisories:"
run sentinel scan --audit "$audit" "$ex/agent/requirements.fixed.txt"

title "2. Babuino: the agent's script runs in the sandbox"
say "Packages reach a sandbox only through Sentinel's registry proxy. Had the agent ignored Sentinel,"
say "Babuino would not have installed its requirements either:"
set +e
run babuino run --audit "$audit" --packages "$ex/agent/requirements.txt" "$ex/agent/fetch_rates.py"
rc=$?
set -e
[ "$rc" -eq 120 ] || { echo "demo: expected Babuino to refuse the packages (exit 120), got $rc" >&2; exit 1; }
say "With the corrected requirements, pip installs them in a sandbox of its own, through Sentinel; the"
say "script then runs with them read-only. Only rates.internal.test (a loopback server standing in for"
say "an internal service) is allowed."
run env BABUINO_TEST_RESOLVE="rates.internal.test=127.0.0.1:$rates_port" \
    babuino run --audit "$audit" --packages "$ex/agent/requirements.fixed.txt" \
    --network-allow rates.internal.test \
    --env RATES_URL=http://rates.internal.test/today.json \
    --output "$out/run-output" "$ex/agent/fetch_rates.py"
say "Result copied out of the sandbox: $(cat "$out/run-output/summary.txt")"
# The run report, as signed into the log.
run_id=$(cutufato list --session "$TRIAD_SESSION" --source babuino --limit 1 --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["execution_id"])')
cutufato show "$run_id" --json |
    python3 -c 'import json,sys; json.dump(json.load(sys.stdin)["content"]["data"], sys.stdout, indent=2)' \
    >"$out/run-report.json"
grep -q '"denied-write"' "$out/run-report.json" && grep -q '"blocked-connect"' "$out/run-report.json" ||
    { echo "demo: the run report lacks the denial events" >&2; exit 1; }

title "3. Cutufato: the LLM decision, signed, attributed, verified"
say "The agent also answered a contract question from two documents. Cutufato records it."
run cutufato docs add "$ex/decision/docs/contract_2024.md" "$ex/decision/docs/retention_policy.md"
cutufato docs chunks contract_2024.md retention_policy.md >"$out/chunks.json"
printf '\033[36m$ %s\033[0m\n' "cutufato record --prompt prompt.txt --context chunks.json --response answer.txt --model gpt-x --actor coding-agent"
id=$(cutufato record --prompt "$ex/decision/prompt.txt" --context "$out/chunks.json" \
    --response "$ex/decision/answer.txt" --model gpt-x --actor coding-agent --purpose "contract question")
echo "$id"
run cutufato show "$id"
cutufato show "$id" --html >"$out/diff.html"
run cutufato verify "$id"

title "4. One log, the whole session"
say "The session's story, in order, from the one log: Sentinel's blocks, Babuino's runs, the decision"
say "(\`cutufato replay --session $TRIAD_SESSION\` prints each record in full)."
run cutufato list --session "$TRIAD_SESSION" --oldest-first
run cutufato verify --all

say "Now someone edits a copy of the log: the run record loses the write Babuino denied, and the"
say "contract answer's EUR 12,000 becomes EUR 1,200."
cp -a "$audit" "$out/audit-tampered"
python3 - "$out/audit-tampered/log.db" "$run_id" "$id" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def idx(execution_id):
    return db.execute("select idx from entries where execution_id = ?", (execution_id,)).fetchone()[0]
run, decision = idx(sys.argv[2]), idx(sys.argv[3])
(body,) = db.execute("select body from content where idx = ?", (run,)).fetchone()
content = json.loads(body)
content["data"]["events"] = [e for e in content["data"]["events"] if e["kind"] != "denied-write"]
db.execute("update content set body = ? where idx = ?", (json.dumps(content).encode(), run))
(body,) = db.execute("select body from content where idx = ?", (decision,)).fetchone()
db.execute("update content set body = ? where idx = ?",
           (body.replace(b"monthly fee of EUR 12,000. Either", b"monthly fee of EUR 1,200. Either"), decision))
db.commit()
PY
set +e
run env CUTUFATO_DIR="$out/audit-tampered" cutufato verify --all
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "demo: verify did not catch the tampering" >&2; exit 1; }
for bad in "$run_id" "$id"; do
    set +e
    CUTUFATO_DIR="$out/audit-tampered" cutufato verify "$bad" >/dev/null 2>&1
    rc=$?
    set -e
    [ "$rc" -ne 0 ] || { echo "demo: verify did not catch the edit of $bad" >&2; exit 1; }
done
say "Each edited record also fails on its own: cutufato verify $run_id, cutufato verify $id."

title "Summary"
cat <<EOF
  Sentinel   blocked 2 of 2 bad dependencies (a typo and a hallucinated name) and named the right ones;
             and refused them again inside Babuino, before anything was installed
  Babuino    installed the corrected packages through Sentinel, denied the write to /etc/passwd,
             blocked evil.example, let rates.internal.test through
  Cutufato   signed the whole session into one log: Sentinel's blocks, Babuino's runs, the decision
             with its unsupported sentence flagged; verify caught both edits

  artifacts in $out:
    run-report.json        Babuino's run report, as signed into the log
    run-output/            what the script left in /out
    audit/                 the session's Cutufato log (verify with: CUTUFATO_DIR=$out/audit cutufato verify --all)
    diff.html              the answer beside its sources, unsupported sentence highlighted
EOF
