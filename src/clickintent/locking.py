"""One writer per data directory: the lock every writing stage holds for its whole run.

An OS file lock (`fcntl.flock`, exclusive, non-blocking) on `<data dir>/.lock`. The kernel
releases it when the holder's file is closed, including when the process is killed (kill -9),
so a crashed stage never leaves a lock to clean by hand. The file also says who holds it
(stage, pid, start time), written after the lock is taken, so the stage that is refused can
name the one that is running. A process that holds the lock may take it again (the demo runs
every stage under one lock); the lock is released when the outermost holder leaves.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = ".lock"


class DataDirLocked(RuntimeError):
    """Another clickintent stage holds the data directory's lock."""


# resolved data dir -> [file descriptor, depth, stage]; one entry per directory this process holds.
_HELD: dict[Path, list] = {}
_HELD_GUARD = threading.Lock()


def lock_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / LOCK_FILE


def _holder(descriptor: int) -> dict:
    try:
        os.lseek(descriptor, 0, os.SEEK_SET)
        return json.loads(os.read(descriptor, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}


@contextmanager
def data_dir_lock(data_dir: Path | str, stage: str) -> Iterator[None]:
    """Hold `<data_dir>/.lock` for the block; DataDirLocked at once if another process holds it."""
    directory = Path(data_dir).resolve()
    with _HELD_GUARD:
        held = _HELD.get(directory)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield
        finally:
            with _HELD_GUARD:
                held[1] -= 1
        return
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path(directory), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
            running = f"{holder.get('stage', 'unknown stage')}, pid {holder.get('pid', '?')}, started {holder.get('started_at', '?')}"
            raise DataDirLocked(
                f"another clickintent stage ({running}) is running on {directory}; wait for it to finish, then run {stage} again"
            ) from None
        record = {"stage": stage, "pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(record).encode("utf-8"), 0)
        entry = [descriptor, 1, stage]
        with _HELD_GUARD:
            _HELD[directory] = entry
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD.pop(directory, None)
            # The record stays: it says who ran last; the lock, not the file, says who runs now.
    finally:
        os.close(descriptor)  # releases the flock


def holds_lock(data_dir: Path | str) -> bool:
    """Whether this process holds the data directory's lock (a stage function can check it)."""
    with _HELD_GUARD:
        return Path(data_dir).resolve() in _HELD
