// The one threading primitive the CPU kernel needs, defined once (csrc/cpu/thread_pool.cpp) so that the copies
// of the kernel compiled for different instruction sets share a single pool.
#pragma once

#include <cstdint>

namespace medadapt_decoding {

// Calls fn(ctx, i) for every i in [0, n) on up to `threads` threads (the caller included); items are handed out
// dynamically, so a descheduled thread on a busy machine does not hold the others up. threads <= 0: all CPUs
// this process may run on. Safe after fork() (the child builds a fresh pool) and from several Python threads
// (a call that finds the pool busy runs on its own thread).
void parallel_for(int64_t n, int threads, void (*fn)(void* ctx, int64_t i), void* ctx);

// CPUs this process may run on (sched_getaffinity where available).
int available_cpus();

}  // namespace medadapt_decoding
