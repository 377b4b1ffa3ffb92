"""What heartbeats cost, and what the worker cycle pays for them: this tree against a baseline tree.

Run by hand (not a test):
    git archive <commit before the heartbeat change> src | tar -x -C /tmp/baseline
    .venv/bin/python bench/heartbeat_cost.py --baseline /tmp/baseline/src [--rounds 7] [--cycles 300]

Each round runs, in a fresh interpreter per tree (so each imports its own `sparkq_*`), the library's
enqueue + claim + complete cycle on a fresh SQLite file: cycles per second, CPU seconds, and the WAL
pages one cycle writes; this tree also gives the WAL pages of one heartbeat (with a note) of one of 200
running tasks. Rounds alternate baseline / this tree, so
noise on a shared machine hits both alike; the medians and the median of the paired ratios are printed,
with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sqlite3, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[2])
from _support import wal_pages_per_cycle
from sparkq_entry.wiring import open_queue

cycles = int(sys.argv[3])
folder = Path(tempfile.mkdtemp(prefix="hb-bench-"))
queue = open_queue(folder / "sparkq.db")
queue.ensure_project("bench")
queue.create_session("s")
queue.create_stream("a", "s")

def cycle(_n=0):
    task = queue.enqueue("a", "run-bash", {"script": "x.sh"})
    claimed = queue.claim("a")
    queue.complete(claimed.task.id, {"summary": "ok"})

for _ in range(20):
    cycle()
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(cycles):
    cycle()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
wal = wal_pages_per_cycle(folder / "sparkq.db", cycle)
out = {"rate": cycles / wall, "cpu_per_cycle": cpu / cycles, "wal_cycle": wal}
if hasattr(queue, "heartbeat"):
    running = [queue.enqueue("a", "run-bash", {}).id for _ in range(200)]
    for _ in running:
        queue.claim("a")
    out["wal_heartbeat"] = wal_pages_per_cycle(
        folder / "sparkq.db", lambda n: queue.heartbeat(running[n % 200], f"step {n}: tests written, 3/5 pass")
    )
print(json.dumps(out))
"""


def run(src: Path, cycles: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(src), str(HERE), str(cycles)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(src)},
    )
    return dict(json.loads(done.stdout))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="the src folder of the baseline tree")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cycles", type=int, default=300)
    args = parser.parse_args()
    this = HERE.parent / "src"
    load_before = os.getloadavg()
    base_runs, this_runs = [], []
    for n in range(args.rounds):
        order = ((args.baseline, base_runs), (this, this_runs))
        for src, runs in order if n % 2 == 0 else order[::-1]:
            runs.append(run(src, args.cycles))
    load_after = os.getloadavg()

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    def paired(key: str) -> float:
        return statistics.median(t[key] / b[key] for b, t in zip(base_runs, this_runs, strict=True))

    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min); {args.rounds} rounds")
    print(f"{'':28}{'baseline':>12}{'this tree':>12}{'this / base':>13}")
    for key, label in (
        ("rate", "cycles/s"),
        ("cpu_per_cycle", "CPU ms per cycle"),
        ("wal_cycle", "WAL pages per cycle"),
    ):
        scale = 1000 if key == "cpu_per_cycle" else 1
        base, mine = median(base_runs, key) * scale, median(this_runs, key) * scale
        print(f"{label:28}{base:12.2f}{mine:12.2f}{paired(key):13.3f}")
    print(f"{'WAL pages per heartbeat':28}{'-':>12}{median(this_runs, 'wal_heartbeat'):12.2f}")
    return 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        raise SystemExit(main())
