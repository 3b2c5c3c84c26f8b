"""Mixed nestings of vmap with forward and reverse transforms on vmap's batched path, with
closures over the outer transforms' variables (perturbation confusion), unmapped arguments
(``in_dims`` None) and broadcasting between batched and unbatched tensors of different ranks.

Each case is written once against a namespace of transforms (``tensorgrad.func`` or
``torch.func``) and a maker of constants, and its value is compared with torch.func's and
with tensorgrad's per-slice loop; the debug counters show that no fallback ran. The cases
that first found it: a reverse transform under an outer jvp (or jacfwd) under vmap, whose
function closes over the jvp's dual, gave the gradient's tangent part as zeros shaped like
the PHYSICAL variable (the vmap's batch dimension included) without the vmap level, and a
dual over a batched value reported the cpu as its device."""

import numpy as onp
import pytest
from devices import host, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad import func as F
from tensorgrad.autograd import batching

TOL = dict(rtol=1e-10, atol=1e-12)
RNG = onp.random.default_rng(20)
XS = RNG.standard_normal((5, 4))  # the mapped examples
W = RNG.standard_normal(4)  # a variable of an outer transform
V = RNG.standard_normal(4)  # a direction for jvp
M = RNG.standard_normal((3, 4))  # unbatched, of a higher rank than one example
B = RNG.standard_normal(3)
S = RNG.standard_normal(5)  # one number per example


# Each case: (name, build(T, c) -> (function, its arguments)); T is the transforms' namespace,
# c(array) makes a constant of that library.
def _grad_jvp_vmap(T, c):
    """vmap inside jvp inside grad: the mapped function closes over the jvp's dual (an
    unbatched value of the outer levels) and over an unmapped constant."""
    xs, v = c(XS), c(V)

    def directional(w):
        def batch_loss(u):
            return T.vmap(lambda x: (u @ x).tanh() * (x * u).sum() ** 2)(xs).sum()
        return T.jvp(batch_loss, (w,), (v,))[1]

    return T.grad(directional), (c(W),)


def _vmap_jvp_grad(T, c):
    """grad inside jvp inside vmap: the inner function closes over the example (vmap's) and
    the jvp's dual; the inner variable is the example itself."""
    w, v = c(W), c(V)

    def per_example(x):
        def g(u):
            return T.grad(lambda y: ((u * y).sin() * (x * y).sum()).sum())(x)
        return T.jvp(g, (w,), (v,))[1]

    return T.vmap(per_example), (c(XS),)


def _jvp_vmap_grad(T, c):
    """grad inside vmap inside jvp: per-example gradients that close over the jvp's dual,
    and the derivative of all of them along one direction."""
    xs, v = c(XS), c(V)

    def grads(u):
        return T.vmap(lambda x: T.grad(lambda y: ((u * y).tanh() * x).sum() ** 2)(x))(xs)

    return (lambda w: T.jvp(grads, (w,), (v,))), (c(W),)


def _grad_vmap_grad(T, c):
    """grad inside vmap inside grad: the inner gradient closes over the outer variable."""
    xs = c(XS)

    def outer(w):
        inner = T.vmap(lambda x: T.grad(lambda y: (w * y.sin()).sum() ** 2)(x))(xs)
        return (inner * inner).sum()

    return T.grad(outer), (c(W),)


def _vmap_grad_unmapped(T, c):
    """Per-example gradients with respect to an unmapped matrix and vector (in_dims None),
    the example (rank 1) broadcast against the matrix (rank 2) and a per-example number."""
    def loss(m, b, x, s):
        return (((m * x).sum(-1) + b).tanh() * s + (m @ x) * b).sum()

    return (T.vmap(T.grad(loss, argnums=(0, 1)), in_dims=(None, None, 0, 0)),
            (c(M), c(B), c(XS), c(S)))


def _vmap_jvp_broadcast(T, c):
    """jvp with respect to an unmapped matrix under vmap, the matrix meeting the example
    (rank 1) and a per-example number (rank 0) by broadcasting."""
    def per_example(x, s, m, dm):
        return T.jvp(lambda a: ((a * x).sum(0) * s + (a @ x).sin().sum()), (m,), (dm,))

    return (T.vmap(per_example, in_dims=(0, 0, None, None)),
            (c(XS), c(S), c(M), c(M[::-1].copy())))


def _vmap_vmap_grad(T, c):
    """grad inside two vmaps, the inner vmap over a different argument, the gradient with
    respect to an unmapped weight that closes over both examples."""
    ys = c(XS[:3, :2] + 1)

    def outer(x, w):
        return T.vmap(lambda y: T.grad(lambda a: ((a * x).sum() * y).sin().sum())(w))(ys)

    return T.vmap(outer, in_dims=(0, None)), (c(XS), c(W))


