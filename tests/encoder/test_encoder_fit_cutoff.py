"""fit_sessions_before: the encoder pretrains and validates only on sessions that end before the
cutoff, still tokenizes every session, and its card records the cutoff."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from clickintent.encoder.paths import EncoderPaths
from clickintent.encoder.pipeline import PretrainConfig, prepare_sessions, train_encoder
from clickintent.encoder.synthetic import write_synthetic_sequences
from clickintent.encoder.tokens import FixedQueryVectors
from clickintent.fit_window import CARD_FIELD, FitWindow, FitWindowError
from clickintent.settings import Settings, load_settings
from support.tiny_encoder import TINY

CONFIG = PretrainConfig(max_len=32, d_model=32, n_heads=2, d_ff=64, training=replace(TINY, max_epochs=1))


@pytest.fixture(scope="module")
def sequences(tmp_path_factory) -> tuple[pd.DataFrame, pd.Timestamp]:
    """400 synthetic sessions and a cutoff at the median session end."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("cutoff_sequences"))
    write_synthetic_sequences(settings, 400, seed=11)
    frame = pq.read_table(EncoderPaths(settings).sequences).to_pandas()
    cutoff = pd.to_datetime(frame["session_end_ts"], utc=True).quantile(0.5).floor("min")
    return frame, cutoff


def _ends(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["session_end_ts"], utc=True)


def test_train_and_validation_rows_end_before_the_cutoff_and_every_session_is_tokenized(sequences) -> None:
    frame, cutoff = sequences
    end = _ends(frame)
    everything = prepare_sessions(frame, CONFIG, None, FixedQueryVectors(dim=16))
    assert end.iloc[everything.validation_rows].max() >= cutoff  # without a cutoff the latest sessions validate

    window = FitWindow(cutoff.isoformat(), cutoff)
    prepared = prepare_sessions(frame, CONFIG, None, FixedQueryVectors(dim=16), window)
    fitted = np.concatenate([prepared.train_rows, prepared.validation_rows])
    assert sorted(fitted.tolist()) == np.flatnonzero((end < cutoff).to_numpy()).tolist()
    assert end.iloc[prepared.train_rows].max() <= end.iloc[prepared.validation_rows].min()  # still split by time
    assert len(prepared.tokens.lengths) == len(frame)  # embedded later: every session


def test_sessions_after_the_cutoff_do_not_change_the_trained_encoder(sequences, tmp_path) -> None:
    """The same cutoff on the whole mart and on the mart without its later sessions trains the
    same weights and vocabulary: nothing of a later session reaches training."""
    frame, cutoff = sequences
    early = frame[(_ends(frame) < cutoff).to_numpy()]
    cards = {}
    for name, part in (("whole", frame), ("early_only", early)):
        path = tmp_path / name / "fct_session_sequences.parquet"
        path.parent.mkdir()
        part.to_parquet(path, index=False)
        settings = load_settings(
            environ={}, data_dir=tmp_path / name / "data", models_dir=tmp_path / name / "models", fit_sessions_before=cutoff.isoformat()
        )
        cards[name] = train_encoder(settings, CONFIG, sequences=path, query_vectors=FixedQueryVectors(dim=16), progress=False)
        cards[name]["vocabulary"] = (EncoderPaths(settings).model_dir / "vocab.json").read_text()

    whole, early_only = cards["whole"], cards["early_only"]
    assert whole["weights_sha256"] == early_only["weights_sha256"]
    assert whole["vocabulary"] == early_only["vocabulary"]
    assert whole[CARD_FIELD] == {"setting": cutoff.isoformat(), "before": cutoff.isoformat()}
    assert pd.Timestamp(whole["data_window"]["validation_sessions_end"][1]) < cutoff
    assert whole["data_window"]["sessions"]["train"] + whole["data_window"]["sessions"]["validation"] == len(early)


def test_a_cutoff_before_every_session_is_a_clear_error(sequences) -> None:
    frame, _ = sequences
    first = _ends(frame).min()
    with pytest.raises(FitWindowError, match="keeps none of the 400 sessions the encoder could fit on"):
        prepare_sessions(frame, CONFIG, None, FixedQueryVectors(dim=16), FitWindow("2000-01-01T00:00:00+00:00", first))
