// Top-k heap over caller-owned arrays (the faiss layout: scores and ids side by side, size k).
//
// Deliberately namespace-free: heap.hpp includes it inside `turborec`, and every per-ISA kernel
// translation unit includes it inside its own namespace, so functions compiled with AVX flags never
// share a symbol with the baseline copies (an ODR merge could otherwise hand AVX code to a CPU
// without AVX).
//
// Order: a candidate (s, i) beats (t, j) when s > t, or s == t and i < j. The heap is a min-heap on
// that order: its root is the worst kept element, so a new candidate only needs to beat the root.
// Empty slots hold the sentinel (-inf, kHeapEmptyId); a real id always beats it on ties, so even
// -inf scores are kept with their ids, while slots that stay empty become id -1 at the end.

constexpr int32_t kHeapEmptyId = 0x7fffffff;

inline bool heap_beats(float s, int32_t i, float t, int32_t j) {
  return s > t || (s == t && i < j);
}

inline void heap_init(float* vals, int32_t* ids, int k) {
  for (int t = 0; t < k; ++t) {
    vals[t] = -__builtin_inff();
    ids[t] = kHeapEmptyId;
  }
}

// Replace the root (the worst kept element) by (s, i) and restore the heap order.
// Positions are 64-bit: for k near 2^31, 2 * pos + 1 overflows an int (a crash, issue 11).
inline void heap_replace_top(float* vals, int32_t* ids, int k, float s, int32_t i) {
  int64_t pos = 0;
  for (;;) {
    int64_t child = 2 * pos + 1;
    if (child >= k) break;
    // Pick the worse of the two children: it must move up.
    if (child + 1 < k && heap_beats(vals[child], ids[child], vals[child + 1], ids[child + 1])) ++child;
    if (!heap_beats(s, i, vals[child], ids[child])) break;  // (s, i) is worse: it stays above
    vals[pos] = vals[child];
    ids[pos] = ids[child];
    pos = child;
  }
  vals[pos] = s;
  ids[pos] = i;
}

// Offer (s, i); it is kept only if it beats the current root.
inline void heap_push(float* vals, int32_t* ids, int k, float s, int32_t i) {
  if (heap_beats(s, i, vals[0], ids[0])) heap_replace_top(vals, ids, k, s, i);
}
