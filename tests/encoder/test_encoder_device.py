"""The device option: `auto` resolves by what torch sees, and on CPU training is what it was without it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from clickintent.cli.encoder import encoder_app
from clickintent.encoder.device import CUDA_PRETRAIN_BATCH_SIZE, autocast, pretrain_batch_size, resolve_device, to_device
from clickintent.encoder.pipeline import PretrainConfig, default_config, on_device
from clickintent.encoder.synthetic import synthesize_sequences
from clickintent.encoder.train import build_model, fit, training_fingerprint_settings
from clickintent.settings import load_settings
from support.tiny_encoder import TINY, assert_same_weights, tiny_world


def test_auto_is_cpu_without_a_gpu_and_cuda_with_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="torch sees no GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_cuda_gets_the_large_batch_and_cpu_keeps_its_own():
    assert pretrain_batch_size(256, "cpu") == 256
    assert pretrain_batch_size(256, "cuda") == CUDA_PRETRAIN_BATCH_SIZE
    assert on_device(PretrainConfig(), "cpu").training == replace(PretrainConfig().training, device="cpu")
    cuda = on_device(PretrainConfig(), "cuda").training
    assert (cuda.device, cuda.batch_size) == ("cuda", CUDA_PRETRAIN_BATCH_SIZE)


def test_on_cpu_the_batch_is_untouched_and_there_is_no_autocast():
    batch = {"page": torch.arange(6).reshape(2, 3)}
    assert to_device(batch, "cpu") is batch
    with autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
        assert torch.ones(2, 2).dtype == torch.float32


def test_the_device_leaves_the_checkpoint_fingerprint_alone():
    """A CPU run's fingerprint is the one it had before the option, so its checkpoints still resume."""
    settings = training_fingerprint_settings(replace(TINY, device="cpu"))
    assert "device" not in settings
    assert settings == training_fingerprint_settings(replace(TINY, device="cuda"))


def test_cpu_training_is_the_same_with_or_without_the_device_named(tmp_path):
    train, validation, config = tiny_world()
    unnamed = build_model(config, 1)
    fit(unnamed, train, validation, replace(TINY, max_epochs=2), tmp_path / "unnamed", progress=False)
    named = build_model(config, 1)
    fit(named, train, validation, replace(TINY, max_epochs=2, device="cpu"), tmp_path / "named", progress=False)
    assert_same_weights(unnamed, named)
    assert next(named.parameters()).device.type == "cpu"


def test_train_command_saves_the_same_weights_without_the_option_and_with_device_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # "auto" must mean cpu here, GPU or not
    monkeypatch.delenv("CLICKINTENT_ENCODER_DEVICE", raising=False)
    frame, _ = synthesize_sequences(240, seed=3)
    mart = tmp_path / "sequences.parquet"
    frame.to_parquet(mart)
    weights = {}
    for label, extra in (("absent", []), ("cpu", ["--device", "cpu"])):
        root = tmp_path / label
        result = CliRunner().invoke(
            encoder_app,
            ["train", "--data-dir", str(root / "data"), "--models-dir", str(root / "models"), "--sequences", str(mart)]
            + ["--no-queries", "--epochs", "1", *extra],
        )
        assert result.exit_code == 0, result.output
        weights[label] = (root / "models" / "encoder" / "model.safetensors").read_bytes()
    assert weights["absent"] == weights["cpu"]
    # The settings' default configuration on CPU trains with the batch the encoder always had.
    assert default_config(7, "cpu").training.batch_size == PretrainConfig().training.batch_size


def test_asking_for_cuda_without_a_gpu_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(encoder_app, ["embed", "--data-dir", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 2 and "torch sees no GPU" in result.output
    settings_error = CliRunner().invoke(encoder_app, ["embed", "--data-dir", str(tmp_path), "--device", "gpu"])
    assert settings_error.exit_code == 2 and "encoder_device" in settings_error.output


def test_the_device_setting_comes_from_the_environment():
    assert load_settings(environ={"CLICKINTENT_ENCODER_DEVICE": "cpu"}).encoder_device == "cpu"
    assert load_settings(environ={}).encoder_device == "auto"
