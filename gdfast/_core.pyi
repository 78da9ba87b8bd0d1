# Type stubs for the compiled binding gdfast._core (private API; see src/_core.pyx).
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
Floating = NDArray[np.floating]
Indices = NDArray[np.intp]

STATUS_OK: int
STATUS_NONFINITE: int
STATUS_INTERRUPTED: int
STATUS_DIVERGED: int
STATUS_INPUT_NONFINITE: int
CODES: dict[str, dict[str, int]]  # family -> {name: code}, from the C++ enums
SMOOTH_LOSSES: frozenset[str]
MARGIN_LOSSES: frozenset[str]
ROW_LOSSES: frozenset[str]
REGRESSION_LOSSES: dict[str, int]

def openmp_available() -> bool: ...
def max_threads() -> int: ...
def cores() -> int: ...
def simd() -> str: ...
def cpu_simd() -> str: ...
def set_simd(name: str) -> None: ...
def threads_for(n_jobs: int) -> int: ...

class Matrix:
    """A validated dense float32/float64 array (any strides) or CSR matrix."""

    source: object
    canonical: bool | None
    def __init__(self, X: object, structure_checked: bool = False) -> None: ...
    @property
    def n_rows(self) -> int: ...
    @property
    def n_cols(self) -> int: ...
    @property
    def csr(self) -> bool: ...
    @property
    def dtype(self) -> np.dtype: ...

class Fields:
    """A C++ parameter struct, read and written by field name."""

    def names(self) -> list[str]: ...
    def as_dict(self) -> dict[str, float | int | bool]: ...
    def update(self, values: Mapping[str, float] = ..., **fields: float) -> None: ...
    def __getattr__(self, name: str) -> Any: ...
    def __setattr__(self, name: str, value: float) -> None: ...

class SgdParams(Fields): ...
class SgdState(Fields): ...
class GdParams(Fields): ...
class GdState(Fields): ...

class Record:
    status: int
    n_iter: int
    failed_epoch: int
    failed_objective: float
    final_loss: float
    row_sq_norm_max: float
    target_abs_max: float
    objectives: list[float]
    validation_scores: list[float]

class Loop:
    def __init__(
        self,
        callback: Callable[[dict], None] | None = None,
        remote_pass: Callable[[F64, F64, bool, bool], tuple[float, F64, F64]] | None = None,
        remote_score: Callable[[F64, F64], float] | None = None,
    ) -> None: ...
    def reraise(self) -> None: ...

class EpochRule:
    def __init__(
        self, params: SgdParams | GdParams, loop: Loop, has_validation: bool = False
    ) -> None: ...
    def epoch_end(
        self,
        epoch: int,
        objective: float,
        finite: bool,
        can_shrink: bool = False,
        score: float = 0.0,
    ) -> int | str | None: ...
    def record(self, status: int) -> Record: ...

def loss_grad(
    X: Matrix,
    y: Floating,
    sample_weight: Floating | None,
    coef: F64,
    intercept: F64,
    k: int,
    loss_kind: int,
    epsilon: float,
    n_threads: int,
    gradient: bool = True,
) -> tuple[float, F64 | None, F64, int]: ...
def loss_grad_fast(
    X: Any,
    y: Any,
    coef: Any,
    intercept: Any,
    loss: Any,
    epsilon: Any,
    sample_weight: Any,
    n_threads: int,
) -> tuple[float, F64, float] | None: ...
def predict_fast(X: Any, coef: Any, intercept: Any, n_threads: int) -> Floating | None: ...
def predict(
    X: Matrix, coef: F64, intercept: F64, k: int, n_threads: int
) -> tuple[Floating, int]: ...
def column_stats(X: Matrix, sample_weight: Floating | None, n_threads: int) -> tuple[F64, F64]: ...
def row_norm_stats(X: Matrix, n_threads: int) -> tuple[float, float]: ...
def standardize(mean: F64, var: F64, center: bool) -> tuple[F64, F64]: ...
def mean_constant_loss(y: F64, c: F64, loss_kind: int, epsilon: float) -> float: ...
def read_sum(x: Floating, n_threads: int) -> float: ...
def sgd_fit(
    X: Matrix,
    y: Floating,
    sample_weight: Floating | None,
    validation: NDArray[np.uint8] | None,
    coef: F64,
    avg_coef: F64 | None,
    params: SgdParams,
    state: SgdState,
    loop: Loop,
) -> Record: ...
def gd_fit(
    X: Matrix,
    y: Floating,
    k: int,
    sample_weight: Floating | None,
    train_rows: Indices | None,
    val_rows: Indices,
    mean: F64,
    scale: F64,
    coef: F64,
    intercept: F64,
    m1: F64,
    m2: F64,
    avg: F64 | None,
    params: GdParams,
    state: GdState,
    loop: Loop,
    moments: tuple[float, F64, F64] | None = None,
    remote: tuple[float, float] | None = None,
) -> Record: ...
def comoments(
    X: Matrix, y: Floating, k: int, sample_weight: Floating | None, n_threads: int
) -> tuple[float, F64, F64]: ...
def merge_comoments(
    a: tuple[float, F64, F64], b: tuple[float, F64, F64]
) -> tuple[float, F64, F64]: ...
def optimizer_step(
    kind: int,
    theta: Floating,
    g: Floating,
    s1: Floating | None,
    s2: Floating | None,
    lr: float,
    momentum: float,
    beta_1: float,
    beta_2: float,
    rho: float,
    eps: float,
    step: float,
    weight_decay: float,
) -> bool: ...

STEP_HYPER: tuple[str, ...]

def set_step_rules(rules: dict[str, tuple[float, float, float, bool, bool]]) -> None: ...
def optimizer_step_fast(
    kind: int, states: tuple[tuple[str, bool], ...], arguments: dict[str, Any]
) -> bool | None: ...
