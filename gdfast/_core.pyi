# Type stubs for the compiled binding gdfast._core (private API).
import numpy as np
from numpy.typing import NDArray

STATUS_OK: int
STATUS_NONFINITE: int
STATUS_INTERRUPTED: int
STATUS_DIVERGED: int

def openmp_available() -> bool: ...
def max_threads() -> int: ...
def cores() -> int: ...
def simd() -> str: ...
def set_baseline_simd(baseline: bool) -> None: ...
def threads_for(n_jobs: int) -> int: ...
def loss_grad_dense(
    X: NDArray[np.floating],
    y: NDArray[np.floating],
    sample_weight: NDArray[np.floating] | None,
    coef: NDArray[np.float64],
    intercept: NDArray[np.float64],
    k: int,
    loss_kind: int,
    epsilon: float,
    n_threads: int,
) -> tuple[float, NDArray[np.float64], NDArray[np.float64], int]: ...
def loss_grad_csr(
    data: NDArray[np.floating],
    indices: NDArray[np.integer],
    indptr: NDArray[np.integer],
    n_cols: int,
    y: NDArray[np.floating],
    sample_weight: NDArray[np.floating] | None,
    coef: NDArray[np.float64],
    intercept: NDArray[np.float64],
    k: int,
    loss_kind: int,
    epsilon: float,
    n_threads: int,
) -> tuple[float, NDArray[np.float64], NDArray[np.float64], int]: ...
def predict_dense(
    X: NDArray[np.floating],
    coef: NDArray[np.float64],
    intercept: NDArray[np.float64],
    k: int,
    n_threads: int,
) -> tuple[NDArray[np.floating], int]: ...
def predict_csr(
    data: NDArray[np.floating],
    indices: NDArray[np.integer],
    indptr: NDArray[np.integer],
    n_cols: int,
    coef: NDArray[np.float64],
    intercept: NDArray[np.float64],
    k: int,
    n_threads: int,
) -> tuple[NDArray[np.floating], int]: ...
def read_sum(x: NDArray[np.floating], n_threads: int) -> float: ...
def diverging(objectives: list[float], threshold: float, window: int) -> bool: ...

class Loop:
    def __init__(self, callback: object = None) -> None: ...
    def reraise(self) -> None: ...

def sgd_fit_dense(*args: object) -> dict: ...
def sgd_fit_csr(*args: object) -> dict: ...
