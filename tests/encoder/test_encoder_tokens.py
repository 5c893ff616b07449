"""Event tokens: page normalization, hashed out-of-vocabulary pages, buckets, online == batch."""

from __future__ import annotations

import numpy as np
import pytest

from clickintent.encoder.model import N_RESERVED
from clickintent.encoder.synthetic import synthesize_sequences
from clickintent.encoder.tokens import (
    UNKNOWN,
    FixedQueryVectors,
    Vocabulary,
    fallback_taxonomy_node,
    fit_vocabulary,
    mart_row_events,
    normalize_page_path,
    query_key,
    time_buckets,
    tokenize_events,
    tokenize_sequences,
)


def test_page_paths_are_normalized_and_ids_masked():
    assert normalize_page_path("/Mortgages/Rates/?utm=x#top") == "/mortgages/rates"
    assert normalize_page_path("/app/accounts/83412/activity") == "/app/accounts/:id/activity"
    assert normalize_page_path("/app/cards/3f2a9c1e-1b2c-4d5e-8f90-123456789abc") == "/app/cards/:id"
    assert fallback_taxonomy_node("/app/transfers/new") == "section:transfers"
    assert fallback_taxonomy_node("/cards/compare") == "section:cards"


def test_time_buckets_are_log_scale_with_unknown_for_missing():
    buckets = time_buckets([None, -5, 0, 1_000, 3_000, 7_000, 10**12])
    assert buckets[0] == UNKNOWN and buckets[1] == UNKNOWN
    assert list(np.diff(buckets[2:6])) == [2, 2, 2]  # two buckets per doubling of seconds
    assert buckets[-1] == buckets.max()  # capped, not overflowing the vocabulary


def test_unseen_pages_hash_into_stable_oov_buckets_and_vocab_round_trips(tmp_path):
    frame, _ = synthesize_sequences(200, seed=2)
    vocabulary = fit_vocabulary(frame, min_page_count=2, n_oov_buckets=16)
    unseen = vocabulary.page_id("/never/seen/before")
    assert N_RESERVED <= unseen < N_RESERVED + 16
    assert vocabulary.page_id("/never/seen/before") == unseen  # not Python's salted hash()
    known = vocabulary.pages[0]
    assert vocabulary.page_id(known) >= N_RESERVED + 16
    vocabulary.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded.page_id("/never/seen/before") == unseen and loaded.vocab_sizes() == vocabulary.vocab_sizes()


def test_live_events_tokenize_exactly_like_the_mart_row():
    frame, _ = synthesize_sequences(300, seed=3)
    vocabulary = fit_vocabulary(frame)
    queries = FixedQueryVectors(dim=8)
    row = frame[frame["search_queries"].map(lambda q: any(x is not None for x in q))].iloc[0]
    events = mart_row_events(row)[::-1]  # arrival order must not matter
    batch = tokenize_sequences(frame[frame["session_id"] == row["session_id"]], vocabulary, 64, queries)
    live = tokenize_events(events, vocabulary, 64, queries)
    for channel in batch.channels:
        assert live.channels[channel].tolist() == batch.channels[channel].tolist(), channel
    assert np.allclose(live.query_vectors[live.query_index], batch.query_vectors[batch.query_index])
    assert (live.query_index > 0).any()
    # Keeping the last max_len events: the window's first event gets the first-event gap.
    short = tokenize_events(events, vocabulary, 2, queries)
    assert short.channels["page"].tolist() == batch.channels["page"][-2:].tolist()
    assert short.channels["gap"][0] == time_buckets([0])[0]


def test_bad_input_is_named():
    frame, _ = synthesize_sequences(20, seed=4)
    vocabulary = fit_vocabulary(frame)
    with pytest.raises(ValueError, match="lack column"):
        tokenize_sequences(frame.drop(columns=["gap_ms"]), vocabulary, 64)
    broken = frame.copy()
    broken.at[0, "dwell_ms"] = broken.at[0, "dwell_ms"][:-1] if len(broken.at[0, "dwell_ms"]) > 1 else []
    with pytest.raises(ValueError, match="aligned"):
        tokenize_sequences(broken, vocabulary, 64)
    with pytest.raises(ValueError, match="lacks required field 'page_path'"):
        tokenize_events(
            [{"event_id": "e1", "event_ts": "2026-01-01T00:00:00Z", "platform": "web", "event_type": "page_view"}], vocabulary, 64
        )
    with pytest.raises(ValueError, match="ISO 8601"):
        tokenize_events(
            [{"event_id": "e1", "event_ts": "noon", "platform": "web", "event_type": "page_view", "page_path": "/"}], vocabulary, 64
        )


def test_query_cache_key_holds_no_text():
    key = query_key("  Refinance  vs HELOC ")
    assert key == query_key("refinance vs heloc") and "refinance" not in key and len(key) == 32
