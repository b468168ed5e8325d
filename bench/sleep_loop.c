/* The floor of a publish loop in C: a thread that only sleeps to absolute deadlines at FREQ Hz for
 * SECONDS (bench/daemon_load.py measures its CPU beside the daemon's). */
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include <stdlib.h>
#include <stdint.h>
int main(int argc, char **argv) {
    double freq = atof(argv[1]), seconds = atof(argv[2]);
    int64_t period = (int64_t)(1e9 / freq);
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t next = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec, end = next + (int64_t)(seconds * 1e9);
    while (next < end) {
        next += period;
        struct timespec d = {next / 1000000000LL, next % 1000000000LL};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL);
    }
    return 0;
}
