/* The parametrised ops (leaky_relu, elu, softplus, gelu, ...) as C callables.
 *
 * A wrapper binds its arguments as a def with the signature name(data..., parameters, **kwargs)
 * would, checks the parameters, and calls its ufunc by vectorcall with the data, the parameters
 * and NumPy's keywords (out, where, dtype, ...), whose names tuple is passed on untouched. At
 * n = 1 that costs 3-13% over the ufunc; a def with **kwargs compiled by Cython cost 12-21% (a
 * dict per call) and 49% with out= (the dict unpacked again for the ufunc).
 *
 * The check, check(name, *parameters), runs unless every parameter is its default or the object
 * that passed the last check (exact floats, ints and strs only: an array could have been changed
 * in place since).
 *
 * prelu and prelu_backward are wrappers too, with the Python def as a fallback (`python`): their
 * last two parameters, weight and axis, become leaky_relu's slopes broadcast along the axis. The
 * common call (exact float ndarrays of one dtype, a weight of that dtype, an int axis) forms them
 * here; any other call, and every error, is the def's. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#define NPY_NO_DEPRECATED_API NPY_1_9_API_VERSION
#include <numpy/arrayobject.h>

#define MAX_BOUND 8     /* data operands and parameters of one op */
#define MAX_PASSED 16   /* NumPy's keywords passed on: a ufunc call knows 10 */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *dict;       /* __doc__, __name__, __signature__, ufunc, ... (set from Python) */
    PyObject *name;
    PyObject *target;     /* the ufunc, or a dict from the one parameter's value to the ufunc */
    PyObject *names;      /* tuple of str: the data operands', then the parameters' */
    PyObject *defaults;   /* tuple: the defaults of the last len(defaults) names */
    PyObject *check;      /* callable(name, *parameters), or None */
    PyObject *checked;    /* the parameters that passed the check last, or NULL */
    PyObject *python;     /* prelu's def, for the calls channel_slopes leaves to it; or NULL */
    Py_ssize_t ndata;
    int chooses;          /* the one parameter chooses the ufunc and is not passed on */
} Wrapper;

static Py_ssize_t name_index(Wrapper *self, PyObject *key)
{
    Py_ssize_t n = PyTuple_GET_SIZE(self->names), j;
    for (j = 0; j < n; j++)             /* keyword names are usually interned */
        if (PyTuple_GET_ITEM(self->names, j) == key)
            return j;
    for (j = 0; j < n; j++) {
        PyObject *name = PyTuple_GET_ITEM(self->names, j);
        if (PyUnicode_GET_LENGTH(name) == PyUnicode_GET_LENGTH(key) &&
            PyUnicode_Compare(name, key) == 0)
            return j;
    }
    return -1;
}

static int immutable(PyObject *value)
{
    return PyFloat_CheckExact(value) || PyLong_CheckExact(value) || PyUnicode_CheckExact(value);
}

/* check(name, *parameters) */
static PyObject *call_check(Wrapper *self, PyObject **params, Py_ssize_t nparams)
{
    PyObject *stack[1 + MAX_BOUND];
    Py_ssize_t j;
    stack[0] = self->name;
    for (j = 0; j < nparams; j++)
        stack[1 + j] = params[j];
    return PyObject_Vectorcall(self->check, stack, 1 + nparams, NULL);
}

/* 0 when the parameters bound[ndata:n] may be used, -1 with the check's exception set. */
static int check_parameters(Wrapper *self, PyObject **bound, Py_ssize_t n)
{
    Py_ssize_t nparams = n - self->ndata, ndefaults = PyTuple_GET_SIZE(self->defaults), j;
    PyObject **params = bound + self->ndata, *result;
    int defaults = 1, cacheable = 1, same = self->checked != NULL;
    for (j = 0; j < nparams; j++) {
        Py_ssize_t d = self->ndata + j - (n - ndefaults);
        defaults &= d >= 0 && params[j] == PyTuple_GET_ITEM(self->defaults, d);
        cacheable &= immutable(params[j]);
        same &= self->checked != NULL && params[j] == PyTuple_GET_ITEM(self->checked, j);
    }
    if (defaults || same || self->check == Py_None)
        return 0;
    result = call_check(self, params, nparams);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    if (cacheable) {
        PyObject *checked = PyTuple_New(nparams);
        if (checked == NULL)
            return -1;
        for (j = 0; j < nparams; j++)
            PyTuple_SET_ITEM(checked, j, Py_NewRef(params[j]));
        Py_XSETREF(self->checked, checked);
    }
    return 0;
}

