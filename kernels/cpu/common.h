// Shared by every kernel file of ember.kernels._cpu.
//
// Each kernel file defines `void register_<family>(py::module_&)` and registers it with
// EMBER_REGISTER_KERNELS(register_<family>); module.cpp calls every registered function, so adding a
// file to kernels/cpu/ is all it takes to add kernels (CMake globs the folder).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#ifdef _OPENMP
#include <omp.h>
#endif

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

// Run body(begin, end) over [0, n) in one contiguous chunk per OpenMP thread, or in one call when
// n is below `threshold`. Keeping the loop inside `body` a plain counted loop over __restrict
// pointers lets the compiler vectorise it, which `omp parallel for simd` over a loop with branches
// did not do here.
template <typename Body>
void parallel_chunks(std::int64_t n, std::int64_t threshold, Body&& body) {
    if (n <= threshold) {
        body(std::int64_t{0}, n);
        return;
    }
#pragma omp parallel
    {
#ifdef _OPENMP
        const std::int64_t threads = omp_get_num_threads(), id = omp_get_thread_num();
#else
        const std::int64_t threads = 1, id = 0;
#endif
        const std::int64_t chunk = (n + threads - 1) / threads;
        const std::int64_t begin = std::min(n, id * chunk), end = std::min(n, begin + chunk);
        if (begin < end) body(begin, end);
    }
}

// Call f(std::true_type{}) or f(std::false_type{}): a runtime option becomes a template parameter
// (`decltype(flag)::value`), so the loop compiled for each value has no branch on it left.
template <typename F>
decltype(auto) with_flag(bool flag, F&& f) {
    return flag ? f(std::true_type{}) : f(std::false_type{});
}

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
