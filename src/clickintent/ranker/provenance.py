"""Which taxonomy and which encoder produced the model-stage features a ranker trained on.

A ranker learns the meaning of each element of the intent-probability vector (the taxonomy's top
nodes) and of the web embedding (one encoder's space). The service checks at start-up that the
classifier and encoder it loads are the ones the ranker learned from
(`serving.artifacts.check_compatibility`), so the ranker's card records them, read from the very
tables Feast joined into its training rows:

- `taxonomy_version`: the `taxonomy_version` column of `features/session_intent.parquet`, the
  distilled session labels `customer_web_intent_labels` is aggregated from (both written together
  by `clickintent taxonomy distill`; the customer table has no version column of its own);
- `encoder_version`: the `encoder_version` column the encoder stage writes into the embedding
  table of the view read (`clickintent encoder embed`): the web, the customer's in-app and the
  visitor-journey embeddings alike.

The in-app and journey embedding tables also hold the recency-weighted distilled probabilities of
their sessions, read from `session_intent` when the encoder stage wrote them; such a feature has a
source of its own (`FEATURE_VERSION_SOURCES`): reading it ties the model to the taxonomy too,
while reading only the embedding beside it does not.

A version is recorded only for a view whose features the model actually reads (a feature in the
layout's `unused`, e.g. all-missing because the stage has not run, ties the model to nothing).
A table without the column (written before it existed) or without rows gives no version: the card
then lacks the field and the service skips that check, as for cards of older models.

Several versions in one table (or two views giving different ones) fail the training: the vector
positions would mean different things in different rows, and recording none would silently turn
the start-up check off for exactly the model that needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow.compute as pc
import pyarrow.parquet as pq

from clickintent.ranker.layout import FeatureLayout
from clickintent.settings import Settings

TAXONOMY_VERSION = "taxonomy_version"
ENCODER_VERSION = "encoder_version"


class TrainingDataVersionError(ValueError):
    """The training data mixes outputs of several taxonomies or encoders."""


@dataclass(frozen=True)
class VersionSource:
    card_field: str  # the ranker card's key
    table: str  # feature view (features.model_outputs) of the Parquet file holding the column
    column: str
    rewrite_with: str  # the command that rewrites the table with one version


_INTENT = VersionSource(TAXONOMY_VERSION, "session_intent", "taxonomy_version", "clickintent taxonomy distill")
# Feature view a ranker may read -> where the version of its values is recorded.
VERSION_SOURCES: dict[str, VersionSource] = {
    "customer_web_intent_labels": _INTENT,
    "session_intent": _INTENT,
    "customer_web_embedding": VersionSource(ENCODER_VERSION, "customer_web_embedding", "encoder_version", "clickintent encoder embed"),
    "session_embedding": VersionSource(ENCODER_VERSION, "session_embedding", "encoder_version", "clickintent encoder embed"),
    "customer_app_embedding": VersionSource(ENCODER_VERSION, "customer_app_embedding", "encoder_version", "clickintent encoder embed"),
    "visitor_journey_embedding": VersionSource(
        ENCODER_VERSION, "visitor_journey_embedding", "encoder_version", "clickintent encoder embed"
    ),
}
# Features ("view:feature") whose values another stage's table versions, beside their view's source.
FEATURE_VERSION_SOURCES: dict[str, VersionSource] = {
    "customer_app_embedding:app_distilled_top_node_probs": _INTENT,
    "visitor_journey_embedding:journey_distilled_top_node_probs": _INTENT,
}


def read_views(layout: FeatureLayout) -> set[str]:
    """Feature views whose features the model reads (not the layout's unused ones), and the
    `view:feature` references among them that have a version source of their own."""
    read = [reference for reference, name in zip(layout.feature_references, layout.feast_features) if name not in layout.unused]
    return {reference.split(":", 1)[0] for reference in read} | {reference for reference in read if reference in FEATURE_VERSION_SOURCES}


def _sources(views: Iterable[str]) -> set[VersionSource]:
    """The version sources behind `views` (view names or `view:feature` references, as read_views gives)."""
    return {source for view in views if (source := VERSION_SOURCES.get(view) or FEATURE_VERSION_SOURCES.get(view)) is not None}


def version_fields(layout: FeatureLayout) -> set[str]:
    """Card fields (taxonomy_version, encoder_version) that apply to a model with this layout."""
    return {source.card_field for source in _sources(read_views(layout))}


def training_data_versions(settings: Settings, views: Iterable[str], log: Callable[[str], None] | None = None) -> dict[str, str]:
    """`{card field: version}` for the model-stage tables behind `views`, read from their files.

    Raises TrainingDataVersionError when a table holds several versions or two tables behind the
    same field disagree; a field with no version (no column, no rows) is left out and logged.
    """
    from clickintent.features.model_outputs import MODEL_OUTPUTS

    log = log or (lambda _: None)
    outputs = {output.feature_view: output for output in MODEL_OUTPUTS}
    found: dict[str, dict[str, str]] = {}  # card field -> {version: path it came from}
    for source in sorted(_sources(views), key=lambda s: s.table):
        path = outputs[source.table].path(settings)
        versions = _column_values(path, source.column)
        if versions is None:
            log(
                f"{path} has no {source.column} column (written before it was recorded): the ranker's card records no "
                f"{source.card_field}; rerun `{source.rewrite_with}` to record it"
            )
            continue
        if not versions:
            log(f"{path} has no {source.column} values: the ranker's card records no {source.card_field}")
            continue
        if len(versions) > 1:
            shown = ", ".join("missing" if version is None else version for version in sorted(versions, key=str))
            raise TrainingDataVersionError(
                f"{path} mixes {source.column} values ({shown}): its rows come from different "
                f"{'taxonomies' if source.card_field == TAXONOMY_VERSION else 'encoders'}, so no model can be trained on them; "
                f"rerun `{source.rewrite_with}`, then `clickintent features materialize` and `clickintent rank train`"
            )
        (version,) = versions
        found.setdefault(source.card_field, {})[version] = str(path)
    out: dict[str, str] = {}
    for field, by_version in found.items():
        if len(by_version) > 1:
            raise TrainingDataVersionError(
                f"the ranker's inputs disagree on {field}: "
                + "; ".join(f"{path} has {version}" for version, path in sorted(by_version.items()))
                + "; rewrite them with one version and retrain (`clickintent rank train`)"
            )
        out[field] = next(iter(by_version))
    return out


def _column_values(path, column: str) -> set[str | None] | None:
    """Distinct values of `column` (None for a null), or None when the file or column is absent."""
    if not path.is_file() or column not in pq.read_schema(path).names:
        return None
    values = pq.read_table(path, columns=[column]).column(column)
    distinct = set(pc.unique(values.drop_null()).to_pylist())
    if values.null_count and distinct:
        distinct.add(None)  # some rows name a version, others none: as mixed as two versions
    return distinct
