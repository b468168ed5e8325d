/* chronotick_engine._native: ChronoTickClient's fast path, a thin binding of clients/c/chronotick.h.
 *
 * There is one C implementation of reading the segment, the header; this module only turns its
 * readings into Python values. Whenever the header returns an error (no segment, no estimate, void
 * data, ...) the call is handed to the pure-Python path, which raises the client's own exception
 * with its own message, so both paths fail alike. client.py decides when this module is used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "chronotick.h"

typedef struct {
    PyObject_HEAD
    ct_reader r;
    int opened;
    char path[4096];
    PyTypeObject *reading_type; /* chronotick_engine.client.TimeReading */
    PyObject *fallback_now;     /* the pure-Python now_ns, bound to the client */
    PyObject *fallback_time;    /* the pure-Python get_time, bound to the client */
} Reader;

static PyObject *status_names[6];
static PyObject *source_names[4];

static int reader_traverse(Reader *self, visitproc visit, void *arg) {
    Py_VISIT(self->reading_type);
    Py_VISIT(self->fallback_now);
    Py_VISIT(self->fallback_time);
    return 0;
}

static int reader_clear(Reader *self) {
    Py_CLEAR(self->reading_type);
    Py_CLEAR(self->fallback_now);
    Py_CLEAR(self->fallback_time);
    return 0;
}

static void reader_dealloc(Reader *self) {
    PyObject_GC_UnTrack(self);
    if (self->opened) ct_close(&self->r);
    reader_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int reader_init(Reader *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"path", "reading_type", "fallback_now", "fallback_time", NULL};
    const char *path;
    PyObject *rtype, *fnow, *ftime;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sO!OO", kwlist, &path, &PyType_Type, &rtype, &fnow, &ftime))
        return -1;
    if (strlen(path) >= sizeof self->path) {
        PyErr_SetString(PyExc_ValueError, "segment path too long");
        return -1;
    }
    strcpy(self->path, path);
    Py_INCREF(rtype);
    Py_INCREF(fnow);
    Py_INCREF(ftime);
    Py_XSETREF(self->reading_type, (PyTypeObject *)rtype);
    Py_XSETREF(self->fallback_now, fnow);
    Py_XSETREF(self->fallback_time, ftime);
    return 0;
}

/* 0 when the reader is open; the header's error code otherwise (opening is lazy, like the client). */
static int ensure_open(Reader *self) {
    if (self->opened) return CT_OK;
    int rc = ct_open(&self->r, self->path);
    if (rc == CT_OK) self->opened = 1;
    return rc;
}

static int64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static PyObject *reader_now_ns(Reader *self, PyObject *Py_UNUSED(ignored)) {
    ct_time t;
    if (ensure_open(self) != CT_OK || ct_now(&self->r, &t) != CT_OK) return PyObject_CallNoArgs(self->fallback_now);
    PyObject *out = PyTuple_New(2);
    if (!out) return NULL;
    PyTuple_SET_ITEM(out, 0, PyLong_FromLongLong(t.corrected_ns));
    PyTuple_SET_ITEM(out, 1, PyLong_FromLongLong(t.uncertainty_ns));
    return out;
}

/* at_ns(mono_ns) -> (corrected_ns, uncertainty_ns) at that CLOCK_MONOTONIC instant (ct_at). */
static PyObject *reader_at_ns(Reader *self, PyObject *arg) {
    long long mono = PyLong_AsLongLong(arg);
    if (mono == -1 && PyErr_Occurred()) return NULL;
    ct_time t;
    int rc = ensure_open(self);
    if (rc == CT_OK) rc = ct_at(&self->r, mono, &t);
    if (rc != CT_OK) {
        PyErr_Format(PyExc_RuntimeError, "%s", ct_strerror(rc));
        return NULL;
    }
    return Py_BuildValue("(LL)", (long long)t.corrected_ns, (long long)t.uncertainty_ns);
}

