"""Whole-process wall time of the worker commands, against `python -c "import sqlite3"`.

Run by hand (not a test):  .venv/bin/python bench/cli_latency.py [--rounds 30] [--config] [--importtime]
                                 [--compare OTHER_SRC]

Each round runs, in this order: the floor (`python -c "import sqlite3"`), `sparkq enqueue`,
`sparkq peek`, `sparkq claim`, `sparkq complete` — interleaved so that noise on the shared
machine hits every command alike. Prints the median per command and its ratio to the floor.
Targets (issue 3): `peek` and `claim` ≤ 110 ms median and ≤ 8x the floor.
With --config the project has a sparkq.yml (the default one), so YAML is read on every call.
With --compare, every command also runs from another source tree (e.g. an unpacked older commit's
`src`, through PYTHONPATH, on a project folder of its own), interleaved with this one in each round
(which goes first alternates), and the ratio this / other of each median is printed: "not slower"
is a ratio of 1.0 or less, measured in the same minutes; also of each process's CPU time (user +
system), which the load of other programs stretches far less than the wall time. The load
average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable  # the real interpreter, never a pyenv shim on PATH
SPARKQ = str(Path(sys.executable).parent / "sparkq")
TARGET_MS = 110.0
TARGET_RATIO = 8.0


def timed(cmd: list[str], cwd: Path, env: dict[str, str], cpu: list[float] | None = None) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout
    elapsed = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return elapsed, out


def prepare(cwd: Path, env: dict[str, str], *, config: bool) -> None:
    """A project with a session and a stream in `cwd`; the OS page cache and the .pyc files warmed."""
    if config:
        subprocess.run([SPARKQ, "setup", "--defaults"], cwd=cwd, env=env, check=True, capture_output=True)
    subprocess.run([SPARKQ, "session", "create", "bench"], cwd=cwd, env=env, check=True, capture_output=True)
    subprocess.run(
        [SPARKQ, "stream", "create", "s", "--session", "bench"], cwd=cwd, env=env, check=True, capture_output=True
    )
    for _ in range(3):
        timed([PYTHON, "-c", "import sqlite3"], cwd, env)
        timed([SPARKQ, "peek", "--stream", "s"], cwd, env)


def one_round(cwd: Path, env: dict[str, str], times: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    """The floor, then enqueue, peek, claim and complete, each a whole process; their times appended."""
    times["floor"].append(timed([PYTHON, "-c", "import sqlite3"], cwd, env, cpu["floor"])[0])
    enqueue = [SPARKQ, "enqueue", "run-bash", '{"script": "x.sh"}', "--stream", "s"]
    times["enqueue"].append(timed(enqueue, cwd, env, cpu["enqueue"])[0])
    times["peek"].append(timed([SPARKQ, "peek", "--stream", "s"], cwd, env, cpu["peek"])[0])
    ms, out = timed([SPARKQ, "claim", "--stream", "s"], cwd, env, cpu["claim"])
    times["claim"].append(ms)
    task_id = json.loads(out)["id"]
    complete = [SPARKQ, "complete", task_id, "--result", '{"summary": "bench"}']
    times["complete"].append(timed(complete, cwd, env, cpu["complete"])[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--config", action="store_true", help="run with a sparkq.yml in the project folder")
    parser.add_argument("--importtime", action="store_true", help="also print what `sparkq peek` spends imports on")
    parser.add_argument("--compare", metavar="OTHER_SRC", help="also run every command from this source tree")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKQ_")}
    trees = {"this": env}
    if args.compare:
        trees["other"] = {**env, "PYTHONPATH": str(Path(args.compare).resolve())}
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="sparkq-bench-") as tmp:
        folders = {name: Path(tmp) / name for name in trees}
        for name, tree_env in trees.items():
            folders[name].mkdir()
            prepare(folders[name], tree_env, config=args.config)
        cwd = folders["this"]

        names = ("floor", "enqueue", "peek", "claim", "complete")
        times: dict[str, dict[str, list[float]]] = {tree: {k: [] for k in names} for tree in trees}
        cpu: dict[str, dict[str, list[float]]] = {tree: {k: [] for k in names} for tree in trees}
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for tree in order:
                one_round(folders[tree], trees[tree], times[tree], cpu[tree])

        print(f"CLI latency, {args.rounds} rounds, {'with' if args.config else 'without'} sparkq.yml")
        print(f"{'command':<28}{'median ms':>10}{'p90 ms':>9}{'x floor':>9}  target")
        ok = True
        floor = statistics.median(times["this"]["floor"])
        for name, samples in times["this"].items():
            med = statistics.median(samples)
            p90 = statistics.quantiles(samples, n=10)[-1]
            label = 'python -c "import sqlite3"' if name == "floor" else f"sparkq {name}"
            verdict = ""
            if name in ("peek", "claim"):
                met = med <= TARGET_MS and med / floor <= TARGET_RATIO
                ok &= met
                verdict = f"<= {TARGET_MS:.0f} ms and <= {TARGET_RATIO:.0f}x: {'met' if met else 'MISSED'}"
            print(f"{label:<28}{med:>10.1f}{p90:>9.1f}{med / floor:>9.2f}  {verdict}")
        if args.compare:
            print(f"\nagainst {args.compare} (same rounds, interleaved): median ms this, other, this / other")
            print(f"{'':<28}{'wall':>10}{'':>9}{'':>9}{'CPU':>10}{'':>9}{'':>9}")
            for name in names:
                mine, theirs = statistics.median(times["this"][name]), statistics.median(times["other"][name])
                mine_cpu, theirs_cpu = statistics.median(cpu["this"][name]), statistics.median(cpu["other"][name])
                print(
                    f"{name:<28}{mine:>10.1f}{theirs:>9.1f}{mine / theirs:>9.3f}"
                    f"{mine_cpu:>10.1f}{theirs_cpu:>9.1f}{mine_cpu / theirs_cpu:>9.3f}"
                )
        end = os.getloadavg()
        print(f"load average at the end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")

        if args.importtime:
            proc = subprocess.run(
                [PYTHON, "-X", "importtime", SPARKQ, "peek", "--stream", "s"],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
            )
            rows = []
            for line in proc.stderr.splitlines():
                if line.startswith("import time:") and "|" in line:
                    _, cumulative, name = line.split("|")
                    if cumulative.strip().isdigit():
                        rows.append((int(cumulative), name.rstrip()))
            print("\nlargest cumulative imports of `sparkq peek` (us):")
            for cumulative, name in sorted(rows, reverse=True)[:15]:
                print(f"{cumulative:>9}  {name}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
