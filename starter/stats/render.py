"""The figures as a clerk reads them (tables, Chinese labels with English) and as a spreadsheet
takes them (one tidy CSV table: section, metric, key, value)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from starter.app import china_time, table
from starter.stats.compute import CASE_TYPE_LABELS, MODE_LABELS
from starter.stats.model import Count, Figures, Split

# The identifying field of a list's items: the CSV's `key` column.
ITEM_KEYS = ("key", "clock", "expert_id", "period", "name")


def tidy(figures: Figures) -> Iterator[tuple[str, str, str, Any]]:
    """(section, metric, key, value) for every figure: a nested field's path is the metric,
    a list item's identifying field (or its position) the key. Labels are not figures."""
    data = figures.model_dump(mode="json")
    for section in ("start", "end", "by", "generated_at"):
        yield "period", section, "", data.pop(section)
    for section, value in data.items():
        if value is not None:
            yield from walk(section, "", "", value)


def walk(section: str, metric: str, key: str, value: Any) -> Iterator[tuple[str, str, str, Any]]:
    if isinstance(value, dict):
        for name, inner in value.items():
            yield from walk(section, f"{metric}.{name}" if metric else name, key, inner)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            ident = next((item[k] for k in ITEM_KEYS if isinstance(item, dict) and k in item), n)
            inner_key = f"{key}/{ident}" if key else str(ident)
            if isinstance(item, dict):
                item = {k: v for k, v in item.items() if k not in ITEM_KEYS and k != "label"}
                yield from walk(section, metric, inner_key, item)
            else:
                yield section, metric, inner_key, item
    else:
        yield section, metric, key, value


def csv_text(figures: Figures) -> str:
    """UTF-8 CSV with a byte-order mark: Excel in China opens it as UTF-8 only with the BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "metric", "key", "value"])
    for row in tidy(figures):
        writer.writerow(["" if v is None else v for v in row])
    return "\ufeff" + out.getvalue()


def pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def counts_table(title: str, rows: list[Count]) -> str:
    return f"{title}\n" + table(
        ["key", "名称", "数量 count"], [[c.key, c.label, c.count] for c in rows]
    )


def splits_table(title: str, rows: list[Split]) -> str:
    return f"{title}\n" + table(
        ["key", "名称", "收件 received", "结论 concluded"],
        [[s.key, s.label, s.received, s.concluded] for s in rows],
    )


def tables(figures: Figures) -> str:
    c, pool, d = figures.cases, figures.pool, figures.delivery
    parts = [
        f"劳动能力鉴定统计 committee figures  {figures.start} ~ {figures.end} (北京时间, inclusive)"
        f"  by {figures.by.value}  generated {china_time(figures.generated_at)}",
        "案件 cases\n"
        + table(
            ["项目", "figure", "数量"],
            [
                ["收到申请", "received", c.received],
                ["受理", "accepted", c.accepted],
                ["不予受理", "refused", c.refused],
                ["视为放弃申请", "abandoned", c.abandoned],
                ["鉴定终止", "terminated", c.terminated],
                ["作出结论", "concluded", c.concluded],
                ["送达", "delivered", c.delivered],
                ["归档", "archived", c.archived],
            ],
        ),
        counts_table("不予受理 refused, by rule", c.refused_by_rule),
        splits_table("鉴定类别 by case type", figures.breakdowns.by_case_type),
        splits_table("鉴定方式 by mode", figures.breakdowns.by_mode),
        splits_table("服务渠道 by channel", figures.breakdowns.by_channel),
        counts_table("鉴定结论 outcomes (concluded)", figures.breakdowns.by_outcome),
        "结论周期 conclusion cycle (days)\n"
        + table(
            ["周期 cycle", "cases", "median", "p90", "≤5 days", "≤60 days"],
            [
                [
                    y.label,
                    y.cases,
                    num(y.median_days),
                    num(y.p90_days),
                    pct(y.within_5_days),
                    pct(y.within_60_days),
                ]
                for y in figures.cycles
            ],
        ),
        "期限 clocks (on time: duty ended in the period; breaches: recorded in the period)\n"
        + table(
            ["clock", "期限", "judged", "on time", "late", "rate", "breaches"],
            [
                [k.clock, k.label, k.judged, k.on_time, k.late, pct(k.on_time_rate), k.breaches]
                for k in figures.clocks
            ],
        ),
        f"专家库 expert pool on {pool.as_of}: {pool.in_term} in term; draws {pool.draws} "
        f"({pool.cases_drawn} cases, {pool.shortages} short); evaluations {pool.evaluations}"
        f" (mean {num(pool.mean_score)}); for review {pool.for_review}",
        counts_table("专业 in term, by specialty", pool.by_specialty),
        counts_table("回避与排除 exclusions, by reason", pool.exclusions_by_reason),
        counts_table("申请回避 recusals requested", pool.recusals_requested),
        f"考核评价 evaluations (flag: mean < {pool.policy.review_below:g} over ≥ "
        f"{pool.policy.min_evaluations}; policy {pool.policy.version}; never removed)\n"
        + table(
            ["expert", "姓名", "count", "mean", "term_end", "期满复核 review"],
            [
                [
                    e.expert_id,
                    e.name,
                    e.count,
                    f"{e.mean:g}",
                    e.term_end,
                    "待复核 for review" if e.for_review else "-",
                ]
                for e in pool.experts
            ],
        ),
        "送达 delivery\n"
        + table(
            ["项目", "figure", "value"],
            [
                ["邮寄签收", "letters signed (EMS)", d.letters_signed],
                ["退回", "letters returned", d.letters_returned],
                ["公告送达", "public notices", d.public_notices],
                ["视为送达", "deemed delivered", d.deemed_delivered],
                ["送达案件", "cases delivered", d.cases_delivered],
                [
                    "结论至送达 中位",
                    "days conclusion → delivery, median",
                    num(d.median_days_to_delivery),
                ],
                ["结论至送达 p90", "days conclusion → delivery, p90", num(d.p90_days_to_delivery)],
            ],
        ),
        counts_table("退回原因 returns, by reason", d.returns_by_reason),
        "趋势 per period\n" + period_table(figures),
    ]
    if figures.ledger is not None:  # whatever the ledger's model holds, as the CSV has it
        rows = [(m, k, v) for section, m, k, v in tidy(figures) if section == "ledger"]
        parts.append(
            "疑难问题台账 hard-question ledger\n" + table(["metric", "key", "value"], rows)
        )
    return "\n\n".join(parts)


def period_table(figures: Figures) -> str:
    types = list(CASE_TYPE_LABELS)
    modes = list(MODE_LABELS)
    return table(
        ["period", "received", "accepted", "concluded", "delivered", "archived", "green", "就近办"]
        + [CASE_TYPE_LABELS[t] for t in types]
        + [MODE_LABELS[m] for m in modes]
        + ["median days", "site median", "≤5 days"],
        [
            [
                p.period,
                p.received,
                p.accepted,
                p.concluded,
                p.delivered,
                p.archived,
                p.green_channel,
                p.province,
            ]
            + [p.by_case_type.get(t, 0) for t in types]
            + [p.by_mode.get(m, 0) for m in modes]
            + [num(p.cycle_median_days), num(p.site_median_days), pct(p.within_5_days)]
            for p in figures.periods
        ],
    )
