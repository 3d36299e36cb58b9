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

/// Creates a memfd of `bytes` bytes for a shared ring (MFD_CLOEXEC | MFD_ALLOW_SEALING), zero
/// filled. Returns the descriptor, or -1 with errno set.
int ctern_ring_memfd_create(const char *name, size_t bytes);

/// Moves the private mapping of `bytes` bytes at `address` (a ring) into a new memfd, in place: the
/// memfd gets a copy of the bytes and is then mapped shared and writable at the same address,
/// replacing the old pages. The caller must keep writers out meanwhile; readers may go on. Returns
/// the descriptor (not yet sealed), or -1 with errno set and the old mapping untouched.
int ctern_ring_move_into_memfd(void *address, size_t bytes, const char *name);

/// Seals a ring memfd once the daemon has mapped it writable: F_SEAL_GROW | F_SEAL_SHRINK |
/// F_SEAL_FUTURE_WRITE | F_SEAL_SEAL. No later mapping or write through any descriptor of it can
/// write (readers get a read-only view whatever they try); the daemon's own mapping stays
/// writable. Returns 0, or -1 with errno set.
int ctern_ring_memfd_seal(int fd);

/// FUTEX_WAKE (shared, not private: readers are other processes) of every waiter on the 32-bit
/// word at `address`. Returns the number woken, or -1.
long ctern_futex_wake_all(void *address);

/// FUTEX_WAIT on the shared word at `address` while it holds `expected`, for at most
/// `timeout_ns` (< 0: no limit). Returns 0 when woken, -1 with errno EAGAIN (the word changed
/// first), ETIMEDOUT or EINTR.
int ctern_futex_wait(const void *address, uint32_t expected, int64_t timeout_ns);

/// Sends `len` bytes with `descriptor` attached (SCM_RIGHTS), nonblocking, without SIGPIPE.
/// Returns the bytes sent or -1 with errno set; the descriptor travels with the first byte.
long ctern_send_with_descriptor(int socket, const void *bytes, size_t len, int descriptor);

/// recvmsg of up to `len` bytes, taking descriptors passed with them (MSG_CMSG_CLOEXEC). At most
/// `max_descriptors` land in `descriptors` (further ones are closed); `*descriptor_count` says
/// how many. Returns the bytes read, 0 at end of stream, -1 with errno set.
long ctern_recv_with_descriptors(int socket, void *buffer, size_t len, int *descriptors, int max_descriptors,
                                 int *descriptor_count);

// Atomic access to shared words: the control block of a ring shared with other processes lives
// in memory Swift's `Atomic` cannot place, so its words go through these (compiled C, so the
// Thread Sanitizer sees them as atomics).
uint64_t ctern_load_acquire_u64(const void *address);
uint64_t ctern_load_relaxed_u64(const void *address);
void ctern_store_release_u64(void *address, uint64_t value);
void ctern_store_relaxed_u64(void *address, uint64_t value);
uint32_t ctern_load_acquire_u32(const void *address);
void ctern_store_release_u32(void *address, uint32_t value);
/// Sequentially consistent increment: ordered after the tail stores before it and before the
/// FUTEX_WAKE after it. Returns the new value.
uint32_t ctern_increment_u32(void *address);

#endif
