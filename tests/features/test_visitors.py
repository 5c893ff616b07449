"""The visitor key in Python (the live twin of the dbt macro visitor_id)."""

from __future__ import annotations

import pytest

from clickintent.features.visitors import visitor_id


def test_the_visitor_key_names_its_platform_and_refuses_bad_input():
    assert visitor_id("web", "a_1") == "web:a_1" and visitor_id("app", "a_1") == "app:a_1"
    with pytest.raises(ValueError, match="platform must be one of"):
        visitor_id("tv", "a_1")
    with pytest.raises(ValueError, match="anonymous_id must be a non-empty string"):
        visitor_id("web", "")
