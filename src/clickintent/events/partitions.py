"""Where the raw events live: one file, or day partitions that loads and appends add to.

Two layouts, never both at once:

    <raw>/events.parquet                                   one file (`generate`, `load`)
    <raw>/events/event_date=YYYY-MM-DD/<batch>.parquet     day partitions (`generate --days`,
                                                           `generate --append`, `load --append`)

A batch is one append: each event goes to the partition of its UTC day, so a batch with late
events (an app that flushed yesterday's events today) adds a file to yesterday's partition. A
file, once written, is never rewritten: an incremental build (features.incremental) finds new
data as the files it has not built yet. Appending to the one-file layout first splits that file
into partitions (batch `base`).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

EVENTS_FILE = "events.parquet"
EVENTS_DIR = "events"
PARTITION_KEY = "event_date"
# The record of the synthetic world written as day partitions (seed, size, days written), which
# `clickintent generate --append` continues; a load of real tables removes it.
WORLD_RECORD = "world.json"
# The batch an appended-to one-file layout is split into.
BASE_BATCH = "base"


def events_file(raw_dir: Path) -> Path:
    return Path(raw_dir) / EVENTS_FILE


def partitions_dir(raw_dir: Path) -> Path:
    return Path(raw_dir) / EVENTS_DIR


def is_partitioned(raw_dir: Path) -> bool:
    return partitions_dir(raw_dir).is_dir()


def raw_event_files(raw_dir: Path) -> list[Path]:
    """Every file holding raw contract events, sorted: the one file, or the partitions' files."""
    if is_partitioned(raw_dir):
        return sorted(partitions_dir(raw_dir).glob(f"{PARTITION_KEY}=*/*.parquet"))
    single = events_file(raw_dir)
    return [single] if single.is_file() else []


def has_raw_events(raw_dir: Path) -> bool:
    return bool(raw_event_files(raw_dir))


def partition_glob(raw_dir: Path) -> str:
    """The glob a reader of the partitioned layout gives DuckDB (dbt's events source)."""
    return str(partitions_dir(raw_dir) / f"{PARTITION_KEY}=*" / "*.parquet")


def new_batch_name() -> str:
    """A batch file name that sorts by when it was written and never repeats."""
    return f"batch-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


def write_event_batch(events: pa.Table, raw_dir: Path, batch: str | None = None) -> list[Path]:
    """Add `events` to the day partitions of raw_dir as one batch; the files written.

    Each day's file is written under a hidden name and renamed when complete, and only after
    every day's file is complete, so a failed append leaves no part of the batch behind. An
    existing one-file layout is first split into partitions (batch `base`).
    """
    raw_dir = Path(raw_dir)
    if not is_partitioned(raw_dir) and events_file(raw_dir).is_file():
        split_into_partitions(raw_dir)
    return _write_days(events, partitions_dir(raw_dir), batch or new_batch_name())


def split_into_partitions(raw_dir: Path) -> None:
    """Turn the one-file layout into day partitions, keeping every event (batch `base`)."""
    single = events_file(raw_dir)
    staging = raw_dir / f".{EVENTS_DIR}.split-{uuid.uuid4().hex[:8]}"
    try:
        _write_days(pq.read_table(single), staging, BASE_BATCH)
        os.replace(staging, partitions_dir(raw_dir))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    single.unlink()


def _write_days(events: pa.Table, directory: Path, batch: str) -> list[Path]:
    days = pc.cast(pc.floor_temporal(events["event_ts"], unit="day"), pa.timestamp("us", tz="UTC"))
    written: list[tuple[Path, Path]] = []
    try:
        for day in sorted(set(days.to_pylist())):
            rows = events.filter(pc.equal(days, pa.scalar(day, type=days.type)))
            target = directory / f"{PARTITION_KEY}={day:%Y-%m-%d}" / f"{batch}.parquet"
            if target.exists():
                raise FileExistsError(f"{target} exists: batch {batch} was appended before")
            target.parent.mkdir(parents=True, exist_ok=True)
            hidden = target.with_name(f".{target.name}.tmp")
            pq.write_table(rows, hidden, compression="zstd", row_group_size=1_000_000)
            written.append((hidden, target))
        for hidden, target in written:
            os.replace(hidden, target)
    except BaseException:
        for hidden, _ in written:
            hidden.unlink(missing_ok=True)
        raise
    return [target for _, target in written]
