#pragma once
// Top-k heaps: see heap_impl.inl for the ordering and sentinel rules.
#include <cstdint>

namespace turborec {
#include "turborec/heap_impl.inl"

// Sort a filled heap best-first (score descending, id ascending) and turn empty slots into id -1.
// Returns how many slots hold real candidates.
int heap_reorder(float* vals, int32_t* ids, int k);
}  // namespace turborec
