"""The parts of torch.autograd's API built on tensorgrad's engine: forward_ad, backward,
gradcheck/gradgradcheck, Variable, the grad-mode names, functional.hvp/vhp, tg.testing's
assert_close/make_tensor, and tg.amp.custom_fwd/custom_bwd; compared with PyTorch."""

import warnings

import numpy as np
import pytest
from devices import close_to_torch, host, on, put, tensor_on, torch_oracle

import tensorgrad as tg
import tensorgrad.autograd.forward_ad as fwAD

torch = torch_oracle()
tfwAD = torch.autograd.forward_ad


def _rng(seed=0):
    return np.random.default_rng(seed)


def _t(a):
    return torch.tensor(np.asarray(a))


# ---- forward_ad --------------------------------------------------------------------------
def test_forward_ad_is_reachable_from_tg_autograd():
    assert tg.autograd.forward_ad is fwAD
    assert fwAD.UnpackedDualTensor._fields == ("primal", "tangent")


def test_dual_tangent_matches_torch(device):
    rng = _rng()
    x, v = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))

    def f(m, a):
        return m.sin(a) * a + m.exp(a).sum()

    with fwAD.dual_level():
        out = fwAD.unpack_dual(f(tg, fwAD.make_dual(tensor_on(x, device), tensor_on(v, device))))
    with tfwAD.dual_level():
        ref = tfwAD.unpack_dual(f(torch, tfwAD.make_dual(_t(x), _t(v))))
    assert isinstance(out, fwAD.UnpackedDualTensor)
    assert on(out.tangent, device) and on(out.primal, device)
    close_to_torch(out.primal, ref.primal, rtol=1e-12)
    close_to_torch(out.tangent, ref.tangent, rtol=1e-12)


def test_enter_and_exit_dual_level_by_hand(device):
    level = fwAD.enter_dual_level()
    try:
        assert isinstance(level, int)
        d = fwAD.make_dual(tensor_on([1.0, 2.0], device), tensor_on([1.0, 1.0], device))
        assert host(fwAD.unpack_dual(d * d, level=level).tangent).tolist() == [2.0, 4.0]
    finally:
        fwAD.exit_dual_level(level=level)
    # after the level is gone nothing reports a tangent, and a new level does not see it
    assert fwAD.unpack_dual(d).tangent is None
    with fwAD.dual_level():
        assert fwAD.unpack_dual(d).tangent is None


def test_unpack_of_a_plain_tensor_has_no_tangent():
    x = tg.ones(2)
    assert fwAD.unpack_dual(x) == (x, None)
    with fwAD.dual_level():
        p, t = fwAD.unpack_dual(x)
        assert p is x and t is None


def test_forward_ad_errors_as_torch():
    x = tg.ones(3, dtype="float64")
    with pytest.raises(RuntimeError, match="no forward AD level"):
        fwAD.make_dual(x, tg.ones(3, dtype="float64"))
    with pytest.raises(RuntimeError):  # torch agrees
        tfwAD.make_dual(torch.ones(3), torch.ones(3))
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match=r"shape \(4,\).*shape \(3,\)"):
            fwAD.make_dual(x, tg.ones(4, dtype="float64"))
        with pytest.raises(RuntimeError, match=r"dtype float32.*\(3,\).*float64"):
            fwAD.make_dual(x, tg.ones(3, dtype="float32"))
        with pytest.raises(ValueError, match="floating point"):
            fwAD.make_dual(tg.tensor([1, 2]), tg.tensor([1, 2]))
        with pytest.raises(RuntimeError, match="nested"):
            fwAD.enter_dual_level()
        d = fwAD.make_dual(x, tg.ones(3, dtype="float64"))
        with pytest.raises(RuntimeError, match="already has a tangent"):
            fwAD.make_dual(d, tg.ones(3, dtype="float64"))
        with pytest.raises(TypeError, match="Tensors"):
            fwAD.make_dual(np.ones(3), tg.ones(3, dtype="float64"))
    with pytest.raises(RuntimeError, match="no forward AD level is open"):
        fwAD.exit_dual_level()
    with tfwAD.dual_level():
        with pytest.raises(RuntimeError):
            tfwAD.make_dual(torch.ones(3), torch.ones(4))
        with pytest.raises(ValueError):
            tfwAD.make_dual(torch.arange(3), torch.arange(3))


@pytest.mark.cuda
def test_make_dual_tangent_on_another_device_is_refused():
    if not tg.cuda.is_available():
        pytest.skip("needs cuda (or the CuPy stand-in)")
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match="tangent is on cpu"):
            fwAD.make_dual(tensor_on([1.0], "cuda"), tg.tensor(np.ones(1)))


