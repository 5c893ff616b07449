"""Atomic writes and model cards (clickintent.artifacts): what a crash or a wrong folder leaves and says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clickintent.artifacts import (
    CARD_FILE,
    ModelCardError,
    atomic_directory,
    atomic_file,
    atomic_write_json,
    file_sha256,
    is_temporary,
    read_card,
    verify_weights,
    write_card,
)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    target.write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as temporary:
            temporary.write_text("half")
            assert is_temporary(temporary) and temporary.parent == tmp_path
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "previous"
    assert [path.name for path in tmp_path.iterdir()] == ["table.parquet"]


def test_json_layout_options_keep_each_writer_s_bytes(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "out.json"  # parents are created
    atomic_write_json(path, {"b": 1, "a": "é"}, sort_keys=True)
    assert path.read_text(encoding="utf-8") == '{\n  "a": "\\u00e9",\n  "b": 1\n}\n'
    atomic_write_json(path, {"n": np.int64(3)}, ensure_ascii=False, default=lambda value: value.item())
    assert json.loads(path.read_text()) == {"n": 3}
    atomic_write_json(path, {"label": "é"}, ensure_ascii=False)
    assert "é" in path.read_text(encoding="utf-8")


def test_a_directory_is_swapped_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "raw"
    target.mkdir()
    (target / "old.parquet").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "new.parquet").write_text("new")
            raise RuntimeError("crash mid-fill")
    assert [path.name for path in target.iterdir()] == ["old.parquet"]
    with atomic_directory(target) as staging:
        (staging / "new.parquet").write_text("new")
    assert [path.name for path in target.iterdir()] == ["new.parquet"]
    assert [path.name for path in tmp_path.iterdir()] == ["raw"]


def _model(tmp_path: Path, card: dict | str, files: tuple[str, ...] = ("weights.bin",)) -> Path:
    directory = tmp_path / "encoder"
    directory.mkdir(exist_ok=True)
    for name in files:
        (directory / name).write_bytes(b"weights")
    if isinstance(card, str):
        (directory / CARD_FILE).write_text(card)
    else:
        write_card(directory, card)
    return directory


def test_read_card_names_the_problem_and_the_command(tmp_path: Path) -> None:
    hint = "run `clickintent encoder train`"
    with pytest.raises(ModelCardError, match=rf"model 'encoder' not found: .* does not exist; {hint}"):
        read_card(tmp_path / "encoder", name="encoder", train_command="clickintent encoder train")
    directory = _model(tmp_path, {"name": "encoder", "version": "v1-abc", "format": 1}, files=())
    with pytest.raises(ModelCardError, match="is incomplete: missing weights.bin"):
        read_card(directory, name="encoder", required_files=("weights.bin",))
    with pytest.raises(ModelCardError, match="is the card of model 'encoder', not 'intent_classifier'"):
        read_card(directory, name="intent_classifier")
    with pytest.raises(ModelCardError, match="lacks created_at"):
        read_card(directory, required_fields=("version", "created_at"))
    with pytest.raises(ModelCardError, match="has format 1; this version of clickintent reads 2"):
        read_card(directory, expected={"format": 2})
    assert read_card(directory, name="encoder", expected={"format": 1})["version"] == "v1-abc"
    _model(tmp_path, "{not json")
    with pytest.raises(ModelCardError, match="is not readable JSON"):
        read_card(directory)
    _model(tmp_path, "[1, 2]")
    with pytest.raises(ModelCardError, match="is not a JSON object"):
        read_card(directory)


def test_verify_weights_refuses_weights_the_card_was_not_written_with(tmp_path: Path) -> None:
    directory = _model(tmp_path, {"name": "encoder"})
    card = {"version": "v1-x", "weights_sha256": file_sha256(directory / "weights.bin")}
    verify_weights(directory, card, "weights.bin", train_command="clickintent encoder train")
    verify_weights(directory, {"version": "1"}, "weights.bin", train_command="clickintent encoder train")  # older cards: no hash
    (directory / "weights.bin").write_bytes(b"other weights")
    with pytest.raises(ModelCardError, match=r"weights.bin is not the weights its model card 'v1-x' was written with"):
        verify_weights(directory, card, "weights.bin", train_command="clickintent encoder train")
