// Row-wise softmax family: log_softmax / softmax forward and backward, and softmax
// cross-entropy against integer class targets, forward and backward.
//
// Launch: one block per row, grid = (rows, 1, 1), block = (threads, 1, 1) with threads a
// multiple of 32 and at most 1024 (tensorgrad.backend.cuda.row_block picks it from the row
// length), no dynamic shared memory. Each thread strides over the row; block reductions go
// through warp shuffles and 32 slots of static shared memory, so any row length works
// (C = 1 as well as C = 32000). The reductions read the row once: the running maximum and the
// sum of exp(x - max) are kept together and rescaled when the maximum grows (the "online"
// logsumexp), so log_softmax is one read for the reduction plus one read and one write.
//
// -inf logits contribute exp(-inf) = 0; a row that is all -inf has logsumexp -inf and gives
// NaN, as the composed NumPy/CuPy path and PyTorch do. NumPy references: reference.py.

template <typename T> struct tg_num;

template <> struct tg_num<float> {
    static __device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }
    static __device__ __forceinline__ float nan() { return __int_as_float(0x7fffffff); }
    static __device__ __forceinline__ float exp(float x) { return expf(x); }
    static __device__ __forceinline__ float log(float x) { return logf(x); }
};

template <> struct tg_num<double> {
    static __device__ __forceinline__ double neg_inf() {
        return __longlong_as_double(0xfff0000000000000LL);
    }
    static __device__ __forceinline__ double nan() {
        return __longlong_as_double(0x7ff8000000000000LL);
    }
    static __device__ __forceinline__ double exp(double x) { return ::exp(x); }
    static __device__ __forceinline__ double log(double x) { return ::log(x); }
};

// (m, s) stands for a set of values whose maximum is m and whose sum of exp(v - m) is s;
// m = -inf is the empty set. A NaN value makes s NaN (m itself never becomes NaN).
template <typename T>
__device__ __forceinline__ void tg_lse_push(T& m, T& s, T v) {
    if (v > m) {
        s = s * tg_num<T>::exp(m - v) + T(1);
        m = v;
    } else if (v != tg_num<T>::neg_inf()) {
        s += tg_num<T>::exp(v - m);
    }
}

template <typename T>
__device__ __forceinline__ void tg_lse_merge(T& m, T& s, T m2, T s2) {
    if (m2 == tg_num<T>::neg_inf()) {
        return;
    }
    if (m == tg_num<T>::neg_inf()) {
        m = m2;
        s = s2;
    } else if (m2 > m) {
        s = s * tg_num<T>::exp(m - m2) + s2;
        m = m2;
    } else {
        s += s2 * tg_num<T>::exp(m2 - m);
    }
}

template <typename T>
__device__ __forceinline__ void tg_warp_lse(T& m, T& s) {
    for (int off = 16; off > 0; off >>= 1) {
        T m2 = __shfl_xor_sync(0xffffffffu, m, off);
        T s2 = __shfl_xor_sync(0xffffffffu, s, off);
        tg_lse_merge(m, s, m2, s2);
    }
}

// Every thread of the block ends with the block's (m, s).
template <typename T>
__device__ void tg_block_lse(T& m, T& s) {
    __shared__ T sm_m[32];
    __shared__ T sm_s[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    tg_warp_lse(m, s);
    if (lane == 0) {
        sm_m[warp] = m;
        sm_s[warp] = s;
    }
    __syncthreads();
    if (warp == 0) {
        m = lane < warps ? sm_m[lane] : tg_num<T>::neg_inf();
        s = lane < warps ? sm_s[lane] : T(0);
        tg_warp_lse(m, s);
        if (lane == 0) {
            sm_m[0] = m;
            sm_s[0] = s;
        }
    }
    __syncthreads();
    m = sm_m[0];
    s = sm_s[0];
}

// Every thread of the block ends with the block's sum of v.
template <typename T>
__device__ T tg_block_sum(T v) {
    __shared__ T sm[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    for (int off = 16; off > 0; off >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, off);
    }
    if (lane == 0) {
        sm[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? sm[lane] : T(0);
        for (int off = 16; off > 0; off >>= 1) {
            v += __shfl_xor_sync(0xffffffffu, v, off);
        }
        if (lane == 0) {
            sm[0] = v;
        }
    }
    __syncthreads();
    return sm[0];
}

template <typename T>
__device__ void tg_row_lse(const T* __restrict__ xr, int cols, T& m, T& s) {
    m = tg_num<T>::neg_inf();
    s = T(0);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        tg_lse_push(m, s, xr[j]);
    }
    tg_block_lse(m, s);
}

// y = x - logsumexp(x), as (x - max) - log(sum exp(x - max))
template <typename T>
__device__ void tg_log_softmax_fwd(const T* __restrict__ x, T* __restrict__ y, int cols) {
    const long long base = (long long)blockIdx.x * cols;
    const T* xr = x + base;
    T* yr = y + base;
    T m, s;
    tg_row_lse(xr, cols, m, s);
    const T ls = tg_num<T>::log(s);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        yr[j] = (xr[j] - m) - ls;
    }
}

