// ember.kernels._cpu: ember's C++ CPU kernels, one pybind11 module.
// Kernels take NumPy arrays and return NumPy arrays; nothing here knows about autograd.
#include <pybind11/pybind11.h>
#include <pybind11/numpy.h>

namespace py = pybind11;

void register_elementwise(py::module_& m);

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "ember's C++ CPU kernels (OpenMP)";
    register_elementwise(m);
}
