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
    assert "Warning" not in out.stderr, out.stderr
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


def test_predict_ignores_columns_the_model_does_not_read(tmp_path):
    # A classifier on text labels predicts its own training file (the text
    # target is not read), and an extra text column (an id, a note) is ignored.
    rows = ["x1,kind,x2,note"] + [
        f"{a:.3f},{'cat' if a + b > 0 else 'dog'},{b:.3f},row {i}"
        for i, (a, b) in enumerate(np.random.default_rng(2).standard_normal((60, 2)))
    ]
    (tmp_path / "animals.csv").write_text("\n".join(rows) + "\n")
    out = run(tmp_path, "fit", "animals.csv", "--target", "kind", "--save", "m.pkl")
    assert out.returncode == 1 and "'note'" in out.stderr  # a feature must be numeric
    (tmp_path / "train.csv").write_text("\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n")
    assert run(tmp_path, "fit", "train.csv", "--target", "kind", "--save", "m.pkl").returncode == 0
    for data in ("train.csv", "animals.csv"):
        out = run(tmp_path, "predict", "m.pkl", data)
        assert out.returncode == 0, out.stderr
        labels = out.stdout.split()[1:]
        truth = [r.split(",")[1] for r in rows[1:]]
        assert len(labels) == 60 and np.mean(np.array(labels) == np.array(truth)) > 0.9


def test_duplicate_column_names_are_refused(tmp_path):
    (tmp_path / "dup.csv").write_text("a,a,t\n1,2,3\n4,5,6\n7,8,10\n")
    out = run(tmp_path, "fit", "dup.csv", "--target", "t")
    assert out.returncode == 1 and "two columns are named 'a'" in out.stderr
    (tmp_path / "ok.csv").write_text("a,b,t\n1,2,3\n4,5,6\n7,8,10\n")
    assert run(tmp_path, "fit", "ok.csv", "--target", "t", "--save", "m.pkl").returncode == 0
    (tmp_path / "new.csv").write_text("a,b,a\n1,2,3\n")
    out = run(tmp_path, "predict", "m.pkl", "new.csv")
    assert out.returncode == 1 and "two columns are named 'a'" in out.stderr


def test_a_closed_pipe_still_saves_the_model_and_output_never_overwrites_an_input(tmp_path):
    assert run(tmp_path, "fit", "--save", "first.pkl").returncode == 0
    cmd = [sys.executable, "-m", "gdfast", "fit", "--save", "model.pkl"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()  # like `gdfast fit --save model.pkl | head -1`
    proc.stdout.close()
    proc.wait(timeout=120)
    assert (tmp_path / "model.pkl").read_bytes() == (tmp_path / "first.pkl").read_bytes()
    X, _ = load_diabetes(return_X_y=True, scaled=False)
    import pickle

    names = list(pickle.loads((tmp_path / "model.pkl").read_bytes()).feature_names_in_)
    path = _new_rows(tmp_path, names, X[:3])
    for target in ("model.pkl", str(path)):
        before = (tmp_path / target).read_bytes()
        out = run(tmp_path, "predict", "model.pkl", str(path), "--output", target)
        assert out.returncode == 1 and "not overwritten" in out.stderr
        assert (tmp_path / target).read_bytes() == before


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