/* get_time() -> TimeReading, field for field as ChronoTickClient._reading(0.0) computes it. */
static PyObject *reader_get_time(Reader *self, PyObject *Py_UNUSED(ignored)) {
    int64_t mono;
    ct_time t;
    if (ensure_open(self) != CT_OK || ct__clock(CLOCK_MONOTONIC, &mono) != CT_OK) goto fallback;
    int64_t real = realtime_ns();
    if (ct__at(&self->r, mono, mono, &t) != CT_OK) goto fallback;
    int64_t d = mono - self->r.good.anchor_mono_ns;
    double unc = ((double)self->r.unc0_ns + self->r.rate * (double)(d < 0 ? -d : d)) / 1e9;
    double corrected = (double)t.corrected_ns / 1e9;
    PyObject *reading = self->reading_type->tp_alloc(self->reading_type, 13);
    if (!reading) return NULL;
    PyObject *items[13] = {
        PyFloat_FromDouble(corrected),
        PyLong_FromLongLong(t.corrected_ns),
        PyFloat_FromDouble((double)real / 1e9 + 0.0),
        PyFloat_FromDouble(unc),
        PyFloat_FromDouble(corrected - unc),
        PyFloat_FromDouble(corrected + unc),
        PyFloat_FromDouble(t.confidence),
        Py_NewRef(source_names[t.source]),
        Py_NewRef(status_names[t.status]),
        PyFloat_FromDouble((double)(t.corrected_ns - real) / 1e9),
        PyFloat_FromDouble(t.drift),
        t.since_ntp_ns >= 0 ? PyFloat_FromDouble((double)t.since_ntp_ns / 1e9) : Py_NewRef(Py_None),
        PyFloat_FromDouble(0.0),
    };
    for (int i = 0; i < 13; i++) {
        if (!items[i]) {
            for (int j = 0; j < 13; j++) Py_XDECREF(items[j]);
            Py_DECREF(reading);
            return NULL;
        }
    }
    for (int i = 0; i < 13; i++) PyTuple_SET_ITEM(reading, i, items[i]);
    return reading;
fallback:
    return PyObject_CallNoArgs(self->fallback_time);
}

static PyObject *reader_close(Reader *self, PyObject *Py_UNUSED(ignored)) {
    if (self->opened) {
        ct_close(&self->r);
        self->opened = 0;
    }
    Py_RETURN_NONE;
}

static PyMethodDef reader_methods[] = {
    {"now_ns", (PyCFunction)reader_now_ns, METH_NOARGS, "(corrected Unix ns, 95% uncertainty ns) now"},
    {"at_ns", (PyCFunction)reader_at_ns, METH_O, "(corrected Unix ns, 95% uncertainty ns) at a CLOCK_MONOTONIC instant"},
    {"get_time", (PyCFunction)reader_get_time, METH_NOARGS, "a TimeReading now"},
    {"close", (PyCFunction)reader_close, METH_NOARGS, "unmap the segment (reopened on the next read)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "chronotick_engine._native.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Reader(path, reading_type, fallback_now, fallback_time): the C reader of one segment",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)reader_init,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_traverse = (traverseproc)reader_traverse,
    .tp_clear = (inquiry)reader_clear,
    .tp_methods = reader_methods,
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chronotick_engine._native",
    .m_doc = "ChronoTickClient's fast path over chronotick.h",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__native(void) {
    static const char *statuses[6] = {"UNKNOWN", "WARMING_UP", "SYNCHRONIZED", "FREE_RUNNING", "DISRUPTED", "STOPPED"};
    static const char *sources[4] = {"none", "ntp", "classical", "fused"};
    for (int i = 0; i < 6; i++)
        if (!(status_names[i] = PyUnicode_InternFromString(statuses[i]))) return NULL;
    for (int i = 0; i < 4; i++)
        if (!(source_names[i] = PyUnicode_InternFromString(sources[i]))) return NULL;
    if (PyType_Ready(&ReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (!m) return NULL;
    Py_INCREF(&ReaderType);
    if (PyModule_AddObject(m, "Reader", (PyObject *)&ReaderType) < 0) {
        Py_DECREF(&ReaderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
