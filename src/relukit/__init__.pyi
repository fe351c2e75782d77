from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str

relu: np.ufunc
relu_backward: np.ufunc
relu_backward_from_output: np.ufunc
leaky_relu_ufunc: np.ufunc
leaky_relu_backward_ufunc: np.ufunc
leaky_relu_backward_from_output_ufunc: np.ufunc

def leaky_relu(x: ArrayLike, negative_slope: ArrayLike = 0.01, **kwargs: Any) -> Any: ...
def leaky_relu_backward(
    g: ArrayLike, x: ArrayLike, negative_slope: ArrayLike = 0.01, **kwargs: Any
) -> Any: ...
def leaky_relu_backward_from_output(
    g: ArrayLike, y: ArrayLike, negative_slope: ArrayLike = 0.01, **kwargs: Any
) -> Any: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def threads(n: int) -> AbstractContextManager[None]: ...
def config() -> dict[str, Any]: ...
def show_config() -> None: ...
