// The one threading primitive the CPU kernel needs, defined once (csrc/cpu/thread_pool.cpp) so that the copies
// of the kernel compiled for different instruction sets share a single pool.
#pragma once

#include <cstdint>
#include <string>

namespace medadapt_decoding {

// Calls fn(ctx, i) for every i in [0, n) on up to `threads` threads (the caller included); items are handed out
// dynamically, so a descheduled thread on a busy machine does not hold the others up. threads <= 0:
// default_threads(). Safe after fork() (the child builds a fresh pool) and from several Python threads
// (a call that finds the pool busy runs on its own thread).
void parallel_for(int64_t n, int threads, void (*fn)(void* ctx, int64_t i), void* ctx);

// Where parallel_for's threads come from. automatic: the team of an OpenMP runtime already loaded in the process
// (torch's libgomp: its workers are spinning on the other cores after each torch call, so a second pool would
// fight them), else our own pool; own: always our own pool.
enum class PoolChoice : int { automatic = 0, own = 1 };
void set_pool_choice(PoolChoice choice);
// "own", or "openmp:<path of the runtime>" when calls run on a borrowed OpenMP team.
std::string pool_in_use();

// Threads a call uses by default: the borrowed OpenMP runtime's own count (torch.set_num_threads,
// OMP_NUM_THREADS) when calls run on its team, else every CPU this process may run on.
int default_threads();

// CPUs this process may run on (sched_getaffinity where available).
int available_cpus();

}  // namespace medadapt_decoding
