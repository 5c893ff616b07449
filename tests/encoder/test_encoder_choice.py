"""The benchmark's settings are chosen on a time split of the training file: never on the test file."""

from __future__ import annotations

import json

import numpy as np
import pytest

import clickintent.encoder.benchmark as benchmark
import clickintent.encoder.choice as choice
from clickintent.encoder.baselines import SessionKNN
from clickintent.encoder.benchmark import CUTOFF, evaluate_model, run_benchmark
from clickintent.encoder.choice import (
    ENCODER_CANDIDATES,
    REPEAT_PARTNER,
    BlendedNextItem,
    EncoderCandidate,
    blend_grid,
    candidate_encoder,
    row_normalised,
    validation_split,
)
from clickintent.encoder.clicks import ItemIndex, all_prefixes, read_clicks, to_sessions
from support.click_files import chain_sessions, write_clicks

TINY_CANDIDATES = (EncoderCandidate("width 16", 16, 32, False), EncoderCandidate("width 16 + copy head", 16, 32, True))


@pytest.fixture()
def tiny_choice(monkeypatch):
    """The default choice with two tiny encoder candidates and few epochs, so a test runs in seconds."""
    original = choice.choose_next_item_model

    def small(*args, **kwargs):
        return original(*args, **{**kwargs, "candidates": TINY_CANDIDATES, "max_epochs": 4})

    monkeypatch.setattr(choice, "choose_next_item_model", small)


def sessions_of(path):
    clicks = read_clicks(path)
    index = ItemIndex.fit(clicks)
    return to_sessions(clicks, index)[0], index.n_items


@pytest.mark.usefixtures("tiny_choice")
def test_the_test_file_is_opened_only_after_the_choice_and_every_fit(tmp_path, monkeypatch):
    train_path = write_clicks(tmp_path / "train.tsv", chain_sessions(200, seed=1))
    test_path = write_clicks(tmp_path / "test.tsv", chain_sessions(40, seed=2), start=1_500_000_000.0)
    events: list[str] = []
    read, choose, fit_encoder = benchmark.read_clicks, choice.choose_next_item_model, benchmark.EncoderNextItem.fit

    def spy_read(path):
        events.append(f"read {path.name}")
        return read(path)

    def spy_choose(*args, **kwargs):
        events.append("choice starts")
        report = choose(*args, **kwargs)
        events.append("choice ends")
        return report

    def spy_fit(self, *args, **kwargs):
        events.append("encoder fit")
        return fit_encoder(self, *args, **kwargs)

    monkeypatch.setattr(benchmark, "read_clicks", spy_read)
    monkeypatch.setattr(choice, "choose_next_item_model", spy_choose)
    monkeypatch.setattr(benchmark.EncoderNextItem, "fit", spy_fit)
    report = run_benchmark(train_path, test_path, tmp_path / "out.json", log=lambda _: None)
    assert events[0] == "read train.tsv" and events[1] == "choice starts"
    assert events.index("read test.tsv") > events.index("choice ends")
    assert events.index("read test.tsv") > max(i for i, e in enumerate(events) if e == "encoder fit")
    assert events.count("read test.tsv") == 1
    assert {"encoder", "validated_choice", "session_knn", "vector_session_knn", "session_popularity"} <= set(report["models"])
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["choice"]["chosen"] == report["choice"]["chosen"]


@pytest.mark.usefixtures("tiny_choice")
def test_the_choice_is_the_same_whatever_the_test_file(tmp_path):
    train_path = write_clicks(tmp_path / "train.tsv", chain_sessions(200, seed=1))
    first = write_clicks(tmp_path / "first.tsv", chain_sessions(40, seed=2), start=1_500_000_000.0)
    second = write_clicks(tmp_path / "second.tsv", chain_sessions(40, seed=9)[::-1], start=1_600_000_000.0)
    one = run_benchmark(train_path, first, None, log=lambda _: None)
    other = run_benchmark(train_path, second, None, log=lambda _: None)
    for key in ("chosen", "baselines", "split", "why"):
        assert one["choice"][key] == other["choice"][key]
    untimed = [[{k: v for k, v in c.items() if k != "fit_seconds"} for c in run["choice"]["candidates"]] for run in (one, other)]
    assert untimed[0] == untimed[1]
    assert one["models"] != other["models"]  # the test files do differ


