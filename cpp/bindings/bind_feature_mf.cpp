// The feature-aware factorisation: epochs and materialised vectors. The Python layer owns and
// allocates the embedding tables; they are updated in place.
#include <pybind11/stl.h>

#include "common.hpp"
#include "turborec/feature_mf.hpp"

namespace turborec::bind {

namespace {

struct FeatureCsr {
  carray<int64_t> indptr;
  carray<int32_t> indices;
  carray<float> data;
  int64_t n_cols;
};

FeatureRows rows_of(const FeatureCsr& m, const char* name) {
  const std::string n(name);
  require(m.indptr.ndim() == 1 && m.indptr.shape(0) >= 1, n + ": indptr must be 1-d");
  require(m.indices.ndim() == 1 && m.data.ndim() == 1 && m.indices.shape(0) == m.data.shape(0),
          n + ": indices and data must be 1-d of equal length");
  const int64_t rows = m.indptr.shape(0) - 1;
  const int64_t* p = m.indptr.data();
  require(p[0] == 0 && p[rows] == m.indices.shape(0), n + ": indptr must run from 0 to nnz");
  // Messages are built only on failure: these loops run over every entry.
  for (int64_t r = 0; r < rows; ++r)
    if (p[r] > p[r + 1]) require(false, n + ": indptr must not decrease");
  const int32_t* idx = m.indices.data();
  const int64_t nnz = m.indices.shape(0);
  for (int64_t t = 0; t < nnz; ++t)
    if (idx[t] < 0 || idx[t] >= m.n_cols) require(false, n + ": column out of range");
  return FeatureRows{p, idx, m.data.data(), rows, m.n_cols};
}

float* table(carray<float>& a, int64_t rows, int64_t cols, const std::string& name) {
  require(a.ndim() == 2 && a.shape(0) == rows && a.shape(1) == cols,
          name + ": expected shape (" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
  require(a.writeable(), name + ": must be writeable");
  return a.mutable_data();
}

FeatureMfLoss parse_loss(const std::string& v) {
  if (v == "squared") return FeatureMfLoss::squared;
  if (v == "bpr") return FeatureMfLoss::bpr;
  if (v == "warp") return FeatureMfLoss::warp;
  throw py::value_error("loss must be 'squared', 'bpr' or 'warp', got '" + v + "'");
}

float* vec(carray<float>& a, int64_t n, const std::string& name) {
  require(a.ndim() == 1 && a.shape(0) == n, name + ": expected " + std::to_string(n) + " entries");
  require(a.writeable(), name + ": must be writeable");
  return a.mutable_data();
}

double epoch_binding(const FeatureCsr& user_features, const FeatureCsr& item_features, const carray<int32_t>& users,
                     const carray<int32_t>& items, const std::optional<carray<float>>& values,
                     const carray<int64_t>& order, const std::optional<carray<int64_t>>& pos_indptr,
                     const std::optional<carray<int32_t>>& pos_indices, const std::optional<carray<int32_t>>& pool,
                     carray<float> user_emb, carray<float> item_emb, carray<float> user_bias, carray<float> item_bias,
                     carray<float> user_acc, carray<float> item_acc, int factors, float mu, const std::string& loss, float lr,
                     float reg, float reg_bias, bool adagrad, bool biased, int max_sampled, uint64_t seed, int epoch,
                     int n_threads, int64_t refresh, int64_t shared_item_features) {
  const FeatureRows U = rows_of(user_features, "user_features");
  const FeatureRows I = rows_of(item_features, "item_features");
  require(user_emb.ndim() == 2 && item_emb.ndim() == 2 && user_emb.shape(1) == item_emb.shape(1),
          "embedding tables must be 2-d with equal widths");
  const int64_t dpad = user_emb.shape(1);
  require(dpad % 16 == 0 && factors >= 1 && factors <= dpad, "embedding rows must be padded to a multiple of 16");
  FeatureMfState st{};
  st.user_emb = table(user_emb, U.n_cols, dpad, "user_emb");
  st.item_emb = table(item_emb, I.n_cols, dpad, "item_emb");
  st.user_bias = vec(user_bias, U.n_cols, "user_bias");
  st.item_bias = vec(item_bias, I.n_cols, "item_bias");
  st.user_acc = table(user_acc, U.n_cols, 2, "user_acc");
  st.item_acc = table(item_acc, I.n_cols, 2, "item_acc");
  st.dpad = static_cast<int>(dpad);
  st.factors = factors;
  st.mu = mu;
  require(users.ndim() == 1 && items.ndim() == 1 && users.shape(0) == items.shape(0), "users and items: same length");
  const int64_t n_samples = users.shape(0);
  const int32_t* u = users.data();
  const int32_t* i = items.data();
  for (int64_t t = 0; t < n_samples; ++t)
    if (u[t] < 0 || u[t] >= U.n_rows || i[t] < 0 || i[t] >= I.n_rows)
      require(false, "sample " + std::to_string(t) + " out of range");
  require(order.ndim() == 1, "order must be 1-d");
  const int64_t* ord = order.data();
  const int64_t n_order = order.shape(0);
  for (int64_t s = 0; s < n_order; ++s)
    if (ord[s] < 0 || ord[s] >= n_samples) require(false, "order out of range");
  const float* v = optional_floats(values, n_samples, "values");
  FeatureMfOptions o;
  o.loss = parse_loss(loss);
  o.lr = lr;
  o.reg = reg;
  o.reg_bias = reg_bias;
  o.adagrad = adagrad;
  o.biased = biased;
  o.max_sampled = max_sampled;
  o.seed = seed;
  require(refresh >= 0, "refresh must be >= 0");
  o.refresh = refresh;
  require(shared_item_features >= 0 && shared_item_features <= I.n_cols,
          "shared_item_features must be in [0, item feature columns]");
  o.shared_item_features = static_cast<int32_t>(shared_item_features);
  FeatureMfSampling s;
  if (o.loss != FeatureMfLoss::squared) {
    require(pos_indptr && pos_indices && pool, "ranking losses need positives and a negative pool");
    require(pos_indptr->ndim() == 1 && pos_indptr->shape(0) == U.n_rows + 1, "positives: one row per user");
    require(pos_indices->ndim() == 1 && pos_indptr->data()[U.n_rows] == pos_indices->shape(0), "positives: bad indptr");
    const int32_t* pl = pool->data();
    const int64_t n_pool = pool->shape(0);
    for (int64_t t = 0; t < n_pool; ++t)
      if (pl[t] < 0 || pl[t] >= I.n_rows) require(false, "pool: item out of range");
    require(pool->shape(0) >= 1, "the negative pool is empty");
    s.pos_indptr = pos_indptr->data();
    s.pos_indices = pos_indices->data();
    s.pool = pool->data();
    s.pool_size = pool->shape(0);
  }
  require(v != nullptr || o.loss != FeatureMfLoss::squared, "squared loss needs values");
  const int64_t n = order.shape(0);
  py::gil_scoped_release release;
  return feature_mf_epoch(U, I, u, i, v, ord, n, s, st, o, epoch, n_threads);
}

py::tuple materialise_binding(const FeatureCsr& m, const carray<float>& emb, const carray<float>& bias, int n_threads) {
  const FeatureRows M = rows_of(m, "features");
  require(emb.ndim() == 2 && emb.shape(0) == M.n_cols && emb.shape(1) % 16 == 0, "emb: (n_features, dpad) expected");
  require(bias.ndim() == 1 && bias.shape(0) == M.n_cols, "bias: one per feature");
  const int dpad = static_cast<int>(emb.shape(1));
  carray<float> rows({M.n_rows, static_cast<int64_t>(dpad)});
  carray<float> b(M.n_rows);
  float* pr = rows.mutable_data();
  float* pb = b.mutable_data();
  const float* e = emb.data();
  const float* eb = bias.data();
  {
    py::gil_scoped_release release;
    feature_mf_materialise(M, e, eb, dpad, pr, pb, n_threads);
  }
  return py::make_tuple(rows, b);
}

}  // namespace

void bind_feature_mf(py::module_& m) {
  py::class_<FeatureCsr>(m, "FeatureCsr",
                         "A rows x features CSR for the feature-aware factorisation, from the CSR wire tuple "
                         "(int64 indptr, int32 indices, float32 data, n_rows, n_cols); the arrays are kept alive.")
      .def(py::init([](const py::tuple& wire) {
             const CsrArrays a = csr_arg(wire, "features");
             if (!py::isinstance<carray<int64_t>>(a.indptr) || a.indptr.itemsize() != 8)
               throw py::type_error("features: indptr must be contiguous int64");
             require(a.indptr.ndim() == 1 && a.indptr.shape(0) == a.n_rows + 1, "features: indptr must have n_rows + 1 entries");
             return FeatureCsr{a.indptr.cast<carray<int64_t>>(), a.indices, *a.data, a.n_cols};
           }),
           py::arg("wire"));
  m.def("feature_mf_epoch", &epoch_binding, py::arg("user_features"), py::arg("item_features"),
        py::arg("users").noconvert(), py::arg("items").noconvert(), py::arg("values").noconvert(),
        py::arg("order").noconvert(), py::arg("pos_indptr").noconvert(), py::arg("pos_indices").noconvert(),
        py::arg("pool").noconvert(), py::arg("user_emb").noconvert(), py::arg("item_emb").noconvert(),
        py::arg("user_bias").noconvert(), py::arg("item_bias").noconvert(), py::arg("user_acc").noconvert(),
        py::arg("item_acc").noconvert(), py::arg("factors"), py::arg("mu"), py::arg("loss"), py::arg("lr"),
        py::arg("reg"), py::arg("reg_bias"), py::arg("adagrad"), py::arg("biased"), py::arg("max_sampled"),
        py::arg("seed"), py::arg("epoch"), py::arg("n_threads"), py::arg("refresh") = 0,
        py::arg("shared_item_features") = 0,
        "One lock-free parallel SGD epoch of the feature-aware factorisation; returns the summed loss.");
  m.def("feature_mf_stream", &feature_mf_stream, py::arg("seed"), py::arg("epoch"), py::arg("chunk"),
        "Seed of the negative-sampling stream of one chunk of one epoch (splitmix64).");
  m.def("feature_mf_materialise", &materialise_binding, py::arg("features"), py::arg("emb").noconvert(),
        py::arg("bias").noconvert(), py::arg("n_threads"), "(features @ emb, features @ bias).");
}

}  // namespace turborec::bind
