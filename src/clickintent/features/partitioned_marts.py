"""The marts partitioned by day: each a directory `<marts>/<model>/` of Parquet files, one per UTC
day of its timestamp (`<YYYY-MM-DD>.parquet`), which an incremental build writes from the first
day its rows can have changed on (dbt_project/macros/partitioned_marts.sql, docs/incremental.md).

dbt writes the days it rebuilt into the staging set and names the first of them beside the
directory (`<model>.rebuilt_from.csv`); `assemble` carries the earlier days over from the
committed set by hard links, so a build rewrites no file it did not rebuild.
"""

from __future__ import annotations

import os
from pathlib import Path

REBUILT_FROM_SUFFIX = ".rebuilt_from.csv"
# Written by dbt when no day has a row: the mart's columns for its readers and data tests. Not
# `_empty`: pyarrow (and so pandas) skips files whose names start with `_` or `.` in a directory.
EMPTY_FILE = "empty.parquet"
MART_FILES = ("*.parquet", "*/*.parquet")  # a set's marts: files, and partitioned marts' days


def day_of(path: Path) -> str:
    """The UTC day a partitioned mart's file holds (`2026-04-20.parquet`, `2026-04-20.1.parquet`)."""
    return path.name.split(".", 1)[0]


def mart_files(marts_dir: Path) -> list[Path]:
    """Every file of a set of marts."""
    return sorted(path for pattern in MART_FILES for path in Path(marts_dir).glob(pattern))


def assemble(staging: Path, committed: Path) -> None:
    """Complete each partitioned mart dbt wrote into `staging` with the days before the ones it
    rebuilt, from the set committed in `committed` (hard links: nothing is copied)."""
    for directory in sorted(path for path in Path(staging).iterdir() if path.is_dir()):
        marker = directory.with_name(directory.name + REBUILT_FROM_SUFFIX)
        if marker.is_file():
            rebuilt_from = marker.read_text(encoding="utf-8").strip()
            previous = Path(committed) / directory.name
            for path in sorted(previous.glob("*.parquet")) if previous.is_dir() else ():
                # a --select build may have linked them already; EMPTY_FILE sorts after every day
                if day_of(path) < rebuilt_from and not (directory / path.name).exists():
                    os.link(path, directory / path.name)
            marker.unlink()
        if any(path.name != EMPTY_FILE for path in directory.glob("*.parquet")):
            (directory / EMPTY_FILE).unlink(missing_ok=True)


def mart_location(marts_dir: Path | str, model: str) -> Path:
    """Where mart `model`'s rows are in a set of marts: its directory of days when it is
    partitioned, else its file `<model>.parquet` (also the path named when neither exists).
    pandas and pyarrow read either; DuckDB through parquet_relation."""
    directory = Path(marts_dir) / model
    return directory if directory.is_dir() else Path(marts_dir) / f"{model}.parquet"


def parquet_pattern(path: Path | str) -> str:
    """What DuckDB's read_parquet reads for a mart's location: the file, or the directory's files."""
    return f"{path}/*.parquet" if Path(path).is_dir() else str(path)


def parquet_relation(path: Path | str) -> str:
    """A DuckDB table expression over a Parquet file, or over every Parquet file of a directory."""
    return "read_parquet('{}')".format(parquet_pattern(path).replace("'", "''"))
