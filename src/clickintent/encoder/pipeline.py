"""The encoder stage end to end on the sequence mart: train, embed, evaluate.

These are the functions the CLI (`clickintent encoder ...`) and the demo call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from clickintent.artifacts import atomic_write_json
from clickintent.encoder.artifacts import save_encoder
from clickintent.encoder.device import pretrain_batch_size, settings_device
from clickintent.encoder.embed import read_sequences
from clickintent.encoder.model import EncoderConfig, SessionEncoder, count_parameters
from clickintent.encoder.paths import EncoderPaths
from clickintent.encoder.tokens import (
    MiniLMQueryEmbedder,
    QueryVectorSource,
    TokenizedSessions,
    Vocabulary,
    fit_vocabulary,
    tokenize_sequences,
    validate_sequences,
)
from clickintent.encoder.train import OPTIONAL_LOSS_WEIGHTS, TrainConfig, TrainResult, build_model, fit, split_by_time
from clickintent.fit_window import CARD_FIELD, EVERY_SESSION, FitWindow, fit_window
from clickintent.settings import Settings


@dataclass(frozen=True)
class PretrainConfig:
    """Architecture and training defaults of the web/app session encoder (docs/design.md, "Encoder")."""

    max_len: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    dropout: float = 0.1
    pooling: str = "mean"
    use_queries: bool = True
    validation_fraction: float = 0.1
    min_page_count: int = 2
    n_oov_buckets: int = 64
    training: TrainConfig = field(default_factory=lambda: TrainConfig(objective="masked", max_epochs=8, batch_size=256, patience=2))

    def model_config(self, vocab_sizes: dict[str, int], query_dim: int) -> EncoderConfig:
        """The encoder this configuration trains, for a vocabulary and a query-vector width."""
        return EncoderConfig(
            vocab_sizes=vocab_sizes,
            query_dim=query_dim,
            max_len=self.max_len,
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            d_ff=self.d_ff,
            dropout=self.dropout,
            pooling=self.pooling,
            contrastive_dim=self.d_model if self.training.contrastive_weight > 0 else 0,
            mix_heads=self.training.alignment_weight > 0,
        )


def default_config(seed: int, device: str = "cpu") -> PretrainConfig:
    """The demo's configuration, seeded, for a resolved device ("cpu" or "cuda")."""
    return on_device(with_training(PretrainConfig(), seed=seed), device)


def on_device(config: PretrainConfig, device: str) -> PretrainConfig:
    """`config` trained on `device` ("cpu" or "cuda"): on CUDA with its larger batch
    (clickintent.encoder.device); on CPU unchanged but for the device named."""
    return with_training(config, device=device, batch_size=pretrain_batch_size(config.training.batch_size, device))


@dataclass
class PreparedSessions:
    """The sequence mart as training sees it: split by time, vocabulary, tokens."""

    frame: pd.DataFrame
    end: pd.Series
    train_rows: np.ndarray
    validation_rows: np.ndarray
    vocabulary: Vocabulary
    tokens: TokenizedSessions
    query_dim: int
    fit_window: FitWindow = EVERY_SESSION  # the sessions train and validation rows come from


def prepare_sessions(
    frame: pd.DataFrame,
    config: PretrainConfig,
    query_cache: Path | None,
    query_vectors: QueryVectorSource | None = None,
    fit_window: FitWindow = EVERY_SESSION,
) -> PreparedSessions:
    """Split the sessions `fit_window` keeps by session end (latest share for validation), fit the
    vocabulary on the training part only, tokenize every session (search queries through MiniLM,
    cached in `query_cache`, unless `query_vectors` are given)."""
    validate_sequences(frame)
    end = pd.to_datetime(frame["session_end_ts"], utc=True)
    fitted = fit_window.rows(end, "the encoder")
    train_fitted, validation_fitted = split_by_time(end.to_numpy()[fitted], config.validation_fraction)
    train_rows, validation_rows = fitted[train_fitted], fitted[validation_fitted]
    vocabulary = fit_vocabulary(frame.iloc[train_rows], config.min_page_count, n_oov_buckets=config.n_oov_buckets)
    if config.use_queries and query_vectors is None:
        query_vectors = MiniLMQueryEmbedder(query_cache)
    source = query_vectors if config.use_queries else None
    tokens = tokenize_sequences(frame, vocabulary, config.max_len, source)
    if isinstance(source, MiniLMQueryEmbedder):
        source.save()
    return PreparedSessions(
        frame, end, train_rows, validation_rows, vocabulary, tokens, source.dim if source is not None else 0, fit_window
    )


