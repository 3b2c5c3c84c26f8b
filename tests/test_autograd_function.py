"""tg.autograd.Function: PyTorch's custom-function API on tensorgrad's tape, compared with
torch.autograd.Function written the same way, and with finite differences."""

import weakref

import numpy as np
import pytest
from devices import close_to_torch, cyclic_garbage, host, put, torch_oracle

import tensorgrad as tg
from tensorgrad.autograd.function import once_differentiable

Function = tg.autograd.Function


def _t(a, device, requires_grad=False):
    return tg.tensor(put(np.asarray(a, dtype=np.float64), device), requires_grad=requires_grad)


# ---- the functions under test, written once per library ------------------------------------
def _exp_sin(base):
    """f(x, y, k) = k * exp(x) * sin(y): saves inputs and its output, takes a non-tensor."""

    class ExpSin(base):
        @staticmethod
        def forward(ctx, x, y, k):
            out = k * x.exp() * y.sin()
            ctx.save_for_backward(x, y, out)
            ctx.k = k
            return out

        @staticmethod
        def backward(ctx, g):
            x, y, out = ctx.saved_tensors
            return g * out, g * ctx.k * x.exp() * y.cos(), None

    return ExpSin


def _split(base):
    """Two outputs (x * 2, x ** 3); records what backward receives."""

    class Split(base):
        seen = []

        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            ctx.save_for_backward(x)
            return x * 2, x ** 3

        @staticmethod
        def backward(ctx, ga, gb):
            Split.seen.append((ga is None, gb is None))
            x, = ctx.saved_tensors
            out = 0
            if ga is not None:
                out = out + 2 * ga
            if gb is not None:
                out = out + 3 * x ** 2 * gb
            return out, None

    return Split


# ---- values and gradients against PyTorch ---------------------------------------------------
def test_values_and_gradients_match_torch(device, rng):
    torch = torch_oracle()
    xa, ya = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x, y = _t(xa, device, True), _t(ya, device, True)
    out = _exp_sin(Function).apply(x, y, 1.5)
    assert out.requires_grad and "ExpSin" in repr(out.grad_fn)
    (out * out).sum().backward()

    tx = torch.tensor(xa, requires_grad=True)
    ty = torch.tensor(ya, requires_grad=True)
    tout = _exp_sin(torch.autograd.Function).apply(tx, ty, 1.5)
    (tout * tout).sum().backward()
    close_to_torch(out, tout, rtol=1e-12)
    close_to_torch(x.grad, tx.grad, rtol=1e-12)
    close_to_torch(y.grad, ty.grad, rtol=1e-12)


def test_second_derivative_through_backward_matches_torch_and_finite_differences(device, rng):
    torch = torch_oracle()
    xa, ya = rng.standard_normal(5), rng.standard_normal(5)
    ExpSin = _exp_sin(Function)
    x, y = _t(xa, device, True), _t(ya, device, True)
    gx, gy = tg.autograd.grad(ExpSin.apply(x, y, 2.0).sum(), (x, y), create_graph=True)
    assert gx.requires_grad
    hxx, hxy = tg.autograd.grad((gx * gx).sum(), (x, y))

    tx = torch.tensor(xa, requires_grad=True)
    ty = torch.tensor(ya, requires_grad=True)
    tgx, tgy = torch.autograd.grad(_exp_sin(torch.autograd.Function).apply(tx, ty, 2.0).sum(),
                                   (tx, ty), create_graph=True)
    thxx, thxy = torch.autograd.grad((tgx * tgx).sum(), (tx, ty))
    close_to_torch(gx, tgx, rtol=1e-12)
    close_to_torch(gy, tgy, rtol=1e-12)
    close_to_torch(hxx, thxx, rtol=1e-12)
    close_to_torch(hxy, thxy, rtol=1e-12)

    # and the whole thing, to second order, against central differences (reverse mode)
    def f(x, y):
        return ExpSin.apply(x, y, 2.0).sum()

    tg.check_grads(f, modes=("rev",), order=2)(put(xa, device), put(ya, device))


def test_multiple_outputs_and_materialize_grads(device, rng):
    torch = torch_oracle()
    xa = rng.standard_normal(4)
    for materialize in (True, False):
        Split = _split(Function)
        x = _t(xa, device, True)
        a, b = Split.apply(x, materialize)
        assert a.grad_fn is not None and b.grad_fn is not None
        b.sum().backward()  # only the second output is used
        TSplit = _split(torch.autograd.Function)
        tx = torch.tensor(xa, requires_grad=True)
        ta, tb = TSplit.apply(tx, materialize)
        tb.sum().backward()
        close_to_torch(x.grad, tx.grad, rtol=1e-12)
        assert Split.seen == TSplit.seen == [(not materialize, False)]

    # both outputs: one backward call with both gradients, summed into x
    Split = _split(Function)
    x = _t(xa, device, True)
    a, b = Split.apply(x, True)
    (a * 3 + b).sum().backward()
    np.testing.assert_allclose(host(x.grad), 6 + 3 * xa ** 2, rtol=1e-12)
    assert Split.seen == [(False, False)]


