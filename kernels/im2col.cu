// Sliding windows for convolution and pooling, in the layout of tensorgrad.ops.conv:
//
// tg_im2col:  x (NC, H, W) -> cols (NC, KH, KW, OH, OW) with
//             cols[nc, i, j, oh, ow] = x[nc, oh * SH - PH + i * DH, ow * SW - PW + j * DW],
//             `pad` where that position falls outside [0, H) x [0, W) (0 for convolution,
//             -inf for max pooling). This is ops.conv.unfold: pad, then a strided window view.
// tg_col2im:  the adjoint, cols (NC, KH, KW, OH, OW) -> out (NC, H, W): every element of cols
//             added back to the position it was read from (overlapping windows add up,
//             positions in the padding are dropped). This is ops.conv.fold. It is a gather:
//             each thread owns one output pixel and adds its contributions in (i, j) order,
//             the order in which fold's NumPy loop adds them, so there are no atomics and the
//             result is deterministic (and bit-identical to the CPU path's sum).
//
// N and C are folded into NC (both layouts are C-contiguous with NC leading). Launch: any
// grid, block = (threads, 1, 1); each thread strides over the `total` output elements
// (NC * KH * KW * OH * OW for im2col, NC * H * W for col2im). Indices are 64-bit.
// No shared memory. NumPy references: reference.py.

template <typename T>
__device__ void tg_im2col(const T* __restrict__ x, T* __restrict__ cols, long long total, int H,
                          int W, int KH, int KW, int OH, int OW, int SH, int SW, int PH, int PW,
                          int DH, int DW, T pad) {
    const long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += step) {
        long long t = idx;
        const int ow = (int)(t % OW);
        t /= OW;
        const int oh = (int)(t % OH);
        t /= OH;
        const int j = (int)(t % KW);
        t /= KW;
        const int i = (int)(t % KH);
        const long long nc = t / KH;
        const int h = oh * SH - PH + i * DH;
        const int w = ow * SW - PW + j * DW;
        cols[idx] = (h >= 0 && h < H && w >= 0 && w < W) ? x[(nc * H + h) * W + w] : pad;
    }
}

template <typename T>
__device__ void tg_col2im(const T* __restrict__ cols, T* __restrict__ out, long long total,
                          int H, int W, int KH, int KW, int OH, int OW, int SH, int SW, int PH,
                          int PW, int DH, int DW) {
    const long long step = (long long)blockDim.x * gridDim.x;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += step) {
        long long t = idx;
        const int w = (int)(t % W);
        t /= W;
        const int h = (int)(t % H);
        const long long nc = t / H;
        const int hp = h + PH;
        const int wp = w + PW;
        T acc = T(0);
        for (int i = 0; i < KH; ++i) {
            const int th = hp - i * DH;
            if (th < 0) {
                break;  // i only grows: every later window row starts below the image too
            }
            if (th % SH != 0 || th / SH >= OH) {
                continue;
            }
            const int oh = th / SH;
            for (int j = 0; j < KW; ++j) {
                const int tw = wp - j * DW;
                if (tw < 0) {
                    break;
                }
                if (tw % SW != 0 || tw / SW >= OW) {
                    continue;
                }
                const int ow = tw / SW;
                acc += cols[(((nc * KH + i) * KW + j) * OH + oh) * OW + ow];
            }
        }
        out[idx] = acc;
    }
}

// The entry points, one per dtype, spelled out so that each name appears literally.
extern "C" __global__ void tg_im2col_f32(const float* x, float* cols, long long total, int H,
                                         int W, int KH, int KW, int OH, int OW, int SH, int SW,
                                         int PH, int PW, int DH, int DW, float pad) {
    tg_im2col<float>(x, cols, total, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW, pad);
}
extern "C" __global__ void tg_im2col_f64(const double* x, double* cols, long long total, int H,
                                         int W, int KH, int KW, int OH, int OW, int SH, int SW,
                                         int PH, int PW, int DH, int DW, double pad) {
    tg_im2col<double>(x, cols, total, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW, pad);
}
extern "C" __global__ void tg_col2im_f32(const float* cols, float* out, long long total, int H,
                                         int W, int KH, int KW, int OH, int OW, int SH, int SW,
                                         int PH, int PW, int DH, int DW) {
    tg_col2im<float>(cols, out, total, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW);
}
extern "C" __global__ void tg_col2im_f64(const double* cols, double* out, long long total,
                                         int H, int W, int KH, int KW, int OH, int OW, int SH,
                                         int SW, int PH, int PW, int DH, int DW) {
    tg_col2im<double>(cols, out, total, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW);
}
