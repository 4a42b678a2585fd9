"""Runs the docstring examples of every module of ``simctl.neurons`` (spec: examples must run)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import simctl.neurons

MODULES = sorted(
    f"simctl.neurons.{info.name}" for info in pkgutil.iter_modules(simctl.neurons.__path__)
)
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_modules_found():
    assert "simctl.neurons.lif" in MODULES
    assert len(MODULES) >= 20


@pytest.mark.parametrize("name", ["simctl.neurons", *MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    results = doctest.testmod(module, optionflags=OPTIONS, verbose=False, report=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed in {name}"
