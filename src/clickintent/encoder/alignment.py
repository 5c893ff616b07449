"""Identity-free remedies for an encoder organised by platform (training only).

Web and app sessions share no page id and almost no view event type, and every event carries a
platform token: the pooled embedding tells the platforms apart perfectly, and a third of its
variance is the platform (docs/measurements.md, "Why the embedding stays organised by
platform"). Two terms, both off by default and neither using any identity:

- the platform adversary (`platform_adversary_weight`): a small classifier learns the session's
  platform from its pooled embedding while the encoder learns to leave it at even odds (domain
  confusion, Tzeng et al. 2015; see platform_adversary_loss for why not a gradient reversal).
  The classifier is attached to the model during `fit` and removed before the encoder is saved:
  the stored encoder never holds it;
- the shared view (`shared_view_weight`): each session is also encoded with its platform-private
  inputs hidden (page or screen id, platform, the view event type), keeping what both platforms
  share (taxonomy node, top node, the other event types, dwell, gap, search text); a symmetric
  InfoNCE pulls each session's embedding to its own shared view and away from the others', so
  the embedding must be readable from the inputs both platforms have.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from clickintent.encoder.model import MASK, PAD, SessionEncoder
from clickintent.encoder.tokens import APP, UNKNOWN, WEB, session_platforms
from clickintent.events.contract import EVENT_TYPES

# Inputs that only one platform has: every page id is a web page or an app screen, and the
# platform token says it outright. Hidden whole in the shared view.
PLATFORM_PRIVATE_CHANNELS = ("page", "platform")
# Event types each platform has its own one of (a web page rendered, an app screen shown): hidden
# in the shared view; click, search, calculator and forms stay.
PLATFORM_VIEW_EVENT_TYPES = ("page_view", "screen_view")
# Their ids, as every Vocabulary numbers the contract's event types (tokens.Vocabulary).
PLATFORM_VIEW_EVENT_IDS = tuple(UNKNOWN + 1 + EVENT_TYPES.index(t) for t in PLATFORM_VIEW_EVENT_TYPES)
# The attribute the platform classifier lives under while the encoder trains.
ADVERSARY_ATTRIBUTE = "platform_adversary"
# The TrainConfig weights of this module's terms (identity_free_terms), 0 = off.
IDENTITY_FREE_WEIGHTS = ("platform_adversary_weight", "shared_view_weight")


def platform_classifier(dim: int) -> nn.Module:
    """The adversary: pooled embedding -> logit of "web" (one hidden layer)."""
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))


def attach_platform_adversary(model: SessionEncoder, weight: float, seed: int) -> None:
    """Give `model` the platform classifier when `weight` > 0 (before its optimizer is built, so
    the classifier trains with it and its weights ride in the checkpoints). Its initial weights
    come from `seed` without touching the global generator."""
    if weight <= 0 or hasattr(model, ADVERSARY_ATTRIBUTE):
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = platform_classifier(model.config.embedding_dim)
    device = next(model.parameters()).device
    model.add_module(ADVERSARY_ATTRIBUTE, classifier.to(device))


def detach_platform_adversary(model: SessionEncoder) -> None:
    """Remove the classifier, so the saved encoder is the plain architecture its config describes."""
    if hasattr(model, ADVERSARY_ATTRIBUTE):
        delattr(model, ADVERSARY_ATTRIBUTE)


def platform_adversary_loss(model: SessionEncoder, pooled: torch.Tensor, platforms: torch.Tensor, weight: float) -> torch.Tensor:
    """The adversarial pair over the web and app sessions of the batch: the attached classifier's
    cross-entropy on their true platform, from embeddings detached from the encoder (it trains
    the classifier only), plus `weight` times the cross-entropy of the same classifier, its
    weights frozen, against an even 1/2 (it trains the encoder only: to leave the classifier
    unable to tell). Confusion rather than a reversed gradient: maximising the classifier's loss
    is also won by making it confidently wrong, which moves the platforms apart again.
    0 when the batch has no web or app session."""
    classifier = getattr(model, ADVERSARY_ATTRIBUTE, None)
    if classifier is None:
        raise RuntimeError("platform_adversary_weight > 0 needs the classifier attached (attach_platform_adversary)")
    known = (platforms == WEB) | (platforms == APP)
    if not bool(known.any()):
        return pooled.sum() * 0.0
    pooled, is_web = pooled[known], (platforms[known] == WEB).to(pooled.dtype)
    classify = F.binary_cross_entropy_with_logits(classifier(pooled.detach()).squeeze(-1), is_web)
    frozen = {name: parameter.detach() for name, parameter in classifier.named_parameters()}
    confused = torch.func.functional_call(classifier, frozen, (pooled,)).squeeze(-1)
    confuse = F.binary_cross_entropy_with_logits(confused, torch.full_like(is_web, 0.5))
    return classify + weight * confuse


def shared_view(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch with every platform-private input hidden (MASK at real events, padding kept):
    page and platform ids, the view event types and nothing else; taxonomy nodes, the other
    event types, dwell, gap and search text stay."""
    view = dict(batch)
    real = batch["page"] != PAD
    for channel in PLATFORM_PRIVATE_CHANNELS:
        if channel in batch:
            view[channel] = batch[channel].masked_fill(real, MASK)
    if "event_type" in batch:
        is_view = torch.zeros_like(real)
        for event_id in PLATFORM_VIEW_EVENT_IDS:
            is_view |= batch["event_type"] == event_id
        view["event_type"] = batch["event_type"].masked_fill(is_view & real, MASK)
    return view


def shared_view_infonce(model: SessionEncoder, pooled: torch.Tensor, batch: dict[str, torch.Tensor], temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between the sessions' embeddings (`pooled`) and the embeddings of their
    shared views: session i's positive is its own shared view, the batch's others are negatives.
    0 for a batch of one session."""
    if pooled.shape[0] < 2:
        return pooled.sum() * 0.0
    full = F.normalize(pooled, dim=-1)
    shared = F.normalize(model.embed(shared_view(batch)), dim=-1)
    logits = full @ shared.T / temperature
    labels = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def identity_free_terms(model: SessionEncoder, pooled: torch.Tensor, batch: dict[str, torch.Tensor], config) -> torch.Tensor:
    """The extra loss of this module's terms for one batch (`config` a train.TrainConfig; `pooled`
    the embeddings the objective computed, `batch` the unmasked tokens); 0 when both are off."""
    total = torch.zeros((), device=pooled.device)
    if config.platform_adversary_weight > 0:
        total = total + platform_adversary_loss(model, pooled, session_platforms(batch), config.platform_adversary_weight)
    if config.shared_view_weight > 0:
        total = total + config.shared_view_weight * shared_view_infonce(model, pooled, batch, config.temperature)
    return total
