/* One reading of the corrected clock, like `chronotick-client read`:
 *
 *     ./example [SEGMENT_PATH]     (else $CHRONOTICK_SHM_PATH, else /dev/shm/chronotick_shm)
 *
 * Exit status: 0 when SYNCHRONIZED, 1 otherwise or on error (one line on stderr).
 */
#include "chronotick.h"

#include <stdio.h>

int main(int argc, char **argv) {
    ct_reader r;
    ct_time t;
    int rc = ct_open(&r, argc > 1 ? argv[1] : NULL);
    if (rc == CT_OK) rc = ct_now(&r, &t);
    if (rc != CT_OK) {
        fprintf(stderr, "chronotick: %s: %s\n", r.path[0] ? r.path : "segment", ct_strerror(rc));
        ct_close(&r);
        return 1;
    }
    time_t secs = (time_t)(t.corrected_ns / 1000000000LL);
    long micros = (long)((t.corrected_ns % 1000000000LL) / 1000);
    struct tm utc;
    char when[32];
    gmtime_r(&secs, &utc);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &utc);
    printf("%s.%06ld+00:00  \xc2\xb1%.3f ms  [%s, %s]\n", when, micros, t.uncertainty_ns / 1e6,
           ct_status_name(t.status), ct_source_name(t.source));
    ct_close(&r);
    return t.status == CT_SYNCHRONIZED ? 0 : 1;
}
