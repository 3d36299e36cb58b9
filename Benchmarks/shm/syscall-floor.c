// syscall-floor: what the calls on a message's way into ternd cost on this machine, with no Tern
// in them: a publisher's 100-byte write to a Unix stream socket, a spinning reactor's
// epoll_wait(timeout 0) that finds it, and its read. Their sum is the floor under any one-way
// latency whose publisher writes to a socket, however fast the broker and its readers are.
// See Benchmarks/shm/README.md.
//
//   cc -O2 -pthread -o syscall-floor syscall-floor.c && ./syscall-floor
//
// 1. One core (CPU 1): each call timed, 200,000 rounds.
// 2. Across cores, as ternd and a publisher sit: a thread on CPU 0 spins on epoll_wait(0) and
//    reads; the publisher on CPU 1 stamps CLOCK_MONOTONIC into a message, writes it, and spins
//    until the reader reports the time it read it: one-way p50 / p99 over 3,000 messages paced
//    1 ms apart, as the benchmarks' latency row.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { rounds = 200000, messages = 3000 };

static double nanoseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1e9 + now.tv_nsec;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int error = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (error != 0) {
        fprintf(stderr, "cannot pin a thread to CPU %d (error %d): the placement would be wrong\n", cpu, error);
        exit(1);
    }
}

static int watched(int fd) {
    int epoll = epoll_create1(0);
    struct epoll_event interest = {.events = EPOLLIN, .data.u64 = 1};
    if (epoll < 0 || epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &interest) != 0) { perror("epoll"); exit(1); }
    return epoll;
}

static int cross[2];
static _Atomic double latency;

static void *spinning_reader(void *unused) {
    (void)unused;
    pin(0);
    int epoll = watched(cross[1]);
    char buffer[4096];
    for (int got = 0; got < messages;) {
        struct epoll_event ready[4];
        if (epoll_wait(epoll, ready, 4, 0) <= 0) continue;
        if (read(cross[1], buffer, sizeof buffer) <= 0) continue;
        double stamp;
        memcpy(&stamp, buffer, sizeof stamp);
        atomic_store(&latency, nanoseconds() - stamp);
        got++;
    }
    return NULL;
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    pin(1);
    double start = nanoseconds();
    for (int i = 0; i < rounds; i++) syscall(SYS_getppid);
    printf("one core:    getppid (an empty syscall)  %6.0f ns\n", (nanoseconds() - start) / rounds);

    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) { perror("socketpair"); return 1; }
    int epoll = watched(pair[1]);
    char message[100] = {0}, buffer[4096];
    double writing = 0, polling = 0, reading = 0;
    for (int i = 0; i < rounds; i++) {
        struct epoll_event ready[8];
        double a = nanoseconds();
        if (write(pair[0], message, sizeof message) != sizeof message) { perror("write"); return 1; }
        double b = nanoseconds();
        if (epoll_wait(epoll, ready, 8, 0) != 1) { fprintf(stderr, "epoll_wait found nothing\n"); return 1; }
        double c = nanoseconds();
        if (read(pair[1], buffer, sizeof buffer) != sizeof message) { perror("read"); return 1; }
        reading += nanoseconds() - c;
        polling += c - b;
        writing += b - a;
    }
    printf("one core:    write 100 B (Unix socket)   %6.0f ns\n", writing / rounds);
    printf("one core:    epoll_wait(0) finding it    %6.0f ns\n", polling / rounds);
    printf("one core:    read                        %6.0f ns\n", reading / rounds);
    printf("one core:    together                    %6.0f ns\n", (writing + polling + reading) / rounds);

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, cross) != 0) { perror("socketpair"); return 1; }
    pthread_t reader;
    pthread_create(&reader, NULL, spinning_reader, NULL);
    usleep(100000);
    static double one_way[messages];
    for (int i = 0; i < messages; i++) {
        atomic_store(&latency, 0);
        double stamp = nanoseconds();
        memcpy(message, &stamp, sizeof stamp);
        if (write(cross[0], message, sizeof message) != sizeof message) { perror("write"); return 1; }
        double seen;
        while ((seen = atomic_load(&latency)) == 0) {}
        one_way[i] = seen;
        double next = stamp + 1e6;
        while (nanoseconds() < next) {}
    }
    pthread_join(reader, NULL);
    qsort(one_way, messages, sizeof one_way[0], ascending);
    printf("two cores:   write -> epoll_wait(0) -> read, one way: p50 %.1f us, p99 %.1f us\n",
           one_way[messages / 2] / 1e3, one_way[messages * 99 / 100] / 1e3);
    return 0;
}
