"""Forward mode on vmap's batched path: ``vmap(jvp)`` with batched tangents (a dual whose
tangent is a Batched of a lower level), and the transforms built on it (func.jacfwd,
func.hessian and the autograd-style hessian sweep all basis directions in one batched jvp).
Each is compared with the per-direction loop it replaces and with torch.func, the debug
counters show that the batched path ran, and a function it cannot run still gets the loop's
answer."""

import numpy as onp
import pytest
from devices import host, on, tensor_on, torch_oracle

import tensorgrad as tg
import tensorgrad.numpy as tnp
from tensorgrad import func as F
from tensorgrad.autograd import batching, functional

TOL = dict(rtol=1e-10, atol=1e-12)


def _rng(seed=0):
    return onp.random.default_rng(seed)


class _Counts:
    """The debug counters since construction: batching rules run, generic rules, fallbacks."""

    def __init__(self):
        self.rule = dict(batching.STATS["rule"])
        self.fallback = batching.STATS["fallback"]

    def rules(self):
        now = batching.STATS["rule"]
        return {k for k, v in now.items() if v != self.rule.get(k, 0)}

    def fallbacks(self):
        return batching.STATS["fallback"] - self.fallback


@pytest.fixture
def loop_only(monkeypatch):
    """Makes jacfwd and the autograd-style hessian take their per-direction loops."""

    def use_loop():
        monkeypatch.setattr(F, "_jvp_columns", lambda *a: None)
        monkeypatch.setattr(functional, "vmapped_call", lambda *a, **k: None)

    return use_loop


# (name, tensorgrad function of a (4,)-vector, torch function, batching rules expected to
# run for its JVP: the primal runs unbatched, the tangents batched)
W = _rng(1).standard_normal((3, 4))
CASES = [
    ("elementwise", lambda x: tg.tanh(x) * x.exp() / (1 + x ** 2) - tg.sigmoid(x),
     lambda x: x.tanh() * x.exp() / (1 + x ** 2) - x.sigmoid(),
     {"multiply", "divide", "add"}),
    ("reduction", lambda x: tg.stack([x.sum() * x.max(), (x * x).mean(), x.prod()]),
     lambda x: torch_stack([x.sum() * x.max(), (x * x).mean(), x.prod()]),
     {"sum", "mean", "multiply", "stack_"}),
    ("matmul", lambda x: tg.tanh(WT[0] @ x) * (x @ x) + x @ WT[0].T,
     lambda x: (tW() @ x).tanh() * (x @ x) + x @ tW().T, {"matmul"}),
    ("shape", lambda x: tg.cat([x.reshape(2, 2).T.reshape(-1), x[1:3] * x[::-1][:2]]),
     lambda x: torch_cat([x.reshape(2, 2).T.reshape(-1), x[1:3] * x.flip(0)[:2]]),
     {"reshape", "transpose", "getitem", "concatenate_"}),
    ("softmax", lambda x: tg.nn.functional.softmax(x.reshape(2, 2) * 3, 1).reshape(-1) + x,
     lambda x: (x.reshape(2, 2) * 3).softmax(1).reshape(-1) + x, {"multiply", "sum"}),
    ("einsum", lambda x: tg.einsum("ij,j->i", WT[0], x * x),
     lambda x: torch_einsum("ij,j->i", tW(), x * x), {"einsum_"}),
]
WT = [None]  # W on the test's device, set by the tests that run CASES


def torch_stack(xs):
    return torch_oracle().stack(xs)


def torch_cat(xs):
    return torch_oracle().cat(xs)


def torch_einsum(s, *xs):
    return torch_oracle().einsum(s, *xs)


