// turborec._core.topk / topk_dot: arrays in, (ids, scores) out; the GIL is released for the kernel.
#include <pybind11/stl.h>

#include "common.hpp"
#include "turborec/topk.hpp"

namespace turborec::bind {

namespace {

std::optional<CsrArrays> exclude_arrays(const py::object& indptr, const py::object& indices, int64_t n_rows,
                                        int64_t n_cols) {
  if (indptr.is_none()) return std::nullopt;
  if (!py::isinstance<carray<int32_t>>(indices)) throw py::type_error("exclude: indices must be contiguous int32");
  return CsrArrays{py::reinterpret_borrow<py::array>(indptr), indices.cast<carray<int32_t>>(), std::nullopt,
                   n_rows, n_cols};
}

// Runs kernel(view_or_null) with the GIL released, for either indptr width (or no exclusion).
template <class Kernel>
void run_with_exclude(const std::optional<CsrArrays>& ex, Kernel&& kernel) {
  if (!ex) {
    py::gil_scoped_release release;
    kernel(static_cast<const CsrView<int32_t>*>(nullptr));
    return;
  }
  with_csr(*ex, "exclude", [&](auto view) {
    py::gil_scoped_release release;
    kernel(&view);
  });
}

py::tuple topk_binding(const carray<float>& scores, int k, const py::object& ex_indptr,
                       const py::object& ex_indices, int n_threads) {
  check_ndim(scores, 2, "scores");
  require(k >= 1, "k must be >= 1");
  const int64_t n = scores.shape(0), m = scores.shape(1);
  const auto ex = exclude_arrays(ex_indptr, ex_indices, n, m);
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const float* s = scores.data();
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  run_with_exclude(ex, [&](auto view) { topk_dense(s, n, m, k, view, pi, ps, n_threads); });
  return py::make_tuple(ids, out);
}

py::tuple topk_dot_binding(const carray<float>& queries, const carray<float>& items, int k,
                           const std::optional<carray<float>>& item_bias, const py::object& ex_indptr,
                           const py::object& ex_indices, int n_threads) {
  check_ndim(queries, 2, "queries");
  check_ndim(items, 2, "items");
  require(k >= 1, "k must be >= 1");
  const int64_t n = queries.shape(0), m = items.shape(0), d = queries.shape(1);
  require(items.shape(1) == d, "items: expected " + std::to_string(d) + " columns like queries");
  require(m < INT32_MAX, "items: at most 2^31 - 2 items");
  if (item_bias) require(item_bias->ndim() == 1 && item_bias->shape(0) == m, "item_bias: expected shape (n_items,)");
  const auto ex = exclude_arrays(ex_indptr, ex_indices, n, m);
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const float* q = queries.data();
  const float* it = items.data();
  const float* b = item_bias ? item_bias->data() : nullptr;
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  run_with_exclude(ex, [&](auto view) {
    topk_dot(q, n, it, m, static_cast<int>(d), b, view, k, pi, ps, n_threads);
  });
  return py::make_tuple(ids, out);
}

}  // namespace

void bind_topk(py::module_& m) {
  m.def("topk", &topk_binding, py::arg("scores").noconvert(), py::arg("k"), py::arg("exclude_indptr"),
        py::arg("exclude_indices"), py::arg("n_threads"),
        "Row-wise top-k of a C-contiguous float32 matrix; returns (ids int32, scores float32).");
  m.def("topk_dot", &topk_dot_binding, py::arg("queries").noconvert(), py::arg("items").noconvert(), py::arg("k"),
        py::arg("item_bias").noconvert(), py::arg("exclude_indptr"), py::arg("exclude_indices"),
        py::arg("n_threads"), "Top-k of queries @ items.T (+ item_bias) without materialising the product.");
}

}  // namespace turborec::bind
