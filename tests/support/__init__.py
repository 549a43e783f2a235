"""Pieces shared by test packages and benchmarks (not tests themselves)."""