def tW():
    return torch_oracle().tensor(W)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_vmap_of_jvp_with_batched_tangents(device, case):
    """vmap over jvp, the tangents mapped and the primal not: equal to the loop of jvps and
    to torch.func, on the batched path (no fallback, the category's rules ran)."""
    torch = torch_oracle()
    name, f, tf, rules = case
    WT[0] = tensor_on(W, device)
    a, v = _rng(2).standard_normal(4), _rng(3).standard_normal((5, 4))
    x, vs = tensor_on(a, device), tensor_on(v, device)
    counts = _Counts()
    out, tan = F.vmap(lambda t: F.jvp(f, (x,), (t,)), in_dims=0, out_dims=(None, 0))(vs)
    assert counts.fallbacks() == 0
    assert rules <= counts.rules(), counts.rules()
    assert on(tan, device)
    loop = tg.stack([F.jvp(f, (x,), (vs[i],))[1] for i in range(5)])
    onp.testing.assert_allclose(host(tan), host(loop), **TOL)
    onp.testing.assert_allclose(host(out), host(f(x)), **TOL)
    _, ttan = torch.func.vmap(lambda t: torch.func.jvp(tf, (torch.tensor(a),), (t,)))(
        torch.tensor(v))
    onp.testing.assert_allclose(host(tan), ttan.numpy(), **TOL)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_jacfwd_batched_matches_loop_and_torch(device, case, loop_only):
    torch = torch_oracle()
    name, f, tf, rules = case
    WT[0] = tensor_on(W, device)
    a = _rng(4).standard_normal(4)
    x = tensor_on(a, device)
    counts = _Counts()
    J = F.jacfwd(f)(x)
    assert counts.fallbacks() == 0
    assert rules <= counts.rules(), counts.rules()
    assert on(J, device) and not J.requires_grad
    tJ = torch.func.jacfwd(tf)(torch.tensor(a))
    onp.testing.assert_allclose(host(J), tJ.numpy(), **TOL)
    loop_only()
    onp.testing.assert_allclose(host(J), host(F.jacfwd(f)(x)), **TOL)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hessian_batched_matches_loop_and_torch(device, case, loop_only):
    """func.hessian (jacfwd over jacrev) and the autograd-style hessian of a scalar made from
    each category, against torch.func.hessian and the loop; no fallback."""
    torch = torch_oracle()
    name, f, tf, rules = case
    WT[0] = tensor_on(W, device)
    a = _rng(5).standard_normal(4)
    x = tensor_on(a, device)
    counts = _Counts()
    H = F.hessian(lambda x: (f(x) ** 2).sum())(x)
    assert counts.fallbacks() == 0
    tH = torch.func.hessian(lambda x: (tf(x) ** 2).sum())(torch.tensor(a))
    onp.testing.assert_allclose(host(H), tH.numpy(), rtol=1e-9, atol=1e-10)
    # the autograd-style hessian's nested path (the argument is on the tape)
    xr = tensor_on(a, device, requires_grad=True)
    H2 = tg.hessian(lambda x: (f(x) ** 2).sum())(xr)
    assert counts.fallbacks() == 0
    onp.testing.assert_allclose(host(H2), tH.numpy(), rtol=1e-9, atol=1e-10)
    loop_only()
    onp.testing.assert_allclose(host(H), host(F.hessian(lambda x: (f(x) ** 2).sum())(x)),
                                rtol=1e-12, atol=1e-12)
    onp.testing.assert_allclose(host(H2), host(tg.hessian(lambda x: (f(x) ** 2).sum())(xr)),
                                rtol=1e-12, atol=1e-12)


