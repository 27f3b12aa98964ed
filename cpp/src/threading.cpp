// The one thread policy (the Python layer calls these too): n_threads = 0 means OMP_NUM_THREADS when
// set, else every core this process may run on (CPU affinity, capped by a cgroup CPU quota).
#include "turborec/threading.hpp"

#include <cstdlib>
#include <fstream>
#include <string>

#ifdef __linux__
#include <sched.h>
#endif

namespace turborec {

namespace {

// CPU quota of this process's cgroup in cores (v2 cpu.max, else v1 CFS files); <= 0 if unlimited.
double cgroup_cpu_limit() {
  {
    std::ifstream f("/sys/fs/cgroup/cpu.max");
    std::string quota;
    long long period = 0;
    if (f >> quota >> period) {
      if (quota == "max" || period <= 0) return 0.0;
      try {
        return static_cast<double>(std::stoll(quota)) / static_cast<double>(period);
      } catch (...) {
        return 0.0;
      }
    }
  }
  std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  long long quota = 0, period = 0;
  if (q >> quota && p >> period && quota > 0 && period > 0) return static_cast<double>(quota) / period;
  return 0.0;
}

int compute_available_cpus() {
  int n = 0;
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
#endif
#ifdef TURBOREC_HAS_OPENMP
  if (n <= 0) n = omp_get_num_procs();
#endif
  if (n <= 0) n = 1;
  const double limit = cgroup_cpu_limit();
  if (limit > 0.0 && static_cast<int>(limit) < n) n = static_cast<int>(limit) > 0 ? static_cast<int>(limit) : 1;
  return n;
}

int compute_default_threads() {
  if (!kHasOpenMP) return 1;
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const std::string first = std::string(env).substr(0, std::string(env).find(','));
    char* end = nullptr;
    const long v = std::strtol(first.c_str(), &end, 10);
    if (end != first.c_str() && *end == '\0' && v > 0 && v < (1 << 20)) return static_cast<int>(v);
  }
  return compute_available_cpus();
}

}  // namespace

// Both read the environment once: OpenMP itself reads OMP_NUM_THREADS only at start-up.
int available_cpus() {
  static const int n = compute_available_cpus();
  return n;
}

int default_thread_count() {
  static const int n = compute_default_threads();
  return n;
}

int resolve_threads(int n_threads) {
  if (!kHasOpenMP) return 1;
  return n_threads > 0 ? n_threads : default_thread_count();
}

}  // namespace turborec
