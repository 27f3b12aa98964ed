#pragma once
// Helpers shared by the binding files: array checks and CSR views. Bindings are thin: the Python
// layer validates user input and converts it once; these checks only guard the C++ core's contract
// (dtype, contiguity, shapes) so a wrong call from Python can never crash the process.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "turborec/csr.hpp"

namespace turborec::bind {

namespace py = pybind11;

template <class T>
using carray = py::array_t<T, py::array::c_style>;  // registered with .noconvert(): no silent copies

inline void require(bool cond, const std::string& message) {
  if (!cond) throw py::value_error(message);
}

template <class T>
void check_ndim(const carray<T>& a, int ndim, const char* name) {
  require(a.ndim() == ndim, std::string(name) + ": expected " + std::to_string(ndim) + "-d array, got " +
                                std::to_string(a.ndim()) + "-d");
}

// A CSR matrix crossing the boundary as its three arrays plus a shape.
struct CsrArrays {
  py::array indptr;
  carray<int32_t> indices;
  std::optional<carray<float>> data;
  int64_t n_rows;
  int64_t n_cols;
};

// Calls f(CsrView<int32_t>) or f(CsrView<int64_t>) by the dtype of indptr, after checking shapes.
template <class F>
decltype(auto) with_csr(const CsrArrays& a, const char* name, F&& f) {
  const std::string n(name);
  require(a.indptr.ndim() == 1 && a.indptr.shape(0) == a.n_rows + 1,
          n + ": indptr must have n_rows + 1 = " + std::to_string(a.n_rows + 1) + " entries");
  require(a.indptr.flags() & py::array::c_style, n + ": indptr must be contiguous");
  require(a.indices.ndim() == 1, n + ": indices must be 1-d");
  if (a.data) require(a.data->ndim() == 1 && a.data->shape(0) == a.indices.shape(0), n + ": data and indices differ in length");
  auto make = [&](auto tag) {
    using Ptr = decltype(tag);
    CsrView<Ptr> v;
    v.n_rows = a.n_rows;
    v.n_cols = a.n_cols;
    v.indptr = static_cast<const Ptr*>(a.indptr.data());
    v.indices = a.indices.data();
    v.data = a.data ? a.data->data() : nullptr;
    require(static_cast<int64_t>(v.indptr[a.n_rows]) <= a.indices.shape(0),
            n + ": indptr[-1] exceeds the number of stored entries");
    return v;
  };
  if (py::isinstance<py::array_t<int32_t>>(a.indptr) && a.indptr.itemsize() == 4) return f(make(int32_t{}));
  if (py::isinstance<py::array_t<int64_t>>(a.indptr) && a.indptr.itemsize() == 8) return f(make(int64_t{}));
  throw py::type_error(n + ": indptr must be int32 or int64");
}

// A CSR matrix passed from Python as the tuple (indptr, indices, data or None, n_rows, n_cols) that
// turborec._sparse.csr_tuples builds; `values` = false ignores data (only the pattern matters).
inline CsrArrays csr_arg(const py::tuple& t, const char* name, bool values = true) {
  require(t.size() == 5, std::string(name) + ": expected (indptr, indices, data, n_rows, n_cols)");
  if (!py::isinstance<carray<int32_t>>(t[1])) throw py::type_error(std::string(name) + ": indices must be contiguous int32");
  std::optional<carray<float>> data;
  if (values) {
    if (!py::isinstance<carray<float>>(t[2])) throw py::type_error(std::string(name) + ": data must be contiguous float32");
    data = t[2].cast<carray<float>>();
  }
  return CsrArrays{t[0].cast<py::array>(), t[1].cast<carray<int32_t>>(), data, t[3].cast<int64_t>(), t[4].cast<int64_t>()};
}

// Runs kernel(view_or_null) with the GIL released, for either indptr width (or no exclusion): the
// exclusion pattern (n_rows x n_cols, csr_arg wire tuple, values ignored) the top-k kernels share.
template <class Kernel>
void run_with_exclude(const std::optional<py::tuple>& exclude, int64_t n_rows, int64_t n_cols, Kernel&& kernel) {
  if (!exclude) {
    py::gil_scoped_release release;
    kernel(static_cast<const CsrView<int32_t>*>(nullptr));
    return;
  }
  const CsrArrays ex = csr_arg(*exclude, "exclude", false);
  require(ex.n_rows == n_rows && ex.n_cols == n_cols,
          "exclude: expected shape (" + std::to_string(n_rows) + ", " + std::to_string(n_cols) + ")");
  with_csr(ex, "exclude", [&](auto view) {
    py::gil_scoped_release release;
    kernel(&view);
  });
}

// Hands a vector the core filled to numpy without copying: the array owns it through a capsule.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(owned->size())}, {sizeof(T)}, owned->data(), owner);
}

// Reads an optional float32 vector argument of the given length (None -> nullptr).
inline const float* optional_floats(const std::optional<carray<float>>& a, int64_t n, const char* name) {
  if (!a) return nullptr;
  require(a->ndim() == 1 && a->shape(0) == n, std::string(name) + ": expected shape (" + std::to_string(n) + ",)");
  return a->data();
}

void bind_config(py::module_& m);
void bind_topk(py::module_& m);
void bind_sparse(py::module_& m);
void bind_knn(py::module_& m);
void bind_mf(py::module_& m);
void bind_metrics(py::module_& m);
void bind_feature_mf(py::module_& m);
void bind_lowp(py::module_& m);

}  // namespace turborec::bind
