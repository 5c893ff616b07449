"""The committed set of a mart partitioned by day: the days a build wrote, and the earlier ones carried over."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from clickintent.features.partitioned_marts import EMPTY_FILE, assemble, mart_files, mart_location, parquet_relation


def _day(directory: Path, day: str, values: list[int]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{day}.parquet"
    pd.DataFrame({"value": values}).to_parquet(path, index=False)
    return path


def test_a_build_keeps_the_committed_days_before_the_first_it_rebuilt(tmp_path: Path) -> None:
    committed, staging = tmp_path / "marts", tmp_path / ".marts.tmp-build"
    kept = [_day(committed / "mart", day, [index]) for index, day in enumerate(("2026-01-01", "2026-01-02"))]
    _day(committed / "mart", "2026-01-03", [99])  # rebuilt: replaced by the build's file
    _day(committed / "mart", "2026-01-04", [98])  # rebuilt and now without rows: gone
    _day(staging / "mart", "2026-01-03", [3])
    (staging / "mart.rebuilt_from.csv").write_text("2026-01-03\n")

    assemble(staging, committed)

    assert sorted(path.name for path in (staging / "mart").iterdir()) == ["2026-01-01.parquet", "2026-01-02.parquet", "2026-01-03.parquet"]
    for path in kept:  # the same files, not copies
        assert (staging / "mart" / path.name).stat().st_ino == path.stat().st_ino
    assert not (staging / "mart.rebuilt_from.csv").exists()
    assert sorted(pd.read_parquet(staging / "mart")["value"]) == [0, 1, 3]


def test_a_build_that_rebuilt_no_day_carries_every_day_and_drops_its_empty_file(tmp_path: Path) -> None:
    committed, staging = tmp_path / "marts", tmp_path / ".marts.tmp-build"
    _day(committed / "mart", "2026-01-01", [1])
    (staging / "mart").mkdir(parents=True)
    pd.DataFrame({"value": pd.Series([], dtype="int64")}).to_parquet(staging / "mart" / EMPTY_FILE)  # what dbt writes then
    (staging / "mart.rebuilt_from.csv").write_text("9999-12-31\n")

    assemble(staging, committed)

    assert [path.name for path in (staging / "mart").iterdir()] == ["2026-01-01.parquet"]


def test_a_full_build_takes_nothing_from_the_committed_set(tmp_path: Path) -> None:
    committed, staging = tmp_path / "marts", tmp_path / ".marts.tmp-build"
    _day(committed / "mart", "2026-01-01", [1])
    _day(staging / "mart", "2026-01-02", [2])  # no rebuilt_from: every day was written

    assemble(staging, committed)

    assert [path.name for path in (staging / "mart").iterdir()] == ["2026-01-02.parquet"]


def test_a_mart_is_read_alike_as_a_file_or_as_days(tmp_path: Path) -> None:
    pd.DataFrame({"value": [1, 2]}).to_parquet(tmp_path / "one.parquet", index=False)
    _day(tmp_path / "by_day", "2026-01-01", [1])
    _day(tmp_path / "by_day", "2026-01-02", [2])

    assert mart_location(tmp_path, "one") == tmp_path / "one.parquet"
    assert mart_location(tmp_path, "by_day") == tmp_path / "by_day"
    assert mart_location(tmp_path, "absent") == tmp_path / "absent.parquet"
    with duckdb.connect() as connection:
        for name in ("one", "by_day"):
            relation = parquet_relation(mart_location(tmp_path, name))
            assert connection.execute(f"select list(value order by value) from {relation}").fetchone()[0] == [1, 2]
    assert [path.relative_to(tmp_path).as_posix() for path in mart_files(tmp_path)] == [
        "by_day/2026-01-01.parquet",
        "by_day/2026-01-02.parquet",
        "one.parquet",
    ]
