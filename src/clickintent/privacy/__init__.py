"""Personal data: the one redactor of free text (search queries, page paths, referrers, LLM
prompts), in Python and as the dbt macro generated from the same rules."""

from clickintent.privacy.redaction import PLACEHOLDERS, Redaction, redact, redact_event, redact_optional, redact_with_report

__all__ = ["PLACEHOLDERS", "Redaction", "redact", "redact_event", "redact_optional", "redact_with_report"]
