/* chronotick_engine._heartbeat: the daemon's publish ticks on a C thread, without the GIL.
 *
 * Python packs the model's image when the model or status changes (set_base); this thread
 * republishes it at the asked rate with fresh heartbeat fields (clients/c/chronotick_writer.h), on
 * clock_nanosleep with an absolute deadline. Waking the interpreter 100-1000 times a second to
 * rewrite two fields and a checksum was most of the daemon's CPU.
 *
 * It keeps the Python loop's arithmetic (PublishStats and the publish loop in daemon/) so that the
 * rate and latency fields mean the same, and it publishes only until `hold_until`: the instant the
 * base's status may turn with time, or a second after Python last vouched for it, whichever is
 * first. A stuck interpreter therefore stops the heartbeat as it did before; a frozen or killed
 * process stops it because the thread goes with it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "chronotick_writer.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#define RING 1024 /* publish periods kept for the jitter percentile, as PublishStats */

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int have_view;
    unsigned char *map;
    pthread_mutex_t mu;
    pthread_t thread;
    int running;
    atomic_int stop;
    int64_t period_ns;
    uint64_t seq;
    unsigned char body[CT_BODY_SIZE];
    int have_base;
    int has_fixed_void;
    int64_t fixed_void_ns;
    int64_t void_delta_ns;
    int64_t hold_until_ns;
    uint64_t count;
    double rate_hz, mean_period_ns, latency_ms;
    int64_t last_ns;
    double errors_ms[RING];
    uint64_t periods;
} Heartbeat;

static int64_t mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One publish of the base with these heartbeat fields; the caller holds mu. */
static void publish_locked(Heartbeat *h, int64_t now, int64_t void_after, uint64_t count, double rate, double lat) {
    unsigned char body[CT_BODY_SIZE];
    memcpy(body, h->body, CT_BODY_SIZE);
    ct_heartbeat_fields(body, void_after, now, count, rate, lat);
    h->seq += 2;
    ct_write_body(h->map, h->seq, body);
}

static void tick_locked(Heartbeat *h, int64_t t0) {
    int64_t now = t0;
    if (!h->have_base || now >= h->hold_until_ns) return;
    publish_locked(h, now, h->has_fixed_void ? h->fixed_void_ns : now + h->void_delta_ns, h->count, h->rate_hz,
                   h->latency_ms);
    h->count++;
    if (h->last_ns) {
        double period = (double)(now - h->last_ns);
        h->errors_ms[h->periods % RING] = fabs(period - (double)h->period_ns) / 1e6;
        h->periods++;
        /* the mean period, not the mean of 1/period (the Python loop's reason) */
        h->mean_period_ns = h->mean_period_ns == 0 ? period : 0.99 * h->mean_period_ns + 0.01 * period;
        h->rate_hz = 1e9 / (h->mean_period_ns > 1.0 ? h->mean_period_ns : 1.0);
    }
    h->last_ns = now;
    h->latency_ms = 0.99 * h->latency_ms + 0.01 * (double)(mono() - t0) / 1e6;
}

static void *run(void *arg) {
    Heartbeat *h = arg;
    prctl(PR_SET_NAME, "ct-heartbeat", 0, 0, 0); /* so that top -H and chrt -p can find it */
    int64_t next = mono();
    while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
        int64_t t0 = mono();
        pthread_mutex_lock(&h->mu);
        tick_locked(h, t0);
        pthread_mutex_unlock(&h->mu);
        next += h->period_ns;
        int64_t delay = next - mono();
        if (delay < -10 * h->period_ns) { /* suspended or starved: do not burst to catch up */
            next = mono();
        } else if (delay > 0) {
            struct timespec ts = {(time_t)(next / 1000000000LL), (long)(next % 1000000000LL)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
            }
        }
    }
    return NULL;
}

static int hb_init(Heartbeat *h, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"buffer", "seq", "period_ns", "count", NULL};
    PyObject *buf;
    unsigned long long seq, count;
    long long period;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OKLK", kwlist, &buf, &seq, &period, &count)) return -1;
    if (h->have_view || h->running) {
        PyErr_SetString(PyExc_RuntimeError, "Heartbeat is initialised once");
        return -1;
    }
    if (period < 100000 || (seq & 1)) {
        PyErr_SetString(PyExc_ValueError, "period_ns must be >= 100000 and seq even");
        return -1;
    }
    if (PyObject_GetBuffer(buf, &h->view, PyBUF_WRITABLE) < 0) return -1;
    h->have_view = 1;
    if (h->view.len < CT_SEGMENT_SIZE || ((uintptr_t)h->view.buf & 7)) {
        PyErr_SetString(PyExc_ValueError, "the segment buffer must be 128 bytes, 8-byte aligned");
        return -1;
    }
    h->map = h->view.buf;
    if (pthread_mutex_init(&h->mu, NULL)) {
        PyErr_SetString(PyExc_OSError, "pthread_mutex_init failed");
        return -1;
    }
    h->seq = seq;
    h->period_ns = period;
    h->count = count;
    for (int i = 0; i < RING; i++) h->errors_ms[i] = NAN;
    return 0;
}

