"""Seeded training with per-epoch checkpoints, resume after interruption and early stopping.

Objectives:
- "masked": masked event modelling. ~20 % of events have their page, taxonomy nodes and query
  hidden; the loss is cross-entropy of the page head plus the taxonomy node head at those
  events. Optionally plus a contrastive (InfoNCE) term between the masked view and an augmented
  view (crop, mask, dwell jitter) of the same session. Optionally plus the alignment term
  (`alignment_weight`): the pooled embedding of the masked view predicts the session's own
  taxonomy mix (see alignment_loss). Optionally plus the cross-platform term
  (`cross_platform_weight`): a symmetric InfoNCE pairing each web session with the app sessions
  of the same dominant top node, and back (see cross_platform_infonce); no identity. Optionally
  plus the identity-free terms of encoder/alignment.py (`platform_adversary_weight`,
  `shared_view_weight`).
- "next": left-to-right next-page prediction at every position (the benchmark's objective).

Reproducibility: every random draw of epoch e (shuffling, masks, augmentations, dropout) is
seeded from (seed, e), so a run resumed at an epoch boundary continues exactly as an
uninterrupted run would. A checkpoint is written after every epoch (weights and optimizer as
safetensors, progress as JSON, each written atomically); training resumes
from it when the same configuration is trained again on the same data, and does nothing when
that configuration already finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.nn import functional as F

from clickintent.artifacts import atomic_file, atomic_write_json
from clickintent.encoder import alignment
from clickintent.encoder.batching import augment_view, collate, length_bucketed_batches, mask_events
from clickintent.encoder.device import autocast, to_device
from clickintent.encoder.model import N_RESERVED, EncoderConfig, SessionEncoder
from clickintent.encoder.tokens import APP, UNKNOWN, WEB, TokenizedSessions, session_platforms


@dataclass(frozen=True)
class TrainConfig:
    objective: Literal["masked", "next"] = "masked"
    max_epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    mask_probability: float = 0.2
    contrastive_weight: float = 0.0  # 0 = masked modelling only
    temperature: float = 0.1
    # Weight of the identity-free alignment term (alignment_loss): the pooled embedding predicts
    # the session's distribution over taxonomy nodes and top nodes, the vocabulary web and app
    # sessions share. 0 = off; > 0 needs a model with mix heads (EncoderConfig.mix_heads).
    alignment_weight: float = 0.0
    # Weight of the identity-free cross-platform contrastive term (cross_platform_infonce): web
    # and app sessions whose most frequent top node is the same are pulled together, all other
    # pairs of the two platforms pushed apart. 0 = off. No extra parameters.
    cross_platform_weight: float = 0.0
    # Identity-free remedies for an embedding organised by platform (encoder/alignment.py), 0 = off:
    # weight of the term leaving a platform classifier on the pooled embedding at even odds, and of
    # an InfoNCE between each session and its view with the platform-private inputs hidden.
    platform_adversary_weight: float = 0.0
    shared_view_weight: float = 0.0
    patience: int = 2  # epochs without validation improvement before stopping
    min_improvement: float = 1e-3  # smaller validation-loss gains count as no improvement
    seed: int = 7
    # torch intra-op threads. One: on the shared 2-core machine two threads made an epoch up to
    # 3x slower (bench/encoder.py measures both).
    threads: int = 1
    # Sort sessions by length inside pools of batches: less padding, faster epochs. Off gives
    # uniformly random batches.
    bucket_by_length: bool = True
    max_grad_norm: float = 1.0  # 0 = no clipping
    # "cosine": learning rate decays from learning_rate to 0 over max_epochs (per step);
    # "constant": no decay.
    lr_schedule: Literal["constant", "cosine"] = "constant"
    # Divide each batch's summed loss by a fixed expected target count instead of its own count,
    # so a target weighs the same in a batch of short sessions as in one of long sessions.
    # Length-sorted batches with a per-batch mean would weigh a target in a batch of short
    # sessions more than one in a batch of long sessions.
    equal_target_weights: bool = True
    # "cpu" or "cuda" (clickintent.encoder.device; resolve "auto" before building the config). On
    # CUDA batches run under bf16 autocast; weights are saved as CPU tensors either way. Speed,
    # not the model's definition: left out of the checkpoint fingerprint like `threads`.
    device: str = "cpu"


# The weights of the optional terms added to the objective's loss, 0 = off. The late ones came
# after checkpoints existed (training_fingerprint_settings leaves them out when off).
LATE_LOSS_WEIGHTS = ("alignment_weight", "cross_platform_weight", *alignment.IDENTITY_FREE_WEIGHTS)
OPTIONAL_LOSS_WEIGHTS = ("contrastive_weight", *LATE_LOSS_WEIGHTS)


@dataclass
class TrainResult:
    best_epoch: int
    best_validation_loss: float
    epochs_run: int
    stopped_early: bool
    history: list[dict] = field(default_factory=list)
    resumed_from_epoch: int | None = None
    seconds: float = 0.0
    # The deadline came before max_epochs or early stopping: a later call resumes from here.
    stopped_by_budget: bool = False
    epochs_this_call: int = 0


def split_by_time(end_timestamps: np.ndarray, validation_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the earliest (1 - f) sessions by end time for training, the latest f for validation."""
    order = np.argsort(np.asarray(end_timestamps), kind="stable")
    n_validation = int(round(len(order) * validation_fraction))
    if validation_fraction > 0 and n_validation == 0:
        n_validation = 1
    if n_validation >= len(order):
        raise ValueError(f"{len(order)} sessions are too few to hold out {validation_fraction:.0%} for validation")
    return np.sort(order[: len(order) - n_validation]), np.sort(order[len(order) - n_validation :])


