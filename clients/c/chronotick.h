/*
 * chronotick.h: a header-only C11 reader of the ChronoTick shared-memory segment, protocol v1.
 *
 * Written from docs/PROTOCOL.md alone; it depends on nothing beyond libc (POSIX). Use:
 *
 *     ct_reader r;
 *     ct_time t;
 *     int rc = ct_open(&r, NULL);               // NULL: $CHRONOTICK_SHM_PATH, else the default path
 *     if (rc == 0) rc = ct_now(&r, &t);          // corrected time now, with its 95% bound
 *     if (rc == 0) printf("%lld ± %lld ns [%s]\n", (long long)t.corrected_ns,
 *                         (long long)t.uncertainty_ns, ct_status_name(t.status));
 *     else fprintf(stderr, "%s\n", ct_strerror(rc));
 *     ct_close(&r);
 *
 * Conventions (those of clock_gettime): every call returns 0 on success and fills its output
 * argument; on failure it returns a negative CT_E* code, leaves the output untouched, and
 * ct_strerror(code) gives a one-line explanation. Times are int64 nanoseconds: corrected times on
 * the Unix epoch (as CLOCK_REALTIME), instants to read at on CLOCK_MONOTONIC. A ct_reader is not
 * thread-safe: give each thread its own (they may share one segment).
 *
 * Honesty rules it keeps, as the Python client does: the status is derived from the heartbeat's
 * freshness, never taken on trust; no time is given when the daemon has no estimate or its data is
 * void; the bound grows with the distance from the model's anchor, so a dead daemon widens it.
 *
 * Define CT_DEFAULT_PATH before including to change the default path.
 *
 * It needs POSIX.1-2008 (open, mmap, clock_gettime). Include it before any system header, or
 * compile with -D_POSIX_C_SOURCE=200809L (pkg-config --cflags chronotick gives it): under strict
 * -std=c11, a system header included first fixes the feature set without POSIX, and this header
 * can no longer add it. Link with -lm.
 */
#ifndef CHRONOTICK_H
#define CHRONOTICK_H

#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#if defined(__STDC_VERSION__) && (defined(_STDIO_H) || defined(_STDLIB_H) || defined(_STRING_H) || defined(_TIME_H))
#error "chronotick.h: include it before any system header, or compile with -D_POSIX_C_SOURCE=200809L"
#define CT__UNUSABLE 1 /* nothing below: one error, not a cascade of unknown POSIX names */
#endif
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef CT__UNUSABLE

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CT_DEFAULT_PATH
#define CT_DEFAULT_PATH "/dev/shm/chronotick_shm"
#endif
#define CT_PATH_ENV "CHRONOTICK_SHM_PATH"
#define CT_SEGMENT_SIZE 128
#define CT_VERSION 1
#define CT_MAX_RETRIES 200           /* torn or mid-update copies before giving up */
#define CT_MIN_UNCERTAINTY_NS 1000   /* never claim a perfect clock */
#define CT_RECHECK_NS 100000000LL    /* look for a replaced segment file at most every 100 ms */

/* Status, as published and as derived (docs/PROTOCOL.md, "Status a reader may report"). */
enum ct_status {
    CT_UNKNOWN = 0,
    CT_WARMING_UP = 1,
    CT_SYNCHRONIZED = 2,
    CT_FREE_RUNNING = 3,
    CT_DISRUPTED = 4,
    CT_STOPPED = 5 /* derived only, never published: stopped or dead before its first estimate */
};

enum ct_source { CT_SOURCE_NONE = 0, CT_SOURCE_NTP = 1, CT_SOURCE_CLASSICAL = 2, CT_SOURCE_FUSED = 3 };

enum ct_flag { CT_FLAG_NTP_READY = 1, CT_FLAG_MODELS_READY = 2, CT_FLAG_STOPPED = 4 };

