# Release unless the caller chose otherwise.
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

option(TURBOREC_NATIVE "Opt-in: compile everything with -march=native (not portable; never for wheels)" OFF)
set(TURBOREC_SANITIZE "OFF" CACHE STRING "OFF, or a -fsanitize= list such as address,undefined")

function(turborec_configure_target target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(TURBOREC_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
  if(NOT TURBOREC_SANITIZE STREQUAL "OFF")
    target_compile_options(${target} PRIVATE -fsanitize=${TURBOREC_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${TURBOREC_SANITIZE})
  endif()
endfunction()
