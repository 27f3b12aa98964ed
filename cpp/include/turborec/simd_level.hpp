#pragma once
// Instruction-set levels the kernels are compiled for, and which one runs.
#include <string>

namespace turborec {

enum class SimdLevel : int { scalar = 0, avx2 = 1, avx512 = 2 };

const char* simd_level_name(SimdLevel level);
// Parses "scalar" / "avx2" / "avx512"; throws std::invalid_argument otherwise.
SimdLevel parse_simd_level(const std::string& name);

// Highest level both compiled into this build and supported by this CPU (and its OS).
SimdLevel best_supported_simd_level();
// Highest level compiled into this build, whatever the CPU.
SimdLevel compiled_simd_level();

// The level kernels use now. Starts at best_supported_simd_level(), lowered by the environment
// variable TURBOREC_SIMD when set.
SimdLevel active_simd_level();
// Select a level; throws std::invalid_argument for a level this CPU or build cannot run.
void set_active_simd_level(SimdLevel level);

}  // namespace turborec
