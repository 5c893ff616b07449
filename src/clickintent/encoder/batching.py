"""Padded tensor batches from tokenized sessions, and the masking/augmentation used in training.

Batches are left-aligned (events first, padding after) and bucketed by length so that a batch of
short sessions is not padded to the longest session of the epoch: most sessions are short.
"""

from __future__ import annotations

import numpy as np
import torch

from clickintent.encoder.model import MASK, MASKED_CHANNELS, PAD
from clickintent.encoder.tokens import TIME_VOCAB_SIZE, UNKNOWN, TokenizedSessions

Batch = dict[str, torch.Tensor]


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None, sort: bool = True) -> list[np.ndarray]:
    """Session indices per batch: shuffled (if rng), sorted by length inside pools of 64 batches."""
    order = rng.permutation(len(lengths)) if rng is not None else np.arange(len(lengths))
    if not sort:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    pool = batch_size * 64
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def collate(tokens: TokenizedSessions, sessions: np.ndarray) -> tuple[Batch, np.ndarray]:
    """A padded batch (left-aligned) of the given sessions, and their lengths."""
    sessions = np.asarray(sessions, dtype=np.int64)
    lengths = tokens.lengths[sessions]
    width = int(lengths.max()) if len(sessions) else 1
    columns = np.arange(width)[None, :]
    valid = columns < lengths[:, None]
    flat = np.where(valid, tokens.offsets[sessions][:, None] + columns, 0)
    batch: Batch = {}
    for channel, values in tokens.channels.items():
        grid = np.where(valid, values[flat], PAD)
        batch[channel] = torch.from_numpy(grid.astype(np.int64))
    query_rows = np.where(valid, tokens.query_index[flat], 0)
    used = np.unique(query_rows)
    used = used[used > 0]
    if len(used):
        remap = np.zeros(int(used.max()) + 1, dtype=np.int64)
        remap[used] = np.arange(1, len(used) + 1)
        batch["query_index"] = torch.from_numpy(remap[query_rows])
        vectors = np.concatenate([np.zeros((1, tokens.query_vectors.shape[1]), np.float32), tokens.query_vectors[used]])
        batch["query_vectors"] = torch.from_numpy(vectors)
    return batch, lengths


def mask_events(batch: Batch, lengths: np.ndarray, probability: float, rng: np.random.Generator) -> tuple[Batch, torch.Tensor]:
    """Hide a random `probability` share of events (at least one per session) for masked modelling.

    Returns the masked batch and the boolean (B, T) tensor of masked positions; the targets are
    the original ids of `batch` at those positions.
    """
    shape = batch["page"].shape
    valid = np.arange(shape[1])[None, :] < lengths[:, None]
    chosen = (rng.random(shape) < probability) & valid
    # A session with nothing masked would teach nothing: mask one random event of it.
    empty = ~chosen.any(axis=1)
    if empty.any():
        rows = np.flatnonzero(empty)
        chosen[rows, (rng.random(len(rows)) * lengths[rows]).astype(np.int64)] = True
    positions = torch.from_numpy(chosen).to(batch["page"].device)
    masked = dict(batch)
    for channel in MASKED_CHANNELS:
        if channel in batch:
            masked[channel] = batch[channel].masked_fill(positions, MASK)
    if "query_index" in batch:
        masked["query_index"] = batch["query_index"].masked_fill(positions, 0)
    return masked, positions


def augment_view(batch: Batch, lengths: np.ndarray, rng: np.random.Generator, mask_probability: float = 0.15) -> tuple[Batch, np.ndarray]:
    """A second view of each session for the contrastive term: crop, event mask, dwell jitter.

    Crop keeps a random contiguous window of at least half the session; masking hides pages and
    nodes of ~15 % of the window's events; jitter moves each dwell bucket by -1, 0 or +1.
    """
    n, width = batch["page"].shape
    keep = np.maximum(1, np.ceil(lengths * rng.uniform(0.5, 1.0, size=n))).astype(np.int64)
    start = (rng.random(n) * (lengths - keep + 1)).astype(np.int64)
    new_width = int(keep.max())
    columns = np.arange(new_width)[None, :]
    valid = columns < keep[:, None]
    device = batch["page"].device
    source = torch.from_numpy(np.where(valid, start[:, None] + columns, 0)).to(device)
    valid_t = torch.from_numpy(valid).to(device)
    view: Batch = {}
    for key, values in batch.items():
        if key == "query_vectors":
            view[key] = values
            continue
        view[key] = torch.gather(values, 1, source).masked_fill(~valid_t, PAD if key != "query_index" else 0)
    if "dwell" in view:
        jitter = torch.from_numpy(rng.integers(-1, 2, size=(n, new_width))).to(device)
        jittered = (view["dwell"] + jitter).clamp(UNKNOWN + 1, TIME_VOCAB_SIZE - 1)
        known = view["dwell"] > UNKNOWN
        view["dwell"] = torch.where(known, jittered, view["dwell"])
    view, _ = mask_events(view, keep, mask_probability, rng) if mask_probability > 0 else (view, None)
    return view, keep
