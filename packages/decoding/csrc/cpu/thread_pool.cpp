// A small persistent pool for parallel_for: workers sleep on a condition variable between calls (no spinning
// that would steal the CPU from torch's own threads), and a fork()ed child starts a fresh pool instead of
// waiting for threads that do not exist in it (the failure mode of libgomp after fork).
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>
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

}  // namespace

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
  if (threads <= 0) threads = available_cpus();
  if (threads > n) threads = static_cast<int>(n);
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  Pool* pool = pool_with(threads - 1);
  std::unique_lock<std::mutex> busy(pool->busy, std::try_to_lock);
  if (!busy.owns_lock()) {  // another thread is using the pool: do this job alone rather than queue
    for (int64_t i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  pool->run(n, threads - 1, fn, ctx);
}

}  // namespace medadapt_decoding
