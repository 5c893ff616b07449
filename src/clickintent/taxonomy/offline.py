"""The offline backend: a taxonomy from page embeddings and hierarchical clustering, no LLM.

This is TnT-LLM's embedding-clustering baseline, applied to pages (a site has hundreds of
pages, not millions), with one addition of ours, measured to matter:

- each page is embedded twice: its text (title + path words) with MiniLM, and its behaviour,
  i.e. which pages visitors see in the same sessions (positive PMI of page co-visits, reduced
  by truncated SVD). On the 100k and 1M synthetic worlds, text alone gives a session-level AMI
  of about 0.45-0.49 with the hidden intents, behaviour alone or both about 0.75: a mortgage
  rates page and a refinance calculator read alike but are visited by different people. The
  two unit vectors are concatenated (equal weight) and normalised.
- level 1: Ward agglomerative clustering; the number of clusters is the smallest between
  `min_top_nodes` and `max_top_nodes` whose cosine silhouette is within 5 % of the best (no
  ground truth involved);
- level 2: each large enough level-1 cluster is split the same way (2 to `max_children`);
- names: each node is named from its most distinctive terms (class-based TF-IDF over member
  page titles and path words, against its siblings), described by its typical pages.

Which pages are clustered: the pages of the public site only (`platform` 'web' in
inputs.load_pages: seen on the web at least once). App-only screens are left out and placed
afterwards among the web-derived leaves by page_map.py's `nearest` rule (their text; co-visits
with mapped pages count where they exist). TnT-LLM reads intent from public browsing, and the
LLM backend generates from web sessions only; clustering app screens with web pages instead
made them a node of their own (docs/measurements.md: app sessions never co-visit web pages, so on the
demo world all 117 app screens formed one top node and web and app sessions shared no node).
A world without 2 web pages (an app alone) clusters every page.

Sessions are labelled from their pages and searches (labels.py), not embedded one by one:
embedding each session's text would cost minutes per 100k sessions, pages and distinct
queries cost seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sparse
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.metrics import silhouette_score

from clickintent.taxonomy.embeddings import TextEmbedder, normalize_rows
from clickintent.taxonomy.inputs import page_text, strip_site_name
from clickintent.taxonomy.model import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, Node, Taxonomy
from clickintent.taxonomy.sessions import SessionBatch

BACKEND = "offline"
# Words that name the site's furniture, not a need.
_EXTRA_STOP_WORDS = {"page", "pages", "today", "online", "example", "bank", "app", "faq", "faqs", "overview", "com", "www"}
_STOP_WORDS = ENGLISH_STOP_WORDS | _EXTRA_STOP_WORDS
SILHOUETTE_TOLERANCE = 0.05


@dataclass(frozen=True)
class OfflineConfig:
    min_top_nodes: int = 8
    max_top_nodes: int = 24
    max_children: int = 6
    min_pages_to_split: int = 8  # a level-1 cluster with fewer pages stays a leaf
    min_child_silhouette: float = 0.05  # split only when the children are actually apart
    behaviour_dimensions: int = 48
    behaviour_weight: float = 0.5  # share of the page vector's norm from behaviour (the rest: text)
    seed: int = 7


@dataclass
class PageSpace:
    """Pages (error pages excluded) with their vectors."""

    pages: pd.DataFrame  # page_path, page_title, title (site name stripped), platform, n_events
    text: np.ndarray  # (n, 384) MiniLM of title + path words
    behaviour: np.ndarray  # (n, d) co-visit embedding; zero rows for pages never co-visited
    combined: np.ndarray  # (n, 384 + d), unit rows

    @property
    def index(self) -> dict[str, int]:
        return {path: row for row, path in enumerate(self.pages["page_path"])}


def generation_pages(pages: pd.DataFrame) -> pd.DataFrame:
    """The pages the taxonomy is generated from: non-error pages seen on the web; every
    non-error page when fewer than 2 are (a world with an app alone)."""
    pages = pages[~pages["is_error_page"]]
    if "platform" in pages.columns:
        web = pages[pages["platform"] == "web"]
        if len(web) >= 2:
            pages = web
    return pages.reset_index(drop=True)


def build_page_space(pages: pd.DataFrame, batch: SessionBatch, embedder: TextEmbedder, config: OfflineConfig) -> PageSpace:
    """The space of `generation_pages(pages)`: app-only screens are not clustered."""
    pages = generation_pages(pages).copy()
    pages["title"] = strip_site_name(pages["page_title"])
    text = embedder.embed([page_text(path, title) for path, title in zip(pages["page_path"], pages["title"])])
    behaviour = behaviour_vectors(pages["page_path"].tolist(), batch, config.behaviour_dimensions, config.seed)
    weight = float(np.clip(config.behaviour_weight, 0.0, 1.0))
    combined = normalize_rows(np.hstack([np.sqrt(1 - weight) * text, np.sqrt(weight) * behaviour]))
    return PageSpace(pages=pages, text=text, behaviour=behaviour, combined=combined)


def session_page_incidence(page_paths: list[str], batch: SessionBatch) -> sparse.csr_matrix:
    """Sessions x pages, 1 where the session saw the page."""
    index = {path: row for row, path in enumerate(page_paths)}
    columns = np.fromiter((index.get(path, -1) for path in batch.page_path), dtype=np.int64, count=batch.n_events)
    known = columns >= 0
    matrix = sparse.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (batch.event_session[known], columns[known])),
        shape=(len(batch), len(page_paths)),
    )
    matrix.data[:] = 1.0  # duplicates were summed
    return matrix


def behaviour_vectors(page_paths: list[str], batch: SessionBatch, dimensions: int, seed: int) -> np.ndarray:
    """Unit vectors from positive PMI of page co-visits within sessions, reduced by SVD."""
    n_pages = len(page_paths)
    if n_pages < 3:
        return np.zeros((n_pages, 1), dtype=np.float32)
    incidence = session_page_incidence(page_paths, batch)
    covisits = (incidence.T @ incidence).toarray().astype(np.float64)
    np.fill_diagonal(covisits, 0.0)
    total = covisits.sum()
    if total <= 0:
        return np.zeros((n_pages, 1), dtype=np.float32)
    rows = covisits.sum(axis=1, keepdims=True)
    columns = covisits.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(covisits * total / (rows @ columns))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    components = max(1, min(dimensions, n_pages - 1))
    reduced = TruncatedSVD(n_components=components, random_state=seed).fit_transform(ppmi)
    return normalize_rows(reduced.astype(np.float32))


def choose_clusters(vectors: np.ndarray, low: int, high: int, tolerance: float = SILHOUETTE_TOLERANCE) -> tuple[np.ndarray, float]:
    """Ward clustering; the number of clusters is the smallest in [low, high] whose cosine
    silhouette is within `tolerance` (relative) of the best. Parsimony, like the one-standard-
    error rule: on small or noisy data the silhouette curve is flat and its maximum jumps
    around (measured: 15 vs 24 level-1 nodes on 100 % vs 80 % of a 40k-event world), which
    would change the taxonomy's shape with every data window."""
    n = len(vectors)
    high = min(high, n - 1)
    low = min(max(2, low), high)
    if n < 3 or high < 2:
        return np.zeros(n, dtype=np.int64), 0.0
    # One tree, cut at every k: the full tree is computed once and cut many times.
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=0.0, linkage="ward", compute_full_tree=True).fit(vectors)
    candidates = []
    for k in range(low, high + 1):
        labels = _cut_tree(model.children_, n, k)
        candidates.append((k, labels, float(silhouette_score(vectors, labels, metric="cosine"))))
    best = max(score for _, _, score in candidates)
    threshold = best - tolerance * abs(best)
    _, labels, score = next(candidate for candidate in candidates if candidate[2] >= threshold)
    return labels, score


