// How parallel_for gets its threads. When an OpenMP runtime is already loaded in the process (torch's libgomp,
// or Intel's libiomp5 through its GOMP entry points) the kernel runs on that runtime's team: after every torch
// call its workers busy-wait on the other cores, and a second pool of ours would only fight them for those
// cores (measured: 6.4x instead of 10.9x over torch at B=256, V=152064, BENCHMARKS.md). Without one, a small
// persistent pool of ours: workers sleep on a condition variable between calls, and a fork()ed child starts a
// fresh pool instead of waiting for threads that do not exist in it (the failure mode of libgomp after fork,
// which is also why the borrowed runtime is never used in a child).
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "medadapt_decoding/parallel.hpp"

namespace medadapt_decoding {
namespace {

class Pool {
 public:
  explicit Pool(int workers) {
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { work(w); });
  }

  int workers() const { return static_cast<int>(threads_.size()); }

  // Runs a job on the caller plus `helpers` workers; returns when every item is done.
  void run(int64_t n, int helpers, void (*fn)(void*, int64_t), void* ctx) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = fn;
      ctx_ = ctx;
      n_ = n;
      next_.store(0, std::memory_order_relaxed);
      helpers_ = helpers;
      pending_ = helpers;
      ++generation_;
    }
    wake_.notify_all();
    drain();
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

  std::mutex busy;  // one job at a time; a second caller runs serially instead of waiting

 private:
  void drain() {
    for (int64_t i = next_.fetch_add(1, std::memory_order_relaxed); i < n_;
         i = next_.fetch_add(1, std::memory_order_relaxed))
      fn_(ctx_, i);
  }

  void work(int index) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (index >= helpers_) continue;
      }
      drain();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  void (*fn_)(void*, int64_t) = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  int helpers_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
};

// Pools are never destroyed: workers block forever, and joining them at interpreter exit would race Python's
// own teardown. A forked child forgets the parent's pool (its threads were not copied) and makes a new one.
std::mutex g_pool_mu;
Pool* g_pool = nullptr;
std::once_flag g_atfork_once;

void forget_pool_in_child() {
  new (&g_pool_mu) std::mutex();  // the parent's lock state is meaningless here
  g_pool = nullptr;
}

Pool* pool_with(int workers) {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, forget_pool_in_child); });
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (g_pool == nullptr || g_pool->workers() < workers) {
    // growing leaks the smaller pool's sleeping threads; it happens at most a few times per process
    g_pool = new Pool(workers);
  }
  return g_pool;
}

// --- a loaded OpenMP runtime, found by name among the process's shared objects -------------------------------
using GompParallel = void (*)(void (*)(void*), void*, unsigned, unsigned);
using OmpMaxThreads = int (*)();

struct OpenMP {
  GompParallel parallel = nullptr;
  OmpMaxThreads max_threads = nullptr;  // honours torch.set_num_threads / OMP_NUM_THREADS
  std::string path;
  pid_t owner = 0;                      // the process that found it; a forked child must not use it
  unsigned long long searched_at = ~0ull;  // the loader's object count when we last looked
};

std::mutex g_openmp_mu;
OpenMP g_openmp;
std::atomic<int> g_pool_choice{static_cast<int>(PoolChoice::automatic)};

int loaded_count(dl_phdr_info* info, size_t, void* out) {
  *static_cast<unsigned long long*>(out) = info->dlpi_adds;
  return 1;  // the counter is the same in every entry: stop at the first
}

int find_openmp_object(dl_phdr_info* info, size_t, void* out) {
  const char* name = info->dlpi_name;
  if (name == nullptr || *name == '\0') return 0;
  const char* base = std::strrchr(name, '/');
  base = base ? base + 1 : name;
  if (std::strncmp(base, "libgomp", 7) != 0 && std::strncmp(base, "libiomp", 7) != 0) return 0;
  *static_cast<std::string*>(out) = name;
  return 1;
}

