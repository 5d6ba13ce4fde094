"""The neutral benchmark: the engines driven only through the documented API, ours against the reference.

Run: ``.venv/bin/python benchmarks/bench_neutral.py [--n 1000] [--reference] [--scaling] [--relaxed]``

Every figure comes from ``neutral_workload.py``, run in a fresh process per measurement. That
module imports only documented names, so the very same code runs under this project and under the
reference package ``litestar-workflows==0.3.3`` (``--reference``: installed with its ``db`` extra,
aiosqlite and asyncpg into a throwaway virtualenv, ``/tmp/lw-ref`` unless ``--reference-venv``
says otherwise; never into this project's environment). Read its docstring for what a run does:
starts by class awaited one at a time, then ``wait`` (ours) or polling ``get_instance`` (the
reference has nothing else) on each instance, then ``get_instance`` on each; the engine is built
as the guides build it and never ``start()``-ed.

Workloads: ``linear`` (10 machine steps), ``fanout`` (1 step -> 8 parallel -> join, the documented
fork/join edges) and ``human`` (start -> human task -> ``complete_human_task`` -> finish). Engines:
``memory`` (``LocalExecutionEngine(registry)``), ``sqlite`` and ``postgresql``
(``PersistentExecutionEngine(registry=..., session=...)``; a fresh SQLite file or PostgreSQL schema
per run, on ``WORKFLOWS_POSTGRES_URL``, default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``).

Rounds are interleaved (ours, then the reference, for each workload and engine, ``--rounds``
times, default 3) and the medians printed: µs per transition in memory, transitions/s on a
database next to the raw commit rate of the same database measured by the same process (one-row
INSERT + COMMIT in a loop through the same driver) and our rate as a multiple of it. A workload
whose instances do not all complete, whose steps do not all run exactly once or whose final data
is wrong in any round shows "wrong result" or "never completes" instead of a figure. The table is
printed again as Markdown rows, for the README.

``--serial`` runs each instance to its end before starting the next (start, wait, read back), the
only way a durable engine that cannot have instances in flight on its one session can be measured;
an engine without ``wait`` then polls through a second engine on its own session.

``--scaling`` runs the linear workload in memory and on SQLite at N = 100, 1,000, 10,000 and
100,000 (``--scaling-n`` to choose), one fresh process per point, and prints transitions/s, µs per
transition, peak RSS and the peak RSS growth per instance in flight.

``--relaxed`` measures relaxed commits on the durable engines: ``neutral_workload.py --relaxed``
builds ours with ``synchronous_commit=False`` and measures the raw commit rate with the same
relaxed setting (SQLite ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit`` off), so that
ours / raw compares like with like; the rows and the raw column are labelled "relaxed commits".
A commit then survives a crash of the process but not a power loss (README, "Relaxed commits").
The reference has no such option, so with ``--reference`` it runs in memory only (the harness
says so); in-memory rows are unaffected.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "neutral_workload.py"
REFERENCE = "litestar-workflows==0.3.3"
REFERENCE_PACKAGES = ("litestar-workflows[db]==0.3.3", "aiosqlite", "asyncpg")
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TRANSITIONS = {"linear": 10, "fanout": 10, "human": 4}
ENGINE_LABELS = {
    "memory": "in memory, µs per transition",
    "sqlite": "SQLite file, transitions/s",
    "postgresql": "PostgreSQL, transitions/s",
}
RELAXED_LABELS = {
    "memory": ENGINE_LABELS["memory"],
    "sqlite": "SQLite file, relaxed commits (synchronous=NORMAL), transitions/s",
    "postgresql": "PostgreSQL, relaxed commits (synchronous_commit=off), transitions/s",
}
NO_RELAXED_REFERENCE = "not run: no relaxed commits"
"""The reference column of a durable engine under ``--relaxed``: 0.3.3 has no such option."""


def reference_python(venv: Path) -> Path:
    """The reference package's interpreter, creating its virtualenv when it is missing."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import litestar_workflows, sqlalchemy, aiosqlite, asyncpg, advanced_alchemy"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"installing {REFERENCE} into {venv} (a throwaway virtualenv) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *REFERENCE_PACKAGES], check=True)
    return python


def timeout_for(engine: str, n: int) -> float:
    """Seconds a run may take before its instances 'never complete' (generous: the machine is shared)."""
    return 30 + n * (0.001 if engine == "memory" else 0.1)


