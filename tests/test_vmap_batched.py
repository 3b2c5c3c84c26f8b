"""tg.vmap's batched path (autograd/batching.py): each rule category against the loop and
torch.func.vmap (values and gradients, float64), that the batched path ran (debug counters),
the fallback to the loop, nesting, in_dims/out_dims, randomness, per-sample gradients against
torch.func, and second-order derivatives through vmap."""

import numpy as onp
import pytest
from devices import host, on, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad import func as F
from tensorgrad.autograd import batching

TOL = dict(rtol=1e-10, atol=1e-12)


def _rng(seed=0):
    return onp.random.default_rng(seed)


def _loop(f, in_dims, *args):
    """The reference: f per slice, stacked (what vmap computed before batching)."""
    dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)
    n = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
    outs = []
    for i in range(n):
        sl = [a if d is None else a[(slice(None),) * d + (i,)] for a, d in zip(args, dims)]
        outs.append(f(*sl))
    return tg.stack(outs, 0)


class _Counts:
    """Snapshot of the debug counters: what ran batched, generically, or fell back."""

    def __init__(self):
        self.rule = dict(batching.STATS["rule"])
        self.generic = dict(batching.STATS["generic"])
        self.fallback = batching.STATS["fallback"]

    def rules_since(self):
        now = batching.STATS["rule"]
        return {k: v - self.rule.get(k, 0) for k, v in now.items() if v != self.rule.get(k, 0)}

    def generic_since(self):
        now = batching.STATS["generic"]
        return {k: v - self.generic.get(k, 0) for k, v in now.items()
                if v != self.generic.get(k, 0)}

    def fallbacks_since(self):
        return batching.STATS["fallback"] - self.fallback