def _torch_linear(lin):
    m = torch.nn.Linear(lin.in_features, lin.out_features).double()
    with torch.no_grad():
        m.weight.copy_(_t(host(lin.weight.detach())))
        m.bias.copy_(_t(host(lin.bias.detach())))
    return m


def test_jvp_of_nn_linear_and_conv_via_make_dual(device):
    rng = _rng(1)
    tg.manual_seed(0)
    lin = tg.nn.Linear(4, 3).double().to(device)
    conv = tg.nn.Conv2d(2, 3, 3, padding=1).double().to(device)
    x, v = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    xi, vi = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 2, 5, 5))
    with fwAD.dual_level():
        lt = fwAD.unpack_dual(tg.tanh(lin(fwAD.make_dual(tensor_on(x, device),
                                                          tensor_on(v, device))))).tangent
        ct = fwAD.unpack_dual(conv(fwAD.make_dual(tensor_on(xi, device),
                                                   tensor_on(vi, device)))).tangent
    tlin = _torch_linear(lin)
    tconv = torch.nn.Conv2d(2, 3, 3, padding=1).double()
    with torch.no_grad():
        tconv.weight.copy_(_t(host(conv.weight.detach())))
        tconv.bias.copy_(_t(host(conv.bias.detach())))
    with tfwAD.dual_level():
        rl = tfwAD.unpack_dual(torch.tanh(tlin(tfwAD.make_dual(_t(x), _t(v))))).tangent
        rc = tfwAD.unpack_dual(tconv(tfwAD.make_dual(_t(xi), _t(vi)))).tangent
    assert on(lt, device) and on(ct, device)
    close_to_torch(lt, rl, rtol=1e-10, atol=1e-12)
    close_to_torch(ct, rc, rtol=1e-10, atol=1e-12)


def test_forward_over_reverse_gives_hessian_vector_products(device):
    rng = _rng(2)
    x, v = rng.standard_normal(4), rng.standard_normal(4)

    def f(m, a):
        return (m.tanh(a) ** 3).sum() + (a * a).sum()

    xr = tensor_on(x, device, requires_grad=True)
    with fwAD.dual_level():
        xd = fwAD.make_dual(xr, tensor_on(v, device))
        g, = tg.autograd.grad(f(tg, xd), xd)
        p, t = fwAD.unpack_dual(g)
    txr = _t(x).requires_grad_()
    with tfwAD.dual_level():
        txd = tfwAD.make_dual(txr, _t(v))
        tg_, = torch.autograd.grad(f(torch, txd), txd)
        tp, tt = tfwAD.unpack_dual(tg_)
    close_to_torch(p, tp, rtol=1e-12)
    close_to_torch(t, tt, rtol=1e-10)
    # .backward() of a dual accumulates the primal's gradient only, as PyTorch
    with fwAD.dual_level():
        f(tg, fwAD.make_dual(xr, tensor_on(v, device))).backward()
    assert fwAD.unpack_dual(xr.grad).tangent is None
    close_to_torch(xr.grad, tp, rtol=1e-12)


def test_grad_of_a_dual_needs_an_input_on_the_tape():
    with fwAD.dual_level():
        d = fwAD.make_dual(tg.ones(2, dtype="float64"), tg.ones(2, dtype="float64"))
        with pytest.raises(RuntimeError, match="does not require grad"):
            tg.autograd.grad((d * d).sum(), d)


def test_tg_jvp_nests_inside_a_dual_level(device):
    x = tensor_on([0.5, 1.5], device)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, tensor_on([1.0, 0.0], device))
        # inner transform: d/dx along [0, 1] of the outer tangent's function
        _, inner = tg.jvp(lambda a: a * a * a, (d,), (tensor_on([0.0, 1.0], device),))
        outer = fwAD.unpack_dual(inner).tangent
    # inner = 3 a^2 * e2; its derivative along e1 is 6 a * e1 * e2 = 0 elementwise
    assert np.allclose(host(fwAD.unpack_dual(inner).primal), [0.0, 3 * 1.5 ** 2])
    assert np.allclose(host(outer), [0.0, 0.0])


def _net(device):
    rng = _rng(3)
    w1 = tensor_on(rng.standard_normal((3, 4)), device)
    b1 = tensor_on(rng.standard_normal(3), device)
    w2 = tensor_on(rng.standard_normal((2, 3)), device)

    def net(x):
        return tg.nn.functional.linear(tg.tanh(tg.nn.functional.linear(x, w1, b1)), w2)

    return net


