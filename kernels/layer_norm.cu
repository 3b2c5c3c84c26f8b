// Layer normalisation over the last `cols` elements of each row, forward and backward, as
// PyTorch's layer_norm: biased variance, y = (x - mean) * rstd * w + b with
// rstd = 1 / sqrt(var + eps).
//
// tg_layer_norm_fwd: one block per row, grid = (rows, 1, 1), block = (threads, 1, 1) with
//   threads a multiple of 32, at most 1024 (tensorgrad.backend.cuda.row_block). The mean and
//   the sum of squared deviations come from one read of the row (Welford's update per thread,
//   Chan's merge across the warp and the block), a second read writes y. mean and rstd are
//   written per row for the backward kernels. Without a weight or a bias (has_weight = 0,
//   has_bias = 0) the pointer is a placeholder and never read.
// tg_layer_norm_bwd_dx: one block per row (same launch). With gw = g * w and xhat =
//   (x - mean) * rstd: dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), both means from one
//   read of the row, a second read writes dx.
// tg_layer_norm_bwd_wb: the column sums dw = sum_rows g * xhat and db = sum_rows g, in per-chunk
//   partials: grid = (ceil(cols / 32), chunks, 1), block = (threads, 1, 1) with threads a
//   multiple of 32, at most 1024. Block (bx, c) covers columns [32 bx, 32 bx + 32) of rows
//   [c * rows_per_chunk, min(rows, (c + 1) * rows_per_chunk)): lane l of warp k reads column
//   32 bx + l of rows r0 + k, r0 + k + warps, ... (a warp reads 32 consecutive columns of one
//   row: coalesced), the warps' sums are added in warp order through shared memory, and
//   part[0, c, j], part[1, c, j] (part is (2, chunks, cols)) receive dw and db of the chunk.
//   The host adds the chunks (one small reduction). No atomics: the result depends only on the
//   shapes and the launch, never on scheduling.
// No dynamic shared memory. NumPy references: reference.py.

template <typename T> struct tg_ln_math;

template <> struct tg_ln_math<float> {
    static __device__ __forceinline__ float sqrt(float x) { return sqrtf(x); }
};

template <> struct tg_ln_math<double> {
    static __device__ __forceinline__ double sqrt(double x) { return ::sqrt(x); }
};

// (n, mean, m2): n values with mean `mean` and sum of squared deviations `m2`.
template <typename T>
__device__ __forceinline__ void tg_ln_welford_merge(int& n, T& mean, T& m2, int n2, T mean2,
                                                    T m22) {
    if (n2 == 0) {
        return;
    }
    if (n == 0) {
        n = n2;
        mean = mean2;
        m2 = m22;
        return;
    }
    const int nt = n + n2;
    const T d = mean2 - mean;
    const T f2 = T(n2) / T(nt);
    mean += d * f2;
    m2 += m22 + d * d * (T(n) * f2);
    n = nt;
}

template <typename T>
__device__ __forceinline__ void tg_ln_warp_welford(int& n, T& mean, T& m2) {
    for (int off = 16; off > 0; off >>= 1) {
        const int n2 = __shfl_xor_sync(0xffffffffu, n, off);
        const T mean2 = __shfl_xor_sync(0xffffffffu, mean, off);
        const T m22 = __shfl_xor_sync(0xffffffffu, m2, off);
        tg_ln_welford_merge(n, mean, m2, n2, mean2, m22);
    }
}

// Every thread of the block ends with the block's (n, mean, m2).
template <typename T>
__device__ void tg_ln_block_welford(int& n, T& mean, T& m2) {
    __shared__ int sm_n[32];
    __shared__ T sm_mean[32];
    __shared__ T sm_m2[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    tg_ln_warp_welford(n, mean, m2);
    if (lane == 0) {
        sm_n[warp] = n;
        sm_mean[warp] = mean;
        sm_m2[warp] = m2;
    }
    __syncthreads();
    if (warp == 0) {
        n = lane < warps ? sm_n[lane] : 0;
        mean = lane < warps ? sm_mean[lane] : T(0);
        m2 = lane < warps ? sm_m2[lane] : T(0);
        tg_ln_warp_welford(n, mean, m2);
        if (lane == 0) {
            sm_n[0] = n;
            sm_mean[0] = mean;
            sm_m2[0] = m2;
        }
    }
    __syncthreads();
    n = sm_n[0];
    mean = sm_mean[0];
    m2 = sm_m2[0];
}

// Every thread of the block ends with the block's sums of a and of b.
template <typename T>
__device__ void tg_ln_block_sum2(T& a, T& b) {
    __shared__ T sm_a[32];
    __shared__ T sm_b[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    for (int off = 16; off > 0; off >>= 1) {
        a += __shfl_xor_sync(0xffffffffu, a, off);
        b += __shfl_xor_sync(0xffffffffu, b, off);
    }
    if (lane == 0) {
        sm_a[warp] = a;
        sm_b[warp] = b;
    }
    __syncthreads();
    if (warp == 0) {
        a = lane < warps ? sm_a[lane] : T(0);
        b = lane < warps ? sm_b[lane] : T(0);
        for (int off = 16; off > 0; off >>= 1) {
            a += __shfl_xor_sync(0xffffffffu, a, off);
            b += __shfl_xor_sync(0xffffffffu, b, off);
        }
        if (lane == 0) {
            sm_a[0] = a;
            sm_b[0] = b;
        }
    }
    __syncthreads();
    a = sm_a[0];
    b = sm_b[0];
}

template <typename T>
__device__ void tg_layer_norm_fwd(const T* __restrict__ x, const T* __restrict__ w,
                                  const T* __restrict__ b, T* __restrict__ y,
                                  T* __restrict__ mean_out, T* __restrict__ rstd_out, int cols,
                                  T eps, int has_weight, int has_bias) {
    const long long row = blockIdx.x;
    const long long base = row * cols;
    const T* xr = x + base;
    T* yr = y + base;
    int n = 0;
    T mean = T(0);
    T m2 = T(0);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        const T v = xr[j];
        n += 1;
        const T d = v - mean;
        mean += d / T(n);
        m2 += d * (v - mean);
    }
    tg_ln_block_welford(n, mean, m2);
    T var = m2 / T(cols);
    var = var > T(0) ? var : T(0);
    const T rstd = T(1) / tg_ln_math<T>::sqrt(var + eps);
    if (threadIdx.x == 0) {
        mean_out[row] = mean;
        rstd_out[row] = rstd;
    }
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        T v = (xr[j] - mean) * rstd;
        if (has_weight) {
            v *= w[j];
        }
        if (has_bias) {
            v += b[j];
        }
        yr[j] = v;
    }
}

