// shm-probe: shared-memory fan-out and latency against a running ternd, written from protocol.md
// alone (sections 2, 4.16-4.19): a C reader of the mapped ring, to measure it and to show that
// the document suffices. Not part of the product; see Benchmarks/shm/README.md.
//
//   cc -O2 -pthread -o shm-probe shm-probe.c
//   shm-probe fanout  UNIX_SOCKET STREAM READERS MESSAGES [shm|socket]
//   shm-probe latency UNIX_SOCKET STREAM MESSAGES RATE_PER_S [spin|park]
//
// fanout: READERS threads subscribe (SUBSCRIBE_SHARED, or SUBSCRIBE over the socket), one publisher
// sends MESSAGES 64-byte payloads over the same Unix socket path, acknowledged every 4096; prints
// delivered messages per second over all readers and the losses they counted.
// latency: one reader; the publisher stamps CLOCK_MONOTONIC nanoseconds into each payload at
// RATE_PER_S; prints one-way p50/p99/p99.9 in microseconds.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *socket_path, *stream_name;
static uint64_t message_count;
static int use_shm = 1, spin = 0;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
static void die(const char *what) { perror(what); exit(1); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }

static int connect_unix(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, socket_path, sizeof(a.sun_path) - 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) die("connect");
    return fd;
}
static void send_all(int fd, const void *b, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) die("send");
        b = (const char *)b + w;
        n -= (size_t)w;
    }
}
/// A frame: 8-byte header (length, type, flags, reserved), then the body.
static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, const uint8_t *body, uint32_t len) {
    put32(out, len);
    out[4] = type; out[5] = flags; out[6] = out[7] = 0;
    memcpy(out + 8, body, len);
    return 8 + len;
}

/// A connection's input: frames read with recvmsg, descriptors kept in arrival order.
struct input { int fd; uint8_t buf[1 << 18]; size_t have; int fds[8]; int nfds; };
/// Reads until one whole frame is buffered; returns its type, body in *body (len *len).
static int next_frame(struct input *in, const uint8_t **body, uint32_t *len) {
    for (;;) {
        if (in->have >= 8) {
            uint32_t l = be32(in->buf);
            if (in->have >= 8 + l) { *body = in->buf + 8; *len = l; return in->buf[4]; }
        }
        char control[CMSG_SPACE(sizeof(int) * 4)];
        struct iovec v = {in->buf + in->have, sizeof(in->buf) - in->have};
        struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
        ssize_t r = recvmsg(in->fd, &m, MSG_CMSG_CLOEXEC);
        if (r <= 0) die("recvmsg");
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
                    memcpy(&in->fds[in->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        in->have += (size_t)r;
    }
}
static void consume(struct input *in) {
    size_t used = 8 + be32(in->buf);
    memmove(in->buf, in->buf + used, in->have - used);
    in->have -= used;
}
static void hello(struct input *in, const char *name) {
    uint8_t body[128], out[160];
    size_t n = strlen(name);
    put16(body, 1); put16(body + 2, 3); put16(body + 4, (uint16_t)n);
    memcpy(body + 6, name, n); put16(body + 6 + n, 0);
    send_all(in->fd, out, frame(out, 0x01, 0, body, (uint32_t)(8 + n)));
    const uint8_t *b; uint32_t l;
    if (next_frame(in, &b, &l) != 0x81) { fprintf(stderr, "no WELCOME\n"); exit(1); }
    if (use_shm && (b[0] << 8 | b[1]) < 3) { fprintf(stderr, "server chose version %d\n", b[0] << 8 | b[1]); exit(1); }
    consume(in);
}
/// SUBSCRIBE (flags 1: attach only) or SUBSCRIBE_SHARED; returns the stream id and next sequence.
static uint32_t subscribe(struct input *in, uint8_t type, uint8_t flags, uint64_t *next) {
    uint8_t body[512], out[600];
    size_t n = strlen(stream_name);
    put32(body, 1); put16(body + 4, (uint16_t)n); memcpy(body + 6, stream_name, n);
    send_all(in->fd, out, frame(out, type, flags, body, (uint32_t)(6 + n)));
    const uint8_t *b; uint32_t l;
    int t = next_frame(in, &b, &l);
    if (t != 0x82) { fprintf(stderr, "subscribe refused (type 0x%x, code %d)\n", t, t == 0x88 ? b[4] << 8 | b[5] : 0); exit(1); }
    uint32_t id = be32(b + 4);
    *next = be64(b + 16);
    consume(in);
    return id;
}

// ---- the mapped ring (protocol.md 4.19) ----------------------------------------------------
struct ring { const uint8_t *map, *frames; uint64_t capacity, cursor, expected, received, lost; };
#define WORD64(r, off) __atomic_load_n((const uint64_t *)((r)->map + (off)), __ATOMIC_ACQUIRE)
static void ring_copy(const struct ring *r, uint8_t *dst, uint64_t pos, size_t n) {
    size_t off = pos & (r->capacity - 1), first = r->capacity - off < n ? r->capacity - off : n;
    memcpy(dst, r->frames + off, first);
    memcpy(dst + first, r->frames, n - first);
}
/// Reads what is new; calls on_frame for each MESSAGE. Returns the frames read.
static size_t ring_read(struct ring *r, uint8_t *buf, size_t size, void (*on_frame)(struct ring *, const uint8_t *)) {
    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t tail = WORD64(r, 72), cursor = r->cursor;
        if (tail == cursor) return 0;
        if (tail - cursor > r->capacity || cursor > tail) { r->cursor = WORD64(r, 80); continue; }
        size_t n = tail - cursor < size ? (size_t)(tail - cursor) : size;
        ring_copy(r, buf, cursor, n);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n((const uint64_t *)(r->map + 64), __ATOMIC_RELAXED) - cursor > r->capacity) {
            r->cursor = WORD64(r, 80);
            continue;
        }
        size_t off = 0, frames = 0;
        while (n - off >= 8 && off + 8 + be32(buf + off) <= n) {
            uint64_t seq = be64(buf + off + 12);
            if (seq > r->expected) r->lost += seq - r->expected;
            r->expected = seq + 1;
            r->received++;
            if (on_frame) on_frame(r, buf + off);
            off += 8 + be32(buf + off);
            frames++;
        }
        r->cursor = cursor + off;
        return frames;
    }
    r->cursor = WORD64(r, 72);
    return 0;
}
static void ring_wait(const struct ring *r, uint32_t seen) {
    struct timespec limit = {0, 100 * 1000 * 1000};
    syscall(SYS_futex, r->map + 88, FUTEX_WAIT, seen, &limit, NULL, 0);
}
static void map_ring(struct input *in, struct ring *r, uint64_t next) {
    const uint8_t *b; uint32_t l;
    if (next_frame(in, &b, &l) != 0x8e || in->nfds < 1) { fprintf(stderr, "no RING_MAPPED\n"); exit(1); }
    uint64_t header = be32(b + 8), capacity = be64(b + 12), start = be64(b + 20);
    consume(in);
    void *m = mmap(NULL, header + capacity, PROT_READ, MAP_SHARED, in->fds[0], 0);
    if (m == MAP_FAILED) die("mmap");
    close(in->fds[0]);
    if (memcmp(m, "TERNRING", 8) != 0) { fprintf(stderr, "not a Tern ring\n"); exit(1); }
    *r = (struct ring){.map = m, .frames = (const uint8_t *)m + header, .capacity = capacity, .cursor = start, .expected = next};
}

