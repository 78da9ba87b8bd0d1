"""The command line: gdfast fit and gdfast bench, on small data, in a subprocess."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def run(tmp_path, *args, module=True):
    """Run the CLI from tmp_path (so the source tree never shadows the package)."""
    # the console script installed next to this interpreter (the same environment)
    script = Path(sys.executable).with_name("gdfast")
    cmd = [sys.executable, "-m", "gdfast", *args] if module else [str(script), *args]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ [1.5, -2.0, 0.5] + 3.0 + 0.01 * rng.standard_normal(200)
    path = tmp_path / "data.csv"
    with open(path, "w") as f:
        f.write("a,b,c,price\n")
        for row, t in zip(X, y, strict=True):
            f.write(",".join(f"{v:.10g}" for v in (*row, t)) + "\n")
    return path


@pytest.mark.parametrize("module", [True, False])
def test_fit_csv_prints_the_model_and_saves_it(tmp_path, csv_file, module):
    out = run(
        tmp_path, "fit", str(csv_file), "--target", "price", "--save", "model.pkl", module=module
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "GDRegressor" in text and "200 rows, 3 features" in text
    coefs = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("a", "b", "c", "(intercept)"):
            coefs[parts[0]] = float(parts[1])
    np.testing.assert_allclose([coefs[k] for k in "abc"], [1.5, -2.0, 0.5], atol=0.01)
    assert coefs["(intercept)"] == pytest.approx(3.0, abs=0.01)
    assert "training R^2: 0.99" in text and "iterations:" in text and "time:" in text
    with open(tmp_path / "model.pkl", "rb") as f:
        model = pickle.load(f)
    assert model.predict(np.zeros((1, 3)))[0] == pytest.approx(3.0, abs=0.01)


def test_fit_with_sgd_and_options(tmp_path, csv_file):
    out = run(
        tmp_path,
        "fit",
        str(csv_file),
        "--target",
        "price",
        "--estimator",
        "sgd",
        "--penalty",
        "l1",
        "--alpha",
        "0.001",
        "--random-state",
        "0",
        "--batch-size",
        "4",
    )
    assert out.returncode == 0, out.stderr
    assert "SGDRegressor" in out.stdout and "training R^2: 0.99" in out.stdout


def test_fit_npy_and_parquet(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((100, 3))
    data[:, 2] = data[:, 0] * 2 - data[:, 1] + 1
    np.save(tmp_path / "d.npy", data)
    out = run(tmp_path, "fit", "d.npy", "--target", "2")
    assert out.returncode == 0, out.stderr
    assert "training R^2: 1.000000" in out.stdout
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.DataFrame(data, columns=["u", "v", "w"]).to_parquet(tmp_path / "d.parquet")
    out = run(tmp_path, "fit", "d.parquet", "--target", "w", "--estimator", "sgd")
    assert out.returncode == 0, out.stderr
    assert "u " in out.stdout or "u  " in out.stdout


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, ["missing.csv", "--target", "y"], "no such file"),
        ("x,y\n1,2\n", ["data.csv", "--target", "z"], "no column 'z'; the columns are: x, y"),
        ("x,y\n1,2\nabc,3\n", ["data.csv", "--target", "y"], "line 3: column 'x' holds 'abc'"),
        ("", ["data.csv", "--target", "y"], "empty file"),
        ("x,y\n", ["data.csv", "--target", "y"], "no data rows"),
        ("x,y\n1,2\n3\n", ["data.csv", "--target", "y"], "line 3: 1 fields"),
        ("x,y\n1,nan\n2,3\n", ["data.csv", "--target", "y"], "NaN"),
        ("y\n1\n2\n", ["data.csv", "--target", "y"], "no feature columns"),
    ],
)
def test_bad_files_get_one_line_and_exit_1(tmp_path, content, args, message):
    if content is not None:
        (tmp_path / "data.csv").write_text(content)
    out = run(tmp_path, "fit", *args)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdfast: error:")
    assert message in lines[0]


def test_binary_and_bad_npy_files(tmp_path):
    (tmp_path / "data.csv").write_bytes(b"\xff\xfe\x00\x81garbage")
    out = run(tmp_path, "fit", "data.csv", "--target", "y")
    assert out.returncode == 1 and "not a text CSV" in out.stderr
    np.save(tmp_path / "one.npy", np.arange(5.0))
    out = run(tmp_path, "fit", "one.npy", "--target", "0")
    assert out.returncode == 1 and "2-D array" in out.stderr
    out = run(tmp_path, "fit", str(tmp_path), "--target", "0")
    assert out.returncode == 1 and "directory" in out.stderr


def test_diverging_fit_is_one_line(tmp_path):
    rows = "\n".join(f"{i * 1e6},{i}" for i in range(50))
    (tmp_path / "data.csv").write_text("x,y\n" + rows + "\n")
    out = run(
        tmp_path,
        "fit",
        "data.csv",
        "--target",
        "y",
        "--estimator",
        "sgd",
        "--learning-rate",
        "constant",
        "--eta0",
        "1",
    )
    assert out.returncode == 1
    assert "diverged" in out.stderr and "Traceback" not in out.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run(tmp_path).returncode == 2
    assert run(tmp_path, "fit", "x.csv").returncode == 2  # --target is required


def test_bench_prints_a_table_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    out = run(tmp_path, "bench", "--only", "W2", "--plot", "speed.png")
    assert out.returncode == 0, out.stderr
    assert "machine:" in out.stdout
    assert "W2 one epoch of shuffled mini-batch SGD, batch 32" in out.stdout
    assert "NumPy mini-batch loop" in out.stdout and "gdfast" in out.stdout
    assert "[1/2]" in out.stderr  # progress
    assert (tmp_path / "speed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = run(tmp_path, "bench", "--only", "W9")
    assert out.returncode == 1 and "matches no workload" in out.stderr


def test_bench_plot_to_a_missing_directory_fails_at_once_in_one_line(tmp_path):
    out = run(tmp_path, "bench", "--only", "W1", "--plot", str(tmp_path / "missing" / "x.png"))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "cannot write the plot" in out.stderr and "no such directory" in out.stderr
    assert "machine:" not in out.stdout  # refused before any benchmark ran, not after


def test_bench_only_dask_races_on_local_clusters(tmp_path):
    pytest.importorskip("dask_ml")
    pytest.importorskip("distributed")
    out = run(tmp_path, "bench", "--only", "D3")
    assert out.returncode == 0, out.stderr
    assert "D3 gdfast.dask GDRegressor() on 1 and 2 worker processes" in out.stdout
    assert "1 worker" in out.stdout and "2 workers" in out.stdout
    assert "W1" not in out.stdout  # only the workload asked for


@pytest.fixture
def labels_file(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 2))
    score = X @ np.array([[2.0, -1.0, 0.0], [0.0, 1.5, -2.0]])
    y = np.array(["cat", "dog", "eel"])[np.argmax(score + 0.3 * rng.gumbel(size=(300, 3)), 1)]
    path = tmp_path / "animals.csv"
    with open(path, "w") as f:
        f.write("height,weight,kind\n")
        for row, t in zip(X, y, strict=True):
            f.write(f"{row[0]:.10g},{row[1]:.10g},{t}\n")
    return path, X, y


@pytest.mark.parametrize("estimator", ["gd", "sgd"])
def test_a_text_target_fits_a_classifier_and_predicts_labels(tmp_path, labels_file, estimator):
    path, X, y = labels_file
    args = ["fit", str(path), "--target", "kind", "--estimator", estimator, "--save", "m.pkl"]
    out = run(tmp_path, *args, "--random-state", "0")
    assert out.returncode == 0, out.stderr
    name = "GDClassifier" if estimator == "gd" else "SGDClassifier"
    assert name in out.stdout and "classes: cat, dog, eel" in out.stdout
    accuracy = float(out.stdout.split("training accuracy: ")[1].split()[0])
    log_loss = float(out.stdout.split("log-loss: ")[1].split()[0])
    with open(tmp_path / "m.pkl", "rb") as f:
        model = pickle.load(f)
    assert accuracy == pytest.approx(model.score(X, y), abs=1e-6) and accuracy > 0.8
    assert 0 < log_loss < np.log(3)
    (tmp_path / "rows.csv").write_text("weight,height\n0.0,3.0\n-3.0,0.0\n")
    pred = run(tmp_path, "predict", "m.pkl", "rows.csv")
    assert pred.returncode == 0, pred.stderr
    assert pred.stdout.split() == ["prediction", *model.predict([[3.0, 0.0], [0.0, -3.0]])]


def test_task_classification_on_numbers_and_loss_checks(tmp_path, csv_file):
    data = np.loadtxt(csv_file, delimiter=",", skiprows=1)
    binary = tmp_path / "binary.csv"
    with open(binary, "w") as f:
        f.write("a,b,c,label\n")
        for row in data:
            f.write(",".join(f"{v:.10g}" for v in row[:3]) + f",{int(row[3] > 3)}\n")
    out = run(tmp_path, "fit", str(binary), "--target", "label", "--task", "classification")
    assert out.returncode == 0, out.stderr
    assert "classes: 0, 1" in out.stdout and "score of 1" in out.stdout
    plain = run(tmp_path, "fit", str(binary), "--target", "label")
    assert "GDRegressor" in plain.stdout  # numbers: a regression unless asked
    wrong = run(tmp_path, "fit", str(binary), "--target", "label", "--loss", "hinge")
    assert wrong.returncode == 1 and "not a regression loss" in wrong.stderr


def test_a_text_target_is_not_a_regression(tmp_path, labels_file):
    path, _, _ = labels_file
    out = run(tmp_path, "fit", str(path), "--target", "kind", "--task", "regression")
    assert out.returncode == 1 and "holds text" in out.stderr
    (tmp_path / "one.csv").write_text("a,b\n1,x\n2,x\n")
    one = run(tmp_path, "fit", str(tmp_path / "one.csv"), "--target", "b")
    assert one.returncode == 1 and "greater than one" in one.stderr
    features = run(tmp_path, "fit", str(tmp_path / "one.csv"), "--target", "a")
    assert features.returncode == 1 and "'x', which is not a number" in features.stderr
    (tmp_path / "gap.csv").write_text("a,b\n1,x\n2,\n3,y\n")
    gap = run(tmp_path, "fit", str(tmp_path / "gap.csv"), "--target", "b")
    assert gap.returncode == 1 and "line 3" in gap.stderr and "missing label" in gap.stderr