def test_non_tensor_args_needs_input_grad_and_none_gradients(device):
    torch = torch_oracle()
    seen = {}

    def make(base):
        class Scale(base):
            @staticmethod
            def forward(ctx, x, w, name, power):
                seen[base] = ctx.needs_input_grad
                ctx.save_for_backward(x)
                ctx.power = power
                return x ** power * w

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * ctx.power * x ** (ctx.power - 1), None, None, None

        return Scale

    x = _t([1.0, 2.0], device, True)
    w = _t([3.0, 4.0], device, True)
    make(Function).apply(x, w, "label", 2).sum().backward()
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    tw = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    make(torch.autograd.Function).apply(tx, tw, "label", 2).sum().backward()
    assert seen[Function] == seen[torch.autograd.Function] == (True, True, False, False)
    close_to_torch(x.grad, tx.grad)
    # backward gave None for w although it requires grad: no gradient, as in PyTorch
    assert w.grad is None and tw.grad is None
    gx, gw = tg.autograd.grad(make(Function).apply(x, w, "l", 2).sum(), (x, w), allow_unused=True)
    assert gw is None and host(gx).tolist() == [2.0, 4.0]


def test_mark_non_differentiable_and_integer_outputs(device):
    class SortWithIndex(Function):
        @staticmethod
        def forward(ctx, x):
            idx = tg.tensor(put(np.argsort(x.numpy()), device))
            values = x[idx]
            ranks = values * 0
            ctx.mark_non_differentiable(ranks)
            ctx.save_for_backward(idx)
            ctx.n = x.shape[0]
            return values, idx, ranks

        @staticmethod
        def backward(ctx, g, g_idx, g_ranks):
            idx, = ctx.saved_tensors
            assert g_ranks is not None and float(abs(g_ranks).sum().item()) == 0.0
            out = tg.zeros(ctx.n, dtype=g.dtype, device=g.device)
            out[idx] = g
            return out

    x = _t([3.0, 1.0, 2.0], device, True)
    values, idx, ranks = SortWithIndex.apply(x)
    assert values.requires_grad and not idx.requires_grad and not ranks.requires_grad
    (values * _t([1.0, 10.0, 100.0], device)).sum().backward()
    assert host(x.grad).tolist() == [100.0, 1.0, 10.0]


def test_setup_context_style_and_vjp_alias(device):
    torch = torch_oracle()

    def make(base):
        class Cube(base):
            @staticmethod
            def forward(x):
                return x ** 3

            @staticmethod
            def setup_context(ctx, inputs, output):
                x, = inputs
                ctx.save_for_backward(x, output)

            @staticmethod
            def backward(ctx, g):
                x, out = ctx.saved_tensors
                return 3 * out / x * g

        return Cube

    x = _t([1.0, -2.0, 0.5], device, True)
    make(Function).apply(x).sum().backward()
    tx = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    make(torch.autograd.Function).apply(tx).sum().backward()
    close_to_torch(x.grad, tx.grad, rtol=1e-12)


def test_forward_runs_without_recording_and_outputs_share_one_node(device):
    class Both(Function):
        @staticmethod
        def forward(ctx, x):
            assert not tg.is_grad_enabled()
            y = x * 2
            assert not y.requires_grad
            return y, y + 1, x

        @staticmethod
        def backward(ctx, a, b, c):
            return a * 2 + b * 2 + c

    x = _t([1.0, 2.0], device, True)
    a, b, c = Both.apply(x)
    assert c is not x and c.requires_grad  # an input given back is a new tensor on the node
    parents = {a.grad_fn.parents[0], b.grad_fn.parents[0], c.grad_fn.parents[0]}
    assert len(parents) == 1  # the outputs' slots all lead to the one Function node
    (a + b + c).sum().backward()
    assert host(x.grad).tolist() == [5.0, 5.0]
    assert x.requires_grad and x.grad_fn is None


