// ember.kernels._cpu: ember's C++ CPU kernels, one pybind11 module.
// Kernels take NumPy arrays and return NumPy arrays; nothing here knows about autograd.
#include "common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

void set_num_threads(int n) {
    if (n < 1) throw py::value_error("set_num_threads: expected a positive number of threads");
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int get_num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "ember's C++ CPU kernels (OpenMP)";
    m.def("set_num_threads", &set_num_threads, "Threads for ember's OpenMP kernels.", py::arg("n"));
    m.def("get_num_threads", &get_num_threads, "Threads ember's OpenMP kernels use.");
#ifdef _OPENMP
    m.attr("openmp") = true;
#else
    m.attr("openmp") = false;
#endif
    for (auto registrar : ember::registrars()) registrar(m);
}
