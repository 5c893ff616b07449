"""Intent drift: is the taxonomy still the right one for this week's traffic?

`<data>/reports/drift.json` compares each calendar week (Monday to Sunday, UTC, by session end)
with the taxonomy's training window (the sessions its classifier was fitted on, from the model
card; every session when it was fitted on all of them):

- the intent mix, the classifier's level-1 node shares: population stability index (PSI) and
  Jensen-Shannon divergence (base 2) against the window's mix;
- the share of sessions the classifier labels with confidence under LOW_CONFIDENCE;
- the share of page views on pages that no session of the window saw (pages the taxonomy was
  made without, placed afterwards by the nearest-node rule), and the most viewed of them;
- new frequent searches (queries no session of the window searched, MIN_NEW_QUERY_SEARCHES
  times or more).

A week after the window (not every session of it in the window) with at least MIN_WEEK_SESSIONS
sessions is flagged when its PSI reaches PSI_THRESHOLD, its new-page share
NEW_PAGE_SHARE_THRESHOLD, or its low-confidence share rises LOW_CONFIDENCE_RISE over the
window's: `clickintent taxonomy update` is then due. A week inside the window is part of the mix
it is compared with, so it is never flagged; a taxonomy fitted on every session has no later
week, and no update is due until it has been re-fitted on a window that ends (`--fit-until`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from clickintent.fit_window import recorded_windows
from clickintent.settings import Settings
from clickintent.taxonomy.io import TaxonomyPaths, write_json_atomically

DRIFT_FILE = "drift.json"
LOW_CONFIDENCE = 0.5  # the classifier's top probability under which a session is "low confidence"
PSI_THRESHOLD = 0.1  # where PSI's usual reading starts calling a shift real (docs/design.md, "New intents and drift")
NEW_PAGE_SHARE_THRESHOLD = 0.02
LOW_CONFIDENCE_RISE = 0.05
MIN_WEEK_SESSIONS = 100
MIN_NEW_QUERY_SEARCHES = 3  # a query no session of the window searched counts as a new search from this many
_SMOOTHING = 1e-4  # added to every share before PSI's logarithm (a node absent from one side)
_TOP_NEW = 5


class DriftInputError(FileNotFoundError):
    """The classifier's session labels are missing: run the taxonomy stage first."""


def population_stability_index(reference: np.ndarray, current: np.ndarray) -> float:
    p = _smoothed(reference)
    q = _smoothed(current)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    p, q = _smoothed(reference), _smoothed(current)
    m = (p + q) / 2
    return float(0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m)))


def _smoothed(shares: np.ndarray) -> np.ndarray:
    shares = np.asarray(shares, dtype=np.float64) + _SMOOTHING
    return shares / shares.sum()


def recorded_window(settings: Settings) -> dict | None:
    """The training window the classifier's model card records (None: no card, or a card that
    predates window records)."""
    from clickintent.taxonomy.classifier import MODEL_NAME

    return recorded_windows(settings.models_dir)[MODEL_NAME]


def reference_end(settings: Settings) -> pd.Timestamp | None:
    """The end of the classifier's training window (None: it was fitted on every session)."""
    before = (recorded_window(settings) or {}).get("before")
    return pd.Timestamp(before) if before else None


def low_confidence_shares(settings: Settings, since: pd.Timestamp) -> dict[str, float]:
    """The share of low-confidence sessions among those that end before `since` and the rest
    (empty when the sessions are not labelled yet)."""
    path = TaxonomyPaths.from_settings(settings).session_intents
    if not path.is_file():
        return {}
    labels = pq.read_table(path, columns=["session_end_ts", "intent_confidence"]).to_pandas()
    low = labels["intent_confidence"].to_numpy() < LOW_CONFIDENCE
    after = (pd.to_datetime(labels["session_end_ts"], utc=True) >= since).to_numpy()
    return {
        "before": float(low[~after].mean()) if (~after).any() else float("nan"),
        "after": float(low[after].mean()) if after.any() else float("nan"),
    }