def data_fingerprint(tokens: TokenizedSessions) -> str:
    digest = hashlib.sha256()
    digest.update(tokens.offsets.tobytes())
    for channel in sorted(tokens.channels):
        digest.update(channel.encode())
        digest.update(np.ascontiguousarray(tokens.channels[channel]).tobytes())
    digest.update(tokens.query_index.tobytes())
    return digest.hexdigest()[:16]


# ---- losses ----


# Each loss returns (sum of per-target losses, number of targets, extra term already averaged).
# The trainer divides the sum by a fixed expected target count per batch, so that every target
# weighs the same whatever batch it lands in (see TrainConfig.equal_target_weights).


def taxonomy_mix(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Each session's share of events per id (B, vocab_size) from a (B, T) id grid; PAD and MASK
    are not events (a session with none gets all zeros). The unknown node is an id like any other."""
    real = ids >= N_RESERVED
    counts = torch.zeros(ids.shape[0], vocab_size, dtype=torch.float32, device=ids.device)
    counts.scatter_add_(1, ids.long(), real.to(torch.float32))
    return counts / counts.sum(dim=1, keepdim=True).clamp_min(1.0)


def mix_divergence(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(target || softmax(logits)) per row (B,), with 0 log 0 = 0: zero exactly when the
    prediction equals the target, positive otherwise."""
    log_predicted = F.log_softmax(logits, dim=-1)
    log_target = torch.log(target.clamp_min(1e-12))
    return (target * (log_target - log_predicted)).where(target > 0, torch.zeros_like(target)).sum(dim=-1)


def alignment_loss(model: SessionEncoder, pooled: torch.Tensor, batch) -> torch.Tensor:
    """The identity-free alignment term: mean over sessions and taxonomy channels of
    KL(p_c || softmax(W_c e + b_c)), where e is the session's pooled embedding and p_c the
    session's own share of events per id of channel c (node, top node) from its unmasked
    tokens. No labels and no identity: only the taxonomy both platforms' sessions are mapped to."""
    terms = []
    for channel, logits in model.mix_logits(pooled).items():
        target = taxonomy_mix(batch[channel], logits.shape[-1])
        terms.append(mix_divergence(target, logits).mean())
    return torch.stack(terms).mean()


def dominant_ids(ids: torch.Tensor) -> torch.Tensor:
    """Each session's most frequent known id (B,) in a (B, T) id grid, the smallest on ties; -1
    for a session without one. PAD, MASK and the unknown id are not counted."""
    known = ids > UNKNOWN
    vocab = int(ids.max()) + 1 if ids.numel() else UNKNOWN + 1
    counts = torch.zeros(ids.shape[0], max(vocab, UNKNOWN + 1), dtype=torch.float32, device=ids.device)
    counts.scatter_add_(1, ids.long(), known.to(torch.float32))
    best = counts.argmax(dim=1)
    return torch.where(counts.amax(dim=1) > 0, best, torch.full_like(best, -1))


def cross_platform_infonce(embeddings: torch.Tensor, platforms: torch.Tensor, tops: torch.Tensor, temperature: float) -> torch.Tensor:
    """The identity-free cross-platform term over one batch of sessions.

    With z the L2-normalised embeddings, s(i, j) = z_i . z_j / temperature, for a web session i
    with positives P(i) = {app sessions j of the same dominant top node} and candidates A (every
    app session of the batch):

        l_web(i) = -log( sum_{j in P(i)} exp s(i, j) / sum_{j in A} exp s(i, j) ),

    l_app(j) likewise over the web sessions. The term is the mean of l_web over web sessions with
    at least one positive plus the same mean for app sessions, halved (one direction alone when
    only one has anchors; 0 when no session has a positive). No identity, no labels: only the
    taxonomy both platforms' sessions are mapped to.
    """
    web = platforms == WEB
    app = platforms == APP
    if not bool(web.any()) or not bool(app.any()):
        return embeddings.sum() * 0.0
    z = F.normalize(embeddings, dim=-1)
    scores = z[web] @ z[app].T / temperature
    web_tops, app_tops = tops[web], tops[app]
    positive = (web_tops[:, None] == app_tops[None, :]) & (web_tops[:, None] >= 0)
    terms = []
    for similarity, pairs in ((scores, positive), (scores.T, positive.T)):
        anchors = pairs.any(dim=1)
        if not bool(anchors.any()):
            continue
        similarity, pairs = similarity[anchors], pairs[anchors]
        numerator = torch.logsumexp(similarity.masked_fill(~pairs, float("-inf")), dim=1)
        terms.append((torch.logsumexp(similarity, dim=1) - numerator).mean())
    if not terms:
        return embeddings.sum() * 0.0
    return torch.stack(terms).mean()


def cross_platform_loss(model: SessionEncoder, pooled: torch.Tensor, batch, config: TrainConfig, partner=None) -> torch.Tensor:
    """cross_platform_infonce over the batch's pooled embeddings, plus those of `partner` (an
    extra batch of the platform the batch lacks, embedded unmasked) when given. Platforms and
    dominant top nodes come from each session's own unmasked tokens."""
    platforms, tops = session_platforms(batch), dominant_ids(batch["top_node"])
    if partner is not None:
        pooled = torch.cat([pooled, model.embed(partner)])
        platforms = torch.cat([platforms, session_platforms(partner)])
        tops = torch.cat([tops, dominant_ids(partner["top_node"])])
    return cross_platform_infonce(pooled, platforms, tops, config.temperature)


def any_on(config: TrainConfig, weights: tuple[str, ...]) -> bool:
    """Whether any of the named loss weights of `config` is above 0."""
    return any(getattr(config, name) > 0 for name in weights)


def late_terms(model: SessionEncoder, pooled: torch.Tensor | None, batch, config: TrainConfig, partner=None) -> torch.Tensor:
    """The weighted terms of LATE_LOSS_WEIGHTS over the batch's pooled embeddings (None when
    all are off: then 0)."""
    extra = torch.zeros(())
    if config.alignment_weight > 0:
        extra = extra + config.alignment_weight * alignment_loss(model, pooled, batch)
    if config.cross_platform_weight > 0:
        extra = extra + config.cross_platform_weight * cross_platform_loss(model, pooled, batch, config, partner)
    if any_on(config, alignment.IDENTITY_FREE_WEIGHTS):
        extra = extra + alignment.identity_free_terms(model, pooled, batch, config)
    return extra


def masked_loss(model: SessionEncoder, batch, lengths, config: TrainConfig, rng: np.random.Generator, partner=None):
    masked, positions = mask_events(batch, lengths, config.mask_probability, rng)
    hidden, padding = model.encode(masked)
    states = hidden[positions]
    total = F.cross_entropy(model.page_logits(states), batch["page"][positions], reduction="sum")
    if model.node_head is not None:
        total = total + F.cross_entropy(model.node_logits(states), batch["node"][positions], reduction="sum")
    # Pooled once for every optional term, and not at all when they are off (the default).
    pooled = model.pool(hidden, padding) if any_on(config, OPTIONAL_LOSS_WEIGHTS) else None
    extra = torch.zeros(())
    if config.contrastive_weight > 0 and len(lengths) > 1:
        view, _ = augment_view(batch, lengths, rng)
        first = model.contrastive(pooled)
        second = model.contrastive(model.embed(view))
        logits = first @ second.T / config.temperature
        labels = torch.arange(len(lengths), device=logits.device)
        contrast = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        extra = config.contrastive_weight * contrast
    return total, int(positions.sum()), extra + late_terms(model, pooled, batch, config, partner)


def next_event_loss(model: SessionEncoder, batch, lengths, config: TrainConfig, rng: np.random.Generator, partner=None):  # noqa: ARG001 - LOSSES' signature
    hidden, padding = model.encode(batch)
    targets = batch["page"][:, 1:]
    has_next = targets > 0
    if model.config.copy_head:
        log_probs = model.next_page_log_probs(hidden, batch["page"])[:, :-1]
        total = F.nll_loss(log_probs[has_next], targets[has_next], reduction="sum")
    else:
        total = F.cross_entropy(model.page_logits(hidden[:, :-1][has_next]), targets[has_next], reduction="sum")
    pooled = model.pool(hidden, padding) if any_on(config, LATE_LOSS_WEIGHTS) else None
    return total, int(has_next.sum()), late_terms(model, pooled, batch, config, partner)


LOSSES: dict[str, Callable] = {"masked": masked_loss, "next": next_event_loss}


def first_event_platforms(tokens: TokenizedSessions) -> np.ndarray:
    """Each session's platform token id from its first event (UNKNOWN for an empty session)."""
    if "platform" not in tokens.channels:
        raise ValueError("cross_platform_weight > 0 needs the platform channel")
    lengths = tokens.lengths
    first = tokens.channels["platform"][np.minimum(tokens.offsets[:-1], max(len(tokens.channels["platform"]) - 1, 0))]
    return np.where(lengths > 0, first, UNKNOWN)


def partner_sessions(batch_platforms: np.ndarray, pools: dict[int, np.ndarray], size: int, rng: np.random.Generator) -> np.ndarray | None:
    """The extra sessions the cross-platform term adds to a batch: when the batch holds fewer than
    `size` sessions of web or of app, `size` sessions (without replacement, at most the pool) drawn
    with `rng` from the training sessions of the platform it holds fewer of; None otherwise."""
    counts = {platform: int((batch_platforms == platform).sum()) for platform in (WEB, APP)}
    lacking = min(counts, key=lambda platform: (counts[platform], platform))
    pool = pools.get(lacking, np.zeros(0, np.int64))
    if counts[lacking] >= size or len(pool) == 0:
        return None
    return np.sort(rng.choice(pool, size=min(size, len(pool)), replace=False))


def expected_targets_per_session(lengths: np.ndarray, config: TrainConfig) -> float:
    if config.objective == "next":
        return float(np.mean(lengths - 1))
    return float(np.mean(np.maximum(1.0, config.mask_probability * lengths)))


def validation_loss(model: SessionEncoder, tokens: TokenizedSessions, config: TrainConfig) -> float:
    """Mean loss per target over the validation sessions with fixed masks and none of the optional
    terms (OPTIONAL_LOSS_WEIGHTS): early stopping compares the same quantity whatever their weights."""
    plain = replace(config, **dict.fromkeys(OPTIONAL_LOSS_WEIGHTS, 0.0))
    rng = np.random.default_rng([config.seed, 999_983])
    lengths = tokens.lengths
    usable = np.flatnonzero(lengths >= (2 if config.objective == "next" else 1))
    if len(usable) == 0:
        raise ValueError("no validation session is long enough for the objective")
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for sessions in length_bucketed_batches(lengths[usable], config.batch_size, None):
            sessions = usable[sessions]
            batch, batch_lengths = collate(tokens, sessions)
            with autocast(config.device):
                loss_sum, n_targets, _ = LOSSES[config.objective](model, to_device(batch, config.device), batch_lengths, plain, rng)
            total += float(loss_sum)
            count += n_targets
    return total / max(count, 1)


# ---- checkpoints (no pickle: tensors in safetensors, the rest in JSON) ----


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    with atomic_file(path) as temporary:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(temporary))


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"{index}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, {"param_groups": state["param_groups"]}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


