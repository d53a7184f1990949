"""CSV exports read into Ray Data with the row numbers quarantine rows point back to.

Ray's own ``read_csv`` does not number rows, and splits a large file into blocks that no later
step can number again. ``harmonize_batch`` needs each row's file and row (``_source_file``,
``_source_row``) so that a quarantined row leads back into its export. This datasource reads
each file as one stream and numbers its rows from 0, as ``harmonize`` does, so a Ray run's
quarantine is the single-process one. Needs ``ray[data]`` (in the dev extras).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from ray.data.datasource import FileBasedDatasource

from rmnlora.agents.harmonizer.core import SOURCE_FILE, SOURCE_ROW
from rmnlora.agents.harmonizer.mapping import RetailerMapping


class NumberedCSV(FileBasedDatasource):
    """A mapping's columns of CSV exports, as text, with ``_source_row`` and ``_source_file``.

    Use: ``ray.data.read_datasource(NumberedCSV(paths, mapping))``. Values are read as the
    harmonizer reads them: text, an empty cell null, a quoted empty one an empty string.
    """

    def __init__(self, paths: str | list[str], mapping: RetailerMapping, **options: Any) -> None:
        super().__init__(paths, **options)
        self._columns = list(mapping.columns)
        self._delimiter = mapping.delimiter
        self._retailer = mapping.retailer

    def _read_stream(self, f: pa.NativeFile, path: str) -> Iterator[pa.Table]:
        try:
            reader = pacsv.open_csv(
                f,
                read_options=pacsv.ReadOptions(use_threads=False),
                parse_options=pacsv.ParseOptions(delimiter=self._delimiter),
                convert_options=pacsv.ConvertOptions(
                    include_columns=self._columns,
                    column_types=dict.fromkeys(self._columns, pa.string()),
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
            row = 0
            for batch in reader:
                rows = batch.num_rows
                table = pa.Table.from_batches([batch])
                table = table.append_column(SOURCE_ROW, pa.array(range(row, row + rows), type=pa.int64()))
                yield table.append_column(SOURCE_FILE, pa.array([path] * rows, type=pa.string()))
                row += rows
        except pa.ArrowInvalid as exc:  # a ragged row, a missing column: name the file
            raise ValueError(f"cannot read {path} as the {self._retailer} mapping's CSV: {exc}") from exc
