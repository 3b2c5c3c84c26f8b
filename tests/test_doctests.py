"""The examples in public docstrings run as written."""

import doctest
import importlib
import pkgutil

import pytest

import tensorgrad

MODULES = sorted(m.name for m in pkgutil.walk_packages(tensorgrad.__path__, "tensorgrad."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
