"""Dask collections as the estimators take them: row blocks of X, y and
sample_weight aligned block for block, checked on the client from metadata only
(the values are checked where they are read, on the workers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp


def is_dask(obj: Any) -> bool:
    """Whether ``obj`` is a dask collection (array, dataframe, series)."""
    return dask.is_dask_collection(obj)


def _is_frame(obj: Any) -> bool:
    """A dask DataFrame (a Series has ndim 1)."""
    return hasattr(obj, "to_dask_array") and getattr(obj, "ndim", 0) == 2


@dataclass
class Blocks:
    """X, y and sample_weight as aligned dask arrays of row blocks."""

    X: da.Array
    y: da.Array | None
    sample_weight: da.Array | None
    feature_names: np.ndarray | None

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def persisted(self) -> Blocks:
        """The same blocks computed once and kept (in the workers' memory on a
        cluster), for algorithms that read them many times."""
        X, y, w = dask.persist(self.X, self.y, self.sample_weight)
        return Blocks(X, y, w, self.feature_names)

    def split(self, fraction: float, seed: int) -> tuple[Blocks, Blocks]:
        """(training, validation) blocks for early stopping: in every block,
        ceil(fraction * rows) rows drawn from ``seed`` and the block's index are
        held out (scikit-learn's ShuffleSplit count, per block)."""
        held = tuple(int(np.ceil(fraction * n)) for n in self.X.chunks[0])
        kept = tuple(n - h for n, h in zip(self.X.chunks[0], held, strict=True))
        if sum(held) == 0 or sum(kept) == 0:
            raise ValueError(
                f"Splitting {self.n_samples} samples into a train set and a validation set "
                f"with validation_fraction={fraction!r} led to an empty set ({sum(kept)} and "
                f"{sum(held)} samples). Please either change validation_fraction, increase "
                "number of samples, or disable early_stopping."
            )

        def part(a, rows, validation):
            if a is None:
                return None
            chunks = (rows, *a.chunks[1:])
            return a.map_blocks(
                _held_out_rows, seed, fraction, validation, chunks=chunks, dtype=a.dtype
            )

        train = Blocks(
            part(self.X, kept, False),
            part(self.y, kept, False),
            part(self.sample_weight, kept, False),
            self.feature_names,
        )
        validation = Blocks(
            part(self.X, held, True),
            part(self.y, held, True),
            part(self.sample_weight, held, True),
            self.feature_names,
        )
        return train, validation

    def delayed(self) -> list[tuple]:
        """(X block, y block, weight block) of each row block, as delayed objects."""
        xs = self.X.to_delayed().ravel()
        ys = [None] * len(xs) if self.y is None else list(self.y.to_delayed().ravel())
        ws = (
            [None] * len(xs)
            if self.sample_weight is None
            else list(self.sample_weight.to_delayed().ravel())
        )
        return list(zip(xs, ys, ws, strict=True))


def _held_out_rows(block, seed: int, fraction: float, validation: bool, block_info=None):
    """The held-out (``validation``) or the other rows of a row block: the same
    ceil(fraction * rows) rows for X, y and weights of the block."""
    index = block_info[0]["chunk-location"][0]
    n = block.shape[0]
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng([seed, index]).permutation(n)[: int(np.ceil(fraction * n))]] = True
    return block[mask] if validation else block[~mask]


