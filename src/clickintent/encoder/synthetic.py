"""Sessions in the fct_session_sequences schema, with hidden intents, for encoder tests and benches.

A stand-in for the dbt mart when it is not built (tests, `bench/encoder.py`), not the project's
synthetic world (that is clickintent.synth, raw events through dbt). It mirrors what the encoder
must cope with: 13 latent intents that prefer taxonomy nodes (paired intents share most node
preferences and differ in which pages and queries they pick, so node counts alone cannot
separate every intent), web and app sessions, searches, dwell and gaps, logged-in web sessions.
Ground truth goes where the real world puts it: `event_sessions.parquet` and
`session_intents.parquet` (here every mart session is exactly one true session).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clickintent.encoder.paths import EncoderPaths
from clickintent.settings import Settings
from clickintent.synth.intents import INTENT_IDS

# The synthetic world's latent intents, so both synthetic data sets speak of the same goals.
INTENTS = INTENT_IDS
SECTIONS = ("mortgages", "cards", "loans", "savings", "investing", "retirement", "business", "auto", "students", "security")
CHILDREN = ("overview", "compare", "rates")
PAGES_PER_CHILD = 8
APP_SCREENS = ("home", "accounts", "transfers", "cards", "offers", "settings", "alerts", "payments")
QUERY_WORDS = {
    intent: [f"{intent.replace('_', ' ')} {w}" for w in ("rates", "calculator", "how to", "best option", "requirements", "fees")]
    for intent in INTENTS
}


def _intent_profiles(rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    n_nodes = len(SECTIONS) * len(CHILDREN)
    groups = [rng.dirichlet(np.full(n_nodes, 0.15)) for _ in range((len(INTENTS) + 1) // 2)]
    profiles = {}
    for k, intent in enumerate(INTENTS):
        own = rng.dirichlet(np.full(n_nodes, 0.15))
        profiles[intent] = {
            "nodes": 0.75 * groups[k // 2] + 0.25 * own,
            "pages": rng.dirichlet(np.full(PAGES_PER_CHILD, 0.4), size=n_nodes),
            "screens": rng.dirichlet(np.full(len(APP_SCREENS), 0.5)),
        }
    return profiles


def _sample_rows(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling with one CDF row per draw."""
    return np.minimum((cdf < u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def synthesize_sequences(n_sessions: int, seed: int = 7, start: str = "2026-01-01") -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(fct_session_sequences-shaped frame, ground truth tables) of `n_sessions` sessions."""
    rng = np.random.default_rng(seed)
    profiles = _intent_profiles(rng)
    n_nodes = len(SECTIONS) * len(CHILDREN)
    node_cdf = np.cumsum(np.stack([profiles[i]["nodes"] for i in INTENTS]), axis=1)
    page_cdf = np.cumsum(np.stack([profiles[i]["pages"] for i in INTENTS]), axis=2)  # intent, node, page
    screen_cdf = np.cumsum(np.stack([profiles[i]["screens"] for i in INTENTS]), axis=1)

    # Sessions.
    n_visitors = max(1, n_sessions // 3)
    visitor_intent = rng.integers(0, len(INTENTS), size=n_visitors)
    visitor_customer = np.where(rng.random(n_visitors) < 0.4, rng.integers(0, max(1, n_visitors // 2), n_visitors), -1)
    visitor = rng.integers(0, n_visitors, size=n_sessions)
    intent = visitor_intent[visitor]
    customer = visitor_customer[visitor]
    is_app = (customer >= 0) & (rng.random(n_sessions) < 0.35)
    logged_in = is_app | ((customer >= 0) & (rng.random(n_sessions) < 0.5))
    lengths = np.minimum(80, 1 + rng.geometric(1 / 8, size=n_sessions))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    origin = pd.Timestamp(start, tz="UTC")
    start_seconds = np.sort(rng.random(n_sessions)) * 60 * 86_400

    # Events.
    n_events = int(offsets[-1])
    session = np.repeat(np.arange(n_sessions), lengths)
    event_intent = intent[session]
    event_app = is_app[session]
    node = _sample_rows(node_cdf[event_intent], rng.random(n_events))
    page = _sample_rows(page_cdf[event_intent, node], rng.random(n_events))
    screen = _sample_rows(screen_cdf[event_intent], rng.random(n_events))
    web_paths = np.array(
        [f"/{SECTIONS[n // len(CHILDREN)]}/{CHILDREN[n % len(CHILDREN)]}/p{p}" for n in range(n_nodes) for p in range(PAGES_PER_CHILD)],
        dtype=object,
    )
    web_nodes = np.array([f"{SECTIONS[n // len(CHILDREN)]}.{CHILDREN[n % len(CHILDREN)]}" for n in range(n_nodes)], dtype=object)
    web_tops = np.array([SECTIONS[n // len(CHILDREN)] for n in range(n_nodes)], dtype=object)
    app_paths = np.array([f"/app/{screen_name}" for screen_name in APP_SCREENS], dtype=object)
    app_nodes = np.array([f"section:{screen_name}" for screen_name in APP_SCREENS], dtype=object)
    paths = np.where(event_app, app_paths[screen], web_paths[node * PAGES_PER_CHILD + page])
    # Account screens carry an account number in the path, as real apps do.
    accounts = np.flatnonzero(event_app & (screen == APP_SCREENS.index("accounts")))
    paths[accounts] = [f"/app/accounts/{n}" for n in rng.integers(10_000, 99_999, size=len(accounts))]
    nodes = np.where(event_app, app_nodes[screen], web_nodes[node])
    tops = np.where(event_app, app_nodes[screen], web_tops[node])
    web_types = np.array(["page_view", "click", "search", "calculator", "form_start", "form_submit"], dtype=object)
    app_types = np.array(["screen_view", "click", "search"], dtype=object)
    types = np.where(
        event_app,
        app_types[_sample_rows(np.tile(np.cumsum([0.7, 0.25, 0.05]), (n_events, 1)), rng.random(n_events))],
        web_types[_sample_rows(np.tile(np.cumsum([0.62, 0.16, 0.09, 0.07, 0.04, 0.02]), (n_events, 1)), rng.random(n_events))],
    )
    query_table = np.array([QUERY_WORDS[i] for i in INTENTS], dtype=object)
    queries = np.where(
        types == "search", query_table[event_intent, rng.integers(0, query_table.shape[1], n_events)], np.array(None, dtype=object)
    )
    dwell = np.round(rng.lognormal(np.log(25_000), 1.0, size=n_events)).astype(np.int64)
    gaps = np.concatenate([[0], dwell[:-1] + rng.integers(0, 3_000, size=n_events - 1)]).astype(np.int64)
    gaps[offsets[:-1]] = 0
    elapsed = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[offsets[:-1]], lengths)

    session_ids = np.array([f"s{seed}_{k:07d}" for k in range(n_sessions)], dtype=object)
    event_ids = np.array([f"{session_ids[s]}_e{i:03d}" for s, i in zip(session, np.arange(n_events) - offsets[session])], dtype=object)
    session_start = origin + pd.to_timedelta(start_seconds, unit="s")
    session_end = session_start + pd.to_timedelta(elapsed[offsets[1:] - 1], unit="ms")
    cut = offsets[1:-1]
    split = lambda values: [part.tolist() for part in np.split(values, cut)]  # noqa: E731
    frame = pd.DataFrame(
        {
            "session_id": session_ids,
            "platform": np.where(is_app, "app", "web"),
            "anonymous_id": [f"v{seed}_{v:06d}" for v in visitor],
            "customer_id": [f"c{seed}_{c:06d}" if ok and c >= 0 else None for c, ok in zip(customer, logged_in)],
            "session_start_ts": session_start,
            "session_end_ts": session_end,
            "n_events": lengths,
            "event_ids": split(event_ids),
            "page_paths": split(paths),
            "event_types": split(types),
            "taxonomy_node_ids": split(nodes),
            "top_taxonomy_node_ids": split(tops),
            "dwell_ms": split(dwell),
            "gap_ms": split(gaps),
            "search_queries": split(queries),
        }
    )
    truth_ids = np.array([f"t_{s}" for s in session_ids], dtype=object)
    ground_truth = {
        "event_sessions": pd.DataFrame({"event_id": event_ids, "true_session_id": truth_ids[session]}),
        "session_intents": pd.DataFrame(
            {
                "true_session_id": truth_ids,
                "anonymous_id": frame["anonymous_id"],
                "platform": frame["platform"],
                "start_ts": session_start,
                "end_ts": session_end,
                "primary_intent": np.array(INTENTS, dtype=object)[intent],
                "intents": np.array(INTENTS, dtype=object)[intent],
                "is_bot": False,
            }
        ),
    }
    return frame, ground_truth


def write_synthetic_sequences(settings: Settings, n_sessions: int, seed: int = 7) -> Path:
    """Write the frame where the settings' sequence mart lives, and the ground truth beside it."""
    frame, truth = synthesize_sequences(n_sessions, seed)
    path = EncoderPaths(settings).sequences
    path.parent.mkdir(parents=True, exist_ok=True)
    settings.ground_truth_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    for name, table in truth.items():
        table.to_parquet(settings.ground_truth_dir / f"{name}.parquet", index=False)
    return path
