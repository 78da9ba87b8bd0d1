"""gdfast.plot_loss_curve: the training objective per epoch, with matplotlib."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted


def plot_loss_curve(model: Any, ax: Any = None, *, log: bool = True, label: str | None = None):
    """Draw a fitted model's ``loss_curve_`` (and ``validation_scores_``, if any).

    Parameters
    ----------
    model : GDRegressor or SGDRegressor
        A fitted gdfast estimator.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    log : bool, default=True
        Logarithmic objective axis (when every value is positive).
    label : str, default=None
        Legend label of the curve (the estimator's class name when None).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ImportError
        If matplotlib is not installed (``pip install "gdfast[plot]"``).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('plot_loss_curve needs matplotlib: pip install "gdfast[plot]"') from exc
    check_is_fitted(model, "loss_curve_")
    curve = np.asarray(model.loss_curve_, dtype=float)
    if ax is None:
        _, ax = plt.subplots()
    epochs = np.arange(1, curve.size + 1)
    ax.plot(epochs, curve, label=label or type(model).__name__)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training objective")
    if log and curve.size and np.all(curve > 0):
        ax.set_yscale("log")
    scores = getattr(model, "validation_scores_", None)
    if scores:
        twin = ax.twinx()
        twin.plot(
            np.arange(1, len(scores) + 1),
            scores,
            color="tab:orange",
            linestyle="--",
            label="validation R^2",
        )
        twin.set_ylabel("validation R^2")
    ax.set_title(f"{type(model).__name__}: {curve.size} epochs")
    return ax