// ---- fan-out ---------------------------------------------------------------------------------
static pthread_barrier_t ready;
static uint64_t first_sequence;
struct reader { pthread_t thread; uint64_t received, lost, done_ns; };

static void *fanout_reader(void *arg) {
    struct reader *me = arg;
    struct input *in = calloc(1, sizeof(*in));
    uint8_t *buf = malloc(1 << 18);
    in->fd = connect_unix();
    hello(in, "shm-probe-reader");
    uint64_t next;
    subscribe(in, use_shm ? 0x0a : 0x02, 0, &next);
    struct ring r;
    if (use_shm) map_ring(in, &r, next);
    __atomic_store_n(&first_sequence, next, __ATOMIC_RELAXED);
    pthread_barrier_wait(&ready);
    uint64_t last = next + message_count - 1;
    if (use_shm) {
        int idle = 0;
        while (r.expected <= last) {
            uint32_t seen = __atomic_load_n((const uint32_t *)(r.map + 88), __ATOMIC_ACQUIRE);
            if (ring_read(&r, buf, 1 << 18, NULL)) { idle = 0; continue; }
            if (spin || ++idle < 64) continue;
            ring_wait(&r, seen);
        }
        me->received = r.received; me->lost = r.lost;
    } else {
        uint64_t expected = next;
        while (expected <= last) {
            const uint8_t *b; uint32_t l;
            int t = next_frame(in, &b, &l);
            if (t == 0x85) { uint64_t s = be64(b + 4); me->lost += s - expected; expected = s + 1; me->received++; }
            else if (t == 0x86) { /* DROPPED: the gap shows in the next sequence */ }
            consume(in);
        }
    }
    me->done_ns = now_ns();
    return NULL;
}

