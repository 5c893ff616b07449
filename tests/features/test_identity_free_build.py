"""Identity-free mode in batch: `identity_linking = "off"` writes no web -> customer link anywhere.

The fixture world (tests/support/raw_world.py) has a customer, c_001, who signs in on the web
from two cookies and also uses the app; a third cookie's login stitches its earlier anonymous
sessions (tests/support/identity_worlds.py). The same world is built twice, with the default
setting and with "off" (the session fixture identity_worlds); the model-output tables the
taxonomy and encoder stages derive from the marts are written by their own writers
(features/model_outputs.py, encoder/embed.py) from stand-in predictions, so that the test
covers every table that could carry the link without training a model. The default build must link (else the test would prove nothing), the "off"
build must not, and app sessions keep their customer in both.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from clickintent.features.dbt import dbt_vars
from clickintent.features.identity_links import REPORT_NAME
from clickintent.features.mart_equality import marts_in
from clickintent.features.model_outputs import (
    CUSTOMER_WEB_EMBEDDING,
    CUSTOMER_WEB_INTENT_LABELS,
    SESSION_EMBEDDING,
    SESSION_INTENT,
)
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings
from support.identity_worlds import STITCH_COOKIE
from support.raw_world import CASES

pytestmark = pytest.mark.slow

CUSTOMER = CASES["login_customer"]
# Marts with one row per web session, by the column naming the session.
WEB_SESSION_MARTS = {"fct_web_sessions": "web_session_id", "fct_web_login_links": "web_session_id"}
# Customer-level tables built only from linked web sessions: empty without a link.
CUSTOMER_WEB_MARTS = ("fct_web_login_links", "fct_customer_web_intent")
CUSTOMER_WEB_OUTPUTS = (CUSTOMER_WEB_INTENT_LABELS, CUSTOMER_WEB_EMBEDDING)


@pytest.fixture(scope="module")
def worlds(identity_worlds) -> dict[str, Settings]:
    return identity_worlds


def _mart(settings: Settings, name: str) -> pd.DataFrame:
    return pd.read_parquet(mart_location(settings.marts_dir, name))


def _web_session_ids(settings: Settings) -> set[str]:
    return set(_mart(settings, "fct_web_sessions")["web_session_id"])


def _tables(settings: Settings) -> dict[str, pd.DataFrame]:
    """Every mart and model-output table of the world, by name."""
    tables = {model: pd.read_parquet(mart_location(settings.marts_dir, model)) for model in marts_in(settings.marts_dir)}
    for output in (SESSION_INTENT, SESSION_EMBEDDING, *CUSTOMER_WEB_OUTPUTS):
        tables[output.feature_view] = pd.read_parquet(output.path(settings))
    return tables


def _web_rows_with_a_customer(settings: Settings) -> dict[str, int]:
    """Rows, per table, that put a web session next to a customer id."""
    web_sessions = _web_session_ids(settings)
    found = {}
    for name, table in _tables(settings).items():
        if "customer_id" not in table.columns:
            continue
        named = table["customer_id"].notna()
        if "platform" in table.columns:  # session-level tables of both platforms
            web = table["platform"] == "web"
        elif name in WEB_SESSION_MARTS:
            web = pd.Series(True, index=table.index)
        elif "latest_web_session_id" in table.columns or "web_session_id" in table.columns:  # customer-level web tables
            web = pd.Series(True, index=table.index)
        elif "session_id" in table.columns:  # labels observed at a session (web end or app start)
            web = table["session_id"].isin(web_sessions)
        else:  # customer tables that no web session reaches (profiles, tile impressions)
            continue
        if int((named & web).sum()):
            found[name] = int((named & web).sum())
    return found


def test_the_setting_reaches_dbt_as_a_var(worlds):
    assert dbt_vars(worlds["login"])["identity_linking"] == "login"
    assert dbt_vars(worlds["off"])["identity_linking"] == "off"
    # what dbt ran with is in its run results
    for mode, settings in worlds.items():
        run_results = json.loads((settings.dbt_dir / "target" / "run_results.json").read_text())
        assert run_results["args"]["vars"]["identity_linking"] == mode


def test_default_build_links_web_sessions_to_the_customer(worlds):
    """The control: with "login" the same world has web -> customer links in every place checked."""
    settings = worlds["login"]
    linked = _web_rows_with_a_customer(settings)
    for name in (*CUSTOMER_WEB_MARTS, "fct_web_sessions", "fct_session_sequences", "fct_conversion_labels", SESSION_EMBEDDING.feature_view):
        assert linked.get(name, 0) > 0, (name, linked)
    for output in CUSTOMER_WEB_OUTPUTS:
        assert set(pd.read_parquet(output.path(settings))["customer_id"]) == {CUSTOMER}


def test_identity_free_build_links_no_web_session_anywhere(worlds):
    settings = worlds["off"]
    assert _web_rows_with_a_customer(settings) == {}
    for name in CUSTOMER_WEB_MARTS:
        assert _mart(settings, name).empty, name
    for output in CUSTOMER_WEB_OUTPUTS:
        table = pq.read_table(output.path(settings))
        assert table.num_rows == 0 and table.schema.equals(output.arrow_schema()), output.feature_view
    # the conversion labels keep only app observations
    labels = _mart(settings, "fct_conversion_labels")
    assert not labels.empty and set(labels["observation_point"]) == {"app_session_start"}
    # the web sessions are all still there, anonymous (the login itself is still a session fact)
    assert _web_session_ids(settings) == _web_session_ids(worlds["login"])
    web = _mart(settings, "fct_web_sessions")
    assert web["customer_id"].isna().all() and web["has_login"].any()
    intents = pd.read_parquet(settings.taxonomy_dir / "session_intents.parquet")
    assert intents.loc[intents["platform"] == "web", "customer_id"].isna().all()


def test_identity_free_mode_writes_no_stitched_link(worlds):
    """The control world stitches the cookie's anonymous sessions; "off" links none of them, and
    the build's report says so."""
    links = {mode: _mart(settings, "fct_web_login_links") for mode, settings in worlds.items()}
    stitched = links["login"][links["login"]["link_method"] == "stitched"]
    assert len(stitched) == 2 and set(stitched["anonymous_id"]) == {STITCH_COOKIE}
    assert links["off"].empty
    reports = {mode: json.loads((settings.reports_dir / REPORT_NAME).read_text()) for mode, settings in worlds.items()}
    assert reports["login"]["linked_web_sessions"] == {"login_session_alone": 5, "stitched": 2, "with_stitching": 7}
    assert reports["off"]["linked_web_sessions"] == {"login_session_alone": 0, "stitched": 0, "with_stitching": 0}
    assert reports["off"]["identity_linking"] == "off"
    # the cookie's journey is still there, the same in both modes: it names no customer
    journeys = {mode: _mart(settings, "fct_visitor_journeys") for mode, settings in worlds.items()}
    pd.testing.assert_frame_equal(journeys["login"], journeys["off"])
    assert "customer_id" not in journeys["off"].columns


