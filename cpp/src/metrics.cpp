// Per-user ranking metrics (formulas in turborec/metrics.hpp). Each user's row is independent: the
// list is checked (range, duplicates), each listed id is looked up in the user's sorted relevant
// row by a branch-free binary search, and every requested metric is accumulated in the same pass.
#include "turborec/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "turborec/threading.hpp"

namespace turborec {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Memory-safe, sorted, in-range row r of a CSR pattern (the fast check done for every row).
template <class Ptr>
bool row_pattern_ok(const CsrView<Ptr>& m, int64_t r) {
  const int64_t b = m.row_begin(r), e = m.row_end(r);
  if (b < 0 || e < b || e > m.nnz()) return false;
  for (int64_t p = b; p < e; ++p) {
    const int32_t c = m.indices[p];
    if (c < 0 || c >= m.n_cols || (p > b && m.indices[p - 1] >= c)) return false;
  }
  return true;
}

// The message for a row that failed row_pattern_ok (built only on failure).
template <class Ptr>
std::string row_pattern_problem(const CsrView<Ptr>& m, int64_t r, const char* what) {
  const std::string w(what), row = std::to_string(r);
  const int64_t b = m.row_begin(r), e = m.row_end(r);
  if (b < 0 || e < b || e > m.nnz()) return w + ": indptr is invalid at row " + row + " (negative, decreasing or past nnz)";
  for (int64_t p = b; p < e; ++p) {
    const int32_t c = m.indices[p];
    if (c < 0 || c >= m.n_cols)
      return w + ": row " + row + " has column index " + std::to_string(c) + " outside [0, " +
             std::to_string(m.n_cols) + ")";
    if (p > b && m.indices[p - 1] >= c)
      return w + ": column indices of row " + row + " are not strictly increasing (unsorted or duplicated)";
  }
  return w + ": row " + row + " is invalid";
}

// Duplicate check of short lists by pairwise comparison (no branches to mispredict); longer ones sort.
constexpr int kPairwiseMaxK = 32;

// True when the first k ids of a recommendation row are in [-1, n_items) and no item repeats.
bool list_ok(const int32_t* row, int k, int64_t n_items, std::vector<int32_t>& sorted) {
  bool ok = true;
  for (int i = 0; i < k; ++i) ok &= row[i] >= -1 && row[i] < n_items;
  if (!ok) return false;
  if (k <= kPairwiseMaxK) {
    bool dup = false;
    for (int i = 1; i < k; ++i)
      for (int j = 0; j < i; ++j) dup |= (row[i] == row[j]) & (row[i] >= 0);
    return !dup;
  }
  sorted.clear();
  for (int i = 0; i < k; ++i)
    if (row[i] >= 0) sorted.push_back(row[i]);
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
}

// The message for a row that failed list_ok (built only on failure).
std::string list_problem(const int32_t* row, int k, int64_t n_items, int64_t r) {
  for (int i = 0; i < k; ++i)
    if (row[i] < -1 || row[i] >= n_items)
      return "recommended: row " + std::to_string(r) + " has id " + std::to_string(row[i]) + " outside [0, " +
             std::to_string(n_items) + ") (only -1 may pad)";
  std::vector<int32_t> sorted;
  for (int i = 0; i < k; ++i)
    if (row[i] >= 0) sorted.push_back(row[i]);
  std::sort(sorted.begin(), sorted.end());
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  return "recommended: row " + std::to_string(r) + " lists item " + std::to_string(dup != sorted.end() ? *dup : -1) +
         " more than once";
}

// Position of x in the strictly increasing run a[0..n), or -1. A branch-free lower bound: rows are
// short and the lookups random, so mispredicted branches would cost more than the comparisons.
inline int64_t find_sorted(const int32_t* a, int64_t n, int32_t x) {
  if (n == 0) return -1;
  const int32_t* base = a;
  while (n > 1) {
    const int64_t half = n / 2;
    base = base[half] <= x ? base + half : base;
    n -= half;
  }
  return *base == x ? base - a : -1;
}

double gain_of(Gain gain, float rel) {
  switch (gain) {
    case Gain::kLinear: return static_cast<double>(rel);
    case Gain::kExponential: return std::exp2(static_cast<double>(rel)) - 1.0;
    default: return 1.0;
  }
}

// |a ∩ b| of two strictly increasing index runs: each element of the shorter looked up in the longer.
int64_t intersection_size(const int32_t* a, int64_t na, const int32_t* b, int64_t nb) {
  if (na > nb) {
    std::swap(a, b);
    std::swap(na, nb);
  }
  int64_t n = 0;
  for (int64_t i = 0; i < na; ++i) n += find_sorted(b, nb, a[i]) >= 0;
  return n;
}

struct Scratch {
  std::vector<int32_t> sorted;  // a long row's ids, for the duplicate check
  std::vector<int64_t> hit_at;  // position in the relevant row of each listed id, -1 if no hit
  std::vector<double> gains;    // graded gains of the relevant row, for IDCG
};

struct FirstError {
  int64_t row = -1;
  std::string message;
};

}  // namespace

