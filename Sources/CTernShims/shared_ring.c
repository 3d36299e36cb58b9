#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "CTernShims.h"

// Shared-memory rings: the memfd, its seals, futex wake-ups and descriptor passing.

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

int ctern_ring_memfd_create(const char *name, size_t bytes) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)bytes) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int ctern_ring_move_into_memfd(void *address, size_t bytes, const char *name) {
    int fd = ctern_ring_memfd_create(name, bytes);
    if (fd < 0) return -1;
    // The memfd gets the ring's bytes first, so the mapping that replaces the old one holds the
    // same bytes: a reader on another thread sees the old page or the new, never a hole (MAP_FIXED
    // swaps the range under the kernel's mmap lock; a fault during the swap waits for it).
    const unsigned char *source = address;
    size_t written = 0;
    while (written < bytes) {
        ssize_t n = pwrite(fd, source + written, bytes - written, (off_t)written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        written += (size_t)n;
    }
    void *moved = mmap(address, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    // Replacing a whole mapping by one of the same size needs no new memory map entry, so this
    // fails only if the kernel is broken; the old range may already be gone then.
    if (moved != address) abort();
    return fd;
}

int ctern_ring_memfd_seal(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
}

long ctern_futex_wake_all(void *address) {
    return syscall(SYS_futex, address, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

int ctern_futex_wait(const void *address, uint32_t expected, int64_t timeout_ns) {
    struct timespec timeout;
    struct timespec *limit = NULL;
    if (timeout_ns >= 0) {
        timeout.tv_sec = (time_t)(timeout_ns / 1000000000);
        timeout.tv_nsec = (long)(timeout_ns % 1000000000);
        limit = &timeout;
    }
    return (int)syscall(SYS_futex, address, FUTEX_WAIT, expected, limit, NULL, 0);
}

long ctern_send_with_descriptor(int socket, const void *bytes, size_t len, int descriptor) {
    struct iovec vector = {.iov_base = (void *)bytes, .iov_len = len};
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr message = {0};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.buffer;
    message.msg_controllen = sizeof(control.buffer);
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &descriptor, sizeof(int));
    return sendmsg(socket, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
}

long ctern_recv_with_descriptors(int socket, void *buffer, size_t len, int *descriptors, int max_descriptors,
                                 int *descriptor_count) {
    struct iovec vector = {.iov_base = buffer, .iov_len = len};
    union {
        char buffer[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr align;
    } control;
    struct msghdr message = {0};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.buffer;
    message.msg_controllen = sizeof(control.buffer);
    *descriptor_count = 0;
    ssize_t count = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    if (count < 0) return -1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
            if (*descriptor_count < max_descriptors) {
                descriptors[(*descriptor_count)++] = fd;
            } else {
                close(fd);
            }
        }
    }
    return (long)count;
}

uint64_t ctern_load_acquire_u64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_ACQUIRE);
}
uint64_t ctern_load_relaxed_u64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_RELAXED);
}
void ctern_store_release_u64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELEASE);
}
void ctern_store_relaxed_u64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELAXED);
}
uint32_t ctern_load_acquire_u32(const void *address) {
    return __atomic_load_n((const uint32_t *)address, __ATOMIC_ACQUIRE);
}
void ctern_store_release_u32(void *address, uint32_t value) {
    __atomic_store_n((uint32_t *)address, value, __ATOMIC_RELEASE);
}
uint32_t ctern_increment_u32(void *address) {
    return __atomic_add_fetch((uint32_t *)address, 1, __ATOMIC_SEQ_CST);
}
