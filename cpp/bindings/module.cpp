// The compiled module turborec._core: one bind_<feature> call per feature file.
#include "common.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "turborec's compiled kernels (private: use the turborec package)";
  turborec::bind::bind_config(m);
  turborec::bind::bind_topk(m);
  turborec::bind::bind_sparse(m);
  turborec::bind::bind_knn(m);
  turborec::bind::bind_mf(m);
  turborec::bind::bind_metrics(m);
  turborec::bind::bind_feature_mf(m);
  turborec::bind::bind_lowp(m);
}
