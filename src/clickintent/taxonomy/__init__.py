"""Intent taxonomy: session texts, PII redaction, the LLM client and the taxonomy stage built on them."""
