// Fused bias-add + activation, forward and backward.
//
// Forward:  y = act(x + b), b broadcast along the last dimension (b[i % cols]); without a bias
//           (has_bias = 0) y = act(x).
// Backward: dz = g * act'(x + b), recomputing x + b instead of storing it; dz is the
//           cotangent of x, and summed over the leading dimensions that of b.
//
// act: 0 identity, 1 relu, 2 gelu (exact, erf), 3 gelu (tanh approximation, PyTorch's
// approximate="tanh"), 4 silu, 5 tanh, 6 sigmoid. The formulas are those of the composed
// NumPy/CuPy path in tensorgrad.nn.functional, term for term; sigmoid is 1 / (1 + exp(-z))
// (no overflow for large |z|).
//
// Launch: any grid, block = (threads, 1, 1); every thread strides over [0, n).
// NumPy references: reference.py.

template <typename T> struct tg_act_math;

template <> struct tg_act_math<float> {
    static __device__ __forceinline__ float erf(float x) { return erff(x); }
    static __device__ __forceinline__ float exp(float x) { return expf(x); }
    static __device__ __forceinline__ float tanh(float x) { return tanhf(x); }
};

template <> struct tg_act_math<double> {
    static __device__ __forceinline__ double erf(double x) { return ::erf(x); }
    static __device__ __forceinline__ double exp(double x) { return ::exp(x); }
    static __device__ __forceinline__ double tanh(double x) { return ::tanh(x); }
};

#define TG_SQRT2 1.41421356237309504880
#define TG_SQRT_2_OVER_PI 0.79788456080286535588
#define TG_INV_SQRT_2PI 0.39894228040143267794
#define TG_GELU_A 0.044715

template <typename T>
__device__ __forceinline__ T tg_sigmoid(T z) {
    return T(1) / (T(1) + tg_act_math<T>::exp(-z));
}

template <typename T>
__device__ __forceinline__ T tg_act(int act, T z) {
    switch (act) {
        case 1:  // NaN passes through, as maximum(z, 0) does
            return (z > T(0) || z != z) ? z : T(0);
        case 2:
            return T(0.5) * z * (T(1) + tg_act_math<T>::erf(z / T(TG_SQRT2)));
        case 3: {
            const T inner = T(TG_SQRT_2_OVER_PI) * (z + T(TG_GELU_A) * z * z * z);
            return T(0.5) * z * (T(1) + tg_act_math<T>::tanh(inner));
        }
        case 4:
            return z * tg_sigmoid(z);
        case 5:
            return tg_act_math<T>::tanh(z);
        case 6:
            return tg_sigmoid(z);
        default:
            return z;
    }
}

// g * act'(z)
template <typename T>
__device__ __forceinline__ T tg_act_grad(int act, T g, T z) {
    switch (act) {
        case 1:
            return g * (z > T(0) ? T(1) : T(0));
        case 2: {
            const T cdf = T(0.5) * (T(1) + tg_act_math<T>::erf(z / T(TG_SQRT2)));
            const T pdf = tg_act_math<T>::exp(T(-0.5) * z * z) * T(TG_INV_SQRT_2PI);
            return g * (cdf + z * pdf);
        }
        case 3: {
            const T k = T(TG_SQRT_2_OVER_PI);
            const T t = tg_act_math<T>::tanh(k * (z + T(TG_GELU_A) * z * z * z));
            const T du = k * (T(1) + T(3 * TG_GELU_A) * z * z);
            return g * (T(0.5) * (T(1) + t) + T(0.5) * z * (T(1) - t * t) * du);
        }
        case 4: {
            const T s = tg_sigmoid(z);
            return g * (s * (T(1) + z * (T(1) - s)));
        }
        case 5: {
            const T t = tg_act_math<T>::tanh(z);
            return g - (g * t) * t;
        }
        case 6: {
            const T s = tg_sigmoid(z);
            const T gs = g * s;
            return gs - gs * s;
        }
        default:
            return g;
    }
}

template <typename T>
__device__ void tg_bias_act_fwd(const T* __restrict__ x, const T* __restrict__ b,
                                T* __restrict__ y, long long n, long long cols, int act,
                                int has_bias) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T z = has_bias ? x[i] + b[i % cols] : x[i];
        y[i] = tg_act(act, z);
    }
}

template <typename T>
__device__ void tg_bias_act_bwd(const T* __restrict__ g, const T* __restrict__ x,
                                const T* __restrict__ b, T* __restrict__ dz, long long n,
                                long long cols, int act, int has_bias) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T z = has_bias ? x[i] + b[i % cols] : x[i];
        dz[i] = tg_act_grad(act, g[i], z);
    }
}

extern "C" __global__ void tg_bias_act_fwd_f32(const float* x, const float* b, float* y,
                                               long long n, long long cols, int act,
                                               int has_bias) {
    tg_bias_act_fwd<float>(x, b, y, n, cols, act, has_bias);
}
extern "C" __global__ void tg_bias_act_fwd_f64(const double* x, const double* b, double* y,
                                               long long n, long long cols, int act,
                                               int has_bias) {
    tg_bias_act_fwd<double>(x, b, y, n, cols, act, has_bias);
}
extern "C" __global__ void tg_bias_act_bwd_f32(const float* g, const float* x, const float* b,
                                               float* dz, long long n, long long cols, int act,
                                               int has_bias) {
    tg_bias_act_bwd<float>(g, x, b, dz, n, cols, act, has_bias);
}
extern "C" __global__ void tg_bias_act_bwd_f64(const double* g, const double* x,
                                               const double* b, double* dz, long long n,
                                               long long cols, int act, int has_bias) {
    tg_bias_act_bwd<double>(g, x, b, dz, n, cols, act, has_bias);
}
