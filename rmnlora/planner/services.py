"""What the planner's nodes need beyond the state: database, memory, the model, the clean room.

Each part is built on first use and its status is recorded, so a part that is unconfigured or
down shows up in the reflection (lower confidence, named in the rationale) instead of failing
the whole plan or being silently replaced.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING

from rmnlora.agents.governance.phase import check_audiences
from rmnlora.config import Settings
from rmnlora.schemas.brief import CampaignBrief
from rmnlora.schemas.phases import CleanRoomCheck
from rmnlora.schemas.reflection import ComponentStatus
from rmnlora.tools.clean_room import CleanRoomClient, clean_room_config

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from rmnlora.adapters.service import InferenceService
    from rmnlora.memory.store import ScenarioMemory
    from rmnlora.storage.database import Database


class PlannerServices:
    """Lazily built dependencies of the planner graph (never checkpointed)."""

    def __init__(self, settings: Settings, *, chat_model: BaseChatModel | None = None) -> None:
        self.settings = settings
        self._chat_model = chat_model
        self.component_status: dict[str, dict[str, str]] = {}
        self.load_seconds: dict[str, float] = {}

    @cached_property
    def db(self) -> Database:
        from rmnlora.storage import open_db

        return open_db(self.settings)

    @cached_property
    def memory(self) -> ScenarioMemory | None:
        from rmnlora.memory.store import ScenarioMemory

        started = time.perf_counter()
        try:
            store = ScenarioMemory.from_settings(self.settings)
            health = store.health()
        except Exception as exc:  # reported as a component status, the plan goes on without recall
            self.component_status["memory"] = {"status": "down", "detail": str(exc)}
            return None
        finally:
            self.load_seconds["memory"] = time.perf_counter() - started
        if not health.get("ok"):
            self.component_status["memory"] = {"status": "down", "detail": str(health.get("detail"))}
            return None
        self.component_status["memory"] = {"status": "ok", "detail": str(health.get("location"))}
        return store

    @cached_property
    def inference_service(self) -> InferenceService:
        """One in-process base model shared by every (retailer, brand, task) composition of the run."""
        from rmnlora.adapters.service import InferenceService

        return InferenceService.from_settings(self.settings, self.db)

    def chat_model(self, *, tenant: str, retailer: str, brand: str, task: str) -> BaseChatModel | None:
        """The LoRA-composed model for one (retailer, brand, task), or None with the reason recorded."""
        if self._chat_model is not None:
            # A chat model handed in (a test double, another backend) is the model the copy came from.
            self.component_status["model"] = {
                "status": "ok",
                "detail": f"given chat model {type(self._chat_model).__name__}",
            }
            return self._chat_model
        if not self.settings.model.enabled:
            self.component_status["model"] = {
                "status": "unconfigured",
                "detail": "model.enabled is false: creative uses labelled template copy",
            }
            return None
        started = time.perf_counter()
        try:
            from rmnlora.adapters.chat_model import RmnChatModel

            self.inference_service.register_shipped()  # the brief's tenant may be newer than the service
            model = RmnChatModel.from_settings(
                self.settings,
                tenant=tenant,
                retailer=retailer,
                brand=brand,
                task=task,
                service=self.inference_service,
            )
        except Exception as exc:  # the model being down is a signal for reflection, not a crash
            self.component_status["model"] = {"status": "down", "detail": f"{type(exc).__name__}: {exc}"}
            return None
        finally:
            self.load_seconds["model"] = self.load_seconds.get("model", 0.0) + time.perf_counter() - started
        self.component_status["model"] = {"status": "ok", "detail": self.settings.model.base_model}
        self._record_adapters(tenant=tenant, retailer=retailer, brand=brand, task=task)
        return model

    def _record_adapters(self, *, tenant: str, retailer: str, brand: str, task: str) -> None:
        """Which LoRA components exist for this triple: missing ones mean base-model output."""
        try:
            resolution = self.inference_service.registry.resolve(
                tenant, retailer=retailer, brand=brand, task=task
            )
        except Exception as exc:  # an access error is a fact for the gate, not a crash
            self.component_status[f"adapters:{retailer}"] = {"status": "down", "detail": str(exc)}
            return
        if resolution.missing:
            found = ", ".join(f"{kind}:{info.name}" for kind, info in resolution.components.items()) or "none"
            self.component_status[f"adapters:{retailer}"] = {
                "status": "unconfigured",
                "detail": f"no trained {'/'.join(resolution.missing)} adapter for {retailer}/{brand}/{task} "
                f"(composed from: {found}); copy comes from a less specialised model",
            }
        else:
            self.component_status[f"adapters:{retailer}"] = {
                "status": "ok",
                "detail": f"retailer={retailer} + brand={brand} + task={task}",
            }

    def check_audiences(self, brief: CampaignBrief) -> CleanRoomCheck:
        """The brief's audiences queried in each retailer's clean room; unconfigured is said, never faked."""
        endpoint = self.settings.clean_room.endpoint
        if not endpoint:
            check = check_audiences(brief, None)
            self.component_status["clean_room"] = {"status": "unconfigured", "detail": check.detail}
            return check
        clients = {
            r.name: CleanRoomClient(clean_room_config(self.settings, r.name, self.db))
            for r in brief.retailers
        }
        try:
            check = check_audiences(
                brief, lambda query: clients[query.retailer].query(query), endpoint=endpoint
            )
        finally:
            for client in clients.values():
                client.close()
        if check.status == "failed":
            self.component_status["clean_room"] = {"status": "down", "detail": check.detail}
        else:
            self.component_status["clean_room"] = {"status": "ok", "detail": endpoint}
        return check

    def components(self) -> list[ComponentStatus]:
        """The status of every part used so far, memory included: every gate recalls from it."""
        _ = self.memory
        return [ComponentStatus(name=name, **status) for name, status in self.component_status.items()]
