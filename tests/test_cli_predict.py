"""The command line out of the box: gdfast fit with no file (bundled data),
gdfast predict from a saved model, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from test_cli import run


def test_fit_with_no_file_fits_the_bundled_data(tmp_path):
    out = run(tmp_path, "fit", "--save", "model.pkl")
    assert out.returncode == 0, out.stderr
    assert "bundled diabetes data" in out.stdout
    X, y = load_diabetes(return_X_y=True, scaled=False)
    r2 = LinearRegression().fit(X, y).score(X, y)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("training R^2"))
    assert abs(float(line.split()[2]) - r2) < 1e-5
    assert (tmp_path / "model.pkl").exists()


def _new_rows(tmp_path, columns, rows, bom=False):
    path = tmp_path / "new.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write(("\ufeff" if bom else "") + ",".join(columns) + "\n")
        for r in rows:
            f.write(",".join(f"{v:.17g}" for v in r) + "\n")
    return path


def test_predict_matches_the_model_and_reorders_columns(tmp_path):
    assert run(tmp_path, "fit", "--save", "model.pkl").returncode == 0
    import pickle

    with open(tmp_path / "model.pkl", "rb") as f:
        model = pickle.load(f)
    X, _ = load_diabetes(return_X_y=True, scaled=False)
    names = list(model.feature_names_in_)
    # columns in another order, a BOM in front of the header, the target absent
    order = names[::-1]
    path = _new_rows(tmp_path, order, X[:5, ::-1], bom=True)
    out = run(tmp_path, "predict", "model.pkl", str(path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[0] == "prediction"
    np.testing.assert_allclose([float(v) for v in lines[1:]], model.predict(X[:5]), rtol=1e-12)
    out = run(tmp_path, "predict", "model.pkl", str(path), "--output", "p.csv")
    assert out.returncode == 0 and (tmp_path / "p.csv").read_text().split() == lines


def test_predict_errors_are_one_line(tmp_path):
    assert run(tmp_path, "fit", "--save", "model.pkl").returncode == 0
    X, _ = load_diabetes(return_X_y=True, scaled=False)
    path = _new_rows(tmp_path, ["age", "sex", "bmi"], X[:3, :3])
    cases = [
        ("predict", "model.pkl", str(path)),  # missing columns
        ("predict", "missing.pkl", str(path)),  # no model file
        ("predict", str(path), str(path)),  # not a model
        ("fit", str(path)),  # a file without --target: a usage error (exit 2)
    ]
    for args in cases:
        out = run(tmp_path, *args)
        assert out.returncode == (2 if args[0] == "fit" else 1), (args, out.stdout)
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert out.stderr.startswith("gdfast: error:")


def test_closed_pipe_is_not_a_traceback(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((100, 401))
    header = ",".join([f"f{i}" for i in range(400)] + ["y"])
    np.savetxt(tmp_path / "wide.csv", data, delimiter=",", header=header, comments="")
    cmd = [sys.executable, "-m", "gdfast", "fit", "wide.csv", "--target", "y"]
    for _ in range(3):  # like `gdfast fit wide.csv --target y | head -2`
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=120)
        assert "Traceback" not in err and "BrokenPipe" not in err, err


def _fit_on_a_terminal(tmp_path, *extra):
    """Run gdfast fit with stderr on a pseudo-terminal; return what it showed there."""
    import os
    import pty

    rng = np.random.default_rng(0)
    np.save(tmp_path / "big.npy", rng.standard_normal((200_000, 21)))  # a fit of ~1 s
    leader, follower = pty.openpty()
    args = ["fit", "big.npy", "--target", "20", "--estimator", "sgd", "--max-iter", "100"]
    cmd = [sys.executable, "-m", "gdfast", *args, "--tol", "-1", *extra]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0, shown
    return shown.decode(), out.decode()


def test_long_fit_shows_progress_on_a_terminal_and_quiet_silences_it(tmp_path):
    shown, out = _fit_on_a_terminal(tmp_path)
    assert "epoch" in shown and "objective" in shown and "elapsed" in shown
    assert "epoch" not in out  # stdout (the model) stays clean
    shown, _ = _fit_on_a_terminal(tmp_path, "--quiet")
    assert "epoch" not in shown
