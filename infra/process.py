"""Process exit for programs that hold a Temporal client."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn


def run_and_exit(main: Callable[[], object]) -> NoReturn:
    """Run `main`, then leave with os._exit.

    The Temporal client's Rust threads can abort an ordinary interpreter shutdown
    (sdk-python issue #300: "PyGILState_Release ... finalizing"), turning a finished command
    into exit code -6. Everything worth keeping is flushed first."""
    code = 0
    try:
        main()
    except SystemExit as exit_:
        if isinstance(exit_.code, int) or exit_.code is None:
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
