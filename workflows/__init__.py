"""Workflow code: deterministic, no I/O. Activities do the I/O."""
