"""The CSV reader `clickintent load` uses: an empty export (a header row and no data) still reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from clickintent.events.contract import EVENTS
from clickintent.events.loader import read_table_file


@pytest.mark.parametrize("separator", [",", ";"])
def test_a_header_only_csv_reads_as_an_empty_table_with_its_columns(tmp_path: Path, separator: str) -> None:
    names = [column.name for column in EVENTS.columns]
    export = tmp_path / "events.csv"
    export.write_text(separator.join(names) + "\n")

    table = read_table_file(export)

    assert table.num_rows == 0
    assert table.column_names == names
