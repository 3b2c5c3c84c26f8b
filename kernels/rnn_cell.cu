// The pointwise part of one LSTM or GRU step, forward and backward (tensorgrad.ops.rnn_cell).
//
// Shapes (row-major, rows = N, hidden = H; one thread per (n, j) element of the N x H state,
// in a grid-stride loop over [0, N * H)):
//
// LSTM forward:  gates (N, 4H) in PyTorch's order i, f, g, o; c_prev (N, H);
//                out (N, 2H) = [h | c] with c = f * c_prev + i * g, h = o * tanh(c).
// LSTM backward: g (N, 2H) = [dh | dc] -> d_gates (N, 4H), d_c (N, H); the activations are
//                recomputed from gates (nothing is saved but the inputs).
// GRU forward:   gi, gh (N, 3H) in PyTorch's order r, z, n; h_prev (N, H);
//                r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r * gh_n),
//                out (N, H) = n + z * (h_prev - n).
// GRU backward:  g (N, H) -> d_gi, d_gh (N, 3H), d_h (N, H).
//
// s(x) is 1 / (1 + exp(-x)), and every formula is the CPU path's term for term (the
// NumPy references are in reference.py).
// Launch: any grid, block = (threads, 1, 1).

template <typename T> struct tg_rnn_math;

template <> struct tg_rnn_math<float> {
    static __device__ __forceinline__ float tanh(float x) { return tanhf(x); }
    static __device__ __forceinline__ float exp(float x) { return expf(x); }
};

template <> struct tg_rnn_math<double> {
    static __device__ __forceinline__ double tanh(double x) { return ::tanh(x); }
    static __device__ __forceinline__ double exp(double x) { return ::exp(x); }
};

template <typename T>
__device__ __forceinline__ T tg_rnn_sigmoid(T x) {
    return T(1) / (T(1) + tg_rnn_math<T>::exp(-x));
}

// k over the N x H state elements [0, rows * hidden), grid-stride; n its row.
#define TG_RNN_FOR_EACH_STATE(k, n)                                                          \
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x, n = k / hidden;     \
         k < rows * hidden; k += (long long)gridDim.x * blockDim.x, n = k / hidden)

// The LSTM gates' activations i, f, g, o from the pre-activations at a[0], a[H], a[2H], a[3H].
template <typename T> struct tg_lstm_acts {
    T i, f, g, o;
    __device__ __forceinline__ tg_lstm_acts(const T* a, long long hidden)
        : i(tg_rnn_sigmoid(a[0])), f(tg_rnn_sigmoid(a[hidden])),
          g(tg_rnn_math<T>::tanh(a[2 * hidden])), o(tg_rnn_sigmoid(a[3 * hidden])) {}
};

// The GRU's r, z and candidate c (PyTorch's n) from gi and gh at offset at (blocks H apart).
template <typename T> struct tg_gru_acts {
    T r, z, c;
    __device__ __forceinline__ tg_gru_acts(const T* gi, const T* gh, long long at,
                                           long long hidden)
        : r(tg_rnn_sigmoid(gi[at] + gh[at])),
          z(tg_rnn_sigmoid(gi[at + hidden] + gh[at + hidden])),
          c(tg_rnn_math<T>::tanh(gi[at + 2 * hidden] + r * gh[at + 2 * hidden])) {}
};

template <typename T>
__device__ void tg_lstm_cell_fwd(const T* __restrict__ gates, const T* __restrict__ c_prev,
                                 T* __restrict__ out, long long rows, long long hidden) {
    TG_RNN_FOR_EACH_STATE(k, n) {
        const long long j = k - n * hidden;
        const tg_lstm_acts<T> a(gates + n * 4 * hidden + j, hidden);
        const T c = a.f * c_prev[k] + a.i * a.g;
        out[n * 2 * hidden + j] = a.o * tg_rnn_math<T>::tanh(c);
        out[n * 2 * hidden + hidden + j] = c;
    }
}

template <typename T>
__device__ void tg_lstm_cell_bwd(const T* __restrict__ gout, const T* __restrict__ gates,
                                 const T* __restrict__ c_prev, T* __restrict__ d_gates,
                                 T* __restrict__ d_c, long long rows, long long hidden) {
    TG_RNN_FOR_EACH_STATE(k, n) {
        const long long j = k - n * hidden;
        const long long at = n * 4 * hidden + j;
        const tg_lstm_acts<T> a(gates + at, hidden);
        const T i = a.i, f = a.f, g = a.g, o = a.o;
        const T cp = c_prev[k];
        const T tc = tg_rnn_math<T>::tanh(f * cp + i * g);
        const T dh = gout[n * 2 * hidden + j];
        const T dho = dh * o;
        const T dc = gout[n * 2 * hidden + hidden + j] + (dho - dho * tc * tc);
        const T di = dc * g;
        const T df = dc * cp;
        const T dg = dc * i;
        const T d_o = dh * tc;
        d_gates[at] = di * i - di * i * i;
        d_gates[at + hidden] = df * f - df * f * f;
        d_gates[at + 2 * hidden] = dg - dg * g * g;
        d_gates[at + 3 * hidden] = d_o * o - d_o * o * o;
        d_c[k] = dc * f;
    }
}

