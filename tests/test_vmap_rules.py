"""The dedicated batching rules for nn primitives (autograd/batching_nn.py): each against the
per-slice loop and torch.func.vmap (values and gradients, float64), that the rule ran (no
per-slice call, no fallback), the backward primitives' rules through batched jacrev rows, and
second-order derivatives through vmap against finite differences."""

import numpy as onp
import pytest
from devices import host, on, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad import func as F
from tensorgrad.autograd import batching

TF = tg.nn.functional
TOL = dict(rtol=1e-10, atol=1e-12)


def _rng(seed=0):
    return onp.random.default_rng(seed)


def _loop(f, in_dims, *args):
    n = next(a.shape[d] for a, d in zip(args, in_dims) if d is not None)
    outs = [f(*[a if d is None else a[(slice(None),) * d + (i,)] for a, d in zip(args, in_dims)])
            for i in range(n)]
    return tg.stack(outs, 0)


class _Counts:
    def __init__(self):
        self.rule0 = dict(batching.STATS["rule"])
        self.generic0 = dict(batching.STATS["generic"])
        self.fallback = batching.STATS["fallback"]

    def rules(self):
        now = batching.STATS["rule"]
        return {k for k, v in now.items() if v != self.rule0.get(k, 0)}

    def generic(self):
        now = batching.STATS["generic"]
        return {k for k, v in now.items() if v != self.generic0.get(k, 0)}

    def fallbacks(self):
        return batching.STATS["fallback"] - self.fallback


def _tt(torch):
    return torch.nn.functional


