"""The classification workloads of ``gdfast bench``: SGDClassifier epochs against
scikit-learn's, two classes and ten (one-vs-all)."""

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
    return out
