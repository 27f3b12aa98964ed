// CPU feature detection and the process-wide active SIMD level.
#include "turborec/simd_level.hpp"

#include <atomic>
#include <stdexcept>

#include "turborec/kernels.hpp"

namespace turborec {

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::scalar: return "scalar";
    case SimdLevel::avx2: return "avx2";
    case SimdLevel::avx512: return "avx512";
  }
  return "unknown";
}

SimdLevel parse_simd_level(const std::string& name) {
  if (name == "scalar") return SimdLevel::scalar;
  if (name == "avx2") return SimdLevel::avx2;
  if (name == "avx512") return SimdLevel::avx512;
  throw std::invalid_argument("unknown SIMD level '" + name + "'; expected scalar, avx2 or avx512");
}

SimdLevel compiled_simd_level() {
#if TURBOREC_HAVE_AVX512
  return SimdLevel::avx512;
#elif TURBOREC_HAVE_AVX2
  return SimdLevel::avx2;
#else
  return SimdLevel::scalar;
#endif
}

namespace {

SimdLevel detect_cpu_level() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  // libgcc's checks include the OS's XSAVE state (XCR0), not just the CPUID bits.
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512cd");
  if (avx512) return SimdLevel::avx512;
  if (avx2) return SimdLevel::avx2;
#endif
  return SimdLevel::scalar;
}

SimdLevel min_level(SimdLevel a, SimdLevel b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

std::atomic<int>& active_level_storage() {
  static std::atomic<int> level{static_cast<int>(best_supported_simd_level())};
  return level;
}

}  // namespace

SimdLevel best_supported_simd_level() {
  static const SimdLevel best = min_level(detect_cpu_level(), compiled_simd_level());
  return best;
}

SimdLevel active_simd_level() { return static_cast<SimdLevel>(active_level_storage().load()); }

void set_active_simd_level(SimdLevel level) {
  if (static_cast<int>(level) > static_cast<int>(best_supported_simd_level())) {
    throw std::invalid_argument(std::string("SIMD level '") + simd_level_name(level) +
                                "' is not available here; the highest this CPU and build support is '" +
                                simd_level_name(best_supported_simd_level()) + "'");
  }
  active_level_storage().store(static_cast<int>(level));
}

const KernelTable& kernels_for(SimdLevel level) {
  switch (level) {
#if TURBOREC_HAVE_AVX512
    case SimdLevel::avx512: return kernels_avx512::table;
#endif
#if TURBOREC_HAVE_AVX2
    case SimdLevel::avx2: return kernels_avx2::table;
#endif
    default: return kernels_scalar::table;
  }
}

const KernelTable& kernels() { return kernels_for(active_simd_level()); }

}  // namespace turborec