# (name, tg function, in_dims, arrays (float or int), torch function, rules expected)
def _cases():
    r = _rng(3)
    x = r.standard_normal((4, 2, 3, 6, 6))
    w1 = r.standard_normal((5, 3, 3, 3))
    b1 = r.standard_normal(5)
    wb = r.standard_normal((4, 5, 3, 3, 3))
    bb = r.standard_normal((4, 5))
    wg = r.standard_normal((4, 6, 2, 3, 3))
    xg = r.standard_normal((2, 4, 5, 5))
    seq = r.standard_normal((4, 3, 6))
    lw, lb = r.standard_normal(6), r.standard_normal(6)
    lwb, lbb = r.standard_normal((4, 6)), r.standard_normal((4, 6))
    table, tables = r.standard_normal((7, 3)), r.standard_normal((4, 7, 3))
    idx, idxb = r.integers(0, 7, (2, 5)), r.integers(0, 7, (4, 2, 5))
    logits, target = r.standard_normal((4, 5, 3)), r.integers(0, 3, 5)
    return [
        ("conv2d_input_batched", lambda a, w, b: TF.conv2d(a, w, b, padding=1), (0, None, None),
         [x, w1, b1], lambda t, a, w, b: _tt(t).conv2d(a, w, b, padding=1), {"conv2d"}),
        ("conv2d_all_batched", lambda a, w, b: TF.conv2d(a, w, b, stride=2), (0, 0, 0),
         [x, wb, bb], lambda t, a, w, b: _tt(t).conv2d(a, w, b, stride=2), {"conv2d"}),
        ("conv2d_bias_batched", lambda a, w, b: TF.conv2d(a, w, b), (0, None, 0),
         [x, w1, bb], lambda t, a, w, b: _tt(t).conv2d(a, w, b), {"conv2d"}),
        ("conv2d_weight_batched_groups", lambda a, w: TF.conv2d(a, w, groups=2, dilation=2),
         (None, 0), [xg, wg], lambda t, a, w: _tt(t).conv2d(a, w, groups=2, dilation=2),
         {"conv2d"}),
        ("max_pool2d", lambda a: TF.max_pool2d(a, 2), (0,), [x],
         lambda t, a: _tt(t).max_pool2d(a, 2), {"unfold"}),
        ("avg_pool2d", lambda a: TF.avg_pool2d(a, 3, 2, 1), (0,), [x],
         lambda t, a: _tt(t).avg_pool2d(a, 3, 2, 1), {"unfold"}),
        ("layer_norm", lambda a, w, b: TF.layer_norm(a, (6,), w, b), (0, None, None),
         [seq, lw, lb], lambda t, a, w, b: _tt(t).layer_norm(a, (6,), w, b), {"_layer_norm"}),
        ("layer_norm_affine_batched", lambda a, w, b: TF.layer_norm(a, (3, 6), None, None)
         + TF.layer_norm(a, (6,), w, b), (0, 0, 0), [seq, lwb, lbb],
         lambda t, a, w, b: _tt(t).layer_norm(a, (3, 6)) + _tt(t).layer_norm(a, (6,), w, b),
         {"_layer_norm"}),
        ("embedding_index_batched", lambda i, w: TF.embedding(i, w), (0, None), [idxb, table],
         lambda t, i, w: _tt(t).embedding(i, w), {"_embedding"}),
        ("embedding_table_batched", lambda i, w: TF.embedding(i, w, padding_idx=2), (None, 0),
         [idx, tables], lambda t, i, w: _tt(t).embedding(i, w, padding_idx=2), {"_embedding"}),
        ("embedding_both_batched", lambda i, w: TF.embedding(i, w), (0, 0), [idxb, tables],
         lambda t, i, w: _tt(t).embedding(i, w), {"_embedding"}),
        ("cross_entropy_rows", lambda a, c: TF.cross_entropy(a, c, reduction="none"),
         (0, None), [logits, target],
         lambda t, a, c: _tt(t).cross_entropy(a, c, reduction="none"), {"_cross_entropy_rows"}),
        ("cross_entropy_mean", lambda a, c: TF.cross_entropy(a, c), (0, None),
         [logits, target], lambda t, a, c: _tt(t).cross_entropy(a, c), {"_cross_entropy_rows"}),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule_matches_loop_and_torch(case, device):
    torch = torch_oracle()
    name, f, in_dims, arrays, tf_f, rules = case
    if device != "cpu":
        # on CuPy data F.conv2d is unfold + matmul unless every argument is batched (then the
        # conv2d rule): only that nothing ran per slice is asserted; the mean loss is fused
        rules = {r for r in rules if r != "conv2d"}
        if name == "cross_entropy_mean":
            rules = {"_cross_entropy_mean"}
    floats = [a.dtype.kind == "f" for a in arrays]
    xs = [tensor_on(a, device, requires_grad=fl) for a, fl in zip(arrays, floats)]
    counts = _Counts()
    out = tg.vmap(f, in_dims=in_dims)(*xs)
    assert counts.fallbacks() == 0, batching.STATS.get("reason")
    assert rules <= counts.rules(), counts.rules()
    assert counts.generic() == set()
    assert on(out, device)
    ref = _loop(f, in_dims, *xs)
    onp.testing.assert_allclose(host(out), host(ref), **TOL)
    ts = [torch.tensor(a, requires_grad=fl) for a, fl in zip(arrays, floats)]
    tout = torch.func.vmap(lambda *a: tf_f(torch, *a), in_dims=in_dims)(*ts)
    onp.testing.assert_allclose(host(out), tout.detach().numpy(), **TOL)
    wgt = _rng(9).standard_normal(tuple(out.shape))
    (out * tensor_on(wgt, device)).sum().backward()
    (tout * torch.tensor(wgt)).sum().backward()
    for x, t, fl in zip(xs, ts, floats):
        if fl:
            onp.testing.assert_allclose(host(x.grad), t.grad.numpy(), **TOL)


def _conv_net(p, x):
    h = TF.conv2d(x, p["w"], p["b"], padding=1)
    h = TF.max_pool2d(TF.relu(h), 2)
    return TF.layer_norm(h, h.shape[-2:], None, None).sum((1, 2))


def _torch_conv_net(torch, p, x):
    t = torch.nn.functional
    h = t.conv2d(x, p["w"], p["b"], padding=1)
    h = t.max_pool2d(t.relu(h), 2)
    return t.layer_norm(h, h.shape[-2:]).sum((1, 2))


def test_jacrev_rows_run_backward_rules(device):
    """jacrev's rows come from one VJP with a batched cotangent: the VJPs of conv2d, unfold and
    layer_norm (conv2d_input_grad, conv2d_weight_grad, channel_sum, fold, untake) run their
    rules, and the Jacobian equals torch.func.jacrev's."""
    torch = torch_oracle()
    r = _rng(4)
    xa = r.standard_normal((1, 2, 4, 4))
    pa = {"w": r.standard_normal((3, 2, 3, 3)), "b": r.standard_normal(3)}
    x = tensor_on(xa, device)
    p = {k: tensor_on(v, device) for k, v in pa.items()}
    counts = _Counts()
    jac = F.jacrev(_conv_net, argnums=(0, 1))(p, x)
    assert counts.fallbacks() == 0, batching.STATS.get("reason")
    want = {"conv2d_input_grad", "conv2d_weight_grad", "channel_sum"} if device == "cpu" \
        else set()  # on CuPy the convolution is unfold + matmul
    assert want | {"fold"} <= counts.rules()
    assert counts.generic() == set()
    tp = {k: torch.tensor(v) for k, v in pa.items()}
    tjac = torch.func.jacrev(lambda q, y: _torch_conv_net(torch, q, y), argnums=(0, 1))(
        tp, torch.tensor(xa))
    for k in pa:
        onp.testing.assert_allclose(host(jac[0][k]), tjac[0][k].numpy(), **TOL)
    onp.testing.assert_allclose(host(jac[1]), tjac[1].numpy(), **TOL)


def test_per_sample_gradients_cnn_and_transformer_match_torch(device):
    """vmap(grad(loss)) of conv-relu-pool-linear and of a TransformerEncoderLayer: no
    per-slice call, no fallback, equal to torch.func's."""
    torch = torch_oracle()
    r = _rng(5)
    tg.manual_seed(0)
    cnn = tg.nn.Sequential(tg.nn.Conv2d(2, 3, 3, padding=1), tg.nn.ReLU(), tg.nn.MaxPool2d(2),
                           tg.nn.Flatten(), tg.nn.Linear(12, 4)).double()
    tcnn = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(12, 4)).double()
    enc = tg.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double()
    tenc = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double()
    cases = [(cnn, tcnn, r.standard_normal((5, 2, 4, 4)), r.integers(0, 4, 5)),
             (enc, tenc, r.standard_normal((5, 3, 8)), r.integers(0, 8, (5, 3)))]
    for model, tmodel, xa, ya in cases:
        model.to(device)
        tmodel.load_state_dict({k: torch.tensor(host(v)) for k, v in model.state_dict().items()})
        params = {k: v.detach() for k, v in model.named_parameters()}

        def loss(p, xi, yi, model=model):
            out = F.functional_call(model, p, (xi[None],))
            return TF.cross_entropy(out.reshape(-1, out.shape[-1]), yi.reshape(-1))

        def tloss(p, xi, yi, tmodel=tmodel):
            out = torch.func.functional_call(tmodel, p, (xi[None],))
            return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]),
                                                     yi.reshape(-1))

        counts = _Counts()
        per = F.vmap(F.grad(loss), in_dims=(None, 0, 0))(params, tensor_on(xa, device),
                                                          tensor_on(ya, device))
        assert counts.fallbacks() == 0 and counts.generic() == set(), counts.generic()
        tper = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
            {k: v.detach() for k, v in tmodel.named_parameters()}, torch.tensor(xa),
            torch.tensor(ya))
        for k in params:
            assert on(per[k], device)
            onp.testing.assert_allclose(host(per[k]), tper[k].numpy(), rtol=1e-9, atol=1e-12)


