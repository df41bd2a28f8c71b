// The embedding's backward: gradient rows added into the rows of the table they were read from.
#include <algorithm>

#include "common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using std::int64_t;

// Threads split the columns, not the rows: every thread walks all N gradient rows in order and adds
// its own slice of each, so repeated indices never race and the sums keep NumPy's order. A slice
// is at least this many elements, so no two threads write into one cache line of a row.
constexpr int64_t kMinColumnsPerThread = 16;

template <typename T>
py::array embedding_backward_kernel(const py::array& grad_in, const py::array& indices_in,
                                    int64_t num_embeddings, int64_t padding_idx) {
    const char* op = "embedding_backward";
    ember::carray<T> grad(grad_in);
    ember::carray<int64_t> indices(indices_in);
    if (grad.ndim() != 2 || indices.ndim() != 1 || indices.shape(0) != grad.shape(0))
        throw py::value_error(std::string(op) + ": expected grad (N, D) and indices (N,)");
    if (num_embeddings < 0) throw py::value_error(std::string(op) + ": num_embeddings must be >= 0");
    const int64_t N = grad.shape(0), D = grad.shape(1);
    const int64_t* index = indices.data();
    for (int64_t n = 0; n < N; ++n)  // an index outside the table would write outside the output
        if (index[n] < 0 || index[n] >= num_embeddings)
            throw py::index_error(std::string(op) + ": index " + std::to_string(index[n]) +
                                  " is out of range for " + std::to_string(num_embeddings) + " rows");
    py::array_t<T> out({num_embeddings, D});
    const T* g = grad.data();
    T* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        const int64_t size = num_embeddings * D;
#pragma omp parallel for simd schedule(static) if (size > ember::kParallelThreshold)
        for (int64_t i = 0; i < size; ++i) o[i] = T(0);
        const bool parallel = N * D > ember::kParallelThreshold && D >= 2 * kMinColumnsPerThread;
#pragma omp parallel if (parallel)
        {
#ifdef _OPENMP
            const int64_t threads =
                std::max<int64_t>(1, std::min<int64_t>(omp_get_num_threads(), D / kMinColumnsPerThread));
            const int64_t thread = omp_get_thread_num();
#else
            const int64_t threads = 1, thread = 0;
#endif
            if (thread < threads) {
                const int64_t first = D * thread / threads, last = D * (thread + 1) / threads;
                for (int64_t n = 0; n < N; ++n) {
                    if (index[n] == padding_idx) continue;
                    const T* __restrict src = g + n * D;
                    T* __restrict dst = o + index[n] * D;
#pragma omp simd
                    for (int64_t d = first; d < last; ++d) dst[d] += src[d];
                }
            }
        }
    }
    return out;
}

py::array embedding_backward(const py::array& grad, const py::array& indices, int64_t num_embeddings,
                             int64_t padding_idx) {
    return ember::dispatch_float("embedding_backward", grad, [&]<typename T>() {
        return embedding_backward_kernel<T>(grad, indices, num_embeddings, padding_idx);
    });
}

void register_embedding(py::module_& m) {
    m.def("embedding_backward", &embedding_backward,
          "Rows of grad (N, D) added into rows indices (N,) of a zero (num_embeddings, D) table, "
          "skipping padding_idx (-1: none).",
          py::arg("grad"), py::arg("indices"), py::arg("num_embeddings"), py::arg("padding_idx"));
}

}  // namespace

EMBER_REGISTER_KERNELS(register_embedding);
