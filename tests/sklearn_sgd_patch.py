"""A pytest plugin: scikit-learn's own SGD tests, with gdfast.SGDRegressor and
gdfast.SGDClassifier in place of scikit-learn's (loaded by test_sklearn_own_tests.py with -p)."""


def pytest_configure(config):
    import sklearn.linear_model

    # scikit-learn's own conftest registers this marker; strict-marker runs need it.
    config.addinivalue_line("markers", "no_check_spmatrix: scikit-learn's sparse-interface marker")

    import gdfast

    # test_sgd.py reads linear_model.SGD* when it is imported, after this.
    sklearn.linear_model.SGDRegressor = gdfast.SGDRegressor
    sklearn.linear_model.SGDClassifier = gdfast.SGDClassifier
