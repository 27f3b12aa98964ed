// Build and runtime facts: version, compiler, OpenMP, SIMD levels, threads.
#include "common.hpp"
#include "turborec/simd_level.hpp"
#include "turborec/threading.hpp"

#ifndef TURBOREC_VERSION
#define TURBOREC_VERSION "0.0.0+dev"
#endif

namespace turborec::bind {

namespace {
std::string compiler_string() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}
}  // namespace

void bind_config(py::module_& m) {
  m.attr("__version__") = TURBOREC_VERSION;
  m.attr("compiler") = compiler_string();
  m.attr("has_openmp") = kHasOpenMP;
  m.attr("simd_compiled") = simd_level_name(compiled_simd_level());
#ifdef TURBOREC_NATIVE_BUILD
  m.attr("native_build") = true;
#else
  m.attr("native_build") = false;
#endif
  m.def("simd_supported", [] { return simd_level_name(best_supported_simd_level()); },
        "Highest SIMD level this CPU and build can run.");
  m.def("simd_active", [] { return simd_level_name(active_simd_level()); }, "SIMD level the kernels use now.");
  m.def(
      "set_simd_active", [](const std::string& level) { set_active_simd_level(parse_simd_level(level)); },
      py::arg("level"), "Select the SIMD level (scalar, avx2, avx512); it cannot exceed simd_supported().");
  m.def("default_threads", &default_thread_count,
        "Threads for n_threads=0: OMP_NUM_THREADS when set, else available_cpus() (1 without OpenMP).");
  m.def("available_cpus", &available_cpus, "Cores this process may run on: CPU affinity capped by a cgroup quota.");
}

}  // namespace turborec::bind
