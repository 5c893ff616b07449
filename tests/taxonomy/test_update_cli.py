"""The launch, update, accept and drift commands refuse what they cannot do with one clear line."""

from __future__ import annotations

from typer.testing import CliRunner

from clickintent.cli.main import app

runner = CliRunner()


def test_an_unknown_launch_is_refused_before_anything_is_generated(tmp_path) -> None:
    result = runner.invoke(app, ["generate", "--events", "1000", "--launch", "crypto", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown launch 'crypto'" in result.output and "bnpl" in result.output
    assert not (tmp_path / "raw").exists()


def test_update_accept_and_drift_without_a_taxonomy_say_what_to_run(tmp_path) -> None:
    data, models = ["--data-dir", str(tmp_path / "data")], ["--models-dir", str(tmp_path / "models")]
    for command in (["taxonomy", "update", "--backend", "offline"], ["taxonomy", "accept"], ["taxonomy", "drift"]):
        result = runner.invoke(app, [*command, *data, *models])
        assert result.exit_code == 2, (command, result.output)
        assert "clickintent taxonomy" in result.output, (command, result.output)