def _pretrain(
    prepared: PreparedSessions,
    paths: EncoderPaths,
    config: PretrainConfig,
    progress: bool,
    log: Callable[[str], None] | None,
    deadline: float | None = None,
) -> tuple[SessionEncoder, dict, TrainResult]:
    started = time.perf_counter()
    model_config = config.model_config(prepared.vocabulary.vocab_sizes(), prepared.query_dim)
    model = build_model(model_config, config.training.seed)
    result = fit(
        model,
        prepared.tokens.subset(prepared.train_rows),
        prepared.tokens.subset(prepared.validation_rows),
        config.training,
        paths.checkpoints,
        progress=progress,
        log=log,
        deadline=deadline,
    )
    end, train_rows, validation_rows = prepared.end, prepared.train_rows, prepared.validation_rows
    # save_encoder adds the version, a hash of the weights it writes (artifacts.py).
    card = {
        "name": "encoder",
        "created_at": datetime.now(UTC).isoformat(),
        "data_window": {
            "train_sessions_end": [str(end.iloc[train_rows].min()), str(end.iloc[train_rows].max())],
            "validation_sessions_end": [str(end.iloc[validation_rows].min()), str(end.iloc[validation_rows].max())],
            "sessions": {"train": int(len(train_rows)), "validation": int(len(validation_rows))},
        },
        CARD_FIELD: prepared.fit_window.card(),
        "features": list(model_config.channels)
        + (["search_query (MiniLM all-MiniLM-L6-v2, 384-d, projected)"] if model_config.query_dim else []),
        "embedding_dim": model_config.embedding_dim,
        "parameters": count_parameters(model),
        "architecture": json.loads(model_config.to_json()),
        "training": {
            **asdict(config.training),
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "stopped_by_budget": result.stopped_by_budget,
            "history": result.history,
        },
        "metrics": {"validation_loss": result.best_validation_loss},
        "seconds": round(time.perf_counter() - started, 1),
    }
    card = save_encoder(paths.model_dir, model, prepared.vocabulary, card)
    return model, card, result


def train_encoder(
    settings: Settings,
    config: PretrainConfig | None = None,
    *,
    sequences: Path | None = None,
    query_vectors: QueryVectorSource | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    budget_seconds: float | None = None,
) -> dict:
    """Pretrain on the sequence mart (or `sequences`) and save `<models dir>/encoder/`; returns the model card.

    Trains and validates on the sessions `settings.fit_sessions_before` keeps (clickintent.fit_window,
    recorded in the card); `clickintent encoder embed` embeds every session.

    `config` defaults to `default_config(settings.seed, <settings' encoder device>)`. Resumes from `<data dir>/encoder/checkpoints/`
    after an interruption; re-running a finished configuration on unchanged data only re-saves the
    best weights. `budget_seconds` bounds the epochs of this call (see train.fit); a later call
    continues the run.
    """
    paths = EncoderPaths(settings)
    config = config or default_config(settings.seed, settings_device(settings))
    frame = read_sequences(sequences or paths.sequences)
    prepared = prepare_sessions(frame, config, paths.query_cache, query_vectors, fit_window(settings))
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    _, card, _ = _pretrain(prepared, paths, config, progress, log, deadline)
    return card


def evaluate_encoder(settings: Settings, *, out_path: Path | None = None, sequences: Path | None = None) -> dict:
    """Probe the stored session embeddings against bag-of-nodes, within and across platforms; write
    `<data dir>/reports/encoder.json` (or `out_path`)."""
    from clickintent.encoder.artifacts import load_encoder_files

    paths = EncoderPaths(settings)
    frame = read_sequences(sequences or paths.sequences)
    stored_path = paths.session_embeddings
    if not stored_path.is_file():
        raise FileNotFoundError(f"{stored_path} not found: run `clickintent encoder embed` first")
    stored = pd.read_parquet(stored_path, columns=["session_id", "embedding"])
    by_id = dict(zip(stored["session_id"], stored["embedding"]))
    missing = (~frame["session_id"].isin(by_id)).sum()
    if missing:
        raise ValueError(f"{missing} sessions of the mart have no stored embedding: re-run `clickintent encoder embed`")
    embeddings = np.stack([np.asarray(by_id[s], dtype=np.float32) for s in frame["session_id"]])
    card = load_encoder_files(paths.model_dir).card
    return _probe_report(frame, embeddings, paths, card, out_path)


