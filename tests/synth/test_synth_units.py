"""Building blocks of the synthetic world: ids, vectorised grouping, sampling, the catalog."""

from __future__ import annotations

import numpy as np
import pytest

from clickintent.synth.catalog import KIND, build_catalog
from clickintent.synth.ids import NS_CUSTOMER, NS_EVENT, NS_WEB_COOKIE, hashed_counters, make_ids
from clickintent.synth.intents import INTENT_IDS, INTENTS
from clickintent.synth.products import LAUNCHED_PRODUCT, PRODUCTS
from clickintent.synth.queries import build_query_vocabulary
from clickintent.synth.sampling import RowSampler, exclusive_cumsum_within, push_apart, rank_within_keys


def test_ids_are_unique_fixed_width_and_seeded():
    counters = np.arange(200_000)
    customers = make_ids(7, NS_CUSTOMER, "c_", counters, 12).to_pylist()
    assert len(set(customers)) == len(customers)
    assert all(len(c) == 14 and c.startswith("c_") and int(c[2:], 16) >= 0 for c in customers[:100])
    cookies = make_ids(7, NS_WEB_COOKIE, "a_", counters, 16).to_pylist()
    assert len(set(cookies)) == len(cookies) and all(len(c) == 18 for c in cookies[:100])
    assert make_ids(7, NS_CUSTOMER, "c_", counters[:5], 12) == make_ids(7, NS_CUSTOMER, "c_", counters[:5], 12)
    assert make_ids(8, NS_CUSTOMER, "c_", counters[:5], 12) != make_ids(7, NS_CUSTOMER, "c_", counters[:5], 12)
    # Different namespaces never collide, even for the same counter.
    assert not set(hashed_counters(7, NS_EVENT, counters)) & set(hashed_counters(7, NS_WEB_COOKIE, counters))
    with pytest.raises(ValueError):
        hashed_counters(7, NS_EVENT, np.array([1 << 41]))


def test_push_apart_keeps_order_and_enforces_the_gap():
    group = np.array([0, 0, 0, 1, 1, 2])
    start = np.array([0, 5, 6, 100, 101, 3])
    duration = np.array([2, 2, 2, 1, 1, 1])
    assert push_apart(group, start, duration, 3).tolist() == [0, 5, 10, 100, 104, 3]

    rng = np.random.default_rng(0)
    group = np.sort(rng.integers(0, 500, 20_000))
    start = rng.integers(0, 10**9, len(group))
    start = start[np.lexsort((start, group))]
    duration = rng.integers(0, 10**6, len(group))
    moved = push_apart(group, start, duration, 5 * 10**6)
    assert (moved >= start).all()
    same = group[1:] == group[:-1]
    assert (moved[1:][same] - (moved[:-1] + duration[:-1])[same] >= 5 * 10**6).all()


def test_group_helpers_handle_empty_groups():
    assert exclusive_cumsum_within(np.array([1, 2, 3, 4, 5]), np.array([0, 2, 0, 3, 0])).tolist() == [0, 1, 0, 3, 7]
    rank, count = rank_within_keys(np.array([3, 1, 3, 1, 3]))
    assert rank.tolist() == [0, 0, 1, 1, 2] and count.tolist() == [3, 2, 3, 2, 3]


def test_row_sampler_follows_each_rows_weights():
    sampler = RowSampler(np.array([[0.0, 1.0, 3.0], [1.0, 0.0, 0.0]]))
    rng = np.random.default_rng(1)
    draws = sampler.draw(rng, np.zeros(40_000, dtype=np.int64))
    assert np.bincount(draws, minlength=3)[0] == 0
    assert abs((draws == 2).mean() - 0.75) < 0.01
    assert (sampler.draw(rng, np.ones(1000, dtype=np.int64)) == 0).all()
    with pytest.raises(ValueError):
        RowSampler(np.array([[0.0, 0.0]]))


def test_catalog_has_the_site_the_app_and_the_products_it_promises():
    catalog = build_catalog()
    web = catalog.pages[: catalog.n_web]
    assert len(web) >= 300
    assert len({p.path for p in catalog.pages}) == len(catalog.pages)
    assert all(p.title.endswith("| Example Bank") for p in web)
    assert catalog.pages[catalog.index_of("/rates/mortgage/30-year-fixed")].title == "30-Year Fixed Mortgage Rates Today | Example Bank"
    for product_index, product in enumerate(PRODUCTS):
        assert catalog.pages[catalog.product_page[product_index]].product_id == product.product_id
        assert catalog.pages[catalog.apply_page[product_index]].path.startswith("/apply/")
        assert catalog.pages[catalog.offer_screen[product_index]].path == f"/app/offers/{product.product_id}"
        assert 1 <= product.complexity <= 3
    # Before launch, every page of the new product is served as its predecessor's page.
    gated = np.flatnonzero(catalog.product == LAUNCHED_PRODUCT)
    assert len(gated) >= 3 and (catalog.product[catalog.prelaunch_page[gated]] != LAUNCHED_PRODUCT).all()
    # Every intent has pages of its own to read.
    assert catalog.intent_tags[: catalog.n_web].sum(axis=0).min() >= 10
    assert catalog.kind[catalog.index_of("/tools/mortgage-calculator")] == KIND["tool"]


def test_intents_and_queries():
    assert len(INTENT_IDS) == 13 and len(INTENTS) == 13
    vocabulary = build_query_vocabulary(7)
    plain = [t for t, pii in zip(vocabulary.texts, vocabulary.is_pii) if not pii]
    assert "refinance vs heloc" in plain and "best travel card no foreign fee" in plain
    assert any(t.startswith("how much house can i afford on ") for t in plain)
    pii = [t for t, flag in zip(vocabulary.texts, vocabulary.is_pii) if flag]
    assert any("@" in t for t in pii) and any("4111 1111 1111 1111" in t for t in pii)
    assert any(t.startswith("my name is") for t in pii)
    assert build_query_vocabulary(7).texts == vocabulary.texts
