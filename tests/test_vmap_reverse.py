"""Reverse mode under other transforms on vmap's batched path: jacrev's rows (a vmap over the
VJP, its cotangents batched at a NEW level) when the outputs carry lower levels (an outer
vmap's examples, an outer jvp's tangents, an outer jacrev's rows). ``_reverse`` expands the
outputs' levels under the rows' level, so each transform keeps its own perturbation. Each
composition is compared with torch.func and with the per-slice loop it replaces, the debug
counters show that no fallback ran, and perturbation-confusion cases nest every order of
vmap/jvp/vjp. Also func.hessian's plain path (the gradient recorded once, no per-direction
copy of the variable)."""

import numpy as onp
import pytest
from devices import host, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad import func as F
from tensorgrad.autograd import batching

TOL = dict(rtol=1e-10, atol=1e-12)
W = onp.random.default_rng(1).standard_normal((3, 4))


def _rng(seed=0):
    return onp.random.default_rng(seed)


class _Fallbacks:
    def __init__(self):
        self.start = batching.STATS["fallback"]

    def __call__(self):
        return batching.STATS["fallback"] - self.start


def _f_tg(w):
    def f(x):  # 4 -> 3, not linear in x: every derivative order is nonzero
        return tg.tanh(w @ x) * x.sum() + (x * x)[:3]
    return f


def _f_torch(w):
    def f(x):
        return (w @ x).tanh() * x.sum() + (x * x)[:3]
    return f


# (name, how to compose a transform of a vector function, argument shape)
COMPOSITIONS = [
    ("vmap(jacrev)", lambda T, f: T.vmap(T.jacrev(f)), (5, 4)),
    ("jacfwd(jacrev)", lambda T, f: T.jacfwd(T.jacrev(f)), (4,)),
    ("jacrev(jacrev)", lambda T, f: T.jacrev(T.jacrev(f)), (4,)),
    ("vmap(jacfwd(jacrev))", lambda T, f: T.vmap(T.jacfwd(T.jacrev(f))), (2, 4)),
    ("vmap(jacrev(jacrev))", lambda T, f: T.vmap(T.jacrev(T.jacrev(f))), (2, 4)),
    ("jacrev(vmap(jacrev))", lambda T, f: T.jacrev(T.vmap(T.jacrev(f))), (2, 4)),
    ("jacfwd(vmap(jacrev))", lambda T, f: T.jacfwd(T.vmap(T.jacrev(f))), (2, 4)),
    ("vmap(vmap(jacrev))", lambda T, f: T.vmap(T.vmap(T.jacrev(f))), (2, 3, 4)),
    ("jacrev(jacfwd(jacrev))", lambda T, f: T.jacrev(T.jacfwd(T.jacrev(f))), (4,)),
    ("jacfwd(jacrev(jacrev))", lambda T, f: T.jacfwd(T.jacrev(T.jacrev(f))), (4,)),
]


@pytest.mark.parametrize("name,compose,shape", COMPOSITIONS, ids=[c[0] for c in COMPOSITIONS])
def test_compositions_match_torch_and_the_loop_without_fallback(device, loop_only, name,
                                                                compose, shape):
    torch = torch_oracle()
    a = _rng(2).standard_normal(shape)
    w = tensor_on(W, device)
    fallbacks = _Fallbacks()
    got = compose(F, _f_tg(w))(tensor_on(a, device))
    assert fallbacks() == 0, batching.STATS.get("reason")
    want = compose(torch.func, _f_torch(torch.tensor(W)))(torch.tensor(a))
    assert isinstance(got, tg.Tensor) and tuple(got.shape) == tuple(want.shape)
    onp.testing.assert_allclose(host(got), want.numpy(), **TOL)
    loop_only()
    loop = compose(F, _f_tg(w))(tensor_on(a, device))
    onp.testing.assert_allclose(host(got), host(loop), **TOL)


