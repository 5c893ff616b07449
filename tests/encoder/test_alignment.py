"""The identity-free remedies of encoder/alignment.py: the platform adversary (domain confusion)
and the shared view (platform-private inputs hidden).

These tests hold the adversarial pair to its definition (the classifier learns the platform, the
encoder only the confusion), check that a few adversarial steps make the platform harder for a
linear probe to read, that the classifier never reaches the saved encoder, that the shared view
hides the platform-private inputs and never the taxonomy ones, that a web session and an app
session with the same shared inputs get one shared-view embedding, that interrupted runs with
either remedy resume to the same weights, and that `clickintent encoder train` passes both on.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from typer.testing import CliRunner

from clickintent.cli.encoder import encoder_app
from clickintent.encoder.alignment import (
    PLATFORM_VIEW_EVENT_IDS,
    attach_platform_adversary,
    detach_platform_adversary,
    identity_free_terms,
    platform_adversary_loss,
    shared_view,
)
from clickintent.encoder.artifacts import load_encoder_files
from clickintent.encoder.batching import collate
from clickintent.encoder.model import MASK, PAD, SessionEncoder
from clickintent.encoder.synthetic import write_synthetic_sequences
from clickintent.encoder.tokens import APP, UNKNOWN, WEB
from clickintent.encoder.train import TrainConfig, build_model, fit, training_fingerprint_settings
from clickintent.events.contract import EVENT_TYPES
from clickintent.settings import Settings
from support.tiny_encoder import TINY, assert_same_weights, straight_and_resumed, tiny_world

# Optimiser steps of the adversarial pair alone on one batch: enough for the probe to lose it.
STEPS = 80


@pytest.fixture(scope="module")
def world():
    return tiny_world()


def test_the_classifier_learns_the_platform_and_the_encoder_only_the_confusion(world):
    _, _, config = world
    pooled = torch.randn(6, config.d_model, generator=torch.Generator().manual_seed(0), requires_grad=True)
    platforms = torch.tensor([WEB, APP, WEB, APP, UNKNOWN, WEB])
    model = build_model(config, 1)
    attach_platform_adversary(model, 2.0, seed=1)
    loss = platform_adversary_loss(model, pooled, platforms, 2.0)
    loss.backward()
    known = torch.tensor([0, 1, 2, 3, 5])
    is_web = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
    classifier = model.platform_adversary
    # The encoder's gradient is the confusion term's alone, times the weight.
    x = pooled.detach()[known].requires_grad_(True)
    confuse = F.binary_cross_entropy_with_logits(classifier(x).squeeze(-1), torch.full((5,), 0.5))
    (expected_input,) = torch.autograd.grad(2.0 * confuse, x)
    torch.testing.assert_close(pooled.grad[known], expected_input)
    assert float(pooled.grad[4].abs().sum()) == 0.0  # an unknown platform is left out
    # The classifier's gradient is its own cross-entropy's alone.
    classify = F.binary_cross_entropy_with_logits(classifier(pooled.detach()[known]).squeeze(-1), is_web)
    expected_params = torch.autograd.grad(classify, list(classifier.parameters()))
    for parameter, expected in zip(classifier.parameters(), expected_params, strict=True):
        torch.testing.assert_close(parameter.grad, expected)


def test_view_event_ids_are_the_contracts_view_types():
    assert [EVENT_TYPES[i - UNKNOWN - 1] for i in PLATFORM_VIEW_EVENT_IDS] == ["page_view", "screen_view"]


def test_the_shared_view_hides_platform_private_inputs_and_never_the_taxonomy(world):
    train, _, _ = world
    batch, _ = collate(train, np.arange(64))
    view = shared_view(batch)
    real = batch["page"] != PAD
    assert bool((~real).any()), "the batch must hold padding for this test"
    for channel in ("page", "platform"):
        assert bool((view[channel][real] == MASK).all()) and bool((view[channel][~real] == PAD).all()), channel
    is_view = (batch["event_type"] == PLATFORM_VIEW_EVENT_IDS[0]) | (batch["event_type"] == PLATFORM_VIEW_EVENT_IDS[1])
    assert bool(is_view.any()) and bool((real & ~is_view).any())
    assert bool((view["event_type"][is_view] == MASK).all())
    assert torch.equal(view["event_type"][~is_view], batch["event_type"][~is_view])
    for channel in ("node", "top_node", "dwell", "gap", "query_index"):
        assert torch.equal(view[channel], batch[channel]), channel
    assert int(batch["page"][0, 0]) != MASK  # the batch itself is left alone


def test_a_web_session_and_its_app_twin_have_one_shared_view_embedding(world):
    train, _, config = world
    batch, _ = collate(train, np.arange(8))
    twin = dict(batch)
    real = batch["page"] != PAD
    twin["page"] = torch.where(real, (batch["page"] + 7) % (config.vocab_sizes["page"] - 2) + 2, batch["page"])
    twin["platform"] = torch.where(real, torch.where(batch["platform"] == WEB, APP, WEB), batch["platform"])
    page_view, screen_view = PLATFORM_VIEW_EVENT_IDS
    swapped = torch.where(batch["event_type"] == page_view, screen_view, page_view)
    twin["event_type"] = torch.where(
        (batch["event_type"] == page_view) | (batch["event_type"] == screen_view), swapped, batch["event_type"]
    )
    model = build_model(config, 4).eval()
    with torch.inference_mode():
        assert not torch.allclose(model.embed(batch), model.embed(twin))
        torch.testing.assert_close(model.embed(shared_view(batch)), model.embed(shared_view(twin)))


def _platform_probe_accuracy(model: SessionEncoder, batch) -> float:
    """A logistic probe for the platform on the batch's embeddings: even sessions train, odd test."""
    from sklearn.linear_model import LogisticRegression

    model.eval()
    with torch.inference_mode():
        embeddings = model.embed(batch).numpy()
    platform = (batch["platform"][:, 0] == WEB).numpy()
    probe = LogisticRegression(max_iter=2000).fit(embeddings[::2], platform[::2])
    return float(probe.score(embeddings[1::2], platform[1::2]))


