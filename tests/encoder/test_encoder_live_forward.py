"""The service's NumPy forward pass for one live session equals the torch encoder's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clickintent.encoder.live_forward import LiveForward
from clickintent.encoder.model import EncoderConfig, SessionEncoder

VOCAB = {"page": 40, "node": 9, "top_node": 5, "event_type": 12, "platform": 5, "dwell": 35, "gap": 35}


def _model(seed: int, **config) -> SessionEncoder:
    torch.manual_seed(seed)
    model = SessionEncoder(EncoderConfig(vocab_sizes=VOCAB, max_len=16, d_model=16, n_heads=4, d_ff=24, **config))
    # Trained weights are not at their initial values: move every parameter off them.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model.eval()


def _session(rng: np.random.Generator, length: int, query_dim: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    ids = {channel: rng.integers(2, size, length).astype(np.int32) for channel, size in VOCAB.items()}
    query_index = np.where(rng.random(length) < 0.3, rng.integers(1, 4, length), 0).astype(np.int32)
    vectors = np.vstack([np.zeros((1, max(query_dim, 1))), rng.standard_normal((3, max(query_dim, 1)))]).astype(np.float32)
    return ids, query_index, vectors


def _torch_embedding(model: SessionEncoder, ids: dict[str, np.ndarray], query_index: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    batch = {channel: torch.from_numpy(values.astype(np.int64))[None, :] for channel, values in ids.items()}
    if model.config.query_dim and query_index.any():
        batch["query_index"] = torch.from_numpy(query_index.astype(np.int64))[None, :]
        batch["query_vectors"] = torch.from_numpy(vectors)
    with torch.inference_mode():
        return model.embed(batch)[0].numpy()


@pytest.mark.parametrize("pooling", ["mean", "max", "mean_max"])
@pytest.mark.parametrize("query_dim", [0, 8])
def test_live_forward_equals_the_torch_encoder(pooling: str, query_dim: int) -> None:
    model = _model(seed=len(pooling) + query_dim, pooling=pooling, query_dim=query_dim, n_layers=2)
    forward = LiveForward(model)
    rng = np.random.default_rng(3)
    for length in (1, 2, 7, 16):
        ids, query_index, vectors = _session(rng, length, query_dim)
        expected = _torch_embedding(model, ids, query_index, vectors)
        got = forward.embed(ids, query_index, vectors)
        assert got.dtype == np.float32 and got.shape == expected.shape == (16,)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5)
    # Another session gives another embedding (the test above is not comparing constants).
    first, second = (forward.embed(*_session(rng, 7, query_dim)) for _ in range(2))
    assert np.abs(first - second).max() > 1e-3


def test_models_it_does_not_cover_keep_the_torch_path() -> None:
    assert LiveForward.supports(_model(seed=1))
    causal = _model(seed=1, causal=True)
    assert not LiveForward.supports(causal)
    with pytest.raises(ValueError, match="non-causal"):
        LiveForward(causal)