/* prelu's weight as slopes that broadcast along `axis` of the data (new reference), as the def
 * forms them, for the common call only; NULL, with no exception set, leaves the call to the def. */
static PyObject *channel_slopes(PyObject **data, Py_ssize_t ndata, PyObject *weight,
                                PyObject *axis_obj)
{
    PyArrayObject *x = (PyArrayObject *)data[ndata - 1], *w = (PyArrayObject *)weight;
    npy_intp dims[NPY_MAXDIMS], size;
    PyArray_Dims shape;
    PyObject *slopes;
    Py_ssize_t axis, j;
    int ndim, type;
    for (j = 0; j < ndata; j++)
        if (!PyArray_CheckExact(data[j]))
            return NULL;
    type = PyArray_TYPE(x);
    if (type != NPY_HALF && type != NPY_FLOAT && type != NPY_DOUBLE)
        return NULL;
    for (j = 0; j < ndata; j++)
        if (PyArray_TYPE((PyArrayObject *)data[j]) != type)
            return NULL;
    if (!PyArray_CheckExact(weight) || PyArray_TYPE(w) != type || PyArray_NDIM(w) > 1 ||
        !PyLong_CheckExact(axis_obj))
        return NULL;
    axis = PyLong_AsSsize_t(axis_obj);
    if (axis == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    ndim = PyArray_NDIM(x);
    size = PyArray_SIZE(w);
    if (ndim == 0 || ((ndim >= 2 || size != 1) && (axis < -ndim || axis >= ndim)))
        return NULL;
    if (size == 1)
        return Py_NewRef(weight);
    axis = axis < 0 ? axis + ndim : axis;
    if (size != PyArray_DIM(x, (int)axis))
        return NULL;
    if (axis == ndim - 1)
        return Py_NewRef(weight);
    dims[0] = size;
    for (j = 1; j < ndim - axis; j++)
        dims[j] = 1;
    shape.ptr = dims;
    shape.len = (int)(ndim - axis);
    slopes = PyArray_Newshape(w, &shape, NPY_CORDER);
    if (slopes == NULL)
        PyErr_Clear();
    return slopes;
}

/* The ufunc the choice names (borrowed), or NULL. */
static PyObject *chosen_ufunc(Wrapper *self, PyObject *choice)
{
    Py_ssize_t pos = 0;
    PyObject *key, *ufunc;
    while (PyDict_Next(self->target, &pos, &key, &ufunc))
        if (key == choice)              /* the default, or an interned literal */
            return ufunc;
    return PyDict_GetItemWithError(self->target, choice);
}

static PyObject *wrapper_call(PyObject *callable, PyObject *const *args, size_t nargsf,
                              PyObject *kwnames)
{
    Wrapper *self = (Wrapper *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), n = PyTuple_GET_SIZE(self->names);
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0, nrequired, npassed = 0, j, k;
    Py_ssize_t passed_at[MAX_PASSED];
    PyObject *stack[1 + MAX_BOUND + MAX_PASSED], **bound = stack + 1, *ufunc, *passed_names;
    PyObject *result, *slopes = NULL;

    nrequired = n - PyTuple_GET_SIZE(self->defaults);
    if (nargs > n) {
        if (nrequired == n)
            return PyErr_Format(PyExc_TypeError, "%U() takes %zd positional arguments but %zd "
                                "were given", self->name, n, nargs);
        return PyErr_Format(PyExc_TypeError, "%U() takes from %zd to %zd positional arguments "
                            "but %zd were given", self->name, nrequired, n, nargs);
    }
    for (j = 0; j < n; j++)
        bound[j] = j < nargs ? args[j] : NULL;
    for (k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        j = name_index(self, key);
        if (j < 0) {
            if (npassed == MAX_PASSED)
                return PyErr_Format(PyExc_TypeError, "%U() got too many keyword arguments",
                                    self->name);
            passed_at[npassed++] = k;
        } else if (bound[j] != NULL) {
            return PyErr_Format(PyExc_TypeError, "%U() got multiple values for argument '%U'",
                                self->name, key);
        } else {
            bound[j] = args[nargs + k];
        }
    }
    for (j = 0; j < n; j++) {
        if (bound[j] != NULL)
            continue;
        if (j < nrequired)
            return PyErr_Format(PyExc_TypeError, "%U() missing required argument '%U'",
                                self->name, PyTuple_GET_ITEM(self->names, j));
        bound[j] = PyTuple_GET_ITEM(self->defaults, j - nrequired);
    }

    ufunc = self->target;
    if (self->python != NULL) {
        slopes = channel_slopes(bound, self->ndata, bound[n - 2], bound[n - 1]);
        if (slopes == NULL)
            return PyObject_Vectorcall(self->python, args, nargsf, kwnames);
        bound[n - 2] = slopes;
        n -= 1;
    } else if (self->chooses) {
        /* the choice is checked by the look-up; the check only raises the error */
        ufunc = chosen_ufunc(self, bound[n - 1]);
        if (ufunc == NULL) {
            PyErr_Clear();
            result = call_check(self, bound + self->ndata, n - self->ndata);
            Py_XDECREF(result);
            if (result != NULL)
                PyErr_Format(PyExc_ValueError, "%U(): no ufunc for %R", self->name, bound[n - 1]);
            return NULL;
        }
        n -= 1;
    } else if (check_parameters(self, bound, n) < 0) {
        return NULL;
    }

    if (npassed == nkw) {           /* every keyword is NumPy's (or there are none) */
        passed_names = kwnames;
        Py_XINCREF(passed_names);
    } else if (npassed == 0) {
        passed_names = NULL;
    } else {
        passed_names = PyTuple_New(npassed);
        if (passed_names == NULL) {
            Py_XDECREF(slopes);
            return NULL;
        }
        for (k = 0; k < npassed; k++)
            PyTuple_SET_ITEM(passed_names, k,
                             Py_NewRef(PyTuple_GET_ITEM(kwnames, passed_at[k])));
    }
    for (k = 0; k < npassed; k++)
        bound[n + k] = args[nargs + passed_at[k]];
    result = PyObject_Vectorcall(ufunc, bound, (size_t)n | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                 passed_names);
    Py_XDECREF(passed_names);
    Py_XDECREF(slopes);
    return result;
}

static int wrapper_traverse(Wrapper *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dict);
    Py_VISIT(self->name);
    Py_VISIT(self->target);
    Py_VISIT(self->names);
    Py_VISIT(self->defaults);
    Py_VISIT(self->check);
    Py_VISIT(self->checked);
    Py_VISIT(self->python);
    return 0;
}

