"""Source shapes: which raw files a build of each shape needs, and a clear error when they are not there."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clickintent.events.shapes import SOURCE_SHAPES, raw_table_names
from clickintent.features.dbt import check_raw_tables
from clickintent.settings import load_settings


def test_every_shape_reads_the_contract_catalogue_beside_its_events():
    assert SOURCE_SHAPES == ("contract", "snowplow", "ga4", "segment")
    assert raw_table_names("contract")[0] == "events"
    assert raw_table_names("segment")[:4] == ("segment_pages", "segment_screens", "segment_tracks", "segment_identifies")
    for shape in SOURCE_SHAPES:
        assert raw_table_names(shape)[-4:] == ("products", "customers", "conversions", "tile_impressions")
    with pytest.raises(ValueError, match="unknown source shape 'matomo'"):
        raw_table_names("matomo")


def test_a_build_of_the_wrong_shape_names_the_shape_the_raw_directory_holds(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    settings.raw_dir.mkdir(parents=True)
    pq.write_table(pa.table({"event_id": ["e1"]}), settings.raw_dir / "snowplow_events.parquet")
    with pytest.raises(FileNotFoundError, match="no raw events .*holds snowplow events: set CLICKINTENT_SOURCE_SHAPE=snowplow"):
        check_raw_tables(settings)
    with pytest.raises(FileNotFoundError, match="raw tables missing: products"):
        check_raw_tables(settings.model_copy(update={"source_shape": "snowplow"}))