def _jacfwd_vmap_jacrev(T, c):
    """jacfwd over vmap over jacrev, the vmapped function closing over the jacfwd variable
    and taking an unmapped argument."""
    xs = c(XS[:3])

    def outer(w):
        def per(x, m):
            return T.jacrev(lambda y: (m @ (y * w)).tanh() * y.sum())(x)
        return T.vmap(per, in_dims=(0, None))(xs, c(M))

    return T.jacfwd(outer), (c(W),)


def _vmap_grad_independent(T, c):
    """A gradient that does not depend on the example (zeros for one argument, a constant
    for the other) under vmap and under a jvp inside vmap."""
    def loss(x, w):
        return (w * w).sum() + x.sum() * 0 + (w * 3).sum()

    def per_example(x, w):
        g = T.grad(loss, argnums=(0, 1))(x, w)
        t = T.jvp(lambda u: T.grad(loss)(x, u), (w,), (x,))[1]
        return g[0], g[1], t

    return T.vmap(per_example, in_dims=(0, None)), (c(XS), c(W))


def _vmap_jvp_grad_additive(T, c):
    """grad inside jvp inside vmap where the jvp's dual enters the inner function only
    additively and unbatched: the inner output's tangent carries no vmap level and does not
    depend on the inner variable, so the gradient's tangent part is zero (it must still carry
    the vmap level, logically shaped like one example); a per-example number multiplies the
    result."""
    w, v = c(W), c(V)

    def per_example(x, s):
        def g(u):
            return T.grad(lambda y: (y * x).sin().sum() + (u * u).sum())(x) * s
        return T.jvp(g, (w,), (v,))

    return T.vmap(per_example), (c(XS), c(S))


def _vmap_jvp_vjp_confusion(T, c):
    """d/dx [x * vjp_y(x * y + sum(x))] with the vjp inside a jvp inside vmap, the vjp's
    cotangent an unbatched vector of ones (a confused nesting mixes the levels)."""
    ones = c(onp.ones(4))

    def h(x):
        def inner(y):
            return x * y + x.sum()
        _, vjp_fn = T.vjp(inner, x)
        return x * vjp_fn(ones)[0]

    return T.vmap(lambda x: T.jvp(h, (x,), (ones,))[1]), (c(XS),)


CASES = [
    ("grad(jvp(vmap))", _grad_jvp_vmap),
    ("vmap(jvp(grad))", _vmap_jvp_grad),
    ("jvp(vmap(grad))", _jvp_vmap_grad),
    ("grad(vmap(grad))", _grad_vmap_grad),
    ("vmap(grad) in_dims None", _vmap_grad_unmapped),
    ("vmap(jvp) broadcast", _vmap_jvp_broadcast),
    ("vmap(vmap(grad))", _vmap_vmap_grad),
    ("jacfwd(vmap(jacrev))", _jacfwd_vmap_jacrev),
    ("vmap(grad) independent", _vmap_grad_independent),
    ("vmap(jvp(vjp)) confusion", _vmap_jvp_vjp_confusion),
    ("vmap(jvp(grad)) additive", _vmap_jvp_grad_additive),
]


def _leaves(x):
    if isinstance(x, (tuple, list)):
        return [v for item in x for v in _leaves(item)]
    return [x]


@pytest.mark.parametrize("name,build", CASES, ids=[c[0] for c in CASES])
def test_nesting_matches_torch_and_the_loop_without_fallback(device, loop_only, name, build):
    torch = torch_oracle()
    f, args = build(F, lambda a: tensor_on(a, device))
    start = batching.STATS["fallback"]
    got = _leaves(f(*args))
    assert batching.STATS["fallback"] == start, batching.STATS.get("reason")
    tf, targs = build(torch.func, torch.tensor)
    want = _leaves(tf(*targs))
    assert len(got) == len(want)
    for g, t in zip(got, want):
        assert isinstance(g, tg.Tensor) and tuple(g.shape) == tuple(t.shape)
        onp.testing.assert_allclose(host(g), t.detach().numpy(), **TOL)
    loop_only()
    f, args = build(F, lambda a: tensor_on(a, device))
    for g, lp in zip(got, _leaves(f(*args))):
        onp.testing.assert_allclose(host(g), host(lp), **TOL)


def test_dual_over_a_batched_value_knows_its_device(device):
    """``x.device`` inside jvp inside vmap is where the data lives (a constant made with
    ``device=x.device`` meets the batched values without a device error)."""
    seen = []

    def h(x):
        seen.append(x.device)
        return x * tg.tensor(2.0, dtype=x.dtype, device=x.device)

    start = batching.STATS["fallback"]
    xs = tensor_on(XS[:, 0], device)
    got = F.vmap(lambda x: F.jvp(h, (x,), (tg.ones_like(x),))[1])(xs)
    assert batching.STATS["fallback"] == start, batching.STATS.get("reason")
    assert seen and all(d == xs.device for d in seen)
    onp.testing.assert_allclose(host(got), onp.full(5, 2.0), **TOL)


