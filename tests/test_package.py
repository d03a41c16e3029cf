"""The fastgan package itself: subpackages reachable as attributes after `import fastgan`."""

import importlib

import pytest

import fastgan


def test_subpackages_load_on_first_use():
    for name in fastgan._SUBPACKAGES:
        assert getattr(fastgan, name) is importlib.import_module(f"fastgan.{name}")
    assert callable(fastgan.ops.modulated_conv2d)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fastgan.nope  # noqa: B018
