"""Letter processes end with their worker, however it ends: a worker killed with SIGKILL
leaves no letter process behind (each would keep its parsed fonts, and the worker's output
open)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import os
from activities.documents import LetterProcesses
letters = LetterProcesses(1)
print(letters.submit(os.getpid).result(timeout=120), flush=True)
input()  # held until killed
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_killed_worker_leaves_no_letter_process() -> None:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    letter_process = int(worker.stdout.readline())
    assert letter_process != worker.pid and alive(letter_process)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 30  # the kernel signals it at once; allow a loaded machine
    while alive(letter_process) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(letter_process)
