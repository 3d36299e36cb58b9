// The load generator's one C shim: epoll, which Swift's Glibc module does not export.
// (The server's CTernShims is the main package's own and not a product.)
#ifndef C_LOAD_SHIMS_H
#define C_LOAD_SHIMS_H

#include <sys/epoll.h>

#endif
