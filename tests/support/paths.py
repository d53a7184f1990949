"""Where the repository's own files are, for tests that read them (examples, config, the app)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
