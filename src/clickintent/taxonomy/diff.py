"""`clickintent taxonomy diff OLD NEW`: what changed between two taxonomy versions.

Nodes are compared by id (ids are stable across versions, see matching.py): added, removed,
renamed (same id, new name), moved (same id, new parent), redescribed (same id, new
description). OLD and NEW are files, or version numbers / 'current' resolved in the taxonomy
directory (versions/taxonomy.v<N>.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from clickintent.taxonomy.io import TaxonomyPaths
from clickintent.taxonomy.model import Node, Taxonomy


@dataclass
class TaxonomyDiff:
    old_version: str
    new_version: str
    added: list[Node] = field(default_factory=list)
    removed: list[Node] = field(default_factory=list)
    renamed: list[tuple[Node, Node]] = field(default_factory=list)
    moved: list[tuple[Node, Node]] = field(default_factory=list)
    redescribed: list[tuple[Node, Node]] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.renamed or self.moved or self.redescribed)

    def to_dict(self) -> dict:
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "added": [{"id": n.id, "name": n.name, "parent_id": n.parent_id} for n in self.added],
            "removed": [{"id": n.id, "name": n.name, "parent_id": n.parent_id} for n in self.removed],
            "renamed": [{"id": new.id, "old_name": old.name, "new_name": new.name} for old, new in self.renamed],
            "moved": [{"id": new.id, "old_parent_id": old.parent_id, "new_parent_id": new.parent_id} for old, new in self.moved],
            "redescribed": [
                {"id": new.id, "old_description": old.description, "new_description": new.description} for old, new in self.redescribed
            ],
        }

    def to_markdown(self) -> str:
        lines = [f"# Taxonomy diff {self.old_version} -> {self.new_version}", ""]
        if self.unchanged:
            return "\n".join([*lines, "No node was added, removed, renamed, moved or redescribed.", ""])
        sections = [
            ("Added", [f"- `{n.id}` {n.name}" + (f" (under `{n.parent_id}`)" if n.parent_id else "") for n in self.added]),
            ("Removed", [f"- `{n.id}` {n.name}" for n in self.removed]),
            ("Renamed", [f"- `{new.id}`: {old.name} -> {new.name}" for old, new in self.renamed]),
            ("Moved", [f"- `{new.id}`: parent `{old.parent_id}` -> `{new.parent_id}`" for old, new in self.moved]),
            ("Redescribed", [f"- `{new.id}`" for _, new in self.redescribed]),
        ]
        for title, items in sections:
            if items:
                lines += [f"## {title} ({len(items)})", "", *items, ""]
        return "\n".join(lines)


def diff_taxonomies(old: Taxonomy, new: Taxonomy) -> TaxonomyDiff:
    result = TaxonomyDiff(old_version=old.taxonomy_version, new_version=new.taxonomy_version)
    old_ids, new_ids = set(old.node_ids), set(new.node_ids)
    result.added = [node for node in new.nodes if node.id not in old_ids]
    result.removed = [node for node in old.nodes if node.id not in new_ids]
    for node in new.nodes:
        if node.id not in old_ids:
            continue
        before = old.node(node.id)
        if before.name != node.name:
            result.renamed.append((before, node))
        if before.parent_id != node.parent_id:
            result.moved.append((before, node))
        if before.description != node.description:
            result.redescribed.append((before, node))
    return result


def resolve_taxonomy(reference: str, paths: TaxonomyPaths) -> Taxonomy:
    """A taxonomy from a file path, a version number ('3' or 'v3') or 'current'."""
    if reference == "current":
        return Taxonomy.load(paths.taxonomy)
    candidate = Path(reference)
    if candidate.is_file():
        return Taxonomy.load(candidate)
    number = reference[1:] if reference.lower().startswith("v") else reference
    if number.isdigit():
        versioned = paths.versions_dir / f"taxonomy.v{int(number)}.yaml"
        if versioned.is_file():
            return Taxonomy.load(versioned)
        available = sorted(path.name for path in paths.versions_dir.glob("taxonomy.v*.yaml")) if paths.versions_dir.is_dir() else []
        raise FileNotFoundError(f"no taxonomy version {number} in {paths.versions_dir} (available: {', '.join(available) or 'none'})")
    raise FileNotFoundError(f"{reference!r} is neither a taxonomy file, a version number nor 'current'")
