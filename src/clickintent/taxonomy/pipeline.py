"""The taxonomy stage as functions the CLI and the demo call: generate, map, label, distill,
and `run_taxonomy_stage` for all of them.

Each stage reads what the stage before wrote, writes its outputs atomically, and is idempotent:
rerun with the same inputs, it writes the same files (LLM answers come from the cache). A stage
whose inputs are stale (the taxonomy was edited, so page map or labels carry an older
taxonomy_version) brings them up to date itself: an edited taxonomy.yaml is validated, re-mapped,
re-labelled (offline teacher; LLM labels are kept where their node ids still exist) and re-distilled.

Backend: "auto" is the LLM when an endpoint is configured (OPENAI_BASE_URL), else offline.

The stage's outputs belong together (taxonomy.yaml, the page and query maps, the labels and the
Feast intent tables made of them), so a run records them as one commit: `taxonomy/_commit.json`
(clickintent.taxonomy.commit).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from clickintent.fit_window import FitWindow, fit_window
from clickintent.settings import Settings
from clickintent.taxonomy.commit import committing_taxonomy
from clickintent.taxonomy.distill import DistillConfig, label_all_sessions, save_classifier, train_classifier
from clickintent.taxonomy.embeddings import TextEmbedder
from clickintent.taxonomy.inputs import load_pages
from clickintent.taxonomy.io import TaxonomyPaths, write_json_atomically, write_parquet_atomically
from clickintent.taxonomy.labels import (
    OFFLINE_TEACHER,
    carry_over_labels,
    llm_teacher_labels,
    node_evidence,
    offline_teacher_labels,
    teacher_table,
)
from clickintent.taxonomy.matching import carry_over_ids
from clickintent.taxonomy.model import Taxonomy
from clickintent.taxonomy.offline import OfflineConfig, build_page_space, generate_offline
from clickintent.taxonomy.page_map import PageMapResult, build_page_map
from clickintent.taxonomy.sessions import SessionBatch, seeded_sample
from clickintent.taxonomy.tnt_llm import TnTConfig, generate_with_llm

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


def _single_threaded_blas(function):
    """Run a stage with BLAS/OpenMP pools of one thread. Measured here: on 2 shared cores,
    OpenBLAS's default pool made the logistic regression 10x slower, as docs/design.md ("Known
    traps") warns for XGBoost and torch; the matrices involved are small anyway."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1):
            return function(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class TaxonomyOptions:
    backend: str = "auto"  # auto | offline | llm
    offline: OfflineConfig = field(default_factory=OfflineConfig)
    tnt: TnTConfig = field(default_factory=TnTConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    label_sample_size: int = 4000  # sessions the LLM teacher labels
    label_platforms: tuple[str, ...] = ("web",)
    llm_workers: int = 4
    example_count: int = 3

    def resolved_backend(self, settings: Settings) -> str:
        if self.backend not in ("auto", "offline", "llm"):
            raise ValueError(f"backend must be auto, offline or llm; got {self.backend!r}")
        if self.backend == "auto":
            return "llm" if settings.llm_base_url else "offline"
        return self.backend


class StageContext:
    """Inputs shared by the stages of one run, loaded once and only when needed."""

    def __init__(self, settings: Settings, options: TaxonomyOptions | None = None, progress: Progress | None = None):
        self.settings = settings
        self.options = options or TaxonomyOptions()
        self.paths = TaxonomyPaths.from_settings(settings)
        self.progress = progress or (lambda message: log.info(message))
        self._llm = None

    @cached_property
    def batch(self) -> SessionBatch:
        self.progress("reading sessions from the dbt mart")
        return SessionBatch.load(self.settings)

    @cached_property
    def fit_window(self) -> FitWindow:
        return fit_window(self.settings)

    @cached_property
    def fit_batch(self) -> SessionBatch:
        """The sessions the taxonomy, the teacher and the classifier are fitted on (the setting
        fit_sessions_before); `batch`, every session, is what they label."""
        if self.fit_window.before is None:
            return self.batch
        rows = self.fit_window.rows(self.batch.sessions["session_end_ts"], "the taxonomy stage")
        self.progress(f"fitting on the {len(rows):,} of {len(self.batch):,} sessions that end before {self.fit_window.before}")
        return self.batch.subset(rows)

    @cached_property
    def pages(self) -> pd.DataFrame:
        return load_pages(self.settings)

    @cached_property
    def fit_pages(self) -> pd.DataFrame:
        """The pages seen in `fit_batch`, with their views there: what generation may know of.
        Pages first seen later are placed by the map step, as a new page would be."""
        if self.fit_batch is self.batch:
            return self.pages
        views = pd.Series(self.fit_batch.page_path, dtype=object).value_counts()
        seen = self.pages[self.pages["page_path"].isin(views.index)]
        return seen.assign(n_events=seen["page_path"].map(views).astype("int64")).reset_index(drop=True)

    @cached_property
    def titles(self) -> dict[str, str | None]:
        return dict(zip(self.pages["page_path"], self.pages["page_title"]))

    @cached_property
    def embedder(self) -> TextEmbedder:
        return TextEmbedder(self.paths.embedding_cache, threads=self.settings.threads)

    @property
    def backend(self) -> str:
        return self.options.resolved_backend(self.settings)

    @property
    def llm(self):
        if self._llm is None:
            from clickintent.taxonomy.llm import StructuredLLM

            self._llm = StructuredLLM.from_settings(self.settings, cache_dir=self.paths.llm_cache_dir)
        return self._llm

    def save_llm_usage(self) -> None:
        if self._llm is not None:
            self._llm.usage.write_json(self.paths.llm_usage)

    def close(self) -> None:
        if self._llm is not None:
            self.save_llm_usage()
            self._llm.close()
            self._llm = None


def _read_parquet(path) -> pd.DataFrame | None:
    return pq.read_table(path).to_pandas() if path.is_file() else None


# ---------------------------------------------------------------------------------------------
# generate


@dataclass
class GenerateResult:
    taxonomy: Taxonomy
    changed: bool  # False: same content as the previous version, version number kept
    renamed_ids: dict[str, str]
    details: dict


@_single_threaded_blas
def generate_taxonomy(settings: Settings, options: TaxonomyOptions | None = None, *, context: StageContext | None = None) -> GenerateResult:
    """Generate (or regenerate) taxonomy.yaml and the generator's page assignments."""
    context = context or StageContext(settings, options)
    paths, options = context.paths, context.options
    previous = Taxonomy.load(paths.taxonomy) if paths.taxonomy.is_file() else None
    details: dict = {"backend": context.backend}

    if context.backend == "offline":
        context.progress("embedding pages and clustering them")
        config = replace(options.offline, seed=settings.seed)
        space = build_page_space(context.fit_pages, context.fit_batch, context.embedder, config)
        generated = generate_offline(space, config)
        taxonomy, page_nodes = generated.taxonomy, generated.page_nodes
        details["top_silhouette"] = generated.top_silhouette
    else:
        context.progress("TnT-LLM: summarising sampled sessions, generating, updating, reviewing")
        rows = seeded_sample(context.fit_batch, options.tnt.sample_size, settings.seed, platforms=("web",))
        result = generate_with_llm(
            context.llm, context.fit_batch, rows.tolist(), context.titles, context.fit_pages, context.embedder, options.tnt
        )
        taxonomy, page_nodes = result.taxonomy, result.page_assignments
        write_json_atomically(paths.generation_log, result.log)
        context.save_llm_usage()
        details["generation_log"] = str(paths.generation_log)

    renaming: dict[str, str] = {}
    if previous is not None:
        taxonomy, renaming = carry_over_ids(
            taxonomy,
            dict(zip(page_nodes["page_path"], page_nodes["node_id"])),
            previous,
            _previous_page_nodes(paths, previous),
            context.embedder,
        )
        page_nodes = page_nodes.assign(node_id=page_nodes["node_id"].map(lambda node_id: renaming.get(node_id, node_id)))
        taxonomy = _keep_pins(taxonomy, previous)

    if context.backend == "offline":
        taxonomy = taxonomy.with_examples(_offline_examples(context, taxonomy, page_nodes))

    changed = not taxonomy.same_content(previous)
    if previous is None:
        taxonomy = taxonomy.with_version(1)
    elif changed:
        taxonomy = taxonomy.with_version(previous.version + 1)
    else:
        taxonomy = Taxonomy(nodes=taxonomy.nodes, version=previous.version, backend=taxonomy.backend, created_at=previous.created_at)

    write_parquet_atomically(paths.page_assignments, _assignments_table(page_nodes))
    taxonomy.save(paths.versions_dir / f"taxonomy.v{taxonomy.version}.yaml")
    taxonomy.save(paths.taxonomy)
    details.update({"nodes_per_level": taxonomy.nodes_per_level(), "taxonomy_version": taxonomy.taxonomy_version})
    return GenerateResult(taxonomy=taxonomy, changed=changed, renamed_ids={k: v for k, v in renaming.items() if k != v}, details=details)


def _assignments_table(page_nodes: pd.DataFrame):
    import pyarrow as pa

    frame = page_nodes[["page_path", "node_id"]].astype(str).sort_values("page_path").reset_index(drop=True)
    return pa.Table.from_pandas(frame, preserve_index=False)


def _previous_page_nodes(paths: TaxonomyPaths, previous: Taxonomy) -> dict[str, str]:
    for path in (paths.page_map, paths.page_assignments):
        frame = _read_parquet(path)
        if frame is not None and len(frame):
            return {page: node for page, node in zip(frame["page_path"], frame["node_id"]) if node in previous}
    return {}


def _keep_pins(taxonomy: Taxonomy, previous: Taxonomy) -> Taxonomy:
    """Pages a reviewer pinned stay pinned to the node that kept its id."""
    nodes = tuple(
        replace(node, pinned_pages=previous.node(node.id).pinned_pages)
        if node.id in previous and previous.node(node.id).pinned_pages
        else node
        for node in taxonomy.nodes
    )
    return replace(taxonomy, nodes=nodes)


def _offline_examples(context: StageContext, taxonomy: Taxonomy, page_nodes: pd.DataFrame) -> dict[str, list[str]]:
    """For each node, the web sessions (3+ events) it is fitted on with the largest share of evidence on it."""
    mapped = build_page_map(taxonomy, context.fit_pages, context.fit_batch, context.embedder, page_nodes)
    evidence = node_evidence(taxonomy, mapped.page_map, mapped.query_map, context.fit_batch)
    sessions = context.fit_batch.sessions
    eligible = (sessions["platform"].to_numpy() == "web") & (sessions["n_events"].to_numpy() >= 3)
    totals = evidence.mass.sum(axis=1)
    eligible &= totals > 0
    session_ids = sessions["session_id"].to_numpy()
    column = {node_id: index for index, node_id in enumerate(evidence.node_ids)}
    examples: dict[str, list[str]] = {}
    for node in taxonomy.nodes:
        members = [column[n.id] for n in [node, *taxonomy.descendants(node.id)] if n.id in column]
        if not members:
            continue
        share = evidence.mass[:, members].sum(axis=1) / np.where(totals > 0, totals, 1.0)
        share = np.where(eligible, share, -1.0)
        # Highest share first; among equals, the longer session (more to review).
        order = np.lexsort((-sessions["n_events"].to_numpy(), -share))[: context.options.example_count]
        examples[node.id] = [str(session_ids[i]) for i in order if share[i] > 0]
    return examples


# ---------------------------------------------------------------------------------------------
# map


@_single_threaded_blas
def map_pages(settings: Settings, options: TaxonomyOptions | None = None, *, context: StageContext | None = None) -> PageMapResult:
    """page_map.parquet (the dbt source) and query_map.parquet for the current taxonomy."""
    context = context or StageContext(settings, options)
    paths = context.paths
    taxonomy = Taxonomy.load(paths.taxonomy)
    context.progress("mapping pages and queries to taxonomy nodes")
    # Every page is mapped; co-visits and the known queries come from the sessions fitted on.
    result = build_page_map(taxonomy, context.pages, context.fit_batch, context.embedder, _read_parquet(paths.page_assignments))
    write_parquet_atomically(paths.query_map, result.query_table())
    write_json_atomically(paths.taxonomy_dir / "page_map_summary.json", {"taxonomy_version": taxonomy.taxonomy_version, **result.summary})
    # The page map last: dbt reads it, and it marks the mapping of this version complete.
    write_parquet_atomically(paths.page_map, result.page_table())
    return result


def _current_maps(context: StageContext, taxonomy: Taxonomy) -> tuple[pd.DataFrame, pd.DataFrame]:
    page_map, query_map = _read_parquet(context.paths.page_map), _read_parquet(context.paths.query_map)
    fresh = (
        page_map is not None
        and query_map is not None
        and set(page_map["taxonomy_version"]) == {taxonomy.taxonomy_version}
        and (query_map.empty or set(query_map["taxonomy_version"]) == {taxonomy.taxonomy_version})
    )
    if not fresh:
        context.progress("page map missing or from another taxonomy version: mapping again")
        result = map_pages(context.settings, context=context)
        return result.page_map, result.query_map
    return page_map, query_map


# ---------------------------------------------------------------------------------------------
# label


@dataclass
class LabelResult:
    teacher: str
    labelled: int
    failures: list[dict]
    path: str


@_single_threaded_blas
def label_sessions(settings: Settings, options: TaxonomyOptions | None = None, *, context: StageContext | None = None) -> LabelResult:
    """teacher_labels.parquet: the offline teacher labels every session; the LLM a sample."""
    context = context or StageContext(settings, options)
    paths, options = context.paths, context.options
    taxonomy = Taxonomy.load(paths.taxonomy)
    page_map, query_map = _current_maps(context, taxonomy)
    failures: list[dict] = []
    if context.backend == "offline":
        context.progress("offline teacher: labelling every session from its pages and searches")
        # Its page weights (idf, the search weight) are statistics of the sessions fitted on.
        labels = offline_teacher_labels(taxonomy, page_map, query_map, context.batch, reference=context.fit_batch)
    else:
        rows = seeded_sample(context.fit_batch, options.label_sample_size, settings.seed + 1, platforms=options.label_platforms)
        context.progress(f"LLM teacher: labelling {len(rows)} sampled sessions")
        run = llm_teacher_labels(context.llm, taxonomy, context.fit_batch, rows, context.titles, workers=options.llm_workers)
        labels, failures = run.labels, run.failures
        context.save_llm_usage()
        write_json_atomically(paths.taxonomy_dir / "label_failures.json", failures)
    write_parquet_atomically(paths.teacher_labels, teacher_table(labels))
    teacher = OFFLINE_TEACHER if context.backend == "offline" else f"llm:{context.llm.model}"
    return LabelResult(teacher=teacher, labelled=len(labels), failures=failures, path=str(paths.teacher_labels))


def _current_labels(context: StageContext, taxonomy: Taxonomy) -> pd.DataFrame:
    labels = _read_parquet(context.paths.teacher_labels)
    if labels is not None and len(labels) and set(labels["taxonomy_version"]) == {taxonomy.taxonomy_version}:
        return labels
    if labels is not None and len(labels) and not (labels["teacher"] == OFFLINE_TEACHER).all():
        kept, dropped = carry_over_labels(labels, taxonomy)
        context.progress(f"LLM labels from another taxonomy version: kept {len(kept)}, dropped {dropped} with removed node ids")
        write_parquet_atomically(context.paths.teacher_labels, teacher_table(kept))
        return kept
    label_sessions(context.settings, context=context)
    return pq.read_table(context.paths.teacher_labels).to_pandas()


# ---------------------------------------------------------------------------------------------
# distill


@dataclass
class DistillSummary:
    metrics: dict
    classifier_dir: str
    session_intents: str
    sessions_labelled: int
    taxonomy_version: str


@_single_threaded_blas
def distill_classifier(
    settings: Settings, options: TaxonomyOptions | None = None, *, context: StageContext | None = None
) -> DistillSummary:
    """Train the classifier on the teacher labels, save it, label every session in batch."""
    context = context or StageContext(settings, options)
    paths, options = context.paths, context.options
    taxonomy = Taxonomy.load(paths.taxonomy)
    page_map, query_map = _current_maps(context, taxonomy)
    labels = _current_labels(context, taxonomy)
    config = replace(options.distill, seed=settings.seed)
    context.progress(f"distilling {len(labels)} teacher labels into the classifier")
    result = train_classifier(taxonomy, page_map, query_map, context.fit_batch, labels, config)
    teacher = str(labels["teacher"].iloc[0]) if len(labels) else "none"
    result.metrics["split"] = {"heldout_share": config.heldout_share, "seed": config.seed}
    save_classifier(result, paths.classifier_dir, teacher=teacher, fit_sessions_before=context.fit_window.card())
    context.progress("labelling every session with the distilled classifier")
    table = label_all_sessions(result.classifier, context.batch)
    write_parquet_atomically(paths.session_intents, table)
    # The Feast-facing session and customer intent tables follow the labels they are made of.
    from clickintent.features.model_outputs import build_intent_feature_tables

    build_intent_feature_tables(settings)
    return DistillSummary(
        metrics=result.metrics,
        classifier_dir=str(paths.classifier_dir),
        session_intents=str(paths.session_intents),
        sessions_labelled=table.num_rows,
        taxonomy_version=taxonomy.taxonomy_version,
    )


# ---------------------------------------------------------------------------------------------
# everything


@dataclass
class StageRun:
    generate: GenerateResult
    page_map: PageMapResult
    label: LabelResult
    distill: DistillSummary
    seconds: dict[str, float]
    report: dict | None = None


@_single_threaded_blas
def run_taxonomy_stage(
    settings: Settings, options: TaxonomyOptions | None = None, *, progress: Progress | None = None, evaluate: bool = True
) -> StageRun:
    """generate -> map -> label -> distill (+ batch labels) -> report (when ground truth exists)."""
    with committing_taxonomy(settings, "run"):
        return _run_taxonomy_stage(settings, options, progress=progress, evaluate=evaluate)


def _run_taxonomy_stage(settings: Settings, options: TaxonomyOptions | None, *, progress: Progress | None, evaluate: bool) -> StageRun:
    context = StageContext(settings, options, progress)
    seconds: dict[str, float] = {}

    def timed(name: str, function):
        started = time.perf_counter()
        value = function()
        seconds[name] = round(time.perf_counter() - started, 3)
        return value

    try:
        seconds_started = time.perf_counter()
        timed("load_inputs", lambda: (context.batch, context.pages))
        generated = timed("generate", lambda: generate_taxonomy(settings, context=context))
        mapped = timed("map", lambda: map_pages(settings, context=context))
        labelled = timed("label", lambda: label_sessions(settings, context=context))
        distilled = timed("distill_and_batch_label", lambda: distill_classifier(settings, context=context))
        seconds["total"] = round(time.perf_counter() - seconds_started, 3)
    finally:
        context.close()
    run = StageRun(generate=generated, page_map=mapped, label=labelled, distill=distilled, seconds=seconds)
    if evaluate:
        from clickintent.taxonomy.report import write_taxonomy_report

        run.report = write_taxonomy_report(settings, stage_seconds=seconds)
    return run
