"""`clickintent taxonomy update`: keep the taxonomy up with intents that did not exist when it was made.

On the sessions after the taxonomy's window (`since`: by default the end of the window its
classifier was fitted on), it finds what the taxonomy no longer covers and proposes nodes for it:

1. **Coverage.** Web pages first seen after the window (none of the window's sessions saw them)
   with at least `min_page_sessions` sessions; search queries first seen after it; and, as
   evidence, the share of later sessions the current classifier labels with low confidence.
2. **Candidates.** New pages that are read together form one candidate: two pages are linked
   when at least `covisit_share` of the rarer one's sessions also saw the other, and each
   connected group with `min_node_sessions` sessions or more is a candidate need.
3. **Proposal.** Offline: one level-1 node per candidate, named from its pages' distinctive
   terms against the rest of the site, its pages pinned to it. LLM: the current taxonomy and
   the candidates' pages and queries go to the model (`json_schema`, as in generation), which
   answers the nodes to add and where (under an existing node or at level 1); the answer is
   validated (new ids only, parents that exist, levels that follow the parent links, pages
   among the candidates) and sent back with its problems when it fails.

Every existing node, its id and its pins are kept. A proposal that adds something is written to
`taxonomy/proposal.yaml` (with `update_evidence.json`, which records the taxonomy it was made
against and the digest of the file as written), where a reviewer can rename, move, merge or
delete nodes; a later `update` does not overwrite an edited proposal unless forced.
`clickintent taxonomy diff current <proposal>` shows it, and `accept_proposal` (`--accept`, or
`clickintent taxonomy accept`) makes it the next version: validated, version bumped, pages
re-mapped, sessions re-labelled and the classifier re-distilled on the sessions through the
update's window, so the new node reaches dbt (page map), Feast (labels) and the rankers through
the version checks that already exist. A proposal made against an older taxonomy is refused;
an accepted one is archived beside the versions; an accept that failed part way is resumed by
running it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sparse
from pydantic import ValidationError
from scipy.sparse.csgraph import connected_components

from clickintent.artifacts import atomic_write_bytes
from clickintent.settings import FIT_ALL_SESSIONS, Settings
from clickintent.taxonomy.commit import committing_taxonomy
from clickintent.taxonomy.diff import TaxonomyDiff, diff_taxonomies
from clickintent.taxonomy.drift import MIN_NEW_QUERY_SEARCHES, low_confidence_shares, recorded_window, reference_end
from clickintent.taxonomy.embeddings import normalize_rows
from clickintent.taxonomy.inputs import page_text, strip_site_name
from clickintent.taxonomy.io import TaxonomyPaths, write_json_atomically, write_parquet_atomically
from clickintent.taxonomy.model import Node, Taxonomy
from clickintent.taxonomy.offline import distinctive_terms, node_description, node_name, node_slug, session_page_incidence, unique_id
from clickintent.taxonomy.schemas import TAXONOMY_SCHEMA, repair_taxonomy_levels, validate_taxonomy

log = logging.getLogger(__name__)

PROPOSAL_FILE = "proposal.yaml"
EVIDENCE_FILE = "update_evidence.json"
# Written before an accept's first change, removed after its last: a rerun resumes from it.
ACCEPT_IN_PROGRESS_FILE = "accept_in_progress.json"
ADDITIONS_SCHEMA_NAME = "taxonomy_additions"


class TaxonomyUpdateError(ValueError):
    """The update or accept cannot run (no window to compare with, no later sessions, no
    proposal, a stale or edited proposal, a bad --fit-until); the message says which."""


@dataclass(frozen=True)
class UpdateConfig:
    min_page_sessions: int = 10  # a new page counts once this many later sessions saw it
    covisit_share: float = 0.1  # of the rarer page's sessions that also saw the other, to link two new pages
    min_node_sessions: int = 30  # a group of new pages becomes a candidate node with this many sessions
    max_new_nodes: int = 5
    app_screen_similarity: float = 0.5  # a new app screen joins a candidate this alike in text (cosine)


@dataclass
class Candidate:
    pages: list[str]
    titles: list[str]
    sessions: int  # later sessions that saw any of its pages
    queries: list[str]  # new queries searched mostly in its sessions


@dataclass
class Coverage:
    since: pd.Timestamp
    later_sessions: int
    new_pages: pd.DataFrame  # page_path, page_title, sessions
    new_queries: pd.DataFrame  # query, count
    low_confidence_share: dict[str, float]  # before / after `since`
    candidates: list[Candidate] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "since": self.since.isoformat(),
            "later_sessions": self.later_sessions,
            "new_pages": self.new_pages.to_dict(orient="records"),
            "new_queries": self.new_queries.to_dict(orient="records"),
            "low_confidence_share": self.low_confidence_share,
            "candidates": [vars(candidate) for candidate in self.candidates],
        }


@dataclass
class UpdateProposal:
    current: Taxonomy
    proposed: Taxonomy
    coverage: Coverage
    backend: str
    diff: TaxonomyDiff
    path: str | None  # where the proposal was written; None when it adds nothing (nothing written)


def default_since(settings: Settings) -> pd.Timestamp:
    """The end of the window the current classifier was fitted on (its model card)."""
    if recorded_window(settings) is None:
        classifier_dir = TaxonomyPaths.from_settings(settings).classifier_dir
        raise TaxonomyUpdateError(
            f"no classifier card recording its training window in {classifier_dir}: run `clickintent taxonomy run` first, or pass --since"
        )
    end = reference_end(settings)
    if end is None:
        raise TaxonomyUpdateError(
            "the current taxonomy was fitted on every session (fit_sessions_before = all), so no session is after its window; "
            "pass --since with the time from which to look for new intents"
        )
    return end


# ---------------------------------------------------------------------------------------------
# coverage


def find_coverage(context, since: pd.Timestamp, config: UpdateConfig, *, pinned: frozenset[str] = frozenset()) -> Coverage:
    """What the taxonomy no longer covers in the sessions that end at or after `since`. Pages in
    `pinned` (the current taxonomy's pins: an update accepted before) are covered already."""
    batch, pages = context.batch, context.pages
    later = ~batch.ends_before(since)
    if not later.any():
        raise TaxonomyUpdateError(f"no session ends at or after {since}: nothing to update from")
    if later.all():
        raise TaxonomyUpdateError(f"every session ends at or after {since}: there is no window before it to compare with")
    web = batch.sessions["platform"].to_numpy() == "web"
    event_later = later[batch.event_session]
    covered = batch.pages_before(since) | pinned
    error_pages = set(pages.loc[pages["is_error_page"], "page_path"])
    title_of = dict(zip(pages["page_path"], strip_site_name(pages["page_title"])))

    frame = pd.DataFrame({"page_path": batch.page_path[event_later], "session": batch.event_session[event_later]}).drop_duplicates()
    counts = frame["page_path"].value_counts()
    new = [p for p, n in counts.items() if n >= config.min_page_sessions and p not in covered and p not in error_pages and p is not None]
    platform_of = dict(zip(pages["page_path"], pages["platform"]))
    new_pages = pd.DataFrame(
        {
            "page_path": new,
            "page_title": [title_of.get(p) for p in new],
            "platform": [platform_of.get(p, "web") for p in new],
            "sessions": [int(counts[p]) for p in new],
        }
    ).sort_values(["sessions", "page_path"], ascending=[False, True], ignore_index=True)

    queries = batch.search_query
    has_query = pd.notna(queries)
    queries_before = set(queries[has_query & ~event_later])
    later_queries = pd.Series(queries[has_query & event_later], dtype=object).value_counts()
    unseen = np.array([query not in queries_before for query in later_queries.index], dtype=bool)
    new_queries = later_queries[unseen & (later_queries.to_numpy() >= MIN_NEW_QUERY_SEARCHES)]
    new_queries = pd.DataFrame({"query": new_queries.index.astype(str), "count": new_queries.to_numpy().astype(int)})

    coverage = Coverage(
        since=since,
        later_sessions=int(later.sum()),
        new_pages=new_pages,
        new_queries=new_queries,
        low_confidence_share=low_confidence_shares(context.settings, since),
    )
    web_pages = new_pages[new_pages["platform"] == "web"].reset_index(drop=True)
    coverage.candidates = _candidates(web_pages, new_queries, batch, later & web, config)
    _add_app_screens(coverage.candidates, new_pages[new_pages["platform"] != "web"], context.embedder, config)
    return coverage


def _add_app_screens(candidates: list[Candidate], screens: pd.DataFrame, embedder, config: UpdateConfig) -> None:
    """New app screens join the candidate whose pages read most alike (MiniLM cosine of title and
    path): app sessions never co-visit web pages, so text is what links a product's screens to
    its site, as in the page map's rule for app screens."""
    if not candidates or screens.empty:
        return
    centres = np.vstack(
        [normalize_rows(embedder.embed([page_text(p, t) for p, t in zip(c.pages, c.titles)])).mean(axis=0) for c in candidates]
    )
    vectors = normalize_rows(embedder.embed([page_text(p, t) for p, t in zip(screens["page_path"], screens["page_title"])]))
    similarity = vectors @ normalize_rows(centres).T
    for row, (path, title) in enumerate(zip(screens["page_path"], screens["page_title"])):
        best = int(np.argmax(similarity[row]))
        if similarity[row, best] >= config.app_screen_similarity:
            candidates[best].pages.append(str(path))
            candidates[best].titles.append(str(title or path))


def _candidates(new_pages: pd.DataFrame, new_queries: pd.DataFrame, batch, rows: np.ndarray, config: UpdateConfig) -> list[Candidate]:
    if new_pages.empty:
        return []
    paths = new_pages["page_path"].tolist()
    incidence = session_page_incidence(paths, batch)[rows]
    covisits = (incidence.T @ incidence).toarray()
    sessions = np.diag(covisits).copy()
    rarer = np.minimum(sessions[:, None], sessions[None, :])
    linked = sparse.csr_matrix(covisits >= config.covisit_share * np.maximum(rarer, 1))
    n_groups, group = connected_components(linked, directed=False)
    session_rows = np.flatnonzero(rows)
    query_sessions = _query_sessions(batch, set(new_queries["query"]))
    found: list[Candidate] = []
    for g in range(n_groups):
        members = np.flatnonzero(group == g)
        seen = np.asarray(incidence[:, members].sum(axis=1)).ravel() > 0
        n_sessions = int(seen.sum())
        if n_sessions < config.min_node_sessions:
            continue
        in_group = set(session_rows[seen].tolist())
        queries = [q for q, where in query_sessions.items() if len(where & in_group) * 2 > len(where)]
        ordered = sorted(members, key=lambda m: (-sessions[m], paths[m]))
        found.append(
            Candidate(
                pages=[paths[m] for m in ordered],
                titles=[str(new_pages["page_title"].iloc[m] or paths[m]) for m in ordered],
                sessions=n_sessions,
                queries=sorted(queries),
            )
        )
    found.sort(key=lambda c: (-c.sessions, c.pages[0]))
    return found[: config.max_new_nodes]


def _query_sessions(batch, queries: set[str]) -> dict[str, set[int]]:
    where: dict[str, set[int]] = {query: set() for query in queries}
    for query, session in zip(batch.search_query, batch.event_session):
        if query in where:
            where[query].add(int(session))
    return where


# ---------------------------------------------------------------------------------------------
# proposals


def propose_offline(current: Taxonomy, coverage: Coverage, pages: pd.DataFrame) -> Taxonomy:
    """One level-1 node per candidate, named from its pages' distinctive terms against the site's other pages."""
    if not coverage.candidates:
        return current
    site = pages[~pages["is_error_page"] & (pages["platform"] == "web")].copy()
    site["title"] = strip_site_name(site["page_title"])
    group_of = {page: index for index, candidate in enumerate(coverage.candidates) for page in candidate.pages}
    groups = np.array([group_of.get(path, -1) for path in site["page_path"]])
    documents = [page_text(path, title) for path, title in zip(site["page_path"], site["title"])]
    terms = distinctive_terms(documents, groups, weights=np.log1p(site["n_events"].to_numpy()))
    taken = set(current.node_ids)
    added: list[Node] = []
    for index, candidate in enumerate(coverage.candidates):
        node_id = unique_id(node_slug(terms.get(index, []), f"new_intent_{index + 1}"), taken)
        taken.add(node_id)
        added.append(
            Node(
                id=node_id,
                parent_id=None,
                level=1,
                name=node_name(terms.get(index, []), f"New intent {index + 1}"),
                description=node_description(terms.get(index, []), candidate.titles),
                pinned_pages=tuple(candidate.pages),
            )
        )
    return _with_nodes(current, added)


ADDITIONS_SYSTEM_PROMPT = """You maintain the intent taxonomy of a bank's website: a tree of at most 3 levels
(level 1 = the visitor's financial need, level 2 = product area, level 3 = journey stage).
New pages and searches have appeared since the taxonomy was made. Propose the nodes to ADD so
that the visits behind them have a node of their own. Rules:
- never reuse or change an existing node id; existing nodes stay as they are;
- a new node goes at level 1 (a new need) or under an existing or new node (parent_id set,
  level = its parent's level + 1, at most 3);
- list under `pages` the candidate pages each new node covers (each page at most once);
- ids are lowercase slugs (letters, digits, . _ : -); names short; descriptions one sentence;
- answer an empty `nodes` list when the candidates are only more of an existing need."""


def additions_schema() -> dict:
    """TAXONOMY_SCHEMA's node with the candidate pages it covers: the same keywords, so that strict
    endpoints accept it too (ids and lengths are checked after parsing, by validate_taxonomy)."""
    node = TAXONOMY_SCHEMA["properties"]["nodes"]["items"]
    pages = {"type": "array", "items": {"type": "string"}, "description": "The candidate pages this node covers."}
    item = {**node, "properties": {**node["properties"], "pages": pages}, "required": [*node["required"], "pages"]}
    nodes = {"type": "array", "description": "Only the nodes to add.", "items": item}
    return {"type": "object", "properties": {"nodes": nodes}, "required": ["nodes"], "additionalProperties": False}


def make_update_validator(current: Taxonomy, candidate_pages: set[str]) -> Callable[[dict], list[str]]:
    """Problems with an LLM's additions: reused ids, unknown parents, wrong levels, unknown or repeated pages."""

    def validate(payload: dict) -> list[str]:
        additions = payload.get("nodes") or []
        problems: list[str] = []
        reused = [item["id"] for item in additions if item["id"] in current]
        problems += [f"node id {node_id!r} already exists in the taxonomy; new nodes need new ids" for node_id in reused]
        combined = current.to_proposal()["nodes"] + [{k: v for k, v in item.items() if k != "pages"} for item in additions]
        if not reused:
            problems += validate_taxonomy({"nodes": combined})
        seen: dict[str, str] = {}
        for item in additions:
            for page in item["pages"]:
                if page not in candidate_pages:
                    problems.append(f"node {item['id']!r} lists page {page!r}, which is not one of the candidate pages")
                elif page in seen:
                    problems.append(f"page {page!r} is listed under both {seen[page]!r} and {item['id']!r}")
                seen.setdefault(page, item["id"])
        return problems

    return validate


def repair_update_levels(payload: dict, current: Taxonomy) -> tuple[dict, list[str]]:
    """Levels of the added nodes derived from their parent links (existing parents included)."""
    additions = list(payload.get("nodes") or [])
    combined = current.to_proposal()["nodes"] + additions
    repaired, repairs = repair_taxonomy_levels({"nodes": combined})
    return {**payload, "nodes": repaired["nodes"][len(current) :]}, repairs


def propose_with_llm(llm, current: Taxonomy, coverage: Coverage) -> Taxonomy:
    import json

    if not coverage.candidates:
        return current
    listed = [
        {"pages": [{"path": p, "title": t} for p, t in zip(c.pages, c.titles)], "sessions": c.sessions, "new_searches": c.queries}
        for c in coverage.candidates
    ]
    user = (
        "Current taxonomy (flat):\n"
        + json.dumps(current.to_proposal(), ensure_ascii=False)
        + f"\n\nCandidates: groups of pages first seen since {coverage.since.date()}, read together, with the new searches of their visits:\n"
        + json.dumps(listed, ensure_ascii=False)
    )
    candidate_pages = {page for candidate in coverage.candidates for page in candidate.pages}
    answer = llm.complete(
        ADDITIONS_SYSTEM_PROMPT,
        user,
        ADDITIONS_SCHEMA_NAME,
        additions_schema(),
        make_update_validator(current, candidate_pages),
        repair=lambda payload: repair_update_levels(payload, current),
    )
    added = [
        Node(
            id=item["id"],
            parent_id=item["parent_id"],
            level=int(item["level"]),
            name=" ".join(item["name"].split()),
            description=" ".join(item["description"].split()),
            pinned_pages=tuple(item["pages"]),
        )
        for item in answer["nodes"]
    ]
    return _with_nodes(current, added)


def _with_nodes(current: Taxonomy, added: list[Node]) -> Taxonomy:
    """The current nodes (ids, pins and examples kept) plus `added`, in pre-order."""
    nodes = [*current.nodes, *added]
    children: dict[str | None, list[Node]] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)
    ordered: list[Node] = []

    def visit(parent_id: str | None) -> None:
        for node in children.get(parent_id, []):
            ordered.append(node)
            visit(node.id)

    visit(None)
    return Taxonomy(nodes=tuple(ordered), version=current.version + 1, backend=current.backend)


