#include <string.h>
#include "CTernShims.h"

// Word-atomic copies in and out of ring memory. The aligned middle of a range moves one 64-bit
// word per iteration; the unaligned ends go through a whole word (read-modify-write on the
// store side, which is safe because the ring has a single writer at a time).

static void store_linear(unsigned char *ring, size_t off, const unsigned char *src, size_t len) {
    while (len > 0 && (off & 7) != 0) {
        size_t word = off & ~(size_t)7, shift = off & 7;
        size_t take = 8 - shift < len ? 8 - shift : len;
        uint64_t w = __atomic_load_n((uint64_t *)(ring + word), __ATOMIC_RELAXED);
        memcpy((unsigned char *)&w + shift, src, take);
        __atomic_store_n((uint64_t *)(ring + word), w, __ATOMIC_RELAXED);
        off += take; src += take; len -= take;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, src, 8);
        __atomic_store_n((uint64_t *)(ring + off), w, __ATOMIC_RELAXED);
        off += 8; src += 8; len -= 8;
    }
    if (len > 0) {
        uint64_t w = __atomic_load_n((uint64_t *)(ring + off), __ATOMIC_RELAXED);
        memcpy(&w, src, len);
        __atomic_store_n((uint64_t *)(ring + off), w, __ATOMIC_RELAXED);
    }
}

static void load_linear(unsigned char *dst, const unsigned char *ring, size_t off, size_t len) {
    while (len > 0 && (off & 7) != 0) {
        size_t word = off & ~(size_t)7, shift = off & 7;
        size_t take = 8 - shift < len ? 8 - shift : len;
        uint64_t w = __atomic_load_n((const uint64_t *)(ring + word), __ATOMIC_RELAXED);
        memcpy(dst, (unsigned char *)&w + shift, take);
        off += take; dst += take; len -= take;
    }
    while (len >= 8) {
        uint64_t w = __atomic_load_n((const uint64_t *)(ring + off), __ATOMIC_RELAXED);
        memcpy(dst, &w, 8);
        off += 8; dst += 8; len -= 8;
    }
    if (len > 0) {
        uint64_t w = __atomic_load_n((const uint64_t *)(ring + off), __ATOMIC_RELAXED);
        memcpy(dst, &w, len);
    }
}

void ctern_ring_store(void *ring, size_t capacity, uint64_t offset, const void *src, size_t len) {
    size_t off = (size_t)(offset & (capacity - 1));
    size_t first = capacity - off < len ? capacity - off : len;
    store_linear(ring, off, src, first);
    if (len > first) store_linear(ring, 0, (const unsigned char *)src + first, len - first);
}

void ctern_ring_load(void *dst, const void *ring, size_t capacity, uint64_t offset, size_t len) {
    size_t off = (size_t)(offset & (capacity - 1));
    size_t first = capacity - off < len ? capacity - off : len;
    load_linear(dst, ring, off, first);
    if (len > first) load_linear((unsigned char *)dst + first, ring, 0, len - first);
}
