"""Self-supervised session encoder: tokens, model, pretraining, embeddings, probe, next-item benchmark.

Public API (torch is imported only when one of these is used):

- `run_encoder_stage(settings, budget_seconds=75.0, config=None, progress=False, log=None)`
  -> EncoderStageSummary: the demo's stage (train, resuming; embed; probe), tokenizing once
- `train_encoder(settings, config=None, budget_seconds=None, ...)` -> model card (dict)
- `embed_all(settings, sequences=None, ...)` -> EmbedSummary (writes both Parquet files)
- `load_session_embedder(settings, model_dir=None, threads=1)` -> SessionEmbedder, whose
  `embed_events(events)` embeds one live session from raw events
- `evaluate_encoder(settings, out_path=None)` -> probe report (writes reports/encoder.json)
- `run_benchmark(train_path, test_path, out_path, seed=7, threads=1, device="cpu")` -> next-item report,
  its settings chosen on the training file alone (encoder/choice.py)

Every path comes from the settings, through `EncoderPaths` (encoder/paths.py).
Where torch computes (`auto`, `cpu`, `cuda`): encoder/device.py, setting `encoder_device`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "run_encoder_stage": "clickintent.encoder.pipeline",
    "EncoderStageSummary": "clickintent.encoder.pipeline",
    "train_encoder": "clickintent.encoder.pipeline",
    "evaluate_encoder": "clickintent.encoder.pipeline",
    "PretrainConfig": "clickintent.encoder.pipeline",
    "EncoderPaths": "clickintent.encoder.paths",
    "embed_all": "clickintent.encoder.embed",
    "load_session_embedder": "clickintent.encoder.embed",
    "SessionEmbedder": "clickintent.encoder.embed",
    "run_benchmark": "clickintent.encoder.benchmark",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'clickintent.encoder' has no attribute {name!r}")
