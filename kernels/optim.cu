// Optimizer updates over all parameters of a group in one launch.
//
// tensorgrad.optim keeps each group's parameters (and their optimizer state) as views into one
// flat contiguous buffer per group. The gradients stay where backward left them: the kernel
// reads them through a table of pointers passed by value (tg_grad_table), so a step is a single
// grid-stride pass over the group's elements, with no gathering copy, whatever the number of
// tensors (up to TG_TABLE_SIZE per launch; a larger group takes one launch per table).
//
// Launch: any grid, block = (threads, 1, 1); every thread strides over the launch's elements,
// [table.start[0], table.start[count]) of the flat buffers. The
// hyper-parameters and their derived coefficients (1 - dampening, 1 - beta, the bias
// corrections) come from the host in the array's precision, so the arithmetic is the same,
// operation for operation, as the per-parameter NumPy/CuPy path of tensorgrad.optim (PyTorch's
// formulas). NumPy references: reference.py.

#define TG_TABLE_SIZE 64

// Tensor k of a launch is elements [start[k], start[k + 1]) of the flat buffers, and its
// gradient is the contiguous array at grad[k] (of the parameters' dtype). Filled by
// tensorgrad.backend.cuda.grad_tables.
struct tg_grad_table {
    const void* grad[TG_TABLE_SIZE];
    long long start[TG_TABLE_SIZE + 1];
};

// Calls update(i, g) for each element i of the launch, g its gradient: a grid-stride loop. A
// thread's elements only go up, so the tensor k of its previous element is where the search for
// the next one starts.
template <typename T, typename Update>
__device__ __forceinline__ void tg_each_element(const tg_grad_table& t, int count,
                                                Update update) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long end = t.start[count];
    int k = 0;
    for (long long i = t.start[0] + (long long)blockIdx.x * blockDim.x + threadIdx.x; i < end;
         i += stride) {
        while (k + 1 < count && i >= t.start[k + 1]) {
            ++k;
        }
        update(i, static_cast<const T*>(t.grad[k])[i - t.start[k]]);
    }
}

// SGD (PyTorch): d = (maximize ? -g : g) + weight_decay * p; with momentum,
// buf = first ? d : momentum * buf + (1 - dampening) * d and d = nesterov ? d + momentum * buf
// : buf; then p -= lr * d. ``buf`` is not touched when momentum is 0.
template <typename T>
__device__ void tg_sgd(T* __restrict__ p, const tg_grad_table& table, int count,
                       T* __restrict__ buf, T lr, T momentum, T one_minus_dampening,
                       T weight_decay, int nesterov, int maximize, int first) {
    tg_each_element<T>(table, count, [&](long long i, T gi) {
        T d = maximize ? -gi : gi;
        const T pi = p[i];
        if (weight_decay != T(0)) {
            d += weight_decay * pi;
        }
        if (momentum != T(0)) {
            T b;
            if (first) {
                b = d;
            } else {
                b = buf[i] * momentum;
                b += one_minus_dampening * d;
            }
            buf[i] = b;
            if (nesterov) {
                d += momentum * b;
            } else {
                d = b;
            }
        }
        p[i] = pi + d * (-lr);
    });
}

// Adam / AdamW (PyTorch): d = maximize ? -g : g; AdamW decays p *= 1 - lr * weight_decay
// (``decay``), Adam adds weight_decay * p to d; m = beta1 * m + (1 - beta1) * d;
// v = beta2 * v + (1 - beta2) * d * d; with amsgrad vmax = max(vmax, v) is the denominator's
// source; p += (m / (sqrt(v) / sqrt(1 - beta2^t) + eps)) * (-lr / (1 - beta1^t)).
// ``vmax`` is not touched without amsgrad.
template <typename T>
__device__ void tg_adam(T* __restrict__ p, const tg_grad_table& table, int count,
                        T* __restrict__ m, T* __restrict__ v, T* __restrict__ vmax, T beta1,
                        T one_minus_beta1, T beta2, T one_minus_beta2, T eps, T weight_decay,
                        T decay, T bias2_sqrt, T neg_step_size, int decoupled, int amsgrad,
                        int maximize) {
    tg_each_element<T>(table, count, [&](long long i, T gi) {
        T d = maximize ? -gi : gi;
        T pi = p[i];
        if (decoupled) {
            pi *= decay;
        } else if (weight_decay != T(0)) {
            d += weight_decay * pi;
        }
        T mi = m[i] * beta1;
        mi += one_minus_beta1 * d;
        T vi = v[i] * beta2;
        vi += one_minus_beta2 * (d * d);
        m[i] = mi;
        v[i] = vi;
        T src = vi;
        if (amsgrad) {
            const T old = vmax[i];
            src = old > vi ? old : vi;
            vmax[i] = src;
        }
        T denom = sqrt(src) / bias2_sqrt;
        denom += eps;
        p[i] = pi + (mi / denom) * neg_step_size;
    });
}

extern "C" __global__ void tg_sgd_f32(float* p, tg_grad_table table, int count, float* buf,
                                      float lr, float momentum, float one_minus_dampening,
                                      float weight_decay, int nesterov, int maximize,
                                      int first) {
    tg_sgd<float>(p, table, count, buf, lr, momentum, one_minus_dampening, weight_decay,
                  nesterov, maximize, first);
}
extern "C" __global__ void tg_sgd_f64(double* p, tg_grad_table table, int count, double* buf,
                                      double lr, double momentum, double one_minus_dampening,
                                      double weight_decay, int nesterov, int maximize,
                                      int first) {
    tg_sgd<double>(p, table, count, buf, lr, momentum, one_minus_dampening, weight_decay,
                   nesterov, maximize, first);
}
extern "C" __global__ void tg_adam_f32(float* p, tg_grad_table table, int count, float* m,
                                       float* v, float* vmax, float beta1,
                                       float one_minus_beta1, float beta2,
                                       float one_minus_beta2, float eps, float weight_decay,
                                       float decay, float bias2_sqrt, float neg_step_size,
                                       int decoupled, int amsgrad, int maximize) {
    tg_adam<float>(p, table, count, m, v, vmax, beta1, one_minus_beta1, beta2, one_minus_beta2,
                   eps, weight_decay, decay, bias2_sqrt, neg_step_size, decoupled, amsgrad,
                   maximize);
}
extern "C" __global__ void tg_adam_f64(double* p, tg_grad_table table, int count, double* m,
                                       double* v, double* vmax, double beta1,
                                       double one_minus_beta1, double beta2,
                                       double one_minus_beta2, double eps, double weight_decay,
                                       double decay, double bias2_sqrt, double neg_step_size,
                                       int decoupled, int amsgrad, int maximize) {
    tg_adam<double>(p, table, count, m, v, vmax, beta1, one_minus_beta1, beta2,
                    one_minus_beta2, eps, weight_decay, decay, bias2_sqrt, neg_step_size,
                    decoupled, amsgrad, maximize);
}
