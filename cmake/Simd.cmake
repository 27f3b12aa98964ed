# Runtime SIMD dispatch: the kernel bodies in cpp/src/kernels/ are compiled once per instruction set,
# each translation unit with its own flags and into its own namespace. Everything else is compiled
# with the baseline flags (plain x86-64), so no AVX can leak into code that runs before dispatch.
set(TURBOREC_SIMD_SOURCES "")
set(TURBOREC_SIMD_LEVELS "scalar")
list(APPEND TURBOREC_SIMD_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src/kernels/kernels_scalar.cpp)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(_avx2 ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src/kernels/kernels_avx2.cpp)
  set(_avx512 ${CMAKE_CURRENT_SOURCE_DIR}/cpp/src/kernels/kernels_avx512.cpp)
  set_source_files_properties(${_avx2} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mbmi;-mbmi2;-mlzcnt;-mpopcnt")
  # GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized inside _mm512_reduce_* (a header false
  # positive), so those two warnings are off for this one file.
  set_source_files_properties(${_avx512} PROPERTIES COMPILE_OPTIONS
    "-mavx512f;-mavx512bw;-mavx512dq;-mavx512vl;-mavx512cd;-mavx2;-mfma;-mf16c;-mbmi;-mbmi2;-mlzcnt;-mpopcnt;-mprefer-vector-width=512;-Wno-uninitialized;-Wno-maybe-uninitialized")
  list(APPEND TURBOREC_SIMD_SOURCES ${_avx2} ${_avx512})
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
