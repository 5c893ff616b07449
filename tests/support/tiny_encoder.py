"""A tiny encoder world for the training tests, and training straight through against interrupted
and resumed (the resume tests of every training objective)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from clickintent.encoder.model import EncoderConfig
from clickintent.encoder.synthetic import synthesize_sequences
from clickintent.encoder.tokens import FixedQueryVectors, fit_vocabulary, tokenize_sequences
from clickintent.encoder.train import TrainConfig, build_model, fit, split_by_time

TINY = TrainConfig(objective="masked", max_epochs=3, batch_size=64, learning_rate=3e-3, threads=1, patience=5)


def tiny_tokens(sessions: int = 600, validation_fraction: float = 0.3):
    """(tokens, encoder config, session ends, train rows, validation rows) of synthetic sessions split by time."""
    frame, _ = synthesize_sequences(sessions, seed=11)
    end = pd.to_datetime(frame["session_end_ts"], utc=True).to_numpy()
    train_rows, validation_rows = split_by_time(end, validation_fraction)
    vocabulary = fit_vocabulary(frame.iloc[train_rows])
    tokens = tokenize_sequences(frame, vocabulary, 32, FixedQueryVectors(dim=16))
    config = EncoderConfig(vocab_sizes=vocabulary.vocab_sizes(), query_dim=16, max_len=32, d_model=32, n_heads=2, d_ff=64)
    return tokens, config, end, train_rows, validation_rows


def tiny_world():
    """(train tokens, validation tokens, encoder config)."""
    tokens, config, _, train_rows, validation_rows = tiny_tokens()
    return tokens.subset(train_rows), tokens.subset(validation_rows), config


class Interrupted(Exception):
    pass


def _interrupt_after_second_epoch(message: str) -> None:
    if message.startswith("epoch 2:"):
        raise Interrupted


def straight_and_resumed(config, train, validation, settings, root: Path):
    """(straight model, resumed model, the resumed fit's result): the second run is stopped after
    epoch 2 and restarted from other initial weights, so only the checkpoint can make them equal."""
    straight = build_model(config, 1)
    fit(straight, train, validation, settings, root / "straight", progress=False)
    with pytest.raises(Interrupted):
        fit(build_model(config, 1), train, validation, settings, root / "resumed", progress=False, log=_interrupt_after_second_epoch)
    resumed = build_model(config, 99)
    result = fit(resumed, train, validation, settings, root / "resumed", progress=False)
    return straight, resumed, result


def assert_same_weights(expected: torch.nn.Module, actual: torch.nn.Module) -> None:
    for name, tensor in expected.state_dict().items():
        assert torch.equal(tensor, actual.state_dict()[name]), name


def fit_logged(config, train, validation, settings, directory: Path):
    """(result, log messages) of a fit into `directory`: what a rerun there decides to do."""
    messages: list[str] = []
    result = fit(build_model(config, 1), train, validation, settings, directory, progress=False, log=messages.append)
    return result, messages
