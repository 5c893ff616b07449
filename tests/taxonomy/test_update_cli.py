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
    generate_first = ("no taxonomy at", "run `clickintent taxonomy generate` first")
    for command, (problem, remedy) in (
        (["taxonomy", "update", "--backend", "offline"], generate_first),
        (["taxonomy", "accept"], generate_first),
        (["taxonomy", "drift"], ("no session labels at", "run `clickintent taxonomy run` first")),
    ):
        result = runner.invoke(app, [*command, *data, *models])
        assert result.exit_code == 2, (command, result.output)
        said = " ".join(result.output.split())  # the console wraps long lines (paths too)
        assert problem in said and said.endswith(remedy), (command, said)


def test_accept_names_a_fit_until_that_is_not_a_time(tmp_path) -> None:
    result = runner.invoke(app, ["taxonomy", "accept", "--fit-until", "2026-13-01", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "--fit-until '2026-13-01': must be 'all', 'ranker_validation_start' or an ISO timestamp" in said
