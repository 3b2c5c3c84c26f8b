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
#include <cstdio>
#include <cstdlib>
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
// __shared__ declarations are rewritten by _emulate.py into tg_emu::Shared arrays (below)

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
// Shared-memory race detection: an epoch is the stretch between two block barriers (or a
// block's start); two warps touching one shared element in the same epoch, one of them writing,
// is a race that only the GPU's timing would decide.
inline unsigned long long epoch = 0;
inline bool race = false;
inline char race_message[512];
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
        if (&b == &block_barrier) {
            ++epoch;
        }
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
    race = false;
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
                ++epoch;
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
    if (!status && race) {
        status = 2;
    }
    if (!status || status == 2) {  // let every fiber leave its loop; a deadlock drops them
        exiting = true;
        for (unsigned t = 0; t < n; ++t) {
            resume(fibers[t]);
        }
    }
    return status;
}

// What the C source's ``__shared__ T name[N]`` (or [N][M]) becomes (_emulate.py rewrites the
// declarations): the elements, and per element who touched it in the current epoch.
struct SharedUse {
    unsigned long long epoch = ~0ull;
    int writer = -1;  // the warp that wrote it, -1 for none
    int reader = -1;  // the warp that read it, -1 for none, -2 for several
};

inline void note_race(const char* what, size_t i, int warp, int other) {
    if (!race) {
        race = true;
        snprintf(race_message, sizeof race_message,
                 "block (%u, %u, %u): warp %d %s shared element %zu in the same epoch (between "
                 "two __syncthreads) as warp %d, with no barrier between them",
                 blockIdx.x, blockIdx.y, blockIdx.z, warp, what, i, other);
    }
}

template <typename T, size_t N>
struct Shared {
    T data[N];
    SharedUse use[N];

    SharedUse& fresh(size_t i) {
        if (i >= N) {
            std::abort();  // out of bounds: a GPU would read or write another array
        }
        SharedUse& u = use[i];
        if (u.epoch != epoch) {
            u = SharedUse{};
            u.epoch = epoch;
        }
        return u;
    }
    T load(size_t i) {
        SharedUse& u = fresh(i);
        const int w = (int)(current->linear / 32);
        if (u.writer != -1 && u.writer != w) {
            note_race("read", i, w, u.writer);
        }
        u.reader = (u.reader == -1 || u.reader == w) ? w : -2;
        return data[i];
    }
    void store(size_t i, T v) {
        SharedUse& u = fresh(i);
        const int w = (int)(current->linear / 32);
        if (u.writer != -1 && u.writer != w) {
            note_race("wrote", i, w, u.writer);
        } else if (u.reader != -1 && u.reader != w) {
            note_race("wrote", i, w, u.reader);
        }
        u.writer = w;
        data[i] = v;
    }

    struct Ref {
        Shared* s;
        size_t i;
        operator T() const { return s->load(i); }
        Ref& operator=(T v) {
            s->store(i, v);
            return *this;
        }
        Ref& operator=(const Ref& o) { return *this = T(o); }
        Ref& operator+=(T v) { return *this = T(*this) + v; }
        Ref& operator-=(T v) { return *this = T(*this) - v; }
        Ref& operator*=(T v) { return *this = T(*this) * v; }
    };
    Ref operator[](size_t i) { return Ref{this, i}; }
};

template <typename T, size_t N, size_t M>
struct Shared2 {
    Shared<T, N * M> flat;
    struct Row {
        Shared<T, N * M>* s;
        size_t r;
        typename Shared<T, N * M>::Ref operator[](size_t c) {
            if (c >= M) {
                std::abort();
            }
            return (*s)[r * M + c];
        }
    };
    Row operator[](size_t r) {
        if (r >= N) {
            std::abort();
        }
        return Row{&flat, r};
    }
};

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
