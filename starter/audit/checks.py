"""The checks of a case-file review (案卷评查), each passed, failed or not applicable, with
its reason (China time in the text). Pure: rows, rebuilt clocks and history facts in."""

from __future__ import annotations

from collections import Counter
from typing import Any

from activities.verify import ArchiveCheck
from schemas.clock import china_text
from schemas.outcome import Outcome
from starter.audit.describe import layer, outcome
from starter.audit.facts import HistoryFacts
from starter.audit.log import Log, delivery_dates
from starter.audit.model import (
    CLOCK_OUTCOME_LABELS,
    Check,
    CheckStatus,
    ClockLine,
    ClockOutcome,
)
from starter.audit.rows import CaseRows, Draw

LABELS = {
    "clocks": "期限 (every clock within its limit, or its breach recorded)",
    "panel": "专家抽取与回避 (panel drawn at random, recusals recorded)",
    "majority": "少数服从多数 (the conclusion follows the panel majority)",
    "signoffs": "三级复核 (three sign-offs before the conclusion)",
    "delivery": "送达 (letters delivered within the limit, with proof)",
    "archive": "案卷完整 (the archive digest matches)",
    "event_chain": "事件链 (the event log's hash chain is unbroken)",
    "history": "记录与历史一致 (the event log matches the Temporal history)",
}
LAYERS = ["examination", "chief_examination", "recheck"]
ROLES = {"worker": "职工", "employer": "用人单位"}
CONFLICTS = {"relative", "treating_doctor", "treating_hospital", "employer_tie"}
CONFLICTS |= {"declared_conflict", "recused"}


def passed(name: str, reason: str) -> Check:
    return Check(name=name, label=LABELS[name], status=CheckStatus.passed, reason=reason)


def failed(name: str, problems: list[str]) -> Check:
    return Check(
        name=name, label=LABELS[name], status=CheckStatus.failed, reason="; ".join(problems)
    )


def not_applicable(name: str, reason: str) -> Check:
    return Check(name=name, label=LABELS[name], status=CheckStatus.not_applicable, reason=reason)


def clocks(lines: list[ClockLine]) -> Check:
    if not lines:
        return not_applicable("clocks", "本案未启动任何期限 (no clock ran)")
    if problems := [line.problem for line in lines if line.problem]:
        return failed("clocks", problems)
    breached = [line for line in lines if line.outcome is ClockOutcome.breached]
    tally = Counter(CLOCK_OUTCOME_LABELS[line.outcome] for line in lines)
    text = f"{len(lines)} 个期限: " + ", ".join(f"{k} {n}" for k, n in tally.items())
    if breached:
        text += "; 逾期均已记录并上报: " + ", ".join(
            f"{b.label} ({b.due_on} 届满, 记录于 {china_text(b.breach_at)})"
            for b in breached
            if b.breach_at
        )
    return passed("clocks", text)


def final_panel(log: Log, before: int | None = None) -> dict[str, Any] | None:
    """The last full panel drawn (before event `before`): the `panel.*` event's data."""
    drawn = [
        e
        for e in log.all("panel.drawn", "panel.rechecked")
        if not e["data"].get("short_by") and (before is None or e["seq"] < before)
    ]
    return drawn[-1]["data"] if drawn else None


def panel(rows: CaseRows, log: Log) -> Check:
    events = log.all("panel.drawn", "panel.rechecked")
    if not events and not rows.draws:
        return not_applicable("panel", "未抽取专家 (no panel was drawn)")
    full = [d for d in rows.draws if d.short_by == 0 and d.members]
    final = full[-1] if full else None
    if problems := draw_problems(rows, events, final) + recusal_problems(rows, log, final):
        return failed("panel", problems)
    assert final is not None
    conflicts = sorted(
        {f"{x} {why}" for d in rows.draws for x, why in d.exclusions if why in CONFLICTS}
    )
    unverified = ", ".join(str(d.attempt) for d in rows.draws if d.reproduced is None)
    text = f"专家组 {', '.join(final.members)} (第{final.attempt}次抽取, {len(final.members)} 人)"
    text += "; 回避: " + (", ".join(conflicts) or "无")
    if requests := log.all("recusal.requested"):
        text += f"; 当事人申请回避 {len(requests)} 项, 均已重抽"
    if unverified:
        return passed("panel", text + f"; 第{unverified}次抽取早于快照留存, 无法复现")
    return passed("panel", text + "; 每次抽取均可由快照和种子复现 (every draw reproduces)")


