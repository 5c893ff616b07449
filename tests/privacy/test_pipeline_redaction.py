"""Personal data in page paths, referrers and search queries reaches neither the marts nor the
encoder's vocabulary, and a live event gets the token its redacted batch copy got.

One dbt build of the fixture world (tests/support/raw_world.py) plus a visitor whose paths,
referrer and searches carry an e-mail, an account number and a phone number."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow as pa
import pytest

from clickintent.encoder.tokens import fit_vocabulary, normalize_page_path
from clickintent.events.contract import EVENTS
from clickintent.events.loader import replace_table_set
from clickintent.features.dbt import run_dbt_build
from clickintent.features.partitioned_marts import mart_files
from clickintent.settings import load_settings
from support.marts import mart_glob
from support.raw_world import T0, build_fixture_world, write_page_map

pytestmark = pytest.mark.slow

PERSONAL = ("jane.doe", "12345678", "415.555.0123", "example.com/?email")
PII_EVENTS = [
    ("/users/jane.doe@example.com/settings", "https://mail.example.com/?email=jane.doe@example.com", None, "page_view"),
    ("/app/accounts/12345678/activity", None, None, "page_view"),
    ("/search", None, "call me at 415.555.0123", "search"),
    ("/app/accounts/12345678/activity", None, None, "page_view"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    settings = load_settings(data_dir=tmp_path_factory.mktemp("pii_world") / "data", threads=1)
    tables, page_map = build_fixture_world()
    rows = [
        {
            "event_id": f"pii_{index}",
            "event_ts": T0 + timedelta(days=1, minutes=index),
            "platform": "web",
            "anonymous_id": "v_pii",
            "customer_id": None,
            "event_type": event_type,
            "page_path": path,
            "page_title": "Account",
            "search_query": query,
            "dwell_ms": 20_000,
            "referrer": referrer,
            "utm_source": None,
            "device_type": "desktop",
            "product_id": None,
        }
        for index, (path, referrer, query, event_type) in enumerate(PII_EVENTS)
    ]
    tables["events"] = pa.concat_tables([tables["events"], pa.Table.from_pylist(rows, schema=EVENTS.arrow_schema())])
    replace_table_set(tables, settings.raw_dir)
    write_page_map(settings.data_dir, page_map)
    result = run_dbt_build(settings, quiet=True)
    assert result.success, result.summary()
    return settings


def test_no_mart_holds_the_personal_data(built) -> None:
    marts = mart_files(built.marts_dir)  # a partitioned mart's days one by one
    assert marts
    with duckdb.connect() as connection:
        found = {
            mart.name: hits
            for mart in marts
            if (
                hits := [
                    value
                    for value in PERSONAL
                    if connection.execute(
                        "select count(*) from read_parquet(?) as row where contains(cast(row as varchar), ?)", [str(mart), value]
                    ).fetchone()[0]
                ]
            )
        }
        paths = [
            r[0]
            for r in connection.execute(
                "select distinct unnest(page_paths) from read_parquet(?)", [mart_glob(built.marts_dir, "fct_session_sequences")]
            ).fetchall()
        ]
    assert found == {}
    assert "/users/[EMAIL]/settings" in paths and "/app/accounts/[ACCOUNT]/activity" in paths


def test_the_encoder_vocabulary_holds_the_redacted_page_and_live_paths_meet_it(built) -> None:
    with duckdb.connect() as connection:
        frame = connection.execute("select * from read_parquet(?)", [mart_glob(built.marts_dir, "fct_session_sequences")]).df()
    vocabulary = fit_vocabulary(frame, min_page_count=1)
    assert not [page for page in vocabulary.pages if any(value in page for value in PERSONAL) or "@" in page]
    # A redacted segment is an identifier: one ':id' token, like the ids in paths.
    assert "/app/accounts/:id/activity" in vocabulary.pages
    # a live event with another account number gets the trained page's token, not an unknown one
    live = vocabulary.page_tokens("/app/accounts/87654321/activity")
    assert live == vocabulary.page_tokens("/app/accounts/[ACCOUNT]/activity")
    assert live[0] == vocabulary.page_id("/app/accounts/:id/activity")
    assert normalize_page_path("/Users/Jane.Doe@Example.com/Settings/") == "/users/:id/settings"