def _probe_report(frame: pd.DataFrame, embeddings: np.ndarray, paths: EncoderPaths, card: dict, out_path: Path | None = None) -> dict:
    from clickintent.encoder.evaluate import probe_embeddings
    from clickintent.taxonomy.io import TaxonomyPaths

    # The distilled intent distribution of the cross-platform probe: the taxonomy stage's labels.
    session_intents = TaxonomyPaths.from_settings(paths.settings).session_intents
    report = probe_embeddings(frame, embeddings, paths.ground_truth_dir, session_intents_path=session_intents)
    report["encoder"] = {
        "version": card.get("version"),
        "created_at": card.get("created_at"),
        "training": {
            k: card["training"].get(k) for k in ("objective", *OPTIONAL_LOSS_WEIGHTS, "best_epoch", "epochs_run", "stopped_by_budget")
        },
    }
    atomic_write_json(out_path or paths.report, report)
    return report


def with_training(config: PretrainConfig, **changes) -> PretrainConfig:
    """A copy of `config` with some TrainConfig fields changed (CLI options)."""
    return replace(config, training=replace(config.training, **changes))


@dataclass(frozen=True)
class EncoderStageSummary:
    """What the demo shows about the encoder stage."""

    version: str  # the stored encoder's card version, v1-<hash of its weights>
    epochs_run: int  # epochs completed in total (this call and earlier ones)
    epochs_this_call: int
    best_epoch: int
    stopped_by_budget: bool  # a rerun continues training from the checkpoint
    train_seconds: float  # the epochs of this call
    seconds: float  # the whole stage: read, tokenize, train, embed, probe
    sessions_embedded: int
    customer_rows: int
    embedding_macro_f1: float | None  # None when the data dir has no ground truth (not a synthetic world)
    bag_of_nodes_macro_f1: float | None
    report_path: Path | None


def run_encoder_stage(
    settings: Settings,
    budget_seconds: float | None = 75.0,
    config: PretrainConfig | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> EncoderStageSummary:
    """The demo's encoder stage: train (resuming from a checkpoint), embed every session, probe.

    Reads `<data dir>/marts/fct_session_sequences/`; writes `<models dir>/encoder/`,
    `<data dir>/embeddings/{session_embeddings,customer_web_embeddings}.parquet` (the Feast
    tables session_embedding and customer_web_embedding) and, when the data dir holds the
    synthetic world's ground truth, `<data dir>/reports/encoder.json`. The sessions are read and
    tokenized once for all three steps. `budget_seconds` bounds the training epochs, counted from
    the end of tokenizing (an epoch is not started if it would end after the budget; the first
    epoch of a fresh run always runs); None trains to max_epochs or early stopping.
    """
    started = time.perf_counter()
    paths = EncoderPaths(settings)
    config = config or default_config(settings.seed, settings_device(settings))
    frame = read_sequences(paths.sequences)
    prepared = prepare_sessions(frame, config, paths.query_cache, fit_window=fit_window(settings))
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    model, card, result = _pretrain(prepared, paths, config, progress, log, deadline)

    from clickintent.encoder.artifacts import StoredEncoder
    from clickintent.encoder.embed import SessionEmbedder, embed_tokens_with_progress, write_embedding_tables

    embedder = SessionEmbedder(
        StoredEncoder(model, prepared.vocabulary, card), threads=config.training.threads, device=config.training.device
    )
    embeddings = embed_tokens_with_progress(embedder, prepared.tokens, None, progress)
    _, _, customers = write_embedding_tables(frame, embeddings, settings, card["version"])
    report, report_path = None, None
    if (paths.ground_truth_dir / "session_intents.parquet").is_file():
        report_path = paths.report
        report = _probe_report(frame, embeddings, paths, card, report_path)
    elif log:
        log(f"no ground truth in {paths.ground_truth_dir}: the intent probe is skipped")
    return EncoderStageSummary(
        version=card["version"],
        epochs_run=result.epochs_run,
        epochs_this_call=result.epochs_this_call,
        best_epoch=result.best_epoch,
        stopped_by_budget=result.stopped_by_budget,
        train_seconds=round(
            sum(h["train_seconds"] + h.get("validation_seconds", 0.0) for h in result.history[-result.epochs_this_call :])
            if result.epochs_this_call
            else 0.0,
            1,
        ),
        seconds=round(time.perf_counter() - started, 1),
        sessions_embedded=len(frame),
        customer_rows=len(customers),
        embedding_macro_f1=report["embedding"]["macro_f1"] if report else None,
        bag_of_nodes_macro_f1=report["bag_of_taxonomy_nodes"]["macro_f1"] if report else None,
        report_path=report_path,
    )
