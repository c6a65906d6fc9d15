"""The Web UI, the operators' first door, in a real browser (Debian's Chromium driven by
Playwright), wired to the codec server as `make run` wires it: a case started from the Start
Workflow form with pasted plain JSON runs, and the operator reads its input, timeline and
details in Chinese; a browser without the codec server sees only ciphertext; a bad application
fails at once with a reason a clerk can act on.
`UI_SCREENSHOTS=docs/ui pytest tests/integration/test_ui_browser.py` refreshes the README's
screenshots; otherwise they go to a temporary folder."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.client import WorkflowFailureError

from schemas.steps import Stage
from tests.helpers import Driver, example_json, new_id
from tests.integration.conftest import Stack

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # deploy/install-browser.sh


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), f"no browser at {CHROMIUM}: run `make browser`"
    async with async_playwright() as playwright:
        # --no-sandbox: the test may run as root (CI); the page is our own, on loopback.
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("UI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def operator_page(browser: Browser) -> Page:
    """A page as an operator's browser opens it (the size the screenshots are taken at)."""
    return await browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")


async def start_from_form(page: Page, stack: Stack, case_id: str, application: object) -> None:
    """What an operator does: open Start Workflow, fill id, queue and type, paste the JSON."""
    await page.goto(f"{stack.ui_url}/namespaces/default/workflows/start-workflow")
    await page.locator("#workflowId").fill(case_id)
    await page.locator("#taskQueue").fill("appraisal")
    await page.locator("#workflowType").fill("AppraisalCase")
    editor = page.locator(".cm-content").first
    await editor.click()
    await page.keyboard.insert_text(json.dumps(application, ensure_ascii=False, indent=2))
    await page.get_by_role("button", name="Start Workflow").click()
    started = page.get_by_role("link", name="Workflow started successfully")
    await expect(started).to_be_visible(timeout=30_000)


async def open_case(page: Page, stack: Stack, case_id: str) -> None:
    await page.goto(f"{stack.ui_url}/namespaces/default/workflows/{case_id}")


async def test_a_case_started_from_the_ui_form_runs_and_reads_in_chinese(
    stack: Stack, browser: Browser, shots: Path
) -> None:
    page = await operator_page(browser)
    case_id = new_id("JN-UI")
    application = example_json("initial_complete", fresh_worker=True)
    await start_from_form(page, stack, case_id, application)
    await page.screenshot(path=shots / "start-workflow.png")
    case = Driver(stack.env, stack.env.client.get_workflow_handle(case_id))
    status = await case.until(lambda s: s.appointment is not None)
    assert status.stage is Stage.organizing
    await open_case(page, stack, case_id)
    # Through the codec server the operator reads the case: the input typed in ...
    name = application["worker"]["name"]
    await expect(page.get_by_text(name).first).to_be_visible(timeout=30_000)
    # ... and the timeline: the clocks named in Chinese (timer summaries), each step's writes
    # (a local activity, shown by its name: record_transition) ...
    await expect(page.get_by_text("到场情况录入期限").first).to_be_visible(timeout=30_000)
    await expect(page.get_by_text("record_transition").first).to_be_visible()
    await page.screenshot(path=shots / "case-timeline.png")
    # ... and the current details the case writes say where it stands.
    await page.get_by_text("User Metadata", exact=True).click()
    details = page.frame_locator("iframe").first  # the UI renders them in a frame of its own
    await expect(details.get_by_text("阶段 组织鉴定").first).to_be_visible(timeout=30_000)
    await page.screenshot(path=shots / "case-details.png", full_page=True)
    await page.close()

    # A browser that cannot reach the codec server sees only ciphertext.
    blind = await operator_page(browser)
    await blind.route(f"{stack.codec_url}/**", lambda route: route.abort())
    await open_case(blind, stack, case_id)
    failing = blind.locator("#content").get_by_text("Codec Server could not connect")
    await expect(failing).to_be_visible(timeout=30_000)
    await expect(blind.get_by_text("record_transition").first).to_be_visible()  # the timeline drawn
    await blind.screenshot(path=shots / "case-without-codec.png")
    shown = await blind.content()
    assert name not in shown and application["worker"]["citizen_id"] not in shown
    assert "进入阶段" not in shown
    await blind.close()
    await case.handle.terminate("test over")


async def test_a_bad_application_typed_in_the_ui_fails_at_once_with_the_reason(
    stack: Stack, browser: Browser, shots: Path
) -> None:
    page = await operator_page(browser)
    case_id = new_id("JN-UI")
    bad = example_json("initial_complete", fresh_worker=True)
    bad["worker"]["citizen_id"] = bad["worker"]["citizen_id"][:-1] + (
        "0" if bad["worker"]["citizen_id"][-1] != "0" else "1"
    )  # a wrong check digit
    await start_from_form(page, stack, case_id, bad)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(stack.env.client.get_workflow_handle(case_id).result(), 10)
    reason = str(failed.value.cause)
    assert "worker.citizen_id" in reason and bad["worker"]["citizen_id"] not in reason
    await open_case(page, stack, case_id)
    # The failure the operator reads names the field and why, not the number.
    await expect(page.get_by_text("校验位错误").first).to_be_visible(timeout=30_000)
    await page.screenshot(path=shots / "bad-application.png")
    await page.close()