static PyObject *hb_set_base(Heartbeat *h, PyObject *args) {
    if (!h->map) {
        PyErr_SetString(PyExc_RuntimeError, "the heartbeat is stopped");
        return NULL;
    }
    Py_buffer body;
    PyObject *fixed;
    long long delta, hold;
    if (!PyArg_ParseTuple(args, "y*OLL", &body, &fixed, &delta, &hold)) return NULL;
    long long fixed_ns = 0;
    if (fixed != Py_None && ((fixed_ns = PyLong_AsLongLong(fixed)) == -1 && PyErr_Occurred())) {
        PyBuffer_Release(&body);
        return NULL;
    }
    if (body.len != CT_BODY_SIZE) {
        PyBuffer_Release(&body);
        PyErr_SetString(PyExc_ValueError, "the body is 108 bytes");
        return NULL;
    }
    pthread_mutex_lock(&h->mu);
    memcpy(h->body, body.buf, CT_BODY_SIZE);
    h->has_fixed_void = fixed != Py_None;
    h->fixed_void_ns = fixed_ns;
    h->void_delta_ns = delta;
    h->hold_until_ns = hold;
    h->have_base = 1;
    pthread_mutex_unlock(&h->mu);
    PyBuffer_Release(&body);
    Py_RETURN_NONE;
}

static PyObject *hb_hold(Heartbeat *h, PyObject *arg) {
    if (!h->map) {
        PyErr_SetString(PyExc_RuntimeError, "the heartbeat is stopped");
        return NULL;
    }
    long long until = PyLong_AsLongLong(arg);
    if (until == -1 && PyErr_Occurred()) return NULL;
    pthread_mutex_lock(&h->mu);
    h->hold_until_ns = until;
    pthread_mutex_unlock(&h->mu);
    Py_RETURN_NONE;
}

static PyObject *hb_tick(Heartbeat *h, PyObject *args) {
    if (!h->map) {
        PyErr_SetString(PyExc_RuntimeError, "the heartbeat is stopped");
        return NULL;
    }
    long long now, void_after;
    unsigned long long count;
    double rate, lat;
    if (!PyArg_ParseTuple(args, "LLKdd", &now, &void_after, &count, &rate, &lat)) return NULL;
    pthread_mutex_lock(&h->mu);
    publish_locked(h, now, void_after, count, rate, lat);
    pthread_mutex_unlock(&h->mu);
    Py_RETURN_NONE;
}

static PyObject *hb_write(Heartbeat *h, PyObject *arg) {
    if (!h->map) {
        PyErr_SetString(PyExc_RuntimeError, "the heartbeat is stopped");
        return NULL;
    }
    Py_buffer body;
    if (PyObject_GetBuffer(arg, &body, PyBUF_SIMPLE) < 0) return NULL;
    if (body.len != CT_BODY_SIZE) {
        PyBuffer_Release(&body);
        PyErr_SetString(PyExc_ValueError, "the body is 108 bytes");
        return NULL;
    }
    pthread_mutex_lock(&h->mu);
    h->seq += 2;
    ct_write_body(h->map, h->seq, body.buf);
    pthread_mutex_unlock(&h->mu);
    PyBuffer_Release(&body);
    Py_RETURN_NONE;
}

/* start(priority=0) -> 0, or the errno that refused SCHED_FIFO at `priority` (the thread then runs
 * under normal scheduling). A real-time heartbeat keeps its cadence when busy processes fill every
 * core: it needs about 5 us of CPU per tick and always sleeps to its next deadline. */
