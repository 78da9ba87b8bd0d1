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

class Loop:
    def __init__(self, callback: object = None) -> None: ...
    def reraise(self) -> None: ...

def sgd_fit_dense(*args: object) -> dict: ...
def sgd_fit_csr(*args: object) -> dict: ...
def gd_fit_dense(*args: object) -> dict: ...
def gd_fit_csr(*args: object) -> dict: ...
def column_stats_dense(
    X: NDArray[np.floating], sample_weight: NDArray[np.floating] | None, n_threads: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def column_stats_csr(*args: object) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def comoments_dense(*args: object) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]: ...
def step_sgd(theta: NDArray[np.floating], g: NDArray[np.floating], lr: float) -> bool: ...
def step_momentum(
    theta: NDArray[np.floating],
    g: NDArray[np.floating],
    v: NDArray[np.floating],
    lr: float,
    beta: float,
    nesterov: bool,
) -> bool: ...
def step_adagrad(
    theta: NDArray[np.floating],
    g: NDArray[np.floating],
    sum_sq: NDArray[np.floating],
    lr: float,
    eps: float,
) -> bool: ...
def step_rmsprop(
    theta: NDArray[np.floating],
    g: NDArray[np.floating],
    mean_sq: NDArray[np.floating],
    lr: float,
    rho: float,
    eps: float,
) -> bool: ...
def step_adam(
    theta: NDArray[np.floating],
    g: NDArray[np.floating],
    m: NDArray[np.floating],
    v: NDArray[np.floating],
    lr: float,
    beta_1: float,
    beta_2: float,
    eps: float,
    step: float,
    weight_decay: float,
) -> bool: ...
