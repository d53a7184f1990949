"""The quickstart notebook runs top to bottom, as a user would run it from examples/."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.paths import REPO_ROOT

NOTEBOOK = REPO_ROOT / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMN_DATA_DIR", str(tmp_path / "rmn"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    outputs = "".join(
        out.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "graph TD" in outputs  # the mermaid drawing
    assert "optimize gate:" in outputs
    assert "completed | predicted ROAS" in outputs
    assert (tmp_path / "rmn" / "runs").is_dir()