def _float_dtype(dtype: np.dtype, name: str) -> np.dtype:
    """float32 and float64 stay; integers and booleans become float64."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:  # a pandas extension dtype (strings, categories, ...)
        raise TypeError(
            f"{name} has dtype {dtype}: gdfast.dask estimators take real numbers (float32, "
            "float64, integers or booleans)."
        ) from None
    if dtype in (np.float32, np.float64):
        return dtype
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(
        f"{name} has dtype {dtype}: gdfast.dask estimators take real numbers (float32, "
        "float64, integers or booleans)."
    )


def _as_array(
    obj: Any, name: str, known_rows: bool = True, numbers: bool = True
) -> tuple[da.Array, np.ndarray | None]:
    """A dask array for a dask array or dataframe (with known chunk sizes when
    ``known_rows``: counting a dataframe's rows computes its partitions), and
    the column names of a dataframe with string column names. ``numbers``:
    the columns must hold real numbers (not for class labels)."""
    names = None
    if _is_frame(obj):
        columns = list(obj.columns)
        if columns and all(isinstance(c, str) for c in columns):
            names = np.asarray(columns, dtype=object)
        for column, dtype in obj.dtypes.items():
            if numbers:
                _float_dtype(dtype, f"{name} column {column!r}")
        obj = obj.to_dask_array(lengths=True if known_rows else None)
    elif hasattr(obj, "to_dask_array"):  # a series
        if numbers:
            _float_dtype(obj.dtype, name)
        obj = obj.to_dask_array(lengths=True if known_rows else None)
    elif not isinstance(obj, da.Array):
        raise TypeError(f"{name} is a {type(obj).__name__}: expected a dask array or dataframe.")
    if known_rows and any(np.isnan(c) for chunks in obj.chunks for c in chunks):
        # (compute_chunk_sizes changes the array it is called on: a copy's, so
        # that the caller's keeps its chunks)
        obj = obj.copy().compute_chunk_sizes()
    if sp.issparse(getattr(obj, "_meta", None)):
        raise TypeError(
            f"{name} has sparse blocks: gdfast.dask estimators take dense blocks "
            "(fit sparse data in memory with gdfast.GDRegressor)."
        )
    return obj, names


def as_blocks(
    X: Any,
    y: Any = None,
    sample_weight: Any = None,
    known_rows: bool = True,
    labels: bool = False,
) -> Blocks:
    """Check shapes and dtypes and align the row blocks of X, y and sample_weight.

    X blocks split along columns are joined (one block holds whole rows); y and
    sample_weight are rechunked to X's row blocks. ``known_rows=False`` (X
    alone, for predict) leaves unknown row counts unknown: nothing is computed.
    ``labels``: y holds class labels (one column, any dtype, kept as it is).
    """
    X, names = _as_array(X, "X", known_rows)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got {X.ndim} dimension(s).")
    if X.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}): at least 1 is needed.")
    if X.shape[0] == 0 and known_rows:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}): at least 1 is needed.")
    dtype = _float_dtype(X.dtype, "X")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    X = X.astype(dtype, copy=False)
    out_y = out_w = None
    if y is not None:
        out_y, _ = _as_array(y, "y", numbers=not labels)
        if labels and out_y.ndim == 2 and out_y.shape[1] == 1:
            out_y = out_y[:, 0]
        if out_y.ndim not in ((1,) if labels else (1, 2)):
            raise ValueError(
                f"y must be {'1-D class labels' if labels else '1-D or 2-D'}; got shape "
                f"{out_y.shape}."
            )
        if out_y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X and y have different numbers of rows: {X.shape[0]} and {out_y.shape[0]}."
            )
        rows = {0: X.chunks[0], 1: -1} if out_y.ndim == 2 else {0: X.chunks[0]}
        if not labels:
            _float_dtype(out_y.dtype, "y")
            out_y = out_y.astype(dtype, copy=False)
        out_y = out_y.rechunk(rows)
    if sample_weight is not None:
        out_w, _ = _as_array(sample_weight, "sample_weight")
        if out_w.ndim != 1 or out_w.shape[0] != X.shape[0]:
            raise ValueError(
                f"sample_weight must be 1-D with one weight per row of X ({X.shape[0]}); "
                f"got shape {out_w.shape}."
            )
        _float_dtype(out_w.dtype, "sample_weight")
        out_w = out_w.astype(dtype, copy=False).rechunk({0: X.chunks[0]})
    return Blocks(X, out_y, out_w, names)
