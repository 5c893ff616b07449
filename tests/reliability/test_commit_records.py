"""Commit records and directory swaps: a reader sees a committed set or is told what to run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clickintent.artifacts import (
    UncommittedOutputError,
    mark_in_progress,
    recover_directory,
    staging_sibling,
    swap_directory,
    verify_commit,
    write_commit,
)


def _files(directory: Path, contents: dict[str, bytes]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        (directory / name).write_bytes(content)
    return [directory / name for name in contents]


def test_a_committed_set_passes_and_each_kind_of_mix_is_named(tmp_path: Path) -> None:
    marts = tmp_path / "marts"
    write_commit(marts, "clickintent build", _files(marts, {"a.parquet": b"a1", "b.parquet": b"b1"}))
    assert verify_commit(marts, what="the marts", command="clickintent build", unlisted=("*.parquet",))["stage"] == "clickintent build"

    (marts / "a.parquet").write_bytes(b"a2")  # another build's file, same size
    (marts / "c.parquet").write_bytes(b"c2")  # a mart the committed build did not write
    (marts / "b.parquet").unlink()
    with pytest.raises(UncommittedOutputError) as mixed:
        verify_commit(marts, what="the marts", command="clickintent build", unlisted=("*.parquet",))
    message = str(mixed.value)
    assert "missing: b.parquet" in message and "changed: a.parquet" in message and "not part of it: c.parquet" in message
    assert "run `clickintent build`" in message


def test_a_copied_directory_is_checked_by_content(tmp_path: Path) -> None:
    source = tmp_path / "a"
    write_commit(source, "stage", _files(source, {"x.bin": b"same"}))
    os.utime(source / "x.bin", ns=(0, 0))  # a copy that did not keep the times
    assert verify_commit(source, what="x", command="stage") is not None


def test_in_progress_is_refused_and_no_record_passes_unless_required(tmp_path: Path) -> None:
    directory = tmp_path / "taxonomy"
    _files(directory, {"page_map.parquet": b"p"})
    assert verify_commit(directory, what="the taxonomy outputs", command="clickintent taxonomy run") is None
    with pytest.raises(UncommittedOutputError, match="never committed"):
        verify_commit(directory, what="the taxonomy outputs", command="clickintent taxonomy run", required=True)
    mark_in_progress(directory, "clickintent taxonomy run")
    with pytest.raises(UncommittedOutputError, match=r"half-written: clickintent taxonomy run started at .* did not finish"):
        verify_commit(directory, what="the taxonomy outputs", command="clickintent taxonomy run")


def test_a_record_may_name_files_beside_its_directory(tmp_path: Path) -> None:
    directory, beside = tmp_path / "taxonomy", tmp_path / "features"
    files = _files(directory, {"t.yaml": b"t"}) + _files(beside, {"f.parquet": b"f"})
    record = json.loads(write_commit(directory, "stage", files).read_text())
    assert set(record["files"]) == {"t.yaml", os.path.join("..", "features", "f.parquet")}
    (beside / "f.parquet").write_bytes(b"g")
    with pytest.raises(UncommittedOutputError, match="changed"):
        verify_commit(directory, what="x", command="stage")


def test_a_kill_between_the_two_renames_of_a_swap_is_undone_by_the_next_writer(tmp_path: Path) -> None:
    target = tmp_path / "tile_ranker"
    _files(target, {"model.ubj": b"previous"})
    staging = staging_sibling(target)
    _files(staging, {"model.ubj": b"half"})  # a writer killed while filling its staging directory
    retired = target.with_name(f".{target.name}.old-0123")
    os.replace(target, retired)  # ... or killed between the swap's two renames
    recover_directory(target)
    assert (target / "model.ubj").read_bytes() == b"previous"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tile_ranker"]

    staging = staging_sibling(target)
    _files(staging, {"model.ubj": b"next"})
    swap_directory(staging, target)
    assert (target / "model.ubj").read_bytes() == b"next"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tile_ranker"]
