"""Every file the encoder stage reads or writes, derived from one Settings object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clickintent.features.paths import SESSION_SEQUENCES_MART, mart_file
from clickintent.settings import Settings

ENCODER_DIRNAME = "encoder"
# The MiniLM vectors of search queries seen so far, keyed by a hash of the query (no text).
QUERY_CACHE = "embeddings/query_embeddings.parquet"
# Per-epoch training state, so that an interrupted or budget-bounded run resumes.
CHECKPOINTS = "encoder/checkpoints"
REPORT = "encoder.json"


@dataclass(frozen=True)
class EncoderPaths:
    settings: Settings

    @property
    def model_dir(self) -> Path:
        """The stored encoder: weights, config, vocabulary and model card."""
        return self.settings.models_dir / ENCODER_DIRNAME

    @property
    def sequences(self) -> Path:
        return mart_file(self.settings, SESSION_SEQUENCES_MART)

    @property
    def checkpoints(self) -> Path:
        return self.settings.data_dir / CHECKPOINTS

    @property
    def query_cache(self) -> Path:
        return self.settings.data_dir / QUERY_CACHE

    @property
    def session_embeddings(self) -> Path:
        """The session_embedding feature table (declared in features/model_outputs.py)."""
        from clickintent.features.model_outputs import SESSION_EMBEDDING

        return SESSION_EMBEDDING.path(self.settings)

    @property
    def ground_truth_dir(self) -> Path:
        return self.settings.ground_truth_dir

    @property
    def report(self) -> Path:
        """The intent probe's report."""
        return self.settings.reports_dir / REPORT