# (name, function, in_dims, input shapes, torch function, rules expected to have run)
CASES = [
    ("elementwise", lambda x, y: tg.tanh(x) * y + x.exp() / (1 + y ** 2), 0,
     [(4, 3), (4, 3)], lambda x, y: x.tanh() * y + x.exp() / (1 + y ** 2),
     {"tanh", "multiply", "exp", "divide", "add", "power"}),
    ("broadcast_rank", lambda x, y: x * y - x, (0, None), [(4, 3), (2, 5, 3)],
     lambda x, y: x * y - x, {"multiply", "subtract"}),
    ("lower_rank_batched", lambda x, y: tg.maximum(x, y), (0, 0), [(4, 3), (4, 2, 3)],
     lambda x, y: x.maximum(y), {"maximum"}),
    ("reductions", lambda x: x.sum(0) + x.mean(-1).sum() + x.max() + x.prod(1, keepdim=True).sum(),
     0, [(5, 3, 2)],
     lambda x: x.sum(0) + x.mean(-1).sum() + x.max() + x.prod(1, keepdim=True).sum(),
     {"sum", "mean", "max", "prod"}),
    ("matmul_vec_mat", lambda x, w: x @ w, (0, None), [(4, 3), (3, 5)], lambda x, w: x @ w,
     {"matmul"}),
    ("matmul_mat_vec", lambda a, v: a @ v, (None, 0), [(2, 3), (4, 3)], lambda a, v: a @ v,
     {"matmul"}),
    ("matmul_both", lambda a, b: a @ b, 0, [(4, 2, 3), (4, 3, 5)], lambda a, b: a @ b,
     {"matmul"}),
    ("matmul_dot", lambda a, b: a @ b, 0, [(4, 3), (4, 3)], lambda a, b: a @ b, {"matmul"}),
    ("matmul_batched_stack", lambda a, b: a @ b, (0, None), [(4, 3), (2, 3, 5)],
     lambda a, b: a @ b, {"matmul"}),
    ("einsum", lambda a, b: tg.einsum("ij,jk->ik", a, b), (0, None), [(4, 2, 3), (3, 5)],
     lambda a, b: __import__("torch").einsum("ij,jk->ik", a, b), {"einsum_"}),
    ("shape_ops", lambda x: x.reshape(3, 2).T.unsqueeze(0).squeeze(0).flatten(), 0, [(4, 2, 3)],
     lambda x: x.reshape(3, 2).T.unsqueeze(0).squeeze(0).flatten(),
     {"reshape", "transpose"}),
    ("permute_swap", lambda x: x.permute(2, 0, 1).transpose(0, 1), 1, [(2, 5, 3, 4)],
     lambda x: x.permute(2, 0, 1).transpose(0, 1), {"transpose"}),
    ("expand", lambda x: x.unsqueeze(0).expand(3, 2, 4) * 1.0, 0, [(5, 2, 4)],
     lambda x: x.unsqueeze(0).expand(3, 2, 4) * 1.0, {"broadcast_to"}),
    ("getitem_basic", lambda x: x[1:, None, ::2] + x[0, -1], 0, [(4, 3, 5)],
     lambda x: x[1:, None, ::2] + x[0, -1], {"getitem"}),
    ("getitem_advanced", lambda x: x[[0, 2, 2]] * 2 + x[:, [1, 0]].sum(), 0, [(4, 3, 2)],
     lambda x: x[[0, 2, 2]] * 2 + x[:, [1, 0]].sum(), {"getitem"}),
    ("getitem_separated", lambda x: x[[0, 1], :, [1, 0]], 0, [(4, 3, 2, 2)],
     lambda x: x[[0, 1], :, [1, 0]], {"getitem"}),
    ("cat_stack", lambda x, c: tg.cat([x, c], 0).sum(0) + tg.stack([x, x * c], 1).sum(1).sum(0),
     (0, None), [(4, 2, 3), (1, 3)],
     lambda x, c: __import__("torch").cat([x, c], 0).sum(0) + __import__("torch").stack(
         [x, x * c], 1).sum(1).sum(0), {"concatenate_", "stack_"}),
    ("softmax", lambda x: tg.nn.functional.log_softmax(x, -1) + tg.nn.functional.softmax(x, 0),
     0, [(4, 3, 5)],
     lambda x: x.log_softmax(-1) + x.softmax(0), {"_log_softmax", "_softmax"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule_matches_loop_and_torch(case, device):
    """Each rule category: values and gradients equal the loop's and torch.func.vmap's, and
    the category's rules ran batched (no per-slice call, no fallback)."""
    torch = torch_oracle()
    name, f, in_dims, shapes, tf_f, rules = case
    rng = _rng(len(name))
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [tensor_on(a, device, requires_grad=True) for a in arrays]
    counts = _Counts()
    out = tg.vmap(f, in_dims=in_dims)(*xs)
    assert counts.fallbacks_since() == 0
    assert rules <= set(counts.rules_since()), counts.rules_since()
    assert counts.generic_since() == {}
    assert on(out, device)
    ref = _loop(f, in_dims, *xs)
    onp.testing.assert_allclose(host(out), host(ref), **TOL)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = torch.func.vmap(tf_f, in_dims=in_dims)(*ts)
    onp.testing.assert_allclose(host(out), tout.detach().numpy(), **TOL)
    # gradients through the batched path (the tape sees through it) against torch's
    w = rng.standard_normal(tuple(out.shape))
    (out * tensor_on(w, device)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for x, t in zip(xs, ts):
        onp.testing.assert_allclose(host(x.grad), t.grad.numpy(), **TOL)


def test_elementwise_check_grads_through_vmap():
    """Second order, both modes, against finite differences, through the batched path."""
    def f(x):
        return tg.vmap(lambda r: (tg.sin(r) * r).sum() + (r @ r))(x)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tg.tensor(_rng(1).standard_normal((3, 4))))


def test_generic_rule_loops_over_the_batch(device):
    """A primitive without a rule of its own (cholesky) goes through the generic rule: one call
    per example inside the batched run, the loop's answer, differentiable."""
    rng = _rng(2)
    a = rng.standard_normal((3, 4, 4))
    spd = tensor_on(a @ a.transpose(0, 2, 1) + 4 * onp.eye(4), device, requires_grad=True)
    counts = _Counts()
    out = tg.vmap(lambda m: tg.linalg.cholesky(m) * 2)(spd)
    assert counts.fallbacks_since() == 0
    assert counts.generic_since() == {"cholesky": 1}
    ref = _loop(lambda m: tg.linalg.cholesky(m) * 2, 0, spd)
    onp.testing.assert_allclose(host(out), host(ref), **TOL)
    out.sum().backward()
    g1 = host(spd.grad)
    spd.grad = None
    ref.sum().backward()
    onp.testing.assert_allclose(g1, host(spd.grad), **TOL)


def test_code_reading_data_falls_back_to_the_loop(device):
    """A function that reads .data (or calls .item(), or NumPy on the array) cannot run
    batched: the loop's answer comes back, and the fallback is counted."""
    x = tensor_on(_rng(3).standard_normal((4, 3)), device)

    def f(r):
        scale = float(r.data.max()) if hasattr(r.data, "max") else 1.0
        return r * scale

    counts = _Counts()
    out = tg.vmap(f)(x)
    assert counts.fallbacks_since() == 1
    onp.testing.assert_allclose(host(out), host(_loop(f, 0, x)), **TOL)
    with pytest.raises(batching.BatchingFallback):
        batching.make_batched(host(x), 99).data + 1


def test_batched_data_is_poison_with_logical_metadata():
    b = batching.make_batched(onp.ones((5, 2, 3)), 10 ** 6)
    assert b.shape == (2, 3) and b.ndim == 2 and b.numel() == 6 and len(b) == 2
    assert b.size() == (2, 3) and b.dtype == onp.float64
    for use in (lambda: onp.asarray(b.data), lambda: b.data[0], lambda: b.data.sum(),
                lambda: float(b.data), lambda: b.data * 2, lambda: b.numpy()):
        with pytest.raises(batching.BatchingFallback):
            use()
    assert issubclass(batching.BatchingFallback, RuntimeError)


def test_nested_vmap(device):
    torch = torch_oracle()
    rng = _rng(4)
    a, b = rng.standard_normal((3, 4, 2)), rng.standard_normal((5, 2))

    def f(x, y):
        return (x * y).sum() + tg.tanh(x) @ y

    def tf_f(x, y):
        return (x * y).sum() + x.tanh() @ y

    x, y = tensor_on(a, device), tensor_on(b, device)
    counts = _Counts()
    out = tg.vmap(tg.vmap(tg.vmap(f, in_dims=(None, 0)), in_dims=(0, None)), in_dims=(0, None))(
        x, y)
    assert counts.fallbacks_since() == 0
    ref = torch.func.vmap(torch.func.vmap(torch.func.vmap(tf_f, in_dims=(None, 0)),
                                          in_dims=(0, None)), in_dims=(0, None))(
        torch.tensor(a), torch.tensor(b))
    assert tuple(out.shape) == tuple(ref.shape) == (3, 4, 5)
    onp.testing.assert_allclose(host(out), ref.numpy(), **TOL)


@pytest.mark.parametrize("in_dims,out_dims", [(1, 0), (-1, 1), ((2, None), -1), ((0, 1), 2)])
def test_in_dims_out_dims(in_dims, out_dims, device):
    torch = torch_oracle()
    rng = _rng(5)
    a, b = rng.standard_normal((4, 4, 4)), rng.standard_normal((4, 4, 4))

    def f(x, y):
        return x * 2 + y.sum(0)

    x, y = tensor_on(a, device), tensor_on(b, device)
    counts = _Counts()
    out = tg.vmap(f, in_dims=in_dims, out_dims=out_dims)(x, y)
    assert counts.fallbacks_since() == 0
    ref = torch.func.vmap(f, in_dims=in_dims, out_dims=out_dims)(torch.tensor(a),
                                                                torch.tensor(b))
    onp.testing.assert_allclose(host(out), ref.numpy(), **TOL)


def test_unbatched_outputs_are_broadcast_and_pytrees(device):
    """An output that does not depend on the mapped input is broadcast to the batch (as
    torch.func); pytree outputs and out_dims=None for a constant output."""
    torch = torch_oracle()
    x = tensor_on(_rng(6).standard_normal((4, 3)), device)
    c = tensor_on(onp.arange(3.0), device)

    def f(r):
        return {"a": r * c, "b": c + 1}, c * 2

    counts = _Counts()
    out, const = tg.vmap(f, out_dims=({"a": 0, "b": 1}, None))(x)
    assert counts.fallbacks_since() == 0
    tc = torch.arange(3.0, dtype=torch.float64)
    tout, tconst = torch.func.vmap(lambda r: ({"a": r * tc, "b": tc + 1}, tc * 2),
                                   out_dims=({"a": 0, "b": 0}, None))(torch.tensor(host(x)))
    onp.testing.assert_allclose(host(out["a"]), tout["a"].numpy(), **TOL)
    assert tuple(out["b"].shape) == (3, 4)  # the loop's layout: stacked along dimension 1
    onp.testing.assert_allclose(host(out["b"]), tout["b"].numpy().T, **TOL)
    onp.testing.assert_allclose(host(const), tconst.numpy(), **TOL)


def test_raw_arrays_in_raw_arrays_out():
    a = _rng(7).standard_normal((4, 3))
    counts = _Counts()
    out = tg.vmap(lambda r: tg.numpy.sin(r).sum())(a)
    assert counts.fallbacks_since() == 0
    assert isinstance(out, onp.ndarray)
    onp.testing.assert_allclose(out, onp.sin(a).sum(1), **TOL)


def test_randomness_modes(device):
    """'error' raises from the batched path as from the loop; 'same' gives every example the
    same draw; 'different' (the loop) gives each its own."""
    x = tensor_on(onp.zeros((4, 3)), device)
    with pytest.raises(RuntimeError, match="randomness"):
        tg.vmap(lambda r: r + tg.randn(3, device=r.device))(x)
    tg.manual_seed(0)
    counts = _Counts()
    def draw(r):
        return r + tg.randn(3, dtype=tg.float64, device=r.device)

    same = tg.vmap(draw, randomness="same")(x)
    assert counts.fallbacks_since() == 0
    rows = host(same)
    assert onp.allclose(rows, rows[0]) and not onp.allclose(rows[0], 0)
    # the generator moved on as after one call, like the loop's "same"
    tg.manual_seed(0)
    first = host(tg.randn(3, dtype=tg.float64, device=x.device))
    onp.testing.assert_allclose(rows[0], first)
    diff = host(tg.vmap(draw, randomness="different")(x))
    assert not onp.allclose(diff[0], diff[1])


def _mlp(device, seed):
    tg.manual_seed(seed)
    return tg.nn.Sequential(tg.nn.Linear(3, 5), tg.nn.Tanh(), tg.nn.Linear(5, 2)).double().to(
        device)


@pytest.mark.parametrize("loss_kind", ["cross_entropy", "mse"])
def test_per_sample_gradients_batched_match_torch(loss_kind, device):
    """vmap(grad(loss), in_dims=(None, 0, 0)): batched (no fallback, no generic rule), equal to
    the loop of backward passes and to torch.func."""
    torch = torch_oracle()
    model = _mlp(device, 1)
    rng = _rng(8)
    xa, ya = rng.standard_normal((6, 3)), onp.array([0, 1, 1, 0, 1, 0])
    if loss_kind == "mse":
        ya = rng.standard_normal((6, 2))
    x, y = tensor_on(xa, device), tensor_on(ya, device)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xi, yi):
        out = F.functional_call(model, p, (xi[None],))
        if loss_kind == "mse":
            return ((out - yi[None]) ** 2).sum()
        return tg.nn.functional.cross_entropy(out, yi[None])

    counts = _Counts()
    per = F.vmap(F.grad(loss), in_dims=(None, 0, 0))(params, x, y)
    assert counts.fallbacks_since() == 0 and counts.generic_since() == {}
    loop = [F.grad(loss)(params, x[i], y[i]) for i in range(6)]
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(),
                                 torch.nn.Linear(5, 2)).double()
    tparams = {k: torch.tensor(host(v)) for k, v in params.items()}

    def tloss(p, xi, yi):
        out = torch.func.functional_call(tmodel, p, (xi[None],))
        if loss_kind == "mse":
            return ((out - yi[None]) ** 2).sum()
        return torch.nn.functional.cross_entropy(out, yi[None])

    tper = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
        tparams, torch.tensor(xa), torch.tensor(ya))
    for k in params:
        assert tuple(per[k].shape) == (6,) + tuple(params[k].shape) and on(per[k], device)
        assert not per[k].requires_grad and not loop[0][k].requires_grad
        onp.testing.assert_allclose(host(per[k]), tper[k].numpy(), **TOL)
        for i in range(6):
            onp.testing.assert_allclose(host(per[k][i]), host(loop[i][k]), **TOL)