def run_point(
    python: Path, engine: str, workload: str, n: int, url: str, serial: bool = False, relaxed: bool = False
) -> dict[str, Any]:
    """One measurement in a fresh process: its JSON line (``ok`` false with a reason on failure).

    ``relaxed``: relaxed commits on a durable engine (``neutral_workload.py --relaxed``).
    """
    command = [str(python), str(WORKLOAD), "--engine", engine, "--workload", workload, "--n", str(n)]
    command += ["--timeout", str(timeout_for(engine, n) * (20 if serial else 1))]
    command += ["--serial"] if serial else []
    command += ["--relaxed"] if relaxed and engine != "memory" else []
    if engine == "postgresql":
        command += ["--url", url]
    limit = timeout_for(engine, n) * (20 if serial else 1) + 60
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"never completes (the process hung: no answer in {limit:.0f} s)"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    tail = " | ".join(done.stderr.strip().splitlines()[-3:])
    return {"ok": False, "reason": f"fails: exit {done.returncode}: {tail}"[:300]}


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    """The median of ``key`` over the runs, or None when any run failed."""
    if not runs or not all(run["ok"] for run in runs):
        return None
    return statistics.median(run[key] for run in runs)


def failure(runs: list[dict[str, Any]]) -> str:
    """What to print instead of a figure: 'wrong result', 'never completes' or 'fails', and why (short)."""
    reason = next(run["reason"] for run in runs if not run["ok"])
    short = reason.split(" (instance")[0].splitlines()[0][:72]
    if reason.startswith("fails: "):
        return "fails: " + reason.removeprefix("fails: ").split(":")[0]  # the exception's type
    if reason.startswith("never completes"):
        return short
    return f"wrong result ({short})"


def figure(runs: list[dict[str, Any]], engine: str, missing: str = "-") -> str:
    """µs per transition in memory, transitions/s on a database; or why there is no figure."""
    if not runs:
        return missing
    if engine == "memory":
        value = median_of(runs, "us_per_transition")
        return failure(runs) if value is None else f"{value:.2f}"
    value = median_of(runs, "transitions_per_s")
    return failure(runs) if value is None else f"{value:,.0f}"


def commit_figures(runs: list[dict[str, Any]]) -> tuple[str, str]:
    """The raw commit rate of the same runs (median) and our rate as a multiple of it."""
    rates = [run["commits_per_s"] for run in runs if "commits_per_s" in run]
    ours = median_of(runs, "transitions_per_s")
    if not rates:
        return "-", "-"
    commits = statistics.median(rates)
    return f"{commits:,.0f}", "-" if ours is None else f"{ours / commits:.1f}x"


Results = dict[tuple[str, str, str, int], list[dict[str, Any]]]
"""The runs of each (package, engine, workload, N)."""


def measure_rounds(args: argparse.Namespace, pythons: dict[str, Path], url: str) -> Results:
    """Interleaved rounds over engines and workloads, each run printed as it ends."""
    results: Results = {}
    relaxed = args.relaxed
    durable = [engine for engine in args.engines if engine != "memory"]
    if relaxed and "reference" in pythons and durable:
        print(
            f"--relaxed: {REFERENCE} is not run on {' and '.join(durable)}: it has no relaxed-commit "
            "option (synchronous_commit), so it would commit in full and the rows would not compare"
        )
    for round_number in range(1, args.rounds + 1):
        for n in args.n:
            for engine in args.engines:
                for workload in args.workloads:
                    for package, python in pythons.items():
                        if relaxed and package == "reference" and engine != "memory":
                            continue
                        run = run_point(python, engine, workload, n, url, args.serial, relaxed)
                        results.setdefault((package, engine, workload, n), []).append(run)
                        shown = (
                            f"{run['transitions_per_s']:,.0f} transitions/s"
                            if run["ok"]
                            else run["reason"].splitlines()[0]
                        )
                        print(
                            f"  round {round_number}: {package:<9} {engine:<10} {workload:<6} N={n}: {shown}"
                        )
    return results


