// The load generator's C shims: epoll, which Swift's Glibc module does not export, and pinning
// one thread to a CPU (the CPU_SET macros do not reach Swift).
// (The server's CTernShims is the main package's own and not a product.)
#ifndef C_LOAD_SHIMS_H
#define C_LOAD_SHIMS_H

#include <sys/epoll.h>

/// Pins the calling thread to `cpu`; 0, or an errno value.
int cload_pin_current_thread(int cpu);

#endif
