// turborec._core low-precision retrieval: int8 / bf16 top-k, the float32 re-rank, and the level knob.
// The GIL is released for every kernel.
#include <pybind11/stl.h>

#include <memory>

#include "common.hpp"
#include "turborec/lowp.hpp"

namespace turborec::bind {

namespace {

LowpType parse_type(const std::string& t) {
  if (t == "int8") return LowpType::int8;
  if (t == "bf16") return LowpType::bf16;
  throw py::value_error("dtype: expected 'int8' or 'bf16', got '" + t + "'");
}

template <class T>
void check_matrix_pair(const carray<T>& queries, const carray<T>& items, int k) {
  check_ndim(queries, 2, "queries");
  check_ndim(items, 2, "items");
  require(k >= 1, "k must be >= 1");
  require(items.shape(1) == queries.shape(1),
          "items: expected " + std::to_string(queries.shape(1)) + " columns like queries");
}

py::tuple topk_int8_binding(const carray<int8_t>& queries, const carray<float>& query_scale,
                            const carray<int8_t>& items, const carray<float>& item_scale, int k,
                            const std::optional<carray<float>>& item_bias, const std::optional<py::tuple>& exclude,
                            int n_threads) {
  check_matrix_pair(queries, items, k);
  const int64_t n = queries.shape(0), m = items.shape(0), d = queries.shape(1);
  const float* qs = optional_floats(query_scale, n, "query_scale");
  const float* is = optional_floats(item_scale, m, "item_scale");
  const float* b = optional_floats(item_bias, m, "item_bias");
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const int8_t* q = queries.data();
  const int8_t* it = items.data();
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  run_with_exclude(exclude, n, m, [&](auto view) {
    topk_int8(q, qs, n, it, is, m, static_cast<int>(d), b, view, k, pi, ps, n_threads);
  });
  return py::make_tuple(ids, out);
}

py::tuple topk_bf16_binding(const carray<uint16_t>& queries, const carray<uint16_t>& items, int k,
                            const std::optional<carray<float>>& item_bias, const std::optional<py::tuple>& exclude,
                            int n_threads) {
  check_matrix_pair(queries, items, k);
  const int64_t n = queries.shape(0), m = items.shape(0), d = queries.shape(1);
  const float* b = optional_floats(item_bias, m, "item_bias");
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const uint16_t* q = queries.data();
  const uint16_t* it = items.data();
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  run_with_exclude(exclude, n, m, [&](auto view) {
    topk_bf16(q, n, it, m, static_cast<int>(d), b, view, k, pi, ps, n_threads);
  });
  return py::make_tuple(ids, out);
}

py::tuple rerank_binding(const carray<float>& queries, const carray<float>& items,
                         const std::optional<carray<float>>& item_bias, const carray<int32_t>& candidates, int k,
                         int n_threads) {
  check_matrix_pair(queries, items, k);
  check_ndim(candidates, 2, "candidates");
  const int64_t n = queries.shape(0), m = items.shape(0), d = queries.shape(1);
  require(candidates.shape(0) == n, "candidates: expected one row per query");
  require(candidates.shape(1) >= k, "candidates: fewer columns than k");
  const float* b = optional_floats(item_bias, m, "item_bias");
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const float* q = queries.data();
  const float* it = items.data();
  const int32_t* c = candidates.data();
  const int kc = static_cast<int>(candidates.shape(1));
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  {
    py::gil_scoped_release release;
    rerank_exact(q, n, it, m, static_cast<int>(d), b, c, kc, k, pi, ps, n_threads);
  }
  return py::make_tuple(ids, out);
}

std::unique_ptr<LowpItems> pack_int8_binding(const carray<int8_t>& items, const carray<float>& item_scale,
                                             const std::optional<carray<float>>& item_bias, int n_threads) {
  check_ndim(items, 2, "items");
  const int64_t m = items.shape(0), d = items.shape(1);
  require(d >= 1, "items: need at least one column");
  const float* is = optional_floats(item_scale, m, "item_scale");
  const float* b = optional_floats(item_bias, m, "item_bias");
  const int8_t* it = items.data();
  py::gil_scoped_release release;
  return std::make_unique<LowpItems>(it, is, m, static_cast<int>(d), b, n_threads);
}

std::unique_ptr<LowpItems> pack_bf16_binding(const carray<uint16_t>& items, const std::optional<carray<float>>& item_bias,
                                             int n_threads) {
  check_ndim(items, 2, "items");
  const int64_t m = items.shape(0), d = items.shape(1);
  require(d >= 1, "items: need at least one column");
  const float* b = optional_floats(item_bias, m, "item_bias");
  const uint16_t* it = items.data();
  py::gil_scoped_release release;
  return std::make_unique<LowpItems>(it, m, static_cast<int>(d), b, n_threads);
}

py::tuple topk_int8_packed_binding(const carray<int8_t>& queries, const carray<float>& query_scale,
                                   const LowpItems& items, int k, const std::optional<carray<float>>& item_bias,
                                   const std::optional<py::tuple>& exclude, int n_threads) {
  check_ndim(queries, 2, "queries");
  require(k >= 1, "k must be >= 1");
  require(items.type() == LowpType::int8, "items: expected packed int8 items");
  require(queries.shape(1) == items.dim(), "queries: expected " + std::to_string(items.dim()) + " columns like items");
  const int64_t n = queries.shape(0), m = items.n_items();
  const float* qs = optional_floats(query_scale, n, "query_scale");
  const float* b = optional_floats(item_bias, m, "item_bias");
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const int8_t* q = queries.data();
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  run_with_exclude(exclude, n, m, [&](auto view) { topk_int8_packed(q, qs, n, items, b, view, k, pi, ps, n_threads); });
  return py::make_tuple(ids, out);
}

py::tuple topk_int8_f32_binding(const carray<float>& queries, const LowpItems& items, int k,
                                const std::optional<carray<float>>& item_bias, const std::optional<py::tuple>& exclude,
                                int n_threads) {
  check_ndim(queries, 2, "queries");
  require(k >= 1, "k must be >= 1");
  require(items.type() == LowpType::int8, "items: expected packed int8 items");
  require(queries.shape(1) == items.dim(), "queries: expected " + std::to_string(items.dim()) + " columns like items");
  const int64_t n = queries.shape(0), m = items.n_items();
  const float* b = optional_floats(item_bias, m, "item_bias");
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const float* q = queries.data();
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  run_with_exclude(exclude, n, m, [&](auto view) { topk_int8_packed_f32(q, n, items, b, view, k, pi, ps, n_threads); });
  return py::make_tuple(ids, out);
}

py::tuple topk_bf16_packed_binding(const carray<uint16_t>& queries, const LowpItems& items, int k,
                                   const std::optional<carray<float>>& item_bias,
                                   const std::optional<py::tuple>& exclude, int n_threads) {
  check_ndim(queries, 2, "queries");
  require(k >= 1, "k must be >= 1");
  require(items.type() == LowpType::bf16, "items: expected packed bf16 items");
  require(queries.shape(1) == items.dim(), "queries: expected " + std::to_string(items.dim()) + " columns like items");
  const int64_t n = queries.shape(0), m = items.n_items();
  const float* b = optional_floats(item_bias, m, "item_bias");
  carray<int32_t> ids({n, static_cast<int64_t>(k)});
  carray<float> out({n, static_cast<int64_t>(k)});
  const uint16_t* q = queries.data();
  int32_t* pi = ids.mutable_data();
  float* ps = out.mutable_data();
  run_with_exclude(exclude, n, m, [&](auto view) { topk_bf16_packed(q, n, items, b, view, k, pi, ps, n_threads); });
  return py::make_tuple(ids, out);
}

}  // namespace

void bind_lowp(py::module_& m) {
  py::class_<LowpItems>(m, "LowpItems",
                        "int8 or bf16 items packed once into the kernels' panels (with sums, scales, bounds).")
      .def_property_readonly("n_items", &LowpItems::n_items)
      .def_property_readonly("dim", &LowpItems::dim)
      .def_property_readonly("dtype", [](const LowpItems& p) { return p.type() == LowpType::int8 ? "int8" : "bf16"; })
      .def_property_readonly("has_bias", &LowpItems::has_bias)
      .def_property_readonly("nbytes", &LowpItems::nbytes);
  m.def("pack_lowp_int8", &pack_int8_binding, py::arg("items").noconvert(), py::arg("item_scale").noconvert(),
        py::arg("item_bias").noconvert(), py::arg("n_threads"), "Pack int8 items (+ scales, optional bias) once.");
  m.def("pack_lowp_bf16", &pack_bf16_binding, py::arg("items").noconvert(), py::arg("item_bias").noconvert(),
        py::arg("n_threads"), "Pack bf16 items (uint16 bit patterns, optional bias) once.");
  m.def("topk_int8_packed", &topk_int8_packed_binding, py::arg("queries").noconvert(),
        py::arg("query_scale").noconvert(), py::arg("items"), py::arg("k"), py::arg("item_bias").noconvert(),
        py::arg("exclude"), py::arg("n_threads"),
        "topk_int8 on packed items; item_bias (when given) replaces the packed bias.");
  m.def("topk_int8_float_queries", &topk_int8_f32_binding, py::arg("queries").noconvert(), py::arg("items"),
        py::arg("k"), py::arg("item_bias").noconvert(), py::arg("exclude"), py::arg("n_threads"),
        "topk_int8_packed on float32 queries, quantized inside exactly like quantize_int8.");
  m.def("topk_bf16_packed", &topk_bf16_packed_binding, py::arg("queries").noconvert(), py::arg("items"), py::arg("k"),
        py::arg("item_bias").noconvert(), py::arg("exclude"), py::arg("n_threads"),
        "topk_bf16 on packed items; item_bias (when given) replaces the packed bias.");
  m.def("topk_int8", &topk_int8_binding, py::arg("queries").noconvert(), py::arg("query_scale").noconvert(),
        py::arg("items").noconvert(), py::arg("item_scale").noconvert(), py::arg("k"),
        py::arg("item_bias").noconvert(), py::arg("exclude"), py::arg("n_threads"),
        "Top-k of int8 queries x int8 items with integer accumulation; returns (ids int32, scores float32).");
  m.def("topk_bf16", &topk_bf16_binding, py::arg("queries").noconvert(), py::arg("items").noconvert(), py::arg("k"),
        py::arg("item_bias").noconvert(), py::arg("exclude"), py::arg("n_threads"),
        "Top-k of bf16 queries x bf16 items (uint16 bit patterns), float32 accumulation.");
  m.def("rerank_exact", &rerank_binding, py::arg("queries").noconvert(), py::arg("items").noconvert(),
        py::arg("item_bias").noconvert(), py::arg("candidates").noconvert(), py::arg("k"), py::arg("n_threads"),
        "Re-score candidate ids (n, k', -1 = none) in float32 and keep the best k of each row.");
  m.def(
      "lowp_peak_gops",
      [](const std::string& what, double seconds, int n_threads) {
        py::gil_scoped_release release;
        return lowp_peak_gops(what.c_str(), seconds, n_threads);
      },
      py::arg("what"), py::arg("seconds"), py::arg("n_threads"),
      "Measured peak GOP/s of vpdpbusd ('int8'), vdpbf16ps ('bf16') or vfmadd231ps ('fp32'); 0 if not run here.");
  m.def(
      "lowp_supported", [](const std::string& t) { return lowp_level_name(best_lowp_level(parse_type(t))); },
      py::arg("dtype"), "Highest low-precision level this CPU and build run for 'int8' or 'bf16'.");
  m.def(
      "lowp_active", [](const std::string& t) { return lowp_level_name(active_lowp_level(parse_type(t))); },
      py::arg("dtype"), "Low-precision level the 'int8' or 'bf16' kernels use now.");
  m.def("lowp_cap", [] { return lowp_level_name(lowp_level_cap()); }, "The low-precision level cap in force.");
  m.def(
      "set_lowp_cap", [](const std::string& level) { set_lowp_level_cap(parse_lowp_level(level.c_str())); },
      py::arg("level"), "Cap the low-precision level (scalar, avx512).");
}

}  // namespace turborec::bind
