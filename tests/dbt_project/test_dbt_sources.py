"""The dbt project agrees with the event contract and follows its own conventions (no dbt run needed)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from clickintent.events import contract
from clickintent.settings import load_settings

DBT_PROJECT = load_settings().dbt_project_dir
SOURCE_TYPES = {"varchar": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "boolean": pa.bool_()}


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _raw_source_tables() -> dict[str, dict]:
    sources = _yaml(DBT_PROJECT / "models" / "staging" / "_sources.yml")["sources"]
    raw = next(source for source in sources if source["name"] == "raw")
    return {table["name"]: table for table in raw["tables"]}


def test_raw_sources_are_the_contract_tables():
    assert set(_raw_source_tables()) == set(contract.RAW_TABLES)


@pytest.mark.parametrize("table_name", sorted(contract.RAW_TABLES))
def test_source_columns_match_the_contract(table_name):
    table = contract.RAW_TABLES[table_name]
    documented = _raw_source_tables()[table_name]["columns"]
    assert [column["name"] for column in documented] == table.column_names
    for column in documented:
        expected = table.column(column["name"])
        assert column["description"] == expected.description, column["name"]
        if pa.types.is_timestamp(expected.type):
            assert column["data_type"] == "timestamp with time zone", column["name"]
        else:
            assert SOURCE_TYPES[column["data_type"]] == expected.type, column["name"]


def test_allowed_values_in_dbt_vars_match_the_contract():
    variables = _yaml(DBT_PROJECT / "dbt_project.yml")["vars"]
    assert tuple(variables["platforms"]) == contract.PLATFORMS
    assert tuple(variables["event_types"]) == contract.EVENT_TYPES
    # Product families are the products table's: no list in the dbt vars or the contract.
    assert "product_families" not in variables
    assert contract.RAW_TABLES["products"].column("family").allowed is None


def _model_yamls() -> dict[str, tuple[Path, dict]]:
    models = {}
    for path in sorted((DBT_PROJECT / "models").rglob("*.yml")):
        for model in _yaml(path).get("models", []):
            models[model["name"]] = (path, model)
    return models


def test_every_model_has_one_sql_one_yml_a_grain_and_data_tests():
    models = _model_yamls()
    sql_files = {path.stem: path for path in (DBT_PROJECT / "models").rglob("*.sql")}
    assert set(models) == set(sql_files)
    for name, (path, model) in models.items():
        assert path.stem == name, f"{name} is documented in {path.name}; one .yml per model"
        assert "one row per" in " ".join(model["description"].lower().split()), f"{name}: the description states no grain"
        tests = list(model.get("data_tests", [])) + [t for column in model.get("columns", []) for t in column.get("data_tests", [])]
        assert tests, f"{name} has no data tests"


def test_marts_are_external_with_enforced_contracts_and_typed_columns():
    for name, (path, model) in _model_yamls().items():
        if path.parent.name != "marts":
            continue
        config = model["config"]
        assert config["contract"] == {"enforced": True}, name
        assert all(column.get("data_type") for column in model["columns"]), f"{name}: a column lacks data_type"


IDENTIFIER_COLUMNS = {"anonymous_id", "customer_id", "session_id", "web_session_id", "impression_id", "event_ids", "product_id"}
FEAST_ENTITY_KEYS = {
    "web_session": "web_session_id",
    "session": "session_id",
    "customer": "customer_id",
    "product": "product_id",
    "visitor": "visitor_id",
}


def test_feast_metadata_is_complete():
    feast_models = {name: model for name, (path, model) in _model_yamls().items() if "feast" in model.get("config", {}).get("tags", [])}
    assert set(feast_models) == {
        "fct_web_sessions",
        "fct_session_sequences",
        "fct_customer_web_intent",
        "dim_customer_profiles",
        "dim_products",
        "fct_tile_impressions",
        "fct_conversion_labels",
        "fct_anonymous_session_outcomes",
        "fct_visitor_journeys",
        "fct_customer_app_intent",
    }
    views = set()
    for name, model in feast_models.items():
        feast = model["config"]["meta"]["feast"]
        columns = {column["name"]: column for column in model["columns"]}
        assert feast["timestamp_field"] in columns, name
        assert columns[feast["timestamp_field"]]["data_type"] == "timestamp with time zone", name
        for entity in feast["entities"]:
            assert FEAST_ENTITY_KEYS[entity] in columns, f"{name}: no join key for entity {entity}"
        if feast.get("role") == "label":
            assert "feature_view" not in feast, name
        else:
            assert feast["feature_view"] not in views, f"{name}: feature view name reused"
            views.add(feast["feature_view"])
            assert isinstance(feast["ttl_days"], int) and feast["ttl_days"] >= 0, name
        for column in columns.values():
            meta = column.get("config", {}).get("meta", {}).get("feast")
            if meta is not None:
                assert meta == {"feature": False}, f"{name}.{column['name']}: unexpected feast column meta {meta}"
        # identifiers of people, sessions and events are never features, join keys aside
        join_keys = {FEAST_ENTITY_KEYS[entity] for entity in feast["entities"]}
        for column_name in IDENTIFIER_COLUMNS & set(columns) - join_keys:
            assert columns[column_name].get("config", {}).get("meta", {}).get("feast") == {"feature": False}, f"{name}.{column_name}"