template <typename T>
__device__ void tg_gru_cell_fwd(const T* __restrict__ gi, const T* __restrict__ gh,
                                const T* __restrict__ h_prev, T* __restrict__ out,
                                long long rows, long long hidden) {
    TG_RNN_FOR_EACH_STATE(k, n) {
        const tg_gru_acts<T> a(gi, gh, n * 3 * hidden + (k - n * hidden), hidden);
        out[k] = (h_prev[k] - a.c) * a.z + a.c;
    }
}

template <typename T>
__device__ void tg_gru_cell_bwd(const T* __restrict__ gout, const T* __restrict__ gi,
                                const T* __restrict__ gh, const T* __restrict__ h_prev,
                                T* __restrict__ d_gi, T* __restrict__ d_gh,
                                T* __restrict__ d_h, long long rows, long long hidden) {
    TG_RNN_FOR_EACH_STATE(k, n) {
        const long long at = n * 3 * hidden + (k - n * hidden);
        const T hn = gh[at + 2 * hidden];
        const tg_gru_acts<T> a(gi, gh, at, hidden);
        const T r = a.r, z = a.z, c = a.c;
        const T g = gout[k];
        const T gz = g * z;
        T dn = g - gz;
        dn = dn - dn * c * c;
        T dz = g * (h_prev[k] - c);
        dz = dz * z - dz * z * z;
        T dr = dn * hn;
        dr = dr * r - dr * r * r;
        d_gi[at] = dr;
        d_gi[at + hidden] = dz;
        d_gi[at + 2 * hidden] = dn;
        d_gh[at] = dr;
        d_gh[at + hidden] = dz;
        d_gh[at + 2 * hidden] = dn * r;
        d_h[k] = gz;
    }
}

extern "C" __global__ void tg_lstm_cell_fwd_f32(const float* gates, const float* c_prev,
                                                float* out, long long rows, long long hidden) {
    tg_lstm_cell_fwd<float>(gates, c_prev, out, rows, hidden);
}
extern "C" __global__ void tg_lstm_cell_fwd_f64(const double* gates, const double* c_prev,
                                                double* out, long long rows, long long hidden) {
    tg_lstm_cell_fwd<double>(gates, c_prev, out, rows, hidden);
}
extern "C" __global__ void tg_lstm_cell_bwd_f32(const float* gout, const float* gates,
                                                const float* c_prev, float* d_gates, float* d_c,
                                                long long rows, long long hidden) {
    tg_lstm_cell_bwd<float>(gout, gates, c_prev, d_gates, d_c, rows, hidden);
}
extern "C" __global__ void tg_lstm_cell_bwd_f64(const double* gout, const double* gates,
                                                const double* c_prev, double* d_gates,
                                                double* d_c, long long rows, long long hidden) {
    tg_lstm_cell_bwd<double>(gout, gates, c_prev, d_gates, d_c, rows, hidden);
}
extern "C" __global__ void tg_gru_cell_fwd_f32(const float* gi, const float* gh,
                                               const float* h_prev, float* out, long long rows,
                                               long long hidden) {
    tg_gru_cell_fwd<float>(gi, gh, h_prev, out, rows, hidden);
}
extern "C" __global__ void tg_gru_cell_fwd_f64(const double* gi, const double* gh,
                                               const double* h_prev, double* out,
                                               long long rows, long long hidden) {
    tg_gru_cell_fwd<double>(gi, gh, h_prev, out, rows, hidden);
}
extern "C" __global__ void tg_gru_cell_bwd_f32(const float* gout, const float* gi,
                                               const float* gh, const float* h_prev,
                                               float* d_gi, float* d_gh, float* d_h,
                                               long long rows, long long hidden) {
    tg_gru_cell_bwd<float>(gout, gi, gh, h_prev, d_gi, d_gh, d_h, rows, hidden);
}
extern "C" __global__ void tg_gru_cell_bwd_f64(const double* gout, const double* gi,
                                               const double* gh, const double* h_prev,
                                               double* d_gi, double* d_gh, double* d_h,
                                               long long rows, long long hidden) {
    tg_gru_cell_bwd<double>(gout, gi, gh, h_prev, d_gi, d_gh, d_h, rows, hidden);
}