/* Error codes: every call returns 0 or one of these. */
enum ct_error {
    CT_OK = 0,
    CT_ENOENT = -1,       /* no segment at the path */
    CT_ESYMLINK = -2,     /* the path is a symlink */
    CT_EOPEN = -3,        /* the segment cannot be opened (permissions, ...) */
    CT_ENOTREG = -4,      /* not a regular file */
    CT_ESIZE = -5,        /* the file is not 128 bytes */
    CT_EMAGIC = -6,       /* not a ChronoTick segment */
    CT_EVERSION = -7,     /* another protocol version */
    CT_EHEADER = -8,      /* the header declares another size */
    CT_EUNINIT = -9,      /* never initialised by a daemon */
    CT_ETORN = -10,       /* always mid-update: is a writer stuck? */
    CT_ECHECKSUM = -11,   /* the checksum never matched */
    CT_ECORRUPT = -12,    /* an out-of-range field */
    CT_EWRITABLE = -13,   /* writable by others than its owner: anyone could forge the time */
    CT_ENOTREADY = -14,   /* the daemon has no estimate yet */
    CT_EVOID = -15,       /* the data is void: the daemon has been gone too long */
    CT_EMAP = -16,        /* mmap failed */
    CT_EINVAL = -17,      /* a bad argument */
    CT_ECLOCK = -18,      /* clock_gettime failed */
    CT_ESTOPPED = -19     /* the daemon stopped before its first estimate (never synchronised) */
};

/* One validated segment (docs/PROTOCOL.md, "Layout"). */
typedef struct {
    uint64_t seq;
    uint8_t status; /* as published; see ct_effective_status */
    uint8_t source;
    uint16_t flags;
    uint64_t generation;
    int64_t anchor_mono_ns;
    int64_t anchor_real_ns;
    double offset_s;
    double drift;
    float offset_unc_s;
    float drift_unc;
    float max_drift_rate;
    float confidence;
    int64_t void_after_mono_ns;
    int64_t last_publish_mono_ns;
    int64_t last_ntp_mono_ns;
    int64_t daemon_start_mono_ns;
    uint64_t publish_count;
    uint32_t sample_count;
    uint16_t publish_rate_dhz; /* 0.1 Hz units */
    uint16_t avg_latency_us;
} ct_snapshot;

/* One reading of the corrected clock at a CLOCK_MONOTONIC instant. */
typedef struct {
    int64_t mono_ns;        /* the instant read at */
    int64_t corrected_ns;   /* corrected Unix time, ns */
    int64_t uncertainty_ns; /* 95% half-width, ns */
    int64_t earliest_ns;    /* corrected_ns - uncertainty_ns */
    int64_t latest_ns;      /* corrected_ns + uncertainty_ns */
    int status;             /* effective status (enum ct_status) */
    int source;             /* enum ct_source */
    double confidence;
    double offset_s;        /* reference - local at the anchor, s */
    double drift;           /* s/s */
    int64_t since_ntp_ns;   /* since the last accepted NTP sample; -1: never */
    uint64_t generation;
} ct_time;

typedef struct {
    char path[4096];
    const unsigned char *map;
    dev_t dev;
    ino_t ino;
    int have_good;
    ct_snapshot good;
    /* the model of `good`, pre-computed: corrected = base_ns + m + drift*(m - anchor) */
    int64_t base_ns;
    int64_t unc0_ns;
    double rate;
    int64_t next_stat_ns;
    uint64_t torn_retries;
} ct_reader;

/* ------------------------------------------------------------------------------------ messages */