static int wrapper_clear(Wrapper *self)
{
    Py_CLEAR(self->dict);
    Py_CLEAR(self->name);
    Py_CLEAR(self->target);
    Py_CLEAR(self->names);
    Py_CLEAR(self->defaults);
    Py_CLEAR(self->check);
    Py_CLEAR(self->checked);
    Py_CLEAR(self->python);
    return 0;
}

static void wrapper_dealloc(Wrapper *self)
{
    PyObject_GC_UnTrack(self);
    wrapper_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *wrapper_repr(Wrapper *self)
{
    return PyUnicode_FromFormat("<relukit function %U>", self->name);
}

/* pickled by name, as functions are: relukit.<name> */
static PyObject *wrapper_reduce(Wrapper *self, PyObject *unused)
{
    (void)unused;
    return Py_NewRef(self->name);
}

static PyMethodDef wrapper_methods[] = {
    {"__reduce__", (PyCFunction)wrapper_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WrapperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "relukit._forward.Wrapper",
    .tp_doc = "A parametrised op: binds its arguments and calls its ufunc by vectorcall.",
    .tp_basicsize = sizeof(Wrapper),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Wrapper, vectorcall),
    .tp_dictoffset = offsetof(Wrapper, dict),
    .tp_call = PyVectorcall_Call,
    .tp_repr = (reprfunc)wrapper_repr,
    .tp_traverse = (traverseproc)wrapper_traverse,
    .tp_clear = (inquiry)wrapper_clear,
    .tp_dealloc = (destructor)wrapper_dealloc,
    .tp_methods = wrapper_methods,
    .tp_getattro = PyObject_GenericGetAttr,
    .tp_setattro = PyObject_GenericSetAttr,
};

static PyObject *make_wrapper(PyObject *module, PyObject *args)
{
    PyObject *name, *target, *names, *defaults, *check, *python = Py_None;
    Py_ssize_t ndata, j;
    int chooses;
    Wrapper *self;
    (void)module;
    if (!PyArg_ParseTuple(args, "UOO!O!nOp|O:wrapper", &name, &target, &PyTuple_Type, &names,
                          &PyTuple_Type, &defaults, &ndata, &check, &chooses, &python))
        return NULL;
    for (j = 0; j < PyTuple_GET_SIZE(names); j++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(names, j)))
            return PyErr_Format(PyExc_TypeError, "names must be strs");
    if (PyTuple_GET_SIZE(names) > MAX_BOUND || ndata < 0 || ndata > PyTuple_GET_SIZE(names) ||
        PyTuple_GET_SIZE(defaults) > PyTuple_GET_SIZE(names) - ndata ||
        (chooses && (!PyDict_Check(target) || ndata != PyTuple_GET_SIZE(names) - 1 ||
                     !PyCallable_Check(check))) ||
        (check != Py_None && !PyCallable_Check(check)) ||
        (python != Py_None && (!PyCallable_Check(python) || chooses || check != Py_None ||
                               ndata < 1 || ndata != PyTuple_GET_SIZE(names) - 2)))
        return PyErr_Format(PyExc_ValueError, "wrapper %U: inconsistent arguments", name);
    self = PyObject_GC_New(Wrapper, &WrapperType);
    if (self == NULL)
        return NULL;
    self->vectorcall = wrapper_call;
    self->dict = NULL;
    self->name = Py_NewRef(name);
    self->target = Py_NewRef(target);
    self->names = Py_NewRef(names);
    self->defaults = Py_NewRef(defaults);
    self->check = Py_NewRef(check);
    self->checked = NULL;
    self->python = python == Py_None ? NULL : Py_NewRef(python);
    self->ndata = ndata;
    self->chooses = chooses;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static PyMethodDef module_methods[] = {
    {"wrapper", make_wrapper, METH_VARARGS,
     "wrapper(name, target, names, defaults, ndata, check, chooses, python=None): the C callable "
     "of one op.\n\n"
     "names: its data operands' and parameters' names; defaults: those of the last parameters; "
     "check(name, *parameters) raises for bad ones (or None); target: the ufunc, or with chooses "
     "a dict from the value of the op's one parameter to the ufunc (that parameter is not passed "
     "on). With python (prelu's def), the two parameters are weight and axis, made into the "
     "slopes here or else by calling python with the call's arguments."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef forward_module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_forward",
    .m_doc = "The parametrised ops' C callables.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__forward(void)
{
    PyObject *module;
    import_array();
    if (PyType_Ready(&WrapperType) < 0)
        return NULL;
    module = PyModule_Create(&forward_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Wrapper", (PyObject *)&WrapperType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
