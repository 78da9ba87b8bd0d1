# Part of gdfast._core (included by _core.pyx): the C++ parameter structs,
# read and written by field name, and the record a fit returns.

cdef class Fields:
    """A C++ parameter struct, read and written by field name. Integer, boolean
    and enum fields refuse values they cannot hold (ValueError naming the field)."""
    cdef unique_ptr[FieldSet] c
    cdef str kind

    cdef void make(self, str kind):
        self.c.reset(new_field_set(kind.encode()))
        self.kind = kind

    cdef void* address(self, str kind) except NULL:
        require(self.kind == kind, f"expected {kind} parameters, got {self.kind}")
        return self.c.get().address()

    def names(self):
        """The field names, in declaration order."""
        return [n.decode() for n in self.c.get().names()]

    def as_dict(self):
        """Every field and its value."""
        return {name: getattr(self, name) for name in self.names()}

    def update(self, values=(), **fields):
        """Set several fields, from a mapping and/or keywords."""
        for name, value in {**dict(values), **fields}.items():
            setattr(self, name, value)

    def __getattr__(self, name):
        cdef double value = 0.0
        cdef int kind = self.c.get().get(name.encode(), &value)
        if kind < 0:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        if kind == 1:
            return int(value)
        if kind == 2:
            return bool(value)
        return value

    def __setattr__(self, name, value):
        cdef double v
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number; got {value!r}") from None
        if isinstance(value, int) and not isinstance(value, bool) and v != value:
            result = 2
        else:
            result = self.c.get().set(name.encode(), v)
        if result == 1:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        if result == 2:
            raise ValueError(f"{name}={value!r} is out of the range the engine supports")

    def __repr__(self):
        return f"{type(self).__name__}({self.as_dict()})"

    def __reduce__(self):
        return (_rebuild, (type(self), self.as_dict()))


def _rebuild(cls, values):
    out = cls()
    out.update(values)
    return out


cdef class SgdParams(Fields):
    """Settings of the per-sample SGD driver (sgd.hpp: SgdParams)."""
    def __cinit__(self):
        self.make("sgd_params")


cdef class SgdState(Fields):
    """Scalars the per-sample driver resumes from: intercept, avg_intercept, t."""
    def __cinit__(self):
        self.make("sgd_state")


cdef class GdParams(Fields):
    """Settings of the descent engine (gd.hpp: GdParams)."""
    def __cinit__(self):
        self.make("gd_params")


cdef class GdState(Fields):
    """Counters the descent engine resumes from (gd.hpp: GdState)."""
    def __cinit__(self):
        self.make("gd_state")


cdef class Record:
    """What a fit reported: status, epochs, objectives, validation scores, the
    final loss when known for free, the rows' extent when measured (FitRecord)."""
    cdef readonly int status
    cdef readonly int n_iter
    cdef readonly int failed_epoch
    cdef readonly double failed_objective
    cdef readonly double final_loss
    cdef readonly double row_sq_norm_max
    cdef readonly double target_abs_max
    cdef readonly list objectives
    cdef readonly list validation_scores


cdef Record make_record(Status status, const FitRecord& r):
    cdef Record out = Record.__new__(Record)
    out.status = status
    out.n_iter = r.n_iter
    out.failed_epoch = r.failed_epoch
    out.failed_objective = r.failed_objective
    out.final_loss = r.final_loss
    out.row_sq_norm_max = r.row_sq_norm_max
    out.target_abs_max = r.target_abs_max
    out.objectives = list(r.objectives)
    out.validation_scores = list(r.validation_scores)
    return out
