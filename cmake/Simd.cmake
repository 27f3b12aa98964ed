# Runtime SIMD dispatch: the kernel bodies in cpp/src/kernels/ are compiled once per instruction set,
# each translation unit with its own flags and into its own namespace. Everything else is compiled
# with the baseline flags (plain x86-64), so no AVX can leak into code that runs before dispatch.
set(TURBOREC_SIMD_SOURCES "")
set(TURBOREC_SIMD_LEVELS "scalar")
list(APPEND TURBOREC_SIMD_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src/kernels/kernels_scalar.cpp)
# Low-precision (int8 / bf16) retrieval: the same pattern, one file per instruction set. Their float
# epilogues must round exactly like the numpy reference, so no multiply-add contraction there.
set(_lowp_scalar ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src/lowp/lowp_scalar.cpp)
set_source_files_properties(${_lowp_scalar} PROPERTIES COMPILE_OPTIONS "-ffp-contract=off")
list(APPEND TURBOREC_SIMD_SOURCES ${_lowp_scalar})

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(_avx2 ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src/kernels/kernels_avx2.cpp)
  set(_avx512 ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src/kernels/kernels_avx512.cpp)
  set_source_files_properties(${_avx2} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mbmi;-mbmi2;-mlzcnt;-mpopcnt")
  # GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized inside _mm512_reduce_* (a header false
  # positive), so those two warnings are off for this one file.
  set_source_files_properties(${_avx512} PROPERTIES COMPILE_OPTIONS
    "-mavx512f;-mavx512bw;-mavx512dq;-mavx512vl;-mavx512cd;-mavx2;-mfma;-mf16c;-mbmi;-mbmi2;-mlzcnt;-mpopcnt;-mprefer-vector-width=512;-Wno-uninitialized;-Wno-maybe-uninitialized")
  list(APPEND TURBOREC_SIMD_SOURCES ${_avx2} ${_avx512})
  set(_lowp_vnni ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src/lowp/lowp_vnni.cpp)
  set(_lowp_bf16 ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src/lowp/lowp_bf16.cpp)
  set(_lowp_base "-mavx512f;-mavx512bw;-mavx512dq;-mavx512vl;-mavx2;-mfma;-mprefer-vector-width=512;-ffp-contract=off;-Wno-uninitialized;-Wno-maybe-uninitialized")
  set_source_files_properties(${_lowp_vnni} PROPERTIES COMPILE_OPTIONS "${_lowp_base};-mavx512vnni")
  set_source_files_properties(${_lowp_bf16} PROPERTIES COMPILE_OPTIONS "${_lowp_base};-mavx512bf16")
  list(APPEND TURBOREC_SIMD_SOURCES ${_lowp_vnni} ${_lowp_bf16})
  list(APPEND TURBOREC_SIMD_LEVELS "avx2" "avx512")
endif()

function(turborec_add_simd_kernels target)
  target_sources(${target} PRIVATE ${TURBOREC_SIMD_SOURCES})
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src)
  foreach(level IN LISTS TURBOREC_SIMD_LEVELS)
    string(TOUPPER ${level} LEVEL)
    target_compile_definitions(${target} PUBLIC TURBOREC_HAVE_${LEVEL}=1)
  endforeach()
  if(TURBOREC_HAS_OPENMP)
    target_link_libraries(${target} PUBLIC OpenMP::OpenMP_CXX)
    target_compile_definitions(${target} PUBLIC TURBOREC_HAS_OPENMP=1)
  endif()
endfunction()
