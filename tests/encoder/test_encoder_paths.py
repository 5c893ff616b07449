"""The encoder stage finds every file from the settings, in the places the rest of the house declares."""

from __future__ import annotations

from pathlib import Path

from clickintent.encoder.paths import EncoderPaths
from clickintent.features.model_outputs import SESSION_EMBEDDING
from clickintent.settings import Settings


def test_every_encoder_path_follows_the_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models")
    paths = EncoderPaths(settings)
    assert paths.model_dir == tmp_path / "models" / "encoder"
    assert paths.sequences == settings.marts_dir / "fct_session_sequences.parquet"
    # The feature table the encoder writes is the one Feast reads.
    assert paths.session_embeddings == SESSION_EMBEDDING.path(settings)
    assert paths.report == settings.reports_dir / "encoder.json"
    for path in (paths.checkpoints, paths.query_cache, paths.ground_truth_dir):
        assert path.is_relative_to(settings.data_dir)
