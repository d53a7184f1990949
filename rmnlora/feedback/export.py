"""The DPO export: stored preference pairs and corrections as TRL rows ``{prompt, chosen, rejected}``.

A module of its own because it is what training consumes (the API streams it, the app offers it
for download, ``rmn feedback export-dpo`` writes a file), not part of recording feedback. Rows are
read in ``yield_per`` batches, so an export of any size streams in constant memory; the store's
filter and pair condition are reused, so ``stats().dpo_pairs`` counts exactly the rows written here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select as sa_select
from sqlmodel import col

from rmnlora.feedback.store import dpo_condition, filtered
from rmnlora.schemas.feedback import DPORow, ExportFilter
from rmnlora.storage.database import Database
from rmnlora.storage.models import Feedback


def iter_dpo_rows(
    database: Database, tenant_id: str, flt: ExportFilter | None = None, *, batch: int = 500
) -> Iterator[DPORow]:
    """Preference pairs, and corrections as (chosen=correction, rejected=response), oldest first."""
    flt = flt or ExportFilter()
    statement = filtered(
        sa_select(
            col(Feedback.prompt),
            col(Feedback.chosen),
            col(Feedback.rejected),
            col(Feedback.correction),
            col(Feedback.response),
        ),
        tenant_id,
        flt,
    ).where(dpo_condition(flt))
    with database.get_session(tenant_id=tenant_id) as session:
        result = session.exec(statement.order_by(col(Feedback.id)).execution_options(yield_per=batch))
        for prompt, chosen, rejected, correction, response in result:
            if chosen is not None and rejected is not None:
                yield DPORow(prompt=prompt, chosen=chosen, rejected=rejected)
            elif correction is not None and response is not None:
                yield DPORow(prompt=prompt, chosen=correction, rejected=response)


def iter_dpo_jsonl(database: Database, tenant_id: str, flt: ExportFilter | None = None) -> Iterator[str]:
    """The export as JSON lines (each ends in a newline), for streaming responses and downloads."""
    for row in iter_dpo_rows(database, tenant_id, flt):
        yield json.dumps(row.model_dump(), ensure_ascii=False) + "\n"


def write_dpo_jsonl(database: Database, tenant_id: str, flt: ExportFilter | None, path: Path) -> int:
    """Write the export to ``path``; returns the number of rows."""
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for line in iter_dpo_jsonl(database, tenant_id, flt):
            handle.write(line)
            count += 1
    return count
