#define _GNU_SOURCE 1
#include <pthread.h>
#include <sched.h>
#include "CLoadShims.h"

int cload_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}