def test_the_rows_are_one_batched_vjp_under_an_outer_jvp_and_vmap(device, monkeypatch):
    """jacrev's rows run as ONE vjp (not one per row) under jacfwd and under vmap."""
    calls = []
    real = F._batched_rows

    def counting(*args):
        got = real(*args)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(F, "_batched_rows", counting)
    w = tensor_on(W, device)
    F.jacfwd(F.jacrev(_f_tg(w)))(tensor_on(_rng(3).standard_normal(4), device))
    F.vmap(F.jacrev(_f_tg(w)))(tensor_on(_rng(4).standard_normal((6, 4)), device))
    assert calls == [True, True]


def test_per_example_jacobians_with_an_unmapped_argument(device):
    """vmap(jacrev(f, argnums=1), in_dims=(0, None)): a Jacobian per example with respect to a
    shared weight, against torch.func."""
    torch = torch_oracle()
    xs = _rng(5).standard_normal((5, 4))

    def f(x, w):
        return tg.tanh(w @ x) * x[:3]

    def ft(x, w):
        return (w @ x).tanh() * x[:3]

    fallbacks = _Fallbacks()
    got = F.vmap(F.jacrev(f, argnums=1), in_dims=(0, None))(tensor_on(xs, device),
                                                            tensor_on(W, device))
    assert fallbacks() == 0, batching.STATS.get("reason")
    want = torch.func.vmap(torch.func.jacrev(ft, argnums=1), in_dims=(0, None))(
        torch.tensor(xs), torch.tensor(W))
    onp.testing.assert_allclose(host(got), want.numpy(), **TOL)


# ---- perturbation confusion -----------------------------------------------------------------
# d/dx [x * d/dy (x + y)] = 1 at any point: the inner derivative must not see the outer
# perturbation of x (a confused nesting gives 2). With d/dy (x * y) = x the answer is 2x.
def _scalar_derivatives():
    def by_grad(f):
        return F.grad(f)

    def by_jvp(f):
        return lambda v: F.jvp(f, (v,), (tg.ones_like(v),))[1]

    def by_vjp(f):
        def d(v):
            out, vjp_fn = F.vjp(f, v)
            return vjp_fn(tg.ones_like(out))[0]
        return d

    def by_jacrev(f):  # a (1,) vector: jacrev's rows machinery on one row
        return lambda v: F.jacrev(lambda u: f(u.reshape(())).reshape((1,)))(v.reshape((1,))) \
            .reshape(())

    return {"grad": by_grad, "jvp": by_jvp, "vjp": by_vjp, "jacrev": by_jacrev}


SCALAR = _scalar_derivatives()
# an outer jvp over an inner reverse transform whose function closes over the jvp's dual,
# under vmap, used to run the loop: the inner gradient's tangent part (its outputs' tangents
# do not depend on the variable) came back as zeros shaped like the PHYSICAL variable, the
# vmap's batch dimension included, without the vmap level; every nesting now runs batched


@pytest.mark.parametrize("outer", sorted(SCALAR))
@pytest.mark.parametrize("inner", sorted(SCALAR))
@pytest.mark.parametrize("batched", [False, True], ids=["plain", "vmap"])
def test_no_perturbation_confusion_scalar(device, outer, inner, batched):
    D_out, D_in = SCALAR[outer], SCALAR[inner]

    def h_add(x):
        return x * D_in(lambda y: x + y)(x)

    def h_mul(x):
        return x * D_in(lambda y: x * y)(tg.tensor(2.0, dtype=x.dtype, device=x.device))

    pts = _rng(6).standard_normal(3)
    fallbacks = _Fallbacks()
    for h, want in ((h_add, onp.ones(3)), (h_mul, 2 * pts)):
        if batched:
            got = host(F.vmap(D_out(h))(tensor_on(pts, device)))
        else:
            got = onp.array([host(D_out(h)(tensor_on(p, device))) for p in pts])
        onp.testing.assert_allclose(got, want, **TOL)
    assert fallbacks() == 0, batching.STATS.get("reason")


VECTOR = {"jacrev": F.jacrev, "jacfwd": F.jacfwd}


