"""Drift arithmetic and the report section (the world-level check is in test_taxonomy_update.py)."""

from __future__ import annotations

import numpy as np
import pytest

from clickintent.taxonomy.drift import PSI_THRESHOLD, _reasons, jensen_shannon, population_stability_index, report_section


def test_psi_and_js_are_zero_for_the_same_mix_and_grow_with_a_shift() -> None:
    reference = np.array([0.5, 0.3, 0.2, 0.0])
    assert population_stability_index(reference, reference) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon(reference, reference) == pytest.approx(0.0, abs=1e-12)
    small, large = np.array([0.48, 0.32, 0.2, 0.0]), np.array([0.3, 0.2, 0.1, 0.4])
    assert population_stability_index(reference, small) < PSI_THRESHOLD < population_stability_index(reference, large)
    assert 0 < jensen_shannon(reference, small) < jensen_shannon(reference, large) <= 1.0


def _week(**values) -> dict:
    week = {"sessions": 500, "in_training_window": False, "psi": 0.01, "new_page_view_share": 0.0, "low_confidence_share": 0.05}
    return {**week, **values}


@pytest.mark.parametrize(
    ("week", "flagged"),
    [
        (_week(), False),
        (_week(psi=0.2), True),
        (_week(new_page_view_share=0.05), True),
        (_week(low_confidence_share=0.2), True),
        (_week(psi=0.9, sessions=20), False),  # too few sessions to judge
        (_week(psi=0.9, new_page_view_share=0.5, in_training_window=True), False),  # part of the mix it is compared with
    ],
)
def test_a_week_is_flagged_by_any_signal_over_its_threshold(week: dict, flagged: bool) -> None:
    assert bool(_reasons(week, reference_low=0.05)) is flagged


def test_the_report_section_has_the_week_table_and_the_plot(tmp_path) -> None:
    week = {
        "week_start": "2026-03-30",
        "sessions": 1200,
        "psi": 0.02,
        "js_divergence": 0.004,
        "low_confidence_share": 0.06,
        "new_page_view_share": 0.05,
        "top_new_queries": {"pay in 4": 12},
        "flagged": True,
    }
    document = {
        "training_window_end": "2026-03-09T00:00:00+00:00",
        "taxonomy_version": "v1-abc",
        "thresholds": {"psi": 0.1, "new_page_view_share": 0.02, "low_confidence_rise": 0.05, "min_week_sessions": 100},
        "weeks": [week],
        "update_due": True,
        "first_flagged_week": "2026-03-30",
    }
    lines = report_section(document, tmp_path)
    text = "\n".join(lines)
    assert "**Update due** from the week of 2026-03-30" in text and "| 2026-03-30 | 1,200 |" in text and "pay in 4" in text
    assert (tmp_path / "drift.png").stat().st_size > 1000
    assert "Not computed yet" in "\n".join(report_section(None, tmp_path))


def test_a_taxonomy_fitted_on_every_session_is_said_to_have_no_later_week(tmp_path) -> None:
    document = {
        "training_window_end": None,
        "taxonomy_version": "v2-abc",
        "thresholds": {"psi": 0.1, "new_page_view_share": 0.02, "low_confidence_rise": 0.05, "min_week_sessions": 100},
        "weeks": [],
        "update_due": False,
        "first_flagged_week": None,
    }
    text = "\n".join(report_section(document, tmp_path))
    assert "Update due: no: the taxonomy was fitted on every session, so no week is after its window." in text