template <class Ptr, class T>
void ranking_metrics(const int32_t* recommended, int64_t n_users, int64_t width, int k, int64_t n_items,
                     const CsrView<Ptr>& relevant, Gain gain, const CsrView<Ptr>* exclude,
                     const RankingOutputs<T>& out, int n_threads) {
  if (k < 1 || k > width)
    throw std::invalid_argument("k must be in [1, " + std::to_string(width) + "] (the width of recommended), got " +
                                std::to_string(k));
  if (relevant.n_rows != n_users)
    throw std::invalid_argument("relevant: expected " + std::to_string(n_users) + " rows like recommended, got " +
                                std::to_string(relevant.n_rows));
  if (relevant.n_cols > n_items)
    throw std::invalid_argument("relevant: has " + std::to_string(relevant.n_cols) + " columns, more than n_items = " +
                                std::to_string(n_items));
  if (gain != Gain::kBinary && relevant.data == nullptr)
    throw std::invalid_argument("relevant: graded gains need its values");
  if (n_users > 0 && relevant.indptr[0] != 0) throw std::invalid_argument("relevant: indptr[0] must be 0");
  if (exclude) {
    if (exclude->n_rows != n_users || exclude->n_cols != n_items)
      throw std::invalid_argument("exclude: expected shape (" + std::to_string(n_users) + ", " +
                                  std::to_string(n_items) + ")");
    if (n_users > 0 && exclude->indptr[0] != 0) throw std::invalid_argument("exclude: indptr[0] must be 0");
  }

  // disc[i] = 1 / log2(i + 2): the discount of 0-based position i; ideal[m] = binary IDCG of m hits.
  std::vector<double> disc(static_cast<size_t>(k)), ideal(static_cast<size_t>(k) + 1, 0.0);
  for (int i = 0; i < k; ++i) {
    disc[i] = 1.0 / std::log2(static_cast<double>(i) + 2.0);
    ideal[i + 1] = ideal[i] + disc[i];
  }

  const int threads = resolve_threads(n_threads);
  std::vector<Scratch> scratch(static_cast<size_t>(threads));
  std::vector<FirstError> errors(static_cast<size_t>(threads));
  const int64_t chunk = std::max<int64_t>(64, (int64_t(1) << 15) / k);

  parallel_chunks(n_users, chunk, n_threads, [&](int tid, int64_t begin, int64_t end) {
    Scratch& s = scratch[tid];
    s.hit_at.resize(static_cast<size_t>(k));
    FirstError& err = errors[tid];
    for (int64_t u = begin; u < end; ++u) {
      const int32_t* row = recommended + u * width;
      if (!list_ok(row, k, n_items, s.sorted) || !row_pattern_ok(relevant, u) ||
          (exclude && !row_pattern_ok(*exclude, u))) {
        if (err.row < 0 || u < err.row) {
          std::string problem;
          if (!list_ok(row, k, n_items, s.sorted)) problem = list_problem(row, k, n_items, u);
          else if (!row_pattern_ok(relevant, u)) problem = row_pattern_problem(relevant, u, "relevant");
          else problem = row_pattern_problem(*exclude, u, "exclude");
          err = FirstError{u, std::move(problem)};
        }
        continue;
      }

      const int64_t rb = relevant.row_begin(u), re = relevant.row_end(u), n_rel = re - rb;
      const int32_t* rel = relevant.indices + rb;
      double precision = kNaN, recall = kNaN, ndcg = kNaN, ap = kNaN, hit_rate = kNaN, rr = kNaN, auc = kNaN;
      if (n_rel > 0) {
        int64_t hits = 0, first = 0;
        double ap_sum = 0.0, dcg = 0.0;
        for (int i = 0; i < k; ++i) {
          const int32_t id = row[i];
          s.hit_at[i] = -1;
          if (id < 0) continue;
          const int64_t at = find_sorted(rel, n_rel, id);
          if (at < 0) continue;
          s.hit_at[i] = at;
          ++hits;
          if (first == 0) first = i + 1;
          ap_sum += static_cast<double>(hits) / static_cast<double>(i + 1);
          dcg += (gain == Gain::kBinary ? 1.0 : gain_of(gain, relevant.data[rb + at])) * disc[i];
        }
        const int64_t m = std::min<int64_t>(k, n_rel);
        precision = static_cast<double>(hits) / k;
        recall = static_cast<double>(hits) / static_cast<double>(n_rel);
        hit_rate = hits > 0 ? 1.0 : 0.0;
        rr = first > 0 ? 1.0 / static_cast<double>(first) : 0.0;
        ap = ap_sum / static_cast<double>(m);
        if (out.ndcg) {
          double idcg = ideal[m];
          if (gain != Gain::kBinary) {
            s.gains.resize(static_cast<size_t>(n_rel));
            for (int64_t p = 0; p < n_rel; ++p) s.gains[p] = gain_of(gain, relevant.data[rb + p]);
            std::partial_sort(s.gains.begin(), s.gains.begin() + m, s.gains.end(), std::greater<double>());
            idcg = 0.0;
            for (int64_t j = 0; j < m; ++j) idcg += s.gains[j] * disc[j];
          }
          ndcg = idcg > 0.0 ? dcg / idcg : kNaN;
        }
        if (out.auc) {
          const int32_t* ex = nullptr;
          int64_t n_ex = 0, rel_ex = 0;
          if (exclude) {
            ex = exclude->indices + exclude->row_begin(u);
            n_ex = exclude->row_end(u) - exclude->row_begin(u);
            rel_ex = intersection_size(rel, n_rel, ex, n_ex);
          }
          const int64_t n_pos = n_rel - rel_ex, n_neg = n_items - n_ex - n_pos;
          if (n_pos > 0 && n_neg > 0) {
            double correct = 0.0;
            int64_t pos_listed = 0, neg_listed = 0;
            for (int i = 0; i < k; ++i) {
              const int32_t id = row[i];
              if (id < 0 || (ex && find_sorted(ex, n_ex, id) >= 0)) continue;
              if (s.hit_at[i] >= 0) {
                correct += static_cast<double>(n_neg - neg_listed);
                ++pos_listed;
              } else {
                ++neg_listed;
              }
            }
            correct += 0.5 * static_cast<double>(n_pos - pos_listed) * static_cast<double>(n_neg - neg_listed);
            auc = correct / (static_cast<double>(n_pos) * static_cast<double>(n_neg));
          }
        }
      }
      if (out.precision) out.precision[u] = static_cast<T>(precision);
      if (out.recall) out.recall[u] = static_cast<T>(recall);
      if (out.ndcg) out.ndcg[u] = static_cast<T>(ndcg);
      if (out.average_precision) out.average_precision[u] = static_cast<T>(ap);
      if (out.hit_rate) out.hit_rate[u] = static_cast<T>(hit_rate);
      if (out.reciprocal_rank) out.reciprocal_rank[u] = static_cast<T>(rr);
      if (out.auc) out.auc[u] = static_cast<T>(auc);
    }
  });

  const FirstError* first = nullptr;
  for (const FirstError& e : errors)
    if (e.row >= 0 && (!first || e.row < first->row)) first = &e;
  if (first) throw std::invalid_argument(first->message);
}

#define TURBOREC_INSTANTIATE(Ptr, T)                                                                          \
  template void ranking_metrics<Ptr, T>(const int32_t*, int64_t, int64_t, int, int64_t, const CsrView<Ptr>&, \
                                        Gain, const CsrView<Ptr>*, const RankingOutputs<T>&, int);
TURBOREC_INSTANTIATE(int32_t, float)
TURBOREC_INSTANTIATE(int32_t, double)
TURBOREC_INSTANTIATE(int64_t, float)
TURBOREC_INSTANTIATE(int64_t, double)
#undef TURBOREC_INSTANTIATE

}  // namespace turborec
