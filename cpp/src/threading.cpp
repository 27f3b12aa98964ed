#include "turborec/threading.hpp"

namespace turborec {

int default_thread_count() {
#ifdef TURBOREC_HAS_OPENMP
  const int n = omp_get_max_threads();
  return n > 0 ? n : 1;
#else
  return 1;
#endif
}

int resolve_threads(int n_threads) {
  if (!kHasOpenMP) return 1;
  return n_threads > 0 ? n_threads : default_thread_count();
}

}  // namespace turborec