def test_per_sample_gradient_with_respect_to_a_batched_input(device):
    """grad with respect to the mapped argument itself, and an unused argument (zeros, through
    the fallback)."""
    torch = torch_oracle()
    a = _rng(9).standard_normal((4, 3))
    w = _rng(10).standard_normal(3)
    x, wt = tensor_on(a, device), tensor_on(w, device)
    g = F.vmap(F.grad(lambda xi, w: (tg.sin(xi) * w).sum()), in_dims=(0, None))(x, wt)
    tg_ = torch.func.vmap(torch.func.grad(lambda xi, w: (xi.sin() * w).sum()),
                          in_dims=(0, None))(torch.tensor(a), torch.tensor(w))
    onp.testing.assert_allclose(host(g), tg_.numpy(), **TOL)
    g2 = F.vmap(F.grad(lambda xi, w: (w * 2).sum()), in_dims=(0, None))(x, wt)
    onp.testing.assert_allclose(host(g2), onp.zeros((4, 3)), **TOL)


def test_second_order_through_vmap(device):
    """hessian / jacfwd(grad) / jvp inside vmap, and grad of a vmapped function, against
    torch.func and the loop."""
    torch = torch_oracle()
    a = _rng(11).standard_normal((3, 4))

    def h(x):
        return (tg.tanh(x) * x).sum() + (x @ x) ** 2

    def th(x):
        return (x.tanh() * x).sum() + (x @ x) ** 2

    x = tensor_on(a, device)
    counts = _Counts()
    H = F.vmap(F.jacfwd(F.grad(h)))(x)
    assert counts.fallbacks_since() == 0
    tH = torch.func.vmap(torch.func.jacfwd(torch.func.grad(th)))(torch.tensor(a))
    onp.testing.assert_allclose(host(H), tH.numpy(), rtol=1e-9, atol=1e-10)
    H2 = F.vmap(F.hessian(h))(x)
    onp.testing.assert_allclose(host(H2), tH.numpy(), rtol=1e-9, atol=1e-10)
    v = _rng(12).standard_normal((3, 4))
    _, jv = F.vmap(lambda xi, vi: F.jvp(F.grad(h), (xi,), (vi,)))(x, tensor_on(v, device))
    _, tjv = torch.func.vmap(lambda xi, vi: torch.func.jvp(torch.func.grad(th), (xi,), (vi,)))(
        torch.tensor(a), torch.tensor(v))
    onp.testing.assert_allclose(host(jv), tjv.numpy(), rtol=1e-9, atol=1e-10)
    # grad of a function that uses vmap inside (reverse over the batched path)
    g = F.grad(lambda x: tg.vmap(h)(x).sum())(x)
    tgr = torch.func.grad(lambda x: torch.func.vmap(th)(x).sum())(torch.tensor(a))
    onp.testing.assert_allclose(host(g), tgr.numpy(), rtol=1e-9, atol=1e-10)


