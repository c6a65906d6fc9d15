"""`make bench` / `python -m bench`: our cases against two baselines on one stack it starts
itself. See bench/run.py; the figures go to bench/results/ (and the terminal)."""

from __future__ import annotations

import argparse
import asyncio
import compileall
import io
import sys
from pathlib import Path

from bench import report
from bench.run import Options, run
from infra.process import run_and_exit


def options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    default = Options()
    parser.add_argument(
        "-n",
        "--cases",
        type=int,
        default=default.cases,
        help="cases per flavor (ours and each baseline), concurrency level and pass",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=int,
        nargs="+",
        default=list(default.levels),
        help="concurrent cases, one level after the other",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=default.rounds,
        help="interleaved batches per flavor and level (ours, baselines, ours, ...)",
    )
    parser.add_argument(
        "--passes",
        nargs="+",
        choices=["memory", "file"],
        default=list(default.passes),
        help="dev server in memory and/or on a SQLite file",
    )
    parser.add_argument(
        "--idle",
        type=int,
        default=0,
        metavar="K",
        help="then start K cases that wait after booking and sample the worker's RSS",
    )
    parser.add_argument(
        "--cache",
        type=int,
        metavar="N",
        help="the worker's max_cached_workflows (default: worker.py's setting); a small one "
        "shows the idle run's plateau with fewer cases",
    )
    parser.add_argument("--results", type=Path, default=default.results)
    parser.add_argument("--keep", type=Path, help="keep the stack's data and logs here")
    args = parser.parse_args(argv)
    return Options(
        cases=args.cases,
        levels=tuple(args.concurrency),
        rounds=args.rounds,
        passes=tuple(args.passes),
        idle=args.idle,
        cache=args.cache,
        results=args.results,
        keep=args.keep,
    )


def compiled() -> None:
    """Bytecode for the project's modules, as an installed image has it (pip compiles at
    install). Without it, and with PYTHONDONTWRITEBYTECODE set, the workflow sandbox compiles the
    workflow modules from source for every case it loads: about 50 ms a case, measured."""
    root = Path(__file__).resolve().parent.parent
    for package in ("workflows", "schemas", "activities", "infra", "gateway", "starter"):
        compileall.compile_dir(root / package, quiet=1)


def main() -> None:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    chosen = options()
    compiled()
    result = asyncio.run(run(chosen))
    text, data = report.write(result, chosen.results)
    print(report.markdown(result))
    print(f"written: {text}, {data} (and latest.md, latest.json)")


if __name__ == "__main__":
    run_and_exit(main)
