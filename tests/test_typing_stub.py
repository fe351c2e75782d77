"""The shipped typing stub names exactly the public API."""

import ast
import pathlib

import relukit


def test_stub_names_match_public_api():
    stub = pathlib.Path(relukit.__file__).with_name("__init__.pyi")
    tree = ast.parse(stub.read_text())
    names = {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)}
    names |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert names - {"__version__"} == set(relukit.__all__)
