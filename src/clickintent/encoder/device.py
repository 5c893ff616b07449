"""Where the encoder computes: `auto`, `cpu` or `cuda`, for pretraining, batch embedding and the benchmark.

On CPU nothing changes: the same tensors, the same order of operations, the same weights as
before the option existed. On CUDA the model and each batch move to the GPU, the forward pass
and the loss run under bf16 autocast, and the callers use larger batches
(`CUDA_PRETRAIN_BATCH_SIZE`, `CUDA_EMBED_BATCH_SIZE`). Weights always leave as CPU tensors,
so a checkpoint or a saved encoder is the same file whatever device trained it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Literal, get_args

import torch

if TYPE_CHECKING:
    from clickintent.settings import Settings

DeviceChoice = Literal["auto", "cpu", "cuda"]
DEVICE_CHOICES: tuple[str, ...] = get_args(DeviceChoice)

# Pretraining batch on a GPU: a width-64 encoder at the CPU's batch leaves a GPU mostly idle, a
# step of thousands of sessions keeps it busy (not measured in this checkout: docs/measurements.md,
# "On a GPU").
CUDA_PRETRAIN_BATCH_SIZE = 4096
# Batch embedding's default batch per device, for callers that name none (an explicit size is
# honoured on either device).
CPU_EMBED_BATCH_SIZE = 1024
CUDA_EMBED_BATCH_SIZE = 8192


def resolve_device(choice: str) -> str:
    """ "cpu" or "cuda" for a choice among DEVICE_CHOICES; "auto" is cuda when torch sees a GPU."""
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {choice!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no GPU (torch.cuda.is_available() is False); use --device cpu or auto")
    return choice


def settings_device(settings: Settings) -> str:
    """The settings' encoder device (`encoder_device`), "auto" resolved (resolve_device)."""
    return resolve_device(settings.encoder_device)


def autocast(device: str):
    """bf16 autocast on CUDA; on CPU no context at all, so CPU arithmetic is exactly as before."""
    if device == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
    """The batch's tensors on `device` (the same dict, untouched, on CPU)."""
    if device == "cpu":
        return batch
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


def pretrain_batch_size(batch_size: int, device: str) -> int:
    """The pretraining batch for a device: as configured on CPU, at least CUDA_PRETRAIN_BATCH_SIZE on CUDA."""
    return max(batch_size, CUDA_PRETRAIN_BATCH_SIZE) if device == "cuda" else batch_size


def embed_batch_size(batch_size: int | None, device: str, cpu_default: int = CPU_EMBED_BATCH_SIZE) -> int:
    """Sessions per batch embedding step: `batch_size` when given, else CUDA_EMBED_BATCH_SIZE on
    CUDA and `cpu_default` on CPU."""
    if batch_size is not None:
        return batch_size
    return CUDA_EMBED_BATCH_SIZE if device == "cuda" else cpu_default