def draw_problems(rows: CaseRows, events: list[dict[str, Any]], final: Draw | None) -> list[str]:
    """Every draw the log names is stored, reproduces from its snapshot and seed, and the
    panel that sat is full (3, or 5 for a severe case)."""
    problems = []
    told = {e["data"].get("attempt") for e in events}
    stored = {d.attempt for d in rows.draws}
    if told != stored:
        problems.append(
            f"抽取记录与事件不符: 事件 {sorted(told, key=str)}, 抽取记录 {sorted(stored)} "
            "(the draws stored differ from the draws in the event log)"
        )
    problems += [
        f"第{d.attempt}次抽取无法由存档的专家库快照和种子复现 (draw {d.attempt} does not reproduce)"
        for d in rows.draws
        if d.reproduced is False
    ]
    if final is None:
        problems.append("没有完整的专家组 (no full panel was drawn)")
    elif len(final.members) not in (3, 5) or (final.size and len(final.members) != final.size):
        problems.append(f"专家组 {len(final.members)} 人, 应为 {final.size or '3 或 5'} 人")
    return problems


def recusal_problems(rows: CaseRows, log: Log, final: Draw | None) -> list[str]:
    """A party's recusal request leaves a later draw excluding the expert, who no longer sits."""
    problems = []
    events = log.all("panel.drawn", "panel.rechecked")
    for request in log.all("recusal.requested"):
        expert = request["data"].get("expert_id")
        redrawn = {e["data"].get("attempt") for e in events if e["seq"] > request["seq"]}
        if final is not None and expert in final.members:
            problems.append(f"申请回避的专家 {expert} 仍在专家组 (a recused expert still sits)")
        elif not any(
            (expert, "recused") in d.exclusions for d in rows.draws if d.attempt in redrawn
        ):
            problems.append(f"{expert} 的回避未见于其后的抽取记录 (the recusal left no draw)")
    return problems


def as_outcome(value: Any) -> Outcome | None:
    try:
        return Outcome.model_validate(value)
    except ValueError:
        return None


def majority(log: Log) -> Check:
    decided = log.first("conclusion.decided")
    if decided is None:
        return not_applicable("majority", "未作出鉴定结论 (no conclusion)")
    drawn = final_panel(log, decided["seq"])
    members = list(drawn.get("members", [])) if drawn else []
    latest: dict[str, Outcome | None] = {}
    for e in log.all("opinion.recorded", "opinion.corrected"):
        if e["seq"] < decided["seq"]:
            latest[e["data"].get("expert_id")] = as_outcome(e["data"].get("outcome"))
    problems = [f"{m} 未录入意见 (no opinion)" for m in members if m not in latest]
    problems += [
        f"{x} 不是专家组成员却录入了意见 (not on the panel)" for x in latest if x not in members
    ]
    votes = Counter(latest[m] for m in members if latest.get(m) is not None)
    top = votes.most_common(1)
    found = top[0][0] if top and top[0][1] * 2 > len(members) else None
    concluded = as_outcome(decided["data"].get("outcome"))
    if found is None:
        problems.append("专家组意见未形成多数 (no majority)")
    elif concluded != found:
        problems.append(
            f"结论 {outcome(decided['data'].get('outcome'))} 与多数意见 {found.label()} 不一致"
        )
    if problems:
        return failed("majority", problems)
    assert found is not None
    share = f"{votes[found]}/{len(members)}"
    rounds = len([e for e in log.all("panel.deliberation") if e["seq"] < decided["seq"]])
    text = f"多数意见 {found.label()} ({share}), 结论 {found.label()}"
    return passed("majority", text + (f"; 经 {rounds} 轮合议" if rounds else ""))


def signoffs(log: Log) -> Check:
    decided = log.first("conclusion.decided")
    if decided is None:
        return not_applicable("signoffs", "未作出鉴定结论 (no conclusion)")
    reviews = [
        e for e in log.all("review.approved", "review.returned") if e["seq"] < decided["seq"]
    ]
    returns = [e for e in reviews if e["kind"] == "review.returned"]
    after = returns[-1]["seq"] if returns else 0
    approvals = [e for e in reviews if e["kind"] == "review.approved" and e["seq"] > after]
    problems = []
    if [e["data"].get("layer") for e in approvals] != LAYERS:
        signed = ", ".join(layer(e["data"]) for e in approvals) or "无"
        problems.append(f"结论前的签署为 {signed}, 应为 面检组 → 总检组 → 复核组 依次签署")
    if len({e["actor"] for e in approvals}) != len(approvals):
        problems.append("同一人签署了两级复核 (one person signed two layers)")
    if approvals:
        changed = log.all("opinion.recorded", "opinion.corrected")
        if any(approvals[0]["seq"] < e["seq"] < decided["seq"] for e in changed):
            problems.append("复核开始后专家意见又有改动 (an opinion changed during the review)")
    if problems:
        return failed("signoffs", problems)
    chain = " → ".join(f"{layer(e['data'])} {e['actor']}" for e in approvals)
    text = f"第{approvals[0]['data'].get('round')}轮: {chain}; 均在结论作出 ({decided['actor']}, {china_text(decided['occurred_at'])}) 之前"
    if returns:
        text += (
            f"; 此前退回 {len(returns)} 次 (" + ", ".join(layer(e["data"]) for e in returns) + ")"
        )
    return passed("signoffs", text)