// GOMP_parallel of an OpenMP runtime this process has already loaded, or nullptr. Cheap when nothing new was
// loaded since the last look (one walk step to read the loader's counter).
GompParallel loaded_openmp() {
  std::lock_guard<std::mutex> lock(g_openmp_mu);
  if (g_openmp.parallel != nullptr) return g_openmp.owner == getpid() ? g_openmp.parallel : nullptr;
  unsigned long long adds = 0;
  dl_iterate_phdr(loaded_count, &adds);
  if (adds == g_openmp.searched_at) return nullptr;
  g_openmp.searched_at = adds;
  std::string path;
  if (dl_iterate_phdr(find_openmp_object, &path) == 0) return nullptr;
  // RTLD_NOLOAD: only a handle on what is already there; never loads a runtime of our own
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return nullptr;
  auto fn = reinterpret_cast<GompParallel>(dlsym(handle, "GOMP_parallel"));
  if (fn == nullptr) return nullptr;  // the handle stays open: the runtime is loaded for the process's life anyway
  g_openmp.parallel = fn;
  g_openmp.max_threads = reinterpret_cast<OmpMaxThreads>(dlsym(handle, "omp_get_max_threads"));
  g_openmp.path = path;
  g_openmp.owner = getpid();
  return fn;
}

struct TeamJob {
  int64_t n;
  void (*fn)(void*, int64_t);
  void* ctx;
  std::atomic<int64_t> next{0};
};

// Body of every member of the OpenMP team: items are claimed one at a time, so a late member costs nothing.
void team_member(void* data) {
  auto* job = static_cast<TeamJob*>(data);
  for (int64_t i = job->next.fetch_add(1, std::memory_order_relaxed); i < job->n;
       i = job->next.fetch_add(1, std::memory_order_relaxed))
    job->fn(job->ctx, i);
}

std::mutex g_team_busy;  // one borrowed team at a time; a concurrent caller runs on its own thread

// The OpenMP runtime calls run on, or nullptr when they run on our own pool (by choice, or none is loaded).
// Its fields never change once set, so they may be read without the lock.
const OpenMP* borrowed_runtime() {
  if (static_cast<PoolChoice>(g_pool_choice.load(std::memory_order_relaxed)) == PoolChoice::own) return nullptr;
  return loaded_openmp() != nullptr ? &g_openmp : nullptr;
}

void run_here(int64_t n, void (*fn)(void*, int64_t), void* ctx) {
  for (int64_t i = 0; i < n; ++i) fn(ctx, i);
}

}  // namespace

void set_pool_choice(PoolChoice choice) { g_pool_choice.store(static_cast<int>(choice)); }

std::string pool_in_use() {
  const OpenMP* runtime = borrowed_runtime();
  return runtime != nullptr ? "openmp:" + runtime->path : "own";
}

int default_threads() {
  const OpenMP* runtime = borrowed_runtime();
  if (runtime != nullptr && runtime->max_threads != nullptr) {
    const int n = runtime->max_threads();
    if (n > 0) return n;
  }
  return available_cpus();
}

int available_cpus() {
#ifdef CPU_COUNT
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
#endif
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

void parallel_for(int64_t n, int threads, void (*fn)(void* ctx, int64_t i), void* ctx) {
  if (threads <= 0) threads = default_threads();
  if (threads > n) threads = static_cast<int>(n);
  if (threads <= 1) return run_here(n, fn, ctx);
  if (const OpenMP* runtime = borrowed_runtime()) {
    std::unique_lock<std::mutex> busy(g_team_busy, std::try_to_lock);
    if (!busy.owns_lock()) return run_here(n, fn, ctx);
    TeamJob job{n, fn, ctx};
    runtime->parallel(&team_member, &job, static_cast<unsigned>(threads), 0);
    return;
  }
  Pool* pool = pool_with(threads - 1);
  std::unique_lock<std::mutex> busy(pool->busy, std::try_to_lock);
  // another thread is using the pool: do this job alone rather than queue
  if (!busy.owns_lock()) return run_here(n, fn, ctx);
  pool->run(n, threads - 1, fn, ctx);
}

}  // namespace medadapt_decoding