def test_a_few_adversarial_steps_make_the_platform_harder_to_read(world):
    train, _, config = world
    batch, _ = collate(train, np.arange(256))
    model = build_model(config, 3)
    settings = TrainConfig(platform_adversary_weight=1.0)
    attach_platform_adversary(model, settings.platform_adversary_weight, seed=7)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    before = _platform_probe_accuracy(model, batch)
    for _ in range(STEPS):
        model.train()
        loss = identity_free_terms(model, model.embed(batch), batch, settings)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert before > 0.95
    assert _platform_probe_accuracy(model, batch) < before - 0.05


def test_the_classifier_never_reaches_the_saved_encoder(world, tmp_path):
    train, validation, config = world
    model = build_model(config, 3)
    fit(model, train, validation, replace(TINY, max_epochs=1, platform_adversary_weight=1.0), tmp_path, progress=False)
    assert not hasattr(model, "platform_adversary")
    SessionEncoder(config).load_state_dict(model.state_dict())  # strict: no extra keys


class Interrupted(Exception):
    pass


def _interrupt(message: str) -> None:
    raise Interrupted(message)


def test_an_interrupted_fit_leaves_no_classifier_on_the_model(world, tmp_path):
    train, validation, config = world
    model = build_model(config, 3)
    with pytest.raises(Interrupted):  # fit logs after the first epoch
        fit(model, train, validation, replace(TINY, max_epochs=2, platform_adversary_weight=1.0), tmp_path, progress=False, log=_interrupt)
    assert not hasattr(model, "platform_adversary")
    SessionEncoder(config).load_state_dict(model.state_dict())  # strict: no extra keys


def test_the_adversary_term_trains_its_classifier_and_needs_it(world):
    train, _, config = world
    model = build_model(config, 5)
    batch, _ = collate(train, np.arange(64))
    settings = TrainConfig(platform_adversary_weight=0.5)
    with pytest.raises(RuntimeError, match="attach_platform_adversary"):
        identity_free_terms(model, model.embed(batch), batch, settings)
    attach_platform_adversary(model, 0.5, seed=7)
    loss = identity_free_terms(model, model.embed(batch), batch, settings)
    loss.backward()
    classifier_grads = [p.grad for p in model.platform_adversary.parameters()]
    assert all(g is not None and bool(g.abs().sum() > 0) for g in classifier_grads)
    detach_platform_adversary(model)
    assert not hasattr(model, "platform_adversary")


def test_off_by_default_and_left_out_of_the_fingerprint_when_off():
    settings = training_fingerprint_settings(TrainConfig())
    assert "platform_adversary_weight" not in settings and "shared_view_weight" not in settings
    assert training_fingerprint_settings(TrainConfig(shared_view_weight=1.0))["shared_view_weight"] == 1.0
    pooled = torch.randn(4, 8)
    assert float(identity_free_terms(None, pooled, {}, TrainConfig())) == 0.0


@pytest.mark.parametrize("changes", [{"platform_adversary_weight": 0.5}, {"shared_view_weight": 1.0}])
def test_interrupted_training_with_a_remedy_resumes_to_the_same_weights(world, tmp_path, changes):
    train, validation, config = world
    straight, resumed, result = straight_and_resumed(config, train, validation, replace(TINY, **changes), tmp_path)
    assert result.resumed_from_epoch == 2 and result.epochs_run == 3
    assert_same_weights(straight, resumed)


def test_the_train_command_passes_both_weights_to_training_and_saves_a_plain_encoder(tmp_path):
    data_dir, models_dir = tmp_path / "data", tmp_path / "models"
    write_synthetic_sequences(Settings(data_dir=data_dir), 400, seed=5)
    common = ["--data-dir", str(data_dir), "--models-dir", str(models_dir), "--no-queries", "--threads", "1", "--epochs", "1"]
    weights = ["--platform-adversary-weight", "0.5", "--shared-view-weight", "0.25"]
    trained = CliRunner().invoke(encoder_app, ["train", *common, *weights])
    assert trained.exit_code == 0, trained.output
    card = json.loads((models_dir / "encoder" / "model_card.json").read_text())
    assert card["training"]["platform_adversary_weight"] == 0.5 and card["training"]["shared_view_weight"] == 0.25
    load_encoder_files(models_dir / "encoder")  # strict load: the classifier was not saved