def _cut_tree(children: np.ndarray, n: int, k: int) -> np.ndarray:
    """Labels 0..k-1 from a merge tree (sklearn's children_) stopped k clusters before the root."""
    parent = np.arange(2 * n - 1)
    for merge, (left, right) in enumerate(children[: n - k]):
        parent[left] = parent[right] = n + merge

    def root(node: int) -> int:
        while parent[node] != node:
            node = parent[node]
        return node

    roots = np.array([root(leaf) for leaf in range(n)])
    # Number clusters by their first page so that labels do not depend on merge order.
    _, first = np.unique(roots, return_index=True)
    order = {roots[index]: rank for rank, index in enumerate(sorted(first))}
    return np.array([order[value] for value in roots], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# naming


def _documents(space: PageSpace) -> list[str]:
    return [page_text(path, title) for path, title in zip(space.pages["page_path"], space.pages["title"])]


def distinctive_terms(
    documents: list[str], groups: np.ndarray, n_terms: int = 3, weights: np.ndarray | None = None
) -> dict[int, list[str]]:
    """For each group, its terms of highest class-based TF-IDF against the other groups.

    A document's terms count `weights` times (the page's log traffic), so that a group is
    named after the pages people actually visit."""
    vectorizer = CountVectorizer(
        ngram_range=(1, 2), stop_words=sorted(_STOP_WORDS), token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9]+\b", lowercase=True
    )
    try:
        counts = vectorizer.fit_transform(documents)
    except ValueError:  # only stop words
        return {int(group): [] for group in np.unique(groups)}
    if weights is not None:
        counts = sparse.csr_matrix(counts.multiply(np.asarray(weights, dtype=np.float64)[:, None]))
    vocabulary = np.array(vectorizer.get_feature_names_out())
    group_ids = np.unique(groups)
    per_group = np.vstack([np.asarray(counts[groups == group].sum(axis=0)).ravel() for group in group_ids]).astype(np.float64)
    term_frequency = per_group / np.maximum(per_group.sum(axis=1, keepdims=True), 1.0)
    average_words = per_group.sum() / len(group_ids)
    idf = np.log1p(average_words / np.maximum(per_group.sum(axis=0), 1.0))
    # Within a group, a term on many of its pages beats one repeated on a single page.
    page_presence = np.vstack([np.asarray((counts[groups == group] > 0).mean(axis=0)).ravel() for group in group_ids])
    scores = term_frequency * idf * (0.5 + page_presence)
    named: dict[int, list[str]] = {}
    for row, group in enumerate(group_ids):
        chosen: list[str] = []
        for term_index in np.argsort(-scores[row], kind="stable"):
            if scores[row, term_index] <= 0 or len(chosen) == n_terms:
                break
            term = str(vocabulary[term_index])
            # A term sharing a word with a chosen one adds little ("help accessibility" after
            # "accessibility services").
            if any(_stems(term) & _stems(other) for other in chosen):
                continue
            chosen.append(term)
        named[int(group)] = chosen
    return named