def test_second_order_through_conv_rules():
    """Second order, both modes, against finite differences, through the conv, pool, layer
    norm and embedding rules (batched weights and inputs)."""
    r = _rng(6)
    w = tg.tensor(r.standard_normal((2, 2, 2, 2)))
    table = tg.tensor(r.standard_normal((3, 5, 4)))
    idx = tg.tensor(r.integers(0, 5, (3, 2)))

    def f(x):
        def one(xi, wi):
            h = TF.avg_pool2d(TF.conv2d(xi[None], wi * xi.sum(), padding=1), 2)
            return TF.layer_norm(h, (2,), None, None).sum() + (h ** 2).sum()
        return tg.vmap(one, in_dims=(0, None))(x, w)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tg.tensor(r.standard_normal((3, 2, 3, 3))))

    def g(t):
        return tg.vmap(lambda ti, ii: (TF.embedding(ii, ti) ** 3).sum())(t, idx)

    tg.check_grads(g, modes=("fwd", "rev"), order=2)(table)


def test_rules_off_give_the_same_answer():
    """With the dedicated rules removed the per-slice rule runs instead: same values."""
    r = _rng(7)
    x = tg.tensor(r.standard_normal((3, 2, 2, 5, 5)))
    w = tg.tensor(r.standard_normal((3, 4, 2, 3, 3)))

    def f(a, b):
        return TF.max_pool2d(TF.conv2d(a, b), 2)

    fast = tg.vmap(f)(x, w)
    saved = {k: batching.RULES.pop(k) for k in ("conv2d", "unfold")}
    try:
        counts = _Counts()
        slow = tg.vmap(f)(x, w)
        assert {"conv2d", "unfold"} <= counts.generic()
    finally:
        batching.RULES.update(saved)
    onp.testing.assert_allclose(host(fast), host(slow), **TOL)


