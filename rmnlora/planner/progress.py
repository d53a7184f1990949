"""The run's progress log: one JSON line per graph.stream update, in the run's folder.

Why a file: a run started in the app and one resumed from the CLI (or after the app restarted)
write to the same log, so any surface can show every node as it finished, with each gate's
decision, confidence and the signals that set it, without holding the process that ran it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from rmnlora.planner.state import ReviewRequest, human_of, reflections_of
from rmnlora.schemas.reflection import ReflectionDecision

LOG_NAME = "progress.jsonl"
MAX_EVENTS = 10_000  # a plan has a few dozen nodes; more means a corrupt or foreign file


class ProgressEvent(BaseModel):
    """A node that finished (or the pause that stopped the run), as the page and CLI print it."""

    node: str
    at: dt.datetime
    seconds: float | None = None
    reflection: ReflectionDecision | None = None
    review: dict[str, Any] | None = Field(default=None, description="A person's answer (human_review).")
    interrupt: ReviewRequest | None = Field(default=None, description="The question a paused run asks.")
    note: str = ""


def event_of(node: str, update: Any) -> ProgressEvent:
    """The event for one ``stream_mode="updates"`` item (``__interrupt__`` included)."""
    now = dt.datetime.now(dt.UTC)
    if node == "__interrupt__":
        items = list(update or [])
        payload = getattr(items[0], "value", items[0]) if items else {}
        return ProgressEvent(node="paused", at=now, interrupt=ReviewRequest.model_validate(payload))
    update = update if isinstance(update, dict) else {}
    seconds = (update.get("timings") or {}).get(node)
    event = ProgressEvent(node=node, at=now, seconds=seconds)
    if node.startswith("reflect_") and update.get("reflections"):
        event.reflection = reflections_of(update)[-1]
    if node == "human_review":
        answer = human_of(update)
        event.review = answer.model_dump(mode="json") if answer else None
    return event


def log_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / LOG_NAME


def append(out_dir: str | Path, event: ProgressEvent) -> None:
    path = log_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(event.model_dump_json() + "\n")


def note(out_dir: str | Path, node: str, text: str) -> None:
    """A line that is not a node: started, resumed by whom, failed and why."""
    append(out_dir, ProgressEvent(node=node, at=dt.datetime.now(dt.UTC), note=text))


def read(out_dir: str | Path) -> list[ProgressEvent]:
    """Every event so far; a torn last line (a writer killed mid-write) is skipped, not fatal."""
    path = log_path(out_dir)
    if not path.is_file():
        return []
    events: list[ProgressEvent] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if len(events) >= MAX_EVENTS:
                break
            try:
                events.append(ProgressEvent.model_validate(json.loads(line)))
            except (ValueError, ValidationError):
                continue
    return events
