"""Train an encoder straight through and again with an interruption after epoch 2, for the resume tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from clickintent.encoder.train import build_model, fit


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
