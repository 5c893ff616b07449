"""`clickintent taxonomy review`: the taxonomy for a person to read, as Markdown or HTML.

The tree with each node's size (pages mapped to it, teacher-labelled sessions, share of all
sessions the classifier gives it, descendants included), then per node its description, its
busiest pages and its example sessions as the LLM would see them (redacted session text).
Everything printed from data is escaped (HTML) or fenced (Markdown): page titles are untrusted.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from clickintent.settings import Settings
from clickintent.taxonomy.inputs import load_pages, sequences_path
from clickintent.taxonomy.io import TaxonomyPaths
from clickintent.taxonomy.model import Node, Taxonomy
from clickintent.taxonomy.session_text import render_session_text
from clickintent.taxonomy.sessions import LIST_COLUMNS, SCALAR_COLUMNS, SessionBatch

MAX_PAGES_SHOWN = 8


@dataclass
class NodeView:
    node: Node
    pages: int = 0
    teacher_sessions: int = 0
    session_share: float | None = None
    top_pages: list[str] = field(default_factory=list)
    examples: list[tuple[str, str]] = field(default_factory=list)  # (session id, redacted text)


@dataclass
class ReviewData:
    taxonomy: Taxonomy
    views: dict[str, NodeView]
    total_sessions: int | None


def gather_review(settings: Settings, taxonomy: Taxonomy | None = None, *, with_examples: bool = True) -> ReviewData:
    paths = TaxonomyPaths.from_settings(settings)
    taxonomy = taxonomy or Taxonomy.load(paths.taxonomy)
    views = {node.id: NodeView(node) for node in taxonomy.nodes}

    def credit(node_id: str, attribute: str, amount: float) -> None:
        if node_id not in taxonomy:
            return
        for target in [taxonomy.node(node_id), *taxonomy.ancestors(node_id)]:
            setattr(views[target.id], attribute, (getattr(views[target.id], attribute) or 0) + amount)

    titles: dict[str, str | None] = {}
    if paths.page_map.is_file():
        page_map = pq.read_table(paths.page_map).to_pandas()
        traffic: dict[str, int] = {}
        try:
            pages = load_pages(settings)
            titles = dict(zip(pages["page_path"], pages["page_title"]))
            traffic = dict(zip(pages["page_path"], pages["n_events"]))
        except FileNotFoundError:
            pass
        page_map["traffic"] = page_map["page_path"].map(traffic).fillna(0)
        for node_id, group in page_map.groupby("node_id"):
            credit(str(node_id), "pages", len(group))
        for node in taxonomy.nodes:
            covered = {node.id, *(child.id for child in taxonomy.descendants(node.id))}
            busiest = page_map[page_map["node_id"].isin(covered)].sort_values(["traffic", "page_path"], ascending=[False, True])
            views[node.id].top_pages = busiest["page_path"].head(MAX_PAGES_SHOWN).tolist()
    if paths.teacher_labels.is_file():
        labels = pq.read_table(paths.teacher_labels, columns=["primary_node_id"]).to_pandas()
        for node_id, count in labels["primary_node_id"].value_counts().items():
            credit(str(node_id), "teacher_sessions", int(count))
    total_sessions = None
    if paths.session_intents.is_file():
        intents = pq.read_table(paths.session_intents, columns=["intent_node_id"]).to_pandas()
        total_sessions = len(intents)
        for node_id, count in intents["intent_node_id"].value_counts().items():
            credit(str(node_id), "session_share", count / max(total_sessions, 1))
    if with_examples:
        _attach_examples(settings, taxonomy, views, titles)
    return ReviewData(taxonomy=taxonomy, views=views, total_sessions=total_sessions)


def _attach_examples(settings: Settings, taxonomy: Taxonomy, views: dict[str, NodeView], titles: dict[str, str | None]) -> None:
    wanted = sorted({session_id for node in taxonomy.nodes for session_id in node.examples})
    path = sequences_path(settings)
    if not wanted or not path.exists():
        return
    table = pq.read_table(path, columns=[*SCALAR_COLUMNS, *LIST_COLUMNS], filters=[("session_id", "in", wanted)])
    if table.num_rows == 0:
        return
    batch = SessionBatch.from_table(table)
    row_of = batch.row_of()
    for node in taxonomy.nodes:
        for session_id in node.examples:
            if session_id in row_of:
                views[node.id].examples.append((session_id, render_session_text(batch.events(row_of[session_id], titles), max_chars=1200)))


def _size(view: NodeView) -> str:
    parts = [f"{view.pages} page{'s' if view.pages != 1 else ''}", f"{view.teacher_sessions:,} teacher-labelled sessions"]
    if view.session_share is not None:
        parts.append(f"{100 * view.session_share:.1f} % of sessions")
    return " · ".join(parts)


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _md_inline(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>()#+!|])", r"\\\1", text)


def render_markdown(data: ReviewData) -> str:
    taxonomy = data.taxonomy
    levels = ", ".join(f"level {level}: {count}" for level, count in taxonomy.nodes_per_level().items())
    lines = [
        f"# Intent taxonomy {taxonomy.taxonomy_version}",
        "",
        f"Backend: {taxonomy.backend} · {len(taxonomy)} nodes ({levels}) · created {taxonomy.created_at}"
        + (f" · {data.total_sessions:,} sessions labelled" if data.total_sessions else ""),
        "",
        "## Tree",
        "",
    ]
    for node in taxonomy.nodes:
        view = data.views[node.id]
        lines.append(f"{'  ' * (node.level - 1)}- **{_md_inline(node.name)}** `{node.id}` — {_size(view)}")
    lines += ["", "## Nodes", ""]
    for node in taxonomy.nodes:
        view = data.views[node.id]
        lines += [
            f"{'#' * min(6, node.level + 2)} {_md_inline(node.name)} (`{node.id}`)",
            "",
            _md_inline(node.description),
            "",
            _size(view),
            "",
        ]
        if node.parent_id:
            lines += [f"Parent: `{node.parent_id}`", ""]
        if view.top_pages:
            lines += ["Busiest pages: " + ", ".join(f"`{page.replace('`', '')}`" for page in view.top_pages), ""]
        if node.pinned_pages:
            lines += ["Pinned pages: " + ", ".join(f"`{page.replace('`', '')}`" for page in node.pinned_pages), ""]
        for session_id, text in view.examples:
            lines += [f"Example session `{session_id}`:", "", _fence(text), ""]
    return "\n".join(lines).rstrip() + "\n"


def render_html(data: ReviewData) -> str:
    taxonomy = data.taxonomy
    escape = html.escape
    levels = ", ".join(f"level {level}: {count}" for level, count in taxonomy.nodes_per_level().items())

    def tree(parent_id: str | None) -> str:
        children = taxonomy.children(parent_id)
        if not children:
            return ""
        items = "".join(
            f"<li><a href='#{escape(node.id)}'><b>{escape(node.name)}</b></a> <code>{escape(node.id)}</code> "
            f"<small>{escape(_size(data.views[node.id]))}</small>{tree(node.id)}</li>"
            for node in children
        )
        return f"<ul>{items}</ul>"

    sections = []
    for node in taxonomy.nodes:
        view = data.views[node.id]
        pages = "".join(f"<li><code>{escape(page)}</code></li>" for page in view.top_pages)
        examples = "".join(
            f"<details><summary>session <code>{escape(session_id)}</code></summary><pre>{escape(text)}</pre></details>"
            for session_id, text in view.examples
        )
        sections.append(
            f"<section id='{escape(node.id)}'><h{min(6, node.level + 1)}>{escape(node.name)} <code>{escape(node.id)}</code></h{min(6, node.level + 1)}>"
            f"<p>{escape(node.description)}</p><p><small>{escape(_size(view))}</small></p>"
            + (f"<p>Busiest pages:</p><ul>{pages}</ul>" if pages else "")
            + examples
            + "</section>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Intent taxonomy {escape(taxonomy.taxonomy_version)}</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:auto}pre{white-space:pre-wrap;background:#f4f4f4;padding:.5rem}"
        "section{border-top:1px solid #ddd;margin-top:1rem}</style></head><body>"
        f"<h1>Intent taxonomy {escape(taxonomy.taxonomy_version)}</h1>"
        f"<p>Backend: {escape(taxonomy.backend)} · {len(taxonomy)} nodes ({escape(levels)}) · created {escape(taxonomy.created_at)}</p>"
        f"<h2>Tree</h2>{tree(None)}<h2>Nodes</h2>{''.join(sections)}</body></html>\n"
    )


def render_review(settings: Settings, output_format: str = "markdown", taxonomy: Taxonomy | None = None) -> str:
    if output_format not in ("markdown", "html"):
        raise ValueError(f"format must be markdown or html; got {output_format!r}")
    data = gather_review(settings, taxonomy)
    return render_markdown(data) if output_format == "markdown" else render_html(data)