static inline const char *ct_strerror(int err) {
    switch (err) {
    case CT_OK: return "ok";
    case CT_ENOENT: return "no ChronoTick segment at the path: is chronotick-daemon running (with this path)?";
    case CT_ESYMLINK: return "the segment path is a symlink; refusing to follow it";
    case CT_EOPEN: return "cannot open the segment (check its permissions)";
    case CT_ENOTREG: return "the segment path is not a regular file; not a ChronoTick segment";
    case CT_ESIZE: return "the file is not 128 bytes: not a ChronoTick v1 segment";
    case CT_EMAGIC: return "not a ChronoTick segment (bad magic); check the path";
    case CT_EVERSION: return "the segment uses another protocol version: upgrade the reader or the daemon so they match";
    case CT_EHEADER: return "the segment header declares a size other than 128";
    case CT_EUNINIT: return "the segment was never initialised by a daemon";
    case CT_ETORN: return "the segment never held a consistent snapshot; is a writer stuck mid-update?";
    case CT_ECHECKSUM: return "the segment's checksum never matched: it is corrupt";
    case CT_ECORRUPT: return "the segment holds an out-of-range field: it is corrupt";
    case CT_EWRITABLE: return "the segment is writable by others than its owner; refusing time anyone could forge";
    case CT_ENOTREADY: return "the daemon has no estimate yet: `chronotick-client status` shows each server's state";
    case CT_ESTOPPED: return "the daemon stopped before its first estimate (STOPPED, never synchronised): start chronotick-daemon again once its servers answer";
    case CT_EVOID: return "the daemon's data is void (no update for too long): restart chronotick-daemon or check its NTP servers";
    case CT_EMAP: return "cannot map the segment";
    case CT_EINVAL: return "invalid argument";
    case CT_ECLOCK: return "clock_gettime failed";
    default: return "unknown ChronoTick error";
    }
}

static inline const char *ct_status_name(int status) {
    switch (status) {
    case CT_UNKNOWN: return "UNKNOWN";
    case CT_WARMING_UP: return "WARMING_UP";
    case CT_SYNCHRONIZED: return "SYNCHRONIZED";
    case CT_FREE_RUNNING: return "FREE_RUNNING";
    case CT_DISRUPTED: return "DISRUPTED";
    case CT_STOPPED: return "STOPPED";
    default: return "?";
    }
}

static inline const char *ct_source_name(int source) {
    switch (source) {
    case CT_SOURCE_NONE: return "none";
    case CT_SOURCE_NTP: return "ntp";
    case CT_SOURCE_CLASSICAL: return "classical";
    case CT_SOURCE_FUSED: return "fused";
    default: return "?";
    }
}

/* --------------------------------------------------------------------------------------- codec */

