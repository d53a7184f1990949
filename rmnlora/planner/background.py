"""Planner runs driven in background threads, for the app: start, resume, and what a run is doing.

Why threads here and not in the page: a Streamlit script re-runs on every click and must not
block for the minute a plan takes. The thread streams the graph's updates into the run's
progress log (:mod:`rmnlora.planner.progress`); the checkpoint store holds the state, so a run
whose process died shows as ``interrupted`` and is resumed from its last checkpoint, here or with
``rmn plan --resume RUN_ID``. A database lock (``plan:RUN_ID``) keeps two processes from driving
one run at once; a dead holder on this host is taken over.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from sqlmodel import col, select

from rmnlora.config import Settings
from rmnlora.planner import progress
from rmnlora.planner.persistence import check_brand_owner
from rmnlora.planner.services import PlannerServices
from rmnlora.planner.state import ReviewAnswer, ReviewRequest
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.storage.database import Database
from rmnlora.storage.locks import LockHeldError, acquire, process_holder, release
from rmnlora.storage.models import PlanRun

RunStatus = Literal["running", "awaiting_review", "completed", "blocked", "interrupted", "failed"]
LOCK_TTL_S = 6 * 3600


class RunError(ValueError):
    """A run that cannot be started or resumed as asked; the message says why and what to do."""


def lock_key(run_id: str) -> str:
    return f"plan:{run_id}"


@dataclass
class RunView:
    """A run as a page shows it: its status, its state, its events, and the question if paused."""

    run_id: str
    tenant_id: str
    status: RunStatus
    values: dict[str, Any] = field(default_factory=dict)
    events: list[progress.ProgressEvent] = field(default_factory=list)
    review: ReviewRequest | None = None
    error: str = ""
    next_nodes: tuple[str, ...] = ()

    @property
    def out_dir(self) -> Path | None:
        out = self.values.get("out_dir")
        return Path(out) if out else None


def stream_into_log(
    graph: Any,
    graph_input: Any,
    config: RunnableConfig,
    out_dir: str | Path,
    on_update: Callable[[str, Any], None] | None = None,
) -> None:
    """Drive the graph to its next stop, writing one progress event per update.

    ``on_update(node, update)`` sees each update after it is logged: the CLI prints it there, so
    the app and the command line write one log format from one loop.
    """
    for chunk in graph.stream(graph_input, config, stream_mode="updates"):
        for node, update in chunk.items():
            progress.append(out_dir, progress.event_of(node, update))
            if on_update is not None:
                on_update(node, update)


class PlanRunner:
    """One per process: the compiled graph, the live threads, and the last error of each run."""

    def __init__(self, settings: Settings, services: PlannerServices | None = None) -> None:
        self.settings = settings
        self._services = services
        self._graph: Any = None
        self._guard = threading.RLock()
        self._threads: dict[str, threading.Thread] = {}
        self._out_dirs: dict[str, str] = {}
        self._tenants: dict[str, str] = {}  # who started each live run (before its first checkpoint)
        self._errors: dict[str, str] = {}
        self.holder = process_holder("app")

    @property
    def services(self) -> PlannerServices:
        with self._guard:
            if self._services is None:
                self._services = PlannerServices(self.settings)
            return self._services

    @property
    def graph(self) -> Any:
        """Built on first use (it opens the database, the memory and, when enabled, the model)."""
        with self._guard:
            if self._graph is None:
                from rmnlora.planner.graph import build_planner_graph

                self._graph = build_planner_graph(self.settings, services=self.services)
            return self._graph

    @property
    def database(self) -> Database:
        return self.services.db

    @staticmethod
    def _config(run_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": run_id}}

    def is_live(self, run_id: str) -> bool:
        thread = self._threads.get(run_id)
        return thread is not None and thread.is_alive()

    def start(self, brief: CampaignBrief, *, tenant_id: str, run_id: str | None = None) -> str:
        """Start planning ``brief`` for ``tenant_id`` in the background; returns the run id."""
        if brief.tenant != tenant_id:
            raise RunError(
                f"the brief is for tenant {brief.tenant!r}, but you are signed in as {tenant_id!r}"
            )
        run = run_id or f"run-{uuid.uuid4().hex[:12]}"
        try:
            check_brand_owner(self.database, tenant_id=tenant_id, brand_id=brief.brand)
        except PermissionError as exc:
            raise RunError(str(exc)) from exc
        if self.graph.get_state(self._config(run)).values:
            raise RunError(f"run id {run!r} is taken: choose another")
        out_dir = str(self.settings.data_dir / "runs" / run)
        state = {
            "run_id": run,
            "tenant_id": tenant_id,
            "brief": brief.model_dump(mode="json"),
            "out_dir": out_dir,
        }
        progress.note(out_dir, "started", f"planning {brief.name} for {brief.brand} ({self.holder})")
        self._launch(run, state, out_dir, tenant_id)
        return run

    def resume(self, run_id: str, *, tenant_id: str, answer: ReviewAnswer | None = None) -> None:
        """Answer a paused run (``answer``), or continue one whose process died (no answer)."""
        view = self.view(run_id, tenant_id=tenant_id)
        if view.status == "awaiting_review":
            if answer is None:
                raise RunError(f"run {run_id!r} waits for a review: approve, reject or edit it")
            graph_input: Any = Command(resume=answer.model_dump(mode="json"))
        elif view.status in ("interrupted", "failed"):
            if answer is not None:
                raise RunError(f"run {run_id!r} is not waiting for a review; resume it without an answer")
            graph_input = None
        else:
            raise RunError(f"run {run_id!r} is {view.status.replace('_', ' ')}: nothing to resume")
        out_dir = str(view.out_dir or self.settings.data_dir / "runs" / run_id)
        what = f"answer: {answer.action}" if answer else "continuing from the last checkpoint"
        progress.note(out_dir, "resumed", f"{what} ({self.holder})")
        self._launch(run_id, graph_input, out_dir, tenant_id)

    def _launch(self, run_id: str, graph_input: Any, out_dir: str, tenant_id: str) -> None:
        with self._guard:
            if self.is_live(run_id):
                raise RunError(f"run {run_id!r} is already running in this app")
            try:
                acquire(self.database, lock_key(run_id), self.holder, LOCK_TTL_S)
            except LockHeldError as exc:
                raise RunError(f"run {run_id!r} is being planned elsewhere: {exc}") from exc
            self._errors.pop(run_id, None)
            self._out_dirs[run_id] = out_dir
            self._tenants[run_id] = tenant_id
            thread = threading.Thread(
                target=self._drive, args=(run_id, graph_input, out_dir), name=f"plan-{run_id}", daemon=True
            )
            self._threads[run_id] = thread
            thread.start()

    def _drive(self, run_id: str, graph_input: Any, out_dir: str) -> None:
        try:
            stream_into_log(self.graph, graph_input, self._config(run_id), out_dir)
        except Exception as exc:  # kept for the page; the checkpoint lets the run be resumed
            self._errors[run_id] = f"{type(exc).__name__}: {exc}"
            progress.note(out_dir, "failed", self._errors[run_id])
        finally:
            release(self.database, lock_key(run_id), self.holder)

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        """Block until the run's thread stops (tests and scripts; pages poll ``view``)."""
        thread = self._threads.get(run_id)
        if thread is not None:
            thread.join(timeout)

    def status(self, run_id: str, *, tenant_id: str) -> RunStatus:
        """The run's status alone, from its checkpoint and thread (the Plans page lists many)."""
        return self._inspect(run_id, tenant_id)[0]

    def view(self, run_id: str, *, tenant_id: str) -> RunView:
        """The run as stored; RunError when it does not exist or is another tenant's."""
        status, snapshot = self._inspect(run_id, tenant_id)
        if snapshot is None:  # started a moment ago: no checkpoint yet
            started_in = self._out_dirs[run_id]
            return RunView(run_id, tenant_id, status, {"out_dir": started_in}, progress.read(started_in))
        values: dict[str, Any] = dict(snapshot.values)
        out = values.get("out_dir")
        events = progress.read(out) if out else []
        error = self._errors.get(run_id, "")
        return RunView(
            run_id, tenant_id, status, values, events, _review_of(snapshot), error, tuple(snapshot.next)
        )

    def _inspect(self, run_id: str, tenant_id: str) -> tuple[RunStatus, Any]:
        """Status and checkpoint snapshot (None while a just-started run has no checkpoint yet)."""
        snapshot = self.graph.get_state(self._config(run_id))
        values: dict[str, Any] = dict(snapshot.values or {})
        if not values and self.is_live(run_id) and self._tenants.get(run_id) == tenant_id:
            return "running", None
        if not values or values.get("tenant_id", (values.get("brief") or {}).get("tenant")) != tenant_id:
            raise RunError(f"no run {run_id!r} for tenant {tenant_id!r}")
        status: RunStatus
        if self.is_live(run_id):
            status = "running"
        elif _review_of(snapshot) is not None:
            status = "awaiting_review"
        elif not snapshot.next:
            status = "blocked" if values.get("status") == "blocked" else "completed"
        else:
            status = "failed" if self._errors.get(run_id) else "interrupted"
        return status, snapshot

    def runs(self, tenant_id: str, limit: int = 200) -> list[PlanRun]:
        """The tenant's runs, newest first (only the tenant's: the query is scoped and filtered)."""
        with self.database.get_session(tenant_id=tenant_id) as session:
            rows = session.exec(
                select(PlanRun)
                .where(PlanRun.tenant_id == tenant_id)
                .order_by(col(PlanRun.started_at).desc())
                .limit(limit)
            ).all()
        return list(rows)


def _review_of(snapshot: Any) -> ReviewRequest | None:
    """The question a paused run asks (the last interrupt of its pending tasks), if any."""
    review = None
    for task in snapshot.tasks:
        for item in task.interrupts:
            review = ReviewRequest.model_validate(item.value)
    return review
