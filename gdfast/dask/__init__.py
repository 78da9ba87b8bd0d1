"""gdfast on Dask: the estimators over dask arrays and dataframes, with the
native kernels run on each row block where it lives.

Needs ``pip install "gdfast[dask]"`` (dask[array], distributed). Without a
``distributed.Client`` the estimators use dask's local scheduler; with one, its
cluster. Fitted attributes are NumPy arrays; ``predict`` on a dask collection
returns a lazy dask array.
"""

try:
    import dask.array  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'gdfast.dask needs dask: pip install "gdfast[dask]" (dask[array], distributed).'
    ) from error

from gdfast.dask._gd import GDRegressor
from gdfast.dask._gd_classifier import GDClassifier
from gdfast.dask._sgd import SGDRegressor

__all__ = ["GDClassifier", "GDRegressor", "SGDRegressor"]
