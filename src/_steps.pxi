# Part of gdfast._core (included by _core.pyx): the optimizer steps of
# gdfast.kernels, validated (optimizer_step) and fast (optimizer_step_fast).



cdef int run_step(OptimizerKind kind, Buffer theta, Buffer g, Buffer s1, Buffer s2, Py_ssize_t n,
                  double lr, const CppOptimizerHyper& h, double step, double weight_decay):
    # 1: applied; 0: the update would have written a non-finite value (then
    # nothing was written).
    cdef Element element = Element.float32 if theta.view.itemsize == 4 else Element.float64
    cdef void* t_ptr = theta.ptr()
    cdef const void* g_ptr = ptr_of(g)
    cdef void* s1_ptr = ptr_of(s1)
    cdef void* s2_ptr = ptr_of(s2)
    cdef cbool ok = True
    if n == 0:
        return 1
    with nogil:
        ok = optimizer_step_kernel(element, kind, t_ptr, g_ptr, s1_ptr, s2_ptr, n, lr, h, step,
                                   weight_decay)
    return 1 if ok else 0


def optimizer_step(int kind, theta, g, s1, s2, double lr, double momentum, double beta_1,
                   double beta_2, double rho, double eps, double step, double weight_decay):
    """One fused optimizer update of theta (and its state arrays s1, s2), in place.

    Returns True when applied, False when the update would have written a
    non-finite value (then nothing was written).
    """
    require(kind in CODES["optimizer"].values(), "optimizer code")
    cdef Buffer tb = acquire(theta, True, False)
    cdef Element element = element_of(tb, "theta")
    cdef Py_ssize_t n = tb.items()
    cdef Buffer gb = vector_of(g, element, n, "g")
    cdef Buffer b1 = vector_of(s1, element, n, "s1", True)
    cdef Buffer b2 = vector_of(s2, element, n, "s2", True)
    cdef CppOptimizerHyper h
    h.momentum, h.beta_1, h.beta_2, h.rho, h.eps = momentum, beta_1, beta_2, rho, eps
    cdef OptimizerKind okind = <OptimizerKind>kind
    cdef int needed = state_arrays(okind)
    require((b1 is not None) == (needed >= 1) and (b2 is not None) == (needed >= 2),
            "optimizer state arrays")
    return run_step(okind, tb, gb, b1, b2, n, lr, h, step, weight_decay) == 1


# ---------------------------------------------------------------- the fast path

# The hyper-parameters in optimizer_step's order (the step count aside): their
# intervals and the values of those a step does not take come from
# gdfast._steps (set_step_rules), the one place they are written. Until it is
# called the fast path declines every call.
STEP_HYPER = ("learning_rate", "momentum", "beta_1", "beta_2", "rho", "eps", "weight_decay")
cdef double hyper_default[7]
cdef double hyper_low[7]
cdef double hyper_high[7]
cdef bint hyper_low_open[7]
cdef bint hyper_high_open[7]
cdef bint rules_set = False
cdef object missing = object()


def set_step_rules(rules):
    """rules: name -> (value when a step does not take it, low, high, low
    excluded, high excluded) for each of STEP_HYPER (high: inf for none)."""
    global rules_set
    cdef int i
    for i, name in enumerate(STEP_HYPER):
        default, low, high, low_open, high_open = rules[name]
        hyper_default[i], hyper_low[i], hyper_high[i] = default, low, high
        hyper_low_open[i], hyper_high_open[i] = low_open, high_open
    rules_set = True


cdef bint hyper_value(dict arguments, int i, double* out) except -1:
    # Slot i from the step's arguments (or its value when the step does not
    # take it): a Python float, NumPy float64 or Python int within its
    # interval, or False.
    cdef object v = arguments.get(STEP_HYPER[i], missing)
    if v is missing:
        out[0] = hyper_default[i]
        return True
    cdef double x = plain_real(v)
    if not isfinite(x) or x < hyper_low[i] or (hyper_low_open[i] and x == hyper_low[i]):
        return False
    if x > hyper_high[i] or (hyper_high_open[i] and x == hyper_high[i]):
        return False
    out[0] = x
    return True


def optimizer_step_fast(int kind, tuple states, dict arguments):
    """The step ``apply_<name>(**arguments)`` of optimizer code ``kind``, whose
    state arrays are ``states``: (argument name, must be >= 0) pairs.

    Taken only when ``params``, ``grad`` and the states are exact ndarrays of
    one shape and native float32/float64 dtype, C-contiguous, params and
    states writable, all finite, the states of squares >= 0, none overlapping
    another; the hyper-parameters Python floats, NumPy float64 or Python ints
    within their intervals, and ``step`` (when given) a Python int in [1,
    2**53]. Returns True when applied, False when the update would overflow
    (nothing written), None when declined (nothing written: the caller
    validates the arguments).
    """
    if not rules_set:
        return None
    require(kind in CODES["optimizer"].values(), "optimizer code")
    cdef CppOptimizerHyper h
    cdef double lr, weight_decay, step = 1.0
    cdef double[7] v
    cdef int i
    for i in range(7):
        if not hyper_value(arguments, i, &v[i]):
            return None
    lr, weight_decay = v[0], v[6]
    h.momentum, h.beta_1, h.beta_2, h.rho, h.eps = v[1], v[2], v[3], v[4], v[5]
    count = arguments.get("step", missing)
    if count is not missing:
        if not (type(count) is int and 1 <= count <= 2**53):
            return None
        step = <double>count
    cdef Py_ssize_t n_states = len(states)
    if n_states > 2:
        return None
    cdef list held = [plain_float_array(arguments["params"], True, False),
                      plain_float_array(arguments["grad"], False, False)]
    for name, _ in states:
        held.append(plain_float_array(arguments[name], True, False))
    cdef Buffer b, c, theta = held[0]
    if theta is None:
        return None
    cdef Py_ssize_t n = theta.items()
    cdef char* start_i
    cdef char* start_j
    cdef Py_ssize_t k, j, count_held = len(held)
    for k in range(count_held):
        b = held[k]
        if b is None or not same_shape(theta, b):
            return None
        if not finite_values(b, k >= 2 and states[k - 2][1]):
            return None
        start_i = <char*>b.view.buf
        for j in range(k):
            c = held[j]
            start_j = <char*>c.view.buf
            if n and start_i < start_j + c.view.len and start_j < start_i + b.view.len:
                return None
    cdef OptimizerKind okind = <OptimizerKind>kind
    if state_arrays(okind) != n_states:
        return None
    return run_step(okind, theta, held[1], held[2] if n_states >= 1 else None,
                    held[3] if n_states >= 2 else None, n, lr, h, step, weight_decay) == 1
