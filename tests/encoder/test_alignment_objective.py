"""The identity-free alignment term: the pooled embedding predicts the session's taxonomy mix.

The term is KL(session's share of events per taxonomy node / top node || softmax of a linear
head on the pooled embedding), from the session's own tokens: no labels, no identity. These
tests hold it to its definition, check that training with it makes the taxonomy mix more
linearly decodable from the embedding than training without it, and that the heads stay out of
the embedding (torch and the NumPy live pass) and of the checkpoints' compatibility.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from clickintent.encoder.batching import collate
from clickintent.encoder.live_forward import LiveForward
from clickintent.encoder.model import MASK, PAD, EncoderConfig, SessionEncoder
from clickintent.encoder.pipeline import PretrainConfig
from clickintent.encoder.train import (
    TrainConfig,
    alignment_loss,
    build_model,
    fit,
    mix_divergence,
    model_fingerprint_json,
    taxonomy_mix,
    training_fingerprint_settings,
)
from support.tiny_encoder import TINY, assert_same_weights, fit_logged, straight_and_resumed, tiny_world


@pytest.fixture(scope="module")
def world():
    return tiny_world()


# ---- the loss itself ----


def test_taxonomy_mix_counts_events_and_skips_padding_and_masks():
    ids = torch.tensor([[3, 3, 4, PAD], [MASK, 5, PAD, PAD], [PAD, PAD, PAD, PAD]])
    mix = taxonomy_mix(ids, 6)
    expected = torch.tensor([[0, 0, 0, 2 / 3, 1 / 3, 0], [0, 0, 0, 0, 0, 1.0], [0, 0, 0, 0, 0, 0]])
    torch.testing.assert_close(mix, expected)


def test_divergence_is_zero_at_the_target_and_positive_elsewhere():
    target = torch.tensor([[0.0, 0.0, 0.5, 0.25, 0.25], [0.0, 0.0, 0.0, 1.0, 0.0], [0.1, 0.2, 0.3, 0.2, 0.2]])
    # Logits equal to the target's log (up to a constant per row: softmax ignores it), -inf where
    # the target is 0, give the target back: the loss is exactly 0, not NaN.
    exact = torch.log(target) + torch.tensor([[3.0], [-1.0], [0.0]])
    torch.testing.assert_close(mix_divergence(target, exact), torch.zeros(3), atol=1e-6, rtol=0)
    # Any other prediction costs something, on every row.
    for logits in (torch.zeros(3, 5), exact.clamp_min(-5.0) + torch.randn(3, 5, generator=torch.Generator().manual_seed(0))):
        assert (mix_divergence(target, logits) > 1e-3).all()
    # A confident wrong prediction costs more than a uniform one.
    wrong = torch.full((3, 5), -10.0)
    wrong[:, 0] = 10.0
    assert (mix_divergence(target[:2], wrong[:2]) > mix_divergence(target[:2], torch.zeros(2, 5))).all()


def test_alignment_loss_reads_the_unmasked_taxonomy_of_each_session(world):
    train, _, config = world
    model = SessionEncoder(replace(config, mix_heads=True)).eval()
    batch, _ = collate(train, np.arange(8))
    pooled = torch.zeros(8, config.d_model)
    # Heads set so that their output is each channel's log-mix of the batch: the loss vanishes.
    with torch.no_grad():
        for channel, head in model.mix_heads.items():
            head.weight.zero_()
            head.bias.copy_(torch.log(taxonomy_mix(batch[channel], head.out_features)[0]))
        first = {c: v[:1] for c, v in batch.items() if c not in ("query_index", "query_vectors")}
        assert float(alignment_loss(model, pooled[:1], first)) == pytest.approx(0.0, abs=1e-6)
        # The same heads are wrong for sessions with another mix.
        assert float(alignment_loss(model, pooled, batch)) > 1e-3


# ---- what training with it changes ----


def _decodability(model: SessionEncoder, train, validation) -> float:
    """R^2 on validation sessions of a least-squares linear map from the embedding to the top-node mix."""

    def features(tokens):
        batch, _ = collate(tokens, np.arange(len(tokens.lengths)))
        with torch.inference_mode():
            embedding = model.eval().embed(batch).numpy()
        mix = taxonomy_mix(batch["top_node"], model.config.vocab_sizes["top_node"]).numpy()
        return np.hstack([embedding, np.ones((len(embedding), 1), np.float32)]), mix

    x_train, y_train = features(train)
    x_test, y_test = features(validation)
    coefficients, *_ = np.linalg.lstsq(x_train, y_train, rcond=None)
    residual = ((x_test @ coefficients - y_test) ** 2).sum()
    total = ((y_test - y_train.mean(axis=0)) ** 2).sum()
    return 1.0 - residual / total


def test_training_with_the_term_makes_the_taxonomy_mix_more_linearly_decodable(world, tmp_path):
    train, validation, config = world
    plain = fit(build_model(config, 1), train, validation, TINY, tmp_path / "plain", progress=False)
    aligned_model = build_model(replace(config, mix_heads=True), 1)
    aligned = fit(aligned_model, train, validation, replace(TINY, alignment_weight=2.0), tmp_path / "aligned", progress=False)
    plain_model = build_model(config, 1)
    fit(plain_model, train, validation, TINY, tmp_path / "plain", progress=False)  # loads the finished run's weights
    before, after = _decodability(plain_model, train, validation), _decodability(aligned_model, train, validation)
    assert after > before + 0.05, (before, after)
    # Masked modelling still learns (validation loss excludes the term, so the two are comparable).
    assert aligned.history[-1]["validation_loss"] < aligned.history[0]["validation_loss"]
    assert np.isfinite(plain.best_validation_loss)


# ---- the heads stay out of the embedding, and checkpoints stay compatible ----


def test_mix_heads_do_not_change_the_embedding_or_the_live_pass(world):
    train, _, config = world
    torch.manual_seed(3)
    with_heads = SessionEncoder(replace(config, mix_heads=True, query_dim=0)).eval()
    without = SessionEncoder(replace(config, query_dim=0)).eval()
    shared = {k: v for k, v in with_heads.state_dict().items() if not k.startswith("mix_heads.")}
    without.load_state_dict(shared)
    assert set(with_heads.state_dict()) - set(shared) == {f"mix_heads.{c}.{p}" for c in ("node", "top_node") for p in ("weight", "bias")}
    batch, _ = collate(train, np.arange(16))
    batch = {k: v for k, v in batch.items() if k not in ("query_index", "query_vectors")}
    with torch.inference_mode():
        torch.testing.assert_close(with_heads.embed(batch), without.embed(batch), rtol=0, atol=0)
    # The NumPy live pass supports it and matches torch on one unpadded session.
    assert LiveForward.supports(with_heads)
    forward = LiveForward(with_heads)
    length = int(train.lengths[0])
    ids = {c: batch[c][0, :length].numpy().astype(np.int32) for c in config.channels}
    with torch.inference_mode():
        expected = with_heads.embed({c: torch.from_numpy(v.astype(np.int64))[None] for c, v in ids.items()})[0].numpy()
    got = forward.embed(ids, np.zeros(length, np.int32), np.zeros((1, 1), np.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5)


def test_heads_do_not_change_the_initial_weights_of_the_rest(world):
    _, _, config = world
    plain = build_model(config, 4).state_dict()
    with_heads = build_model(replace(config, mix_heads=True), 4).state_dict()
    for name, tensor in plain.items():
        assert torch.equal(tensor, with_heads[name]), name


def test_interrupted_aligned_training_resumes_to_the_same_weights(world, tmp_path):
    train, validation, config = world
    config = replace(config, mix_heads=True)
    settings = replace(TINY, alignment_weight=1.0)
    straight, resumed, result = straight_and_resumed(config, train, validation, settings, tmp_path)
    assert result.resumed_from_epoch == 2 and result.epochs_run == 3
    assert_same_weights(straight, resumed)
    # Another weight is another configuration: it starts fresh rather than resuming.
    other, messages = fit_logged(config, train, validation, replace(settings, alignment_weight=0.5), tmp_path / "resumed")
    assert other.resumed_from_epoch is None and "starting fresh" in messages[0]


def test_checkpoints_written_before_the_term_existed_still_resume():
    """With the term off, neither fingerprint input mentions it, so it is what it was before."""
    config = EncoderConfig(vocab_sizes={"page": 10, "node": 5, "top_node": 4})
    assert "mix_heads" not in model_fingerprint_json(config)
    assert "alignment_weight" not in training_fingerprint_settings(TrainConfig())
    assert "threads" not in training_fingerprint_settings(TrainConfig())
    assert '"mix_heads": true' in model_fingerprint_json(replace(config, mix_heads=True))
    assert training_fingerprint_settings(TrainConfig(alignment_weight=0.5))["alignment_weight"] == 0.5


def test_a_weight_without_heads_is_refused_and_the_pipeline_adds_them(world, tmp_path):
    train, validation, config = world
    with pytest.raises(ValueError, match="mix heads"):
        fit(build_model(config, 1), train, validation, replace(TINY, alignment_weight=1.0), tmp_path, progress=False)
    with pytest.raises(ValueError, match="taxonomy channel"):
        EncoderConfig(vocab_sizes={"page": 10}, mix_heads=True)
    pretrain = PretrainConfig(training=replace(TINY, alignment_weight=0.5))
    assert pretrain.model_config(config.vocab_sizes, 0).mix_heads
    assert not replace(pretrain, training=TINY).model_config(config.vocab_sizes, 0).mix_heads
