"""fit_sessions_before: the taxonomy, its offline teacher's page weights and the distilled
classifier are fitted only on sessions that end before the cutoff; every session is still
labelled, and the classifier's card records the cutoff. Slow: two offline taxonomy runs on a
small synthetic world (MiniLM once per process)."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from clickintent.fit_window import CARD_FIELD
from clickintent.settings import load_settings
from clickintent.taxonomy.io import TaxonomyPaths
from clickintent.taxonomy.model import Taxonomy
from clickintent.taxonomy.pipeline import run_taxonomy_stage
from support.taxonomy_fixtures import build_small_world

pytestmark = pytest.mark.slow
MART = "fct_session_sequences.parquet"


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """The same world twice with a cutoff at the median session end: once whole, once with every
    later session removed from the session mart. Returns (cutoff, whole settings, early-only settings)."""
    root = tmp_path_factory.mktemp("taxonomy_cutoff")
    base = load_settings(environ={}, data_dir=root / "base", models_dir=root / "base_models")
    build_small_world(base, target_events=40_000)
    sessions = pq.read_table(base.marts_dir / MART).to_pandas()
    cutoff = pd.to_datetime(sessions["session_end_ts"], utc=True).quantile(0.5).floor("min")
    worlds = {}
    for name in ("whole", "early_only"):
        shutil.copytree(base.data_dir, root / name)
        worlds[name] = load_settings(
            environ={}, data_dir=root / name, models_dir=root / f"{name}_models", fit_sessions_before=cutoff.isoformat()
        )
    early = sessions[(pd.to_datetime(sessions["session_end_ts"], utc=True) < cutoff).to_numpy()]
    early.to_parquet(worlds["early_only"].marts_dir / MART, index=False)
    for settings in worlds.values():
        run_taxonomy_stage(settings, evaluate=False)
    return cutoff, worlds["whole"], worlds["early_only"], sessions


def _read(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def test_sessions_after_the_cutoff_change_nothing_that_is_fitted(worlds) -> None:
    """Generation, the page and query maps, the teacher's labels of the sessions fitted on and the
    classifier's weights are the same whether the later sessions exist or not."""
    _, whole, early_only, _ = worlds
    paths, early_paths = TaxonomyPaths.from_settings(whole), TaxonomyPaths.from_settings(early_only)
    assert Taxonomy.load(paths.taxonomy).same_content(Taxonomy.load(early_paths.taxonomy))
    for name in ("page_assignments", "page_map", "query_map"):
        pd.testing.assert_frame_equal(_read(getattr(paths, name)), _read(getattr(early_paths, name)))
    early_labels = _read(early_paths.teacher_labels)
    labels = _read(paths.teacher_labels)
    pd.testing.assert_frame_equal(labels[labels["session_id"].isin(early_labels["session_id"])].reset_index(drop=True), early_labels)
    for name in ("weights.safetensors", "features.json"):
        assert (paths.classifier_dir / name).read_bytes() == (early_paths.classifier_dir / name).read_bytes(), name


def test_every_session_is_labelled_and_the_card_records_the_cutoff(worlds) -> None:
    cutoff, whole, _, sessions = worlds
    paths = TaxonomyPaths.from_settings(whole)
    later = set(sessions.loc[(pd.to_datetime(sessions["session_end_ts"], utc=True) >= cutoff).to_numpy(), "session_id"])
    assert later
    assert set(_read(paths.session_intents)["session_id"]) == set(sessions["session_id"])
    assert later & set(_read(paths.teacher_labels)["session_id"])  # the offline teacher applies to later sessions too
    examples = {example for node in Taxonomy.load(paths.taxonomy).nodes for example in node.examples}
    assert examples and not examples & later

    card = json.loads((paths.classifier_dir / "model_card.json").read_text())
    assert card[CARD_FIELD] == {"setting": cutoff.isoformat(), "before": cutoff.isoformat()}
    assert pd.Timestamp(card["data_window"]["end"]) < cutoff
