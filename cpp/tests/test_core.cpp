// Unit tests of the C++ core on its own (no Python): every SIMD level against brute force.
// Build and run: cmake -S . -B build/cpp -DTURBOREC_PYTHON=OFF -DTURBOREC_BUILD_TESTS=ON &&
//                cmake --build build/cpp && ctest --test-dir build/cpp --output-on-failure
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "turborec/heap.hpp"
#include "turborec/kernels.hpp"
#include "turborec/mf_sgd.hpp"
#include "turborec/simd_level.hpp"
#include "turborec/sparse.hpp"
#include "turborec/sparse_topk.hpp"
#include "turborec/topk.hpp"

using namespace turborec;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
  }
}

// Best-first (score desc, id asc) top-k of a row by sorting: the reference.
std::vector<int32_t> brute_topk(const std::vector<float>& s, int k, const std::vector<int32_t>& excluded) {
  std::vector<int32_t> ids;
  for (int32_t j = 0; j < static_cast<int32_t>(s.size()); ++j)
    if (!std::binary_search(excluded.begin(), excluded.end(), j)) ids.push_back(j);
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
  ids.resize(std::min<size_t>(ids.size(), static_cast<size_t>(k)));
  while (static_cast<int>(ids.size()) < k) ids.push_back(-1);
  return ids;
}

void test_heap_orders_and_pads() {
  float v[4];
  int32_t id[4];
  heap_init(v, id, 4);
  for (int32_t j : {5, 1, 7}) heap_push(v, id, 4, static_cast<float>(j % 3), j);  // scores 2, 1, 1
  check(heap_reorder(v, id, 4) == 3, "heap keeps three");
  check(id[0] == 5 && id[1] == 1 && id[2] == 7 && id[3] == -1, "heap order: score desc, id asc, -1 pad");
}

void test_topk_every_level(SimdLevel level) {
  set_active_simd_level(level);
  std::mt19937 rng(1);
  const int64_t n = 37, m = 301;
  const int k = 9;
  std::vector<float> scores(static_cast<size_t>(n * m));
  for (auto& x : scores) x = static_cast<float>(rng() % 7);  // many ties
  // exclude every 5th column of every row
  std::vector<int64_t> indptr(1, 0);
  std::vector<int32_t> indices;
  for (int64_t r = 0; r < n; ++r) {
    for (int32_t c = static_cast<int32_t>(r % 5); c < m; c += 5) indices.push_back(c);
    indptr.push_back(static_cast<int64_t>(indices.size()));
  }
  CsrView<int64_t> ex{n, m, indptr.data(), indices.data(), nullptr};
  std::vector<int32_t> ids(static_cast<size_t>(n * k));
  std::vector<float> out(static_cast<size_t>(n * k));
  topk_dense(scores.data(), n, m, k, &ex, ids.data(), out.data(), 2);
  bool ok = true;
  for (int64_t r = 0; r < n; ++r) {
    std::vector<float> row(scores.begin() + r * m, scores.begin() + (r + 1) * m);
    std::vector<int32_t> excl(indices.begin() + indptr[r], indices.begin() + indptr[r + 1]);
    ok &= brute_topk(row, k, excl) == std::vector<int32_t>(ids.begin() + r * k, ids.begin() + (r + 1) * k);
  }
  check(ok, std::string("topk_dense matches brute force at ") + simd_level_name(level));

  // topk_dot with small integers: exact products, so ties must break exactly like the reference
  const int d = 19;
  std::vector<float> q(static_cast<size_t>(n * d)), it(static_cast<size_t>(m * d));
  for (auto& x : q) x = static_cast<float>(static_cast<int>(rng() % 5) - 2);
  for (auto& x : it) x = static_cast<float>(static_cast<int>(rng() % 5) - 2);
  const PackedItems packed(it.data(), m, d, nullptr, 2);
  topk_dot(q.data(), n, packed, &ex, k, ids.data(), out.data(), 2);
  ok = true;
  for (int64_t r = 0; r < n; ++r) {
    std::vector<float> row(static_cast<size_t>(m));
    for (int64_t j = 0; j < m; ++j) {
      float s = 0;
      for (int t = 0; t < d; ++t) s += q[r * d + t] * it[j * d + t];
      row[j] = s;
    }
    std::vector<int32_t> excl(indices.begin() + indptr[r], indices.begin() + indptr[r + 1]);
    ok &= brute_topk(row, k, excl) == std::vector<int32_t>(ids.begin() + r * k, ids.begin() + (r + 1) * k);
  }
  check(ok, std::string("topk_dot matches brute force at ") + simd_level_name(level));
}

