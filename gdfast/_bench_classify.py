"""The classification workloads of ``gdfast bench``: SGDClassifier epochs against
scikit-learn's, two classes and ten (one-vs-all), and GDClassifier against
scikit-learn's LogisticRegression to the same objective."""

from __future__ import annotations

import warnings

import numpy as np

from gdfast._bench import Contestant, Workload


def classification_data(n: int, p: int, n_classes: int, seed: int = 0):
    """Standardized features and labels 0..n_classes-1 from a noisy linear rule."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, n_classes))
    scores = X @ W + 0.5 * rng.standard_normal((n, n_classes))
    y = (scores[:, 0] > 0).astype(np.int64) if n_classes == 2 else scores.argmax(axis=1)
    return X, y


def classifier_workloads(quick: bool = False) -> list[Workload]:
    """W7: one epoch of per-sample SGD (hinge, scikit-learn's default loss, and
    log_loss), same iterates as scikit-learn; n_jobs=None runs the classes one
    after the other, as scikit-learn does, n_jobs=2 two at a time."""
    from sklearn.linear_model import SGDClassifier as SkSGDClassifier

    from gdfast import SGDClassifier

    p = 32
    out = []
    for n_classes, n in ((2, 100_000 if quick else 1_000_000), (10, 20_000 if quick else 200_000)):
        X, y = classification_data(n, p, n_classes)

        def epoch(cls, X=X, y=y, **kw):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return cls(max_iter=1, tol=None, random_state=0, **kw).fit(X, y)

        def accuracy(model, X=X, y=y) -> str:
            return f"accuracy {model.score(X, y):.6f}"

        for loss in ("hinge", "log_loss"):
            contestants = []
            for jobs in (None, 2) if n_classes > 2 else (None,):
                tag = f"(n_jobs={jobs})" if jobs else "()"
                contestants += [
                    Contestant(
                        f"scikit-learn SGDClassifier{tag}",
                        lambda loss=loss, jobs=jobs, e=epoch: e(
                            SkSGDClassifier, loss=loss, n_jobs=jobs
                        ),
                        accuracy,
                    ),
                    Contestant(
                        f"gdfast SGDClassifier{tag}",
                        lambda loss=loss, jobs=jobs, e=epoch: e(
                            SGDClassifier, loss=loss, n_jobs=jobs
                        ),
                        accuracy,
                    ),
                ]
            out.append(
                Workload(
                    key=f"W7-{n_classes}class-{loss.split('_')[0]}",
                    title=(
                        f"W7 one SGDClassifier epoch, loss={loss}, {n_classes} classes, "
                        f"{n:,} x {p} (same model)"
                    ),
                    baseline="scikit-learn SGDClassifier()",
                    rounds=3 if quick else 5,
                    settle=0.0,
                    contestants=contestants,
                )
            )
    return out + logistic_workloads(quick)


def logistic_data(n: int, p: int, n_classes: int, seed: int = 1):
    """Standardized features; labels drawn from a logistic (softmax) model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((n_classes, p)) / np.sqrt(p) * (2.0 if n_classes == 2 else 1.0)
    if n_classes == 2:
        y = (X @ W[0] + rng.logistic(size=n) > 0).astype(np.int64)
    else:
        y = np.argmax(X @ W.T + rng.gumbel(size=(n, n_classes)), axis=1)
    return X, y


def logistic_objective(X, y, model, alpha: float) -> float:
    """Mean log-loss (binary, or multinomial for more classes) + alpha/2 ||W||^2:
    LogisticRegression's objective at C = 1 / (alpha n), and GDClassifier's."""
    from gdfast import kernels

    index = np.searchsorted(model.classes_, y)
    coef = np.asarray(model.coef_, dtype=np.float64)
    b = np.asarray(model.intercept_, dtype=np.float64)
    if len(model.classes_) == 2:
        labels = np.where(index == 1, 1.0, -1.0)
        total, _, _ = kernels.loss_grad(X, labels, coef[0], b[0], loss="log_loss")
    else:
        total, _, _ = kernels.loss_grad(X, index, coef, b, loss="multinomial_log_loss")
    return total / X.shape[0] + 0.5 * alpha * float((coef**2).sum())


def logistic_workloads(quick: bool = False) -> list[Workload]:
    """W8: logistic regression to the same objective: scikit-learn's
    LogisticRegression (lbfgs, its defaults, and tol=1e-8) against GDClassifier
    with alpha = 1 / (C n) and standardize=False (its defaults otherwise)."""
    from sklearn.linear_model import LogisticRegression

    from gdfast import GDClassifier

    p = 32
    n = 100_000 if quick else 500_000
    alpha = 1.0 / n
    out = []
    for n_classes in (2, 10):
        X, y = logistic_data(n, p, n_classes)

        def objective(model, X=X, y=y) -> str:
            return f"objective {logistic_objective(X, y, model, alpha):.12f}"

        def fit(make, X=X, y=y):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return make().fit(X, y)

        out.append(
            Workload(
                key=f"W8-{n_classes}class",
                title=(
                    f"W8 logistic regression to the optimum, {n_classes} classes, {n:,} x {p} "
                    "(objective: mean log-loss + ||W||^2 / (2 n))"
                ),
                baseline="scikit-learn LogisticRegression()",
                rounds=3 if quick else 5,
                contestants=[
                    Contestant(
                        "scikit-learn LogisticRegression()",
                        lambda f=fit: f(LogisticRegression),
                        objective,
                    ),
                    Contestant(
                        "scikit-learn LogisticRegression(tol=1e-8)",
                        lambda f=fit: f(lambda: LogisticRegression(tol=1e-8, max_iter=1000)),
                        objective,
                    ),
                    Contestant(
                        "gdfast GDClassifier(alpha=1/n, standardize=False)",
                        lambda f=fit: f(lambda: GDClassifier(alpha=alpha, standardize=False)),
                        objective,
                    ),
                    # stopped earlier, still at or below LogisticRegression()'s objective
                    Contestant(
                        "gdfast GDClassifier(alpha=1/n, standardize=False, tol=1e-5)",
                        lambda f=fit: f(
                            lambda: GDClassifier(alpha=alpha, standardize=False, tol=1e-5)
                        ),
                        objective,
                    ),
                ],
            )
        )
    return out
