"""What the tests that compare nn modules with PyTorch's (test_nn_attention,
test_nn_transformer_decoder, test_nn_rnn) share: float64 leaves, copied weights, and the
comparison of outputs and of the gradients of inputs and parameters."""

import numpy as np
from devices import host, on, put

import tensorgrad as tg

TOL = dict(rtol=1e-10, atol=1e-12)


def leaf(a, device):
    """A leaf Tensor of ``a`` on ``device`` that requires grad."""
    return tg.tensor(put(np.asarray(a), device), requires_grad=True)


def check_op(ours_fn, theirs_fn, arrays, device, rng, tol, dtype=np.float64):
    """``ours_fn`` on leaves of ``arrays`` (cast to ``dtype``, on ``device``) against
    ``theirs_fn`` on PyTorch leaves: device, dtype, shape and value, then the gradient of each
    array under one random cotangent; None entries stay None. ``tol`` maps dtype to
    assert_allclose's tolerances."""
    from devices import torch_oracle

    torch = torch_oracle()
    arrays = [None if a is None else a.astype(dtype) for a in arrays]
    ours = [None if a is None else leaf(a, device) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    out = ours_fn(*ours)
    ref = theirs_fn(*theirs)
    assert on(out, device) and out.dtype == dtype and out.shape == tuple(ref.shape)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), **tol[dtype])
    g = rng.standard_normal(out.shape).astype(dtype)
    (out * tg.tensor(put(g, device))).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    for a, b in zip(ours, theirs, strict=True):
        if a is not None:
            assert on(a.grad, device) and a.grad.dtype == dtype
            np.testing.assert_allclose(host(a.grad), b.grad.numpy(), **tol[dtype])


def check_conv(fname, case, device, rng, tol, dtype=np.float64):
    """``F.<fname>`` against ``torch.nn.functional.<fname>`` through :func:`check_op` for
    ``case`` = (x shape, weight shape, bias?, options); a conv_transpose* bias has
    weight.shape[1] * groups entries, a conv* bias weight.shape[0]."""
    xs, ws, has_b, opts = case
    oc = ws[1] * opts.get("groups", 1) if fname.startswith("conv_transpose") else ws[0]
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws),
              rng.standard_normal(oc) if has_b else None]
    check_functional(fname, arrays, device, rng, tol, dtype=dtype, **opts)


def check_functional(fname, arrays, device, rng, tol, *args, dtype=np.float64, **kwargs):
    """``F.<fname>(*leaves, *args, **kwargs)`` against ``torch.nn.functional.<fname>``
    through :func:`check_op`."""
    from devices import torch_oracle

    import tensorgrad.nn.functional as F

    theirs = getattr(torch_oracle().nn.functional, fname)
    check_op(lambda *ts: getattr(F, fname)(*ts, *args, **kwargs),
             lambda *ts: theirs(*ts, *args, **kwargs), arrays, device, rng, tol, dtype)


def copy_weights(ours, theirs, device):
    """PyTorch module -> our module (the same state_dict names), float64, on ``device``."""
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert sorted(state) == sorted(ours.state_dict())
    ours.load_state_dict(state)
    for p in ours.parameters():
        assert on(p, device) and p.dtype == np.float64


def compare_params(ours, theirs, ordered=False):
    """The same parameter names (in the same order where ``ordered``), each with PyTorch's
    gradient."""
    mine = dict(ours.named_parameters())
    ref = dict(theirs.named_parameters())
    if ordered:
        assert list(mine) == list(ref)
    assert sorted(mine) == sorted(ref)
    for name, p in ref.items():
        assert mine[name].grad is not None, name
        np.testing.assert_allclose(host(mine[name].grad), p.grad.numpy(), err_msg=name, **TOL)


def check_backward(outputs, leaves, device, rng):
    """Each (ours, PyTorch's) pair of ``outputs`` equal in device, shape and value; then
    sum(output * g) over the outputs, one random g each, backpropagated in both, and the
    gradient of each (ours, PyTorch's) pair of ``leaves`` equal."""
    import torch

    loss = ref_loss = 0.0
    for a, b in outputs:
        assert on(a, device) and a.shape == tuple(b.shape)
        np.testing.assert_allclose(host(a), b.detach().numpy(), **TOL)
        g = rng.standard_normal(a.shape)
        loss = loss + (a * tg.tensor(put(g, device))).sum()
        ref_loss = ref_loss + (b * torch.tensor(g)).sum()
    loss.backward()
    ref_loss.backward()
    for a, b in leaves:
        assert on(a.grad, device)
        np.testing.assert_allclose(host(a.grad), b.grad.numpy(), **TOL)


# ---- tables of functional cases (test_nn_more, test_nn_extra_a) -------------------------------
# A table maps a name to (fn, args, ngrad): fn(F, *tensors) calls the functional API given as F
# (ours or torch.nn.functional), args are the arrays, and the first ngrad of them require grad.

def case_ours(cases, name, device, dtype=np.float64):
    """Our output for ``cases[name]`` on ``device`` and its leaves that require grad."""
    import tensorgrad.nn.functional as F

    fn, args, ngrad = cases[name]
    ts = [tg.tensor(put(np.asarray(a, dtype=dtype), device), requires_grad=i < ngrad)
          for i, a in enumerate(args)]
    return fn(F, *ts), ts[:ngrad]


def case_theirs(cases, name, dtype=None):
    """PyTorch's output for ``cases[name]`` (float64 unless ``dtype``) and its grad leaves."""
    import torch

    fn, args, ngrad = cases[name]
    dtype = torch.float64 if dtype is None else dtype
    ts = [torch.tensor(a, dtype=dtype, requires_grad=i < ngrad) for i, a in enumerate(args)]
    return fn(torch.nn.functional, *ts), ts[:ngrad]


def check_case(cases, name, device, rng, grad_rtol=1e-9):
    """Value and shape of ``cases[name]`` equal to PyTorch's in float64, then one random
    cotangent backpropagated in both and every leaf's gradient equal."""
    import torch

    out, leaves = case_ours(cases, name, device)
    ref, tleaves = case_theirs(cases, name)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(tuple(ref.shape))
    out.backward(tg.tensor(put(g, device)))
    ref.backward(torch.tensor(g))
    for mine, theirs in zip(leaves, tleaves, strict=True):
        np.testing.assert_allclose(host(mine.grad), theirs.grad.numpy(), rtol=grad_rtol,
                                   atol=1e-11)


def check_case_float32(cases, name, device):
    """``cases[name]`` in float32 stays float32 and matches PyTorch's float32 value."""
    import torch

    out, _ = case_ours(cases, name, device, np.float32)
    ref, _ = case_theirs(cases, name, torch.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=2e-5, atol=2e-5)


def check_case_order2(cases, name, device):
    """Second-order finite differences in both modes of sum(fn(...) ** 2) in the grad
    arguments of ``cases[name]``, the others held constant."""
    import tensorgrad.nn.functional as F

    fn, args, ngrad = cases[name]
    consts = [tg.tensor(put(np.asarray(a, dtype=np.float64), device)) for a in args[ngrad:]]
    grads = [put(np.asarray(a, dtype=np.float64), device) for a in args[:ngrad]]

    def f(*xs):
        xs = [x if isinstance(x, tg.Tensor) else tg.tensor(x) for x in xs]
        return (fn(F, *xs, *consts) ** 2).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*grads)