def test_the_choice_reports_every_blend_and_picks_the_best_worst_ratio(tmp_path):
    train, n_items = sessions_of(write_clicks(tmp_path / "train.tsv", chain_sessions(200, seed=1)))
    messages: list[str] = []
    report = choice.choose_next_item_model(train, n_items, candidates=TINY_CANDIDATES, max_epochs=4, log=messages.append)
    assert sum(message.startswith("epoch 1:") for message in messages) == len(TINY_CANDIDATES)  # each fit says how it goes
    blends = [(c["name"], b) for c in report["candidates"] for b in c["blends"]]
    assert len(blends) == len(TINY_CANDIDATES) * 2 * 15  # two kNN variants, 15 points of the quarter grid
    best_name, best = max(blends, key=lambda pair: pair[1]["worst_ratio_to_best_baseline"])
    chosen = report["chosen"]
    assert chosen["encoder"]["name"] == best_name
    assert chosen["weights"] == {name: weight for name, weight in best["weights"].items() if weight > 0}
    for _, blend in blends:
        expected = min(blend[m] / report["best_baseline"][m] for m in choice.METRICS)
        assert blend["worst_ratio_to_best_baseline"] == pytest.approx(expected)
    # A baseline alone (a corner of the grid) scores exactly as that baseline on the held-out sessions.
    corners = 0
    for _, blend in blends:
        alone = [name for name, weight in blend["weights"].items() if weight == 1.0 and name != "encoder"]
        if alone:
            corners += 1
            assert {m: blend[m] for m in choice.METRICS} == report["baselines"][alone[0]]
    assert corners == len(TINY_CANDIDATES) * 2 * 2
    candidate = next(c for c in report["candidates"] if c["name"] == best_name)
    assert chosen["epochs"] == max(candidate["best_epoch"], 1) and 1 <= candidate["best_epoch"] <= candidate["epochs_run"] <= 4
    assert "worst ratio" in report["why"] and best_name in report["why"]


def test_the_held_out_part_is_later_and_treated_as_a_test_file(tmp_path):
    sessions = chain_sessions(200, seed=4)
    sessions[-1] = ["never-seen-before", "c0i0"]  # the latest session: one click on a new item
    train, n_items = sessions_of(write_clicks(tmp_path / "train.tsv", sessions))
    earlier, held_out = validation_split(train, n_items)
    assert earlier.session_end.max() <= held_out.session_end.min()
    assert set(held_out.items.tolist()) <= set(earlier.items.tolist())
    assert held_out.lengths.min() >= 2
    assert earlier.n_sessions + held_out.n_sessions == train.n_sessions - 1  # the new item left one click
    with pytest.raises(ValueError, match="too few training sessions"):
        tiny, tiny_items = sessions_of(write_clicks(tmp_path / "tiny.tsv", [["a", "b"], ["c", "d"]]))
        validation_split(tiny, tiny_items)


def test_blend_weights_zero_and_one_rank_as_the_components_alone(tmp_path):
    train, n_items = sessions_of(write_clicks(tmp_path / "train.tsv", chain_sessions(150, seed=5)))
    test_clicks = read_clicks(write_clicks(tmp_path / "test.tsv", chain_sessions(30, seed=6), start=1_500_000_000.0))
    test = to_sessions(test_clicks, ItemIndex(ids=np.sort(read_clicks(tmp_path / "train.tsv")["item"].unique())), min_length=2)[0]
    prefixes = all_prefixes(test)
    encoder = candidate_encoder(TINY_CANDIDATES[0], seed=7, threads=1, device="cpu", max_epochs=2).fit(train, n_items)
    knn = SessionKNN(k=20, sample_size=100).fit(train, n_items)
    components = {"encoder": encoder, "session_knn": knn}
    only_knn = BlendedNextItem(components, {"encoder": 0.0, "session_knn": 1.0})
    assert evaluate_model(only_knn, test, prefixes) == evaluate_model(knn, test, prefixes)
    only_encoder = BlendedNextItem(components, {"encoder": 1.0, "session_knn": 0.0})
    assert evaluate_model(only_encoder, test, prefixes) == evaluate_model(encoder, test, prefixes)
    half = evaluate_model(BlendedNextItem(components, {"encoder": 0.5, "session_knn": 0.5}), test, prefixes)
    assert 0.0 <= half[f"mrr@{CUTOFF}"] <= half[f"recall@{CUTOFF}"] <= 1.0


def test_the_blend_grid_sums_to_one_and_holds_each_model_alone():
    grid = blend_grid(("session_knn",), 0.25)
    assert len(grid) == 15
    assert all(sum(weights.values()) == pytest.approx(1.0) for weights in grid)
    for name in ("encoder", "session_knn", REPEAT_PARTNER):
        assert {name: 1.0} in [{k: v for k, v in weights.items() if v > 0} for weights in grid]


def test_row_normalised_keeps_each_row_order():
    scores = np.array([[9.0, 1.0, 3.0, 2.0], [5.0, 0.0, 0.0, 4.0]])
    normalised = row_normalised(scores.copy())
    assert normalised[:, 0].tolist() == [0.0, 0.0]
    assert np.allclose(normalised.sum(axis=1), 1.0)
    for row in range(2):
        assert np.argsort(normalised[row, 1:]).tolist() == np.argsort(scores[row, 1:]).tolist()


def test_the_default_candidates_are_few_and_include_the_yoochoose_setting():
    assert len(ENCODER_CANDIDATES) <= 4
    assert any(c.d_model == benchmark.BENCHMARK_ENCODER.d_model and not c.copy_head for c in ENCODER_CANDIDATES)
    assert any(c.copy_head for c in ENCODER_CANDIDATES)