def test_app_sessions_keep_the_customer_the_app_signed_in(worlds):
    """The app's own sign-in is not a web -> customer link: both modes keep it, identically."""
    app = {}
    for mode, settings in worlds.items():
        sequences = _mart(settings, "fct_session_sequences")
        app[mode] = sequences.loc[sequences["platform"] == "app", ["session_id", "customer_id"]].sort_values("session_id")
        embeddings = pd.read_parquet(SESSION_EMBEDDING.path(settings))
        assert CUSTOMER in set(embeddings.loc[embeddings["platform"] == "app", "customer_id"])
    assert (app["off"]["customer_id"] == CUSTOMER).any()
    pd.testing.assert_frame_equal(app["login"].reset_index(drop=True), app["off"].reset_index(drop=True))
    # and what does not depend on the link is the same in both builds
    for name in ("dim_customer_profiles", "fct_tile_impressions", "dim_products", "fct_session_filter_counts", "fct_customer_app_intent"):
        pd.testing.assert_frame_equal(_mart(worlds["login"], name), _mart(worlds["off"], name), obj=name)


def test_plain_dbt_takes_unquoted_off_and_rejects_other_values(worlds, tmp_path):
    """By hand, `dbt build --vars '{identity_linking: off}'`: YAML reads the bare word as false,
    which must still mean "off"; a value that is neither stops the build at compile time."""
    from clickintent.features.dbt import _dbt_args, _invoke

    settings = worlds["off"]

    def compile_sessions(variables: str):
        args = _dbt_args(settings, "compile")
        args[args.index("--vars") + 1] = variables
        args[args.index("--target-path") + 1] = str(tmp_path / "target")
        return _invoke(settings, [*args, "--select", "int_sessions", "--quiet"])

    unquoted = compile_sessions("{identity_linking: off}")
    assert unquoted.success
    compiled = next(iter(unquoted.result.results)).node.compiled_code
    assert "min(customer_id) filter (where platform = 'app') as customer_id" in compiled
    default = compile_sessions("{}")
    assert default.success and "min(customer_id) as customer_id" in next(iter(default.result.results)).node.compiled_code
    bad = compile_sessions("{identity_linking: stitch}")
    assert not bad.success and "identity_linking must be 'login' or 'off', got stitch" in str(bad.exception)


def test_identity_free_online_store_holds_no_linked_web_row(worlds):
    """Feast apply + materialize of both worlds: the customer-keyed web views get rows only with links."""
    from clickintent.features.store import apply_feature_repo, materialize, online_row_count

    views = ("customer_web_intent", *(output.feature_view for output in CUSTOMER_WEB_OUTPUTS))
    rows = {}
    for mode, settings in worlds.items():
        apply_feature_repo(settings)
        materialize(settings)
        rows[mode] = {view: online_row_count(settings, view) for view in views}
        rows[mode]["customer_profile"] = online_row_count(settings, "customer_profile")
    assert all(count > 0 for count in rows["login"].values()), rows
    assert rows["off"] == {**dict.fromkeys(views, 0), "customer_profile": rows["login"]["customer_profile"]}, rows
