"""Local epochs with model averaging: each round, every row block runs one
epoch of the in-memory estimator (the native epoch) on its worker, starting
from the current model; the client averages the models, weighted by rows, and
the engine's epoch rule (tol / n_iter_no_change) judges the averaged objective.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import dask
import numpy as np

from gdfast import _core
from gdfast.dask._blocks import _dense


@dataclass
class BlockEpoch:
    """A block's model after its epoch: its state, epoch objective and rows."""

    state: dict
    objective: float
    n_rows: int


def block_epoch(
    X, y, w, make: Callable, state: dict | None, first: dict, seed: int, step_scale: float
) -> BlockEpoch:
    """One epoch of ``make(seed, step_scale)`` (the estimator, run in memory)
    on a block, from ``state`` (its fitted attributes), or, with None, a first
    call of its ``_first_block_epoch`` with the keyword arguments ``first``."""
    X = _dense(X)
    if X.shape[0] == 0:
        return BlockEpoch({}, 0.0, 0)  # left out of the average
    y = np.asarray(y)
    w = None if w is None else np.asarray(w)
    estimator = make(seed, step_scale)
    with warnings.catch_warnings():
        # The client judges the averaged model; a block's own is not the fit's.
        warnings.simplefilter("ignore")
        if state is None:
            estimator._first_block_epoch(X, y, w, **first)
        else:
            estimator._load_round_state(state)
            estimator._one_epoch(X, y, w, False)
    return BlockEpoch(estimator._round_state(), float(estimator.loss_curve_[-1]), X.shape[0])


def average_states(parts: list[BlockEpoch]) -> dict:
    """The row-weighted mean of each array (and number) of the blocks' states;
    other values are the first block's."""
    weights = np.array([p.n_rows for p in parts], dtype=np.float64)
    weights /= weights.sum()
    out = {}
    for name, first in parts[0].state.items():
        if isinstance(first, np.ndarray) and first.dtype.kind == "f":
            total = sum(
                wt * p.state[name].astype(np.float64) for wt, p in zip(weights, parts, strict=True)
            )
            out[name] = total.astype(first.dtype)
        else:
            out[name] = first
    return out


def merge_running_means(previous: np.ndarray, before: float, parts: list, counts: list):
    """The running mean of every block's iterates, from each block's own.

    Each block started its running mean at ``previous`` (over ``before``
    iterates) and returns it over ``counts[b]`` iterates: the sum of the new
    ones is ``mean_b counts_b - previous before``; the merged mean weighs every
    iterate of every block once. None when no block has averaged yet."""
    added = sum(c - before for c in counts)
    if before + added <= 0:
        return None
    total = previous.astype(np.float64) * before * (1 - len(parts))
    for mean_b, count in zip(parts, counts, strict=True):
        total = total + mean_b.astype(np.float64) * count
    return (total / (before + added)).astype(previous.dtype)


def block_seeds(random_state, epoch: int, n_blocks: int) -> list[int]:
    """Shuffling seeds of each block for a round: from an integer random_state,
    the same on every run; otherwise drawn."""
    if isinstance(random_state, int | np.integer):
        sequence = np.random.SeedSequence([int(random_state), epoch])
    else:
        sequence = np.random.SeedSequence()
    return [int(s) for s in sequence.generate_state(n_blocks) % (2**31 - 1)]


def run_rounds(
    estimator,
    blocks,
    *,
    params,
    loop: _core.Loop,
    max_iter: int,
    state: dict | None,
    first: dict,
    after_round: Callable[[dict, dict | None, list[BlockEpoch]], dict],
    score: Callable | None = None,
):
    """Rounds of local epochs until the rule of ``params`` stops them or
    max_iter; returns (the averaged state, the record). ``after_round(state,
    previous, parts)`` adjusts the row-weighted mean of the blocks' states
    (counters that add up over a round, running means of iterates);
    ``score(W, b)``, the validation R² of the averaged model (early stopping)."""
    rule = _core.EpochRule(params, loop, score is not None)
    make = estimator._block_estimator
    status = _core.STATUS_OK
    parts_of = blocks.delayed()
    # The adaptive schedule's step, relative to eta0 (its floor: eta 1e-6).
    step_scale = 1.0
    for epoch in range(max_iter):
        seeds = block_seeds(estimator.random_state, epoch, len(parts_of))
        tasks = [
            dask.delayed(block_epoch, pure=False)(xb, yb, wb, make, state, first, seed, step_scale)
            for (xb, yb, wb), seed in zip(parts_of, seeds, strict=True)
        ]
        parts = [p for p in dask.compute(*tasks) if p.n_rows > 0]
        n_rows = sum(p.n_rows for p in parts)
        state = after_round(average_states(parts), state, parts)
        objective = sum(p.objective * p.n_rows for p in parts) / n_rows
        finite = all(
            np.isfinite(v).all() for v in state.values() if isinstance(v, np.ndarray | float)
        )
        can_shrink = estimator._can_shrink(step_scale)
        r2 = 0.0
        if score is not None and finite:
            coef = np.asarray(state["coef_"], dtype=np.float64)
            r2 = score(
                coef.reshape(-1, coef.shape[-1]),
                np.atleast_1d(np.asarray(state["intercept_"], dtype=np.float64)),
            )
        ended = rule.epoch_end(epoch, objective, finite and np.isfinite(objective), can_shrink, r2)
        if ended == "shrink":
            step_scale /= 5.0
        elif ended is not None:
            status = ended
            break
    return state, rule.record(status)