def test_vmap_over_vjp_runs_the_tape_once_batched(device):
    """vmap over a vjp function (jacrev's way): the batched cotangents go through the tape's
    rules in one backward pass, giving the Jacobian's rows."""
    torch = torch_oracle()
    a = _rng(13).standard_normal(4)
    w = _rng(14).standard_normal((4, 3))
    x, wt = tensor_on(a, device), tensor_on(w, device)
    _, vjp_fn = F.vjp(lambda v: tg.tanh(v @ wt) * 2, x)
    counts = _Counts()
    rows = tg.vmap(vjp_fn)(tensor_on(onp.eye(3), device))[0]
    assert counts.fallbacks_since() == 0
    tJ = torch.func.jacrev(lambda v: (v @ torch.tensor(w)).tanh() * 2)(torch.tensor(a))
    onp.testing.assert_allclose(host(rows), tJ.numpy(), **TOL)


def test_writes_into_batched_tensors_fall_back(device):
    x = tensor_on(_rng(15).standard_normal((4, 3)), device)

    def f(r):
        r = r * 1.0
        r[0] = 5.0
        return r * 2

    counts = _Counts()
    out = tg.vmap(f)(x)
    assert counts.fallbacks_since() == 1
    onp.testing.assert_allclose(host(out), host(_loop(f, 0, x)), **TOL)


