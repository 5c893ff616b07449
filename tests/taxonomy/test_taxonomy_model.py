"""The taxonomy file: readable YAML, validated with errors that name the node and field, versioned
by content, and the diff between two versions."""

from __future__ import annotations

import pytest
import yaml

from clickintent.taxonomy.diff import diff_taxonomies, resolve_taxonomy
from clickintent.taxonomy.io import TaxonomyPaths
from clickintent.taxonomy.model import Node, Taxonomy, TaxonomyFileError

DOCUMENT = """\
format: 1
version: 2
backend: offline
nodes:
  - id: home_buying
    name: Home buying
    description: Visitors buying a home.
    examples: [s1, s2]
    children:
      - id: home_buying.mortgage
        name: Mortgage
        description: Mortgage products.
        pinned_pages: [/mortgages/rates]
        children:
          - id: home_buying.mortgage.compare
            name: Compare
            description: Comparing mortgage rates.
  - id: fraud_concern
    name: Fraud
    description: Visitors worried about fraud.
"""


def test_a_document_loads_into_a_tree_with_parents_and_levels() -> None:
    taxonomy = Taxonomy.from_yaml(DOCUMENT)
    assert taxonomy.node_ids == ["home_buying", "home_buying.mortgage", "home_buying.mortgage.compare", "fraud_concern"]
    leaf = taxonomy.node("home_buying.mortgage.compare")
    assert (leaf.parent_id, leaf.level) == ("home_buying.mortgage", 3)
    assert taxonomy.top_of(leaf.id).id == "home_buying"
    assert [node.id for node in taxonomy.leaves] == ["home_buying.mortgage.compare", "fraud_concern"]
    assert taxonomy.top_node_ids == ["fraud_concern", "home_buying"]  # sorted by id, as dbt orders them
    assert taxonomy.node("home_buying.mortgage").pinned_pages == ("/mortgages/rates",)
    assert taxonomy.nodes_per_level() == {1: 2, 2: 1, 3: 1}
    assert taxonomy.taxonomy_version.startswith("v2-")


def test_save_and_load_round_trip_keeps_everything(tmp_path) -> None:
    taxonomy = Taxonomy.from_yaml(DOCUMENT)
    path = tmp_path / "taxonomy.yaml"
    taxonomy.save(path)
    text = path.read_text()
    assert text.startswith("# clickintent intent taxonomy")  # a header tells a reviewer how to edit
    assert f"# taxonomy_version: {taxonomy.taxonomy_version}" in text
    again = Taxonomy.load(path)
    assert again == taxonomy
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away


def _edited(change) -> str:
    document = yaml.safe_load(DOCUMENT)
    change(document)
    return yaml.safe_dump(document, sort_keys=False)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["nodes"][0]["children"][0].update(desciption="typo"),
            "nodes[0].children[0] (id 'home_buying.mortgage'): unknown field 'desciption'",
        ),
        (lambda d: d["nodes"][1].update(name=""), "nodes[1] (id 'fraud_concern'): name must be a non-empty string"),
        (lambda d: d["nodes"][1].update(id="Fraud Concern"), "nodes[1] (id 'Fraud Concern'): id must be a lowercase slug"),
        (lambda d: d["nodes"][1].update(id="home_buying"), "node id 'home_buying' is used more than once"),
        (lambda d: d["nodes"][1].pop("description"), "nodes[1] (id 'fraud_concern'): description must be a non-empty string"),
        (
            lambda d: d["nodes"][0]["children"][0]["children"][0].update(
                children=[{"id": "deep", "name": "Deep", "description": "Too deep."}]
            ),
            "nodes[0].children[0].children[0].children[0] (id 'deep'): is at level 4; a taxonomy has at most 3 levels",
        ),
        (lambda d: d["nodes"][1].update(pinned_pages=["/mortgages/rates"]), "page '/mortgages/rates' is pinned to both"),
        (lambda d: d.update(version=0), "version must be a positive integer"),
        (lambda d: d.update(nodes=[]), "nodes must be a non-empty list"),
        (lambda d: d["nodes"][1].update(pinned_pages=["mortgages"]), "pinned_pages must be a list of page paths starting with '/'"),
    ],
)
def test_a_bad_edit_is_rejected_with_the_node_and_field_named(change, expected: str) -> None:
    with pytest.raises(TaxonomyFileError) as raised:
        Taxonomy.from_yaml(_edited(change), source="taxonomy.yaml")
    assert expected in str(raised.value)
    assert str(raised.value).startswith("invalid taxonomy taxonomy.yaml:")


