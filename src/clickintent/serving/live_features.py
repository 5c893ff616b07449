"""A live web session as the customer-level 30-day web aggregates it adds to (customer_web_intent).

dbt computes `fct_web_sessions` per session and `fct_customer_web_intent` per customer over the
linked web sessions of the last 30 days. The tile ranker reads the latter; a live web session
that belongs to the request (an anonymous visitor's, or a customer's signed-in one) is added to
the stored row the way dbt would add it at the session's end (clickintent.ranker.tile_model's
docstring is the contract): counts and dwell summed, mean duration and max depth updated, the
shares re-weighted by events, `n_linked_sessions_30d` + 1; with nothing stored, the session's
own values (`n_linked_sessions_30d` = 1). These values live for the request only: the view has
no push source, and the next dbt run computes it from the events.

Per-event taxonomy follows dbt's int_page_taxonomy: the taxonomy page map, else 'unknown' for
error pages, else the URL-section fallback 'section:<section>', both by dbt's own rules
(clickintent.taxonomy.dbt_rules). dbt decides 'unknown' once per page, over every title the page
was shown with; live, only this event's title is known. The share vector's order is
dim_taxonomy_top_nodes' (as the ranker's card names its elements).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from clickintent.serving.session import event_time
from clickintent.taxonomy.dbt_rules import entry_source, is_unknown_page, url_section

FALLBACK_CACHE_SIZE = 50_000
AGGREGATE_FEATURES = (
    "n_linked_sessions_30d",
    "n_events_30d",
    "n_page_views_30d",
    "n_searches_30d",
    "n_calculator_events_30d",
    "n_form_starts_30d",
    "n_form_submits_30d",
    "n_product_events_30d",
    "total_dwell_s_30d",
    "mean_session_duration_s_30d",
    "max_session_depth_30d",
    "active_span_days_30d",
    "top_taxonomy_node_id_30d",
    "top_taxonomy_node_share_30d",
    "taxonomy_node_shares_30d",
)
_COUNTED_TYPES = {
    "page_view": "n_page_views_30d",
    "search": "n_searches_30d",
    "calculator": "n_calculator_events_30d",
    "form_start": "n_form_starts_30d",
    "form_submit": "n_form_submits_30d",
}


@dataclass(frozen=True)
class PageTaxonomy:
    """Page path -> top-level taxonomy node, and the order of the share vectors."""

    top_node_of_page: Mapping[str, str]
    top_node_order: tuple[str, ...]
    # (page path, title) -> node, for pages outside the page map: the regular expressions of the
    # fallback cost more than the rest of a request's aggregates. Bounded: cleared when full.
    _fallback: dict[tuple[str, str | None], str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, taxonomy_dir: Path, marts_dir: Path, order: Sequence[str] | None = None) -> PageTaxonomy:
        """From the taxonomy stage's page map and dbt's dim_taxonomy_top_nodes (start-up reads).

        `order` (the ranker's own element names) wins over the mart when given: it is the order
        the ranker was trained with.
        """
        import pyarrow.parquet as pq

        pages: dict[str, str] = {}
        page_map = Path(taxonomy_dir) / "page_map.parquet"
        if page_map.is_file():
            table = pq.read_table(page_map, columns=["page_path", "top_node_id"]).to_pydict()
            pages = dict(zip(table["page_path"], table["top_node_id"]))
        if not order:
            dimension = Path(marts_dir) / "dim_taxonomy_top_nodes.parquet"
            if dimension.is_file():
                table = pq.read_table(dimension, columns=["top_node_position", "top_taxonomy_node_id"]).to_pydict()
                order = [node for _, node in sorted(zip(table["top_node_position"], table["top_taxonomy_node_id"]))]
        if pages and not set(pages.values()) & set(order or ()):
            # The marts were built without this page map (dbt then used the URL-section fallback
            # for every page): follow what the ranker was trained on.
            pages = {}
        return cls(top_node_of_page=pages, top_node_order=tuple(order or ()))

    def top_node(self, page_path: str, page_title: str | None) -> str:
        node = self.top_node_of_page.get(page_path)
        if node is not None:
            return node
        key = (page_path, page_title)
        node = self._fallback.get(key)
        if node is None:
            node = "unknown" if is_unknown_page(page_path, page_title) else "section:" + url_section(page_path)
            if len(self._fallback) >= FALLBACK_CACHE_SIZE:
                self._fallback.clear()
            self._fallback[key] = node
        return node


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def session_aggregates(events: Sequence[Mapping[str, Any]], taxonomy: PageTaxonomy) -> dict[str, Any]:
    """One web session's fct_web_sessions values (what the 30-day row sums), from raw events."""
    counts = {feature: 0 for feature in _COUNTED_TYPES.values()}
    node_events = np.zeros(len(taxonomy.top_node_order), dtype=np.float64)
    position = {node: index for index, node in enumerate(taxonomy.top_node_order)}
    dwell_ms = 0.0
    product_events = 0
    pages: set[str] = set()
    times: list[datetime] = []
    for event in events:
        counted = _COUNTED_TYPES.get(event["event_type"])
        if counted is not None:
            counts[counted] += 1
        if event.get("product_id") is not None:
            product_events += 1
        dwell_ms += event.get("dwell_ms") or 0
        pages.add(event["page_path"])
        times.append(event_time(event["event_ts"]))
        index = position.get(taxonomy.top_node(event["page_path"], event.get("page_title")))
        if index is not None:
            node_events[index] += 1
    start, end = min(times), max(times)
    return {
        "n_events": len(events),
        **counts,
        "n_product_events": product_events,
        "total_dwell_s": dwell_ms / 1000.0,
        "duration_s": (end - start).total_seconds(),
        "depth": len(pages),
        "node_events": node_events,
        "start": start,
        "end": end,
    }


def merge_aggregates(
    stored: Mapping[str, Any], stored_as_of: datetime | None, session: Mapping[str, Any], taxonomy: PageTaxonomy
) -> dict[str, Any]:
    """The customer's 30-day aggregates with the live session added (or the session's alone)."""
    n_stored = _number(stored.get("n_linked_sessions_30d"))
    has_stored = n_stored is not None and n_stored > 0
    n_stored = n_stored if has_stored else 0.0
    n_events = session["n_events"] + (_number(stored.get("n_events_30d")) or 0.0 if has_stored else 0.0)
    merged: dict[str, Any] = {
        "n_linked_sessions_30d": int(n_stored) + 1,
        "n_events_30d": int(n_events),
    }
    for name in _COUNTED_TYPES.values():
        merged[name] = int((_number(stored.get(name)) or 0.0 if has_stored else 0.0) + session[name])
    merged["n_product_events_30d"] = int(
        (_number(stored.get("n_product_events_30d")) or 0.0 if has_stored else 0.0) + session["n_product_events"]
    )
    merged["total_dwell_s_30d"] = (_number(stored.get("total_dwell_s_30d")) or 0.0 if has_stored else 0.0) + session["total_dwell_s"]
    stored_mean = _number(stored.get("mean_session_duration_s_30d")) if has_stored else None
    merged["mean_session_duration_s_30d"] = (
        (stored_mean * n_stored + session["duration_s"]) / (n_stored + 1) if stored_mean is not None else session["duration_s"]
    )
    stored_depth = _number(stored.get("max_session_depth_30d")) if has_stored else None
    merged["max_session_depth_30d"] = int(max(stored_depth or 0, session["depth"]))
    stored_span = _number(stored.get("active_span_days_30d")) if has_stored else None
    if stored_span is not None and stored_as_of is not None:
        merged["active_span_days_30d"] = stored_span + max((session["end"] - stored_as_of).total_seconds(), 0.0) / 86_400.0
    else:
        merged["active_span_days_30d"] = (session["end"] - session["start"]).total_seconds() / 86_400.0
    node_events = np.array(session["node_events"], dtype=np.float64)
    stored_shares = stored.get("taxonomy_node_shares_30d") if has_stored else None
    stored_events = _number(stored.get("n_events_30d")) or 0.0
    if stored_shares is not None and len(stored_shares) == len(node_events):
        node_events = node_events + np.round(np.asarray(stored_shares, dtype=np.float64) * stored_events)
    if len(node_events) and n_events > 0:
        shares = node_events / n_events
        top = int(np.argmax(shares))  # ties: the first node in dim_taxonomy_top_nodes order, as dbt
        merged["taxonomy_node_shares_30d"] = shares.astype(np.float32).tolist()
        merged["top_taxonomy_node_id_30d"] = taxonomy.top_node_order[top]
        merged["top_taxonomy_node_share_30d"] = float(shares[top])
    return merged


def session_row(events: Sequence[Mapping[str, Any]], taxonomy: PageTaxonomy, aggregates: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One live web session as its fct_web_sessions row (the web_session_stats view the anonymous
    ranker reads), by int_sessions' and fct_web_sessions' rules: counts, dwell in seconds over the
    events that have one, the entry from the first event (the smallest event_id at the session's
    first instant), the events' shares per top-level node."""
    aggregates = aggregates or session_aggregates(events, taxonomy)
    first_time = aggregates["start"]
    first = min((event for event in events if event_time(event["event_ts"]) == first_time), key=lambda event: event["event_id"])
    dwell_s = [event["dwell_ms"] / 1000.0 for event in events if event.get("dwell_ms") is not None]
    n_events = aggregates["n_events"]
    row: dict[str, Any] = {
        "n_events": n_events,
        "n_page_views": aggregates["n_page_views_30d"],
        "n_clicks": sum(1 for event in events if event["event_type"] == "click"),
        "n_searches": aggregates["n_searches_30d"],
        "n_calculator_events": aggregates["n_calculator_events_30d"],
        "n_form_starts": aggregates["n_form_starts_30d"],
        "n_form_submits": aggregates["n_form_submits_30d"],
        "n_product_events": aggregates["n_product_events"],
        "total_dwell_s": sum(dwell_s) if dwell_s else None,
        "mean_dwell_s": statistics.fmean(dwell_s) if dwell_s else None,
        "median_dwell_s": statistics.median(dwell_s) if dwell_s else None,
        "max_dwell_s": max(dwell_s) if dwell_s else None,
        "depth": aggregates["depth"],
        "duration_s": aggregates["duration_s"],
        "device_type": first.get("device_type"),
        "entry_page_path": first.get("page_path"),
        "entry_source": entry_source(first.get("referrer"), first.get("utm_source")),
    }
    node_events = np.asarray(aggregates["node_events"], dtype=np.float64)
    if len(node_events) and n_events:
        top = int(np.argmax(node_events))  # ties: the first node in dim_taxonomy_top_nodes order, as dbt
        row["top_taxonomy_node_id"] = taxonomy.top_node_order[top]
        row["top_taxonomy_node_share"] = float(node_events[top] / n_events)
        row["taxonomy_node_shares"] = (node_events / n_events).astype(np.float32).tolist()
    return row


JOURNEY_WINDOW_DAYS = 30.0


def journey_row(
    stored: Mapping[str, Any],
    stored_as_of: datetime | None,
    session: Mapping[str, Any],
    taxonomy: PageTaxonomy,
    *,
    signed_in: bool = False,
) -> dict[str, Any]:
    """The visitor's 30-day journey (fct_visitor_journeys' row) as of the live session's end: the
    stored row (as of the visitor's previous session) with the live session added, as dbt would
    add it, or the live session's alone for a first visit.

    `session` is `session_aggregates` of the live events. Like the customer-level merge, the
    stored window is not re-cut at the new end: sessions that fell out of the 30 days since the
    stored row still count, until the next batch run recomputes the row."""
    n_stored = _number(stored.get("n_sessions_30d")) if stored_as_of is not None else None
    has_stored = n_stored is not None and n_stored > 0
    start, end = session["start"], session["end"]

    def stored_count(name: str) -> float:
        return (_number(stored.get(name)) or 0.0) if has_stored else 0.0

    n_events = session["n_events"] + stored_count("n_events_30d")
    row: dict[str, Any] = {
        "n_sessions_30d": int(n_stored or 0) + 1,
        "n_events_30d": int(n_events),
        "n_calculator_events_30d": int(stored_count("n_calculator_events_30d") + session["n_calculator_events_30d"]),
        "n_form_starts_30d": int(stored_count("n_form_starts_30d") + session["n_form_starts_30d"]),
        "n_form_submits_30d": int(stored_count("n_form_submits_30d") + session["n_form_submits_30d"]),
        "n_product_events_30d": int(stored_count("n_product_events_30d") + session["n_product_events"]),
        "n_searches_30d": int(stored_count("n_searches_30d") + session["n_searches_30d"]),
        "has_logged_in_before": bool(signed_in or (has_stored and stored.get("has_logged_in_before"))),
    }
    if has_stored:
        first_days = _number(stored.get("days_since_first_session_30d")) or 0.0
        first_start = stored_as_of - timedelta(days=first_days)
        row["days_since_first_session_30d"] = min((end - first_start).total_seconds() / 86_400.0, JOURNEY_WINDOW_DAYS)
        row["days_since_previous_session"] = (start - stored_as_of).total_seconds() / 86_400.0
    else:
        row["days_since_first_session_30d"] = (end - start).total_seconds() / 86_400.0
        row["days_since_previous_session"] = None
    # Shares of the events on a top node (dbt's node_event_shares): the stored row keeps its shares,
    # not its node-event total, so its events stand in for that total.
    node_events = np.array(session["node_events"], dtype=np.float64)
    stored_shares = stored.get("taxonomy_node_shares_30d") if has_stored else None
    if stored_shares is not None and len(stored_shares) == len(node_events):
        node_events = node_events + np.round(np.asarray(stored_shares, dtype=np.float64) * stored_count("n_events_30d"))
    total = float(node_events.sum())
    if len(node_events):
        row["taxonomy_node_shares_30d"] = (node_events / total if total > 0 else node_events * 0.0).astype(np.float32).tolist()
        row["top_taxonomy_node_id_30d"] = taxonomy.top_node_order[int(np.argmax(node_events))] if total > 0 else None
    return row
