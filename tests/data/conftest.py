"""Fixtures of tests/data (the builders live in builders.py)."""

from tests.data.builders import class_folder, fashion_root  # noqa: F401