# ---- in-place: version counters and mark_dirty -----------------------------------------------
def test_saved_tensor_modified_in_place_raises(device):
    torch = torch_oracle()
    x = _t([1.0, 2.0], device, True)
    h = x * 1
    y = _exp_sin(Function).apply(h, x, 1.0)
    with tg.no_grad():
        h.exp()  # reading is fine
    h.mul_(2)  # changes a tensor saved by forward
    with pytest.raises(RuntimeError, match="ExpSin.*modified by an inplace operation"):
        y.sum().backward()
    # PyTorch's kind of error for the same program
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    th = tx * 1
    ty = _exp_sin(torch.autograd.Function).apply(th, tx, 1.0)
    th.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()


def test_mark_dirty_rebases_the_input_on_the_node(device):
    torch = torch_oracle()

    def make(base):
        class Double_(base):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 2

        return Double_

    a = _t([1.0, 2.0], device, True)
    h = a * 3
    out = make(Function).apply(h)
    assert out is h and "Double_" in repr(h.grad_fn)
    (h * h).sum().backward()
    ta = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    th = ta * 3
    make(torch.autograd.Function).apply(th)
    (th * th).sum().backward()
    close_to_torch(h, th)
    close_to_torch(a.grad, ta.grad)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        make(Function).apply(_t([1.0], device, True))


# ---- errors ------------------------------------------------------------------------------
class _Wrong(Function):
    @staticmethod
    def forward(ctx, x, y, mode):
        ctx.mode = mode
        return x * y

    @staticmethod
    def backward(ctx, g):
        if ctx.mode == "count":
            return g
        if ctx.mode == "shape":
            return g, g[:1], None
        if ctx.mode == "type":
            return g, 3, None
        return g, g, 1.0


def test_wrong_backward_results_raise_clear_errors(device):
    x = _t(np.ones((2, 3)), device, True)
    y = _t(np.ones((2, 3)), device, True)
    with pytest.raises(RuntimeError, match=r"_Wrong.*incorrect number.*expected 3.*got 1"):
        _Wrong.apply(x, y, "count").sum().backward()
    with pytest.raises(RuntimeError, match=r"_Wrong.*argument 1.*shape \(1, 3\).*\(2, 3\)"):
        _Wrong.apply(x, y, "shape").sum().backward()
    with pytest.raises(TypeError, match=r"_Wrong.*int for argument 1"):
        _Wrong.apply(x, y, "type").sum().backward()
    with pytest.raises(RuntimeError, match=r"_Wrong.*argument 2.*not a tensor"):
        _Wrong.apply(x, y, "nontensor").sum().backward()


def test_missing_backward_and_forward_mode_without_jvp_name_the_function(device):
    class NoBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x + 1

    x = _t([1.0], device, True)
    with pytest.raises(NotImplementedError, match="NoBackward: backward is not defined"):
        NoBackward.apply(x).sum().backward()
    with pytest.raises(NotImplementedError, match=r"NoBackward: forward-mode.*NoBackward\.jvp"):
        tg.jvp(lambda t: NoBackward.apply(t), (put(np.ones(2), device),),
               (put(np.ones(2), device),))
    with pytest.raises(RuntimeError, match="through its class"):
        NoBackward()(x)


