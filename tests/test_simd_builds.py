"""Every build of the hot loops (baseline, AVX2+FMA, AVX-512) the CPU can run,
held to the closed form, to each other and to any thread count; and the
GDFAST_SIMD switch."""

import os
import subprocess
import sys

import numpy as np
import pytest

from gdfast import GDRegressor, _core


def closed_form(X, y, sample_weight=None):
    """Weighted least squares with an intercept, in float64 (lstsq on centered data)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    xm = np.average(X, axis=0, weights=w)
    ym = np.average(y, axis=0, weights=w)
    root = np.sqrt(w)[:, None]
    Y = (y - ym).reshape(len(y), -1)
    coef, *_ = np.linalg.lstsq((X - xm) * root, Y * root, rcond=None)
    coef = coef.T
    return coef.reshape((*np.shape(y)[1:], X.shape[1])), ym - coef @ xm


def cases():
    rng = np.random.default_rng(3)
    n, p = 1037, 13  # neither a multiple of the panel rows nor of the vector width
    X = rng.standard_normal((n, p))
    y = X @ rng.standard_normal(p) + 0.3 + 0.1 * rng.standard_normal(n)
    out = {"standardized": (X, y, None)}
    out["offset 1e6"] = (X + 1e6, y, None)
    order = np.argsort(X[:, 0])  # sorted rows: every panel's mean drifts
    out["sorted rows"] = (X[order], y[order], None)
    out["weighted"] = (X, y, rng.uniform(0.0, 3.0, n))
    out["Fortran order"] = (np.asfortranarray(X), y, None)
    Y = np.column_stack([y, X @ rng.standard_normal(p) - 2.0])
    out["two targets"] = (X, Y, None)
    out["p = 1"] = (X[:, :1], y, None)
    out["p = 40"] = (rng.standard_normal((500, 40)), rng.standard_normal(500), None)
    return out


CASES = cases()


@pytest.mark.parametrize("name", list(CASES))
def test_gram_path_reaches_the_closed_form_in_every_build(name, simd):
    X, y, w = CASES[name]
    model = GDRegressor().fit(X, y, sample_weight=w)
    coef, intercept = closed_form(X, y, w)
    scale = max(1.0, np.abs(coef).max())
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("weighted", [False, True])
def test_co_moments_of_every_width_in_every_build(weighted, simd):
    """The dense co-moments pass against NumPy for p + k columns on both sides
    of the register blocks' and the vectors' widths (the columns beyond the
    last whole block have rows of their own), exactly symmetric."""
    rng = np.random.default_rng(8)
    n = 700  # more than one panel of rows, not a multiple of one
    for p, k in [
        (p, k) for p in (1, 3, 4, 6, 7, 8, 9, 11, 15, 16, 17, 23, 31, 32, 38, 45) for k in (1, 3)
    ]:
        X = rng.standard_normal((n, p)) * 2.0 + 3.0
        Y = rng.standard_normal((n, k)) - 1.0
        w = rng.uniform(0.1, 2.0, n) if weighted else np.ones(n)
        total, zbar, C = _core.comoments(_core.Matrix(X), Y, k, w if weighted else None, 2)
        Z = np.hstack([X, Y])
        mu = w @ Z / w.sum()
        expected = ((Z - mu) * w[:, None]).T @ (Z - mu)
        assert total == pytest.approx(w.sum(), rel=1e-14)
        np.testing.assert_allclose(zbar, mu, rtol=1e-12, err_msg=f"p={p}, k={k}")
        np.testing.assert_allclose(C, expected, rtol=1e-11, atol=1e-11 * n, err_msg=f"p={p}, k={k}")
        assert np.array_equal(C, C.T)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gram_path_is_bitwise_identical_for_any_n_jobs(dtype, simd):
    X, y, w = CASES["weighted"]
    X, y = X.astype(dtype), y.astype(dtype)
    fits = [GDRegressor(n_jobs=j).fit(X, y, sample_weight=w) for j in (1, 2, 3)]
    for other in fits[1:]:
        assert np.array_equal(fits[0].coef_, other.coef_)
        assert fits[0].intercept_ == other.intercept_
        assert np.array_equal(fits[0].feature_scale_, other.feature_scale_)


def test_avx2_and_avx512_builds_agree_bitwise():
    levels = _core.CODES["simd"]
    if levels[_core.cpu_simd()] < levels["avx512"]:
        pytest.skip("this CPU cannot run the avx512 build")
    X, y, w = CASES["weighted"]
    before = _core.simd()
    try:
        fits = {}
        for level in ("avx2", "avx512"):
            _core.set_simd(level)
            fits[level] = GDRegressor().fit(X, y, sample_weight=w)
    finally:
        _core.set_simd(before)
    # Both fuse multiply-adds and sum every entry in the same order.
    assert np.array_equal(fits["avx2"].coef_, fits["avx512"].coef_)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_standardization_from_the_co_moments_matches_a_pass_of_its_own(fit_intercept):
    X, y, _ = CASES["offset 1e6"]
    X = X.copy()
    X[:, 2] = 5.0  # constant: scale 1 when centered, else its root mean square
    gram = GDRegressor(fit_intercept=fit_intercept).fit(X, y)
    passes = GDRegressor(fit_intercept=fit_intercept, precompute=False, max_iter=1).fit(X, y)
    np.testing.assert_allclose(gram.feature_mean_, passes.feature_mean_, rtol=1e-12)
    np.testing.assert_allclose(gram.feature_scale_, passes.feature_scale_, rtol=1e-9)
    assert gram.feature_scale_[2] == (1.0 if fit_intercept else 5.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_x_on_the_gram_path_gets_scikit_learns_error(bad):
    X, y, _ = CASES["standardized"]
    X = X.copy()
    X[500, 4] = bad
    before = X.copy()
    what = "NaN" if np.isnan(bad) else "infinity"
    with pytest.raises(ValueError, match=f"Input X contains {what}"):
        GDRegressor().fit(X, y)
    with pytest.raises(ValueError, match=f"Input X contains {what}"):
        GDRegressor().fit(X, y, sample_weight=np.where(np.arange(len(y)) == 500, 0.0, 1.0))
    np.testing.assert_array_equal(X, before)


def _python(code: str, simd: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("GDFAST_SIMD", None)
    if simd is not None:
        env["GDFAST_SIMD"] = simd
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.expanduser("~"),
        check=True,
    )


def test_gdfast_simd_caps_the_build_and_show_config_names_it():
    code = "import gdfast; from gdfast import _core; print(_core.simd()); gdfast.show_config()"
    out = _python(code, "baseline").stdout
    assert out.splitlines()[0] == "baseline"
    assert "SIMD: baseline" in out
    best = _python("from gdfast import _core; print(_core.cpu_simd())", None).stdout.strip()
    assert _python(code, None).stdout.splitlines()[0] == best
    # A level above the CPU's runs the CPU's best.
    assert _python(code, "avx512").stdout.splitlines()[0] == best


def test_an_unknown_gdfast_simd_warns_and_is_ignored():
    run = _python("from gdfast import _core; print(_core.simd(), _core.cpu_simd())", "sse9")
    level, best = run.stdout.split()
    assert level == best
    assert "GDFAST_SIMD='sse9' is not one of" in run.stderr
