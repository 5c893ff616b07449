"""`clickintent report`: Markdown with PNG plots from the ranker stage's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clickintent.evaluation.report import ROW_LABELS, write_report
from clickintent.settings import Settings, load_settings

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = [
    "ablation_changes.png",
    "tile_calibration.png",
    "tile_lift.png",
    "tile_importance.png",
    "conversion_calibration.png",
    "conversion_lift.png",
    "conversion_importance.png",
]


@pytest.mark.slow
def test_report_has_the_table_plots_and_online_shoppers(ranker_trained_world: Settings) -> None:
    import typer

    from clickintent.cli.report import report_command
    from clickintent.ranker.pipeline import run_ablation

    world = ranker_trained_world
    if not (world.reports_dir / "evaluation.json").is_file():
        run_ablation(world)
    evaluation = json.loads((world.reports_dir / "evaluation.json").read_text())
    # A cross-validation result as `rank cv` writes it (keys the report reads).
    shoppers = {"auc": 0.9312, "average_precision": 0.7456, "micro_f1": 0.9012, "folds": [{}] * 5, "n_rows": 12330, "folds_k": 5}
    (world.reports_dir / "online_shoppers.json").write_text(json.dumps(shoppers))

    app = typer.Typer()
    app.command()(report_command)
    result = CliRunner().invoke(app, ["--data-dir", str(world.data_dir), "--models-dir", str(world.models_dir)])

    assert result.exit_code == 0, result.output
    text = (world.reports_dir / "report.md").read_text()
    for name in FIGURES:
        path = world.reports_dir / "figures" / name
        assert path.read_bytes()[:8] == PNG, name
        assert f"(figures/{name})" in text
    for row in evaluation["rows"]:
        if row["status"] == "ok":
            assert f"{row['tile_macro_recall_at_1']:.4f}" in text and f"{row['conversion_auc']:.4f}" in text
        else:  # a row waiting for a stage has no figures
            line = next(line for line in text.splitlines() if line.startswith(f"| {ROW_LABELS[row['name']]} |"))
            assert line.count("| – ") == 8 and line.rstrip().endswith(f"| {row['status']} |")
    assert "waiting for the encoder" in text
    assert "AUC **0.9312**, average precision **0.7456**" in text
    assert "tile_ranker_v2" in text and "conversion_v2" in text
    checks = text.split("### Must-show checks")[1]
    assert "(d) vs (a): waiting for the encoder" in checks and "(c) vs (b): waiting for the taxonomy stage" in checks


def test_report_before_any_training_says_what_to_run(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models")
    path = write_report(settings)
    text = path.read_text()
    assert "`clickintent rank ablation` writes `evaluation.json`" in text
    assert text.count("Not trained yet: `clickintent rank train`.") == 2
    assert "online_shoppers" in text and not (settings.reports_dir / "figures").exists()


@pytest.mark.slow
def test_report_states_each_check_with_its_interval(ranker_stage_outputs_world: Settings) -> None:
    """With every row measured, each check reads yes/no with its bootstrap interval, and a failed
    one says why with this run's figures."""
    from clickintent.ranker.pipeline import run_ablation

    world = ranker_stage_outputs_world
    if not (world.reports_dir / "evaluation.json").is_file():
        run_ablation(world)
    evaluation = json.loads((world.reports_dir / "evaluation.json").read_text())
    checks = evaluation["checks"]
    text = write_report(world).read_text()
    section = text.split("### Must-show checks")[1].split("Splits (by label time)")[0]
    low, high = checks["c_vs_b_conversion_micro_f1_change_95pct"]
    assert f"95 % interval [{100 * low:+.2f} %, {100 * high:+.2f} %]" in section
    assert f"**{'yes' if checks['c_within_7pct_of_b_conversion_micro_f1'] else 'no'}**" in section
    if not checks["c_within_7pct_of_b_conversion_micro_f1"]:
        positives = sum(evaluation["conversion_test_positives"].values())
        assert f"the test split has {positives:,} family conversions" in section
    d_passes = checks["d_improves_tile_logloss_over_a"] and checks["d_improves_tile_macro_recall_at_1_over_a"]
    share = evaluation["web_feature_coverage"]["tile"]["test"]
    assert (f"only {100 * share:.1f} % of the test tiles" in section) == (not d_passes)
    assert "waiting" not in section and "(d) vs (b)" in section


