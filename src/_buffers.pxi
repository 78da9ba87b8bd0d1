# Part of gdfast._core (included by _core.pyx): array memory held for a call,
# and the Matrix view every kernel takes.

cdef int require(bint ok, str what) except -1:
    # The Python layer validates every argument; this is the last line of
    # defence: a size or type mismatch here would make the kernels read or
    # write out of bounds, so it is an error even for this private API.
    if not ok:
        raise ValueError(f"gdfast._core: inconsistent arguments ({what})")
    return 0


cdef class Buffer:
    """A held view of an array's memory (released with the object)."""
    cdef Py_buffer view
    cdef bint held
    cdef char kind      # 'f' floating, 'i' signed integer, 'u' unsigned, '?' other

    def __dealloc__(self):
        if self.held:
            PyBuffer_Release(&self.view)

    cdef void* ptr(self) noexcept:
        return self.view.buf if self.view.len > 0 else NULL

    cdef Py_ssize_t items(self) noexcept:
        return self.view.len // self.view.itemsize if self.view.itemsize else 0


# The struct-module prefixes of a buffer format that mean this machine's byte order.
NATIVE_ORDER = b"@=<" if sys.byteorder == "little" else b"@=>!"


cdef Buffer acquire(object obj, bint writable, bint strided):
    cdef Buffer b = Buffer.__new__(Buffer)
    cdef int flags = PyBUF_FORMAT | (PyBUF_STRIDES if strided else 0)
    if writable:
        flags |= PyBUF_WRITABLE
    PyObject_GetBuffer(obj, &b.view, flags)
    b.held = True
    cdef bytes fmt = b.view.format if b.view.format != NULL else b"B"
    cdef char c = fmt[len(fmt) - 1]
    if len(fmt) > 2 or (len(fmt) == 2 and fmt[0] not in NATIVE_ORDER):
        b.kind = b"?"  # another byte order, or a structure: not numbers the kernels can read
    elif c in b"fd":
        b.kind = b"f"
    elif c in b"bhilqn":
        b.kind = b"i"
    elif c in b"BHILQN?":
        b.kind = b"u"
    else:
        b.kind = b"?"
    return b


cdef Element element_of(Buffer b, str name) except *:
    require(b.kind == b"f" and b.view.itemsize in (4, 8), f"{name} must be float32/float64")
    return Element.float32 if b.view.itemsize == 4 else Element.float64


cdef Buffer vector_of(object obj, Element element, Py_ssize_t n, str name, bint writable=False):
    """obj as n contiguous values of `element`; None stays None."""
    if obj is None:
        return None
    cdef Buffer b = acquire(obj, writable, False)
    require(element_of(b, name) == element, f"{name} must have the dtype of X")
    require(b.items() == n, f"{name} has {b.items()} values, expected {n}")
    return b


cdef inline void* ptr_of(Buffer b) noexcept:
    return NULL if b is None else b.ptr()


# What csr_defect found, for the message (the kernels would read out of bounds).
CSR_DEFECTS = {
    1: "indptr[0] must be 0",
    2: "indptr decreases after row {where} (it must be non-decreasing)",
    3: "indptr[-1] exceeds the {nnz} stored entries",
    4: "column index of stored entry {where} is outside [0, {n_cols}) "
       "(column indices out of range)",
}


cdef class Matrix:
    """The view of X every kernel takes: a dense float32/float64 array with any
    element strides, or a CSR matrix (data, int32/int64 indices and indptr)."""
    cdef MatrixView c
    cdef Buffer data_buffer, indices_buffer, indptr_buffer
    cdef readonly object source
    # A checked CSR matrix: whether its rows' indices strictly increase
    # (scipy's canonical format); None when not checked here, or dense.
    cdef readonly object canonical

    def __cinit__(self, X, bint structure_checked=False):
        # structure_checked: a CSR X whose index arrays this process checked in
        # this same call (gdfast._validation.matrix_of); the check is skipped.
        self.source = X
        if hasattr(X, "indptr"):
            self._csr(X, structure_checked)
        else:
            self._dense(X)

    cdef int _dense(self, X) except -1:
        cdef Buffer b = acquire(X, False, True)
        self.data_buffer = b
        require(b.view.ndim == 2, "X must be 2-D")
        self.c.csr = False
        self.c.element = element_of(b, "X")
        cdef Py_ssize_t size = b.view.itemsize
        self.c.n_rows = b.view.shape[0]
        self.c.n_cols = b.view.shape[1]
        require(b.view.strides[0] % size == 0 and b.view.strides[1] % size == 0, "X strides")
        self.c.row_stride = b.view.strides[0] // size
        self.c.col_stride = b.view.strides[1] // size
        self.c.data = b.view.buf if (self.c.n_rows > 0 and self.c.n_cols > 0) else NULL
        return 0

    cdef int _csr(self, X, bint structure_checked) except -1:
        cdef Buffer data = acquire(X.data, False, False)
        cdef Buffer indices = acquire(X.indices, False, False)
        cdef Buffer indptr = acquire(X.indptr, False, False)
        self.data_buffer, self.indices_buffer, self.indptr_buffer = data, indices, indptr
        self.c.csr = True
        self.c.element = element_of(data, "X.data")
        require(indices.kind == b"i" and indptr.kind == b"i"
                and indices.view.itemsize == indptr.view.itemsize
                and indices.view.itemsize in (4, 8), "CSR index arrays")
        self.c.wide_indices = indices.view.itemsize == 8
        n_rows, n_cols = X.shape
        if indptr.items() != n_rows + 1 or indices.items() != data.items():
            raise ValueError(
                f"X is a malformed CSR matrix: indptr has {indptr.items()} entries for {n_rows} "
                f"rows (needs {n_rows + 1}); indices has {indices.items()}, data {data.items()}.")
        self.c.n_rows = n_rows
        self.c.n_cols = n_cols
        self.c.data = data.ptr()
        self.c.indices = indices.ptr()
        self.c.indptr = indptr.ptr()
        cdef index_t where = 0, stored = data.items()
        cdef int defect
        cdef cbool canonical = False
        if structure_checked:
            return 0
        with nogil:
            defect = csr_defect(self.c, stored, &where, &canonical)
        if defect:
            raise ValueError("X is a malformed CSR matrix: " + CSR_DEFECTS[defect].format(
                where=where, n_cols=self.c.n_cols, nnz=data.items()))
        self.canonical = bool(canonical)
        return 0

    @property
    def n_rows(self):
        return self.c.n_rows

    @property
    def n_cols(self):
        return self.c.n_cols

    @property
    def csr(self):
        return bool(self.c.csr)

    @property
    def dtype(self):
        return np.dtype(np.float32 if self.c.element == Element.float32 else np.float64)