@dataclass(frozen=True)
class CheckpointPaths:
    directory: Path

    @property
    def state(self) -> Path:
        return self.directory / "state.json"

    @property
    def last(self) -> Path:
        return self.directory / "last.safetensors"

    @property
    def best(self) -> Path:
        return self.directory / "best.safetensors"

    @property
    def optimizer(self) -> Path:
        return self.directory / "optimizer.safetensors"


def training_fingerprint_settings(config: TrainConfig) -> dict:
    """The training settings a checkpoint's fingerprint covers.

    The thread count and the device change speed, not the model: a run may resume with another
    one (and a CPU run's fingerprint is the one it had before the device option). The loss
    weights added after checkpoints existed (LATE_LOSS_WEIGHTS) are left out at 0, so a
    checkpoint written before they existed still resumes.
    """
    settings = {k: v for k, v in asdict(config).items() if k not in ("threads", "device")}
    for late in LATE_LOSS_WEIGHTS:
        if settings[late] == 0:
            del settings[late]
    return settings


def model_fingerprint_json(config: EncoderConfig) -> str:
    """The architecture a checkpoint's fingerprint covers: the config's JSON, without mix_heads
    when off (added after checkpoints existed; the same rule as training_fingerprint_settings)."""
    fields = asdict(config)
    if not fields["mix_heads"]:
        del fields["mix_heads"]
    return json.dumps(fields, indent=2, sort_keys=True)


