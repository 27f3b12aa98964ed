// Neighbourhood rating prediction.
#include <pybind11/stl.h>

#include "common.hpp"
#include "turborec/knn.hpp"

namespace turborec::bind {

namespace {

KnnVariant parse_variant(const std::string& v) {
  if (v == "basic") return KnnVariant::basic;
  if (v == "mean") return KnnVariant::mean;
  if (v == "baseline") return KnnVariant::baseline;
  throw py::value_error("variant must be 'basic', 'mean' or 'baseline', got '" + v + "'");
}

py::tuple knn_predict_binding(const py::tuple& similarity, const py::tuple& ratings, const carray<int32_t>& targets,
                              const carray<int32_t>& others, int k, int min_k, const std::string& variant,
                              const std::optional<carray<float>>& target_mean, float global_mean,
                              const carray<float>& target_bias, const carray<float>& other_bias, int n_threads) {
  const CsrArrays S = csr_arg(similarity, "similarity"), M = csr_arg(ratings, "ratings");
  require(targets.ndim() == 1 && others.ndim() == 1 && targets.shape(0) == others.shape(0),
          "targets and others must be 1-d arrays of the same length");
  KnnPredictOptions o;
  o.k = k;
  o.min_k = min_k;
  o.variant = parse_variant(variant);
  o.target_mean = optional_floats(target_mean, S.n_rows, "target_mean");
  o.global_mean = global_mean;
  require(target_bias.ndim() == 1 && target_bias.shape(0) == S.n_rows, "target_bias: one per target");
  require(other_bias.ndim() == 1 && other_bias.shape(0) == M.n_rows, "other_bias: one per row of ratings");
  o.target_bias = target_bias.data();
  o.other_bias = other_bias.data();
  const int64_t n = targets.shape(0);
  carray<float> out(n);
  carray<int32_t> used(n);
  float* po = out.mutable_data();
  int32_t* pu = used.mutable_data();
  with_csr(S, "similarity", [&](auto sv) {
    with_csr(M, "ratings", [&](auto mv) {
      py::gil_scoped_release release;
      knn_predict(sv, mv, targets.data(), others.data(), n, o, po, pu, n_threads);
    });
  });
  return py::make_tuple(out, used);
}

py::tuple als_baselines_binding(const py::tuple& ratings, float reg_user, float reg_item, int epochs) {
  const CsrArrays R = csr_arg(ratings, "ratings");
  require(epochs >= 0, "epochs must be >= 0");
  carray<float> bu(R.n_rows), bi(R.n_cols);
  float mu = 0.0f;
  float* pu = bu.mutable_data();
  float* pi = bi.mutable_data();
  with_csr(R, "ratings", [&](auto view) {
    py::gil_scoped_release release;
    als_baselines(view, reg_user, reg_item, epochs, &mu, pu, pi);
  });
  return py::make_tuple(mu, bu, bi);
}

}  // namespace

void bind_knn(py::module_& m) {
  m.def("als_baselines", &als_baselines_binding, py::arg("ratings"), py::arg("reg_user"), py::arg("reg_item"),
        py::arg("epochs"), "Baselines (mu, b_user, b_item) by alternating least squares.");
  m.def("knn_predict", &knn_predict_binding, py::arg("similarity"), py::arg("ratings"), py::arg("targets").noconvert(),
        py::arg("others").noconvert(), py::arg("k"), py::arg("min_k"), py::arg("variant"),
        py::arg("target_mean").noconvert(), py::arg("global_mean"), py::arg("target_bias").noconvert(),
        py::arg("other_bias").noconvert(), py::arg("n_threads"),
        "Neighbourhood rating prediction for (target, other) pairs; returns (predictions, neighbours used).");
}

}  // namespace turborec::bind