def test_hessian_of_logistic_loss_nested_in_jvp_and_grad(loop_only):
    """tg.hessian inside make_jvp and inside grad (its nested path: one batched jvp of the
    gradient), raw NumPy arguments, against the loop and finite differences of the loop."""
    rng = _rng(6)
    X, t, w = rng.standard_normal((30, 5)), (rng.random(30) < .5) * 1.0, rng.standard_normal(5)

    def loss(w):
        p = 0.5 * (tnp.tanh(X @ w) + 1)
        return -tnp.sum(tnp.log(p * t + (1 - p) * (1 - t))) + tnp.sum(tnp.sin(w) * w)

    v = rng.standard_normal(5)
    counts = _Counts()
    H, dH = tg.make_jvp(tg.hessian(loss))(w)(v)
    g = tg.grad(lambda w: tnp.sum(tg.hessian(loss)(w) ** 2))(w)
    assert counts.fallbacks() == 0
    assert isinstance(dH, onp.ndarray) and dH.shape == (5, 5)
    eps = 1e-5
    fd = (tg.hessian(loss)(w + eps * v) - tg.hessian(loss)(w - eps * v)) / (2 * eps)
    onp.testing.assert_allclose(dH, fd, rtol=1e-5, atol=1e-5)
    loop_only()
    H_, dH_ = tg.make_jvp(tg.hessian(loss))(w)(v)
    onp.testing.assert_allclose(H, H_, **TOL)
    onp.testing.assert_allclose(dH, dH_, rtol=1e-10, atol=1e-10)
    onp.testing.assert_allclose(g, tg.grad(lambda w: tnp.sum(tg.hessian(loss)(w) ** 2))(w),
                                rtol=1e-10, atol=1e-10)


def test_nested_vmap_of_jacfwd_and_hessian(device):
    """vmap(jacfwd(f)) and vmap(hessian(f)): the jacfwd's basis is a vmap level above the
    outer one; no fallback, equal to torch.func."""
    torch = torch_oracle()
    a = _rng(7).standard_normal((3, 4))
    w = _rng(8).standard_normal((4, 4))
    x, wt = tensor_on(a, device), tensor_on(w, device)

    def f(x):
        return tg.tanh(wt @ x) * x.sin()

    def tf(x):
        return (torch.tensor(w) @ x).tanh() * x.sin()

    counts = _Counts()
    J = F.vmap(F.jacfwd(f))(x)
    H = F.vmap(F.hessian(lambda x: (f(x) ** 2).sum()))(x)
    assert counts.fallbacks() == 0
    tx = torch.tensor(a)
    onp.testing.assert_allclose(host(J), torch.func.vmap(torch.func.jacfwd(tf))(tx).numpy(),
                                **TOL)
    tH = torch.func.vmap(torch.func.hessian(lambda x: (tf(x) ** 2).sum()))(tx)
    onp.testing.assert_allclose(host(H), tH.numpy(), rtol=1e-9, atol=1e-10)
    # jacfwd of jacfwd: the inner basis batched above the outer one
    JJ = F.jacfwd(F.jacfwd(f))(x[0])
    assert counts.fallbacks() == 0
    tJJ = torch.func.jacfwd(torch.func.jacfwd(tf))(tx[0])
    onp.testing.assert_allclose(host(JJ), tJJ.numpy(), rtol=1e-9, atol=1e-10)


def test_jacfwd_pytrees_argnums_and_aux(device, loop_only):
    """Several arguments, dict inputs and outputs, has_aux: the batched path gives the loop's
    structure and values, and the aux without any batch."""
    rng = _rng(9)
    p = {"w": tensor_on(rng.standard_normal((2, 3)), device),
         "b": tensor_on(rng.standard_normal(2), device)}
    y = tensor_on(rng.standard_normal(3), device)

    def g(p, y):
        return {"o": tg.tanh(p["w"] @ y) + p["b"], "s": (y * y).sum()}, y.sum() * 2

    counts = _Counts()
    J, aux = F.jacfwd(g, argnums=(0, 1), has_aux=True)(p, y)
    assert counts.fallbacks() == 0
    loop_only()
    J2, aux2 = F.jacfwd(g, argnums=(0, 1), has_aux=True)(p, y)
    assert type(aux) is tg.Tensor and aux.shape == () and on(aux, device)
    onp.testing.assert_allclose(host(aux), host(aux2), **TOL)
    for k in ("o", "s"):
        for key in ("w", "b"):
            assert J[k][0][key].shape == J2[k][0][key].shape
            onp.testing.assert_allclose(host(J[k][0][key]), host(J2[k][0][key]), **TOL)
        onp.testing.assert_allclose(host(J[k][1]), host(J2[k][1]), **TOL)


