"""Helpers the tests share: world builders, the loopback OpenAI-compatible server, fixture tables."""
