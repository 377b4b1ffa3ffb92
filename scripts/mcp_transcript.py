"""Record one worker loop through the MCP SDK's own client into a Markdown transcript (docs/mcp-transcript.md).

    .venv/bin/python scripts/mcp_transcript.py [OUTPUT.md]

In a throwaway project folder it queues two tasks in stream `auth`, starts `sparkq mcp --stream
auth` as the client's subprocess (stdio, as Claude Code would), and runs the loop an agent runs:
streams -> claim -> heartbeat -> complete (output from a file), claim -> fail with a QUESTION,
claim with wait (nothing left). Every call and answer is written down as the agent sees it,
with the size of the `tools/list` answer. Needs the `mcp` extra.
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from sparkq_entry.wiring import open_queue

ROOT = Path(__file__).resolve().parents[1]
SPARKQ = str(Path(sys.executable).parent / "sparkq")


def shown(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


async def record(folder: Path) -> list[str]:
    queue = open_queue(folder / "sparkq.db", project="demo")
    queue.create_session("api-v2")
    queue.create_stream("auth", "api-v2", "Add login to the API. Done when `scripts/test.sh` passes.")
    queue.enqueue("auth", "run-bash", {"script": "scripts/test.sh"})
    queue.enqueue("auth", "llm-sonnet", {"prompt": "Remove the v1 /login endpoint"})
    (folder / "test.out").write_text("14 passed in 2.31s\n")

    lines: list[str] = []
    server = StdioServerParameters(command=SPARKQ, args=["mcp", "--stream", "auth"], cwd=str(folder))
    async with Client(server, mode="legacy") as client:
        listing = await client.list_tools()
        wire = json.dumps(listing.model_dump(by_alias=True, mode="json", exclude_none=True), separators=(",", ":"))
        lines += [
            f"Server: `sparkq mcp --stream auth` over stdio, protocol {client.protocol_version}, "
            f"SDK mcp {metadata.version('mcp')} (its own `Client`).",
            "",
            f"`tools/list`: {len(listing.tools)} tools ({', '.join(t.name for t in listing.tools)}), "
            f"**{len(wire.encode()):,} bytes** of JSON.",
            "",
            "Server instructions (sent once, at initialize):",
            "",
            f"> {client.instructions}",
        ]

        async def call(name: str, arguments: dict[str, Any], why: str) -> Any:
            result = await client.call_tool(name, arguments)
            [content] = result.content
            text = content.text if content.type == "text" else str(content)
            try:
                answer: Any = json.loads(text)
                body = shown(answer)
            except ValueError:
                answer, body = text, text
            lines.extend(
                [
                    "",
                    f"### {why}",
                    "",
                    f"→ `{name}` "
                    + (f"`{json.dumps(arguments, ensure_ascii=False)}`" if arguments else "(no arguments)"),
                    "",
                    "← " + ("**tool error** (isError)" if result.is_error else "result"),
                    "",
                    "```json" if body is not text else "```text",
                    body,
                    "```",
                ]
            )
            return answer

        await call("streams", {}, "1. Find the stream and read its instructions")
        first = await call("claim", {"wait": 30}, "2. Claim (the default stream, waiting up to 30 s)")
        await call("heartbeat", {"task_id": first["id"], "note": "login route written; running tests"}, "3. Heartbeat")
        await call(
            "complete",
            {
                "task_id": first["id"],
                "summary": "Added POST /login with bcrypt hashing; 14 tests pass",
                "result": {"files": ["src/auth.py", "tests/test_auth.py"]},
                "stdout_file": str(folder / "test.out"),
            },
            "4. Complete, with a summary and the test output read from a file",
        )
        second = await call("claim", {}, "5. Claim the next task")
        await call(
            "fail",
            {
                "task_id": second["id"],
                "error": "QUESTION: remove v1 /login now, or keep it until v2 ships? (a) remove now (b) keep both",
            },
            "6. Escalate: fail with a QUESTION",
        )
        await call("claim", {"wait": 1}, "7. Claim again: nothing is queued")
        await call("complete", {"task_id": first["id"], "summary": "again"}, "8. A refusal: the task already succeeded")
        await call("tasks", {"stream": "auth"}, "9. What the developer reviews")
    return lines


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else ROOT / "docs" / "mcp-transcript.md"
    with tempfile.TemporaryDirectory() as tmp:
        lines = anyio.run(record, Path(tmp))
    header = [
        "# A worker loop over MCP",
        "",
        "Generated by `scripts/mcp_transcript.py` (run it again to refresh; ids and times change).",
        "",
    ]
    output.write_text("\n".join(header + lines) + "\n")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
