"""Every public function and layer has a numpydoc docstring whose examples run and print what
they say.

The examples are built from ``obj.__doc__`` with ``doctest.DocTestParser``, not found with
``DocTestFinder``: the finder skips ufuncs and Cython functions (neither is a Python function),
and would look in the layers' inherited methods too. Their outputs are literals in the
docstrings, so a kernel that changes a printed digit fails here.
"""

import doctest
import inspect
import re

import numpy as np
import pytest

import relukit
from relukit import nn

FUNCTIONS = [getattr(relukit, name) for name in relukit.__all__]
LAYERS = [getattr(nn, name) for name in nn.__all__]


def _name(obj):
    return obj.__name__


def _takes_parameters(obj):
    if isinstance(obj, np.ufunc):
        return obj.nin > 0
    return bool(inspect.signature(obj).parameters)


def _section(doc, title):
    """A numpydoc section: its title on a line of its own, underlined by as many dashes."""
    return re.search(rf"^\s*{title}\n\s*{'-' * len(title)}\n", doc, re.M) is not None


def run_examples(obj, name):
    """Run the examples of obj's docstring; return the doctest report (empty when all pass)."""
    test = doctest.DocTestParser().get_doctest(inspect.cleandoc(obj.__doc__ or ""), {}, name, None, 0)
    assert test.examples, f"{name}: no examples"
    assert any(example.want for example in test.examples), f"{name}: no example shows an output"
    report = []
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    runner.run(test, out=report.append)
    return "".join(report)


@pytest.mark.parametrize("obj", FUNCTIONS + LAYERS, ids=_name)
def test_numpydoc_sections(obj):
    doc = obj.__doc__ or ""
    assert doc.strip(), f"{obj.__name__} has no docstring"
    assert _section(doc, "Examples"), f"{obj.__name__}: no Examples section"
    if _takes_parameters(obj):
        assert _section(doc, "Parameters"), f"{obj.__name__}: no Parameters section"


@pytest.mark.parametrize("obj", [nn] + FUNCTIONS + LAYERS, ids=_name)
def test_examples_run(obj):
    report = run_examples(obj, obj.__name__)
    assert not report, report


def test_a_wrong_example_fails():
    """The runner reports a wrong output (it does not just execute the examples)."""
    class Wrong:
        """>>> 1 + 1
        3
        """
    assert "Expected:\n    3\nGot:\n    2" in run_examples(Wrong, "Wrong")
