"""`clickintent build --target`: local (DuckDB) or spark; anything else, or a Spark build where
the spark extra or Java is missing, stops before dbt runs, saying why."""

from __future__ import annotations

from typer.testing import CliRunner

from clickintent.cli.main import app
from clickintent.features import dbt

runner = CliRunner()


def test_an_unknown_target_is_refused(tmp_path) -> None:
    result = runner.invoke(app, ["build", "--data-dir", str(tmp_path), "--target", "snowflake"])
    assert result.exit_code == 2
    assert "--target must be local or spark, not 'snowflake'" in result.output


def test_a_spark_build_without_spark_names_what_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dbt, "spark_build_unavailable", lambda: "dbt-spark is not installed: pip install -e '.[spark]'")
    result = runner.invoke(app, ["build", "--data-dir", str(tmp_path), "--target", "spark"])
    assert result.exit_code == 2
    assert "pip install -e '.[spark]'" in result.output
    assert not (tmp_path / "dbt").exists()  # dbt never ran
