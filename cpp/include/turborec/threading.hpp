#pragma once
// Thread-count resolution and a parallel loop that carries worker exceptions back to the caller.
#include <cstdint>
#include <exception>
#include <mutex>

#ifdef TURBOREC_HAS_OPENMP
#include <omp.h>
#endif

namespace turborec {

constexpr bool kHasOpenMP =
#ifdef TURBOREC_HAS_OPENMP
    true;
#else
    false;
#endif

// Cores this process may run on: CPU affinity, capped by a cgroup CPU quota.
int available_cpus();
// Threads for n_threads = 0: OMP_NUM_THREADS when set, else available_cpus(); 1 without OpenMP.
// The Python layer's turborec.effective_threads uses the same function.
int default_thread_count();
// n_threads <= 0 means the default; without OpenMP everything runs on one thread.
int resolve_threads(int n_threads);

inline int thread_index() {
#ifdef TURBOREC_HAS_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Remembers the first exception thrown by any worker so it can be rethrown after the join
// (an exception escaping an OpenMP region terminates the process).
class ExceptionCollector {
 public:
  template <class F>
  void run(F&& f) noexcept {
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
};

// Runs body(thread_index, begin, end) over [0, n) in chunks of `chunk`, dynamically scheduled over
// n_threads threads; a single chunk runs inline. thread_index < resolve_threads(n_threads), so callers
// keep per-thread scratch in a vector of that size and fill it lazily inside the body (first touch
// by the thread that uses it).
template <class Body>
void parallel_chunks(int64_t n, int64_t chunk, int n_threads, Body&& body) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  const int64_t n_chunks = (n + chunk - 1) / chunk;
  int threads = resolve_threads(n_threads);
  if (threads > n_chunks) threads = static_cast<int>(n_chunks);
  ExceptionCollector errors;
  if (threads <= 1) {
    errors.run([&] {
      for (int64_t c = 0; c < n_chunks; ++c) {
        const int64_t b = c * chunk;
        body(0, b, b + chunk < n ? b + chunk : n);
      }
    });
  } else {
#ifdef TURBOREC_HAS_OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t c = 0; c < n_chunks; ++c) {
      const int64_t b = c * chunk;
      errors.run([&] { body(omp_get_thread_num(), b, b + chunk < n ? b + chunk : n); });
    }
#endif
  }
  errors.rethrow();
}

}  // namespace turborec