def test_every_problem_is_listed_at_once() -> None:
    def two_problems(document: dict) -> None:
        document["nodes"][0]["name"] = ""
        document["nodes"][1]["colour"] = "red"

    with pytest.raises(TaxonomyFileError) as raised:
        Taxonomy.from_yaml(_edited(two_problems))
    assert len(raised.value.problems) == 2


def test_not_yaml_is_a_clear_error() -> None:
    with pytest.raises(TaxonomyFileError, match="not valid YAML"):
        Taxonomy.from_yaml("nodes: [unclosed", source="x.yaml")


def test_the_version_follows_content_but_not_examples() -> None:
    taxonomy = Taxonomy.from_yaml(DOCUMENT)
    with_other_examples = taxonomy.with_examples({"home_buying": ["s9"]})
    assert with_other_examples.taxonomy_version == taxonomy.taxonomy_version
    renamed = Taxonomy.from_yaml(_edited(lambda d: d["nodes"][1].update(name="Fraud and scams")))
    assert renamed.taxonomy_version != taxonomy.taxonomy_version
    assert renamed.version == taxonomy.version  # nobody bumped the number, the hash still tells them apart


def test_a_flat_llm_proposal_becomes_a_tree_whatever_its_order() -> None:
    proposal = {
        "nodes": [
            {"id": "home_buying.mortgage", "parent_id": "home_buying", "level": 2, "name": "Mortgage", "description": "d"},
            {"id": "home_buying", "parent_id": None, "level": 1, "name": "Home buying", "description": "d"},
        ]
    }
    taxonomy = Taxonomy.from_proposal(proposal, backend="llm:m")
    assert taxonomy.node_ids == ["home_buying", "home_buying.mortgage"]
    assert taxonomy.to_proposal()["nodes"][1]["parent_id"] == "home_buying"


def test_a_node_under_an_unknown_parent_is_refused() -> None:
    with pytest.raises(TaxonomyFileError, match="parent 'nowhere', which is not a node"):
        Taxonomy(nodes=(Node("a", None, 1, "A", "d"), Node("a.b", "nowhere", 2, "B", "d")))


def test_diff_names_added_removed_renamed_moved_and_redescribed() -> None:
    old = Taxonomy.from_yaml(DOCUMENT)

    def edit(document: dict) -> None:
        document["version"] = 3
        mortgage = document["nodes"][0]["children"][0]
        mortgage["name"] = "Mortgages"  # renamed
        compare = mortgage.pop("children")[0]
        document["nodes"][1]["children"] = [compare]  # moved under fraud_concern (level 2 now)
        document["nodes"][1]["description"] = "Scams and fraud."  # redescribed
        document["nodes"].append({"id": "retirement", "name": "Retirement", "description": "Saving for later."})  # added

    new = Taxonomy.from_yaml(_edited(edit))
    diff = diff_taxonomies(old, new)
    assert [node.id for node in diff.added] == ["retirement"]
    assert diff.removed == []
    assert [(a.name, b.name) for a, b in diff.renamed] == [("Mortgage", "Mortgages")]
    assert [(a.parent_id, b.parent_id) for a, b in diff.moved] == [("home_buying.mortgage", "fraud_concern")]
    assert [b.id for _, b in diff.redescribed] == ["fraud_concern"]
    markdown = diff.to_markdown()
    assert "## Moved (1)" in markdown and "`home_buying.mortgage.compare`: parent `home_buying.mortgage` -> `fraud_concern`" in markdown
    removal = diff_taxonomies(new, old)
    assert [node.id for node in removal.removed] == ["retirement"]
    assert diff_taxonomies(old, old).unchanged


def test_versions_are_resolved_by_number_file_or_current(tmp_path) -> None:
    paths = TaxonomyPaths(taxonomy_dir=tmp_path, models_dir=tmp_path / "models", reports_dir=tmp_path / "reports")
    taxonomy = Taxonomy.from_yaml(DOCUMENT)
    taxonomy.save(paths.versions_dir / "taxonomy.v2.yaml")
    taxonomy.save(paths.taxonomy)
    assert resolve_taxonomy("v2", paths) == taxonomy
    assert resolve_taxonomy("2", paths) == taxonomy
    assert resolve_taxonomy("current", paths) == taxonomy
    assert resolve_taxonomy(str(paths.taxonomy), paths) == taxonomy
    with pytest.raises(FileNotFoundError, match=r"no taxonomy version 7 .*available: taxonomy.v2.yaml"):
        resolve_taxonomy("7", paths)
