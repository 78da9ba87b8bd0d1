"""gdfast: gradient descent for linear models in native code.

The compiled core (C++ kernels parallelized with OpenMP, behind one Cython
module) computes losses, gradients and fused parameter updates; a
scikit-learn-style layer on top offers drop-in regressors and classifiers.
"""

try:
    from gdfast import _core  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on how Python was started
    raise ImportError(
        "gdfast's compiled extension (gdfast._core) could not be imported. If you are in "
        "the source tree, Python is importing the uncompiled 'gdfast' folder: install the "
        "package (pip install .) and run from another directory, or run the tests with "
        "'pytest' rather than 'python -m pytest'."
    ) from exc

from gdfast import kernels, reference
from gdfast._config import show_config
from gdfast._divergence import DivergenceError, DivergenceWarning
from gdfast._gd import GDRegressor
from gdfast._gd_classifier import GDClassifier
from gdfast._plot import plot_loss_curve
from gdfast._sgd import SGDRegressor
from gdfast._sgd_classifier import SGDClassifier

__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "GDClassifier",
    "GDRegressor",
    "SGDClassifier",
    "SGDRegressor",
    "__version__",
    "kernels",
    "plot_loss_curve",
    "reference",
    "show_config",
]
