"""The one error boundary of the ``rmn`` command: no traceback reaches the person at the terminal.

Commands turn the errors they expect (a bad brief, a missing file) into a one-line message and a
documented exit code themselves. Anything else is a defect: it is written with its traceback to
``<data_dir>/logs/crash-<time>.log`` (or the temp folder when settings cannot be read) and the
person sees one line naming the error and that file, with exit code 70 (EX_SOFTWARE). Ctrl-C is
exit 130 with no traceback either.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import traceback
from pathlib import Path

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


def _crash_folder() -> Path:
    try:
        from rmnlora.cli.common import CliState
        from rmnlora.config import load_settings

        return load_settings(CliState.config_path).data_dir / "logs"
    except Exception:  # the settings themselves may be what failed
        return Path(tempfile.gettempdir()) / "rmnlora-logs"


def write_crash_report(error: BaseException) -> Path | None:
    """The traceback in a new file; None when no file could be written (then it goes to stderr)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    try:
        folder = _crash_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{stamp}-{os.getpid()}.log"
        path.write_text(
            f"rmn {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(error)), encoding="utf-8"
        )
        return path
    except OSError:
        return None


def run() -> None:
    """Entry point of the ``rmn`` script: the Typer app inside the boundary."""
    from rmnlora.cli.main import app

    try:
        app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as error:  # the boundary: every expected error was handled nearer its cause
        report = write_crash_report(error)
        where = f"details in {report}" if report else "".join(traceback.format_exception(error))
        message = str(error).splitlines()[0][:300] if str(error) else ""
        print(
            f"error: unexpected {type(error).__name__}: {message} ({where}); "
            "this is a bug in rmn, please report it",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_INTERNAL) from None
