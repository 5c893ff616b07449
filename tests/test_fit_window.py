"""The setting fit_sessions_before: its values, the window it resolves to (the rankers' validation
start for `ranker_validation_start`), and the windows the upstream model cards record."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from clickintent.fit_window import CARD_FIELD, UPSTREAM_FIELD, FitWindow, FitWindowError, fit_window, recorded_windows
from clickintent.settings import SettingsError, load_settings


def test_the_setting_takes_the_keywords_or_a_timestamp_made_utc() -> None:
    assert load_settings(environ={}).fit_sessions_before == "all"
    assert (
        load_settings(environ={"CLICKINTENT_FIT_SESSIONS_BEFORE": "ranker_validation_start"}).fit_sessions_before
        == "ranker_validation_start"
    )
    assert load_settings(environ={"CLICKINTENT_FIT_SESSIONS_BEFORE": "2026-03-01"}).fit_sessions_before == "2026-03-01T00:00:00+00:00"
    assert load_settings(environ={}, fit_sessions_before="2026-03-01T02:00:00+02:00").fit_sessions_before == "2026-03-01T00:00:00+00:00"
    with pytest.raises(SettingsError, match="CLICKINTENT_FIT_SESSIONS_BEFORE = 'last week'"):
        load_settings(environ={"CLICKINTENT_FIT_SESSIONS_BEFORE": "last week"})


def test_a_timestamp_window_keeps_the_sessions_ending_before_it(tmp_path) -> None:
    window = fit_window(load_settings(environ={}, data_dir=tmp_path, fit_sessions_before="2026-03-01"))
    ends = pd.Series(pd.to_datetime(["2026-02-28T23:59:59Z", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"]))
    assert window.keeps(ends).tolist() == [True, False, False]
    assert window.card() == {"setting": "2026-03-01T00:00:00+00:00", "before": "2026-03-01T00:00:00+00:00"}
    assert fit_window(load_settings(environ={}, data_dir=tmp_path)).keeps(ends).all()
    with pytest.raises(FitWindowError, match="keeps none of the 2 sessions"):
        FitWindow("x", pd.Timestamp("2026-01-01", tz="UTC")).rows(ends[1:], "the test")


def test_ranker_validation_start_needs_the_label_marts(tmp_path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path, fit_sessions_before="ranker_validation_start")
    with pytest.raises(FitWindowError, match="run `clickintent build` first"):
        fit_window(settings)


def test_recorded_windows_read_the_upstream_cards(tmp_path) -> None:
    (tmp_path / "encoder").mkdir()
    (tmp_path / "encoder" / "model_card.json").write_text(json.dumps({"name": "encoder", CARD_FIELD: {"setting": "all", "before": None}}))
    (tmp_path / "intent_classifier").mkdir()
    (tmp_path / "intent_classifier" / "model_card.json").write_text(json.dumps({"name": "intent_classifier"}))
    assert recorded_windows(tmp_path) == {"encoder": {"setting": "all", "before": None}, "intent_classifier": None}


def test_ranker_validation_start_is_the_earliest_validation_split_of_the_rank_stage(ranker_trained_world) -> None:
    evaluation = json.loads((ranker_trained_world.reports_dir / "evaluation.json").read_text())
    settings = ranker_trained_world.model_copy(update={"fit_sessions_before": "ranker_validation_start"})
    window = fit_window(settings)
    assert window.before == min(pd.Timestamp(split["validation_start"]) for split in evaluation["splits"].values())
    # The small world's model stages have not run: the evaluation records that no window is known.
    assert evaluation[UPSTREAM_FIELD] == {"encoder": None, "intent_classifier": None}