def compare(args: argparse.Namespace, pythons: dict[str, Path], url: str) -> None:
    """Interleaved rounds over engines and workloads; prints the medians as text and Markdown."""
    results = measure_rounds(args, pythons, url)
    relaxed = args.relaxed
    raw = "raw relaxed commits/s" if relaxed else "raw commits/s"
    header = ("engine", "workload", "N", "ours", "reference 0.3.3", raw, "ours / raw")
    rows = []
    for n in args.n:
        for engine in args.engines:
            for workload in args.workloads:
                ours = results[("ours", engine, workload, n)]
                reference = results.get(("reference", engine, workload, n), [])
                commits, ratio = commit_figures(ours) if engine != "memory" else ("", "")
                skipped = relaxed and engine != "memory" and "reference" in pythons
                rows.append(
                    (
                        engine,
                        workload,
                        f"{n:,}",
                        figure(ours, engine),
                        figure(reference, engine, NO_RELAXED_REFERENCE if skipped else "-"),
                        commits,
                        ratio,
                    )
                )
    mode = "one instance at a time (--serial)" if args.serial else "all N instances in flight"
    print(
        f"\nmedians of {args.rounds} round(s), {mode}; µs/transition in memory, transitions/s on a database"
    )
    if relaxed:
        print(
            "relaxed commits (--relaxed): ours with synchronous_commit=False, raw commits with SQLite "
            "synchronous=NORMAL / PostgreSQL synchronous_commit=off; a commit survives a process crash, "
            "not a power loss"
        )
    for row in (header, *rows):
        print(f"{row[0]:<10} {row[1]:<8} {row[2]:>7} {row[3]:>10} {row[4]:>18} {row[5]:>13} {row[6]:>10}")
    print("\nMarkdown:\n")
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    labels = RELAXED_LABELS if relaxed else ENGINE_LABELS
    for row in rows:
        label = labels[row[0]]
        print(f"| {label} | {row[1]} | {row[2]} | {row[3]} | {row[4]} | {row[5] or '-'} | {row[6] or '-'} |")


def scaling(args: argparse.Namespace, pythons: dict[str, Path]) -> None:
    """Linear workload at growing N, in memory and on SQLite: throughput and memory per instance."""
    commits = ", SQLite with relaxed commits" if args.relaxed else ""
    print(f"\nscaling, linear workload (one fresh process per point; medians of the rounds{commits})")
    columns = f"{'transitions/s':>14} {'µs/trans':>9} {'peak RSS MB':>12} {'KB/instance':>12}"
    print(f"{'package':<10} {'engine':<7} {'N':>8} {columns}")
    markdown = []
    for engine in args.scaling_engines:
        for n in args.scaling_n:
            for package, python in pythons.items():
                if package == "reference" and engine != "memory":
                    continue  # its durable engine fails with instances in flight (see the comparison)
                point = (python, engine, "linear", n, "")
                runs = [run_point(*point, relaxed=args.relaxed) for _ in range(args.rounds)]
                if not all(run["ok"] for run in runs):
                    print(f"{package:<10} {engine:<7} {n:>8,} {failure(runs)}")
                    markdown.append(f"| {package} | {engine} | {n:,} | {failure(runs)} | | |")
                    continue
                rate = median_of(runs, "transitions_per_s") or 0.0
                peak = statistics.median(run["peak_rss_kb"] for run in runs) / 1024
                per = statistics.median(run["kb_per_instance"] for run in runs)
                figures = f"{rate:>14,.0f} {1e6 / rate:>9.2f} {peak:>12.1f} {per:>12.2f}"
                print(f"{package:<10} {engine:<7} {n:>8,} {figures}")
                markdown.append(
                    f"| {package} | {engine} | {n:,} | {rate:,.0f} | {peak:.0f} MB | {per:.2f} KB |"
                )
    print("\n| package | engine | N | transitions/s | peak RSS | RSS growth per instance |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(markdown))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, nargs="+", default=[1000], help="concurrent instances (default 1000)"
    )
    parser.add_argument("--engines", nargs="+", choices=tuple(ENGINE_LABELS), default=list(ENGINE_LABELS))
    parser.add_argument("--workloads", nargs="+", choices=tuple(TRANSITIONS), default=list(TRANSITIONS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help=f"also run {REFERENCE} (throwaway venv)")
    parser.add_argument("--reference-venv", type=Path, default=Path("/tmp/lw-ref"))
    parser.add_argument("--scaling", action="store_true", help="the linear workload at growing N (see above)")
    parser.add_argument("--scaling-n", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    parser.add_argument(
        "--scaling-engines", nargs="+", choices=("memory", "sqlite"), default=["memory", "sqlite"]
    )
    parser.add_argument("--no-compare", action="store_true", help="only the --scaling table")
    parser.add_argument("--serial", action="store_true", help="one instance at a time (see above)")
    parser.add_argument(
        "--relaxed",
        action="store_true",
        help="durable engines with relaxed commits, ours and raw (see above)",
    )
    args = parser.parse_args()
    url = os.environ.get("WORKFLOWS_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    pythons = {"ours": Path(sys.executable)}
    if args.reference:
        pythons["reference"] = reference_python(args.reference_venv)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    git = ["git", "-C", str(HERE), "describe", "--always", "--dirty"]
    commit = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip() or "?"
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}"
    )
    if not args.no_compare:
        compare(args, pythons, url)
    if args.scaling:
        scaling(args, pythons)


if __name__ == "__main__":
    main()
