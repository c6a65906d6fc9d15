"""What a conclusion letter costs, for the bench (`python -m activities.letter_cost`).

- CPU ms per letter with the fonts parsed for each letter (as before issue #11) and parsed
  once per process (now);
- CPU ms the worker's own interpreter spends on a letter rendered in a letter process;
- how late a 10 ms tick of the worker's event loop comes while letters render in a thread of
  the worker (as before) and in letter processes (now): what a workflow task waits for the
  interpreter (GIL) meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from datetime import date, datetime

from activities.documents import LetterProcesses, render_conclusion_letter, warm_letter_fonts
from infra.fonts import LetterFonts, find_letter_fonts
from schemas.clock import CHINA_TZ
from schemas.documents import ConclusionLetter

TICK = 0.01  # s


@dataclass(frozen=True)
class LetterCost:
    parsed_each_letter_ms: float  # CPU per letter, fonts parsed for it
    parsed_once_ms: float  # CPU per letter, fonts parsed once in the process
    worker_cpu_in_process_pool_ms: float  # the worker's CPU per letter rendered elsewhere
    tick_late_in_thread_ms: float  # worst lateness of a 10 ms tick, letters in a thread
    tick_late_in_process_pool_ms: float  # the same, letters in letter processes
    letters: int


def sample_letter(n: int = 0) -> ConclusionLetter:
    """A made-up letter (no real person), a different worker name for each n."""
    return ConclusionLetter.model_validate(
        {
            "case_id": f"JN-BENCH-{n:06d}",
            "committee": "济宁市劳动能力鉴定委员会",
            "provincial_committee": "山东省劳动能力鉴定委员会",
            "case_type": "initial",
            "worker_name": "张建军"[: 2 + n % 2] + "国民"[n % 2],
            "citizen_id": "370811198503120438",
            "employer_name": "济宁恒达建筑工程有限公司",
            "credit_code": "91370811MA3C4K7T2H",
            "injury_date": date(2026, 3, 18),
            "body_parts": ["右下肢"],
            "diagnosis": "右胫腓骨骨折，术后膝关节活动受限",
            "description": "施工中从脚手架坠落，右腿着地",
            "findings": "右膝关节活动度丧失约50%，右下肢肌力4级",
            "outcome": {"verdict": "grade_7", "self_care": "partial"},
            "basis": "GB/T 16180-2014",
            "clause": "5.7.2.10",
            "panel": ["王建国 主任医师", "李红梅 副主任医师", "赵志强 主任医师"],
            "reviews": ["面检组 张三", "总检组 李四", "复核组 王五"],
            "issued_at": datetime(2026, 10, 20, 10, 30, tzinfo=CHINA_TZ),
        }
    )


def cpu_ms(work: Callable[[], object], rounds: int) -> float:
    start = time.process_time()
    for _ in range(rounds):
        work()
    return (time.process_time() - start) * 1000 / rounds


async def tick_lateness(renderer: Executor | None, fonts: LetterFonts, letters: int) -> float:
    """The worst lateness (ms) of a 10 ms tick on this event loop while `letters` letters
    render, two at a time, through `renderer` (None: threads of this process)."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            worst = max(worst, time.perf_counter() - before - TICK)

    async def render(n: int) -> None:
        await loop.run_in_executor(renderer, render_conclusion_letter, sample_letter(n), fonts)

    ticking = asyncio.create_task(ticker())
    for first in range(0, letters, 2):
        await asyncio.gather(*(render(n) for n in range(first, min(first + 2, letters))))
    done.set()
    await ticking
    return worst * 1000


async def measure(letters: int = 4, fonts: LetterFonts | None = None) -> LetterCost:
    """The costs above over `letters` letters (the fonts the worker would find by default)."""
    fonts = (fonts or find_letter_fonts()).without_fallbacks()
    one = sample_letter()
    each = cpu_ms(lambda: render_conclusion_letter(one, fonts, reuse_fonts=False), letters)
    warm_letter_fonts(fonts)
    once = cpu_ms(lambda: render_conclusion_letter(one, fonts), letters)
    in_thread = await tick_lateness(None, fonts, letters)
    with LetterProcesses(2, fonts) as pool:
        # Both processes started, fonts parsed, before anything is counted.
        await asyncio.gather(
            *(asyncio.wrap_future(pool.submit(warm_letter_fonts, fonts)) for _ in "ab")
        )
        start = time.process_time()
        in_pool = await tick_lateness(pool, fonts, letters)
        worker_cpu = (time.process_time() - start) * 1000 / letters
    return LetterCost(
        parsed_each_letter_ms=round(each),
        parsed_once_ms=round(once),
        worker_cpu_in_process_pool_ms=round(worker_cpu, 1),
        tick_late_in_thread_ms=round(in_thread),
        tick_late_in_process_pool_ms=round(in_pool),
        letters=letters,
    )


if __name__ == "__main__":
    print(json.dumps(asdict(asyncio.run(measure())), indent=2))