template <typename T>
__device__ void tg_layer_norm_bwd_dx(const T* __restrict__ g, const T* __restrict__ x,
                                     const T* __restrict__ w, const T* __restrict__ mean,
                                     const T* __restrict__ rstd, T* __restrict__ dx, int cols,
                                     int has_weight) {
    const long long row = blockIdx.x;
    const long long base = row * cols;
    const T* gr = g + base;
    const T* xr = x + base;
    T* dr = dx + base;
    const T mu = mean[row];
    const T rs = rstd[row];
    T sum_gw = T(0);
    T sum_gwx = T(0);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        const T gw = has_weight ? gr[j] * w[j] : gr[j];
        sum_gw += gw;
        sum_gwx += gw * ((xr[j] - mu) * rs);
    }
    tg_ln_block_sum2(sum_gw, sum_gwx);
    const T mean_gw = sum_gw / T(cols);
    const T mean_gwx = sum_gwx / T(cols);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        const T gw = has_weight ? gr[j] * w[j] : gr[j];
        const T xh = (xr[j] - mu) * rs;
        dr[j] = rs * ((gw - mean_gw) - xh * mean_gwx);
    }
}

template <typename T>
__device__ void tg_layer_norm_bwd_wb(const T* __restrict__ g, const T* __restrict__ x,
                                     const T* __restrict__ mean, const T* __restrict__ rstd,
                                     T* __restrict__ part, int rows, int cols,
                                     int rows_per_chunk) {
    __shared__ T sm_w[32][32];
    __shared__ T sm_b[32][32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    const int col = blockIdx.x * 32 + lane;
    const long long chunk = blockIdx.y;
    const long long r0 = chunk * rows_per_chunk;
    long long r1 = r0 + rows_per_chunk;
    r1 = r1 < rows ? r1 : rows;
    T dw = T(0);
    T db = T(0);
    if (col < cols) {
        for (long long r = r0 + warp; r < r1; r += warps) {
            const long long k = r * cols + col;
            const T gv = g[k];
            dw += gv * ((x[k] - mean[r]) * rstd[r]);
            db += gv;
        }
    }
    sm_w[warp][lane] = dw;
    sm_b[warp][lane] = db;
    __syncthreads();
    if (warp == 0 && col < cols) {
        dw = T(0);
        db = T(0);
        for (int k = 0; k < warps; ++k) {
            dw += sm_w[k][lane];
            db += sm_b[k][lane];
        }
        const long long chunks = gridDim.y;
        part[chunk * cols + col] = dw;
        part[(chunks + chunk) * cols + col] = db;
    }
}

// The entry points, one per dtype, spelled out so that each name appears literally.
extern "C" __global__ void tg_layer_norm_fwd_f32(const float* x, const float* w, const float* b,
                                                 float* y, float* mean, float* rstd, int cols,
                                                 float eps, int has_weight, int has_bias) {
    tg_layer_norm_fwd<float>(x, w, b, y, mean, rstd, cols, eps, has_weight, has_bias);
}
extern "C" __global__ void tg_layer_norm_fwd_f64(const double* x, const double* w,
                                                 const double* b, double* y, double* mean,
                                                 double* rstd, int cols, double eps,
                                                 int has_weight, int has_bias) {
    tg_layer_norm_fwd<double>(x, w, b, y, mean, rstd, cols, eps, has_weight, has_bias);
}
extern "C" __global__ void tg_layer_norm_bwd_dx_f32(const float* g, const float* x,
                                                    const float* w, const float* mean,
                                                    const float* rstd, float* dx, int cols,
                                                    int has_weight) {
    tg_layer_norm_bwd_dx<float>(g, x, w, mean, rstd, dx, cols, has_weight);
}
extern "C" __global__ void tg_layer_norm_bwd_dx_f64(const double* g, const double* x,
                                                    const double* w, const double* mean,
                                                    const double* rstd, double* dx, int cols,
                                                    int has_weight) {
    tg_layer_norm_bwd_dx<double>(g, x, w, mean, rstd, dx, cols, has_weight);
}
extern "C" __global__ void tg_layer_norm_bwd_wb_f32(const float* g, const float* x,
                                                    const float* mean, const float* rstd,
                                                    float* part, int rows, int cols,
                                                    int rows_per_chunk) {
    tg_layer_norm_bwd_wb<float>(g, x, mean, rstd, part, rows, cols, rows_per_chunk);
}
extern "C" __global__ void tg_layer_norm_bwd_wb_f64(const double* g, const double* x,
                                                    const double* mean, const double* rstd,
                                                    double* part, int rows, int cols,
                                                    int rows_per_chunk) {
    tg_layer_norm_bwd_wb<double>(g, x, mean, rstd, part, rows, cols, rows_per_chunk);
}
