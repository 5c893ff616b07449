"""The rules dbt applies in batch and Python applies live give the same answers on Spark too.

tests/taxonomy/test_live_batch_parity.py and tests/privacy/test_macro.py hold DuckDB's rendering
of these macros to their Python twins; here the Spark rendering (`spark__` implementations,
java.util.regex with the patterns rewritten to RE2's meaning) runs in a local Spark session over
the same cases, the regex engines' edge cases included.

Needs pyspark and Java; skipped, saying which is missing, without.
"""

from __future__ import annotations

import itertools

import pytest

from clickintent.features.dbt import spark_build_unavailable
from clickintent.privacy.redaction import redact_optional
from clickintent.taxonomy.dbt_rules import entry_source, is_unknown_page, url_section
from support.dbt_macros import render_macro
from support.redaction_corpus import ENGINE_EDGES, MUST_KEEP, MUST_REDACT
from support.rule_cases import PATHS, QUERIES, REFERRERS, TITLES, UTM_SOURCES

pytestmark = [pytest.mark.slow, pytest.mark.skipif(spark_build_unavailable() is not None, reason=f"{spark_build_unavailable()}")]

REGEX_ENGINE_EDGES = [("/x", "erroré"), ("/x", "\verror"), ("/error\n", None), ("/x", "error\n"), ("/x", "ＥＲＲＯＲ page")]


@pytest.fixture(scope="module")
def spark():
    """A local session configured as the project's Spark profile reads SQL (dbt_project/profiles.yml)."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parser.escapedStringLiterals", "true")
        .getOrCreate()
    )
    yield session
    session.stop()


def run_in_spark(spark, expression: str, columns: list[str], rows: list[tuple]) -> list:
    """`expression` over a table of string `rows`, in row order."""
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    schema = StructType([StructField("case_id", IntegerType()), *(StructField(name, StringType()) for name in columns)])
    spark.createDataFrame([(index, *row) for index, row in enumerate(rows)], schema).createOrReplaceTempView("cases")
    return [row[0] for row in spark.sql(f"select {expression} from cases order by case_id").collect()]


def _disagreements(cases: list, batch: list, live: list) -> list:
    return [(case, batch_answer, live_answer) for case, batch_answer, live_answer in zip(cases, batch, live) if batch_answer != live_answer]


def test_redaction_on_spark_is_the_python_redactor(spark) -> None:
    texts = [text for text, _, _ in MUST_REDACT] + MUST_KEEP + ENGINE_EDGES + list(QUERIES)
    sql = render_macro("redact_pii.sql", "redact_pii('text')", dialect="spark")
    batch = run_in_spark(spark, sql, ["text"], [(text,) for text in texts])
    assert _disagreements(texts, batch, [redact_optional(text) for text in texts]) == []
    assert sum(b != text for b, text in zip(batch, texts)) >= len(MUST_REDACT)


def test_unknown_pages_on_spark_are_the_python_rule(spark) -> None:
    pairs = list(itertools.product(PATHS, TITLES)) + REGEX_ENGINE_EDGES
    sql = render_macro("is_unknown_page.sql", "is_unknown_page('page_path', 'page_title')", dialect="spark")
    batch = run_in_spark(spark, sql, ["page_path", "page_title"], pairs)
    assert _disagreements(pairs, batch, [is_unknown_page(path, title) for path, title in pairs]) == []
    assert 0.1 < sum(batch) / len(batch) < 0.9


def test_url_sections_on_spark_are_the_python_rule(spark) -> None:
    sql = render_macro("url_section.sql", "url_section('page_path')", dialect="spark")
    batch = run_in_spark(spark, sql, ["page_path"], [(path,) for path in PATHS])
    assert _disagreements(list(PATHS), batch, [url_section(path) for path in PATHS]) == []


def test_entry_sources_on_spark_are_the_python_rule(spark) -> None:
    cases = list(itertools.product(REFERRERS, UTM_SOURCES))
    sql = render_macro("entry_source.sql", "entry_source('referrer', 'utm_source')", dialect="spark")
    batch = run_in_spark(spark, sql, ["referrer", "utm_source"], cases)
    assert _disagreements(cases, batch, [entry_source(referrer, utm) for referrer, utm in cases]) == []
