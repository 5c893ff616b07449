"""The data directory's lock: one writing stage at a time, named when it refuses, gone with its holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clickintent.locking import DataDirLocked, data_dir_lock, holds_lock, lock_path

HOLDER = """
import sys, time
from clickintent.locking import data_dir_lock
with data_dir_lock(sys.argv[1], "build"):
    print("held", flush=True)
    time.sleep(120)
"""


def _hold_in_another_process(data_dir: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_stage_is_refused_naming_the_one_running(tmp_path: Path) -> None:
    holder = _hold_in_another_process(tmp_path)
    try:
        with pytest.raises(DataDirLocked) as refused, data_dir_lock(tmp_path, "features materialize"):
            pass
        message = str(refused.value)
        assert f"another clickintent stage (build, pid {holder.pid}, started " in message
        assert f"is running on {tmp_path.resolve()}" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_lock(tmp_path: Path) -> None:
    holder = _hold_in_another_process(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with data_dir_lock(tmp_path, "build"):
        assert holds_lock(tmp_path)
    assert not holds_lock(tmp_path)
    assert lock_path(tmp_path).is_file()  # the record of who ran last stays; the kernel's lock is what counts


def test_the_holder_may_take_it_again_and_keeps_it_until_the_outermost_leaves(tmp_path: Path) -> None:
    with data_dir_lock(tmp_path, "demo"):
        with data_dir_lock(tmp_path, "build"):
            assert holds_lock(tmp_path)
        assert holds_lock(tmp_path)
        refused = subprocess.run([sys.executable, "-c", HOLDER, str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "another clickintent stage (demo, pid" in refused.stderr
    assert not holds_lock(tmp_path)


def test_a_refused_command_is_one_line_and_a_non_zero_status(tmp_path: Path) -> None:
    holder = _hold_in_another_process(tmp_path)
    try:
        # refused at once: a command that waited for the holder (asleep for 120 s) would time out here
        result = subprocess.run(
            [sys.executable, "-m", "clickintent.cli.main", "build", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 3
        assert "another clickintent stage (build, pid" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    finally:
        holder.kill()
        holder.wait()