// y = exp(x - max) / sum exp(x - max)
template <typename T>
__device__ void tg_softmax_fwd(const T* __restrict__ x, T* __restrict__ y, int cols) {
    const long long base = (long long)blockIdx.x * cols;
    const T* xr = x + base;
    T* yr = y + base;
    T m, s;
    tg_row_lse(xr, cols, m, s);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        yr[j] = tg_num<T>::exp(xr[j] - m) / s;
    }
}

// y = log_softmax(x): dx = g - exp(y) * sum(g)
template <typename T>
__device__ void tg_log_softmax_bwd(const T* __restrict__ g, const T* __restrict__ y,
                                   T* __restrict__ dx, int cols) {
    const long long base = (long long)blockIdx.x * cols;
    const T* gr = g + base;
    const T* yr = y + base;
    T* dr = dx + base;
    T acc = T(0);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        acc += gr[j];
    }
    const T total = tg_block_sum(acc);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        dr[j] = gr[j] - tg_num<T>::exp(yr[j]) * total;
    }
}

// y = softmax(x): dx = y * (g - sum(g * y))
template <typename T>
__device__ void tg_softmax_bwd(const T* __restrict__ g, const T* __restrict__ y,
                               T* __restrict__ dx, int cols) {
    const long long base = (long long)blockIdx.x * cols;
    const T* gr = g + base;
    const T* yr = y + base;
    T* dr = dx + base;
    T acc = T(0);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        acc += gr[j] * yr[j];
    }
    const T total = tg_block_sum(acc);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        dr[j] = yr[j] * (gr[j] - total);
    }
}

// loss[r] = (max(x[r]) - x[r, target[r]]) + log(sum exp(x[r] - max)), and the row's max and
// log-sum kept for the backward pass: logsumexp = max + logsum, held as its two parts so that
// neither the loss nor softmax = exp((x - max) - logsum) loses digits to the rounding of a
// large logsumexp (float32 logits around -1e4 would otherwise lose three). A target outside
// [0, cols) gives a NaN loss rather than reading out of bounds, unless it equals ``ignore``
// (with ``use_ignore`` set): such a row's loss is 0, and so is its gradient in tg_xent_bwd.
template <typename T>
__device__ void tg_xent_fwd(const T* __restrict__ x, const long long* __restrict__ target,
                            T* __restrict__ loss, T* __restrict__ rowmax,
                            T* __restrict__ logsum, int cols, long long ignore,
                            int use_ignore) {
    const long long row = blockIdx.x;
    const T* xr = x + row * cols;
    T m, s;
    tg_row_lse(xr, cols, m, s);
    if (threadIdx.x == 0) {
        const T ls = tg_num<T>::log(s);
        const long long t = target[row];
        loss[row] = (use_ignore && t == ignore) ? T(0)
                    : (t >= 0 && t < cols) ? (m - xr[t]) + ls : tg_num<T>::nan();
        rowmax[row] = m;
        logsum[row] = ls;
    }
}

// out[0] = the mean of loss over the rows whose target is not ``ignore`` (0/0 = NaN when every
// row is ignored, as PyTorch gives), out[1] = the number of those rows: the "mean" reduction of
// cross-entropy in one launch (one block of whole warps; each thread strides over the rows).
template <typename T>
__device__ void tg_xent_mean(const T* __restrict__ loss, const long long* __restrict__ target,
                             T* __restrict__ out, int rows, long long ignore, int use_ignore) {
    T acc = T(0);
    T cnt = T(0);
    for (int r = threadIdx.x; r < rows; r += blockDim.x) {
        if (!(use_ignore && target[r] == ignore)) {
            acc += loss[r];
            cnt += T(1);
        }
    }
    const T total = tg_block_sum(acc);
    __syncthreads();  // every thread has read the first sum's shared slot before it is reused
    const T count = tg_block_sum(cnt);
    if (threadIdx.x == 0) {
        out[0] = total / count;
        out[1] = count;
    }
}

