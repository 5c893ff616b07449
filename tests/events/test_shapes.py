"""Source shapes: which raw files a build of each shape needs, and a clear error when they are not there."""

from __future__ import annotations

import ast
import re
from typing import get_args

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clickintent.events.contract import RAW_TABLES
from clickintent.events.shapes import SHAPE_EVENT_TABLES, SOURCE_SHAPES, raw_table_names
from clickintent.features.dbt import check_raw_tables
from clickintent.settings import Settings, load_settings

MACROS = load_settings().dbt_project_dir / "macros"


def _macro_list(file: str, macro: str) -> tuple[str, ...]:
    """The list a dbt macro of this project returns (`{{ return([...]) }}`)."""
    text = (MACROS / file).read_text(encoding="utf-8")
    body = re.search(rf"{{% macro {macro}\(\) -%}}(.*?){{%- endmacro %}}", text, flags=re.DOTALL).group(1)
    return tuple(ast.literal_eval(re.search(r"return\((\[.*?\])\)", body).group(1)))


def test_the_settings_and_the_dbt_macros_know_the_same_shapes_and_raw_tables():
    assert get_args(Settings.model_fields["source_shape"].annotation) == SOURCE_SHAPES
    assert _macro_list("source_shapes.sql", "clickintent_source_shapes") == SOURCE_SHAPES
    assert _macro_list("clickintent_data_dir.sql", "clickintent_raw_tables") == tuple(RAW_TABLES)


def test_every_shape_reads_its_events_and_the_contract_tables_but_events():
    for shape, events in SHAPE_EVENT_TABLES.items():
        assert raw_table_names(shape) == (*events, *(name for name in RAW_TABLES if name != "events"))
    with pytest.raises(ValueError, match="unknown source shape 'matomo'; one of contract, snowplow, ga4, segment"):
        raw_table_names("matomo")


def test_a_build_of_the_wrong_shape_names_the_shape_the_raw_directory_holds(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    settings.raw_dir.mkdir(parents=True)
    pq.write_table(pa.table({"event_id": ["e1"]}), settings.raw_dir / "snowplow_events.parquet")
    with pytest.raises(FileNotFoundError, match="no raw events .*holds snowplow events: set CLICKINTENT_SOURCE_SHAPE=snowplow"):
        check_raw_tables(settings)
    with pytest.raises(FileNotFoundError, match="raw tables missing: products.*run `clickintent load <dir>` with your products"):
        check_raw_tables(settings.model_copy(update={"source_shape": "snowplow"}))


def test_a_tracker_shape_without_its_tables_is_told_where_they_go(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data").model_copy(update={"source_shape": "segment"})
    settings.raw_dir.mkdir(parents=True)
    # what `clickintent load` writes: the contract's tables, its events empty
    for name, table in RAW_TABLES.items():
        pq.write_table(table.arrow_schema().empty_table(), settings.raw_dir / f"{name}.parquet")
    with pytest.raises(FileNotFoundError) as caught:
        check_raw_tables(settings)
    message = str(caught.value)
    assert message.startswith("no raw segment events at ")
    assert "CLICKINTENT_SOURCE_SHAPE" not in message  # empty contract events are no hint
    assert "`clickintent generate --format segment`" in message
    assert "segment_pages.parquet, segment_screens.parquet, segment_tracks.parquet, segment_identifies.parquet" in message
