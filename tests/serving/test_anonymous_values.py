"""The anonymous ranker's live inputs in the Recommender: the stored journey with the live session
added once (stand-in models and store: support.stand_in_recommender)."""

from __future__ import annotations

from datetime import timedelta

from clickintent.serving.online import VisitorRow
from serving.schemas import EXAMPLE_EVENTS
from support.stand_in_recommender import stand_in_recommender, validated_events

STORED_JOURNEY = {"n_sessions_30d": 3, "n_events_30d": 20, "n_form_starts_30d": 1, "days_since_first_session_30d": 6.0}


def _values(tmp_path, stored_at_offset: timedelta) -> dict:
    recommender, _ = stand_in_recommender(tmp_path)
    recommender._reads_journey = True
    events = validated_events(*EXAMPLE_EVENTS)
    session = recommender.session_models.read(events)
    visitor = VisitorRow("web:a_5e1d", True, dict(STORED_JOURNEY), dict.fromkeys(STORED_JOURNEY, session.end_ts + stored_at_offset))
    return recommender._anonymous_values(session, events, None, visitor)


def test_a_returning_visitors_live_session_is_added_to_the_stored_journey(tmp_path) -> None:
    values = _values(tmp_path, -timedelta(days=1))
    assert values["n_sessions_30d"] == 4 and values["n_events_30d"] == 20 + len(EXAMPLE_EVENTS)
    assert values["days_since_previous_session"] is not None and values["n_journey_sessions"] == 1


def test_a_session_the_stored_journey_already_holds_is_not_added_again(tmp_path) -> None:
    values = _values(tmp_path, timedelta(0))
    assert values["n_sessions_30d"] == 3 and values["n_events_30d"] == 20