def compute_drift(settings: Settings, *, reference_before: pd.Timestamp | None = None) -> dict[str, Any]:
    """The drift document (see the module docstring); nothing written."""
    from clickintent.taxonomy.sessions import SessionBatch

    paths = TaxonomyPaths.from_settings(settings)
    if not paths.session_intents.is_file():
        raise DriftInputError(f"no session labels at {paths.session_intents}: run `clickintent taxonomy run` first")
    labels = pq.read_table(
        paths.session_intents, columns=["session_id", "session_end_ts", "intent_top_node_id", "intent_confidence", "taxonomy_version"]
    ).to_pandas()
    before = reference_before if reference_before is not None else reference_end(settings)
    end = pd.to_datetime(labels["session_end_ts"], utc=True)
    in_window = (end < before).to_numpy() if before is not None else np.ones(len(labels), dtype=bool)
    if not in_window.any():
        raise DriftInputError(f"no labelled session ends before {before}: the training window is empty")
    week = (end.dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time).dt.tz_localize("UTC")
    nodes = sorted(labels["intent_top_node_id"].astype(str).unique())
    node_index = {node: i for i, node in enumerate(nodes)}
    node_code = labels["intent_top_node_id"].astype(str).map(node_index).to_numpy()
    low = labels["intent_confidence"].to_numpy() < LOW_CONFIDENCE

    batch = SessionBatch.load(settings)
    session_row = pd.Series(np.arange(len(labels)), index=labels["session_id"].astype(str))
    event_label_row = session_row.reindex(batch.sessions["session_id"].astype(str)).to_numpy()[batch.event_session]
    event_known = ~np.isnan(event_label_row)
    event_label_row = np.where(event_known, event_label_row, 0).astype(np.int64)
    window_pages = batch.pages_before(before)
    window_queries = set(batch.search_query[batch.events_before(before) & pd.notna(batch.search_query)])
    is_view = np.isin(batch.event_type, ("page_view", "screen_view"))
    week_starts = sorted(week.unique())
    week_code = np.searchsorted(np.array([w.value for w in week_starts]), week.map(lambda w: w.value).to_numpy())
    event_week = np.where(event_known, week_code[event_label_row], -1)

    reference_mix = np.bincount(node_code[in_window], minlength=len(nodes)) / in_window.sum()
    reference_low = float(low[in_window].mean())
    weeks: list[dict[str, Any]] = []
    for code, start in enumerate(week_starts):
        rows = week_code == code
        n = int(rows.sum())
        mix = np.bincount(node_code[rows], minlength=len(nodes)) / n
        events = event_week == code
        views = batch.page_path[events & is_view]
        new_views = pd.Series([page for page in views if page not in window_pages], dtype=object)
        searches = batch.search_query[events & pd.notna(batch.search_query)]
        new_searches = pd.Series([query for query in searches if query not in window_queries], dtype=object)
        entry = {
            "week_start": start.date().isoformat(),
            "sessions": n,
            "in_training_window": bool(in_window[rows].all()),
            "psi": round(population_stability_index(reference_mix, mix), 5),
            "js_divergence": round(jensen_shannon(reference_mix, mix), 5),
            "low_confidence_share": round(float(low[rows].mean()), 5),
            "new_page_view_share": round(len(new_views) / len(views), 5) if len(views) else 0.0,
            "top_new_pages": new_views.value_counts().head(_TOP_NEW).to_dict(),
            "top_new_queries": new_searches.value_counts().loc[lambda c: c >= MIN_NEW_QUERY_SEARCHES].head(_TOP_NEW).to_dict(),
            "intent_mix": {node: round(float(share), 5) for node, share in zip(nodes, mix)},
        }
        entry["reasons"] = _reasons(entry, reference_low)
        entry["flagged"] = bool(entry["reasons"])
        weeks.append(entry)
    flagged = [entry["week_start"] for entry in weeks if entry["flagged"]]
    return {
        "taxonomy_version": str(labels["taxonomy_version"].iloc[0]) if len(labels) else None,
        "training_window_end": before.isoformat() if before is not None else None,
        "reference": {
            "sessions": int(in_window.sum()),
            "intent_mix": {node: round(float(share), 5) for node, share in zip(nodes, reference_mix)},
            "low_confidence_share": round(reference_low, 5),
        },
        "thresholds": {
            "psi": PSI_THRESHOLD,
            "new_page_view_share": NEW_PAGE_SHARE_THRESHOLD,
            "low_confidence_rise": LOW_CONFIDENCE_RISE,
            "low_confidence": LOW_CONFIDENCE,
            "min_week_sessions": MIN_WEEK_SESSIONS,
        },
        "weeks": weeks,
        "flagged_weeks": flagged,
        "first_flagged_week": flagged[0] if flagged else None,
        "update_due": bool(flagged),
    }