void test_transpose_and_sparse_product(SimdLevel level) {
  set_active_simd_level(level);
  // X: 6 rows x 5 columns, binary
  const std::vector<std::vector<int32_t>> rows = {{0, 1}, {1, 2, 3}, {0, 3, 4}, {}, {2}, {0, 1, 2, 3, 4}};
  std::vector<int32_t> indptr(1, 0), indices;
  for (const auto& r : rows) {
    indices.insert(indices.end(), r.begin(), r.end());
    indptr.push_back(static_cast<int32_t>(indices.size()));
  }
  std::vector<float> data(indices.size(), 1.0f);
  CsrView<int32_t> X{6, 5, indptr.data(), indices.data(), data.data()};
  const CsrMatrix T = transpose(X, 2);
  check(T.n_rows == 5 && T.indptr[5] == static_cast<int64_t>(indices.size()), "transpose shape");
  check(T.indices[T.indptr[0]] == 0 && T.indices[T.indptr[0] + 1] == 2 && T.indices[T.indptr[0] + 2] == 5,
        "transpose column 0 holds rows 0, 2, 5 in order");
  // co-occurrence counts, top 2 per row, diagonal excluded
  const ProductOperand op = prepare_operand(X, nullptr, 2);
  check(op.pattern_only, "binary values are dropped from the operand");
  SparseTopkOptions o;
  o.k = 2;
  o.exclude_diagonal = true;
  std::vector<int32_t> ids(12);
  std::vector<float> sc(12);
  sparse_product_topk(X, op, static_cast<const CsrView<int32_t>*>(nullptr), o, ids.data(), sc.data(), 2);
  // row 1 = {1,2,3}: shares 3 with row 5, 1 with rows 0, 2, 4 -> (5, 3), then (0, 1) by lower id
  check(ids[2] == 5 && sc[2] == 3.0f && ids[3] == 0 && sc[3] == 1.0f, "sparse product top-2 of row 1");
  check(ids[6] == -1 && std::isinf(sc[6]) && sc[6] < 0, "an empty row has no neighbours");
}

void test_sgd_is_deterministic_across_threads() {
  std::mt19937 rng(3);
  const int64_t nu = 50, ni = 40, n = 600;
  std::vector<int32_t> users(static_cast<size_t>(n)), items(static_cast<size_t>(n));
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    users[t] = static_cast<int32_t>(rng() % nu);
    items[t] = static_cast<int32_t>((t * 7 + rng() % 3) % ni);
    values[t] = static_cast<float>(1 + rng() % 5);
  }
  const SgdGrid grid = sgd_make_grid(users.data(), items.data(), values.data(), n, nu, ni, 4, 42);
  auto train = [&](int threads) {
    std::vector<float> P(static_cast<size_t>(nu * 16), 0.01f), Q(static_cast<size_t>(ni * 16), 0.02f);
    std::vector<float> um(static_cast<size_t>(nu * 4), 1.0f), im(static_cast<size_t>(ni * 4), 1.0f);
    for (int64_t u = 0; u < nu; ++u) um[u * 4] = 0.0f;
    for (int64_t i = 0; i < ni; ++i) im[i * 4] = 0.0f;
    SgdState st{P.data(), Q.data(), um.data(), im.data(), 16, 16, 3.0f};
    SgdOptions o;
    for (int e = 0; e < 3; ++e) sgd_epoch(grid, st, o, SgdPositives{}, e, threads);
    return P;
  };
  check(train(1) == train(2), "SGD: same model for 1 and 2 threads");
}

}  // namespace

int main() {
  test_heap_orders_and_pads();
  for (int l = 0; l <= static_cast<int>(best_supported_simd_level()); ++l) {
    test_topk_every_level(static_cast<SimdLevel>(l));
    test_transpose_and_sparse_product(static_cast<SimdLevel>(l));
  }
  test_sgd_is_deterministic_across_threads();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all C++ core checks passed (levels up to %s)\n", simd_level_name(best_supported_simd_level()));
  return 0;
}
