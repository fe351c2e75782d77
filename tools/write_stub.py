"""Write src/relukit/__init__.pyi from the installed relukit (run after adding a public name).

tests/test_typing_stub.py fails when the stub and relukit.__all__ disagree."""

import inspect
import pathlib

import numpy as np

import relukit

RUNTIME = {
    "set_num_threads": "def set_num_threads(n: int) -> None: ...",
    "get_num_threads": "def get_num_threads() -> int: ...",
    "threads": "def threads(n: int) -> AbstractContextManager[None]: ...",
    "config": "def config() -> dict[str, Any]: ...",
    "show_config": "def show_config() -> None: ...",
}
SPECIAL_TYPES = {"axis": "int", "training": "bool", "seed": "int | None", "approximate": "str",
                 "per_unit": "bool", "out": "np.ndarray | None", "act": "str", "from_output": "bool"}
RESULTS = {"prelu_weight_grad": "np.ndarray", "relu_mask": "np.ndarray",
           "bias_act_backward": "tuple[np.ndarray, np.ndarray]"}


def stub_line(name, func):
    params = []
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            params.append("**kwargs: Any")
            continue
        kind = SPECIAL_TYPES.get(p.name, "ArrayLike")
        params.append(f"{p.name}: {kind}" + ("" if p.default is p.empty else f" = {p.default!r}"))
    result = RESULTS.get(name, "Any")
    return f"def {name}({', '.join(params)}) -> {result}: ..."


def main():
    lines = ['"""Typing stubs for relukit; written by tools/write_stub.py."""', "",
             "from contextlib import AbstractContextManager", "from typing import Any", "",
             "import numpy as np", "from numpy.typing import ArrayLike", "", "__version__: str", ""]
    for name in relukit.__all__:
        value = getattr(relukit, name)
        if name in RUNTIME:
            lines.append(RUNTIME[name])
        elif isinstance(value, np.ufunc):
            lines.append(f"{name}: np.ufunc")
        else:
            lines.append(stub_line(name, value))
    path = pathlib.Path(__file__).parents[1] / "src" / "relukit" / "__init__.pyi"
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