def test_cross_entropy_with_batched_class_indices(device):
    """Class indices mapped by vmap: the one-hot composite batches; a bad index is the
    loop's IndexError."""
    torch = torch_oracle()
    logits = _rng(16).standard_normal((5, 4))
    labels = onp.array([0, 3, 1, 1, 2])
    x, y = tensor_on(logits, device), tensor_on(labels, device)
    counts = _Counts()
    out = tg.vmap(lambda li, yi: tg.nn.functional.cross_entropy(li[None], yi[None]))(x, y)
    assert counts.fallbacks_since() == 0
    ref = torch.func.vmap(lambda li, yi: torch.nn.functional.cross_entropy(li[None], yi[None]))(
        torch.tensor(logits), torch.tensor(labels))
    onp.testing.assert_allclose(host(out), ref.numpy(), **TOL)
    if device != "cpu":
        return  # as the loop, a GPU does not check indices (no host synchronisation)
    with pytest.raises(IndexError, match="out of bounds"):
        tg.vmap(lambda li, yi: tg.nn.functional.cross_entropy(li[None], yi[None]))(
            x, tensor_on(onp.array([0, 7, 1, 1, 2]), device))


def test_jacrev_rows_in_one_batched_backward(device):
    """func.jacrev computes all rows of a leaf in one vmapped VJP (no row loop)."""
    torch = torch_oracle()
    a, w = _rng(17).standard_normal(4), _rng(18).standard_normal((4, 3))
    wt = tensor_on(w, device)
    counts = _Counts()
    J = F.jacrev(lambda v: {"y": tg.tanh(v @ wt), "s": (v * v).sum()})(tensor_on(a, device))
    assert counts.fallbacks_since() == 0 and counts.generic_since() == {}
    assert "matmul" in counts.rules_since()
    tw = torch.tensor(w)
    tJ = torch.func.jacrev(lambda v: {"y": (v @ tw).tanh(), "s": (v * v).sum()})(
        torch.tensor(a))
    for k in ("y", "s"):
        assert on(J[k], device) and not J[k].requires_grad  # as the row loop: no history
        onp.testing.assert_allclose(host(J[k]), tJ[k].numpy(), **TOL)


