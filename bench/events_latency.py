"""How long after a CLI enqueue the server's event stream announces it (target: within 1 s).

Run by hand (not a test):  .venv/bin/python bench/events_latency.py [--rounds 20]

Starts a real `sparkq run` on a free loopback port in a temporary folder, listens on
`GET /api/events`, and for each round runs `sparkq enqueue` as a separate process (which
writes the SQLite file directly, as agents do). Latency is measured from the moment the
enqueue process exits (its commit is done) to the moment the `task.enqueued` event with its
id arrives. Also prints the enqueue process's own wall time, measured in the same run, as a
baseline. Stops the server it started, by PID.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _support import SPARKQ, clean_env, running_server

TARGET_SECONDS = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    env = clean_env()

    with tempfile.TemporaryDirectory(prefix="sparkq-events-") as tmp:
        folder = Path(tmp)
        subprocess.run([SPARKQ, "session", "create", "b"], cwd=folder, env=env, check=True, capture_output=True)
        subprocess.run(
            [SPARKQ, "stream", "create", "s", "--session", "b"], cwd=folder, env=env, check=True, capture_output=True
        )
        with running_server(folder, env) as (url, _):
            arrivals: queue.Queue[tuple[float, dict[str, object]]] = queue.Queue()

            def listen() -> None:
                try:
                    with httpx.stream("GET", url + "/api/events", timeout=httpx.Timeout(5.0, read=None)) as response:
                        for line in response.iter_lines():
                            if line.startswith("data:"):
                                arrivals.put((time.perf_counter(), json.loads(line[5:])))
                except httpx.HTTPError:
                    pass  # the server stopped at the end of the run

            threading.Thread(target=listen, daemon=True).start()
            time.sleep(0.5)

            latencies, enqueue_times = [], []
            for _ in range(args.rounds):
                start = time.perf_counter()
                out = subprocess.run(
                    [SPARKQ, "enqueue", "run-bash", "{}", "--stream", "s"],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                    text=True,
                )
                committed = time.perf_counter()
                task_id = out.stdout.strip()
                enqueue_times.append(committed - start)
                while True:
                    at, event = arrivals.get(timeout=10)
                    if event.get("id") == task_id and event.get("kind") == "task.enqueued":
                        latencies.append(at - committed)
                        break
                time.sleep(0.05)

    med = statistics.median(latencies)
    worst = max(latencies)
    print(f"event latency over {args.rounds} CLI enqueues (commit -> SSE event)")
    print(
        f"  median {med * 1000:7.1f} ms   max {worst * 1000:7.1f} ms   target <= {TARGET_SECONDS * 1000:.0f} ms: "
        f"{'met' if worst <= TARGET_SECONDS else 'MISSED'}"
    )
    print(
        f"  baseline, same run: one `sparkq enqueue` process takes {statistics.median(enqueue_times) * 1000:.1f} ms "
        f"(latency is {med / statistics.median(enqueue_times):.2f}x of it)"
    )
    return 0 if worst <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