def test_complex_inputs_match_the_loop(device, loop_only):
    """Complex inputs (torch.func refuses them): the batched jacfwd equals the loop and the
    holomorphic derivative."""
    a = _rng(10).standard_normal(3) + 1j * _rng(11).standard_normal(3)
    x = tensor_on(a, device)

    def f(z):
        return z * z.exp() + z.sum()

    counts = _Counts()
    J = F.jacfwd(f)(x)
    assert counts.fallbacks() == 0
    want = onp.diag(onp.exp(a) * (1 + a)) + onp.ones((3, 3))
    onp.testing.assert_allclose(host(J), want, **TOL)
    loop_only()
    onp.testing.assert_allclose(host(J), host(F.jacfwd(f)(x)), **TOL)


@tg.primitive
def _sin_skipping_zero_tangents(x):
    return tg.backend.device.xp_of(x).sin(x)


def _jvp_reading_values(t, ans, x):
    if not (t != 0).any().item():  # reads the tangent's values: the loop only
        return t * 0
    return t * tnp.cos(x)


tg.defvjp(_sin_skipping_zero_tangents, lambda g, ans, x: g * tnp.cos(x))
tg.defjvp(_sin_skipping_zero_tangents, _jvp_reading_values)


def test_functions_the_batched_path_cannot_run_get_the_loops_answer(device):
    """A JVP rule that reads the tangent's values: jacfwd and both hessians fall back to the
    loop (counted) and give its answer; randomness keeps the loop's rules."""
    torch = torch_oracle()
    a = _rng(12).standard_normal(4)
    x = tensor_on(a, device)

    def f(x):
        return _sin_skipping_zero_tangents(x) * 3

    counts = _Counts()
    J = F.jacfwd(f)(x)
    assert counts.fallbacks() == 1
    assert isinstance(batching.STATS["reason"], batching.BatchingFallback)
    tJ = torch.func.jacfwd(lambda x: x.sin() * 3)(torch.tensor(a))
    onp.testing.assert_allclose(host(J), tJ.numpy(), **TOL)
    H = F.hessian(lambda x: f(x).sum())(x)
    assert counts.fallbacks() == 2
    onp.testing.assert_allclose(host(H), onp.diag(-3 * onp.sin(a)), **TOL)
    H2 = tg.hessian(lambda x: f(x).sum())(tensor_on(a, device, requires_grad=True))
    assert counts.fallbacks() == 3
    onp.testing.assert_allclose(host(H2), onp.diag(-3 * onp.sin(a)), **TOL)
    with pytest.raises(RuntimeError, match="randomness"):
        F.jacfwd(lambda x: x * tg.rand(4, dtype=tg.float64, device=device))(x)
    tg.manual_seed(0)
    Jd = F.jacfwd(lambda x: x * tg.rand(4, dtype=tg.float64, device=device),
                  randomness="same")(x)
    assert (host(Jd) == onp.diag(onp.diag(host(Jd)))).all() and (onp.diag(host(Jd)) > 0).all()


def test_second_derivatives_through_batched_jacfwd():
    """Finite differences, both modes, second order, of a function built on the batched
    jacfwd (the batched path runs under the outer transforms)."""
    w = _rng(13).standard_normal((3, 3))

    def f(x):
        J = F.jacfwd(lambda v: tg.tanh(tg.tensor(w) @ v) * v)(x)
        return (J * J).sum() + J[0, 1]

    counts = _Counts()
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tg.tensor(_rng(14).standard_normal(3)))
    assert counts.fallbacks() == 0