def test_hessian_columns_in_batched_sweeps(monkeypatch):
    """tg.hessian pushes blocks of basis directions through one forward sweep each: equal to
    the column-by-column sweep, to torch, and the batched rules ran."""
    torch = torch_oracle()
    from tensorgrad.autograd import functional

    rng = _rng(19)
    X, t, w = rng.standard_normal((30, 6)), (rng.random(30) < .5) * 1.0, rng.standard_normal(6)

    def loss(w):
        tnp = tg.numpy
        p = 0.5 * (tnp.tanh(X @ w) + 1)
        return -tnp.sum(tnp.log(p * t + (1 - p) * (1 - t))) + tnp.sum(tnp.sin(w) * w)

    monkeypatch.setattr(functional, "_SWEEP_ELEMENTS", [60])  # two directions per sweep
    counts = _Counts()
    H = tg.hessian(loss)(w)
    assert "tanh" in counts.rules_since() or "multiply" in counts.rules_since()
    monkeypatch.setattr(functional, "_batched_sweep", lambda *a: None)
    onp.testing.assert_allclose(H, tg.hessian(loss)(w), **TOL)
    tX, tt = torch.tensor(X), torch.tensor(t)

    def tloss(w):
        p = 0.5 * ((tX @ w).tanh() + 1)
        return -(p * tt + (1 - p) * (1 - tt)).log().sum() + (w.sin() * w).sum()

    tH = torch.func.hessian(tloss)(torch.tensor(w))
    onp.testing.assert_allclose(H, tH.numpy(), rtol=1e-9, atol=1e-10)