def test_second_backward_through_a_freed_function_raises(device):
    x = _t([1.0, 2.0], device, True)
    y = _exp_sin(Function).apply(x, x, 1.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()


# ---- forward mode ---------------------------------------------------------------------------
class _Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.tanh()
        ctx.save_for_backward(y)
        ctx.save_for_forward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (1 - y * y)

    @staticmethod
    def jvp(ctx, t):
        y, = ctx.saved_tensors
        return t * (1 - y * y)


def test_jvp_is_used_in_forward_mode_and_checked_to_second_order(device, rng):
    torch = torch_oracle()
    xa, va = rng.standard_normal(4), rng.standard_normal(4)
    value, tangent = tg.jvp(lambda t: _Tanh.apply(t), (put(xa, device),), (put(va, device),))
    np.testing.assert_allclose(host(value), np.tanh(xa), rtol=1e-12)
    np.testing.assert_allclose(host(tangent), va / np.cosh(xa) ** 2, rtol=1e-12)
    tvalue, ttangent = torch.func.jvp(torch.tanh, (torch.tensor(xa),), (torch.tensor(va),))
    close_to_torch(tangent, ttangent, rtol=1e-12)
    # forward and reverse, first and second order (hessian goes forward over reverse)
    tg.check_grads(lambda t: _Tanh.apply(t).sum(), modes=("fwd", "rev"), order=2)(
        put(xa, device))
    H = tg.hessian(lambda t: _Tanh.apply(t).sum())(put(xa, device))
    t = np.tanh(xa)
    np.testing.assert_allclose(host(H), np.diag(-2 * t * (1 - t * t)), rtol=1e-10, atol=1e-12)


# ---- once_differentiable -------------------------------------------------------------------
class _Square1(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, = ctx.saved_tensors
        assert not tg.is_grad_enabled()
        return 2 * x * g


def test_once_differentiable(device):
    x = _t([1.0, 3.0], device, True)
    g, = tg.autograd.grad(_Square1.apply(x).sum(), x)
    assert host(g).tolist() == [2.0, 6.0]
    g, = tg.autograd.grad(_Square1.apply(x).sum(), x, create_graph=True)
    assert host(g).tolist() == [2.0, 6.0]
    # the result depends on x (saved): a second derivative raises instead of being 0
    with pytest.raises(RuntimeError, match=r"differentiate twice.*once_differentiable.*_Square1"):
        g.sum().backward()
    v = _t([1.0, 1.0], device, True)
    g, = tg.autograd.grad(_Square1.apply(x), x, grad_outputs=v, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        tg.autograd.grad(g.sum(), v)


# ---- memory: no cycles, saves freed with the node ------------------------------------------
def test_no_reference_cycle_and_saved_tensors_freed_after_backward(device):
    x = _t(np.linspace(0.1, 1, 8), device, True)
    Split, ExpSin = _split(Function), _exp_sin(Function)  # (a class is a cycle itself)
    with cyclic_garbage() as ours:
        for _ in range(3):
            h = x * 2
            a, b = Split.apply(h, True)
            out = ExpSin.apply(a, b, 1.0)
            saved = weakref.ref(h.data)
            del h
            assert saved() is not None  # kept by Split's ctx.save_for_backward
            out.sum().backward()
            assert saved() is None  # gone with the node's saves, as the pass ran
            del a, b, out
    assert ours == []


# ---- the GPU use case: forward and backward are user-written CUDA kernels ---------------------
_CUBE_SRC = r"""
extern "C" __global__ void tgtest_cube_fwd(const double* x, double* y, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        double v = x[i];
        y[i] = v * v * v;
    }
}

extern "C" __global__ void tgtest_cube_bwd(const double* x, const double* g, double* dx,
                                           long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        double v = x[i];
        dx[i] = 3.0 * v * v * g[i];
    }
}
"""


def _launch(kernel, n, *arrays):
    import numpy

    threads = 128
    kernel(((n + threads - 1) // threads,), (threads,), (*arrays, numpy.int64(n)))


class _CubeKernel(Function):
    @staticmethod
    def forward(ctx, x):
        import cupy

        fwd = cupy.RawKernel(_CUBE_SRC, "tgtest_cube_fwd")
        xd = cupy.ascontiguousarray(x.data)
        y = cupy.empty_like(xd)
        _launch(fwd, xd.size, xd, y)
        ctx.save_for_backward(x)
        return tg.from_dlpack(y)  # a CuPy array as a tensor, no copy

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        import cupy

        x, = ctx.saved_tensors
        bwd = cupy.RawKernel(_CUBE_SRC, "tgtest_cube_bwd")
        xd = cupy.ascontiguousarray(x.data)
        dx = cupy.empty_like(xd)
        _launch(bwd, xd.size, xd, cupy.ascontiguousarray(g.data), dx)
        return tg.from_dlpack(dx)


def test_function_with_user_cuda_kernels(cuda_device, rng, monkeypatch):
    """On the CuPy stand-in a launch runs the kernel's NumPy reference, looked up by name in
    tensorgrad.kernels.reference (and in compare mode the kernel's own C code as well, checked
    against it): the test registers the references of its two kernels there."""
    import tensorgrad.kernels.reference as reference

    def cube_fwd(grid, block, shared_mem, x, y, n):
        y[:n] = x[:n] ** 3

    def cube_bwd(grid, block, shared_mem, x, g, dx, n):
        dx[:n] = 3.0 * x[:n] ** 2 * g[:n]

    monkeypatch.setattr(reference, "tgtest_cube_fwd", cube_fwd, raising=False)
    monkeypatch.setattr(reference, "tgtest_cube_bwd", cube_bwd, raising=False)
    torch = torch_oracle()
    xa = rng.standard_normal((3, 70))  # more elements than one block
    x = _t(xa, cuda_device, True)
    y = _CubeKernel.apply(x)
    assert y.device.type == "cuda" and y.requires_grad
    (y * _t(np.arange(210.0).reshape(3, 70), cuda_device)).sum().backward()
    tx = torch.tensor(xa, requires_grad=True)
    (tx ** 3 * torch.arange(210.0, dtype=torch.float64).reshape(3, 70)).sum().backward()
    close_to_torch(y, tx.detach() ** 3, rtol=1e-12)
    close_to_torch(x.grad, tx.grad, rtol=1e-12)
    assert x.grad.device.type == "cuda"