def _stems(term: str) -> set[str]:
    """Words with a plural 's' removed: 'loans' repeats 'loan'."""
    return {word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word for word in term.split()}


def node_slug(terms: list[str], fallback: str) -> str:
    """The first two words of the node's terms: short ids that still say what the node is."""
    words = [word for term in terms for word in re.sub(r"[^a-z0-9]+", " ", term.lower()).split()]
    slug = "_".join(list(dict.fromkeys(words))[:2])
    return slug[:40].strip("_") or fallback


def node_name(terms: list[str], fallback: str) -> str:
    if not terms:
        return fallback
    words = [term[:1].upper() + term[1:] for term in terms]
    return ", ".join(words)[:MAX_NAME_CHARS]


def node_description(terms: list[str], titles: list[str]) -> str:
    about = ", ".join(terms) if terms else "a mix of pages"
    typical = "; ".join(titles[:4])
    text = f"Visits whose pages and searches are mostly about {about}. Typical pages: {typical}."
    return text[:MAX_DESCRIPTION_CHARS]


def unique_id(candidate: str, taken: set[str]) -> str:
    candidate = candidate[:64]
    if candidate not in taken:
        return candidate
    for number in range(2, 1000):
        suffixed = f"{candidate[:60]}_{number}"
        if suffixed not in taken:
            return suffixed
    raise RuntimeError(f"cannot make a unique id from {candidate!r}")


@dataclass
class OfflineTaxonomy:
    taxonomy: Taxonomy
    page_nodes: pd.DataFrame  # page_path, node_id (a leaf): cluster membership
    top_silhouette: float


def generate_offline(space: PageSpace, config: OfflineConfig, *, version: int = 1) -> OfflineTaxonomy:
    """Cluster pages into a 2-level taxonomy (level 3 is left to the LLM or to reviewers)."""
    n_pages = len(space.pages)
    if n_pages < 2:
        raise ValueError(f"the offline backend needs at least 2 pages (not error pages) to cluster; got {n_pages}")
    documents = _documents(space)
    top_labels, silhouette = choose_clusters(space.combined, config.min_top_nodes, config.max_top_nodes)
    traffic = space.pages["n_events"].to_numpy()
    weights = np.log1p(traffic)
    top_terms = distinctive_terms(documents, top_labels, weights=weights)
    titles = space.pages["title"].fillna(space.pages["page_path"]).tolist()

    nodes: list[Node] = []
    taken: set[str] = set()
    leaf_of_page = np.empty(n_pages, dtype=object)
    for cluster in np.unique(top_labels):
        members = np.flatnonzero(top_labels == cluster)
        terms = top_terms.get(int(cluster), [])
        top_id = unique_id(node_slug(terms, f"node_{cluster}"), taken)
        taken.add(top_id)
        by_traffic = members[np.argsort(-traffic[members], kind="stable")]
        nodes.append(Node(top_id, None, 1, node_name(terms, top_id), node_description(terms, [titles[i] for i in by_traffic])))
        children = _split(space.combined[members], config)
        if children is None:
            leaf_of_page[members] = top_id
            continue
        child_terms = distinctive_terms([documents[i] for i in members], children, weights=weights[members])
        for child in np.unique(children):
            child_members = members[children == child]
            terms_here = child_terms.get(int(child), [])
            child_id = unique_id(f"{top_id}.{node_slug(terms_here, f'part_{child}')}", taken)
            taken.add(child_id)
            ranked = child_members[np.argsort(-traffic[child_members], kind="stable")]
            nodes.append(
                Node(child_id, top_id, 2, node_name(terms_here, child_id), node_description(terms_here, [titles[i] for i in ranked]))
            )
            leaf_of_page[child_members] = child_id
    taxonomy = Taxonomy(nodes=tuple(nodes), version=version, backend=BACKEND)
    page_nodes = pd.DataFrame({"page_path": space.pages["page_path"].to_numpy(), "node_id": leaf_of_page.astype(str)})
    return OfflineTaxonomy(taxonomy=taxonomy, page_nodes=page_nodes, top_silhouette=silhouette)


def _split(vectors: np.ndarray, config: OfflineConfig) -> np.ndarray | None:
    n = len(vectors)
    if n < config.min_pages_to_split:
        return None
    labels, score = choose_clusters(vectors, 2, min(config.max_children, n // 3))
    if len(np.unique(labels)) < 2 or score < config.min_child_silhouette:
        return None
    return labels