def test_zero_gradient_keeps_the_vmap_levels_of_its_variable(device):
    """Inside two vmaps, the gradient of a function that ignores its (promoted) variable is
    batched at both levels with the variable's logical shape, as a gradient that depends on
    it would be, and the results are zeros of the stacked shape: whether the output carries
    the vmap levels or not (a constant: the backward pass then runs on the tape alone, and
    used to give zeros shaped like the physical variable, which made vmap fall back)."""
    levels = []

    def per(x, y, w):
        g = F.grad(lambda a: (x * y).sum())(w) + F.grad(lambda a: (w * w).sum())(w)
        levels.append((batching.batch_levels(g), tuple(g.shape)))
        return g

    start = batching.STATS["fallback"]
    xs = tensor_on(XS[:2], device)
    ys = tensor_on(XS[2:5], device)
    got = F.vmap(F.vmap(per, in_dims=(None, 0, None)), in_dims=(0, None, None))(
        xs, ys, tensor_on(W, device))
    assert batching.STATS["fallback"] == start, batching.STATS.get("reason")
    assert len(levels) == 1 and len(levels[0][0]) == 2 and levels[0][1] == (4,)
    assert tuple(got.shape) == (2, 3, 4)
    onp.testing.assert_array_equal(host(got), onp.zeros((2, 3, 4)))


def test_finite_differences_through_jvp_over_grad_under_vmap():
    """Second-order finite differences, both modes, of a function built on vmap(jvp(grad))
    whose inner function closes over the jvp's dual (additively and through a product):
    check_grads' own transforms run over the batched path."""
    xs = tg.tensor(XS[:3])

    def f(w):
        def per_example(x):
            def g(u):
                return F.grad(lambda y: (y * x).sin().sum() + (u * u).sum() + (u * y).sum())(x)
            return F.jvp(g, (w,), (tg.ones_like(w),))[1]
        J = F.vmap(per_example)(xs)
        return (J * J).sum() + (J * w).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tg.tensor(W))


def test_jacobian_rows_of_an_output_that_ignores_the_input(device):
    """jacrev of a function with one output leaf that does not depend on the input, plain
    and under vmap, against torch.func: the rows' VJP gives that leaf without the rows'
    batch (a VJP is linear in its cotangent: zeros in every row), and the batched path
    repeats it (it used to count a fallback and loop); tg.jacobian's raw result is an array
    of its own."""
    torch = torch_oracle()

    def build(T, c):
        m = c(M)

        def f(y):
            return (m @ y).tanh(), m * 2
        return T.jacrev(f), T.vmap(T.jacrev(f))

    start = batching.STATS["fallback"]
    one, many = build(F, lambda a: tensor_on(a, device))
    got = _leaves(one(tensor_on(XS[0], device))) + _leaves(many(tensor_on(XS, device)))
    assert batching.STATS["fallback"] == start, batching.STATS.get("reason")
    t_one, t_many = build(torch.func, torch.tensor)
    want = _leaves(t_one(torch.tensor(XS[0]))) + _leaves(t_many(torch.tensor(XS)))
    for g, t in zip(got, want):
        assert tuple(g.shape) == tuple(t.shape)
        onp.testing.assert_allclose(host(g), t.numpy(), **TOL)
    J = tg.jacobian(lambda y: tg.numpy.ones(3) * 2.0)(XS[0])
    assert J.shape == (3, 4) and J.flags.writeable
    J[0, 0] = 1.0
    onp.testing.assert_array_equal(J, onp.arange(12).reshape(3, 4) == 0)
    assert batching.STATS["fallback"] == start, batching.STATS.get("reason")


def test_jacobians_and_hessians_are_arrays_of_their_own(device):
    """The batched VJP of ``sum`` broadcasts its cotangent: the Jacobians and Hessians built
    from such rows are copied out of the broadcast view, so each is an array a user can write
    into (no zero strides, writeable), as the loop's stack gives."""
    from tensorgrad.backend.device import xp_of

    x = tensor_on(onp.ones(4), device)

    def f(v):
        return v.sum() * tensor_on(onp.ones(3), device)

    results = [tg.func.jacrev(f)(x), tg.func.jacfwd(f)(x),
               tg.func.hessian(lambda v: v.sum() ** 2)(x),
               tg.jacobian(f)(x), tg.hessian(lambda v: v.sum() ** 2)(x)]
    for r in results:
        raw = r.data if isinstance(r, tg.Tensor) else r
        assert 0 not in raw.strides, raw.strides
        if xp_of(raw) is onp:
            assert raw.flags.writeable
        raw[(0,) * raw.ndim] = 7.0
        assert float(xp_of(raw).count_nonzero(raw == 7.0)) == 1
