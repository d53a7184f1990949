"""`rmn feedback export-dpo|stats` as a user runs them, on a SQLite data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rmnlora.feedback.store import record_feedback, record_preference
from rmnlora.schemas.feedback import FeedbackIn, PreferencePairIn
from rmnlora.storage import init_db
from tests.support.feedback_support import add_tenant

RMN = str(Path(sys.executable).parent / "rmn")
SECRET = "cli-secret-passphrase"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RMN_DATA_DIR": str(tmp_path), "RMN_SECRET_KEY": SECRET}
    env.pop("RMN_CONFIG", None)
    return subprocess.run([RMN, *args], capture_output=True, text=True, env=env, timeout=120)


def test_export_dpo_writes_the_brand_rows_and_stats_counts_them(tmp_path: Path) -> None:
    database = init_db(f"sqlite:///{tmp_path / 'rmn.db'}", secret_key=SECRET)
    add_tenant(database, "acme", ("acme-cola", "acme-chips"))
    pair = {"task": "creative", "prompt": "p", "chosen": "good", "rejected": "bad"}
    record_preference(database, "acme", PreferencePairIn(brand_id="acme-cola", **pair))
    record_preference(database, "acme", PreferencePairIn(brand_id="acme-chips", **pair))
    record_feedback(database, "acme", FeedbackIn(brand_id="acme-cola", task="creative", prompt="q", rating=5))
    database.dispose()

    out = tmp_path / "export" / "dpo.jsonl"
    result = _run(tmp_path, "feedback", "export-dpo", "--brand", "acme-cola", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"rows": 1, "out": str(out), "brand": "acme-cola", "tenant": "acme"}
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"prompt": "p", "chosen": "good", "rejected": "bad"}
    ]
    stats = _run(tmp_path, "feedback", "stats", "--brand", "acme-cola")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["total"] == 2

    wrong_tenant = _run(
        tmp_path, "feedback", "export-dpo", "--brand", "acme-cola", "--tenant", "globex", "--out", str(out)
    )
    assert wrong_tenant.returncode == 1 and "not found for tenant 'globex'" in wrong_tenant.stderr
    unknown = _run(tmp_path, "feedback", "stats", "--brand", "nope")
    assert unknown.returncode == 1 and "brand 'nope' not found" in unknown.stderr
    backwards = _run(
        tmp_path,
        "feedback",
        "stats",
        "--brand",
        "acme-cola",
        "--since",
        "2026-02-01",
        "--until",
        "2026-01-01",
    )
    assert backwards.returncode == 1 and "after until" in backwards.stderr