/* Little-endian loads at fixed offsets: no padding, no native alignment (docs/PROTOCOL.md). */
static inline uint64_t ct__u(const unsigned char *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static inline double ct__f64(const unsigned char *b) {
    uint64_t u = ct__u(b, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static inline float ct__f32(const unsigned char *b) {
    uint32_t u = (uint32_t)ct__u(b, 4);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32), continued from `crc`. */
static inline uint32_t ct__crc32(uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* Header checks of a copy: an error here will not fix itself by retrying. */
static inline int ct__check_header(const unsigned char *img) {
    if (memcmp(img, "CTCK", 4) != 0) return CT_EMAGIC;
    if (ct__u(img + 4, 2) != CT_VERSION) return CT_EVERSION;
    if (ct__u(img + 6, 2) != CT_SEGMENT_SIZE) return CT_EHEADER;
    return CT_OK;
}

/* Decode and fully validate one stable copy (even, non-zero seq; checksum; field ranges). */
static inline int ct_decode(const unsigned char img[CT_SEGMENT_SIZE], ct_snapshot *s) {
    int rc = ct__check_header(img);
    if (rc) return rc;
    uint64_t seq = ct__u(img + 8, 8);
    if (seq == 0) return CT_EUNINIT;
    if (seq & 1) return CT_ETORN;
    uint32_t crc = ct__crc32(ct__crc32(0, img + 8, 8), img + 20, CT_SEGMENT_SIZE - 20);
    if (crc != (uint32_t)ct__u(img + 16, 4)) return CT_ECHECKSUM;
    ct_snapshot v;
    v.seq = seq;
    v.status = img[20];
    v.source = img[21];
    v.flags = (uint16_t)ct__u(img + 22, 2);
    v.generation = ct__u(img + 24, 8);
    v.anchor_mono_ns = (int64_t)ct__u(img + 32, 8);
    v.anchor_real_ns = (int64_t)ct__u(img + 40, 8);
    v.offset_s = ct__f64(img + 48);
    v.drift = ct__f64(img + 56);
    v.offset_unc_s = ct__f32(img + 64);
    v.drift_unc = ct__f32(img + 68);
    v.max_drift_rate = ct__f32(img + 72);
    v.confidence = ct__f32(img + 76);
    v.void_after_mono_ns = (int64_t)ct__u(img + 80, 8);
    v.last_publish_mono_ns = (int64_t)ct__u(img + 88, 8);
    v.last_ntp_mono_ns = (int64_t)ct__u(img + 96, 8);
    v.daemon_start_mono_ns = (int64_t)ct__u(img + 104, 8);
    v.publish_count = ct__u(img + 112, 8);
    v.sample_count = (uint32_t)ct__u(img + 120, 4);
    v.publish_rate_dhz = (uint16_t)ct__u(img + 124, 2);
    v.avg_latency_us = (uint16_t)ct__u(img + 126, 2);
    if (v.status > CT_DISRUPTED || v.source > CT_SOURCE_FUSED) return CT_ECORRUPT;
    if (v.flags & ~(CT_FLAG_NTP_READY | CT_FLAG_MODELS_READY | CT_FLAG_STOPPED)) return CT_ECORRUPT;
    if (!isfinite(v.offset_s) || !isfinite(v.drift) || !isfinite(v.offset_unc_s) || !isfinite(v.drift_unc) ||
        !isfinite(v.max_drift_rate) || !isfinite(v.confidence))
        return CT_ECORRUPT;
    if (v.offset_unc_s < 0 || v.drift_unc < 0 || v.max_drift_rate < 0) return CT_ECORRUPT;
    *s = v;
    return CT_OK;
}

/* ------------------------------------------------------------------------------------- clocks */

static inline int ct__clock(clockid_t id, int64_t *ns) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return CT_ECLOCK;
    *ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    return CT_OK;
}

/* ------------------------------------------------------------------------------------ mapping */

static inline int ct__map(ct_reader *r) {
    int fd = open(r->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC); /* a planted FIFO must not hang us */
    if (fd < 0) {
        if (errno == ENOENT) return CT_ENOENT;
        if (errno == ELOOP) return CT_ESYMLINK;
        return CT_EOPEN;
    }
    struct stat st;
    int rc = CT_OK;
    if (fstat(fd, &st) != 0) rc = CT_EOPEN;
    else if (!S_ISREG(st.st_mode)) rc = CT_ENOTREG;
    else if (st.st_size != CT_SEGMENT_SIZE) rc = CT_ESIZE;
    else if (st.st_mode & (S_IWGRP | S_IWOTH)) rc = CT_EWRITABLE;
    void *m = MAP_FAILED;
    if (rc == CT_OK) {
        m = mmap(NULL, CT_SEGMENT_SIZE, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) rc = CT_EMAP;
    }
    close(fd);
    if (rc != CT_OK) return rc;
    if (r->map) munmap((void *)r->map, CT_SEGMENT_SIZE);
    r->map = (const unsigned char *)m;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->have_good = 0;
    return CT_OK;
}

/* Open `path` (NULL: $CHRONOTICK_SHM_PATH, else CT_DEFAULT_PATH) and map it read-only. */
static inline int ct_open(ct_reader *r, const char *path) {
    if (!r) return CT_EINVAL;
    memset(r, 0, sizeof *r);
    if (!path || !*path) path = getenv(CT_PATH_ENV);
    if (!path || !*path) path = CT_DEFAULT_PATH;
    size_t n = strlen(path);
    if (n >= sizeof r->path) return CT_EINVAL;
    memcpy(r->path, path, n + 1);
    return ct__map(r);
}

static inline void ct_close(ct_reader *r) {
    if (r && r->map) {
        munmap((void *)r->map, CT_SEGMENT_SIZE);
        r->map = NULL;
    }
}

/* A daemon that replaced the file (new inode) is followed; a vanished path keeps the mapping,
 * which still serves a model within its own, growing, bounds. */
static inline int ct__remap_if_replaced(ct_reader *r) {
    struct stat st;
    if (lstat(r->path, &st) != 0) return CT_OK;
    if (st.st_dev == r->dev && st.st_ino == r->ino) return CT_OK;
    return ct__map(r);
}

/* ------------------------------------------------------------------------------------ reading */

static inline void ct__adopt(ct_reader *r, const ct_snapshot *s) {
    r->good = *s;
    r->have_good = 1;
    /* as the Python client: nearbyint rounds half to even, like Python's round() */
    r->base_ns = s->anchor_real_ns - s->anchor_mono_ns + (int64_t)nearbyint(s->offset_s * 1e9);
    int64_t unc0 = (int64_t)nearbyint((double)s->offset_unc_s * 1e9);
    r->unc0_ns = unc0 > CT_MIN_UNCERTAINTY_NS ? unc0 : CT_MIN_UNCERTAINTY_NS;
    r->rate = (double)s->drift_unc + (double)s->max_drift_rate;
}

/* Copy the mapped image with relaxed atomic 8-byte loads. A plain memcpy from memory another
 * process writes at the same time is a data race, which C11 leaves undefined: the compiler may
 * then read the shared bytes more than once, or later than the sequence check that vouches for
 * them. Atomic loads (plain moves on x86-64 and arm64) are read exactly once, in place; the
 * acquire fence after the copy keeps them before the second sequence load (PROTOCOL.md). */
static inline void ct__copy_image(unsigned char *dst, const unsigned char *map) {
    const _Atomic uint64_t *src = (const _Atomic uint64_t *)(const void *)map;
    uint64_t words[CT_SEGMENT_SIZE / 8];
    for (int i = 0; i < CT_SEGMENT_SIZE / 8; i++) words[i] = atomic_load_explicit(&src[i], memory_order_relaxed);
    memcpy(dst, words, sizeof words);
}

/* The current validated snapshot: seqlock copy, bounded retries, then the last good one. */
static inline int ct_read(ct_reader *r, ct_snapshot *out) {
    if (!r || !out) return CT_EINVAL;
    if (!r->map) {
        int rc = ct__map(r);
        if (rc) return rc;
    }
    const _Atomic uint64_t *seqp = (const _Atomic uint64_t *)(const void *)(r->map + 8);
    uint64_t seq = atomic_load_explicit(seqp, memory_order_acquire);
    if (r->have_good && seq == r->good.seq) {
        *out = r->good;
        return CT_OK;
    }
    int err = CT_ETORN;
    unsigned char img[CT_SEGMENT_SIZE];
    for (int attempt = 0; attempt < CT_MAX_RETRIES; attempt++) {
        uint64_t before = atomic_load_explicit(seqp, memory_order_acquire);
        ct__copy_image(img, r->map);
        atomic_thread_fence(memory_order_acquire);
        uint64_t after = atomic_load_explicit(seqp, memory_order_relaxed);
        if ((before & 1) || before != after || ct__u(img + 8, 8) != before) {
            r->torn_retries++;
            err = CT_ETORN;
            if (attempt > 8) sched_yield();
            continue;
        }
        ct_snapshot s;
        int rc = ct_decode(img, &s);
        if (rc == CT_EMAGIC || rc == CT_EVERSION || rc == CT_EHEADER) return rc; /* will not fix itself */
        if (rc == CT_EUNINIT) return rc;
        if (rc) {
            r->torn_retries++;
            err = rc;
            continue;
        }
        ct__adopt(r, &s);
        *out = s;
        return CT_OK;
    }
    if (r->have_good) {
        *out = r->good; /* the caller judges its freshness from its heartbeat */
        return CT_OK;
    }
    return err;
}

/* How long after its last publish a daemon's SYNCHRONIZED is still trusted. */
static inline double ct_freshness_grace_s(const ct_snapshot *s) {
    double hz = s->publish_rate_dhz / 10.0;
    return 1.0 + 5.0 / (hz > 1.0 ? hz : 1.0);
}

/* The status a reader may report at `mono_ns`: decided from freshness, never taken on trust. */
static inline int ct_effective_status(const ct_snapshot *s, int64_t mono_ns) {
    int fresh = (double)(mono_ns - s->last_publish_mono_ns) <= ct_freshness_grace_s(s) * 1e9;
    int live = fresh && !(s->flags & CT_FLAG_STOPPED);
    if (s->source == CT_SOURCE_NONE) return live ? CT_UNKNOWN : CT_STOPPED;
    if (mono_ns > s->void_after_mono_ns) return CT_UNKNOWN;
    if (live) return s->status;
    if (s->status == CT_SYNCHRONIZED || s->status == CT_FREE_RUNNING) return CT_FREE_RUNNING;
    if (s->status == CT_DISRUPTED) return CT_DISRUPTED;
    return CT_UNKNOWN;
}

/* ct_read, after looking for a replaced file at most every CT_RECHECK_NS. */
static inline int ct__current(ct_reader *r, int64_t now, ct_snapshot *s) {
    if (r->map && now >= r->next_stat_ns) {
        r->next_stat_ns = now + CT_RECHECK_NS;
        int rc = ct__remap_if_replaced(r);
        if (rc) return rc;
    }
    return ct_read(r, s);
}

static inline int ct__at(ct_reader *r, int64_t mono_ns, int64_t now, ct_time *out) {
    ct_snapshot s;
    int rc = ct__current(r, now, &s);
    if (rc) return rc;
    if (s.source == CT_SOURCE_NONE)
        return ct_effective_status(&s, now) == CT_STOPPED ? CT_ESTOPPED : CT_ENOTREADY;
    if (now > s.void_after_mono_ns) return CT_EVOID;
    int64_t d = mono_ns - s.anchor_mono_ns;
    out->mono_ns = mono_ns;
    out->corrected_ns = r->base_ns + mono_ns + (int64_t)(s.drift * (double)d);
    out->uncertainty_ns = r->unc0_ns + (int64_t)(r->rate * (double)(d < 0 ? -d : d));
    out->earliest_ns = out->corrected_ns - out->uncertainty_ns;
    out->latest_ns = out->corrected_ns + out->uncertainty_ns;
    out->status = ct_effective_status(&s, now);
    out->source = s.source;
    out->confidence = s.confidence;
    out->offset_s = s.offset_s;
    out->drift = s.drift;
    out->since_ntp_ns = s.last_ntp_mono_ns ? now - s.last_ntp_mono_ns : -1;
    out->generation = s.generation;
    return CT_OK;
}

/* The corrected time and its 95% bound at the CLOCK_MONOTONIC instant `mono_ns` (a future one
 * for a deadline), from the current snapshot (docs/PROTOCOL.md, "Using the model"). The status is
 * the one a reader may report now. */
static inline int ct_at(ct_reader *r, int64_t mono_ns, ct_time *out) {
    if (!r || !out) return CT_EINVAL;
    int64_t now;
    int rc = ct__clock(CLOCK_MONOTONIC, &now);
    return rc ? rc : ct__at(r, mono_ns, now, out);
}

/* The effective status now (enum ct_status) into *status, also when no time can be given: UNKNOWN
 * when a live daemon has no estimate or its data is void, STOPPED when the daemon stopped or died
 * before its first estimate. A missing or foreign segment is an error. */
static inline int ct_status(ct_reader *r, int *status) {
    if (!r || !status) return CT_EINVAL;
    int64_t now;
    int rc = ct__clock(CLOCK_MONOTONIC, &now);
    if (rc) return rc;
    ct_snapshot s;
    rc = ct__current(r, now, &s);
    if (rc) return rc;
    *status = ct_effective_status(&s, now);
    return CT_OK;
}

/* The corrected time now: one CLOCK_MONOTONIC read. */
static inline int ct_now(ct_reader *r, ct_time *out) {
    if (!r || !out) return CT_EINVAL;
    int64_t now;
    int rc = ct__clock(CLOCK_MONOTONIC, &now);
    return rc ? rc : ct__at(r, now, now, out);
}

#ifdef __cplusplus
}
#endif
#endif /* CT__UNUSABLE */
#endif /* CHRONOTICK_H */
