"""Every private scikit-learn import gdfast uses, in one place.

The estimators follow scikit-learn's contract to the letter (parameter
constraints, ``_fit_context``, sample-weight checks), which today needs these
private helpers. If a scikit-learn release moves one, this is the only file to
change.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

__all__ = ["Interval", "StrOptions", "_check_sample_weight", "_fit_context"]
