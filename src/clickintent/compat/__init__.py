"""Adapters for library internals kept for a measured gain: one module per library.

Each adapter takes the private path only when the installed library still has it with the
expected signature, falls back to the library's public API otherwise, and has a test in
tests/compat/ that fails when an upgrade removes or changes the internal.
"""