@pytest.mark.parametrize("outer", sorted(VECTOR))
@pytest.mark.parametrize("inner", sorted(VECTOR))
@pytest.mark.parametrize("wrap", ["plain", "vmap", "jvp"])
def test_no_perturbation_confusion_vector(device, outer, inner, wrap):
    """The same with Jacobians of vector functions, so that the inner rows (or columns) run
    batched at a new level above the outer transform's: d/dx [x * rowsum(d/dy (x + y))] = I
    and d/dx [x * rowsum(d/dy (x * y))] = diag(2x); wrapped in vmap (per example) or in a jvp
    (its tangent along a direction v: the Jacobian's derivative, 0 and diag(2v))."""
    J_out, J_in = VECTOR[outer], VECTOR[inner]

    def h_add(x):
        return x * J_in(lambda y: x + y)(x).sum(-1)

    def h_mul(x):
        return x * J_in(lambda y: x * y)(x).sum(-1)

    xs = _rng(7).standard_normal((2, 3))
    v = _rng(8).standard_normal(3)
    fallbacks = _Fallbacks()
    for h, want_of, tangent_of in ((h_add, lambda x: onp.eye(3), lambda x: onp.zeros((3, 3))),
                                   (h_mul, lambda x: onp.diag(2 * x),
                                    lambda x: onp.diag(2 * v))):
        if wrap == "vmap":
            got = host(F.vmap(J_out(h))(tensor_on(xs, device)))
            onp.testing.assert_allclose(got, onp.stack([want_of(x) for x in xs]), **TOL)
        elif wrap == "jvp":
            val, tan = F.jvp(J_out(h), (tensor_on(xs[0], device),), (tensor_on(v, device),))
            onp.testing.assert_allclose(host(val), want_of(xs[0]), **TOL)
            onp.testing.assert_allclose(host(tan), tangent_of(xs[0]), **TOL)
        else:
            got = host(J_out(h)(tensor_on(xs[0], device)))
            onp.testing.assert_allclose(got, want_of(xs[0]), **TOL)
    assert fallbacks() == 0, batching.STATS.get("reason")


def test_vjp_inside_jvp_inside_vmap_keeps_each_level(device):
    """vmap over a jvp over a vjp whose cotangent is batched (vmap) inside: each level's
    perturbation stays its own, against torch.func."""
    torch = torch_oracle()
    xs = _rng(9).standard_normal((3, 4))
    v = _rng(10).standard_normal(4)
    cots = _rng(11).standard_normal((2, 3))

    def inner(F_, f, x, cts):
        def rows(x):
            _, vjp_fn = F_.vjp(f, x)
            return F_.vmap(lambda c: vjp_fn(c)[0])(cts)
        return F_.jvp(rows, (x,), (vtan(F_),))[1]

    def vtan(F_):
        return tensor_on(v, device) if F_ is F else torch.tensor(v)

    fallbacks = _Fallbacks()
    got = F.vmap(lambda x: inner(F, _f_tg(tensor_on(W, device)), x,
                                 tensor_on(cots, device)))(tensor_on(xs, device))
    assert fallbacks() == 0, batching.STATS.get("reason")
    want = torch.func.vmap(lambda x: inner(torch.func, _f_torch(torch.tensor(W)), x,
                                           torch.tensor(cots)))(torch.tensor(xs))
    onp.testing.assert_allclose(host(got), want.numpy(), **TOL)


def test_finite_differences_through_batched_rows_under_other_levels():
    """Second-order finite differences, both modes, of functions built on vmap(jacrev) and
    jacfwd(jacrev) (the new path runs under check_grads' own transforms)."""
    w = tg.tensor(W)

    def f(x):
        J = F.vmap(F.jacrev(_f_tg(w)))(x.reshape((2, 4)))
        return (J * J).sum() + J[1, 0, 2]

    def g(x):
        H = F.jacfwd(F.jacrev(_f_tg(w)))(x)
        return (H * H).sum() + H[2, 1, 0]

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tg.tensor(_rng(12).standard_normal(8)))
    tg.check_grads(g, modes=("fwd", "rev"), order=2)(tg.tensor(_rng(13).standard_normal(4)))


