#ifndef CTERN_SHIMS_H
#define CTERN_SHIMS_H
// Linux calls that Glibc's Swift overlay does not export, the ring's word-atomic copies and the
// JSON validator's string scan (ctern_json.h).
// No _GNU_SOURCE here: defining it in an imported header breaks Glibc's fd_set (platform notes).
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "ctern_json.h"

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.
int ctern_accept_nonblocking(int fd, struct sockaddr *addr, socklen_t *len);

/// Names the calling thread (shown by top -H, perf, gdb). Name is cut to 15 bytes.
void ctern_set_thread_name(const char *name);

/// Copies `len` bytes from `src` into ring memory at byte `offset`, wrapping at `capacity`.
/// Every ring word is written with a relaxed atomic store, so readers copying concurrently race
/// only through atomics (a seqlock: they validate afterwards and drop what may be torn).
/// `ring` must be 8-byte aligned, `capacity` a power of two of at least 8.
void ctern_ring_store(void *ring, size_t capacity, uint64_t offset, const void *src, size_t len);

/// Copies `len` bytes of ring memory starting at byte `offset` (wrapping at `capacity`) into
/// `dst`, reading each ring word with a relaxed atomic load. Same alignment rules.
void ctern_ring_load(void *dst, const void *ring, size_t capacity, uint64_t offset, size_t len);

#endif
