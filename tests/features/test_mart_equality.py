"""The comparison of two builds' marts: a file against a table directory, rows in any order,
floats within the tolerance, anything else exact."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from clickintent.features.mart_equality import compare_marts, main

ROWS = {
    "session_id": ["s1", "s2", "s3"],
    "n_events": [3, 1, 2],
    "share": [0.5, 0.25, 1.0],
    "shares": [[0.5, 0.5], [1.0], []],
    "page_paths": [["/a", "/b"], ["/c"], []],
}


def _write_file(directory: Path, rows: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows), directory / "fct_sessions.parquet")


def _write_table_directory(directory: Path, rows: dict, order: list[int]) -> None:
    """As Spark writes a table: a directory of part files, rows in no particular order."""
    table_dir = directory / "fct_sessions"
    table_dir.mkdir(parents=True)
    reordered = {name: [values[index] for index in order] for name, values in rows.items()}
    table = pa.table(reordered)
    pq.write_table(table.slice(0, 1), table_dir / "part-00000.parquet")
    pq.write_table(table.slice(1), table_dir / "part-00001.parquet")
    (table_dir / "_SUCCESS").touch()


def _changed(column: str, index: int, value: object) -> dict:
    rows = {name: list(values) for name, values in ROWS.items()}
    rows[column][index] = value
    return rows


def test_the_same_rows_in_another_order_and_layout_are_equal(tmp_path) -> None:
    _write_file(tmp_path / "duckdb", ROWS)
    _write_table_directory(tmp_path / "spark", _changed("share", 1, 0.25 + 1e-9), order=[2, 0, 1])
    assert compare_marts(tmp_path / "duckdb", tmp_path / "spark") == {}


def test_a_float_beyond_the_tolerance_is_a_difference(tmp_path) -> None:
    _write_file(tmp_path / "duckdb", ROWS)
    _write_table_directory(tmp_path / "spark", _changed("shares", 0, [0.5, 0.51]), order=[0, 1, 2])
    report = compare_marts(tmp_path / "duckdb", tmp_path / "spark")
    assert list(report) == ["fct_sessions"] and "['shares']" in report["fct_sessions"][0]


def test_exact_values_must_be_equal(tmp_path) -> None:
    _write_file(tmp_path / "duckdb", ROWS)
    _write_table_directory(tmp_path / "spark", _changed("page_paths", 2, ["/d"]), order=[0, 1, 2])
    assert "fct_sessions" in compare_marts(tmp_path / "duckdb", tmp_path / "spark")


def test_missing_rows_columns_and_marts_are_differences(tmp_path) -> None:
    _write_file(tmp_path / "duckdb", ROWS)
    _write_file(tmp_path / "fewer", {name: values[:2] for name, values in ROWS.items()})
    _write_file(tmp_path / "renamed", {("depth" if name == "n_events" else name): values for name, values in ROWS.items()})
    (tmp_path / "empty").mkdir()
    assert compare_marts(tmp_path / "duckdb", tmp_path / "fewer") == {"fct_sessions": ["3 rows vs 2"]}
    assert "columns differ" in compare_marts(tmp_path / "duckdb", tmp_path / "renamed")["fct_sessions"][0]
    assert compare_marts(tmp_path / "duckdb", tmp_path / "empty") == {"fct_sessions": [f"missing in {tmp_path / 'empty'}"]}


def test_the_command_exits_non_zero_when_a_mart_differs(tmp_path, capsys) -> None:
    _write_file(tmp_path / "duckdb", ROWS)
    _write_file(tmp_path / "other", _changed("n_events", 0, 4))
    assert main([str(tmp_path / "duckdb"), str(tmp_path / "duckdb")]) == 0
    assert main([str(tmp_path / "duckdb"), str(tmp_path / "other")]) == 1
    assert "0 of 1 marts equal" in capsys.readouterr().out
