// Runs CUDA C kernels on the CPU, for the strict CuPy stand-in (see _emulate.py).
//
// A launch runs the blocks one after another; within a block each CUDA thread is a fiber with
// its own stack, resumed in turn until it reaches a barrier or its end:
// __syncthreads() waits for the block, __shfl_xor_sync for the warp around one slot per lane,
// and __shared__ arrays are static storage, shared by the block's fibers and reused by the next
// block. Runs are deterministic, and a barrier that some threads never reach (a __syncthreads
// in divergent code) is reported instead of hanging. Only what tensorgrad's kernels use is defined; anything
// else fails to compile, which is the point: the C source must build for the GPU too (the
// NVRTC test) and here.
#pragma once

#include <setjmp.h>
#include <ucontext.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

// One fiber runs at a time, so these are plain globals, set before each fiber resumes.
inline dim3 threadIdx;
inline dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

namespace tg_emu {

constexpr size_t STACK = 128 * 1024;

struct Barrier {
    unsigned expected = 0, arrived = 0;
    unsigned long long generation = 0;
};

struct Fiber {
    ucontext_t ctx;
    jmp_buf jb;
    std::vector<char> stack;
    dim3 tid;
    unsigned linear = 0;
    bool done = false;
    Barrier* waiting_on = nullptr;
    unsigned long long waiting_gen = 0;
};

// Switches: a fiber starts once per launch through makecontext/swapcontext; after that the
// scheduler and the fibers hand over with _setjmp/_longjmp, which skip swapcontext's signal-mask
// system call (the emulated kernels run millions of switches).
inline jmp_buf scheduler;
inline std::vector<Fiber> fibers;
inline Fiber* current = nullptr;
inline const std::function<void()>* body = nullptr;
inline bool exiting = false;
inline Barrier block_barrier;
inline std::vector<Barrier> warp_barriers;
inline std::vector<unsigned long long> slots;  // one shuffle slot per thread

inline void yield() {
    if (!_setjmp(current->jb)) {
        _longjmp(scheduler, 1);
    }
}

inline void resume(Fiber& f) {
    current = &f;
    threadIdx = f.tid;
    if (!_setjmp(scheduler)) {
        _longjmp(f.jb, 1);
    }
}

inline void wait_at(Barrier& b) {
    if (++b.arrived == b.expected) {  // the last to arrive releases the others
        b.arrived = 0;
        for (Fiber& f : fibers) {
            if (f.waiting_on == &b && f.waiting_gen == b.generation) {
                f.waiting_on = nullptr;
            }
        }
        ++b.generation;
        return;
    }
    current->waiting_on = &b;
    current->waiting_gen = b.generation;
    yield();
}

// A fiber runs the body once per block, handing back to the scheduler between blocks; at the
// end of the launch it hands back for good (its stack is reused by the next launch).
inline void trampoline() {
    yield();
    while (!exiting) {
        (*body)();
        current->done = true;
        yield();
    }
    _longjmp(scheduler, 1);
}

// 0 when every thread of every block ran to its end; 1 when the threads of a block wait at
// barriers none of the others will reach (a __syncthreads or shuffle in divergent code).
// ``direct``: the source has no barriers, so each thread runs to its end in turn, as a plain
// call (no fibers, no switches).
inline int launch(const unsigned* grid, const unsigned* block, const std::function<void()>& fn,
                  bool direct) {
    gridDim = dim3{grid[0], grid[1], grid[2]};
    blockDim = dim3{block[0], block[1], block[2]};
    const unsigned n = block[0] * block[1] * block[2];
    if (direct) {
        for (unsigned z = 0; z < grid[2]; ++z) {
            for (unsigned y = 0; y < grid[1]; ++y) {
                for (unsigned x = 0; x < grid[0]; ++x) {
                    blockIdx = dim3{x, y, z};
                    for (unsigned t = 0; t < n; ++t) {
                        threadIdx = dim3{t % block[0], (t / block[0]) % block[1],
                                         t / (block[0] * block[1])};
                        fn();
                    }
                }
            }
        }
        return 0;
    }
    body = &fn;
    exiting = false;
    if (fibers.size() < n) {
        fibers.resize(n);
    }
    slots.assign(n, 0);
    warp_barriers.assign((n + 31) / 32, Barrier{});
    for (unsigned w = 0; w < warp_barriers.size(); ++w) {
        warp_barriers[w].expected = n - w * 32 < 32 ? n - w * 32 : 32;
    }
    for (unsigned t = 0; t < n; ++t) {
        Fiber& f = fibers[t];
        f.stack.resize(STACK);
        f.linear = t;
        f.tid = dim3{t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack.data();
        f.ctx.uc_stack.ss_size = f.stack.size();
        f.ctx.uc_link = nullptr;
        makecontext(&f.ctx, trampoline, 0);
        current = &f;
        ucontext_t here;
        if (!_setjmp(scheduler)) {
            swapcontext(&here, &f.ctx);  // runs to the trampoline's first yield
        }
    }
    int status = 0;
    for (unsigned z = 0; z < grid[2] && !status; ++z) {
        for (unsigned y = 0; y < grid[1] && !status; ++y) {
            for (unsigned x = 0; x < grid[0] && !status; ++x) {
                blockIdx = dim3{x, y, z};
                block_barrier = Barrier{n, 0, 0};
                for (Barrier& b : warp_barriers) {
                    b.arrived = 0;
                }
                for (unsigned t = 0; t < n; ++t) {
                    fibers[t].done = false;
                    fibers[t].waiting_on = nullptr;
                }
                unsigned finished = 0;
                while (finished < n) {
                    bool ran = false;
                    finished = 0;
                    for (unsigned t = 0; t < n; ++t) {
                        Fiber& f = fibers[t];
                        if (f.done) {
                            ++finished;
                        } else if (!f.waiting_on) {
                            resume(f);
                            ran = true;
                        }
                    }
                    if (!ran && finished < n) {
                        status = 1;
                        break;
                    }
                }
            }
        }
    }
    if (!status) {  // let every fiber leave its loop; a deadlocked launch just drops them
        exiting = true;
        for (unsigned t = 0; t < n; ++t) {
            resume(fibers[t]);
        }
    }
    return status;
}

}  // namespace tg_emu

inline void __syncthreads() { tg_emu::wait_at(tg_emu::block_barrier); }

// Every lane of the warp must take part (mask 0xffffffff), as in tensorgrad's reductions.
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    static_assert(sizeof(T) <= sizeof(unsigned long long), "shuffle of a wide type");
    (void)width;
    if (mask != 0xffffffffu) {
        std::abort();
    }
    const unsigned me = tg_emu::current->linear;
    tg_emu::Barrier& bar = tg_emu::warp_barriers[me / 32];
    std::memcpy(&tg_emu::slots[me], &v, sizeof(T));
    tg_emu::wait_at(bar);
    T r;
    std::memcpy(&r, &tg_emu::slots[(me & ~31u) | ((me & 31u) ^ (unsigned)lane_mask)], sizeof(T));
    tg_emu::wait_at(bar);
    return r;
}

inline float __int_as_float(int i) {
    float f;
    std::memcpy(&f, &i, sizeof f);
    return f;
}

inline double __longlong_as_double(long long i) {
    double d;
    std::memcpy(&d, &i, sizeof d);
    return d;
}

using std::erf;
using std::exp;
using std::log;
using std::sqrt;
using std::tanh;
using std::max;
using std::min;
