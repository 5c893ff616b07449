"""Pretraining: loss goes down, seeded, resumes exactly after an interruption, stops early."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from clickintent.encoder.alignment import attach_platform_adversary
from clickintent.encoder.batching import collate
from clickintent.encoder.tokens import FixedQueryVectors
from clickintent.encoder.train import LOSSES, build_model, fit
from support.tiny_encoder import TINY, assert_same_weights, straight_and_resumed, tiny_tokens


@pytest.fixture(scope="module")
def world():
    tokens, config, end, train_rows, validation_rows = tiny_tokens(400, 0.2)
    return tokens.subset(train_rows), tokens.subset(validation_rows), config, end, train_rows, validation_rows


@pytest.mark.parametrize(
    ("objective", "changes", "pools"),
    [
        ("masked", {}, 0),
        ("next", {}, 0),
        ("masked", {"alignment_weight": 0.5, "cross_platform_weight": 0.5, "platform_adversary_weight": 0.5}, 1),
        ("next", {"alignment_weight": 0.5, "cross_platform_weight": 0.5, "platform_adversary_weight": 0.5}, 1),
    ],
)
def test_the_objective_pools_only_for_an_optional_term_and_then_once(world, objective, changes, pools):
    train, _, config, *_ = world
    model = build_model(replace(config, mix_heads=True), 1)
    settings = replace(TINY, objective=objective, **changes)
    attach_platform_adversary(model, settings.platform_adversary_weight, seed=1)
    calls = []
    pool = model.pool
    model.pool = lambda *args: calls.append(1) or pool(*args)
    batch, lengths = collate(train, np.arange(32))
    LOSSES[objective](model, batch, lengths, settings, np.random.default_rng(0))
    assert len(calls) == pools


def test_split_by_time_holds_out_the_latest_sessions(world):
    *_, end, train_rows, validation_rows = world
    assert end[train_rows].max() <= end[validation_rows].min()
    assert len(validation_rows) == 80


def test_masked_pretraining_lowers_validation_loss(world, tmp_path):
    train, validation, config, *_ = world
    result = fit(build_model(config, 1), train, validation, TINY, tmp_path, progress=False)
    losses = [h["validation_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.safetensors", "last.safetensors", "optimizer.safetensors", "state.json"]


def test_interrupted_training_resumes_to_the_same_weights(world, tmp_path):
    train, validation, config, *_ = world
    straight, resumed, result = straight_and_resumed(config, train, validation, TINY, tmp_path)
    assert result.resumed_from_epoch == 2 and result.epochs_run == 3
    assert_same_weights(straight, resumed)
    # A finished run is not trained again.
    again = fit(build_model(config, 5), train, validation, TINY, tmp_path / "resumed", progress=False)
    assert again.epochs_run == 3 and again.resumed_from_epoch == 3


def test_early_stopping_keeps_the_best_epoch(world, tmp_path):
    train, validation, config, *_ = world
    never_better = replace(TINY, max_epochs=6, patience=2, min_improvement=1e9)
    result = fit(build_model(config, 1), train, validation, never_better, tmp_path, progress=False)
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1


def test_contrastive_term_and_next_objective_train(world, tmp_path):
    train, validation, config, *_ = world
    contrastive = replace(config, contrastive_dim=16)
    result = fit(
        build_model(contrastive, 1), train, validation, replace(TINY, max_epochs=1, contrastive_weight=0.5), tmp_path / "c", progress=False
    )
    assert np.isfinite(result.best_validation_loss)
    causal = replace(config, causal=True, copy_head=True)
    result = fit(build_model(causal, 1), train, validation, replace(TINY, objective="next", max_epochs=2), tmp_path / "n", progress=False)
    assert result.history[-1]["validation_loss"] < result.history[0]["validation_loss"]


def test_a_time_budget_stops_between_epochs_and_a_later_call_continues(world, tmp_path):
    import time

    train, validation, config, *_ = world
    # A deadline already past: the first epoch of a fresh run still runs, no second one starts.
    first = fit(build_model(config, 1), train, validation, TINY, tmp_path, progress=False, deadline=time.monotonic())
    assert first.stopped_by_budget and first.epochs_run == 1 and first.epochs_this_call == 1
    # Resuming with room to spare finishes the run (the thread count may differ on resume).
    rest = fit(
        build_model(config, 1), train, validation, replace(TINY, threads=2), tmp_path, progress=False, deadline=time.monotonic() + 3600
    )
    assert rest.resumed_from_epoch == 1 and rest.epochs_run == 3 and rest.epochs_this_call == 2
    assert not rest.stopped_by_budget


def test_the_card_version_names_the_stored_weights(tmp_path):
    """v1-<sha256 of model.safetensors>: a resumed or retrained encoder gets a new version, a
    rerun that re-saves the same weights keeps it, and every reader sees the same string."""
    import json
    import re

    from clickintent.artifacts import CARD_FILE, ModelCardError, file_sha256
    from clickintent.encoder.artifacts import WEIGHTS, load_encoder_files, weights_version
    from clickintent.encoder.paths import EncoderPaths
    from clickintent.encoder.pipeline import PretrainConfig, train_encoder
    from clickintent.encoder.synthetic import write_synthetic_sequences
    from clickintent.serving.artifacts import read_model_card
    from clickintent.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models")
    write_synthetic_sequences(settings, 400, seed=11)
    config = PretrainConfig(max_len=32, d_model=32, n_heads=2, d_ff=64, training=replace(TINY, max_epochs=2))

    def train(config: PretrainConfig, budget_seconds: float | None = None) -> dict:
        return train_encoder(settings, config, query_vectors=FixedQueryVectors(dim=16), progress=False, budget_seconds=budget_seconds)

    directory = EncoderPaths(settings).model_dir
    first_epoch = train(config, budget_seconds=0.0)  # the budget stops it after the first epoch
    assert first_epoch["training"]["stopped_by_budget"] and first_epoch["training"]["best_epoch"] == 1
    first_weights = (directory / WEIGHTS).read_bytes()
    resumed = train(config)
    assert resumed["training"]["best_epoch"] == 2  # the resumed run stored other weights ...
    assert re.fullmatch(r"v1-[0-9a-f]{8}", resumed["version"]) and resumed["version"] != first_epoch["version"]  # ... under a new version

    # The same stored weights: a rerun of the finished training, the card on disk, the loaded
    # encoder and the service's card check all give one version, the hash of the file.
    rerun = train(config)
    assert rerun["training"]["epochs_run"] == 2 and rerun["version"] == resumed["version"]
    assert weights_version(file_sha256(directory / WEIGHTS)) == resumed["version"]
    assert json.loads((directory / CARD_FILE).read_text())["version"] == resumed["version"]
    assert load_encoder_files(directory).card["version"] == resumed["version"]
    assert read_model_card(directory, "encoder").version == resumed["version"]

    retrained = train(replace(config, training=replace(config.training, seed=8)))
    assert retrained["version"] not in {first_epoch["version"], resumed["version"]}

    # Weights swapped in under another encoder's card would be served under the wrong version.
    (directory / WEIGHTS).write_bytes(first_weights)
    with pytest.raises(ModelCardError, match=r"model.safetensors is not the weights its model card"):
        load_encoder_files(directory)