@pytest.mark.slow
def test_report_shows_every_row_against_a_with_intervals_and_reach(ranker_stage_outputs_world: Settings) -> None:
    from clickintent.evaluation.report import INTERVALS_FIGURE
    from clickintent.ranker.pipeline import run_ablation

    world = ranker_stage_outputs_world
    if not (world.reports_dir / "evaluation.json").is_file():
        run_ablation(world)
    evaluation = json.loads((world.reports_dir / "evaluation.json").read_text())
    text = write_report(world).read_text()
    section = text.split("### Every row against (a)")[1].split("Splits (by label time)")[0]
    for row in evaluation["rows"][1:]:
        line = next(line for line in section.splitlines() if line.startswith(f"| {ROW_LABELS[row['name']]}"))
        logloss = row["vs_a"]["tile_logloss"]
        low, high = logloss["reached"]["interval_95pct"]
        assert f"{100 * row['reach']['tile']:.1f} %" in line and f"[{100 * low:+.2f} %, {100 * high:+.2f} %]" in line
    h = evaluation["checks"]["h_improves_tile_logloss_over_a_interval_below_zero"]
    assert f"(h) lowers tile LogLoss with an interval below zero: **{'yes' if h else 'no'}**" in section
    assert (world.reports_dir / INTERVALS_FIGURE).read_bytes()[:8] == PNG and f"]({INTERVALS_FIGURE})" in section


def test_report_flags_model_stages_fitted_on_the_rankers_later_splits(tmp_path: Path) -> None:
    from clickintent.evaluation.report import _model_stage_window_notes

    splits = {
        "tile": {
            "validation": {"from": "2026-03-31T16:59:41+00:00"},
            "test": {"from": "2026-04-17T19:15:10+00:00"},
        }
    }
    card = tmp_path / "encoder" / "model_card.json"
    card.parent.mkdir()
    card.write_text(json.dumps({"data_window": {"train_sessions_end": ["2026-01-05 00:00:00+00:00", "2026-04-01 00:00:00+00:00"]}}))
    (note,) = [line for line in _model_stage_window_notes(tmp_path, splits) if line]
    assert "session encoder" in note and "tile validation (from 2026-03-31)" in note and "tile test" not in note
    card.write_text(json.dumps({"data_window": {"train_sessions_end": ["2026-01-05 00:00:00+00:00", "2026-03-01 00:00:00+00:00"]}}))
    assert _model_stage_window_notes(tmp_path, splits) == []
    assert _model_stage_window_notes(tmp_path / "nowhere", splits) == []


def test_cross_platform_section_reads_the_encoder_probe_and_says_whether_the_target_holds() -> None:
    from clickintent.evaluation.report import _cross_platform_section

    def cell(f1: float) -> dict:
        return {"macro_f1": f1, "accuracy": f1 + 0.05}

    probe = {"within_web": cell(0.9), "within_app": cell(0.7), "web_to_app": cell(0.65), "app_to_web": cell(0.3)}
    encoder = {
        "cross_platform": {
            "time_cutoff": "2026-03-30",
            "representations": {"embedding": probe, "bag_of_taxonomy_nodes": {"not_measured": "no taxonomy"}},
            "target": {"representation": "embedding", "min_ratio": 0.9, "measured_min_ratio": 0.333, "met": False},
        }
    }
    taxonomy = {"ground_truth": {"ami_distilled_top_web": 0.73, "ami_distilled_top_app": 0.002, "sessions_app": 1234}}
    text = "\n".join(_cross_platform_section(encoder, taxonomy))
    assert "| web -> app | 0.650 (0.700) | not measured |" in text
    assert "| app -> web | 0.300 (0.350) | not measured |" in text
    assert "lowest measured ratio 0.333: **not met**" in text
    assert "app 0.0020 (1,234 app sessions)" in text
    assert "Not measured yet" in "\n".join(_cross_platform_section({}, None))


def test_the_anonymous_section_tables_every_row_and_names_the_served_one() -> None:
    from clickintent.evaluation.report import _anonymous_section

    figures = {"recall_at_1": 0.5, "recall_at_3": 0.8, "ndcg_at_3": 0.7, "auc": 0.8, "sessions": 10, "sessions_with_outcome": 4}
    document = {
        "rows": [
            {"name": "a_popularity", "test": figures},
            {"name": "e_journey", "test": figures, "vs_b_session_aggregates": {"ndcg_at_3": {"change": 0.08, "change_95pct": [0.06, 0.1]}}},
            {"name": "c_distilled_labels", "status": "waiting for the taxonomy stage"},
        ],
        "production": {"feature_service": "anonymous_ranker_v2", "ablation_row": "e_journey", "version": "1.x"},
    }
    text = "\n".join(_anonymous_section(document))
    assert "| e_journey | 0.500 | 0.800 | 0.700 | 0.800 | +8.00 % [+6.00 %, +10.00 %] |" in text
    assert "| c_distilled_labels | waiting for the taxonomy stage |" in text
    assert "`anonymous_ranker_v2` (row e_journey)" in text and "10 sessions, 4 with an outcome" in text