def _as_tensor(a):
    return a if isinstance(a, tg.Tensor) else tg.tensor(a)


def test_forward_ad_through_a_network_second_order_finite_differences(device):
    net = _net(device)

    def directional(x, v):  # J(x) v of the network, by forward_ad
        with fwAD.dual_level():
            return fwAD.unpack_dual(net(fwAD.make_dual(_as_tensor(x), _as_tensor(v)))).tangent

    rng = _rng(4)
    x, v = put(rng.standard_normal((2, 4)), device), put(rng.standard_normal((2, 4)), device)
    tg.check_grads(directional, modes=("fwd", "rev"), order=2)(x, v)
    # and the values are J v of tg.jvp's
    _, ref = tg.jvp(net, (tg.tensor(x),), (tg.tensor(v),))
    assert np.allclose(host(directional(x, v)), host(ref))


def test_forward_ad_hvp_second_order_finite_differences(device):
    net = _net(device)

    def hvp(x, v):  # forward over reverse: H v of sum(net(x)^2)
        with fwAD.dual_level():
            xr = _as_tensor(x)
            xr = xr if xr.requires_grad or xr._level else xr.detach().requires_grad_()
            xd = fwAD.make_dual(xr, _as_tensor(v))
            g, = tg.autograd.grad((net(xd) ** 2).sum(), xd, create_graph=True)
            return fwAD.unpack_dual(g).tangent

    rng = _rng(5)
    x, v = put(rng.standard_normal(4), device), put(rng.standard_normal(4), device)
    ref = host(tg.hessian(lambda a: (net(a) ** 2).sum())(tg.tensor(x))) @ host(v)
    assert np.allclose(host(hvp(x, v)), ref)
    tg.check_grads(hvp, modes=("rev",), order=1)(x, v)


# ---- tg.autograd's names ------------------------------------------------------------------
def test_grad_mode_names_are_the_top_level_ones():
    assert tg.autograd.no_grad is tg.no_grad
    assert tg.autograd.enable_grad is tg.enable_grad
    assert tg.autograd.set_grad_enabled is tg.set_grad_enabled
    assert tg.autograd.inference_mode is tg.inference_mode
    x = tg.ones(2, requires_grad=True)
    with tg.autograd.no_grad():
        assert not (x * 2).requires_grad
        with tg.autograd.enable_grad():
            assert (x * 2).requires_grad
    with tg.autograd.inference_mode():
        assert not (x * 2).requires_grad
    with tg.autograd.set_grad_enabled(False):
        assert not (x * 2).requires_grad


def test_backward_of_several_tensors_matches_torch(device):
    rng = _rng(6)
    a = rng.standard_normal(3)
    s = rng.standard_normal(3)
    x = tensor_on(a, device, requires_grad=True)
    tx = _t(a).requires_grad_()
    for m, xx, seed in ((tg, x, tensor_on(s, device)), (torch, tx, _t(s))):
        m.autograd.backward([(xx * xx).sum(), m.sin(xx)], [None, seed])
    close_to_torch(x.grad, tx.grad, rtol=1e-12)
    # one tensor, and inputs=
    y = tensor_on(a, device, requires_grad=True)
    z = tensor_on(a, device, requires_grad=True)
    tg.autograd.backward((y * z).sum(), inputs=[y])
    assert z.grad is None and np.allclose(host(y.grad), a)
    tg.autograd.backward([(y * z).sum(), (y * y).sum()], inputs=[z])
    assert np.allclose(host(z.grad), a)


def test_backward_errors():
    x = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*grad_tensors"):
        tg.autograd.backward([x * 2, x.sum()])
    with pytest.raises(RuntimeError, match=r"grad_tensors\[0\] has shape \(2,\)"):
        tg.autograd.backward([x * 2, x.sum()], [tg.ones(2), None])
    with pytest.raises(RuntimeError, match="2 grad_tensors for 1"):
        tg.autograd.backward([x.sum()], [None, None])
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.autograd.backward([x.sum(), tg.ones(1).sum()])


def test_variable_is_the_legacy_wrapper():
    x = tg.ones(2, requires_grad=True)
    y = x * 2
    v = tg.autograd.Variable(y)
    assert v is not y and v.grad_fn is None and not v.requires_grad
    w = tg.autograd.Variable(tg.ones(2), requires_grad=True)
    assert w.requires_grad and w.is_leaf
    assert isinstance(tg.ones(1), tg.autograd.Variable)
    base = tg.zeros(2)
    tg.autograd.Variable(base).add_(1)  # shares the data, as PyTorch's
    assert base.tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="has to be a tensor"):
        tg.autograd.Variable([1.0])