// dx[r, j] = g_r * (exp((x[r, j] - max[r]) - logsum[r]) - (j == target[r])), and 0 on a row
// whose target is ignored. g_r = g[r * g_stride]: g_stride 1 for a cotangent per row, 0 for
// one cotangent of a sum over the rows; with ``use_count`` it is divided by count[0] (the
// cotangent of tg_xent_mean's mean, count its out[1]).
template <typename T>
__device__ void tg_xent_bwd(const T* __restrict__ g, long long g_stride,
                            const T* __restrict__ count, int use_count, const T* __restrict__ x,
                            const long long* __restrict__ target,
                            const T* __restrict__ rowmax, const T* __restrict__ logsum,
                            T* __restrict__ dx, int cols, long long ignore, int use_ignore) {
    const long long row = blockIdx.x;
    const long long base = row * cols;
    const T* xr = x + base;
    T* dr = dx + base;
    const T gr = use_count ? g[row * g_stride] / count[0] : g[row * g_stride];
    const T m = rowmax[row];
    const T ls = logsum[row];
    const long long t = target[row];
    if (use_ignore && t == ignore) {
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            dr[j] = T(0);
        }
        return;
    }
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        const T onehot = j == t ? T(1) : T(0);
        dr[j] = gr * (tg_num<T>::exp((xr[j] - m) - ls) - onehot);
    }
}

// The entry points, one per dtype, spelled out so that each name appears literally.
extern "C" __global__ void tg_log_softmax_fwd_f32(const float* x, float* y, int cols) {
    tg_log_softmax_fwd<float>(x, y, cols);
}
extern "C" __global__ void tg_log_softmax_fwd_f64(const double* x, double* y, int cols) {
    tg_log_softmax_fwd<double>(x, y, cols);
}
extern "C" __global__ void tg_softmax_fwd_f32(const float* x, float* y, int cols) {
    tg_softmax_fwd<float>(x, y, cols);
}
extern "C" __global__ void tg_softmax_fwd_f64(const double* x, double* y, int cols) {
    tg_softmax_fwd<double>(x, y, cols);
}
extern "C" __global__ void tg_log_softmax_bwd_f32(const float* g, const float* y, float* dx,
                                                  int cols) {
    tg_log_softmax_bwd<float>(g, y, dx, cols);
}
extern "C" __global__ void tg_log_softmax_bwd_f64(const double* g, const double* y, double* dx,
                                                  int cols) {
    tg_log_softmax_bwd<double>(g, y, dx, cols);
}
extern "C" __global__ void tg_softmax_bwd_f32(const float* g, const float* y, float* dx,
                                              int cols) {
    tg_softmax_bwd<float>(g, y, dx, cols);
}
extern "C" __global__ void tg_softmax_bwd_f64(const double* g, const double* y, double* dx,
                                              int cols) {
    tg_softmax_bwd<double>(g, y, dx, cols);
}
extern "C" __global__ void tg_xent_fwd_f32(const float* x, const long long* target, float* loss,
                                           float* rowmax, float* logsum, int cols,
                                           long long ignore, int use_ignore) {
    tg_xent_fwd<float>(x, target, loss, rowmax, logsum, cols, ignore, use_ignore);
}
extern "C" __global__ void tg_xent_fwd_f64(const double* x, const long long* target,
                                           double* loss, double* rowmax, double* logsum,
                                           int cols, long long ignore, int use_ignore) {
    tg_xent_fwd<double>(x, target, loss, rowmax, logsum, cols, ignore, use_ignore);
}
extern "C" __global__ void tg_xent_mean_f32(const float* loss, const long long* target,
                                            float* out, int rows, long long ignore,
                                            int use_ignore) {
    tg_xent_mean<float>(loss, target, out, rows, ignore, use_ignore);
}
extern "C" __global__ void tg_xent_mean_f64(const double* loss, const long long* target,
                                            double* out, int rows, long long ignore,
                                            int use_ignore) {
    tg_xent_mean<double>(loss, target, out, rows, ignore, use_ignore);
}
extern "C" __global__ void tg_xent_bwd_f32(const float* g, long long g_stride, const float* count,
                                           int use_count, const float* x,
                                           const long long* target, const float* rowmax,
                                           const float* logsum, float* dx, int cols,
                                           long long ignore, int use_ignore) {
    tg_xent_bwd<float>(g, g_stride, count, use_count, x, target, rowmax, logsum, dx, cols,
                       ignore, use_ignore);
}
extern "C" __global__ void tg_xent_bwd_f64(const double* g, long long g_stride,
                                           const double* count, int use_count, const double* x,
                                           const long long* target, const double* rowmax,
                                           const double* logsum, double* dx, int cols,
                                           long long ignore, int use_ignore) {
    tg_xent_bwd<double>(g, g_stride, count, use_count, x, target, rowmax, logsum, dx, cols,
                        ignore, use_ignore);
}
