// turborec._core.ranking_metrics: per-user ranking metrics of top-k lists; the GIL is released for the kernel.
#include <pybind11/stl.h>

#include "common.hpp"
#include "turborec/metrics.hpp"

namespace turborec::bind {

namespace {

Gain parse_gain(const std::string& gain) {
  if (gain == "binary") return Gain::kBinary;
  if (gain == "linear") return Gain::kLinear;
  if (gain == "exponential") return Gain::kExponential;
  throw py::value_error("gain must be 'binary', 'linear' or 'exponential', got '" + gain + "'");
}

// Allocates one (n_users,) array per requested metric, runs the kernel without the GIL, returns {name: array}.
template <class T>
py::dict run_metrics(const carray<int32_t>& recommended, int k, int64_t n_items, const CsrArrays& rel,
                     const std::optional<CsrArrays>& ex, Gain gain, const std::vector<std::string>& metrics,
                     int n_threads) {
  const int64_t n_users = recommended.shape(0), width = recommended.shape(1);
  py::dict result;
  RankingOutputs<T> out;
  for (const std::string& name : metrics) {
    carray<T> a({n_users});
    T* p = a.mutable_data();
    if (name == "precision") out.precision = p;
    else if (name == "recall") out.recall = p;
    else if (name == "ndcg") out.ndcg = p;
    else if (name == "map") out.average_precision = p;
    else if (name == "hit_rate") out.hit_rate = p;
    else if (name == "mrr") out.reciprocal_rank = p;
    else if (name == "auc") out.auc = p;
    else throw py::value_error("unknown ranking metric '" + name + "'");
    result[py::str(name)] = a;
  }
  const int32_t* ids = recommended.data();
  with_csr(rel, "relevant", [&](auto rv) {
    using Ptr = std::remove_const_t<std::remove_pointer_t<decltype(rv.indptr)>>;
    if (!ex) {
      py::gil_scoped_release release;
      ranking_metrics<Ptr, T>(ids, n_users, width, k, n_items, rv, gain, nullptr, out, n_threads);
      return;
    }
    with_csr(*ex, "exclude", [&](auto ev) {
      if constexpr (!std::is_same_v<std::decay_t<decltype(rv)>, std::decay_t<decltype(ev)>>) {
        throw py::type_error("relevant and exclude must have the same indptr dtype");
      } else {
        py::gil_scoped_release release;
        ranking_metrics<Ptr, T>(ids, n_users, width, k, n_items, rv, gain, &ev, out, n_threads);
      }
    });
  });
  return result;
}

py::dict ranking_metrics_binding(const carray<int32_t>& recommended, int k, const py::tuple& relevant,
                                 const std::optional<py::tuple>& exclude, int64_t n_items, const std::string& gain,
                                 const std::vector<std::string>& metrics, const py::dtype& dtype, int n_threads) {
  check_ndim(recommended, 2, "recommended");
  const Gain g = parse_gain(gain);
  const CsrArrays rel = csr_arg(relevant, "relevant", g != Gain::kBinary);
  std::optional<CsrArrays> ex;
  if (exclude) ex = csr_arg(*exclude, "exclude", false);
  require(k >= 1 && k <= recommended.shape(1), "k must be in [1, recommended.shape[1]]");
  require(n_items >= 0 && n_items < INT32_MAX, "n_items must be in [0, 2^31 - 1)");
  if (dtype.kind() == 'f' && dtype.itemsize() == 8) return run_metrics<double>(recommended, k, n_items, rel, ex, g, metrics, n_threads);
  if (dtype.kind() == 'f' && dtype.itemsize() == 4) return run_metrics<float>(recommended, k, n_items, rel, ex, g, metrics, n_threads);
  throw py::type_error("dtype must be float32 or float64");
}

}  // namespace

void bind_metrics(py::module_& m) {
  m.def("ranking_metrics", &ranking_metrics_binding, py::arg("recommended").noconvert(), py::arg("k"),
        py::arg("relevant"), py::arg("exclude"), py::arg("n_items"), py::arg("gain"), py::arg("metrics"),
        py::arg("dtype"), py::arg("n_threads"),
        "Per-user ranking metrics of top-k lists (recommended int32 (n, width), CSR tuples for relevant and "
        "exclude); returns {name: array (n,)} for the requested names among precision, recall, ndcg, map, "
        "hit_rate, mrr, auc.");
}

}  // namespace turborec::bind