def test_set_multithreading_enabled():
    assert tg.autograd.is_multithreading_enabled()
    with tg.autograd.set_multithreading_enabled(False):
        assert not tg.autograd.is_multithreading_enabled()
        x = tg.ones(2, requires_grad=True)
        (x * 3).sum().backward()  # the backward pass is unaffected
        assert x.grad.tolist() == [3.0, 3.0]
    assert tg.autograd.is_multithreading_enabled()


class _BadBackward(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 3 * x * g  # wrong: 2 x

    @staticmethod
    def jvp(ctx, t):
        x, = ctx.saved_tensors
        return 2 * x * t


class _BadJvp(_BadBackward):
    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 2 * x * g

    @staticmethod
    def jvp(ctx, t):
        x, = ctx.saved_tensors
        return x * t  # wrong


class _BadDoubleBackward(_BadJvp):
    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 2 * x.detach() * g  # first derivative right, second wrong


def test_gradcheck_and_gradgradcheck_pass_on_smooth_functions(device):
    rng = _rng(7)
    x = tensor_on(rng.standard_normal(3), device, requires_grad=True)
    w = tensor_on(rng.standard_normal((2, 3)), device, requires_grad=True)

    def f(x, w):
        return tg.tanh(w @ x), (x * x).sum()

    assert tg.autograd.gradcheck(f, (x, w), check_forward_ad=True) is True
    assert tg.autograd.gradgradcheck(f, (x, w), check_fwd_over_rev=True) is True
    assert tg.autograd.gradcheck(lambda x: x * 2, x, check_grad_dtypes=True)


def test_gradcheck_catches_wrong_rules_as_torch(device):
    x = tensor_on([0.3, -1.2], device, requires_grad=True)
    with pytest.raises(tg.autograd.GradcheckError, match="Jacobian mismatch.*backward mode"):
        tg.autograd.gradcheck(_BadBackward.apply, (x,))
    assert tg.autograd.gradcheck(_BadBackward.apply, (x,), raise_exception=False) is False
    assert tg.autograd.gradcheck(_BadBackward.apply, (x,), check_backward_ad=False,
                                 check_forward_ad=True)
    assert tg.autograd.gradcheck(_BadJvp.apply, (x,))
    with pytest.raises(tg.autograd.GradcheckError, match="forward mode"):
        tg.autograd.gradcheck(_BadJvp.apply, (x,), check_forward_ad=True)
    assert tg.autograd.gradcheck(_BadDoubleBackward.apply, (x,))
    assert tg.autograd.gradgradcheck(_BadDoubleBackward.apply, (x,),
                                     raise_exception=False) is False
    assert tg.autograd.gradgradcheck(_BadJvp.apply, (x,))

    # PyTorch judges the same rules the same way
    class TBad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            a, = ctx.saved_tensors
            return 2 * a.detach() * g

    tx = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(TBad.apply, (tx,))
    assert torch.autograd.gradgradcheck(TBad.apply, (tx,), raise_exception=False) is False


def test_gradcheck_signature_is_torchs():
    import inspect

    for name in ("gradcheck", "gradgradcheck"):
        ours = inspect.signature(getattr(tg.autograd, name)).parameters
        theirs = inspect.signature(getattr(torch.autograd, name)).parameters
        assert list(ours) == list(theirs)
        assert [p.kind for p in ours.values()] == [p.kind for p in theirs.values()]
    x = tg.ones(2, dtype="float64")
    with pytest.raises(ValueError, match="requires_grad"):
        tg.autograd.gradcheck(lambda a: a * 2, (x,))


# ---- functional.hvp / vhp -----------------------------------------------------------------
def _cubic(m):
    def f(x, y):
        return (m.sin(x) * y ** 3).sum() + (x * x).sum() * y.sum()

    return f


@pytest.mark.parametrize("which", ["hvp", "vhp"])
def test_hvp_vhp_match_torch(device, which):
    rng = _rng(8)
    x, y, vx, vy = (rng.standard_normal(3) for _ in range(4))
    ours = getattr(tg.autograd.functional, which)
    theirs = getattr(torch.autograd.functional, which)
    out, (hx, hy) = ours(_cubic(tg), (tensor_on(x, device), tensor_on(y, device)),
                         (tensor_on(vx, device), tensor_on(vy, device)))
    tout, (thx, thy) = theirs(_cubic(torch), (_t(x), _t(y)), (_t(vx), _t(vy)))
    assert on(hx, device) and not out.requires_grad and not hx.requires_grad
    close_to_torch(out, tout, rtol=1e-12)
    close_to_torch(hx, thx, rtol=1e-10)
    close_to_torch(hy, thy, rtol=1e-10)
    # one tensor in: one tensor out; v=None for a single element
    out, h = ours(lambda a: (a ** 4).sum(), tensor_on([2.0], device))
    assert isinstance(h, tg.Tensor) and np.allclose(host(h), [48.0])


def test_hvp_is_finite_difference_of_the_gradient(device):
    rng = _rng(9)
    x, v = rng.standard_normal(3), rng.standard_normal(3)
    f = _cubic(tg)
    y = tensor_on([0.5, -0.2, 0.1], device)

    def g(a):
        return tg.grad(lambda b: f(b, y))(a)

    eps = 1e-6
    fd = (host(g(tensor_on(x + eps * v, device))) - host(g(tensor_on(x - eps * v, device))))
    _, h = tg.autograd.functional.hvp(lambda a: f(a, y), tensor_on(x, device),
                                      tensor_on(v, device))
    assert np.allclose(host(h), fd / (2 * eps), rtol=1e-6, atol=1e-8)


def test_hvp_create_graph_and_strict():
    x = tg.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    out, h = tg.autograd.functional.hvp(lambda a: (a ** 3).sum(), x,
                                        tg.ones(2, dtype="float64"), create_graph=True)
    assert out.requires_grad and h.requires_grad
    h.sum().backward()  # d/dx sum(6 x) = 6
    assert x.grad.tolist() == [6.0, 6.0]
    # a linear function: zeros, or an error in strict mode (as torch)
    _, h = tg.autograd.functional.hvp(lambda a: a.sum(), x, tg.ones(2, dtype="float64"))
    assert h.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="strict"):
        tg.autograd.functional.vhp(lambda a: a.sum(), x, tg.ones(2, dtype="float64"),
                                   strict=True)
    with pytest.raises(RuntimeError):
        torch.autograd.functional.vhp(lambda a: a.sum(), torch.ones(2), torch.ones(2),
                                      strict=True)


