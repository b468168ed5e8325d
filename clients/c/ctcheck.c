/* The C reader's test and benchmark driver (tests/test_c_reader.py, bench/c_reader.py).
 *
 *   ctcheck read PATH              one snapshot and a reading now, as JSON; or {"error": NAME}
 *   ctcheck at PATH MONO_NS        corrected_ns and uncertainty_ns at that CLOCK_MONOTONIC instant
 *   ctcheck torn PATH N            N reads against a live writer; counts inconsistent snapshots
 *   ctcheck bench PATH N           ns per ct_now() and per clock_gettime(CLOCK_REALTIME), interleaved
 *   ctcheck watch PATH SECONDS     one JSON line whenever the effective status or the generation changes
 *   ctcheck decode FILE            ct_decode() of each 128-byte record of FILE: one code name per line
 *
 * The torn check relies on the test writer's invariant: every snapshot it publishes has
 * anchor_real_ns == anchor_mono_ns + publish_count and offset_s == publish_count * 1e-9.
 */
#include "chronotick.h"

#include <stdio.h>

static const char *code_name(int rc) {
    static const char *names[] = {"OK", "ENOENT", "ESYMLINK", "EOPEN", "ENOTREG", "ESIZE", "EMAGIC",
                                  "EVERSION", "EHEADER", "EUNINIT", "ETORN", "ECHECKSUM", "ECORRUPT",
                                  "EWRITABLE", "ENOTREADY", "EVOID", "EMAP", "EINVAL", "ECLOCK"};
    return (rc <= 0 && rc >= -18) ? names[-rc] : "?";
}

static int fail(int rc) {
    printf("{\"error\": \"%s\", \"message\": \"%s\"}\n", code_name(rc), ct_strerror(rc));
    return 3;
}

static int cmd_read(ct_reader *r) {
    ct_snapshot s;
    ct_time t;
    int rc = ct_read(r, &s);
    if (rc) return fail(rc);
    rc = ct_now(r, &t);
    if (rc) return fail(rc);
    printf("{\"generation\": %llu, \"published_status\": \"%s\", \"status\": \"%s\", \"source\": \"%s\", "
           "\"corrected_ns\": %lld, \"uncertainty_ns\": %lld, \"since_ntp_ns\": %lld, \"confidence\": %.9g}\n",
           (unsigned long long)s.generation, ct_status_name(s.status), ct_status_name(t.status),
           ct_source_name(t.source), (long long)t.corrected_ns, (long long)t.uncertainty_ns,
           (long long)t.since_ntp_ns, t.confidence);
    return 0;
}

static int cmd_at(ct_reader *r, long long mono) {
    ct_time t;
    int rc = ct_at(r, mono, &t);
    if (rc) return fail(rc);
    printf("{\"corrected_ns\": %lld, \"uncertainty_ns\": %lld, \"status\": \"%s\"}\n", (long long)t.corrected_ns,
           (long long)t.uncertainty_ns, ct_status_name(t.status));
    return 0;
}

static int cmd_torn(ct_reader *r, long n) {
    long bad = 0, ok = 0;
    ct_snapshot s;
    for (long i = 0; i < n; i++) {
        r->have_good = 0; /* validate a fresh copy every time, as a first read would */
        if (ct_read(r, &s) != CT_OK) continue;
        ok++;
        int64_t count = (int64_t)s.publish_count;
        if (s.anchor_real_ns - s.anchor_mono_ns != count || s.offset_s != (double)count * 1e-9) bad++;
    }
    printf("{\"reads\": %ld, \"accepted\": %ld, \"inconsistent\": %ld, \"torn_retries\": %llu}\n", n, ok, bad,
           (unsigned long long)r->torn_retries);
    return bad ? 1 : 0;
}

static int64_t mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmd_watch(ct_reader *r, double seconds) {
    int64_t end = mono_now() + (int64_t)(seconds * 1e9);
    int last_status = -100, last_rc = 1;
    uint64_t last_gen = 0;
    struct timespec pause = {0, 20000000};
    while (mono_now() < end) {
        int status;
        ct_snapshot s;
        int rc = ct_status(r, &status);
        if (!rc) rc = ct_read(r, &s);
        if (rc && rc != last_rc) printf("{\"error\": \"%s\"}\n", code_name(rc));
        if (!rc && (status != last_status || s.generation != last_gen || last_rc)) {
            printf("{\"status\": \"%s\", \"generation\": %llu}\n", ct_status_name(status),
                   (unsigned long long)s.generation);
            last_status = status;
            last_gen = s.generation;
        }
        last_rc = rc;
        fflush(stdout);
        nanosleep(&pause, NULL);
    }
    return 0;
}

static int cmd_decode(const char *file) {
    FILE *fh = fopen(file, "rb");
    if (!fh) return 2;
    unsigned char img[CT_SEGMENT_SIZE];
    ct_snapshot s;
    while (fread(img, 1, CT_SEGMENT_SIZE, fh) == CT_SEGMENT_SIZE) printf("%s\n", code_name(ct_decode(img, &s)));
    fclose(fh);
    return 0;
}


static int cmd_bench(ct_reader *r, long n) {
    ct_time t;
    struct timespec ts;
    double best_ct = 1e18, best_rt = 1e18;
    volatile int64_t sink = 0;
    for (int rep = 0; rep < 7; rep++) {
        int64_t a = mono_now();
        for (long i = 0; i < n; i++) {
            clock_gettime(CLOCK_REALTIME, &ts);
            sink += ts.tv_nsec;
        }
        int64_t b = mono_now();
        for (long i = 0; i < n; i++) {
            if (ct_now(r, &t) != CT_OK) return fail(ct_now(r, &t));
            sink += t.corrected_ns;
        }
        int64_t c = mono_now();
        double rt = (double)(b - a) / n, ctn = (double)(c - b) / n;
        if (rt < best_rt) best_rt = rt;
        if (ctn < best_ct) best_ct = ctn;
    }
    printf("{\"clock_gettime_realtime_ns\": %.2f, \"ct_now_ns\": %.2f, \"ratio\": %.3f}\n", best_rt, best_ct,
           best_ct / best_rt);
    return sink == 42 ? 2 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "decode")) return cmd_decode(argv[2]);
    if (argc < 3) {
        fprintf(stderr, "usage: ctcheck read|at|torn|bench|watch PATH ARG, or ctcheck decode FILE\n");
        return 2;
    }
    ct_reader r;
    int rc = ct_open(&r, argv[2]);
    if (rc) return fail(rc);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "read")) rc = cmd_read(&r);
    else if (!strcmp(cmd, "at") && argc > 3) rc = cmd_at(&r, strtoll(argv[3], NULL, 10));
    else if (!strcmp(cmd, "torn") && argc > 3) rc = cmd_torn(&r, strtol(argv[3], NULL, 10));
    else if (!strcmp(cmd, "bench") && argc > 3) rc = cmd_bench(&r, strtol(argv[3], NULL, 10));
    else if (!strcmp(cmd, "watch") && argc > 3) rc = cmd_watch(&r, strtod(argv[3], NULL));
    else {
        fprintf(stderr, "usage: ctcheck read|at|torn|bench|watch PATH ARG, or ctcheck decode FILE\n");
        rc = 2;
    }
    ct_close(&r);
    return rc;
}