static PyObject *hb_start(Heartbeat *h, PyObject *args) {
    int priority = 0;
    if (!PyArg_ParseTuple(args, "|i", &priority)) return NULL;
    if (!h->map || h->running) {
        PyErr_SetString(PyExc_RuntimeError, "Heartbeat not initialised, or already started");
        return NULL;
    }
    /* Signals stay with the interpreter's thread: the new thread starts with all of them blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    atomic_store(&h->stop, 0);
    int rc = pthread_create(&h->thread, NULL, run, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    h->running = 1;
    int refused = 0;
    if (priority > 0) {
        struct sched_param sp = {.sched_priority = priority};
        refused = pthread_setschedparam(h->thread, SCHED_FIFO, &sp);
    }
    return PyLong_FromLong(refused);
}

static void stop_thread(Heartbeat *h) {
    if (!h->running) return;
    atomic_store(&h->stop, 1);
    Py_BEGIN_ALLOW_THREADS pthread_join(h->thread, NULL);
    Py_END_ALLOW_THREADS h->running = 0;
}

static PyObject *hb_stop(Heartbeat *h, PyObject *Py_UNUSED(ignored)) {
    stop_thread(h);
    if (h->have_view) {
        PyBuffer_Release(&h->view);
        h->have_view = 0;
        h->map = NULL;
    }
    return PyLong_FromUnsignedLongLong(h->seq);
}

static PyObject *hb_stats(Heartbeat *h, PyObject *Py_UNUSED(ignored)) {
    pthread_mutex_lock(&h->mu);
    unsigned long long count = h->count, periods = h->periods;
    double rate = h->rate_hz, mean = h->mean_period_ns, lat = h->latency_ms;
    long long last = h->last_ns;
    pthread_mutex_unlock(&h->mu);
    return Py_BuildValue("KdddLK", count, rate, mean, lat, last, periods);
}

static PyObject *hb_period_errors(Heartbeat *h, PyObject *Py_UNUSED(ignored)) {
    double copy[RING];
    pthread_mutex_lock(&h->mu);
    memcpy(copy, h->errors_ms, sizeof copy);
    pthread_mutex_unlock(&h->mu);
    PyObject *list = PyList_New(RING);
    if (!list) return NULL;
    for (int i = 0; i < RING; i++) {
        PyObject *v = PyFloat_FromDouble(copy[i]);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

static void hb_dealloc(Heartbeat *h) {
    stop_thread(h);
    if (h->have_view) PyBuffer_Release(&h->view);
    if (h->period_ns) pthread_mutex_destroy(&h->mu);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static PyMethodDef hb_methods[] = {
    {"set_base", (PyCFunction)hb_set_base, METH_VARARGS,
     "set_base(body, fixed_void_ns|None, void_delta_ns, hold_until_ns): the image to republish"},
    {"hold", (PyCFunction)hb_hold, METH_O, "hold(until_ns): publish only before this CLOCK_MONOTONIC instant"},
    {"tick", (PyCFunction)hb_tick, METH_VARARGS,
     "tick(now_ns, void_after_ns, count, rate_hz, latency_ms): one publish, as the thread makes it"},
    {"write", (PyCFunction)hb_write, METH_O, "write(body): publish a whole body under the next sequence"},
    {"start", (PyCFunction)hb_start, METH_VARARGS,
     "start(priority=0): start the publishing thread, SCHED_FIFO at `priority` if > 0; returns 0 or the errno that refused it"},
    {"stop", (PyCFunction)hb_stop, METH_NOARGS, "stop the thread, release the segment; returns the last sequence"},
    {"stats", (PyCFunction)hb_stats, METH_NOARGS,
     "(count, rate_hz, mean_period_ns, latency_ms, last_publish_ns, periods)"},
    {"period_errors", (PyCFunction)hb_period_errors, METH_NOARGS,
     "|actual - nominal| period in ms of the last 1024 ticks (a ring; NaN where unfilled)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HeartbeatType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "chronotick_engine._heartbeat.Heartbeat",
    .tp_basicsize = sizeof(Heartbeat),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Heartbeat(buffer, seq, period_ns, count): publish ticks of a segment on a C thread",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)hb_init,
    .tp_dealloc = (destructor)hb_dealloc,
    .tp_methods = hb_methods,
};

static struct PyModuleDef heartbeat_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chronotick_engine._heartbeat",
    .m_doc = "The daemon's publish ticks on a C thread (chronotick_writer.h)",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__heartbeat(void) {
    if (PyType_Ready(&HeartbeatType) < 0) return NULL;
    PyObject *m = PyModule_Create(&heartbeat_module);
    if (!m) return NULL;
    Py_INCREF(&HeartbeatType);
    if (PyModule_AddObject(m, "Heartbeat", (PyObject *)&HeartbeatType) < 0) {
        Py_DECREF(&HeartbeatType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
