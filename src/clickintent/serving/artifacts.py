"""The model artifacts the service loads, and the start-up checks on their model cards.

Every model lives in `<models_dir>/<name>/` beside a `model_card.json` (name, version,
created_at, data window, features, metrics). Before anything is loaded the service reads each
card and refuses to start, with a message that says which model and what to run, when:

- the directory, a required file or the card is missing, or the card is not valid JSON;
- the card is for another model (its `name`), or lacks a version or creation time;
- the models do not fit together (checked in `check_compatibility` once they are loaded):
  the ranker was trained on another embedding width or taxonomy than the encoder and the
  classifier now produce, on embeddings of another encoder than the one loaded (its card's
  `encoder_version`), or on a feature service the Feast registry does not have. A ranker card
  without `taxonomy_version` / `encoder_version` (older models) skips that check.

- the stages' outputs are not complete sets (`check_committed_outputs`, the last check): marts
  or taxonomy outputs a killed or failed run left half-written, a tile ranker whose companion
  models belong to another rank run, or an online store a materialize did not finish loading
  (the service does not start rather than answer from a partial store: its answers would
  silently be cold starts).

A service that cannot start never reports ready, so a deployment keeps the previous version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clickintent.artifacts import ModelCardError, UncommittedOutputError, read_card

# Model folder -> (files that must exist beside the card, the command that writes them).
MODEL_FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "encoder": (("model.safetensors", "config.json", "vocab.json"), "clickintent encoder train"),
    "intent_classifier": (("weights.safetensors", "features.json"), "clickintent taxonomy distill"),
    "tile_ranker": ((), "clickintent rank train"),
    "conversion": ((), "clickintent rank train"),
    "anonymous_ranker": ((), "clickintent rank anonymous"),
}
# How a start-up message names each ranker the service loads.
RANKER_TITLES = {"tile_ranker": "the tile ranker", "conversion": "the conversion model", "anonymous_ranker": "the anonymous-visitor ranker"}
# The features a ranker reads that the live session's embedding and intent probabilities fill, by
# ranker: the customer-level web slots, or (anonymous visitors) the session's own.
EMBEDDING_FEATURES = {"anonymous_ranker": "embedding"}
TOP_NODE_PROBS_FEATURES = {"anonymous_ranker": "distilled_intent_top_node_probs"}
REQUIRED_CARD_FIELDS = ("name", "version", "created_at")


class ArtifactError(RuntimeError):
    """A model artifact that is missing or does not fit: the service must not start."""


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    created_at: str
    directory: Path
    fields: Mapping[str, Any] = field(repr=False, default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def train_hint(name: str) -> str:
    return MODEL_FILES.get(name, ((), f"the stage that trains {name}"))[1]


def read_model_card(directory: Path, name: str) -> ModelCard:
    """The card of `<directory>` (a model folder), checked; ArtifactError says what is wrong."""
    directory = Path(directory)
    required, _ = MODEL_FILES.get(name, ((), ""))
    try:
        card = read_card(
            directory, name=name, train_command=train_hint(name), required_files=required, required_fields=REQUIRED_CARD_FIELDS
        )
    except ModelCardError as error:
        raise ArtifactError(f"{error} (models directory {directory.parent})") from error
    return ModelCard(name=name, version=str(card["version"]), created_at=str(card["created_at"]), directory=directory, fields=card)


def read_model_cards(model_dirs: Mapping[str, Path]) -> dict[str, ModelCard]:
    """Cards of every model, all problems reported at once (one start-up attempt shows them all)."""
    cards: dict[str, ModelCard] = {}
    problems: list[str] = []
    for name, directory in model_dirs.items():
        try:
            cards[name] = read_model_card(directory, name)
        except ArtifactError as error:
            problems.append(str(error))
    if problems:
        raise ArtifactError("cannot start the service:\n  " + "\n  ".join(problems))
    return cards


def check_compatibility(
    *,
    embedding_dim: int,
    classifier_top_nodes: tuple[str, ...],
    taxonomy_version: str,
    ranker_vector_lengths: Mapping[str, int],
    ranker_card: ModelCard,
    ranker_element_labels: Mapping[str, list[str]] | None = None,
    registered_feature_services: set[str] | None,
    ranker_feature_service: str,
    encoder_version: str | None = None,
    ranker_name: str = "tile_ranker",
) -> None:
    """The loaded models fit together and with the Feast registry; ArtifactError lists each misfit.

    `ranker_vector_lengths` maps a vector feature the ranker reads to its trained length: the
    live session's embedding and intent stand in for the customer-level vectors, so their widths
    must be the ones the ranker learned. `encoder_version` is the loaded encoder's card version;
    the ranker's card names the encoder whose embeddings it trained on (ranker.provenance).
    """
    title, hint = RANKER_TITLES.get(ranker_name, ranker_name), train_hint(ranker_name)
    problems: list[str] = []
    web_embedding = ranker_vector_lengths.get(EMBEDDING_FEATURES.get(ranker_name, "web_embedding"))
    if web_embedding is not None and web_embedding != embedding_dim:
        problems.append(
            f"{title} was trained on {web_embedding}-dimensional web embeddings but the encoder produces "
            f"{embedding_dim}: retrain the ranker on this encoder's embeddings (`{hint}`)"
        )
    probs_feature = TOP_NODE_PROBS_FEATURES.get(ranker_name, "web_distilled_top_node_probs")
    probs = ranker_vector_lengths.get(probs_feature)
    if probs is not None and probs != len(classifier_top_nodes):
        problems.append(
            f"{title} was trained on {probs} intent top nodes but the intent classifier has "
            f"{len(classifier_top_nodes)} (taxonomy {taxonomy_version}): retrain the ranker (`{hint}`)"
        )
    trained_order = (ranker_element_labels or {}).get(probs_feature)
    if trained_order is not None and len(trained_order) == len(classifier_top_nodes) and list(trained_order) != list(classifier_top_nodes):
        problems.append(
            f"{title}'s intent probabilities are in another top-node order than the intent classifier's "
            f"({', '.join(trained_order[:3])} ... vs {', '.join(classifier_top_nodes[:3])} ...): retrain the ranker "
            f"(`{hint}`)"
        )
    trained_taxonomy = ranker_card.get("taxonomy_version")
    if trained_taxonomy and trained_taxonomy != taxonomy_version:
        problems.append(
            f"{title} was trained with taxonomy {trained_taxonomy} but the intent classifier is {taxonomy_version}: "
            f"retrain the ranker (`{hint}`)"
        )
    trained_encoder = ranker_card.get("encoder_version")
    if trained_encoder and encoder_version and trained_encoder != encoder_version:
        # Same width, other space: the scores would be quietly wrong, not fail.
        problems.append(
            f"{title} was trained on embeddings of encoder {trained_encoder} but the loaded encoder is {encoder_version}: "
            f"embed the sessions with this encoder (`clickintent encoder embed`), then `clickintent features materialize` "
            f"and retrain the ranker (`{hint}`); or restore encoder {trained_encoder}"
        )
    if registered_feature_services is not None and ranker_feature_service not in registered_feature_services:
        problems.append(
            f"{title} reads feature service '{ranker_feature_service}', which the Feast registry does not have "
            f"(registered: {', '.join(sorted(registered_feature_services)) or 'none'}): run `clickintent features apply`"
        )
    if problems:
        raise ArtifactError("cannot start the service, the models do not fit together:\n  " + "\n  ".join(problems))


def check_committed_outputs(settings: Any, model_dirs: Mapping[str, Path]) -> None:
    """Every stage output the service reads is the complete set its stage committed; ArtifactError lists each that is not."""
    from clickintent.features.dbt import verify_marts
    from clickintent.features.store import unfinished_materialize
    from clickintent.ranker.run_record import verify_rank_run
    from clickintent.taxonomy.commit import verify_taxonomy

    problems: list[str] = []
    checks = (
        lambda: verify_marts(settings),
        lambda: verify_taxonomy(settings),
        lambda: verify_rank_run(Path(model_dirs["tile_ranker"]).parent),
    )
    for check in checks:
        try:
            check()
        except UncommittedOutputError as error:
            problems.append(str(error))
    unfinished = unfinished_materialize(settings)
    if unfinished:
        problems.append(unfinished)
    if problems:
        raise ArtifactError("cannot start the service, a stage's outputs are incomplete:\n  " + "\n  ".join(problems))