# ---- func.hessian's plain path ---------------------------------------------------------------
def _logistic(np_, X, t):
    def loss(w):
        preds = 0.5 * (np_.tanh(X @ w) + 1)
        return -(np_.log(preds * t + (1 - preds) * (1 - t))).sum()
    return loss


def test_hessian_of_a_plain_tensor_runs_the_function_once_unbatched(device):
    """The W6 loss: func.hessian equals torch.func.hessian and the hand-written Hessian; the
    function runs once, on a plain tensor (no dual, no per-direction copy)."""
    torch = torch_oracle()
    rng = _rng(14)
    X = rng.standard_normal((30, 6)) / 3
    t = (rng.random(30) < 0.5).astype(onp.float64)
    w = rng.standard_normal(6)
    seen = []
    loss = _logistic(tg, tensor_on(X, device), tensor_on(t, device))

    def f(w):
        seen.append(type(w))
        return loss(w)

    fallbacks = _Fallbacks()
    H = F.hessian(f)(tensor_on(w, device))
    assert seen == [tg.Tensor] and fallbacks() == 0
    th = onp.tanh(X @ w)
    onp.testing.assert_allclose(host(H), X.T @ (X * (1 - th * th)[:, None]), **TOL)
    want = torch.func.hessian(_logistic(torch, torch.tensor(X), torch.tensor(t)))(
        torch.tensor(w))
    onp.testing.assert_allclose(host(H), want.numpy(), **TOL)


def test_hessian_outside_the_plain_path_still_matches_torch(device):
    """Vector outputs, a 0-d output of shape (1,), a variable that requires grad and
    hessian under vmap take jacfwd over jacrev (each compared with torch.func)."""
    torch = torch_oracle()
    a = _rng(15).standard_normal(4)
    xs = _rng(16).standard_normal((2, 4))
    w = tensor_on(W, device)
    tw = torch.tensor(W)
    cases = [
        (lambda x: _f_tg(w)(x), lambda x: _f_torch(tw)(x), a),
        (lambda x: _f_tg(w)(x).sum().reshape((1,)), lambda x: _f_torch(tw)(x).sum().reshape(1),
         a),
    ]
    for f, ft, arg in cases:
        got = F.hessian(f)(tensor_on(arg, device))
        want = torch.func.hessian(ft)(torch.tensor(arg))
        assert tuple(got.shape) == tuple(want.shape)
        onp.testing.assert_allclose(host(got), want.numpy(), **TOL)
    x = tensor_on(a, device, requires_grad=True)
    H = F.hessian(lambda x: (_f_tg(w)(x) ** 2).sum())(x)
    assert H.requires_grad
    tx = torch.tensor(a, requires_grad=True)
    tH = torch.func.hessian(lambda x: (_f_torch(tw)(x) ** 2).sum())(tx)
    onp.testing.assert_allclose(host(H), tH.detach().numpy(), **TOL)
    H.sum().backward()
    tH.sum().backward()
    onp.testing.assert_allclose(host(x.grad), tx.grad.numpy(), **TOL)
    seen = []

    def f(x):
        seen.append(type(x))
        return (_f_tg(w)(x) ** 2).sum()

    got = F.vmap(F.hessian(f))(tensor_on(xs, device))
    assert tg.Tensor not in seen  # under vmap: the batched jacfwd over jacrev
    want = torch.func.vmap(torch.func.hessian(lambda x: (_f_torch(tw)(x) ** 2).sum()))(
        torch.tensor(xs))
    onp.testing.assert_allclose(host(got), want.numpy(), **TOL)


def test_hessian_plain_path_refuses_random_draws(device):
    x = tensor_on(_rng(17).standard_normal(3), device)
    with pytest.raises(RuntimeError, match="randomness"):
        F.hessian(lambda x: (x * tg.rand(3, dtype=tg.float64, device=device)).sum())(x)
