"""The settings object: derived locations follow the directories they derive from."""

from __future__ import annotations

from pathlib import Path

from clickintent.settings import load_settings


def test_a_copy_with_another_data_directory_derives_its_own_locations(tmp_path: Path) -> None:
    original = load_settings({}, data_dir=tmp_path / "a")
    assert original.marts_dir == tmp_path / "a" / "marts"  # computed and cached on the original
    copy = original.model_copy(update={"data_dir": tmp_path / "b"})
    assert copy.marts_dir == tmp_path / "b" / "marts" and copy.feast_dir == tmp_path / "b" / "feast"
    assert original.marts_dir == tmp_path / "a" / "marts"
