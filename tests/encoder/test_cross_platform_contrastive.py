"""The identity-free cross-platform contrastive term: web and app sessions paired through their
dominant top node (the most frequent top-node token among the session's own events).

These tests hold the loss to its definition (lower when paired sessions' embeddings coincide than
when they are shuffled, zero-free of identity: only tokens), check the partner batch that gives a
single-platform batch the other platform, that training with it pulls same-top-node sessions of the
two platforms closer than training without it, that a zero weight changes nothing (fingerprint,
weights) and that an interrupted run resumes to the same weights.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from clickintent.encoder.batching import collate
from clickintent.encoder.model import MASK, PAD
from clickintent.encoder.tokens import APP, UNKNOWN, WEB
from clickintent.encoder.train import (
    TrainConfig,
    build_model,
    cross_platform_infonce,
    dominant_ids,
    first_event_platforms,
    fit,
    partner_sessions,
    training_fingerprint_settings,
)
from support.tiny_encoder import TINY, assert_same_weights, fit_logged, straight_and_resumed, tiny_world


@pytest.fixture(scope="module")
def world():
    return tiny_world()


@pytest.fixture(scope="module")
def shared_world(world):
    """The world with app screens' top nodes mapped onto web top nodes (in the synthetic world the
    two platforms share none; in the demo world app screens are placed among the web taxonomy)."""
    train, validation, config = world

    def share(tokens):
        top, app = tokens.channels["top_node"].copy(), tokens.channels["platform"] == APP
        web_tops = np.unique(top[(tokens.channels["platform"] == WEB) & (top > UNKNOWN)])
        app_tops = np.unique(top[app & (top > UNKNOWN)])
        mapping = dict(zip(app_tops.tolist(), np.resize(web_tops, len(app_tops)).tolist(), strict=True))
        top[app] = [mapping.get(t, t) for t in top[app].tolist()]
        return replace(tokens, channels={**tokens.channels, "top_node": top})

    return share(train), share(validation), config


# ---- the loss itself ----


def test_dominant_top_node_counts_known_events_only():
    ids = torch.tensor(
        [
            [5, 4, 5, PAD],  # 5 twice
            [4, 6, MASK, PAD],  # tie: the smaller id
            [UNKNOWN, UNKNOWN, 7, PAD],  # unknown is not a node
            [UNKNOWN, MASK, PAD, PAD],  # nothing known
        ]
    )
    assert dominant_ids(ids).tolist() == [5, 4, 7, -1]


def _paired(n: int, dim: int = 16, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(n, dim, generator=generator)
    platforms = torch.tensor([WEB] * n + [APP] * n)
    tops = torch.arange(n).repeat(2) + 3
    return centres, platforms, tops


def test_loss_is_lower_when_paired_sessions_coincide_than_when_shuffled():
    centres, platforms, tops = _paired(8)
    coincide = torch.cat([centres, centres])
    shuffled = torch.cat([centres, centres[torch.roll(torch.arange(8), 1)]])
    aligned = float(cross_platform_infonce(coincide, platforms, tops, 0.1))
    mismatched = float(cross_platform_infonce(shuffled, platforms, tops, 0.1))
    assert aligned < 0.05
    assert mismatched > aligned + 1.0
    # Scale of an embedding does not matter (L2-normalised), and the order of sessions does not.
    assert float(cross_platform_infonce(3.0 * coincide, platforms, tops, 0.1)) == pytest.approx(aligned, abs=1e-5)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    assert float(cross_platform_infonce(coincide[order], platforms[order], tops[order], 0.1)) == pytest.approx(aligned, abs=1e-5)


def test_loss_matches_the_formula_with_several_positives():
    # Two web sessions, three app sessions; web 0 shares its top node with app 0 and app 1, web 1
    # with nobody; app 2 has no dominant node (a negative only).
    z = torch.nn.functional.normalize(torch.randn(5, 8, generator=torch.Generator().manual_seed(3)), dim=-1)
    platforms = torch.tensor([WEB, APP, WEB, APP, APP])
    tops = torch.tensor([4, 4, 5, 4, -1])
    s = z[[0, 2]] @ z[[1, 3, 4]].T / 0.5
    web_term = -(torch.logsumexp(s[0, :2], 0) - torch.logsumexp(s[0], 0))
    app_terms = [-(s[0, j] - torch.logsumexp(s[:, j], 0)) for j in (0, 1)]
    expected = (web_term + torch.stack(app_terms).mean()) / 2
    torch.testing.assert_close(cross_platform_infonce(z, platforms, tops, 0.5), expected)


def test_no_pairs_no_loss_but_a_graph():
    z = torch.randn(4, 8, requires_grad=True)
    web_only = cross_platform_infonce(z, torch.tensor([WEB] * 4), torch.tensor([3, 3, 4, 4]), 0.1)
    unmatched = cross_platform_infonce(z, torch.tensor([WEB, WEB, APP, APP]), torch.tensor([3, 3, 4, -1]), 0.1)
    for loss in (web_only, unmatched):
        assert float(loss.detach()) == 0.0
        loss.backward()  # a zero that still backpropagates (no special case in the trainer)


# ---- the partner batch ----


def test_a_single_platform_batch_gets_a_seeded_partner_of_the_other_platform():
    pools = {WEB: np.arange(0, 50), APP: np.arange(50, 80)}
    web_batch = np.full(40, WEB)
    first = partner_sessions(web_batch, pools, 10, np.random.default_rng(5))
    again = partner_sessions(web_batch, pools, 10, np.random.default_rng(5))
    assert first is not None and len(first) == 10 and len(set(first.tolist())) == 10
    assert np.isin(first, pools[APP]).all()
    np.testing.assert_array_equal(first, again)
    # Mixed enough: no partner. Short of app sessions: app partners. A tiny pool: all of it.
    assert partner_sessions(np.array([WEB] * 20 + [APP] * 20), pools, 10, np.random.default_rng(5)) is None
    assert np.isin(partner_sessions(np.array([WEB] * 30 + [APP] * 3), pools, 10, np.random.default_rng(5)), pools[APP]).all()
    assert len(partner_sessions(np.full(40, APP), {WEB: np.arange(4), APP: np.arange(4, 9)}, 10, np.random.default_rng(5))) == 4


def test_platforms_come_from_the_tokens(world):
    train, _, _ = world
    platforms = first_event_platforms(train)
    assert set(np.unique(platforms).tolist()) == {WEB, APP}
    batch, _ = collate(train, np.arange(len(platforms)))
    np.testing.assert_array_equal(batch["platform"][:, 0].numpy(), platforms)


# ---- training ----


def _validation_cross_loss(model, tokens) -> float:
    batch, _ = collate(tokens, np.arange(len(tokens.lengths)))
    with torch.inference_mode():
        pooled = model.embed(batch)
    return float(cross_platform_infonce(pooled, batch["platform"][:, 0], dominant_ids(batch["top_node"]), 0.1))


def test_training_with_the_term_aligns_the_platforms_on_held_out_sessions(shared_world, tmp_path):
    train, validation, config = shared_world
    batch, _ = collate(validation, np.arange(len(validation.lengths)))
    tops, platforms = dominant_ids(batch["top_node"]), batch["platform"][:, 0]
    shared = set(tops[platforms == WEB].tolist()) & set(tops[platforms == APP].tolist()) - {-1}
    assert shared, "the synthetic world must share top nodes across platforms for this test"
    plain = build_model(config, 3)
    fit(plain, train, validation, TINY, tmp_path / "plain", progress=False)
    paired = build_model(config, 3)
    fit(paired, train, validation, replace(TINY, cross_platform_weight=1.0), tmp_path / "paired", progress=False)
    assert _validation_cross_loss(paired, validation) < _validation_cross_loss(plain, validation) - 0.05
    # No extra parameters: the embedding path (and the NumPy live pass) reads the same tensors.
    assert set(paired.state_dict()) == set(plain.state_dict())


def test_zero_weight_is_inert(world, tmp_path):
    train, validation, config = world
    assert "cross_platform_weight" not in training_fingerprint_settings(TrainConfig())
    assert training_fingerprint_settings(TrainConfig(cross_platform_weight=0.5))["cross_platform_weight"] == 0.5
    short = replace(TINY, max_epochs=1)
    default, zero = build_model(config, 2), build_model(config, 2)
    fit(default, train, validation, short, tmp_path / "default", progress=False)
    messages: list[str] = []
    result = fit(
        zero, train, validation, replace(short, cross_platform_weight=0.0), tmp_path / "default", progress=False, log=messages.append
    )
    # Same fingerprint as the default: the checkpoint is found finished, not retrained.
    assert result.resumed_from_epoch == 1 and messages == ["already trained; loading best"]
    fresh = build_model(config, 2)
    fit(fresh, train, validation, replace(short, cross_platform_weight=0.0), tmp_path / "fresh", progress=False)
    for name, tensor in default.state_dict().items():
        assert torch.equal(tensor, fresh.state_dict()[name]), name


def test_interrupted_cross_platform_training_resumes_to_the_same_weights(world, tmp_path):
    train, validation, config = world
    settings = replace(TINY, cross_platform_weight=1.0)
    straight, resumed, result = straight_and_resumed(config, train, validation, settings, tmp_path)
    assert result.resumed_from_epoch == 2 and result.epochs_run == 3
    assert_same_weights(straight, resumed)
    other, messages = fit_logged(config, train, validation, replace(settings, cross_platform_weight=0.5), tmp_path / "resumed")
    assert other.resumed_from_epoch is None and "starting fresh" in messages[0]
