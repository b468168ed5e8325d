/*
 * chronotick_writer.h: the writer's side of the segment in C, beside chronotick.h's reader: the
 * same layout, the same checksum, the seqlock of docs/PROTOCOL.md from the other end.
 *
 * The daemon's publish loop uses it (through chronotick_engine._heartbeat) to rewrite the
 * heartbeat fields of an image whose model fields Python packed. The pure-Python Publisher stays
 * the reference: a test holds both to byte-identical images.
 */
#ifndef CHRONOTICK_WRITER_H
#define CHRONOTICK_WRITER_H

#include "chronotick.h"

#ifndef CT__UNUSABLE

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "chronotick_writer.h stores the little-endian sequence word natively: a little-endian host only"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define CT_BODY_OFFSET 20
#define CT_BODY_SIZE (CT_SEGMENT_SIZE - CT_BODY_OFFSET)
/* Byte offsets of the heartbeat fields in the body (PROTOCOL.md's table, minus 20). */
#define CT_BODY_VOID_AFTER 60
#define CT_BODY_LAST_PUBLISH 68
#define CT_BODY_PUBLISH_COUNT 92
#define CT_BODY_RATE 104
#define CT_BODY_LATENCY 106

static inline void ct__put(unsigned char *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* A scaled field clamped to 0..65535, rounded half to even as the Python writer's round(). */
static inline uint16_t ct__u16_scaled(double v) {
    double r = nearbyint(v);
    if (!(r > 0)) return 0; /* also NaN */
    return r >= 65535.0 ? 65535 : (uint16_t)r;
}

/* The fields a heartbeat tick changes: the void time, the publish instant and count, the rate in
 * 0.1 Hz and the mean latency in microseconds. */
static inline void ct_heartbeat_fields(unsigned char body[CT_BODY_SIZE], int64_t void_after_mono_ns,
                                       int64_t now_mono_ns, uint64_t publish_count, double rate_hz,
                                       double latency_ms) {
    ct__put(body + CT_BODY_VOID_AFTER, (uint64_t)void_after_mono_ns, 8);
    ct__put(body + CT_BODY_LAST_PUBLISH, (uint64_t)now_mono_ns, 8);
    ct__put(body + CT_BODY_PUBLISH_COUNT, publish_count, 8);
    ct__put(body + CT_BODY_RATE, ct__u16_scaled(rate_hz * 10), 2);
    ct__put(body + CT_BODY_LATENCY, ct__u16_scaled(latency_ms * 1000), 2);
}

/* Publish `body` under the even sequence `seq` (the previous one + 2): the odd sequence first, then
 * checksum and body, then `seq`, every store an atomic 8-byte one so that a reader's atomic copy
 * sees each word whole. The writer must be the segment's only one (the daemon's lock). */
static inline void ct_write_body(unsigned char *map, uint64_t seq, const unsigned char body[CT_BODY_SIZE]) {
    unsigned char seq_bytes[8];
    uint64_t words[CT_SEGMENT_SIZE / 8];
    unsigned char *img = (unsigned char *)words;
    ct__put(seq_bytes, seq, 8);
    ct__put(img + 16, ct__crc32(ct__crc32(0, seq_bytes, 8), body, CT_BODY_SIZE), 4);
    memcpy(img + CT_BODY_OFFSET, body, CT_BODY_SIZE);
    _Atomic uint64_t *dst = (_Atomic uint64_t *)(void *)map;
    atomic_store_explicit(&dst[1], seq - 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* the odd sequence is visible before any new byte */
    for (int i = 2; i < CT_SEGMENT_SIZE / 8; i++) atomic_store_explicit(&dst[i], words[i], memory_order_relaxed);
    atomic_store_explicit(&dst[1], seq, memory_order_release);
}

#ifdef __cplusplus
}
#endif

#endif /* CT__UNUSABLE */
#endif /* CHRONOTICK_WRITER_H */