def delivery(rows: CaseRows, log: Log, lines: list[ClockLine]) -> Check:
    if log.first("conclusion.issued") is None:
        return not_applicable("delivery", "未出具结论书 (no conclusion letter)")
    limit = next((line for line in lines if line.clock == "delivery"), None)
    if limit is None:
        return not_applicable("delivery", "尚未进入送达阶段 (delivery has not started)")
    if log.first("delivery.completed") is None and limit.outcome is ClockOutcome.running:
        return not_applicable(
            "delivery", f"送达进行中, 期限 {limit.due_on} 24:00 北京时间 (delivery in progress)"
        )
    dates = delivery_dates(log)
    posted = {e["data"].get("recipient") for e in log.all("letter.sent", "notice.published")}
    problems = [f"{ROLES[r]}的结论书未寄出 (no letter)" for r in ROLES if r not in posted]
    problems += [f"{ROLES[r]}无送达凭证 (no delivery proof)" for r in ROLES if r not in dates]
    if limit.problem:
        problems.append(limit.problem)
    copy = next((m for m in rows.outbox if m["message_key"] == "benefits_agency.copy"), None)
    if copy is None or copy["sent_at"] is None:
        problems.append("结论未抄送社会保险经办机构 (the benefits agency's copy was not sent)")
    if problems:
        return failed("delivery", problems)
    assert copy is not None
    proofs = ", ".join(
        f"{ROLES[r]} {on} {'视为送达' if deemed else '签收'}" for r, (on, deemed) in dates.items()
    )
    text = f"{proofs}; 期限 {limit.due_on}"
    if limit.outcome is ClockOutcome.breached:
        text += " (逾期已记录)"
    return passed("delivery", text + f"; 经办机构抄送于 {china_text(copy['sent_at'])}")


def archive(rows: CaseRows, log: Log, verified: ArchiveCheck | None, facts: HistoryFacts) -> Check:
    if rows.archive is None or verified is None:
        return not_applicable("archive", "尚未归档 (not archived yet)")
    problems = [f"{a.part}{' ' + a.item if a.item else ''}: {a.what}" for a in verified.altered]
    sealed = log.last("case.archived")
    if sealed is None or sealed["data"].get("sha256") != verified.sha256:
        problems.append("归档事件中的摘要与案卷不符 (the case.archived event names another digest)")
    told = (facts.result or {}).get("archive_sha256")
    if told is not None and told != verified.sha256:
        problems.append(f"Temporal 历史记录的摘要为 {told}, 与案卷不符 (the archive was rewritten)")
    if problems:
        return failed("archive", problems)
    text = f"摘要 {verified.sha256} 可由案卷各部分重算 (format {verified.format})"
    text += "; 与归档事件" + ("及 Temporal 历史中的结果一致" if told else "一致")
    return passed("archive", text + f"; 保管至 {verified.retain_until}")


def event_chain(rows: CaseRows) -> Check:
    if rows.chain_breaks:
        return failed("event_chain", rows.chain_breaks)
    return passed("event_chain", f"{len(rows.events)} 条事件记录, 哈希链完整")


def history(rows: CaseRows, facts: HistoryFacts) -> Check:
    """Every row the history asked PostgreSQL to write is in the log, and nothing else."""
    if facts.recorded is None:
        why = "; ".join(facts.problems) or "no history"
        return not_applicable("history", f"无法读取历史中的记录请求 ({why})")
    keys = {e["event_key"] for e in rows.events}
    missing = sorted(facts.recorded - keys)
    extra = sorted(keys - facts.recorded - facts.pending)
    problems = [
        f"历史已记录但事件日志缺少 {k} (recorded by the history, missing from the log)"
        for k in missing
    ]
    problems += [f"事件日志中的 {k} 不见于历史 (in the log, not in the history)" for k in extra]
    result = facts.result or {}
    kept = (rows.case.get("closed_reason") or "").split(":", 1)[0]
    if result.get("closed") and result["closed"] != kept:
        problems.append(f"结案方式: 历史 {result['closed']}, 记录 {kept or '无'}")
    if problems:
        return failed("history", problems)
    return passed("history", f"事件日志的 {len(keys)} 条记录均由历史写入, 无缺无增")


def all_checks(
    rows: CaseRows,
    lines: list[ClockLine],
    facts: HistoryFacts,
    verified: ArchiveCheck | None,
) -> list[Check]:
    log = Log(rows.events)
    return [
        clocks(lines),
        panel(rows, log),
        majority(log),
        signoffs(log),
        delivery(rows, log, lines),
        archive(rows, log, verified, facts),
        event_chain(rows),
        history(rows, facts),
    ]
