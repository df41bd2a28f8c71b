// Shared by every kernel file of ember.kernels._cpu.
//
// Each kernel file defines `void register_<family>(py::module_&)` and registers it with
// EMBER_REGISTER_KERNELS(register_<family>); module.cpp calls every registered function, so adding a
// file to kernels/cpu/ is all it takes to add kernels (CMake globs the folder).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace ember {

using Registrar = void (*)(py::module_&);

// A function-local static, so registration from other files' static initialisers is safe.
inline std::vector<Registrar>& registrars() {
    static std::vector<Registrar> list;
    return list;
}

struct AddRegistrar {
    explicit AddRegistrar(Registrar r) { registrars().push_back(r); }
};

// Below this many elements of work, waking OpenMP threads costs more than it saves.
constexpr std::int64_t kParallelThreshold = 1 << 15;

// A C-contiguous array of T: pybind11 copies (and casts) only when the input is not one already.
template <typename T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// Call body.template operator()<T>() with T = float or double, from the dtype of `x`.
template <typename Body>
auto dispatch_float(const char* op, const py::array& x, Body&& body) {
    if (py::isinstance<py::array_t<float>>(x)) return body.template operator()<float>();
    if (py::isinstance<py::array_t<double>>(x)) return body.template operator()<double>();
    throw py::type_error(std::string(op) + ": expected a float32 or float64 array, got " +
                         std::string(py::str(x.dtype())));
}

}  // namespace ember

#define EMBER_CONCAT_INNER(a, b) a##b
#define EMBER_CONCAT(a, b) EMBER_CONCAT_INNER(a, b)
#define EMBER_REGISTER_KERNELS(function) \
    static ::ember::AddRegistrar EMBER_CONCAT(ember_registrar_, __LINE__)(function)