# ---- replace_all_batch_norm_modules_ and functionalize --------------------------------------
def test_replace_all_batch_norm_modules_matches_torch(device):
    """Training-mode batch norm under vmap after replace_all_batch_norm_modules_: buffers gone,
    each example normalised by its own batch statistics, values and per-sample gradients as
    torch.func's."""
    torch = torch_oracle()
    tg.manual_seed(1)
    net = tg.nn.Sequential(tg.nn.Conv2d(2, 3, 3), tg.nn.BatchNorm2d(3), tg.nn.Flatten(),
                           tg.nn.Linear(12, 2), tg.nn.BatchNorm1d(2)).double().to(device)
    tnet = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3),
                               torch.nn.Flatten(), torch.nn.Linear(12, 2),
                               torch.nn.BatchNorm1d(2)).double()
    tnet.load_state_dict({k: torch.tensor(host(v)) for k, v in net.state_dict().items()})
    assert F.replace_all_batch_norm_modules_(net) is net
    torch.func.replace_all_batch_norm_modules_(tnet)
    for m in (net[1], net[4]):
        assert m.running_mean is None and m.running_var is None
        assert m.num_batches_tracked is None and not m.track_running_stats
        assert "running_mean" in dict(m._buffers) and "running_mean" not in dict(
            m.named_buffers())
    xa = _rng(11).standard_normal((3, 4, 2, 4, 4))
    counts = _Counts()
    out = tg.vmap(net)(tensor_on(xa, device))
    assert counts.fallbacks() == 0
    onp.testing.assert_allclose(host(out), host(_loop(net, (0,), tensor_on(xa, device))), **TOL)
    tout = torch.func.vmap(tnet)(torch.tensor(xa))
    onp.testing.assert_allclose(host(out), tout.detach().numpy(), rtol=1e-9, atol=1e-12)
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss(p, x):
        return (F.functional_call(net, p, (x,)) ** 2).sum()

    def tloss(p, x):
        return (torch.func.functional_call(tnet, p, (x,)) ** 2).sum()

    per = F.vmap(F.grad(loss), in_dims=(None, 0))(params, tensor_on(xa, device))
    tper = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0))(
        {k: v.detach() for k, v in tnet.named_parameters()}, torch.tensor(xa))
    for k in params:
        onp.testing.assert_allclose(host(per[k]), tper[k].numpy(), rtol=1e-8, atol=1e-10)


