// Fused LSTM and GRU cell updates: the gate nonlinearities and state update of one time step in one
// pass over the gates (NumPy needs a dozen passes and temporaries). The products with the weights
// stay in NumPy's BLAS, in the Python glue.
#include <string>
#include <utility>

#include "common.h"
#include "vector_math.h"

namespace {

using ember::carray;
namespace vm = ember::vmath;

// Rows are independent: split them over threads only when the step is big enough to pay for it.
inline bool parallel_rows(std::int64_t rows, std::int64_t row_work) {
    return rows * row_work > ember::kParallelThreshold;
}

// Kernels trust the engine's shapes, but a wrong one must raise, not read out of bounds.
void check_shape(const char* op, const char* name, const py::array& a, std::int64_t rows, std::int64_t cols) {
    if (a.ndim() != 2 || a.shape(0) != rows || a.shape(1) != cols) {
        throw py::value_error(std::string(op) + ": expected " + name + " of shape (" + std::to_string(rows) +
                              ", " + std::to_string(cols) + "), got " + std::string(py::str(a.attr("shape"))));
    }
}

// (N, H) from a state array, which must be 2-D.
std::pair<std::int64_t, std::int64_t> state_shape(const char* op, const char* name, const py::array& a) {
    if (a.ndim() != 2) {
        throw py::value_error(std::string(op) + ": expected " + name + " to be 2-D (N, H), got shape " +
                              std::string(py::str(a.attr("shape"))));
    }
    return {a.shape(0), a.shape(1)};
}

// ---- LSTM ----------------------------------------------------------------------------------------

template <typename T>
py::tuple lstm_forward_kernel(const py::array& gates_in, const py::array& c_prev_in) {
    carray<T> gates(gates_in), c_prev(c_prev_in);
    const std::int64_t n = c_prev.shape(0), h = c_prev.shape(1);
    py::array_t<T> hc({std::int64_t(2), n, h}), acts({n, 4 * h}), tanh_c({n, h});
    const T* g = gates.data();
    const T* cp = c_prev.data();
    T* h_out = hc.mutable_data();
    T* c_out = h_out + n * h;
    T* a = acts.mutable_data();
    T* tc = tanh_c.mutable_data();
    {
        py::gil_scoped_release release;
#pragma omp parallel for if (parallel_rows(n, h))
        for (std::int64_t row = 0; row < n; ++row) {
            const T* __restrict gi = g + row * 4 * h;
            const T* __restrict cpr = cp + row * h;
            T* __restrict ar = a + row * 4 * h;
            T* __restrict hr = h_out + row * h;
            T* __restrict cr = c_out + row * h;
            T* __restrict tcr = tc + row * h;
#pragma omp simd
            for (std::int64_t j = 0; j < h; ++j) {
                const T i = vm::sigmoid(gi[j]), f = vm::sigmoid(gi[h + j]);
                const T cell = vm::tanh(gi[2 * h + j]), o = vm::sigmoid(gi[3 * h + j]);
                const T c = f * cpr[j] + i * cell;
                const T t = vm::tanh(c);
                ar[j] = i;
                ar[h + j] = f;
                ar[2 * h + j] = cell;
                ar[3 * h + j] = o;
                cr[j] = c;
                tcr[j] = t;
                hr[j] = o * t;
            }
        }
    }
    return py::make_tuple(hc, acts, tanh_c);
}

py::tuple lstm_cell_forward(const py::array& gates, const py::array& c_prev) {
    const auto [n, h] = state_shape("lstm_cell_forward", "c_prev", c_prev);
    check_shape("lstm_cell_forward", "gates", gates, n, 4 * h);
    return ember::dispatch_float("lstm_cell_forward", gates,
                                 [&]<typename T>() { return lstm_forward_kernel<T>(gates, c_prev); });
}

template <typename T>
py::tuple lstm_backward_kernel(const py::array& grad_h_in, const py::array& grad_c_in,
                               const py::array& acts_in, const py::array& tanh_c_in,
                               const py::array& c_prev_in) {
    carray<T> grad_h(grad_h_in), grad_c(grad_c_in), acts(acts_in), tanh_c(tanh_c_in), c_prev(c_prev_in);
    const std::int64_t n = c_prev.shape(0), h = c_prev.shape(1);
    py::array_t<T> grad_gates({n, 4 * h}), grad_c_prev({n, h});
    const T *gh = grad_h.data(), *gc = grad_c.data(), *a = acts.data(), *tc = tanh_c.data(),
            *cp = c_prev.data();
    T* gg = grad_gates.mutable_data();
    T* gcp = grad_c_prev.mutable_data();
    {
        py::gil_scoped_release release;
#pragma omp parallel for if (parallel_rows(n, h))
        for (std::int64_t row = 0; row < n; ++row) {
            const T* __restrict ghr = gh + row * h;
            const T* __restrict gcr = gc + row * h;
            const T* __restrict ar = a + row * 4 * h;
            const T* __restrict tcr = tc + row * h;
            const T* __restrict cpr = cp + row * h;
            T* __restrict ggr = gg + row * 4 * h;
            T* __restrict gcpr = gcp + row * h;
#pragma omp simd
            for (std::int64_t j = 0; j < h; ++j) {
                const T i = ar[j], f = ar[h + j], cell = ar[2 * h + j], o = ar[3 * h + j];
                const T t = tcr[j];
                // c' reaches the loss directly and through h' = o tanh(c')
                const T dc = gcr[j] + ghr[j] * o * (T(1) - t * t);
                ggr[j] = dc * cell * i * (T(1) - i);
                ggr[h + j] = dc * cpr[j] * f * (T(1) - f);
                ggr[2 * h + j] = dc * i * (T(1) - cell * cell);
                ggr[3 * h + j] = ghr[j] * t * o * (T(1) - o);
                gcpr[j] = dc * f;
            }
        }
    }
    return py::make_tuple(grad_gates, grad_c_prev);
}

py::tuple lstm_cell_backward(const py::array& grad_h, const py::array& grad_c, const py::array& acts,
                             const py::array& tanh_c, const py::array& c_prev) {
    const char* op = "lstm_cell_backward";
    const auto [n, h] = state_shape(op, "c_prev", c_prev);
    check_shape(op, "grad_h", grad_h, n, h);
    check_shape(op, "grad_c", grad_c, n, h);
    check_shape(op, "acts", acts, n, 4 * h);
    check_shape(op, "tanh_c", tanh_c, n, h);
    return ember::dispatch_float("lstm_cell_backward", acts, [&]<typename T>() {
        return lstm_backward_kernel<T>(grad_h, grad_c, acts, tanh_c, c_prev);
    });
}

// ---- GRU -----------------------------------------------------------------------------------------

template <typename T>
py::tuple gru_forward_kernel(const py::array& projected_in, const py::array& hidden_gates_in,
                             const py::array& h_prev_in) {
    carray<T> projected(projected_in), hidden_gates(hidden_gates_in), h_prev(h_prev_in);
    const std::int64_t n = h_prev.shape(0), h = h_prev.shape(1);
    py::array_t<T> h_new({n, h}), acts({n, 3 * h});
    const T *p = projected.data(), *hg = hidden_gates.data(), *hp = h_prev.data();
    T* hn = h_new.mutable_data();
    T* a = acts.mutable_data();
    {
        py::gil_scoped_release release;
#pragma omp parallel for if (parallel_rows(n, h))
        for (std::int64_t row = 0; row < n; ++row) {
            const T* __restrict pr = p + row * 3 * h;
            const T* __restrict hgr = hg + row * 3 * h;
            const T* __restrict hpr = hp + row * h;
            T* __restrict hnr = hn + row * h;
            T* __restrict ar = a + row * 3 * h;
#pragma omp simd
            for (std::int64_t j = 0; j < h; ++j) {
                const T r = vm::sigmoid(pr[j] + hgr[j]), z = vm::sigmoid(pr[h + j] + hgr[h + j]);
                const T candidate = vm::tanh(pr[2 * h + j] + r * hgr[2 * h + j]);
                ar[j] = r;
                ar[h + j] = z;
                ar[2 * h + j] = candidate;
                hnr[j] = candidate + z * (hpr[j] - candidate);  // (1 - z) n + z h
            }
        }
    }
    return py::make_tuple(h_new, acts);
}

py::tuple gru_cell_forward(const py::array& projected, const py::array& hidden_gates, const py::array& h_prev) {
    const auto [n, h] = state_shape("gru_cell_forward", "h_prev", h_prev);
    check_shape("gru_cell_forward", "projected", projected, n, 3 * h);
    check_shape("gru_cell_forward", "hidden_gates", hidden_gates, n, 3 * h);
    return ember::dispatch_float("gru_cell_forward", projected, [&]<typename T>() {
        return gru_forward_kernel<T>(projected, hidden_gates, h_prev);
    });
}

template <typename T>
py::tuple gru_backward_kernel(const py::array& grad_h_in, const py::array& acts_in,
                              const py::array& hidden_gates_in, const py::array& h_prev_in) {
    carray<T> grad_h(grad_h_in), acts(acts_in), hidden_gates(hidden_gates_in), h_prev(h_prev_in);
    const std::int64_t n = h_prev.shape(0), h = h_prev.shape(1);
    py::array_t<T> grad_projected({n, 3 * h}), grad_hidden_gates({n, 3 * h}), grad_h_direct({n, h});
    const T *gh = grad_h.data(), *a = acts.data(), *hg = hidden_gates.data(), *hp = h_prev.data();
    T* gp = grad_projected.mutable_data();
    T* ghg = grad_hidden_gates.mutable_data();
    T* ghd = grad_h_direct.mutable_data();
    {
        py::gil_scoped_release release;
#pragma omp parallel for if (parallel_rows(n, h))
        for (std::int64_t row = 0; row < n; ++row) {
            const T* __restrict ghr = gh + row * h;
            const T* __restrict ar = a + row * 3 * h;
            const T* __restrict hgr = hg + row * 3 * h;
            const T* __restrict hpr = hp + row * h;
            T* __restrict gpr = gp + row * 3 * h;
            T* __restrict ghgr = ghg + row * 3 * h;
            T* __restrict ghdr = ghd + row * h;
#pragma omp simd
            for (std::int64_t j = 0; j < h; ++j) {
                const T r = ar[j], z = ar[h + j], candidate = ar[2 * h + j], g = ghr[j];
                const T grad_n = g * (T(1) - z) * (T(1) - candidate * candidate);
                const T grad_r = grad_n * hgr[2 * h + j] * r * (T(1) - r);
                const T grad_z = g * (hpr[j] - candidate) * z * (T(1) - z);
                gpr[j] = ghgr[j] = grad_r;
                gpr[h + j] = ghgr[h + j] = grad_z;
                gpr[2 * h + j] = grad_n;
                ghgr[2 * h + j] = grad_n * r;  // n's hidden share is scaled by r
                ghdr[j] = g * z;
            }
        }
    }
    return py::make_tuple(grad_projected, grad_hidden_gates, grad_h_direct);
}

py::tuple gru_cell_backward(const py::array& grad_h, const py::array& acts, const py::array& hidden_gates,
                            const py::array& h_prev) {
    const char* op = "gru_cell_backward";
    const auto [n, h] = state_shape(op, "h_prev", h_prev);
    check_shape(op, "grad_h", grad_h, n, h);
    check_shape(op, "acts", acts, n, 3 * h);
    check_shape(op, "hidden_gates", hidden_gates, n, 3 * h);
    return ember::dispatch_float("gru_cell_backward", acts, [&]<typename T>() {
        return gru_backward_kernel<T>(grad_h, acts, hidden_gates, h_prev);
    });
}

void register_recurrent(py::module_& m) {
    m.def("lstm_cell_forward", &lstm_cell_forward,
          "LSTM step from gates (N,4H) and c_prev (N,H): (hc (2,N,H), activated gates (N,4H), tanh(c) (N,H)).",
          py::arg("gates"), py::arg("c_prev"));
    m.def("lstm_cell_backward", &lstm_cell_backward,
          "LSTM step gradients: (grad_gates (N,4H), grad_c_prev (N,H)).", py::arg("grad_h"),
          py::arg("grad_c"), py::arg("acts"), py::arg("tanh_c"), py::arg("c_prev"));
    m.def("gru_cell_forward", &gru_cell_forward,
          "GRU step from projected (N,3H), hidden_gates (N,3H) and h_prev (N,H): (h (N,H), acts (N,3H)).",
          py::arg("projected"), py::arg("hidden_gates"), py::arg("h_prev"));
    m.def("gru_cell_backward", &gru_cell_backward,
          "GRU step gradients: (grad_projected (N,3H), grad_hidden_gates (N,3H), grad_h * z (N,H)).",
          py::arg("grad_h"), py::arg("acts"), py::arg("hidden_gates"), py::arg("h_prev"));
}

}  // namespace

EMBER_REGISTER_KERNELS(register_recurrent);
