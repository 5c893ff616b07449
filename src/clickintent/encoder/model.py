"""The session encoder: a small Transformer over multi-channel event tokens.

Each event is the sum of one embedding per categorical channel (page, taxonomy node, top node,
event type, platform, dwell bucket, time-gap bucket; a channel is off when its vocabulary size is
0), a learned position embedding (position from the first event of the window, so a prefix sees
exactly the positions it saw in training) and, for search events, a linear projection of the
query's MiniLM vector. A post-LN Transformer encoder (PyTorch's fused inference kernel
serves it) mixes the events; the session embedding is a masked pooling of the outputs.
See docs/design.md ("Encoder") for the choices and docs/measurements.md ("Encoder") for the measurements behind them.

Heads:
- page head, tied to the page embedding table (masked modelling and next-event prediction);
- taxonomy node head (masked modelling);
- optional copy head for next-event prediction (a pointer over the session's own events, for
  repeat clicks), mixed with the page head by a learned gate; off by default: it did not help on
  YOOCHOOSE's validation split (Recall@20 0.6595 against 0.6616 without); the benchmark chooses
  it per training file (encoder/choice.py);
- optional contrastive projection (SimCLR-style, used only by the contrastive term; off by
  default: +0.0015 probe macro-F1 on the demo world for twice the training time);
- optional taxonomy-mix heads (`mix_heads`): linear maps from the pooled embedding to the
  session's distribution over taxonomy nodes and over top nodes, used only by the alignment
  term of training (train.alignment_loss). Like the other heads they are not part of the
  embedding: `embed` and the NumPy live pass never read them.

Token id conventions for every categorical channel: 0 = padding, 1 = masked.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

PAD = 0
MASK = 1
N_RESERVED = 2  # ids below this are PAD and MASK in every channel

# Channels summed into an event's token; "page" is required, the others are optional.
CATEGORICAL_CHANNELS = ("page", "node", "top_node", "event_type", "platform", "dwell", "gap")
# Channels hidden when an event is masked (the query vector is hidden too). Event type,
# platform, dwell and gap stay visible: they are the context the masked page is predicted from.
MASKED_CHANNELS = ("page", "node", "top_node")
# Channels whose per-session distribution the taxonomy-mix heads predict from the pooled embedding.
MIX_CHANNELS = ("node", "top_node")


@dataclass(frozen=True)
class EncoderConfig:
    vocab_sizes: dict[str, int]  # channel -> vocabulary size including PAD and MASK; 0 or absent = off
    query_dim: int = 0  # MiniLM: 384; 0 = no query channel
    max_len: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    dropout: float = 0.1
    pooling: str = "mean"  # "mean" | "max" | "mean_max" (mean_max halves each to keep d_model)
    causal: bool = False  # left-to-right attention (next-event training) instead of bidirectional
    copy_head: bool = False
    contrastive_dim: int = 0  # 0 = no contrastive projection
    # Taxonomy-mix heads on the pooled embedding (the identity-free alignment term); training only.
    mix_heads: bool = False
    extra: dict[str, object] = field(default_factory=dict)  # free-form provenance, kept in config.json

    def __post_init__(self) -> None:
        if self.vocab_sizes.get("page", 0) <= N_RESERVED:
            raise ValueError("vocab_sizes['page'] must exceed the 2 reserved ids")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.pooling not in ("mean", "max", "mean_max"):
            raise ValueError(f"unknown pooling {self.pooling!r}")
        if self.mix_heads and not any(self.vocab_sizes.get(c, 0) > 0 for c in MIX_CHANNELS):
            raise ValueError("mix_heads needs a taxonomy channel (node or top_node)")

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c for c in CATEGORICAL_CHANNELS if self.vocab_sizes.get(c, 0) > 0)

    @property
    def embedding_dim(self) -> int:
        return self.d_model

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EncoderConfig:
        return cls(**json.loads(text))

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> EncoderConfig:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


class SessionEncoder(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.embeddings = nn.ModuleDict({c: nn.Embedding(config.vocab_sizes[c], d, padding_idx=PAD) for c in config.channels})
        self.position = nn.Embedding(config.max_len, d)
        # No bias: a zero query vector (non-search events) must add nothing.
        self.query_projection = nn.Linear(config.query_dim, d, bias=False) if config.query_dim else None
        self.input_norm = nn.LayerNorm(d)
        self.input_dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d, config.n_heads, config.d_ff, config.dropout, activation="gelu", batch_first=True, norm_first=False
        )
        # Nested tensors measured slower than dense length-bucketed batches here (bench/encoder.py
        # on the demo world: 8.3k against 13.3k sessions/s for the model alone).
        self.transformer = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.page_bias = nn.Parameter(torch.zeros(config.vocab_sizes["page"]))
        self.node_head = nn.Linear(d, config.vocab_sizes["node"]) if "node" in config.channels else None
        if config.copy_head:
            self.copy_query = nn.Linear(d, d)
            self.copy_key = nn.Linear(d, d)
            self.copy_gate = nn.Linear(d, 1)
        self.contrastive_projection = (
            nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, config.contrastive_dim)) if config.contrastive_dim else None
        )
        self.reset_parameters()
        # Drawn after every other weight, so that the rest of the model starts where it would without them.
        self.mix_heads = (
            nn.ModuleDict({c: nn.Linear(d, config.vocab_sizes[c]) for c in MIX_CHANNELS if c in config.channels})
            if config.mix_heads
            else None
        )

    def reset_parameters(self) -> None:
        for module in self.embeddings.values():
            embedding: nn.Embedding = module  # type: ignore[assignment]
            nn.init.normal_(embedding.weight, std=0.02)
            with torch.no_grad():
                embedding.weight[PAD].zero_()
        nn.init.normal_(self.position.weight, std=0.02)

    # ---- encoding ----

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states (B, T, d) and the padding mask (B, T; True = padding)."""
        page = batch["page"]
        padding = page == PAD
        positions = torch.arange(page.shape[1], device=page.device).clamp_max(self.config.max_len - 1)
        x = self.position(positions)[None, :, :]
        for channel, embedding in self.embeddings.items():
            x = x + embedding(batch[channel])
        if self.query_projection is not None and "query_index" in batch:
            projected = self.query_projection(batch["query_vectors"])
            x = x + projected[batch["query_index"]]
        x = self.input_dropout(self.input_norm(x))
        # The layers are called directly: TransformerEncoder.forward only adds checks for
        # nested tensors (off, see above), which cost 0.12 of a live session's 0.47 ms forward
        # pass (bench/encoder.py, single-session latency).
        if self.config.causal:
            # Padding is left-aligned (after the events), so the causal mask alone keeps real
            # events from attending to it.
            length = page.shape[1]
            causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=page.device), diagonal=1)
            for layer in self.transformer.layers:
                x = layer(x, src_mask=causal, is_causal=True)
        else:
            for layer in self.transformer.layers:
                x = layer(x, src_key_padding_mask=padding)
        hidden = x
        # The nested-tensor path returns zeros at padding; the dense path returns junk there.
        hidden = hidden.masked_fill(padding[:, :, None], 0.0)
        return hidden, padding

    def pool(self, hidden: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        keep = (~padding).to(hidden.dtype)[:, :, None]
        count = keep.sum(dim=1).clamp_min(1.0)
        mean = (hidden * keep).sum(dim=1) / count
        if self.config.pooling == "mean":
            return mean
        maximum = hidden.masked_fill(padding[:, :, None], float("-inf")).amax(dim=1)
        maximum = torch.where(torch.isfinite(maximum), maximum, torch.zeros_like(maximum))
        if self.config.pooling == "max":
            return maximum
        half = self.config.d_model // 2
        return torch.cat([mean[:, :half], maximum[:, half:]], dim=1)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Session embeddings (B, embedding_dim)."""
        hidden, padding = self.encode(batch)
        return self.pool(hidden, padding)

    # ---- heads ----

    def page_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        page_table: nn.Embedding = self.embeddings["page"]  # type: ignore[assignment]
        return hidden @ page_table.weight.T + self.page_bias

    def node_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.node_head is None:
            raise RuntimeError("this encoder has no taxonomy node channel")
        return self.node_head(hidden)

    def next_page_log_probs(self, hidden: torch.Tensor, pages: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, T, vocab) of the page following each position.

        Without a copy head this is a log-softmax of the tied page head. With it, a learned gate
        mixes that distribution with a pointer distribution over the pages of the session up to
        and including the position (attention of the position over those states): repeat clicks,
        a quarter of YOOCHOOSE's, are predicted by pointing rather than by a 3,000-way softmax.
        """
        generate = F.log_softmax(self.page_logits(hidden), dim=-1)
        if not self.config.copy_head:
            return generate
        length = pages.shape[1]
        scores = self.copy_query(hidden) @ self.copy_key(hidden).transpose(1, 2) / math.sqrt(hidden.shape[-1])
        future = torch.triu(torch.ones(length, length, dtype=torch.bool, device=pages.device), diagonal=1)
        blocked = future[None, :, :] | (pages == PAD)[:, None, :]
        attention = scores.masked_fill(blocked, float("-inf")).softmax(dim=-1)
        attention = torch.nan_to_num(attention, nan=0.0)  # padding rows attend to nothing
        # One dtype for both under autocast (bf16 attention, fp32 log-softmax); a no-op in fp32.
        copy = torch.zeros_like(generate).scatter_add_(2, pages[:, None, :].expand(-1, length, -1), attention.to(generate.dtype))
        gate = torch.sigmoid(self.copy_gate(hidden))
        return torch.log(gate * generate.exp() + (1.0 - gate) * copy + 1e-9)

    def mix_logits(self, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits (B, vocab) of the session's distribution over each taxonomy channel's ids, from its embedding."""
        if self.mix_heads is None:
            raise RuntimeError("this encoder has no taxonomy-mix heads")
        return {channel: head(embeddings) for channel, head in self.mix_heads.items()}

    def contrastive(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.contrastive_projection is None:
            raise RuntimeError("this encoder has no contrastive projection")
        return F.normalize(self.contrastive_projection(embeddings), dim=-1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