# ---------------------------------------------------------------------------------------------
# the stage


def propose_update(
    settings: Settings,
    options=None,
    *,
    since: pd.Timestamp | None = None,
    config: UpdateConfig | None = None,
    context=None,
    force: bool = False,
) -> UpdateProposal:
    """Find what the current taxonomy misses after `since` and, when that adds a node, write
    taxonomy/proposal.yaml; an edited proposal is not overwritten unless `force`."""
    from clickintent.taxonomy.pipeline import StageContext

    context = context or StageContext(settings, options)
    config = config or UpdateConfig()
    paths = context.paths
    current = Taxonomy.load(paths.taxonomy)
    proposal_path = paths.taxonomy_dir / PROPOSAL_FILE
    if not force:
        _refuse_an_edited_proposal(paths)
    since = pd.Timestamp(since) if since is not None else default_since(settings)
    since = since.tz_localize(UTC) if since.tzinfo is None else since
    context.progress(f"looking for what taxonomy {current.taxonomy_version} misses in the sessions since {since}")
    pinned = frozenset(page for node in current.nodes for page in node.pinned_pages)
    coverage = find_coverage(context, since, config, pinned=pinned)
    context.progress(
        f"{len(coverage.new_pages)} new page(s), {len(coverage.new_queries)} new query(ies), {len(coverage.candidates)} candidate node(s)"
    )
    if context.backend == "offline":
        proposed = propose_offline(current, coverage, context.pages)
    else:
        proposed = propose_with_llm(context.llm, current, coverage)
        context.save_llm_usage()
    written = None
    if not proposed.same_content(current):
        proposed.save(proposal_path)
        evidence = {
            "current_version": current.taxonomy_version,
            "proposed_version": proposed.taxonomy_version,
            "backend": context.backend,
            "proposal_sha256": _digest(proposal_path),
            **coverage.to_dict(),
        }
        write_json_atomically(paths.taxonomy_dir / EVIDENCE_FILE, evidence)
        written = str(proposal_path)
    return UpdateProposal(
        current=current,
        proposed=proposed,
        coverage=coverage,
        backend=context.backend,
        diff=diff_taxonomies(current, proposed),
        path=written,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evidence(paths: TaxonomyPaths) -> dict:
    """update_evidence.json of the last proposal written ({} when there is none)."""
    path = paths.taxonomy_dir / EVIDENCE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _refuse_an_edited_proposal(paths: TaxonomyPaths) -> None:
    proposal = paths.taxonomy_dir / PROPOSAL_FILE
    if proposal.is_file() and _evidence(paths).get("proposal_sha256") != _digest(proposal):
        raise TaxonomyUpdateError(
            f"{proposal} is not the proposal `clickintent taxonomy update` last wrote (a reviewer's edits?); accept it "
            "(`clickintent taxonomy accept`), move it away, or pass --force to overwrite it"
        )


def _refuse_a_stale_proposal(paths: TaxonomyPaths, current: Taxonomy) -> None:
    made_against = _evidence(paths).get("current_version")
    if made_against is not None and made_against != current.taxonomy_version:
        raise TaxonomyUpdateError(
            f"the proposal was made against taxonomy {made_against}, but the current one is {current.taxonomy_version}: "
            "accepting it would drop what changed since; run `clickintent taxonomy update` again"
        )


def _kept_placement(context, accepted: Taxonomy, since: pd.Timestamp | None) -> pd.DataFrame:
    """page_path, node_id: the page placement the re-map starts from. Every page seen before
    `since` keeps the node the current page map gives it (where that node is kept and no
    reviewer pinned the page elsewhere), so that a new node takes only the new pages; pages
    first seen later are placed afresh (pinned, or the nearest leaf)."""
    paths = context.paths
    columns = ["page_path", "node_id"]
    previous = pq.read_table(paths.page_map, columns=columns).to_pandas() if paths.page_map.is_file() else pd.DataFrame(columns=columns)
    assigned = (
        pq.read_table(paths.page_assignments).to_pandas()[columns] if paths.page_assignments.is_file() else pd.DataFrame(columns=columns)
    )
    if since is not None:
        previous = previous[previous["page_path"].isin(context.batch.pages_before(since))]
    pinned = {page for node in accepted.nodes for page in node.pinned_pages}
    previous = previous[previous["node_id"].isin(accepted.node_ids) & ~previous["page_path"].isin(pinned)]
    rest = assigned[~assigned["page_path"].isin(previous["page_path"]) & assigned["node_id"].isin(accepted.node_ids)]
    return pd.concat([previous, rest]).astype(str).sort_values("page_path").reset_index(drop=True)


@dataclass
class AcceptResult:
    taxonomy: Taxonomy
    changed: bool
    diff: TaxonomyDiff
    distill: object | None = None


def _refit_settings(settings: Settings, fit_until: str) -> Settings:
    """`settings` with fit_sessions_before = `fit_until`, validated as the setting is (a time
    without an offset is UTC); a clear error for a value that is neither a keyword nor a time."""
    try:
        return Settings.model_validate({**settings.model_dump(), "fit_sessions_before": fit_until})
    except ValidationError as error:
        problems = "; ".join(str(problem.get("ctx", {}).get("error", problem["msg"])) for problem in error.errors())
        raise TaxonomyUpdateError(f"--fit-until {fit_until!r}: {problems}") from None


# StageContext inputs that do not depend on the fit window: an accept run right after its update reuses them.
_WINDOW_FREE_INPUTS = ("batch", "pages", "titles", "embedder")


def _accept_context(refit: Settings, options, progress, reuse):
    from clickintent.taxonomy.pipeline import StageContext

    if reuse is None:
        return StageContext(refit, options, progress)
    context = StageContext(refit, options or reuse.options, progress or reuse.progress)
    loaded = vars(reuse)  # a cached_property keeps its value in the instance's __dict__
    vars(context).update({name: loaded[name] for name in _WINDOW_FREE_INPUTS if name in loaded})
    return context


def accept_proposal(
    settings: Settings, options=None, *, proposal=None, fit_until: str = FIT_ALL_SESSIONS, progress=None, context=None
) -> AcceptResult:
    """Make the (reviewed) proposal the next taxonomy version, then re-map, re-label and re-distill
    on the sessions before `fit_until` (default: every session, the update's window included).

    Refused, before anything is written, for a bad `fit_until` or a proposal made against an older
    taxonomy. An accept that failed after replacing taxonomy.yaml is resumed by running it again;
    one that completed archives the proposal and its evidence in versions/, so a second accept
    finds nothing to do. `context`: the update's, whose loaded inputs are reused."""
    from clickintent.taxonomy.pipeline import distill_classifier, label_sessions, map_pages

    paths = TaxonomyPaths.from_settings(settings)
    refit = _refit_settings(settings, fit_until)
    proposal_path = Path(proposal) if proposal is not None else paths.taxonomy_dir / PROPOSAL_FILE
    current = Taxonomy.load(paths.taxonomy)
    in_progress = paths.taxonomy_dir / ACCEPT_IN_PROGRESS_FILE
    interrupted = json.loads(in_progress.read_text(encoding="utf-8")) if in_progress.is_file() else {}
    resuming = interrupted.get("taxonomy_version") == current.taxonomy_version
    if resuming:
        accepted = current
        before = paths.versions_dir / f"taxonomy.v{interrupted['previous_version']}.yaml"
        previous = Taxonomy.load(before) if before.is_file() else current
        log.info("resuming the accept of taxonomy %s that did not finish", accepted.taxonomy_version)
    else:
        if not proposal_path.is_file():
            if proposal is None and (paths.versions_dir / f"proposal.v{current.version}.yaml").is_file():
                return AcceptResult(taxonomy=current, changed=False, diff=diff_taxonomies(current, current))
            raise TaxonomyUpdateError(f"no proposal at {proposal_path}: run `clickintent taxonomy update` first")
        proposed = Taxonomy.load(proposal_path)
        if proposed.same_content(current):
            return AcceptResult(taxonomy=current, changed=False, diff=diff_taxonomies(current, proposed))
        _refuse_a_stale_proposal(paths, current)
        accepted = replace(proposed, version=current.version + 1, created_at=datetime.now(UTC).replace(microsecond=0).isoformat())
        previous = current
    context = _accept_context(refit, options, progress, context)
    try:
        # Resolved, and checked to keep sessions, before the first write.
        context.progress(f"re-fitting on {len(context.fit_batch):,} sessions ({refit.fit_sessions_before})")
        with committing_taxonomy(settings, "accept", resumable=True):
            if not resuming:
                placement = _kept_placement(context, accepted, _proposal_since(paths))
                write_json_atomically(in_progress, {"taxonomy_version": accepted.taxonomy_version, "previous_version": current.version})
                write_parquet_atomically(paths.page_assignments, pa.Table.from_pandas(placement, preserve_index=False))
                accepted.save(paths.versions_dir / f"taxonomy.v{accepted.version}.yaml")
                accepted.save(paths.taxonomy)
            map_pages(refit, context=context)
            label_sessions(refit, context=context)
            summary = distill_classifier(refit, context=context)
    finally:
        context.close()
    _archive_proposal(paths, proposal_path, accepted.version)
    in_progress.unlink(missing_ok=True)
    difference = diff_taxonomies(previous, accepted)
    log.info("taxonomy %s accepted: %d added, %d removed", accepted.taxonomy_version, len(difference.added), len(difference.removed))
    return AcceptResult(taxonomy=accepted, changed=True, diff=difference, distill=summary)


def _proposal_since(paths: TaxonomyPaths) -> pd.Timestamp | None:
    since = _evidence(paths).get("since")
    return pd.Timestamp(since) if since else None


def _archive_proposal(paths: TaxonomyPaths, proposal_path: Path, version: int) -> None:
    """The accepted proposal and its evidence, kept as versions/proposal.v<N>.yaml and
    update_evidence.v<N>.json; taxonomy/proposal.yaml is gone once accepted."""
    default = paths.taxonomy_dir / PROPOSAL_FILE
    if proposal_path.is_file():
        atomic_write_bytes(paths.versions_dir / f"proposal.v{version}.yaml", proposal_path.read_bytes())
    evidence = paths.taxonomy_dir / EVIDENCE_FILE
    if evidence.is_file():
        atomic_write_bytes(paths.versions_dir / f"update_evidence.v{version}.json", evidence.read_bytes())
        evidence.unlink()
    if proposal_path.resolve() == default.resolve():
        default.unlink(missing_ok=True)
