"""The harmonizer's batch function on a local Ray cluster equals one single-process `harmonize`.

What docs/harmonizer.md ("Running it on Ray Data or Spark") promises, run as written there:
Ray Data reads several exports, `map_batches` runs `harmonize_batch` per block, `mark_duplicates`
runs once over the union; events and quarantine (reasons, details, source rows) are the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from rmnlora.agents.harmonizer import (
    harmonize,
    harmonize_batch,
    mark_duplicates,
    read_events,
    read_quarantine,
    shipped_mapping,
)
from rmnlora.agents.harmonizer.engine import default_fx, read_crosswalk
from rmnlora.agents.harmonizer.sink import events_of, quarantine_of
from rmnlora.datagen import generate_exports
from rmnlora.schemas.harmonize import HarmonizeRequest
from rmnlora.schemas.rmis import QUARANTINE_SCHEMA

ray = pytest.importorskip("ray", reason="ray[data] is not installed: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=150 * 2**20)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def walmart_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The Walmart export (planted bad rows and duplicates) cut into three files, the last one
    repeating rows of the first: duplicates across files, which only the final step can see."""
    folder = tmp_path_factory.mktemp("walmart")
    truth = generate_exports(folder, seed=5, days=21, markets=4, products=2, retailers=("walmart",))
    source = pl.read_csv(truth.retailers["walmart"].files[0], separator=";", infer_schema=False)
    third = source.height // 3
    parts = [
        source.slice(0, third),
        source.slice(third, third),
        pl.concat([source.slice(2 * third), source.head(7)]),
    ]
    paths = []
    for index, part in enumerate(parts):
        path = folder / f"walmart_week{index + 1}.csv"
        part.write_csv(path, separator=";")
        paths.append(path)
    return paths


def test_ray_data_map_batches_then_mark_duplicates_equals_one_harmonize(
    local_ray: None, walmart_files: list[Path], tmp_path: Path
) -> None:
    from rmnlora.agents.harmonizer.ray_source import NumberedCSV

    paths = [str(p) for p in walmart_files]
    mapping = shipped_mapping("walmart")
    assert mapping is not None
    fx = default_fx()
    crosswalk = read_crosswalk(mapping, walmart_files[0].parent)  # None: Walmart ids are UPCs

    # as in docs/harmonizer.md
    ds = ray.data.read_datasource(NumberedCSV(paths, mapping))
    staged = ds.map_batches(
        lambda t: harmonize_batch(t, mapping, fx=fx, crosswalk=crosswalk).to_arrow(), batch_format="pyarrow"
    )
    staged.write_parquet(str(tmp_path / "staged"))
    order = pl.Enum([p.split("://")[-1] for p in paths])  # files as Ray names them: s3://b/k is b/k
    in_input_order = pl.scan_parquet(tmp_path / "staged" / "*.parquet").sort(
        pl.col("_source_file").cast(order), "_source_row"
    )
    marked = mark_duplicates(in_input_order).collect()

    summary = harmonize(HarmonizeRequest(inputs=walmart_files, retailer="walmart", out=tmp_path / "single"))
    single = read_quarantine(tmp_path / "single", "walmart")
    last = pl.read_csv(walmart_files[2], separator=";", infer_schema=False).height
    copies = single.filter((pl.col("source_file") == paths[2]) & (pl.col("source_row") >= last - 7))
    bad_originals = single.filter((pl.col("source_file") == paths[0]) & (pl.col("source_row") < 7)).height
    assert (copies["reason"] == "duplicate_event").sum() == 7 - bad_originals  # seen across files
    assert marked.height == summary.rows_in
    events = events_of(marked).sort("event_id")
    assert events.equals(read_events(tmp_path / "single", "walmart").collect().sort("event_id"))
    quarantine = quarantine_of(marked, list(mapping.columns), "walmart", pl.col("_detail"))
    schema = [pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items()]
    assert (
        quarantine.select(schema)
        .sort("source_file", "source_row")
        .equals(read_quarantine(tmp_path / "single", "walmart").sort("source_file", "source_row"))
    )
    assert quarantine.height == summary.rows_quarantined


def test_a_ragged_export_stops_the_ray_read_naming_the_file(
    local_ray: None, walmart_files: list[Path], tmp_path: Path
) -> None:
    from rmnlora.agents.harmonizer.ray_source import NumberedCSV

    lines = walmart_files[0].read_text().splitlines()
    ragged = tmp_path / "walmart_ragged.csv"
    ragged.write_text("\n".join([*lines[:4], lines[4] + ";extra", *lines[5:]]) + "\n")
    mapping = shipped_mapping("walmart")
    assert mapping is not None
    with pytest.raises(Exception, match=r"cannot read .*walmart_ragged\.csv as the walmart mapping's CSV"):
        ray.data.read_datasource(NumberedCSV([str(ragged)], mapping)).materialize()
