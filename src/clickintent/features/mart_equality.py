"""Whether two builds of the marts hold the same rows: DuckDB's against another engine's
(docs/spark.md), or any two data directories; and whether two frames do (two offline stores'
answers to one `get_historical_features`, frame_differences).

A mart is `<dir>/<model>.parquet` (the DuckDB build's external materialization) or a directory
`<dir>/<model>/` of Parquet part files (a Spark table). Row order is not part of a mart's
meaning on every engine, so both sides are sorted by their exact values (everything but
floating point) and compared row by row: exact values equal, floating-point values (also inside
lists) within a tolerance, since engines sum in different orders. Column names and their order
must match.

    python -m clickintent.features.mart_equality <marts dir> <other marts dir> [model ...]
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow.parquet as pq

from clickintent.features.partitioned_marts import mart_location

# Relative and absolute: float32 shares carry about 7 significant digits.
DEFAULT_TOLERANCE = 1e-5
# How many differing rows a report spells out per mart.
MAX_REPORTED_ROWS = 3


def mart_path(marts_dir: Path, model: str) -> Path | None:
    """Where `model`'s rows are in `marts_dir` (a file or a table directory); None when absent."""
    location = mart_location(marts_dir, model)
    return location if location.exists() else None


def marts_in(marts_dir: Path) -> list[str]:
    """The marts a directory holds (files and table directories), by name."""
    names = {path.stem for path in Path(marts_dir).glob("*.parquet")}
    names |= {path.name for path in Path(marts_dir).iterdir() if path.is_dir() and not path.name.startswith((".", "_"))}
    return sorted(names)


def _exact_part(value: object) -> object:
    """The value with floats left out, comparable across rows (None sorts first)."""
    if isinstance(value, float):
        return (0,)
    if isinstance(value, list | tuple):
        return (1, tuple(_exact_part(item) for item in value))
    if isinstance(value, dict):
        return (1, tuple((key, _exact_part(item)) for key, item in value.items()))
    return (0,) if value is None else (1, value)


def _close(left: object, right: object, tolerance: float) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(_close(a, b, tolerance) for a, b in zip(left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_close(left[key], right[key], tolerance) for key in left)
    return left == right


def _sorted(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=lambda row: tuple(_exact_part(value) for value in row))


def _table_rows(path: Path) -> tuple[list[str], list[tuple]]:
    table = pq.read_table(path)
    return table.column_names, [tuple(row.values()) for row in table.to_pylist()]


def mart_differences(left: Path, right: Path, *, tolerance: float = DEFAULT_TOLERANCE) -> list[str]:
    """How two copies of one mart differ (empty when they hold the same rows)."""
    return rows_differences(*_table_rows(left), *_table_rows(right), tolerance=tolerance)


def _plain(value: object) -> object:
    """A value of a pandas frame as a mart row holds it: missing (None, NaN, NaT, NA) as None,
    arrays as lists, numpy scalars as Python's, timestamps in UTC (a naive one is UTC, as every
    timestamp of the event contract)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(item) for item in value]
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float | np.floating) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        stamp = pd.Timestamp(value)
        if stamp is pd.NaT:
            return None
        return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def frame_differences(left, right, *, tolerance: float = DEFAULT_TOLERANCE) -> list[str]:
    """How two pandas frames differ as sets of rows (empty when they hold the same rows): the
    mart rule, after each value is made plain (_plain: nulls of any kind are equal)."""

    def rows(frame) -> list[tuple]:
        return [tuple(_plain(value) for value in row) for row in frame.itertuples(index=False, name=None)]

    return rows_differences(list(left.columns), rows(left), list(right.columns), rows(right), tolerance=tolerance)


def rows_differences(
    left_columns: list[str],
    left_rows: list[tuple],
    right_columns: list[str],
    right_rows: list[tuple],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[str]:
    """How two sets of rows differ, each sorted by its exact values (empty when they are the same)."""
    if left_columns != right_columns:
        return [f"columns differ: {left_columns} vs {right_columns}"]
    left_rows, right_rows = _sorted(left_rows), _sorted(right_rows)
    if len(left_rows) != len(right_rows):
        return [f"{len(left_rows)} rows vs {len(right_rows)}"]
    differences = []
    for left_row, right_row in zip(left_rows, right_rows):
        if not _close(left_row, right_row, tolerance):
            columns = [name for name, a, b in zip(left_columns, left_row, right_row) if not _close(a, b, tolerance)]
            differences.append(f"row {dict(zip(left_columns, left_row))} differs in {columns}: {dict(zip(left_columns, right_row))}")
    if len(differences) > MAX_REPORTED_ROWS:
        return [*differences[:MAX_REPORTED_ROWS], f"... {len(differences)} rows differ in all"]
    return differences


def compare_marts(
    marts_dir: Path, other_marts_dir: Path, models: Iterable[str] | None = None, *, tolerance: float = DEFAULT_TOLERANCE
) -> dict[str, list[str]]:
    """Per mart (default: every mart in `marts_dir`), how its copy in `other_marts_dir` differs.
    Only marts that differ (or are missing on either side) are in the answer."""
    report: dict[str, list[str]] = {}
    for model in sorted(models) if models is not None else marts_in(marts_dir):
        left, right = mart_path(marts_dir, model), mart_path(other_marts_dir, model)
        if left is None or right is None:
            report[model] = [f"missing in {marts_dir if left is None else other_marts_dir}"]
            continue
        differences = mart_differences(left, right, tolerance=tolerance)
        if differences:
            report[model] = differences
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print("usage: python -m clickintent.features.mart_equality <marts dir> <other marts dir> [model ...]", file=sys.stderr)
        return 2
    models = args[2:] or None
    report = compare_marts(Path(args[0]), Path(args[1]), models)
    for model, differences in report.items():
        for difference in differences:
            print(f"{model}: {difference}")
    compared = models or marts_in(Path(args[0]))
    print(f"{len(compared) - len(report)} of {len(compared)} marts equal")
    return 1 if report else 0


if __name__ == "__main__":
    sys.exit(main())
