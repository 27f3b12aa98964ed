// turborec._core.topk / PackedItems / topk_dot: arrays in, (ids, scores) out; the GIL is released
// for the kernels. A CSR crosses as the one wire format of common.hpp (csr_arg,
// run_with_exclude).
#include <limits>
#include <pybind11/stl.h>

#include "common.hpp"
#include "turborec/topk.hpp"

namespace turborec::bind {

namespace {

// The (n, k) outputs: n * k checked in int64 before allocating (the Python layer caps k at the
// candidates, so this only guards direct calls).
void require_output_fits(int64_t n, int k) {
  require(n <= std::numeric_limits<int64_t>::max() / 8 / std::max(k, 1), "n * k output is too large");
}

py::tuple topk_binding(const carray<float>& scores, int k, const std::optional<py::tuple>& exclude, int n_threads) {
  check_ndim(scores, 2, "scores");
  require(k >= 1, "k must be >= 1");
  const int64_t n = scores.shape(0), m = scores.shape(1);
  require_output_fits(n, k);
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const float* s = scores.data();
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  run_with_exclude(exclude, n, m, [&](auto view) { topk_dense(s, n, m, k, view, pi, ps, n_threads); });
  return py::make_tuple(ids, out);
}

std::unique_ptr<PackedItems> make_packed(const carray<float>& items, const std::optional<carray<float>>& item_bias,
                                         int n_threads) {
  check_ndim(items, 2, "items");
  const int64_t m = items.shape(0), d = items.shape(1);
  require(d >= 1, "items: need at least one column");
  require(m < INT32_MAX, "items: at most 2^31 - 2 items");
  const float* b = optional_floats(item_bias, m, "item_bias");
  const float* it = items.data();
  py::gil_scoped_release release;
  return std::make_unique<PackedItems>(it, m, static_cast<int>(d), b, n_threads);
}

py::tuple topk_dot_binding(const carray<float>& queries, const PackedItems& items, int k,
                           const std::optional<py::tuple>& exclude, int n_threads) {
  check_ndim(queries, 2, "queries");
  require(k >= 1, "k must be >= 1");
  const int64_t n = queries.shape(0), m = items.n_items();
  require_output_fits(n, k);
  require(queries.shape(1) == items.dim(), "queries: expected " + std::to_string(items.dim()) + " columns like items");
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const float* q = queries.data();
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  run_with_exclude(exclude, n, m, [&](auto view) { topk_dot(q, n, items, view, k, pi, ps, n_threads); });
  return py::make_tuple(ids, out);
}

}  // namespace

void bind_topk(py::module_& m) {
  m.def("topk", &topk_binding, py::arg("scores").noconvert(), py::arg("k"), py::arg("exclude"), py::arg("n_threads"),
        "Row-wise top-k of a C-contiguous float32 matrix; returns (ids int32, scores float32).");
  py::class_<PackedItems>(m, "PackedItems",
                          "Item vectors (+ bias) packed once into the SIMD panels topk_dot streams; immutable, "
                          "shareable across threads.")
      .def(py::init(&make_packed), py::arg("items").noconvert(), py::arg("item_bias").noconvert(),
           py::arg("n_threads"))
      .def_property_readonly("n_items", &PackedItems::n_items)
      .def_property_readonly("dim", &PackedItems::dim)
      .def_property_readonly("simd_level", [](const PackedItems& p) { return simd_level_name(p.level()); })
      .def_property_readonly("nbytes", &PackedItems::nbytes);
  m.def("topk_dot", &topk_dot_binding, py::arg("queries").noconvert(), py::arg("items"), py::arg("k"),
        py::arg("exclude"), py::arg("n_threads"),
        "Top-k of queries @ items.T (+ item bias) without materialising the product.");
}

}  // namespace turborec::bind
