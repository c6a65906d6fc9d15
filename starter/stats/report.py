"""The committee's charts (`appraisal stats --report FILE.html|.pdf`): the conclusion cycle's
distribution and trend, cases by type and mode per period, on-time rate per clock, outcomes.

matplotlib with the Agg backend (no display, no network), in the CJK font the conclusion
letter finds (infra/fonts.py), so the Chinese labels are drawn, not boxes. The HTML is one
self-contained file: the charts as PNG data URIs, the tables, and the figures themselves as
JSON in <script type="application/json" id="figures"> (the data behind the charts)."""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import io
from collections.abc import Callable
from pathlib import Path

import matplotlib
from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import MaxNLocator

from infra.fonts import find_cjk_font
from starter.stats.compute import CASE_TYPE_LABELS, MODE_LABELS
from starter.stats.model import Figures
from starter.stats.render import tables

Chart = Callable[[Figures], Figure]


@functools.cache
def use_cjk_font() -> str:
    """The letter's CJK font first, DejaVu behind it for what it lacks; its family name.
    Registered at the regular weight it is drawn in (Zen Hei calls itself medium, and every
    lookup of a regular text would warn)."""
    matplotlib.use("Agg")  # files only: no display
    entry = font_manager.ttfFontProperty(FT2Font(str(find_cjk_font())))
    font_manager.fontManager.ttflist.append(dataclasses.replace(entry, weight=400))
    family = entry.name
    matplotlib.rcParams["font.family"] = [family, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return family


def cycle_distribution(figures: Figures) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.4
    for n, cycle in enumerate(figures.cycles):
        days = [int(d) for d in cycle.histogram]
        ax.bar(
            [d + (n - 0.5) * width for d in days],
            list(cycle.histogram.values()),
            width,
            label=cycle.label,
        )
    ax.axvline(5.5, color="grey", linestyle="--", linewidth=1)
    ax.text(5.6, 0.2, "5日承诺 (5-day promise)", color="grey", rotation=90, va="bottom")
    ax.set(title="结论周期分布 conclusion cycle (days)", xlabel="天 days", ylabel="案件 cases")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    return fig


def cycle_trend(figures: Figures) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    keys = [p.period for p in figures.periods]
    for name, values in (
        (
            "受理至结论 中位 (acceptance → conclusion)",
            [p.cycle_median_days for p in figures.periods],
        ),
        ("现场鉴定至结论 中位 (site → conclusion)", [p.site_median_days for p in figures.periods]),
    ):
        ax.plot(keys, [float("nan") if v is None else v for v in values], marker="o", label=name)
    ax.axhline(5, color="grey", linestyle="--", linewidth=1)
    ax.set(title="结论周期趋势 cycle trend (median days)", ylabel="天 days")
    ax.legend()
    return fig


def by_type_and_mode(figures: Figures) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    keys = [p.period for p in figures.periods]
    for ax, labels, field, title in (
        (left, CASE_TYPE_LABELS, "by_case_type", "鉴定类别 by case type"),
        (right, MODE_LABELS, "by_mode", "鉴定方式 by mode"),
    ):
        bottom = [0] * len(keys)
        for key, name in labels.items():
            values = [getattr(p, field).get(key, 0) for p in figures.periods]
            ax.bar(keys, values, bottom=bottom, label=f"{name} ({key})")
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set(title=f"{title}, received", ylabel="收件 cases")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    return fig


def on_time(figures: Figures) -> Figure:
    rated = [k for k in figures.clocks if k.on_time_rate is not None]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(
        [k.label for k in rated],
        [k.on_time_rate * 100 for k in rated if k.on_time_rate is not None],
    )
    for n, k in enumerate(rated):
        ax.text(1, n, f"{k.on_time}/{k.judged}", va="center", color="white")
    ax.set(title="按期率 on-time rate per clock (%)", xlim=(0, 100))
    return fig


def outcomes(figures: Figures) -> Figure:
    rows = figures.breakdowns.by_outcome
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar([c.label for c in rows], [c.count for c in rows])
    ax.set(title="鉴定结论 outcomes (concluded)", ylabel="案件 cases")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


CHARTS: dict[str, Chart] = {
    "cycle_distribution": cycle_distribution,
    "cycle_trend": cycle_trend,
    "by_type_and_mode": by_type_and_mode,
    "on_time": on_time,
    "outcomes": outcomes,
}


def drawn(figures: Figures) -> dict[str, Figure]:
    use_cjk_font()
    found = {}
    for name, chart in CHARTS.items():
        fig = chart(figures)
        fig.tight_layout()
        found[name] = fig
    return found


def png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110)
    return out.getvalue()


def html_report(figures: Figures) -> str:
    charts = drawn(figures)
    images = "\n".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,'
        f'{base64.b64encode(png(fig)).decode()}"></figure>'
        for name, fig in charts.items()
    )
    for fig in charts.values():
        plt.close(fig)
    data = figures.model_dump_json().replace("</", "<\\/")  # no early </script>
    title = f"劳动能力鉴定统计 {figures.start} ~ {figures.end}"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}img{{max-width:100%}}pre{{font-size:13px}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>北京时间 calendar days, {figures.end} inclusive; by {figures.by.value}.</p>
{images}
<h2>表格 tables</h2>
<pre>{html.escape(tables(figures))}</pre>
<script type="application/json" id="figures">{data}</script>
</body></html>
"""


def pdf_report(figures: Figures, path: Path) -> None:
    charts = drawn(figures)
    with PdfPages(path) as pdf:
        for fig in charts.values():
            pdf.savefig(fig)
            plt.close(fig)


def write_report(figures: Figures, path: Path) -> None:
    if path.suffix.lower() == ".pdf":
        pdf_report(figures, path)
    else:
        path.write_text(html_report(figures), encoding="utf-8")


def sample_png(figures: Figures, path: Path) -> None:
    """The README's picture: every chart of the report, one under the other, in one PNG."""
    charts = drawn(figures)
    pictures = [plt.imread(io.BytesIO(png(fig)), format="png") for fig in charts.values()]
    for fig in charts.values():
        plt.close(fig)
    heights = [p.shape[0] for p in pictures]
    sheet = plt.figure(figsize=(11, sum(heights) / 110))
    grid = sheet.add_gridspec(len(pictures), 1, height_ratios=heights, hspace=0)
    for n, picture in enumerate(pictures):
        ax = sheet.add_subplot(grid[n])
        ax.imshow(picture)
        ax.set_axis_off()
    sheet.savefig(path, format="png", dpi=80, bbox_inches="tight")
    plt.close(sheet)