/// Publishes MESSAGES payloads of `payload` over the Unix socket; every `window`-th is ACKed and
/// waited for, so the daemon's input never runs away. Latency mode stamps the time.
static void publish(uint64_t count, uint64_t rate, int stamp) {
    struct input *in = calloc(1, sizeof(*in));
    in->fd = connect_unix();
    hello(in, "shm-probe-publisher");
    uint64_t next;
    uint32_t id = subscribe(in, 0x02, 1, &next);
    static uint8_t out[1 << 20];
    size_t used = 0;
    const uint64_t window = stamp ? 1 : 4096;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        uint8_t body[96];
        put32(body, 1); put32(body + 4, id);
        int n = stamp ? snprintf((char *)body + 8, 80, "{\"t\":%llu,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                                 (unsigned long long)now_ns())
                      : snprintf((char *)body + 8, 80, "{\"p\":\"%056llu\"}", (unsigned long long)i);
        int ack = (i + 1) % window == 0 || i + 1 == count;
        used += frame(out + used, 0x04, ack ? 1 : 0, body, (uint32_t)(8 + n));
        if (ack || used > sizeof(out) - 256) { send_all(in->fd, out, used); used = 0; }
        if (ack) {
            const uint8_t *b; uint32_t l;
            for (;;) { int t = next_frame(in, &b, &l); consume(in); if (t == 0x84) break; if (t == 0x88) { fprintf(stderr, "publish refused\n"); exit(1); } }
        }
        if (rate) { uint64_t due = start + (i + 1) * 1000000000ull / rate; while (now_ns() < due) {} }
    }
}

static uint64_t samples[1 << 20];
static uint64_t sample_count;
static void on_stamped(struct ring *r, const uint8_t *f) {
    (void)r;
    uint64_t now = now_ns(), sent = strtoull((const char *)f + 20 + 5, NULL, 10);
    if (sample_count < sizeof(samples) / sizeof(samples[0])) samples[sample_count++] = now - sent;
}
static int compare(const void *a, const void *b) { uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b; return x < y ? -1 : x > y; }

static void *latency_reader(void *arg) {
    (void)arg;
    struct input *in = calloc(1, sizeof(*in));
    uint8_t *buf = malloc(1 << 18);
    in->fd = connect_unix();
    hello(in, "shm-probe-latency");
    uint64_t next;
    subscribe(in, 0x0a, 0, &next);
    struct ring r;
    map_ring(in, &r, next);
    pthread_barrier_wait(&ready);
    while (r.expected < next + message_count) {
        uint32_t seen = __atomic_load_n((const uint32_t *)(r.map + 88), __ATOMIC_ACQUIRE);
        if (ring_read(&r, buf, 1 << 18, on_stamped) || spin) continue;
        ring_wait(&r, seen);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: see the comment at the top of shm-probe.c\n"); return 2; }
    socket_path = argv[2]; stream_name = argv[3];
    if (strcmp(argv[1], "fanout") == 0) {
        int readers = atoi(argv[4]);
        message_count = strtoull(argv[5], NULL, 10);
        use_shm = argc < 7 || strcmp(argv[6], "socket") != 0;
        struct reader *all = calloc((size_t)readers, sizeof(*all));
        pthread_barrier_init(&ready, NULL, (unsigned)readers + 1);
        for (int i = 0; i < readers; i++) pthread_create(&all[i].thread, NULL, fanout_reader, &all[i]);
        pthread_barrier_wait(&ready);
        uint64_t start = now_ns();
        publish(message_count, 0, 0);
        uint64_t received = 0, lost = 0, end = start;
        for (int i = 0; i < readers; i++) {
            pthread_join(all[i].thread, NULL);
            received += all[i].received; lost += all[i].lost;
            if (all[i].done_ns > end) end = all[i].done_ns;
        }
        double seconds = (end - start) / 1e9;
        printf("%s fan-out: %d readers x %llu msgs of 64 B in %.3f s: %.1f M msgs/s delivered, %llu lost\n",
               use_shm ? "shm" : "socket", readers, (unsigned long long)message_count, seconds,
               received / seconds / 1e6, (unsigned long long)lost);
    } else {
        message_count = strtoull(argv[4], NULL, 10);
        uint64_t rate = strtoull(argv[5], NULL, 10);
        spin = argc < 7 || strcmp(argv[6], "park") != 0;
        pthread_barrier_init(&ready, NULL, 2);
        pthread_t t;
        pthread_create(&t, NULL, latency_reader, NULL);
        pthread_barrier_wait(&ready);
        publish(message_count, rate, 1);
        pthread_join(t, NULL);
        qsort(samples, sample_count, sizeof(samples[0]), compare);
        printf("shm latency (%s reader), %llu msgs at %llu/s: p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n",
               spin ? "spinning" : "parked", (unsigned long long)sample_count, (unsigned long long)rate,
               samples[sample_count / 2] / 1e3, samples[sample_count * 99 / 100] / 1e3,
               samples[sample_count * 999 / 1000] / 1e3);
    }
    return 0;
}
