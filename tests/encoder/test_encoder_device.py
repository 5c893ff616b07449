"""The device option: `auto` resolves by what torch sees, and on CPU training is what it was without it.

That a CPU fit's weights are byte for byte those of the code before the option was checked once
against that commit (docs/measurements.md, "On a GPU"); these tests hold what the option itself
could change on CPU: the configuration (batch size, device) and the hooks it added to training.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

import clickintent.encoder.embed as embed_module
import clickintent.encoder.train as train_module
from bench import encoder as bench_encoder
from clickintent.cli.encoder import encoder_app
from clickintent.encoder.device import (
    CPU_EMBED_BATCH_SIZE,
    CUDA_EMBED_BATCH_SIZE,
    CUDA_PRETRAIN_BATCH_SIZE,
    autocast,
    embed_batch_size,
    pretrain_batch_size,
    resolve_device,
    to_device,
)
from clickintent.encoder.pipeline import PretrainConfig, default_config, on_device, with_training
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
    settings = training_fingerprint_settings(replace(TINY, device="cuda"))
    assert "device" not in settings
    assert settings == training_fingerprint_settings(replace(TINY, device="cpu"))


def test_auto_without_a_gpu_is_the_configuration_that_never_names_a_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    never_named = with_training(PretrainConfig(), seed=7)
    assert default_config(7, resolve_device("auto")) == default_config(7, "cpu") == never_named


def test_on_cpu_fit_trains_as_it_would_without_the_device_hooks(tmp_path, monkeypatch):
    """fit's device hooks (batches moved, autocast) are no-ops on CPU: the weights equal a fit with
    them taken out, as the code before the option trained."""
    train, validation, config = tiny_world()
    hooked = build_model(config, 1)
    fit(hooked, train, validation, replace(TINY, max_epochs=2), tmp_path / "hooked", progress=False)
    monkeypatch.setattr(train_module, "autocast", lambda _device: contextlib.nullcontext())
    monkeypatch.setattr(train_module, "to_device", lambda batch, _device: batch)
    unhooked = build_model(config, 1)
    fit(unhooked, train, validation, replace(TINY, max_epochs=2), tmp_path / "unhooked", progress=False)
    assert_same_weights(unhooked, hooked)
    assert next(hooked.parameters()).device.type == "cpu"


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
        card = json.loads((root / "models" / "encoder" / "model_card.json").read_text())
        # What the option could change on CPU: the device trained on and the batch.
        assert (card["training"]["device"], card["training"]["batch_size"]) == ("cpu", PretrainConfig().training.batch_size)
    assert weights["absent"] == weights["cpu"]


def test_an_explicit_embedding_batch_is_honoured_on_every_device():
    assert embed_batch_size(512, "cuda") == 512 and embed_batch_size(512, "cpu") == 512
    assert embed_batch_size(None, "cuda") == CUDA_EMBED_BATCH_SIZE
    assert embed_batch_size(None, "cpu") == CPU_EMBED_BATCH_SIZE
    assert embed_batch_size(None, "cpu", cpu_default=256) == 256


@pytest.mark.parametrize(("options", "expected"), [([], CUDA_EMBED_BATCH_SIZE), (["--batch-size", "512"], 512), (["--device", "cpu"], 256)])
def test_the_embed_command_passes_the_batch_it_was_given(tmp_path, monkeypatch, options, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # auto means cuda; nothing runs on it here
    monkeypatch.delenv("CLICKINTENT_ENCODER_DEVICE", raising=False)
    passed = {}

    def record(_settings, **kwargs):
        passed.update(kwargs)
        return SimpleNamespace(sessions=0, sessions_per_second=0.0, session_path="-", customers=0, customer_rows=0, customer_path="-")

    monkeypatch.setattr(embed_module, "embed_all", record)
    result = CliRunner().invoke(encoder_app, ["embed", "--data-dir", str(tmp_path), *options])
    assert result.exit_code == 0, result.output
    assert passed["batch_size"] == expected


def test_bench_encoder_takes_its_device_from_the_setting_and_reports_a_bad_one_as_usage(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CLICKINTENT_ENCODER_DEVICE", "cuda")
    with pytest.raises(SystemExit) as usage:
        bench_encoder.main(["--data-dir", str(tmp_path), "--skip-speed"])
    assert usage.value.code == 2 and "torch sees no GPU" in capsys.readouterr().err
    assert not (tmp_path / "reports" / "bench_encoder.json").exists()
    report = bench_encoder.main(["--data-dir", str(tmp_path), "--skip-speed", "--device", "cpu"])
    assert report["machine"]["device"] == "cpu"


def test_asking_for_cuda_without_a_gpu_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(encoder_app, ["embed", "--data-dir", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 2 and "torch sees no GPU" in result.output
    settings_error = CliRunner().invoke(encoder_app, ["embed", "--data-dir", str(tmp_path), "--device", "gpu"])
    assert settings_error.exit_code == 2 and "encoder_device" in settings_error.output


def test_the_device_setting_comes_from_the_environment():
    assert load_settings(environ={"CLICKINTENT_ENCODER_DEVICE": "cpu"}).encoder_device == "cpu"
    assert load_settings(environ={}).encoder_device == "auto"
