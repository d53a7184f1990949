"""Random bytes and YAML never produce a traceback, an escaped exception or an undocumented exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "support" / "fuzz_cli.py"


def test_random_inputs_to_plan_harmonize_and_config_end_in_documented_errors(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(HARNESS), "40", str(tmp_path / "rmn")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["failures"] == []
    for target in ("plan", "harmonize", "config"):
        assert sum(summary["codes"][target].values()) == 40, summary
    # random bytes are never a valid brief or export: each was refused with a usage or input error
    assert set(summary["codes"]["plan"]) <= {"2"} and set(summary["codes"]["harmonize"]) <= {"1", "2"}
