"""The gdfast command line: ``gdfast fit``, ``gdfast predict`` and ``gdfast bench``
(``python -m gdfast``)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import pickle
import sys
import time
from collections.abc import Sequence

import numpy as np

from gdfast import _core


class CliError(Exception):
    """A problem the user can fix: printed as one line, exit status 1."""


class UsageError(CliError):
    """A command line that asks for nothing valid: exit status 2, as argparse's."""


# ---------------------------------------------------------------------------- reading data


def read_table(
    path: str, labels: str | None = None, only: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """Column names, a float64 matrix and, when the column named ``labels`` holds
    text (class labels), its values as strings (its matrix column is then NaN),
    from a .csv/.tsv, .npy or .parquet file. With ``only``, the columns not
    named there are not read (their matrix columns are NaN): whatever they hold
    is ignored. Any other non-numeric column, and two columns of one name, are
    an error."""
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CliError(f"{path}: is a directory, not a data file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        names, data, text = (*_read_npy(path), None)
    elif ext == ".parquet":
        names, data, text = _read_parquet(path, labels, only)
    else:
        names, data, text = _read_csv(
            path, delimiter="\t" if ext == ".tsv" else ",", labels=labels, only=only
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CliError(
                f"{path}: two columns are named {name!r}; columns are matched by name, "
                "so each name must be unique"
            )
        seen.add(name)
    return names, data, text


def _read_npy(path: str) -> tuple[list[str], np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CliError(f"{path}: not a readable .npy file ({exc})") from None
    if data.ndim != 2:
        raise CliError(f"{path}: expected a 2-D array, got shape {data.shape}")
    if data.dtype.kind not in "fiub":
        raise CliError(f"{path}: expected numbers, got dtype {data.dtype}")
    return [str(j) for j in range(data.shape[1])], data.astype(np.float64)


def _read_parquet(path: str, labels: str | None, only: Sequence[str] | None = None):
    try:
        import pandas as pd
    except ImportError:
        raise CliError(
            "reading .parquet needs pandas and pyarrow (pip install pandas pyarrow)"
        ) from None
    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise CliError("reading .parquet needs pyarrow (pip install pyarrow)") from None
    except Exception as exc:  # any reader failure is the file's
        raise CliError(f"{path}: not a readable parquet file ({exc})") from None
    names = [str(c) for c in frame.columns]
    text = None
    if labels in names:
        column = frame[frame.columns[names.index(labels)]]
        if column.dtype.kind not in "fiu":  # text, categorical or boolean labels
            text = column.astype(str).to_numpy(dtype=object)
            frame = frame.assign(**{str(frame.columns[names.index(labels)]): np.nan})
    if only is not None:  # the columns not asked for are not read
        wanted = set(only)
        skipped = {
            str(c): np.nan for c, n in zip(frame.columns, names, strict=True) if n not in wanted
        }
        frame = frame.assign(**skipped)
    bad = [c for c in frame.columns if frame[c].dtype.kind not in "fiub"]
    if bad:
        raise CliError(f"{path}: column {bad[0]!r} is not numeric (dtype {frame[bad[0]].dtype})")
    return names, frame.to_numpy(dtype=np.float64), text


def _read_csv(
    path: str, delimiter: str, labels: str | None = None, only: Sequence[str] | None = None
):
    try:
        # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first name.
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise CliError(f"{path}: empty file (no header row)")
            names = [h.strip() for h in header]
            label_at = names.index(labels) if labels in names else -1
            wanted = None if only is None else set(only)
            read = [wanted is None or n in wanted for n in names]
            rows, texts, has_text = [], [], False
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not v.strip() for v in row):
                    continue
                if len(row) != len(names):
                    raise CliError(
                        f"{path}, line {line_no}: {len(row)} fields, but the header has "
                        f"{len(names)}"
                    )
                values = []
                if label_at >= 0:
                    texts.append(row[label_at].strip())
                for j, (name, v) in enumerate(zip(names, row, strict=True)):
                    if not read[j]:
                        values.append(np.nan)
                        continue
                    try:
                        values.append(float(v))
                    except ValueError:
                        if j == label_at:  # class labels: read as text below
                            values.append(np.nan)
                            has_text = True
                            continue
                        raise CliError(
                            f"{path}, line {line_no}: column {name!r} holds {v.strip()!r}, "
                            "which is not a number"
                        ) from None
                rows.append(values)
    except UnicodeDecodeError:
        raise CliError(f"{path}: not a text CSV file (cannot decode it as UTF-8)") from None
    except csv.Error as exc:
        raise CliError(f"{path}: malformed CSV ({exc})") from None
    if not rows:
        raise CliError(f"{path}: no data rows after the header")
    data = np.asarray(rows, dtype=np.float64)
    text = None
    if has_text:
        if any(not t for t in texts):
            line = 2 + next(i for i, t in enumerate(texts) if not t)
            raise CliError(f"{path}, line {line}: column {labels!r} is empty (a missing label)")
        text = np.asarray(texts, dtype=object)
    return names, data, text


# ---------------------------------------------------------------------------- commands


# The `gdfast fit` options every estimator takes, and those an estimator takes
# only when given (otherwise its own default applies); --tol is read apart.
_COMMON_OPTIONS = ("loss", "penalty", "alpha", "random_state", "n_jobs", "verbose")
_OPTIONAL_OPTIONS = {
    "sgd": ("max_iter", "batch_size", "learning_rate", "eta0"),
    "gd": ("max_iter", "optimizer", "learning_rate", "eta0"),
}


def _estimator(args, classify: bool):
    from gdfast import GDClassifier, GDRegressor, SGDClassifier, SGDRegressor

    losses = _core.MARGIN_LOSSES if classify else _core.REGRESSION_LOSSES
    if args.loss is None:
        args.loss = "log_loss" if classify else "squared_error"
    elif args.loss not in losses:
        task = "classification" if classify else "regression"
        raise CliError(
            f"--loss {args.loss} is not a {task} loss; choose one of {', '.join(sorted(losses))}"
        )
    kw = {name: getattr(args, name) for name in _COMMON_OPTIONS}
    for name in _OPTIONAL_OPTIONS[args.estimator]:
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    if args.tol is not None:
        kw["tol"] = None if args.tol < 0 else args.tol
    if args.estimator == "sgd":
        if args.optimizer is not None:
            raise CliError("--optimizer applies to --estimator gd only")
        if kw["penalty"] is None:
            kw["penalty"] = "l2"
        # A useless model is an error on the command line (exit 1, one line).
        return (SGDClassifier if classify else SGDRegressor)(**kw, on_divergence="raise")
    if classify:
        if kw["penalty"] is None:
            kw["penalty"] = "l2"
        return GDClassifier(**kw, batch_size=args.batch_size, standardize=not args.no_standardize)
    return GDRegressor(**kw, batch_size=args.batch_size, standardize=not args.no_standardize)


# What `gdfast fit` fits when it is given no file: data shipped in the package.
BUNDLED = os.path.join(os.path.dirname(__file__), "data", "diabetes.csv")
BUNDLED_TARGET = "progression"


class Progress:
    """The progress line of a long fit on a terminal: epoch, objective, elapsed
    time, redrawn at most five times a second on stderr."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.shown = False

    def __call__(self, info: dict) -> None:
        now = time.perf_counter()
        if now - self.last < 0.2:
            return
        self.last, self.shown = now, True
        sys.stderr.write(
            f"\r  epoch {info['epoch']}  objective {info['objective']:.6g}  "
            f"elapsed {now - self.start:.1f} s "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def cmd_fit(args) -> int:
    from sklearn.exceptions import ConvergenceWarning

    from gdfast._engine import PROGRESS

    if args.data is None:
        args.data, args.target = BUNDLED, args.target or BUNDLED_TARGET
        print(
            "no data file given: fitting the bundled diabetes data (442 patients, 10 "
            f"features, target {args.target!r}; see gdfast/data/README.md)"
        )
    elif args.target is None:
        raise UsageError("--target is required with a data file (the column to predict)")
    names, data, text = read_table(args.data, labels=args.target)
    if args.target not in names:
        shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        raise CliError(f"{args.data}: no column {args.target!r}; the columns are: {shown}")
    j = names.index(args.target)
    features = [n for i, n in enumerate(names) if i != j]
    X = np.delete(data, j, axis=1)
    y = data[:, j] if text is None else text
    if not features:
        raise CliError(f"{args.data}: no feature columns besides the target {args.target!r}")
    # A target of text (class labels) is a classification; numbers are a
    # regression unless --task says otherwise.
    classify = args.task == "classification" or (args.task == "auto" and text is not None)
    if args.task == "regression" and text is not None:
        raise CliError(f"{args.data}: the target {args.target!r} holds text, not numbers")
    model = _estimator(args, classify)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        progress = Progress() if sys.stderr.isatty() and not args.quiet else None
        token = PROGRESS.set(progress)
        try:
            model.fit(X, y)
        except ValueError as exc:  # bad data or a diverged descent: say it in one line
            raise CliError(" ".join(str(exc).split())) from None
        finally:
            PROGRESS.reset(token)
            if progress is not None:
                progress.close()
        elapsed = time.perf_counter() - t0
    if args.save:  # before any output: a reader gone away (`| head`) cannot lose the model
        import copy

        # The saved model knows the feature names, for gdfast predict; the one
        # the summary below runs on arrays does not (scikit-learn would warn).
        saved = copy.copy(model)
        saved.feature_names_in_ = np.asarray(features, dtype=object)
        try:
            with open(args.save, "wb") as f:
                pickle.dump(saved, f)
        except OSError as exc:
            raise CliError(f"cannot save the model to {args.save}: {exc.strerror}") from None
    print(
        f"{type(model).__name__} on {args.data}: {X.shape[0]} rows, {X.shape[1]} features, "
        f"target {args.target!r}"
    )
    if classify:
        _print_classifier(model, X, y, features)
    else:
        _print_regressor(model, X, y, features)
    print(f"iterations: {model.n_iter_}   time: {elapsed:.3f} s")
    for w in caught:
        print(f"warning: {w.message}")
    if args.save:
        print(f"model saved to {args.save}")
    return 0


def _print_regressor(model, X, y, features) -> None:
    coef = np.asarray(model.coef_).ravel()
    intercept = float(np.ravel(model.intercept_)[0])
    mse = float(np.mean((model.predict(X) - y) ** 2))
    width = max(len(n) for n in [*features, "(intercept)"])
    print("coefficients:")
    for name, c in zip(features, coef, strict=True):
        print(f"  {name:<{width}}  {c: .6g}")
    print(f"  {'(intercept)':<{width}}  {intercept: .6g}")
    print(f"training R^2: {model.score(X, y):.6f}   MSE: {mse:.6g}")


def _print_classifier(model, X, y, features) -> None:
    from sklearn.metrics import log_loss

    classes = [_label(c) for c in model.classes_]
    coef = np.atleast_2d(model.coef_)
    intercept = np.ravel(model.intercept_)
    # one column per class (two classes: the score of the second)
    heads = classes if coef.shape[0] > 1 else [f"score of {classes[1]}"]
    width = max(len(n) for n in [*features, "(intercept)"])
    cols = [max(12, len(h)) for h in heads]
    print(f"classes: {', '.join(classes)}")
    print("coefficients:")
    print(f"  {'':<{width}}  " + "  ".join(f"{h:>{w}}" for h, w in zip(heads, cols, strict=True)))
    rows = [*zip(features, coef.T, strict=True), ("(intercept)", intercept)]
    for name, values in rows:
        cells = "  ".join(f"{v:>{w}.6g}" for v, w in zip(values, cols, strict=True))
        print(f"  {name:<{width}}  {cells}")
    line = f"training accuracy: {model.score(X, y):.6f}"
    if hasattr(model, "predict_proba"):
        line += f"   log-loss: {log_loss(y, model.predict_proba(X), labels=model.classes_):.6g}"
    print(line)


def _label(value) -> str:
    """A class label as the output shows it (a whole number without '.0')."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def cmd_predict(args) -> int:
    import warnings

    from sklearn.base import ClassifierMixin, RegressorMixin

    try:
        with open(args.model, "rb") as f:
            model = pickle.load(f)
    except FileNotFoundError:
        raise CliError(f"{args.model}: no such file") from None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise CliError(f"{args.model}: not a saved model ({type(exc).__name__})") from None
    if not (isinstance(model, (RegressorMixin, ClassifierMixin)) and hasattr(model, "coef_")):
        raise CliError(f"{args.model}: not a fitted gdfast model (saved with gdfast fit --save)")
    if args.output and os.path.exists(args.output):
        for source in (args.model, args.data):
            if os.path.exists(source) and os.path.samefile(source, args.output):
                raise CliError(f"--output {args.output} is the input {source}: not overwritten")
    expected = [str(n) for n in getattr(model, "feature_names_in_", [])]
    names, data, _ = read_table(args.data, only=expected or None)
    if expected:
        missing = [n for n in expected if n not in names]
        if missing:
            raise CliError(
                f"{args.data}: the model needs column {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; the file has: {', '.join(names[:20])}"
            )
        X = data[:, [names.index(n) for n in expected]]
    else:
        X = data
    if X.shape[1] != model.n_features_in_:
        raise CliError(
            f"{args.data}: {X.shape[1]} feature columns, but the model was fitted on "
            f"{model.n_features_in_}"
        )
    with warnings.catch_warnings():  # columns were matched by name above
        warnings.filterwarnings("ignore", message=".*feature names.*")
        try:
            pred = model.predict(X)
        except (ValueError, FloatingPointError) as exc:
            raise CliError(" ".join(str(exc).split())) from None
    if isinstance(model, ClassifierMixin):
        lines = "prediction\n" + "".join(f"{_label(v)}\n" for v in np.ravel(pred))
    else:
        lines = "prediction\n" + "".join(f"{v:.17g}\n" for v in np.ravel(pred))
    if args.output:
        try:
            with open(args.output, "w") as f:
                f.write(lines)
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror}") from None
        print(f"{pred.shape[0]} predictions written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(lines)
    return 0


def cmd_bench(args) -> int:
    from gdfast import _bench

    keys = {k.strip() for k in args.only.split(",")} if args.only else set()
    distributed = bool(keys & {"dask", "D1", "D2", "D3", "D4"})
    selected = _bench.workloads(quick=not args.full)
    if args.only:
        selected = [w for w in selected if w.key in keys or w.key.split("-")[0] in keys]
        if not selected and not distributed:
            raise CliError(f"--only {args.only!r} matches no workload")

    if args.plot:
        _check_plot_target(args.plot)  # before minutes of benchmarking, not after

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    print(f"machine: {_bench.machine_summary()}")
    with contextlib.ExitStack() as stack:
        if distributed:
            try:
                from gdfast._bench_dask import dask_workloads
            except ImportError:  # pragma: no cover - depends on the environment
                raise CliError('--only dask needs pip install "gdfast[bench]"') from None
            progress("starting LocalClusters and generating the data on their workers")
            extra = stack.enter_context(dask_workloads(quick=not args.full))
            selected += [w for w in extra if "dask" in keys or w.key in keys]
        results = _bench.run_workloads(selected, progress)
    print(_bench.format_table(results, selected))
    if args.plot:
        try:
            _bench.plot_speedups(results, selected, args.plot)
        except ImportError:
            raise CliError('--plot needs matplotlib: pip install "gdfast[plot]"') from None
        except OSError as exc:
            raise CliError(f"cannot write the plot to {args.plot}: {exc.strerror}") from None
        print(f"plot written to {args.plot}")
    return 0


def _check_plot_target(path: str) -> None:
    """Fail early, in one line, when the plot could not be drawn or written."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CliError('--plot needs matplotlib: pip install "gdfast[plot]"') from None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliError(f"cannot write the plot to {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK):
        raise CliError(f"cannot write the plot to {path}: directory {folder} is not writable")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdfast", description="Gradient descent for linear models, compiled."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="race gdfast against NumPy and scikit-learn")
    bench.add_argument("--plot", metavar="FILE.png", help="draw the speed-ups to this file")
    bench.add_argument(
        "--full",
        action="store_true",
        help="full-size workloads (as in benchmarks/) instead of the quick ones",
    )
    bench.add_argument(
        "--only", metavar="KEYS", help="comma-separated workloads to run, e.g. W1,W3"
    )
    bench.set_defaults(func=cmd_bench)

    fit = sub.add_parser("fit", help="fit a linear model on a data file")
    fit.add_argument(
        "data",
        nargs="?",
        help="a .csv/.tsv (header row), .npy (2-D) or .parquet file; none: the bundled "
        "diabetes data",
    )
    fit.add_argument("--target", help="the column to predict (.npy: the column number)")
    fit.add_argument(
        "--task",
        choices=["auto", "regression", "classification"],
        default="auto",
        help="auto: classification when the target holds text (class labels), else regression",
    )
    fit.add_argument(
        "--estimator",
        choices=["gd", "sgd"],
        default="gd",
        help="GDRegressor/GDClassifier (default) or SGDRegressor/SGDClassifier",
    )
    fit.add_argument(
        "--loss",
        default=None,
        choices=[*_core.REGRESSION_LOSSES, *sorted(_core.MARGIN_LOSSES)],
        help="default: squared_error (regression), log_loss (classification)",
    )
    fit.add_argument(
        "--penalty", choices=[p for p in _core.CODES["penalty"] if p != "none"], default=None
    )
    fit.add_argument("--alpha", type=float, default=1e-4)
    fit.add_argument("--batch-size", type=int, default=None)
    fit.add_argument(
        "--optimizer",
        default=None,
        choices=list(_core.CODES["optimizer"]),
    )
    fit.add_argument("--learning-rate", default=None)
    fit.add_argument("--eta0", type=float, default=None)
    fit.add_argument("--max-iter", type=int, default=None)
    fit.add_argument("--tol", type=float, default=None, help="a negative value disables it")
    fit.add_argument("--random-state", type=int, default=None)
    fit.add_argument("--no-standardize", action="store_true", help="gd: use X as it is")
    fit.add_argument("--n-jobs", type=int, default=None)
    fit.add_argument("--verbose", type=int, default=0)
    fit.add_argument("--save", metavar="MODEL.pkl", help="pickle the fitted model here")
    fit.add_argument(
        "--quiet", action="store_true", help="no progress line on a terminal during the fit"
    )
    fit.set_defaults(func=cmd_fit)

    predict = sub.add_parser("predict", help="predict with a model saved by gdfast fit --save")
    predict.add_argument("model", help="the MODEL.pkl that gdfast fit --save wrote")
    predict.add_argument("data", help="the rows to predict (.csv/.tsv, .npy or .parquet)")
    predict.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    predict.set_defaults(func=cmd_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gdfast`` and ``python -m gdfast``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"gdfast: error: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"gdfast: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gdfast: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
