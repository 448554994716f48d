"""The package's public surface: exactly ``__all__``, the same in the stubs."""

from __future__ import annotations

import ast
import pathlib

import sliceplane as sp


def test_import_exports_only_all() -> None:
    public = {n for n in dir(sp) if not n.startswith("_")}
    assert public == set(sp.__all__) - {"__version__"}
    for name in ("Any", "Dict", "List", "Literal", "Optional", "TypedDict"):
        assert not hasattr(sp, name), name
    assert all(hasattr(sp, n) for n in sp.__all__)
    assert len(sp.__all__) == len(set(sp.__all__))


def test_stub_all_matches_runtime_all() -> None:
    stub = pathlib.Path(sp.__file__).with_suffix(".pyi")
    tree = ast.parse(stub.read_text())
    stub_all = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            stub_all = ast.literal_eval(node.value)
    assert stub_all == sp.__all__