def _reasons(week: dict[str, Any], reference_low: float) -> list[str]:
    if week["in_training_window"] or week["sessions"] < MIN_WEEK_SESSIONS:
        return []
    reasons = []
    if week["psi"] >= PSI_THRESHOLD:
        reasons.append(f"intent mix PSI {week['psi']:.3f} >= {PSI_THRESHOLD}")
    if week["new_page_view_share"] >= NEW_PAGE_SHARE_THRESHOLD:
        reasons.append(f"{week['new_page_view_share']:.1%} of page views on pages the taxonomy never saw")
    if week["low_confidence_share"] - reference_low >= LOW_CONFIDENCE_RISE:
        reasons.append(f"low-confidence sessions {week['low_confidence_share']:.1%} vs {reference_low:.1%} in the window")
    return reasons


def write_drift_report(settings: Settings, *, reference_before: pd.Timestamp | None = None) -> dict[str, Any]:
    document = compute_drift(settings, reference_before=reference_before)
    write_json_atomically(Path(settings.reports_dir) / DRIFT_FILE, document)
    return document


def update_due_line(document: dict[str, Any]) -> str:
    """Whether an update is due, in words: the first flagged week, or why none is."""
    if document["update_due"]:
        return f"yes, from the week of {document['first_flagged_week']}"
    if document["training_window_end"] is None:
        return "no: the taxonomy was fitted on every session, so no week is after its window"
    return "no: no week after the window is flagged"


def report_section(document: dict[str, Any] | None, figures: Path) -> list[str]:
    """The evaluation report's drift section: a week table and one plot."""
    out = ["## Intent drift: is the taxonomy due an update?", ""]
    if document is None:
        return out + ["Not computed yet: `clickintent taxonomy drift` writes `drift.json`.", ""]
    window = document["training_window_end"] or "every session (no later week to compare)"
    thresholds = document["thresholds"]
    out += [
        f"Each week's sessions against the taxonomy's training window (sessions ending before {window}; taxonomy "
        f"{document['taxonomy_version']}). Flagged, among the weeks after the window with {thresholds['min_week_sessions']}+ "
        f"sessions: PSI of the level-1 intent mix >= {thresholds['psi']}, or >= {thresholds['new_page_view_share']:.0%} of "
        f"page views on pages the window never saw, or low-confidence sessions up {thresholds['low_confidence_rise']:.0%}. "
        + (
            f"**Update due** from the week of {document['first_flagged_week']}."
            if document["update_due"]
            else f"Update due: {update_due_line(document)}."
        ),
        "",
        "| week | sessions | PSI | JS | low confidence | new-page views | new searches | flagged |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for week in document["weeks"]:
        searches = ", ".join(list(week["top_new_queries"])[:3])
        out.append(
            f"| {week['week_start']} | {week['sessions']:,} | {week['psi']:.3f} | {week['js_divergence']:.3f} | "
            f"{week['low_confidence_share']:.1%} | {week['new_page_view_share']:.1%} | {searches} | {'yes' if week['flagged'] else ''} |"
        )
    out += ["", _drift_figure(document, figures / "drift.png"), ""]
    return out


def _drift_figure(document: dict[str, Any], path: Path) -> str:
    import matplotlib.pyplot as plt

    from clickintent.evaluation.report import markdown_image, save_figure

    weeks = document["weeks"]
    x = np.arange(len(weeks))
    figure, axis = plt.subplots(figsize=(8, 3.2))
    axis.plot(x, [w["psi"] for w in weeks], marker="o", label="intent-mix PSI")
    axis.plot(x, [w["new_page_view_share"] for w in weeks], marker="s", label="new-page view share")
    axis.plot(x, [w["low_confidence_share"] for w in weeks], marker="^", label="low-confidence share")
    axis.axhline(document["thresholds"]["psi"], color="grey", linestyle="--", linewidth=0.8, label="PSI threshold")
    for i, week in enumerate(weeks):
        if week["flagged"]:
            axis.axvspan(i - 0.4, i + 0.4, color="red", alpha=0.12)
    axis.set_xticks(x, [w["week_start"][5:] for w in weeks], rotation=60, fontsize=7)
    axis.set_title("Weekly intent drift against the taxonomy's training window (flagged weeks shaded)")
    axis.legend(fontsize=7)
    save_figure(figure, path)
    return markdown_image(path, "weekly intent drift")