def fit(
    model: SessionEncoder,
    train_tokens: TokenizedSessions,
    validation_tokens: TokenizedSessions | None,
    config: TrainConfig,
    checkpoint_dir: Path,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    deadline: float | None = None,
) -> TrainResult:
    """Train `model` in place; on return it holds the best epoch's weights.

    Without validation sessions there is no early stopping: all `max_epochs` run and the last
    epoch is kept (the benchmark trains so, with an epoch count tuned on a validation split).

    `deadline` (a `time.monotonic()` instant) bounds this call: an epoch is not started when the
    slowest epoch so far would end after it (the first epoch of a fresh run always runs). The
    deadline is not part of the configuration fingerprint, so the next call resumes where this
    one stopped, until max_epochs or early stopping finishes the run.
    """
    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    model.to(config.device)
    paths = CheckpointPaths(Path(checkpoint_dir))
    paths.directory.mkdir(parents=True, exist_ok=True)
    if config.alignment_weight > 0 and model.mix_heads is None:
        raise ValueError("alignment_weight > 0 needs an encoder with taxonomy-mix heads (EncoderConfig.mix_heads)")
    settings_that_shape_the_model = training_fingerprint_settings(config)
    fingerprint = hashlib.sha256(
        (
            model_fingerprint_json(model.config)
            + json.dumps(settings_that_shape_the_model, sort_keys=True)
            + data_fingerprint(train_tokens)
            + (data_fingerprint(validation_tokens) if validation_tokens is not None else "-")
        ).encode()
    ).hexdigest()[:16]
    alignment.attach_platform_adversary(model, config.platform_adversary_weight, config.seed)
    # The classifier leaves the caller's model however fit ends (an interrupted run included).
    try:
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        state: dict[str, Any] = {
            "fingerprint": fingerprint,
            "epochs_completed": 0,
            "best_epoch": 0,
            "best_validation_loss": None,
            "epochs_without_improvement": 0,
            "finished": False,
            "history": [],
        }
        resumed_from = None
        if paths.state.is_file():
            previous = json.loads(paths.state.read_text(encoding="utf-8"))
            if previous.get("fingerprint") == fingerprint and paths.last.is_file():
                state = previous
                resumed_from = state["epochs_completed"]
                model.load_state_dict(load_file(str(paths.last)))
                if paths.optimizer.is_file():
                    _restore_optimizer(optimizer, load_file(str(paths.optimizer)), state["optimizer"])
                if log:
                    log(f"resuming after epoch {resumed_from}" if not state["finished"] else "already trained; loading best")
            elif log:
                log("checkpoint belongs to another configuration or data; starting fresh")

        train_lengths = train_tokens.lengths
        usable = np.flatnonzero(train_lengths >= (2 if config.objective == "next" else 1))
        loss_fn = LOSSES[config.objective]
        normalizer = config.batch_size * expected_targets_per_session(train_lengths[usable], config)
        if config.cross_platform_weight > 0:
            # Positions in `usable` per platform, for the partner batches of single-platform batches.
            usable_platforms = first_event_platforms(train_tokens)[usable]
            partner_pools = {platform: np.flatnonzero(usable_platforms == platform) for platform in (WEB, APP)}
            partner_size = max(1, config.batch_size // 4)
        epoch = state["epochs_completed"]
        stopped_by_budget = False
        epochs_this_call = 0
        while not state["finished"] and epoch < config.max_epochs:
            if deadline is not None and epoch > 0:
                slowest = max(h["train_seconds"] + h.get("validation_seconds", 0.0) for h in state["history"])
                if time.monotonic() + slowest > deadline:
                    stopped_by_budget = True
                    if log:
                        log(f"time budget reached after epoch {epoch}; a later run resumes from it")
                    break
            epoch += 1
            epochs_this_call += 1
            rng = np.random.default_rng([config.seed, epoch])
            torch.manual_seed(config.seed * 100_003 + epoch)
            model.train()
            batches = length_bucketed_batches(train_lengths[usable], config.batch_size, rng, sort=config.bucket_by_length)
            epoch_start = time.perf_counter()
            running, seen = 0.0, 0
            steps_per_epoch = len(batches)
            bar = _progress(progress)
            with bar as live:
                task = live.add_task("train", total=len(batches)) if live else None
                for step, positions in enumerate(batches):
                    if config.lr_schedule == "cosine":
                        progress_share = ((epoch - 1) * steps_per_epoch + step) / (config.max_epochs * steps_per_epoch)
                        for group in optimizer.param_groups:
                            group["lr"] = config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress_share))
                    sessions = usable[positions]
                    batch, lengths = collate(train_tokens, sessions)
                    batch = to_device(batch, config.device)
                    partner = None
                    if config.cross_platform_weight > 0:
                        extra_positions = partner_sessions(usable_platforms[positions], partner_pools, partner_size, rng)
                        if extra_positions is not None:
                            partner, _ = collate(train_tokens, usable[extra_positions])
                            partner = to_device(partner, config.device)
                    with autocast(config.device):
                        loss_sum, n_targets, extra = loss_fn(model, batch, lengths, config, rng, partner=partner)
                    denominator = normalizer if config.equal_target_weights else max(n_targets, 1)
                    loss = loss_sum / denominator + extra
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if config.max_grad_norm > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    running += float(loss_sum.detach())
                    seen += n_targets
                    if live:
                        live.update(task, advance=1, description=f"epoch {epoch} loss {running / seen:.3f}")
            train_seconds = time.perf_counter() - epoch_start
            validation_start = time.perf_counter()
            if validation_tokens is not None:
                validation = validation_loss(model, validation_tokens, config)
                best = state["best_validation_loss"]
                improved = best is None or validation < best - config.min_improvement
            else:
                validation, improved = None, True
            record = {
                "epoch": epoch,
                "train_loss": running / max(seen, 1),
                "validation_loss": validation,
                "train_seconds": train_seconds,
                "validation_seconds": time.perf_counter() - validation_start,
            }
            state["history"].append(record)
            if improved:
                state.update(best_epoch=epoch, best_validation_loss=validation, epochs_without_improvement=0)
                _save_tensors(model.state_dict(), paths.best)
            else:
                state["epochs_without_improvement"] += 1
            tensors, meta = _optimizer_tensors(optimizer)
            _save_tensors(tensors, paths.optimizer)
            _save_tensors(model.state_dict(), paths.last)
            state["optimizer"] = meta
            state["epochs_completed"] = epoch
            stop = state["epochs_without_improvement"] >= config.patience
            state["finished"] = stop or epoch >= config.max_epochs
            state["stopped_early"] = bool(stop)
            atomic_write_json(paths.state, state, sort_keys=True)
            if log:
                shown = f"{validation:.4f}" if validation is not None else "-"
                log(
                    f"epoch {epoch}: train {record['train_loss']:.4f}  validation {shown}  ({train_seconds:.1f}s)"
                    + ("  *" if improved else "")
                )
        if paths.best.is_file():
            model.load_state_dict(load_file(str(paths.best)))
    finally:
        alignment.detach_platform_adversary(model)
    model.cpu().eval()  # callers embed, score and save on CPU unless they move it themselves
    return TrainResult(
        best_epoch=state["best_epoch"],
        best_validation_loss=state["best_validation_loss"],
        epochs_run=state["epochs_completed"],
        stopped_early=bool(state.get("stopped_early", False)),
        history=state["history"],
        resumed_from_epoch=resumed_from,
        seconds=time.perf_counter() - started,
        stopped_by_budget=stopped_by_budget,
        epochs_this_call=epochs_this_call,
    )


class _NoProgress:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _progress(enabled: bool):
    if not enabled:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)


def build_model(config: EncoderConfig, seed: int) -> SessionEncoder:
    """A freshly initialised encoder; the seed fixes the initial weights."""
    torch.manual_seed(seed)
    return SessionEncoder(config)