def _mutating(mod):
    """The same function for tensorgrad (mod=tg) and torch: in-place ops on a copy."""
    def f(x):
        y = x.clone()
        y.mul_(x)
        y[0] = y[0] * 3.0
        y.add_(1.0)
        return y.sin()
    return f


@pytest.mark.parametrize("remove", ["mutations", "mutations_and_views"])
def test_functionalize_matches_torch_functionalize(remove, device):
    """functionalize(f) with in-place ops inside: values, grad, jacfwd/jacrev, vmap and the
    Hessian as torch.func.functionalize's."""
    torch = torch_oracle()
    xa = _rng(12).standard_normal((4, 3))
    f, tf_ = F.functionalize(_mutating(tg), remove=remove), _mutating(torch)
    tfz = torch.func.functionalize  # outermost, where torch's transforms take it
    x, tx = tensor_on(xa, device), torch.tensor(xa)
    onp.testing.assert_allclose(host(f(x)), tfz(tf_, remove=remove)(tx).numpy(), **TOL)
    pairs = [(F.grad(lambda a: f(a).sum()), torch.func.grad(lambda a: tf_(a).sum())),
             (F.jacrev(f), torch.func.jacrev(tf_)), (F.jacfwd(f), torch.func.jacfwd(tf_)),
             (tg.vmap(f), torch.func.vmap(tf_)),
             (F.hessian(lambda a: f(a).sum()), torch.func.hessian(lambda a: tf_(a).sum()))]
    for mine, theirs in pairs:
        onp.testing.assert_allclose(host(mine(x)), tfz(theirs, remove=remove)(tx).numpy(),
                                    **TOL)


def test_functionalize_checks_remove():
    with pytest.raises(RuntimeError, match="remove='mutations'"):
        F.functionalize(lambda x: x, remove="views")
    assert F.functionalize(_mutating(tg)).__name__ == "f"


# ---- the autograd-style jacobian, vmapped over the basis -------------------------------------
@pytest.mark.parametrize("kind", ["array", "tensor"])
def test_jacobian_vmapped_matches_loop_and_torch(kind, device, monkeypatch):
    """tg.jacobian computes its rows in one vmapped VJP (no fallback); the same values and
    kind as the row-by-row loop and torch.autograd.functional.jacobian."""
    torch = torch_oracle()
    from tensorgrad.autograd import functional as fn

    r = _rng(13)
    a, xa = r.standard_normal((6, 4)), r.standard_normal(4)
    A = tensor_on(a, device)
    x = tensor_on(xa, device) if kind == "tensor" else tensor_on(xa, device).data

    def f(v):
        return tg.numpy.tanh(A @ v) * tg.numpy.sum(v ** 2)

    counts = _Counts()
    jac = tg.jacobian(f)(x)
    assert counts.fallbacks() == 0 and counts.generic() == set()
    assert isinstance(jac, tg.Tensor) == (kind == "tensor") and tuple(jac.shape) == (6, 4)
    monkeypatch.setattr(fn, "vmapped_rows", lambda call, basis: None)
    loop = tg.jacobian(f)(x)
    assert isinstance(loop, tg.Tensor) == (kind == "tensor")
    onp.testing.assert_allclose(host(jac), host(loop), **TOL)
    ta = torch.tensor(a)
    tj = torch.autograd.functional.jacobian(lambda v: (ta @ v).tanh() * (v ** 2).sum(),
                                            torch.tensor(xa))
    onp.testing.assert_allclose(host(jac), tj.numpy(), **TOL)


def test_jacobian_falls_back_where_values_are_read():
    """A VJP rule that reads its cotangent's values cannot run batched: the row-by-row loop
    gives the answer, counted as a fallback."""
    @tg.primitive
    def cube(x):
        return x ** 3

    tg.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2 * (1.0 if float(g.sum()) > -1e300 else 0))
    x = _rng(14).standard_normal(3)
    counts = _Counts()
    jac = tg.jacobian(lambda v: cube(v) * 2.0)(x)
    assert counts.fallbacks() == 1
    onp.testing.assert_allclose(jac, onp.diag(6 * x ** 2), **TOL)
