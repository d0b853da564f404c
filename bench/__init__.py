"""Benchmark and load-test helpers for Tollgate (not imported by the gateway itself)."""
