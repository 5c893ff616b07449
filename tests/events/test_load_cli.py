"""`clickintent load` on the CSV a user has: it says what it detected and what it kept as 'other'."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from clickintent.cli.main import app
from support.contract_frames import events_frame, products_frame

runner = CliRunner()


def test_load_reads_a_tab_separated_export_with_quoted_headers_and_says_so(tmp_path: Path) -> None:
    source = tmp_path / "export"
    source.mkdir()
    events = events_frame().assign(event_type=["page_view", "video_play", "screen_view"])
    events.to_csv(source / "events.csv", index=False, sep="\t", quoting=csv.QUOTE_ALL)
    products_frame().to_csv(source / "products.csv", index=False, sep=";", quoting=csv.QUOTE_ALL)

    result = runner.invoke(app, ["load", str(source), "--data-dir", str(tmp_path / "data")])

    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "events.csv: delimiter '\\t' (tab), quote '\"', header row, UTF-8" in output
    assert "products.csv: delimiter ';' (semicolon), quote '\"', header row, UTF-8" in output
    assert "1 row(s) with a event_type the contract does not know, kept as 'other': 'video_play' (1)" in output
    assert "events: 3 rows" in output
    loaded = pq.read_table(tmp_path / "data" / "raw" / "events.parquet")
    assert loaded.column("event_type").to_pylist() == ["page_view", "other", "screen_view"]


def test_load_names_a_file_it_cannot_read(tmp_path: Path) -> None:
    source = tmp_path / "export"
    source.mkdir()
    events_frame().to_csv(source / "events.csv", index=False)
    (source / "products.csv").write_bytes(b"product_id,product_name\np1,Caf\xe9 card\n")
    result = runner.invoke(app, ["load", str(source), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    unwrapped = "".join(result.output.split())  # the console wraps long lines anywhere
    assert "products.csv:isnotUTF-8:invalidbyteatline2" in unwrapped
    assert not (tmp_path / "data" / "raw").exists()