def test_hvp_errors():
    x = tg.ones(3)
    with pytest.raises(RuntimeError, match="single Tensor with a single element"):
        tg.autograd.functional.hvp(lambda a: a.sum(), x)
    with pytest.raises(RuntimeError, match="single-element Tensor, got \\(3,\\)"):
        tg.autograd.functional.hvp(lambda a: a * 2, x, tg.ones(3))
    with pytest.raises(RuntimeError, match=r"v\[0\] has shape \(4,\) but input 0 has shape"):
        tg.autograd.functional.vhp(lambda a: (a ** 3).sum(), x, tg.ones(4))
    with pytest.raises(TypeError, match="must be a Tensor"):
        tg.autograd.functional.vhp(lambda a: (a ** 3).sum(), np.ones(3), tg.ones(3))


# ---- tg.testing ---------------------------------------------------------------------------
def _message(fn, *args, **kwargs):
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_assert_close_message_matches_torch(device):
    a = np.array([[1.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    b = np.array([[1.0, 1.0], [1.5, 0.0]], dtype=np.float32)
    ours = _message(tg.testing.assert_close, tensor_on(a, device), tensor_on(b, device))
    theirs = _message(torch.testing.assert_close, _t(a), _t(b))
    assert ours == theirs
    assert "Mismatched elements: 2 / 4 (50.0%)" in ours
    ours = _message(tg.testing.assert_close, 1.0, 1.5)
    assert ours == _message(torch.testing.assert_close, 1.0, 1.5)
    ours = _message(tg.testing.assert_close, [tg.ones(2), tg.ones(2)], [tg.ones(2), tg.zeros(2)])
    assert ours.endswith("The failure occurred for item [1]")
    assert ours == _message(torch.testing.assert_close, [torch.ones(2), torch.ones(2)],
                            [torch.ones(2), torch.zeros(2)])
    ours = _message(tg.testing.assert_close, tg.tensor([1, 2]), tg.tensor([1, 3]))
    assert ours == _message(torch.testing.assert_close, torch.tensor([1, 2]),
                            torch.tensor([1, 3])).replace("0.3333333432674408",
                                                          "0.3333333333333333")


def test_assert_close_default_tolerances_by_dtype(device):
    for dtype, ok, bad in (("float32", 1e-6, 1e-4), ("float64", 1e-8, 1e-6),
                           ("float16", 5e-4, 1e-2)):
        base = np.full(3, 1.0, dtype=dtype)
        near = (base + np.asarray(ok, dtype=dtype)).astype(dtype)
        far = (base + np.asarray(bad, dtype=dtype)).astype(dtype)
        tg.testing.assert_close(tensor_on(near, device), tensor_on(base, device))
        torch.testing.assert_close(_t(near), _t(base))
        with pytest.raises(AssertionError):
            tg.testing.assert_close(tensor_on(far, device), tensor_on(base, device))
        with pytest.raises(AssertionError):
            torch.testing.assert_close(_t(far), _t(base))
    with pytest.raises(AssertionError, match="not equal"):
        tg.testing.assert_close(tg.tensor([1, 2]), tg.tensor([1, 3]))


def test_assert_close_options(device):
    nan = tensor_on([1.0, np.nan], device)
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 2"):
        tg.testing.assert_close(nan, tensor_on([1.0, np.nan], device))
    tg.testing.assert_close(nan, tensor_on([1.0, np.nan], device), equal_nan=True)
    f32 = tensor_on(np.ones(2, np.float32), device)
    f64 = tensor_on(np.ones(2), device)
    with pytest.raises(AssertionError, match="attribute 'dtype' do not match"):
        tg.testing.assert_close(f32, f64)
    tg.testing.assert_close(f32, f64, check_dtype=False)
    with pytest.raises(AssertionError, match="attribute 'shape' do not match: \\(2,\\) != "):
        tg.testing.assert_close(f32, tensor_on(np.ones(3, np.float32), device))
    assert _message(tg.testing.assert_close, f32, f32 * 2, msg="boom") == "boom"
    assert _message(tg.testing.assert_close, f32, f32 * 2,
                    msg=lambda m: "ctx: " + m).startswith("ctx: Tensor-likes are not close!")
    tg.testing.assert_close(f32, f32 * 1.5, rtol=0.5, atol=0.0)
    with pytest.raises(ValueError, match="no atol"):
        tg.testing.assert_close(f32, f32, rtol=1e-3)
    with pytest.raises(TypeError, match="No comparison pair"):
        tg.testing.assert_close(f32, 1.0)
    with pytest.raises(AssertionError, match="length of the sequences mismatch: 2 != 3"):
        tg.testing.assert_close([1, 2], [1, 2, 3])
    with pytest.raises(AssertionError, match="Missing keys in the actual mapping: \\['b'\\]"):
        tg.testing.assert_close({"a": f32}, {"b": f32})
    with pytest.raises(AssertionError, match="\\(d\\)types do not match"):
        tg.testing.assert_close(1, 1.0)
    tg.testing.assert_close({"a": [f32, 2.0]}, {"a": [f32, 2.0]})
    if device != "cpu":
        with pytest.raises(AssertionError, match="attribute 'device' do not match"):
            tg.testing.assert_close(f32, f32.cpu())
        tg.testing.assert_close(f32, f32.cpu(), check_device=False)


def test_assert_allclose_is_the_deprecated_variant():
    with pytest.warns(FutureWarning):
        tg.testing.assert_allclose(tg.tensor([1.0, np.nan]), [1.0, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tg.testing.assert_allclose(tg.ones(2, dtype="float32"), tg.ones(2, dtype="float64"))
        with pytest.raises(AssertionError):
            tg.testing.assert_allclose(tg.ones(2), [1.0, 1.1])


def test_make_tensor(device):
    tg.manual_seed(0)
    t = tg.testing.make_tensor(4, 5, dtype=tg.float32, device=device, low=-2, high=3)
    assert t.shape == (4, 5) and t.dtype == np.float32 and on(t, device)
    vals = host(t)
    assert vals.min() >= -2 and vals.max() < 3 and len(np.unique(vals)) > 1
    d = tg.testing.make_tensor((3, 3), dtype=tg.float64, device=device)
    assert np.abs(host(d)).max() <= 9
    i = tg.testing.make_tensor(200, dtype=tg.int64, device=device, low=0, high=3,
                               exclude_zero=True)
    assert set(host(i).tolist()) <= {1, 2} and i.dtype == np.int64
    b = tg.testing.make_tensor(50, dtype=tg.bool, device=device)
    assert b.dtype == np.bool_
    c = tg.testing.make_tensor(3, dtype="complex128", device=device)
    assert c.dtype == np.complex128 and np.abs(host(c).imag).max() > 0
    r = tg.testing.make_tensor(2, 3, dtype=tg.float32, device=device, requires_grad=True,
                               noncontiguous=True)
    assert r.requires_grad and r.shape == (2, 3)
    with pytest.raises(ValueError, match="`low` must be less than `high`"):
        tg.testing.make_tensor(3, dtype=tg.float32, device=device, low=2, high=1)
    with pytest.raises(ValueError):
        torch.testing.make_tensor(3, dtype=torch.float32, device="cpu", low=2, high=1)


# ---- tg.amp.custom_fwd / custom_bwd ---------------------------------------------------------
def _recording_function(m, cast_inputs):
    seen = {}

    class MM(m.autograd.Function):
        @staticmethod
        @m.amp.custom_fwd(device_type="cpu", cast_inputs=cast_inputs)
        def forward(ctx, a, b):
            seen["fwd_autocast"] = m.is_autocast_enabled("cpu")
            seen["fwd_dtypes"] = (str(a.dtype).split(".")[-1], str(b.dtype).split(".")[-1])
            ctx.save_for_backward(a, b)
            return a @ b

        @staticmethod
        @m.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            seen["bwd_autocast"] = m.is_autocast_enabled("cpu")
            a, b = ctx.saved_tensors
            return g @ b.transpose(0, 1), a.transpose(0, 1) @ g

    return MM, seen


@pytest.mark.parametrize("cast", [None, "float32"])
def test_custom_fwd_bwd_match_torch(cast):
    rng = _rng(10)
    a, b = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((3, 2))
    results = []
    for m, make, half in ((tg, tg.tensor, tg.float16), (torch, torch.tensor, torch.float16)):
        MM, seen = _recording_function(m, None if cast is None else getattr(m, cast))
        x = make(a).requires_grad_()
        y = make(b.astype(np.float32)).requires_grad_()
        with m.autocast("cpu", dtype=half):
            out = MM.apply(x.to(half), y)
        out.float().sum().backward()
        seen["out"] = str(out.dtype).split(".")[-1]
        seen["grad"] = str(x.grad.dtype).split(".")[-1]
        results.append(seen)
    assert results[0] == results[1]
    if cast is None:
        assert results[0]["fwd_autocast"] and results[0]["bwd_autocast"]
    else:
        assert results[0]["fwd_dtypes"] == ("float32", "float32")
        assert not results[0]["fwd_autocast"] and not results[0]["bwd_autocast"]


def test_custom_fwd_without_autocast_leaves_inputs_alone():
    MM, seen = _recording_function(tg, tg.float32)
    MM.apply(tg.ones(2, 2, dtype=tg.float16), tg.ones(2, 2, dtype=tg.float16))
    assert seen["fwd_dtypes"] == ("float16", "float16") and not seen["fwd_autocast"]
    with pytest.raises(RuntimeError, match="device_type"):
        tg.amp.custom_fwd(lambda ctx: None, device_type="tpu")


def test_new_names_in_dir_and_namespace():
    for name in ("backward", "Variable", "gradcheck", "gradgradcheck", "no_grad",
                 "enable_grad", "set_grad_enabled", "inference_mode",
                 "set_multithreading_enabled", "forward_ad", "grad", "Function"):
        assert getattr(tg.autograd, name) is not None
        assert hasattr(torch.autograd, name)


# ---- torch.autograd.functional's jacobian / hessian / jvp forms ------------------------------
def _two_out(x, y):
    return (x[:2] * y).exp(), x.sum() * y


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_functional_jacobian_in_torchs_form(device, strategy):
    """``tg.autograd.functional.jacobian(func, inputs, ...)`` returns the Jacobian itself, nested
    per output and per input as torch's, detached unless create_graph; autograd's form
    ``jacobian(fun, argnum)`` still returns a function."""
    torch = torch_oracle()
    import tensorgrad.autograd.functional as GF

    a, b = np.random.default_rng(0).standard_normal(3), np.random.default_rng(1).standard_normal(2)
    ours = GF.jacobian(_two_out, (tensor_on(a, device), tensor_on(b, device)), strategy=strategy)
    theirs = torch.autograd.functional.jacobian(_two_out, (torch.tensor(a), torch.tensor(b)),
                                                strategy=strategy, vectorize=True)
    for row_o, row_t in zip(ours, theirs):
        for o, t in zip(row_o, row_t):
            close_to_torch(o, t, rtol=1e-12)
            assert not o.requires_grad
    single = GF.jacobian(lambda x: x ** 3, tensor_on(a, device))
    close_to_torch(single, torch.autograd.functional.jacobian(lambda x: x ** 3, torch.tensor(a)),
                   rtol=1e-12)
    x = tensor_on(a, device, requires_grad=True)
    J = GF.jacobian(lambda v: v ** 3, x, create_graph=True)
    assert J.requires_grad and not GF.jacobian(lambda v: v ** 3, x).requires_grad
    J.sum().backward()  # d/dx sum(diag(3x^2)) = 6x
    close_to_torch(x.grad, torch.tensor(6 * a), rtol=1e-12)
    fn = tg.jacobian(lambda u, w: u * w, 1)  # autograd's form: a function of the arguments
    assert np.allclose(host(fn(tensor_on(a, device), tensor_on(a, device))), np.diag(a))
    with pytest.raises(ValueError, match="strategy"):
        GF.jacobian(_two_out, (tensor_on(a, device), tensor_on(b, device)), strategy="both")


def test_functional_hessian_and_jvp_in_torchs_form(device):
    torch = torch_oracle()
    import tensorgrad.autograd.functional as GF

    a, b = np.random.default_rng(2).standard_normal(3), np.random.default_rng(3).standard_normal(2)

    def f(x, y):
        return (x[:2] * y).sin().sum() + (x ** 3).sum()

    ours = GF.hessian(f, (tensor_on(a, device), tensor_on(b, device)))
    theirs = torch.autograd.functional.hessian(f, (torch.tensor(a), torch.tensor(b)))
    for row_o, row_t in zip(ours, theirs):
        for o, t in zip(row_o, row_t):
            close_to_torch(o, t, rtol=1e-12)
    h = GF.hessian(lambda x: (x ** 3).sum(), tensor_on(a, device))
    close_to_torch(h, torch.autograd.functional.hessian(lambda x: (x ** 3).sum(),
                                                        torch.tensor(a)), rtol=1e-12)
    assert np.allclose(host(tg.hessian(lambda x: (x ** 3).sum())(tensor_on(a, device))),
                       np.diag(6 * a))  # autograd's form unchanged
    out, tan = GF.jvp(lambda x: x.sin(), tensor_on(a, device), tensor_on(np.ones(3), device))
    t_out, t_tan = torch.autograd.functional.jvp(lambda x: x.sin(), torch.tensor(a),
                                                 torch.ones(3, dtype=torch.float64))
    close_to_torch(out, t_out, rtol=1e-12)
    close_to_torch(tan, t_tan, rtol=1e-12)
    one = GF.jvp(lambda x: x * 3.0, tensor_on(np.array([2.0]), device))[1]  # v left out
    assert host(one).tolist() == [3.0]
    with pytest.raises(RuntimeError, match="single element"):
        GF.jvp(lambda x: x, tensor_on(a, device))
    with pytest.raises(RuntimeError, match="strict"):
        GF.jacobian(lambda x, y: x * 2.0, (tensor_on(a, device), tensor_on(b, device)),
                    strict=True)


def test_functional_vjp_in_torchs_form(device):
    """``torch.autograd.functional.vjp(func, inputs, v)`` returns ``(func(inputs), v^T J)``;
    the JAX form ``vjp(f, *primals)`` (a function back) stays where the call is not torch's."""
    rng = np.random.default_rng(3)
    a, b, g = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3)
    AF, TF = tg.autograd.functional, torch.autograd.functional
    x, y, v = (tensor_on(t, device) for t in (a, b, g))
    tx, ty, tv = (torch.tensor(t) for t in (a, b, g))
    out, got = AF.vjp(lambda t: t.sin() * t, x, v)
    tout, want = TF.vjp(lambda t: t.sin() * t, tx, tv)
    close_to_torch(out, tout, rtol=1e-12)
    close_to_torch(got, want, rtol=1e-12)
    out, got = AF.vjp(lambda p, q: p * q.exp(), (x, y), v)  # a tuple of inputs
    tout, want = TF.vjp(lambda p, q: p * q.exp(), (tx, ty), tv)
    for mine, theirs in zip(got, want):
        close_to_torch(mine, theirs, rtol=1e-12)
    out, got = AF.vjp(lambda t: (t ** 3).sum(), x, create_graph=True)  # v left out
    tout, want = TF.vjp(lambda t: (t ** 3).sum(), tx, create_graph=True)
    close_to_torch(got, want, rtol=1e-12)
    out, got = AF.vjp(lambda t: t * 2, inputs=x, v=v)
    close_to_torch(got, 2 * g, rtol=1e-12)
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.vjp(lambda t: t * 2, x, create_graph=False)
    value, fn = tg.vjp(lambda p, q: p * q, x, y)  # JAX's form: two primals, a function back
    close_to_torch(fn(tensor_on(np.ones(3), device))[1], a, rtol=1e-12)
    value, fn = tg.vjp(lambda t: t * 3, x)
    assert callable(fn)
