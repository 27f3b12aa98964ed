// Matrix factorisation: the SGD grid, epochs, and prediction. The model's own arrays (factors,
// biases, accumulators) are updated in place; the Python layer owns and allocates them.
#include <pybind11/stl.h>

#include "common.hpp"
#include "turborec/mf_sgd.hpp"

namespace turborec::bind {

namespace {

template <class T>
T* rows_of(carray<T>& a, int64_t rows, int64_t cols, const char* name) {
  require(a.ndim() == 2 && a.shape(0) == rows && a.shape(1) == cols,
          std::string(name) + ": expected shape (" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
  require(a.writeable(), std::string(name) + ": must be writeable");
  return a.mutable_data();
}

struct StateArrays {
  carray<float> P, Q, user_meta, item_meta;
};

SgdState state_of(StateArrays& s, int factors, float mu) {
  require(s.P.ndim() == 2 && s.Q.ndim() == 2 && s.P.shape(1) == s.Q.shape(1), "P and Q must be 2-d with equal widths");
  const int64_t nu = s.P.shape(0), ni = s.Q.shape(0), dpad = s.P.shape(1);
  require(dpad % 16 == 0 && factors >= 1 && factors <= dpad, "factor rows must be padded to a multiple of 16");
  SgdState st{};
  st.P = rows_of(s.P, nu, dpad, "P");
  st.Q = rows_of(s.Q, ni, dpad, "Q");
  st.user_meta = rows_of(s.user_meta, nu, 4, "user_meta");
  st.item_meta = rows_of(s.item_meta, ni, 4, "item_meta");
  st.dpad = static_cast<int>(dpad);
  st.factors = factors;
  st.mu = mu;
  return st;
}

SgdGrid make_grid(const carray<int32_t>& users, const carray<int32_t>& items, const std::optional<carray<float>>& values,
                  int64_t n_users, int64_t n_items, int G, uint64_t seed, bool user_sorted) {
  require(users.ndim() == 1 && items.ndim() == 1 && users.shape(0) == items.shape(0), "users and items: same length");
  const float* v = optional_floats(values, users.shape(0), "values");
  const int32_t* u = users.data();
  const int32_t* i = items.data();
  const int64_t n = users.shape(0);
  py::gil_scoped_release release;
  return sgd_make_grid(u, i, v, n, n_users, n_items, G, seed, user_sorted);
}

SgdLoss parse_loss(const std::string& v) {
  if (v == "squared") return SgdLoss::squared;
  if (v == "bpr") return SgdLoss::bpr;
  throw py::value_error("loss must be 'squared' or 'bpr', got '" + v + "'");
}

SgdSchedule parse_schedule(const std::string& v) {
  if (v == "constant") return SgdSchedule::constant;
  if (v == "adagrad") return SgdSchedule::adagrad;
  if (v == "decay") return SgdSchedule::decay;
  throw py::value_error("lr_schedule must be 'constant', 'adagrad' or 'decay', got '" + v + "'");
}

double epoch_binding(const SgdGrid& grid, StateArrays arrays, int factors, float mu, const std::string& loss,
                     const std::string& schedule, float lr,
                     float reg, float reg_bias, float decay, bool biased, uint64_t seed,
                     const std::optional<carray<int64_t>>& pos_indptr, const std::optional<carray<int32_t>>& pos_indices,
                     int epoch, int n_threads) {
  SgdState st = state_of(arrays, factors, mu);
  require(arrays.P.shape(0) == static_cast<int64_t>(grid.user_group.size()) &&
              arrays.Q.shape(0) == static_cast<int64_t>(grid.item_group.size()),
          "the factor tables do not match the grid's users and items");
  SgdOptions o;
  o.loss = parse_loss(loss);
  o.schedule = parse_schedule(schedule);
  o.lr = lr;
  o.reg = reg;
  o.reg_bias = reg_bias;
  o.decay = decay;
  o.biased = biased;
  o.seed = seed;
  SgdPositives pos;
  if (pos_indptr && pos_indices) {
    require(pos_indptr->ndim() == 1 && pos_indptr->shape(0) == arrays.P.shape(0) + 1, "positives: one row per user");
    pos.indptr = pos_indptr->data();
    pos.indices = pos_indices->data();
  }
  require(o.loss == SgdLoss::squared || pos.indptr, "BPR needs the users' positive items");
  require(o.loss == SgdLoss::bpr || !grid.values.empty(), "squared loss needs rating values in the grid");
  py::gil_scoped_release release;
  return sgd_epoch(grid, st, o, pos, epoch, n_threads);
}

carray<float> predict_binding(StateArrays arrays, int factors, float mu, const carray<int32_t>& users,
                              const carray<int32_t>& items, bool biased, int n_threads) {
  SgdState st = state_of(arrays, factors, mu);
  require(users.ndim() == 1 && items.ndim() == 1 && users.shape(0) == items.shape(0), "users and items: same length");
  const int64_t n = users.shape(0);
  const int32_t* u = users.data();
  const int32_t* i = items.data();
  for (int64_t t = 0; t < n; ++t)
    require(u[t] >= 0 && u[t] < arrays.P.shape(0) && i[t] >= 0 && i[t] < arrays.Q.shape(0), "pair out of range");
  carray<float> out(n);
  float* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    mf_predict(st, u, i, n, biased, po, n_threads);
  }
  return out;
}

}  // namespace

void bind_mf(py::module_& m) {
  py::class_<StateArrays>(m, "SgdStateArrays", "The model arrays SGD updates in place (float32, C-contiguous): P, Q and the (n, 4) per-row [bias, accumulators] tables.")
      .def(py::init([](carray<float> P, carray<float> Q, carray<float> um, carray<float> im) {
             return StateArrays{P, Q, um, im};
           }),
           py::arg("P").noconvert(), py::arg("Q").noconvert(), py::arg("user_meta").noconvert(),
           py::arg("item_meta").noconvert());
  py::class_<SgdGrid>(m, "SgdGrid", "Ratings dealt into a G x G grid of blocks for lock-free parallel SGD.")
      .def(py::init(&make_grid), py::arg("users").noconvert(), py::arg("items").noconvert(),
           py::arg("values").noconvert(), py::arg("n_users"), py::arg("n_items"), py::arg("grid"), py::arg("seed"),
           py::arg("user_sorted") = true)
      .def_property_readonly("grid", [](const SgdGrid& g) { return g.G; })
      .def_property_readonly("n", [](const SgdGrid& g) { return static_cast<int64_t>(g.users.size()); })
      .def_property_readonly("entries", [](const SgdGrid& g) {  // (users, items, values) in visiting order
        return py::make_tuple(py::array_t<int32_t>(g.users.size(), g.users.data()),
                              py::array_t<int32_t>(g.items.size(), g.items.data()),
                              py::array_t<float>(g.values.size(), g.values.data()));
      })
      .def("strata", [](const SgdGrid& g, uint64_t seed, int epoch) { return sgd_strata_order(g.G, seed, epoch); },
           py::arg("seed"), py::arg("epoch"), "The column shifts of the strata, in the order an epoch runs them.")
      .def_property_readonly("user_group", [](const SgdGrid& g) { return py::array_t<int32_t>(g.user_group.size(), g.user_group.data()); })
      .def_property_readonly("item_group", [](const SgdGrid& g) { return py::array_t<int32_t>(g.item_group.size(), g.item_group.data()); })
      .def_property_readonly("block_sizes", [](const SgdGrid& g) {
        std::vector<int64_t> sizes(g.block_ptr.size() - 1);
        for (size_t b = 0; b + 1 < g.block_ptr.size(); ++b) sizes[b] = g.block_ptr[b + 1] - g.block_ptr[b];
        return sizes;
      });
  m.def("sgd_epoch", &epoch_binding, py::arg("grid"), py::arg("state"), py::arg("factors"), py::arg("mu"),
        py::arg("loss"), py::arg("schedule"), py::arg("lr"), py::arg("reg"), py::arg("reg_bias"), py::arg("decay"),
        py::arg("biased"), py::arg("seed"), py::arg("pos_indptr").noconvert(), py::arg("pos_indices").noconvert(),
        py::arg("epoch"), py::arg("n_threads"), "One SGD epoch over the grid; returns the summed loss.");
  m.def("mf_predict", &predict_binding, py::arg("state"), py::arg("factors"), py::arg("mu"), py::arg("users").noconvert(),
        py::arg("items").noconvert(), py::arg("biased"), py::arg("n_threads"), "mu + b_u + b_i + <p_u, q_i> per pair.");
}

}  // namespace turborec::bind
