// Sparse kernels: transpose, fused sparse product + top-k, padded top-k rows to CSR.
#include <pybind11/stl.h>

#include "common.hpp"
#include "turborec/sparse.hpp"
#include "turborec/sparse_topk.hpp"

namespace turborec::bind {

namespace {

py::tuple csr_to_tuple(CsrMatrix&& m) {
  return py::make_tuple(to_numpy(std::move(m.indptr)), to_numpy(std::move(m.indices)), to_numpy(std::move(m.data)));
}

py::tuple transpose_binding(const py::tuple& a, int n_threads) {
  const CsrArrays arr = csr_arg(a, "matrix");
  require(arr.n_rows < INT32_MAX, "matrix: at most 2^31 - 1 rows can be transposed");
  return with_csr(arr, "matrix", [&](auto view) {
    CsrMatrix t;
    {
      py::gil_scoped_release release;
      t = transpose(view, n_threads);
    }
    return csr_to_tuple(std::move(t));
  });
}

ProductOperand make_operand(const py::tuple& y, const std::optional<carray<float>>& scale, int n_threads) {
  const CsrArrays arr = csr_arg(y, "Y");
  const float* sc = optional_floats(scale, arr.n_rows, "scale");
  return with_csr(arr, "Y", [&](auto view) {
    py::gil_scoped_release release;
    return prepare_operand(view, sc, n_threads);
  });
}

py::tuple sparse_topk_binding(const py::tuple& a, const ProductOperand& y, const std::optional<py::tuple>& exclude,
                              int k, bool jaccard, int min_support, float shrinkage, std::optional<float> threshold,
                              bool exclude_diagonal, const std::optional<carray<float>>& a_sizes,
                              const std::optional<carray<float>>& y_sizes,
                              const std::optional<carray<uint8_t>>& candidates, int n_threads) {
  const CsrArrays A = csr_arg(a, "A");
  std::optional<CsrArrays> E;
  if (exclude) E = csr_arg(*exclude, "exclude", false);
  require(k >= 1, "k must be >= 1");
  require(A.n_cols == y.b.n_rows, "A: its columns must match the candidates' columns");
  if (E) require(E->n_rows == A.n_rows && E->n_cols == y.n_y(), "exclude: shape must be (A rows, candidates)");
  SparseTopkOptions o;
  o.k = k;
  o.jaccard = jaccard;
  o.min_support = min_support;
  o.shrinkage = shrinkage;
  o.has_threshold = threshold.has_value();
  o.threshold = threshold.value_or(0.0f);
  o.exclude_diagonal = exclude_diagonal;
  o.a_sizes = optional_floats(a_sizes, A.n_rows, "a_sizes");
  o.y_sizes = optional_floats(y_sizes, y.n_y(), "y_sizes");
  if (candidates) {
    require(candidates->ndim() == 1 && candidates->shape(0) == y.n_y(), "candidates: expected one flag per candidate");
    o.candidates = candidates->data();
  }
  carray<int32_t> ids({A.n_rows, static_cast<int64_t>(k)});
  carray<float> scores({A.n_rows, static_cast<int64_t>(k)});
  int32_t* pi = ids.mutable_data();
  float* ps = scores.mutable_data();
  with_csr(A, "A", [&](auto av) {
    using Ptr = std::remove_const_t<std::remove_pointer_t<decltype(av.indptr)>>;
    if (!E) {
      py::gil_scoped_release release;
      sparse_product_topk<Ptr>(av, y, nullptr, o, pi, ps, n_threads);
      return;
    }
    with_csr(*E, "exclude", [&](auto ev) {
      if constexpr (!std::is_same_v<std::decay_t<decltype(av)>, std::decay_t<decltype(ev)>>) {
        throw py::type_error("A and exclude must have the same indptr dtype");
      } else {
        py::gil_scoped_release release;
        sparse_product_topk<Ptr>(av, y, &ev, o, pi, ps, n_threads);
      }
    });
  });
  return py::make_tuple(ids, scores);
}

py::tuple padded_to_csr_binding(const carray<int32_t>& ids, const carray<float>& scores, int64_t n_cols, int n_threads) {
  require(ids.ndim() == 2 && scores.ndim() == 2 && ids.shape(0) == scores.shape(0) && ids.shape(1) == scores.shape(1),
          "ids and scores must be 2-d arrays of the same shape");
  CsrMatrix m;
  {
    py::gil_scoped_release release;
    m = padded_topk_to_csr(ids.data(), scores.data(), ids.shape(0), static_cast<int>(ids.shape(1)), n_cols, n_threads);
  }
  return csr_to_tuple(std::move(m));
}

// (pattern, problem): pattern "canonical", "unsorted" or "invalid"; problem says what and where.
// A broken indptr length or end raises ValueError("<name>: ...") from with_csr.
py::tuple check_csr_binding(const py::tuple& a, const std::string& name, int n_threads) {
  const CsrArrays arr = csr_arg(a, name.c_str(), false);
  const int64_t stored = arr.indices.shape(0);
  CsrCheck c;
  with_csr(arr, name.c_str(), [&](auto view) {
    py::gil_scoped_release release;
    c = check_csr(view, stored, n_threads);
  });
  static const char* names[] = {"canonical", "unsorted", "invalid"};
  return py::make_tuple(names[static_cast<int>(c.pattern)], c.problem);
}

py::array_t<float> row_norms_binding(const py::tuple& a, int n_threads) {
  const CsrArrays arr = csr_arg(a, "matrix");
  return with_csr(arr, "matrix", [&](auto view) {
    std::vector<float> out;
    {
      py::gil_scoped_release release;
      out = row_norms(view, n_threads);
    }
    return to_numpy(std::move(out));
  });
}

py::array_t<float> scale_rows_binding(const py::tuple& a, const carray<float>& scale, int n_threads) {
  const CsrArrays arr = csr_arg(a, "matrix");
  require(scale.ndim() == 1 && scale.shape(0) == arr.n_rows, "scale: one value per row");
  return with_csr(arr, "matrix", [&](auto view) {
    std::vector<float> out;
    {
      py::gil_scoped_release release;
      out = scale_rows(view, scale.data(), n_threads);
    }
    return to_numpy(std::move(out));
  });
}

}  // namespace

void bind_sparse(py::module_& m) {
  m.def("check_csr", &check_csr_binding, py::arg("matrix"), py::arg("name"), py::arg("n_threads"),
        "The one CSR pattern check: ('canonical' | 'unsorted' | 'invalid', what is wrong and where).");
  m.def("csr_row_norms", &row_norms_binding, py::arg("matrix"), py::arg("n_threads"), "L2 norm of every row.");
  m.def("csr_scale_rows", &scale_rows_binding, py::arg("matrix"), py::arg("scale").noconvert(), py::arg("n_threads"),
        "The data of the matrix with each row multiplied by scale[row].");
  m.def("transpose", &transpose_binding, py::arg("matrix"), py::arg("n_threads"),
        "CSR transpose; matrix = (indptr, indices, data, n_rows, n_cols); returns (indptr int64, indices, data).");
  py::class_<ProductOperand>(m, "SparseOperand",
                             "Candidates prepared for sparse_topk: Y transposed and relabelled, reusable across calls.")
      .def(py::init(&make_operand), py::arg("y"), py::arg("scale").noconvert(), py::arg("n_threads"))
      .def_property_readonly("n_candidates", &ProductOperand::n_y)
      .def_property_readonly("n_features", [](const ProductOperand& op) { return op.b.n_rows; })
      .def_property_readonly("pattern_only", [](const ProductOperand& op) { return op.pattern_only; })
      .def_property_readonly("nbytes", [](const ProductOperand& op) {
        return op.b.indptr.size() * 8 + op.b.indices.size() * 4 + op.b.data.size() * 4 + op.to_new.size() * 8 +
               (op.scale.size() + op.scale_bound.size()) * 4;
      });
  m.def("sparse_topk", &sparse_topk_binding, py::arg("a"), py::arg("y"), py::arg("exclude"), py::arg("k"),
        py::arg("jaccard"), py::arg("min_support"), py::arg("shrinkage"), py::arg("threshold"),
        py::arg("exclude_diagonal"), py::arg("a_sizes").noconvert(), py::arg("y_sizes").noconvert(),
        py::arg("candidates").noconvert(), py::arg("n_threads"),
        "Top-k of each row of A (CSR tuple) against prepared candidates, without forming the product; returns padded (ids, scores).");
  m.def("padded_to_csr", &padded_to_csr_binding, py::arg("ids").noconvert(), py::arg("scores").noconvert(),
        py::arg("n_cols"), py::arg("n_threads"), "Padded top-k rows to canonical CSR arrays.");
}

}  // namespace turborec::bind
