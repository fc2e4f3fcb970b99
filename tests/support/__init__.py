"""Helpers the tests share (not test doubles: those live in tests/doubles)."""
