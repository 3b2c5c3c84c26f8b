"""tensorgrad.func (PyTorch's torch.func) and tg.vmap, against torch.func on CPU (float64):
each transform, pytrees, has_aux, argnums tuples, nesting, per-sample gradients, model
ensembling, functional_call's substitution, vmap's dims, randomness and errors."""

import inspect

import numpy as onp
import pytest
from devices import host, on, tensor_on, torch_oracle

import tensorgrad as tg
import tensorgrad.numpy as tnp
from tensorgrad import func as F

TOL = dict(rtol=1e-10, atol=1e-12)


def _rng(seed=0):
    return onp.random.default_rng(seed)


def _torch_tree(x):
    """NumPy leaves (or containers of them) as float64 torch tensors."""
    torch = torch_oracle()
    if isinstance(x, dict):
        return {k: _torch_tree(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_torch_tree(v) for v in x)
    return torch.tensor(x)


def _ours_tree(x, device):
    if isinstance(x, dict):
        return {k: _ours_tree(v, device) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_ours_tree(v, device) for v in x)
    return tensor_on(x, device)


def assert_tree_close(mine, theirs, device=None, **tol):
    """Our pytree (Tensors on ``device``) against torch's, leaf by leaf and structure too."""
    tol = tol or TOL
    if isinstance(theirs, dict):
        assert isinstance(mine, dict) and sorted(mine) == sorted(theirs)
        for k in theirs:
            assert_tree_close(mine[k], theirs[k], device, **tol)
        return
    if isinstance(theirs, (list, tuple)):
        assert isinstance(mine, (list, tuple)) and len(mine) == len(theirs), (mine, theirs)
        for a, b in zip(mine, theirs):
            assert_tree_close(a, b, device, **tol)
        return
    assert isinstance(mine, tg.Tensor), type(mine)
    if device is not None:
        assert on(mine, device)
    t = theirs.detach().numpy()
    assert tuple(mine.shape) == t.shape
    onp.testing.assert_allclose(host(mine), t, **tol)


# ---- the functions every transform is checked on ---------------------------------------------
def scalar_fn(x, y):  # written with methods both libraries share
    return (x.sin() * y).sum() + (x * x).sum() * y.exp().sum()


def tree_fn(x, y):  # pytree output
    return {"prod": x * y.tanh(), "pair": ((x * x).sum(), y.cos())}


def dict_fn(p):  # pytree input
    return (p["w"] * p["b"].exp()).sum() + (p["w"] ** 3).sum()


def _xy(rng=None):
    rng = rng or _rng()
    return rng.standard_normal(3), rng.standard_normal(3)


# ---- signatures ------------------------------------------------------------------------------
def test_every_name_exists_in_torch_func_with_its_parameters():
    torch = torch_oracle()
    tf = torch.func

    assert F.__all__, "tensorgrad.func exports nothing"
    for name in F.__all__:
        assert hasattr(tf, name), f"torch.func has no {name}"
        ours = inspect.signature(getattr(F, name)).parameters
        theirs = {n: p for n, p in inspect.signature(getattr(tf, name)).parameters.items()
                  if not n.startswith("_")}  # torch's private knobs (_preallocate_and_copy)
        assert list(ours) == list(theirs), name
        for n in ours:
            assert ours[n].kind == theirs[n].kind, (name, n)
            assert ours[n].default == theirs[n].default, (name, n)
    assert tg.vmap is F.vmap and tg.func is F
    assert inspect.signature(torch.vmap).parameters.keys() == \
        inspect.signature(tg.vmap).parameters.keys()


# ---- grad, grad_and_value, vjp, jvp, linearize -----------------------------------------------
def test_grad_matches_torch(device):
    tf = torch_oracle().func

    xa, ya = _xy()
    x, y = tensor_on(xa, device), tensor_on(ya, device)
    tx, ty = _torch_tree(xa), _torch_tree(ya)
    assert_tree_close(F.grad(scalar_fn)(x, y), tf.grad(scalar_fn)(tx, ty), device)
    assert_tree_close(F.grad(scalar_fn, argnums=1)(x, y), tf.grad(scalar_fn, argnums=1)(tx, ty),
                      device)
    assert_tree_close(F.grad(scalar_fn, argnums=-1)(x, y),
                      tf.grad(scalar_fn, argnums=-1)(tx, ty), device)
    mine = F.grad(scalar_fn, argnums=(0, 1))(x, y)
    assert isinstance(mine, tuple) and len(mine) == 2
    assert_tree_close(mine, tf.grad(scalar_fn, argnums=(0, 1))(tx, ty), device)


def test_grad_has_aux_and_pytree_argument(device):
    tf = torch_oracle().func

    rng = _rng(1)
    pa = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    p, tp = _ours_tree(pa, device), _torch_tree(pa)
    assert_tree_close(F.grad(dict_fn)(p), tf.grad(dict_fn)(tp), device)

    def with_aux(p):
        return dict_fn(p), {"norm": (p["w"] ** 2).sum(), "b": p["b"] * 2}

    g, aux = F.grad(with_aux, has_aux=True)(p)
    tg_, taux = tf.grad(with_aux, has_aux=True)(tp)
    assert_tree_close(g, tg_, device)
    assert_tree_close(aux, taux, device)


def test_grad_and_value_matches_torch(device):
    tf = torch_oracle().func

    xa, ya = _xy(_rng(2))
    x, y = tensor_on(xa, device), tensor_on(ya, device)
    tx, ty = _torch_tree(xa), _torch_tree(ya)
    assert_tree_close(F.grad_and_value(scalar_fn, argnums=(0, 1))(x, y),
                      tf.grad_and_value(scalar_fn, argnums=(0, 1))(tx, ty), device)

    def with_aux(x, y):
        return scalar_fn(x, y), x * y

    (g, (v, aux)) = F.grad_and_value(with_aux, has_aux=True)(x, y)
    (tg_, (tv, taux)) = tf.grad_and_value(with_aux, has_aux=True)(tx, ty)
    assert_tree_close((g, v, aux), (tg_, tv, taux), device)


def test_vjp_matches_torch_on_pytree_outputs(device):
    tf = torch_oracle().func

    rng = _rng(3)
    xa, ya = _xy(rng)
    x, y = tensor_on(xa, device), tensor_on(ya, device)
    tx, ty = _torch_tree(xa), _torch_tree(ya)
    out, vjp_fn = F.vjp(tree_fn, x, y)
    tout, tvjp_fn = tf.vjp(tree_fn, tx, ty)
    assert_tree_close(out, tout, device)
    ct = {"prod": rng.standard_normal(3), "pair": (onp.array(0.7), rng.standard_normal(3))}
    mine = vjp_fn(_ours_tree(ct, device))
    assert isinstance(mine, tuple) and len(mine) == 2
    assert_tree_close(mine, tvjp_fn(_torch_tree(ct)), device)
    # has_aux: (output, vjp_fn, aux); one primal still gives a tuple of one
    out, vjp_fn, aux = F.vjp(lambda x: (x.exp(), x.sum()), x, has_aux=True)
    tout, tvjp_fn, taux = tf.vjp(lambda x: (x.exp(), x.sum()), tx, has_aux=True)
    assert_tree_close((out, aux), (tout, taux), device)
    assert_tree_close(vjp_fn(x), tvjp_fn(tx), device)


def test_jvp_matches_torch(device):
    tf = torch_oracle().func

    rng = _rng(4)
    xa, ya = _xy(rng)
    va, wa = _xy(rng)
    primals = (tensor_on(xa, device), tensor_on(ya, device))
    tangents = (tensor_on(va, device), tensor_on(wa, device))
    tprimals, ttangents = (_torch_tree(xa), _torch_tree(ya)), (_torch_tree(va), _torch_tree(wa))
    assert_tree_close(F.jvp(tree_fn, primals, tangents), tf.jvp(tree_fn, tprimals, ttangents),
                      device)

    def with_aux(x, y):
        return scalar_fn(x, y), {"a": x * y}

    mine = F.jvp(with_aux, primals, tangents, has_aux=True)
    theirs = tf.jvp(with_aux, tprimals, ttangents, has_aux=True)
    assert len(mine) == 3
    assert_tree_close(mine, theirs, device)
    assert not mine[2]["a"]._level  # aux leaves the jvp without its tangent, as torch's
    # a pytree primal with a tangent of its structure
    pa = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    qa = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    assert_tree_close(F.jvp(dict_fn, (_ours_tree(pa, device),), (_ours_tree(qa, device),)),
                      tf.jvp(dict_fn, (_torch_tree(pa),), (_torch_tree(qa),)), device)


def test_linearize_matches_torch(device):
    tf = torch_oracle().func

    rng = _rng(5)
    xa, va = _xy(rng)
    out, jvp_fn = F.linearize(lambda x: x.sin() * x, tensor_on(xa, device))
    tout, tjvp_fn = tf.linearize(lambda x: x.sin() * x, _torch_tree(xa))
    assert_tree_close(out, tout, device)
    assert_tree_close(jvp_fn(tensor_on(va, device)), tjvp_fn(_torch_tree(va)), device)
    with pytest.raises(RuntimeError, match="linearize"):
        jvp_fn()


# ---- jacobians and hessians -------------------------------------------------------------------
@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobians_match_torch_on_pytrees_and_argnums(device, jac):
    tf = torch_oracle().func

    xa, ya = _xy(_rng(6))
    x, y = tensor_on(xa, device), tensor_on(ya, device)
    tx, ty = _torch_tree(xa), _torch_tree(ya)
    mine_t, theirs_t = getattr(F, jac), getattr(tf, jac)
    assert_tree_close(mine_t(tree_fn)(x, y), theirs_t(tree_fn)(tx, ty), device)
    assert_tree_close(mine_t(tree_fn, argnums=(0, 1))(x, y),
                      theirs_t(tree_fn, argnums=(0, 1))(tx, ty), device)
    assert_tree_close(mine_t(lambda x: x.outer(x).tanh())(x),
                      theirs_t(lambda x: x.outer(x).tanh())(tx), device)  # (3, 3, 3)
    rng = _rng(7)
    pa = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}

    def g(p):
        return p["w"] @ p["b"].sin()

    assert_tree_close(mine_t(g)(_ours_tree(pa, device)), theirs_t(g)(_torch_tree(pa)), device)

    def with_aux(x):
        return x.exp() * x, {"s": x.sum()}

    jm, am = mine_t(with_aux, has_aux=True)(x)
    jt, at = theirs_t(with_aux, has_aux=True)(tx)
    assert_tree_close((jm, am), (jt, at), device)


def test_hessian_matches_torch_and_the_compositions(device):
    tf = torch_oracle().func

    xa, ya = _xy(_rng(8))
    x, y = tensor_on(xa, device), tensor_on(ya, device)
    tx, ty = _torch_tree(xa), _torch_tree(ya)
    H = F.hessian(scalar_fn)(x, y)
    assert_tree_close(H, tf.hessian(scalar_fn)(tx, ty), device)
    for composed in (F.jacrev(F.jacfwd(scalar_fn)), F.jacfwd(F.jacrev(scalar_fn)),
                     F.jacrev(F.jacrev(scalar_fn))):
        onp.testing.assert_allclose(host(composed(x, y)), host(H), **TOL)
    # tensorgrad's own hessian (its fast path) agrees
    onp.testing.assert_allclose(host(tg.hessian(scalar_fn)(x, y)), host(H), **TOL)
    # argnums tuples: the full block structure ((H00, H01), (H10, H11))
    assert_tree_close(F.hessian(scalar_fn, argnums=(0, 1))(x, y),
                      tf.hessian(scalar_fn, argnums=(0, 1))(tx, ty), device)


def test_nested_grads_match_torch(device):
    tf = torch_oracle().func

    xa = onp.array(0.7)
    f = lambda x: (x * 2).sin() * x ** 3  # noqa: E731
    x, tx = tensor_on(xa, device), _torch_tree(xa)
    assert_tree_close(F.grad(F.grad(F.grad(f)))(x), tf.grad(tf.grad(tf.grad(f)))(tx), device)
    # a gradient inside the function being differentiated: no perturbation confusion
    g = lambda x: x * F.grad(lambda y: (x * y).sum())(x).sum()  # noqa: E731
    tgf = lambda x: x * tf.grad(lambda y: (x * y).sum())(x).sum()  # noqa: E731
    assert_tree_close(F.grad(g)(x), tf.grad(tgf)(tx), device)
    # forward over reverse inside vmap
    xs = _rng(9).standard_normal((4, 3))
    h = lambda v: (v.sin() ** 2).sum()  # noqa: E731
    assert_tree_close(F.vmap(F.jacfwd(F.grad(h)))(tensor_on(xs, device)),
                      tf.vmap(tf.jacfwd(tf.grad(h)))(_torch_tree(xs)), device)


def test_transforms_pass_second_order_finite_differences(device):
    """Derivatives of the transformed functions (third derivatives of ``f``) against central
    differences, forward and reverse, to second order."""
    rng = _rng(10)
    xa = rng.standard_normal(3)
    ma = rng.standard_normal((4, 3))

    def f(x):
        return tnp.sum(tnp.sin(x) * x ** 2)

    x = tensor_on(xa, device)
    m = tensor_on(ma, device)
    tg.check_grads(F.grad(f), modes=("fwd", "rev"), order=2)(x)
    tg.check_grads(F.jacrev(lambda v: tnp.tanh(v) * v), modes=("fwd", "rev"), order=2)(x)
    tg.check_grads(F.jacfwd(lambda v: tnp.exp(v) * v[0]), modes=("fwd", "rev"), order=2)(x)
    tg.check_grads(F.vmap(lambda row, v: tnp.sum(row * tnp.sin(v)), in_dims=(0, None)),
                   modes=("fwd", "rev"), order=2)(m, x)
    tg.check_grads(F.vmap(F.grad(f)), modes=("fwd", "rev"), order=2)(m)


# ---- vmap -------------------------------------------------------------------------------------
def test_vmap_matches_torch_on_dims(device):
    tf = torch_oracle().func

    rng = _rng(11)
    aa, ba, ca = rng.standard_normal((4, 3)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    a, b, c = (tensor_on(v, device) for v in (aa, ba, ca))
    ta, tb, tc = (_torch_tree(v) for v in (aa, ba, ca))

    def f(u, v):
        return u * v.sin()

    cases = [
        dict(in_dims=(1, 0)),
        dict(in_dims=(0, 1)),
        dict(in_dims=(0, -1), out_dims=1),
        dict(in_dims=(0, 1), out_dims=-1),
    ]
    for kw in cases:
        assert_tree_close(F.vmap(f, **kw)(a, b), tf.vmap(f, **kw)(ta, tb), device)
    # in_dims None: not mapped, passed whole
    assert_tree_close(F.vmap(lambda u, w: u @ w, in_dims=(0, None))(a, c),
                      tf.vmap(lambda u, w: u @ w, in_dims=(0, None))(ta, tc), device)
    # pytree in_dims (a dict argument, one entry mapped) and pytree out_dims
    d, td = {"m": a, "w": c}, {"m": ta, "w": tc}

    def g(p):
        return {"y": p["m"] * p["w"], "s": (p["m"] * p["w"]).sum()}

    kw = dict(in_dims=({"m": 0, "w": None},), out_dims={"y": 1, "s": 0})
    assert_tree_close(F.vmap(g, **kw)(d), tf.vmap(g, **kw)(td), device)
    # keyword arguments are passed whole
    assert_tree_close(F.vmap(lambda u, scale=None: u * scale)(a, scale=c),
                      tf.vmap(lambda u, scale=None: u * scale)(ta, scale=tc), device)
    # out_dims None: an output that does not depend on the mapped input
    mine = F.vmap(lambda u: (u * 2, c.sum()), out_dims=(0, None))(a)
    assert_tree_close(mine, tf.vmap(lambda u: (u * 2, tc.sum()), out_dims=(0, None))(ta), device)


def test_nested_vmap_and_chunk_size(device):
    tf = torch_oracle().func

    rng = _rng(12)
    xa, ya = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    x, y = tensor_on(xa, device), tensor_on(ya, device)
    tx, ty = _torch_tree(xa), _torch_tree(ya)

    def dist(u, v):
        return ((u - v) ** 2).sum()

    pairwise = F.vmap(F.vmap(dist, in_dims=(None, 0)), in_dims=(0, None))
    tpairwise = tf.vmap(tf.vmap(dist, in_dims=(None, 0)), in_dims=(0, None))
    assert_tree_close(pairwise(x, y), tpairwise(tx, ty), device)  # (3, 4)
    for chunk in (1, 2, 7):
        assert_tree_close(F.vmap(dist, in_dims=(0, None), chunk_size=chunk)(x, y[0]),
                          tf.vmap(dist, in_dims=(0, None), chunk_size=chunk)(tx, ty[0]), device)
        assert_tree_close(F.jacrev(lambda u: u.sin(), chunk_size=chunk)(x[0]),
                          tf.jacrev(lambda u: u.sin(), chunk_size=chunk)(tx[0]), device)


def test_vmap_is_differentiable_on_the_tape(device):
    rng = _rng(13)
    xa, wa = rng.standard_normal((5, 3)), rng.standard_normal(3)
    x = tensor_on(xa, device, requires_grad=True)
    w = tensor_on(wa, device, requires_grad=True)
    out = tg.vmap(lambda row, w: (row * w).tanh().sum(), in_dims=(0, None))(x, w)
    assert out.shape == (5,) and out.requires_grad
    (out * tensor_on(onp.arange(5.0), device)).sum().backward()
    # the same on the whole batch, by hand
    t = onp.tanh(xa * wa)
    dt = (1 - t ** 2) * onp.arange(5.0)[:, None]
    onp.testing.assert_allclose(host(x.grad), dt * wa, **TOL)
    onp.testing.assert_allclose(host(w.grad), (dt * xa).sum(0), **TOL)


def test_vmap_accepts_and_returns_arrays(device):
    from devices import put

    xa = _rng(14).standard_normal((3, 2))
    out = tg.vmap(lambda r: tnp.sum(r ** 2))(put(xa, device))
    assert not isinstance(out, tg.Tensor) and on(out, device)
    onp.testing.assert_allclose(host(out), (xa ** 2).sum(1), **TOL)


def test_vmap_errors_follow_torch(device):
    a = tensor_on(onp.ones((2, 3)), device)
    b = tensor_on(onp.ones((3, 3)), device)
    ident = lambda u: u  # noqa: E731
    with pytest.raises(ValueError, match="same size in the mapped dimension, got sizes"):
        tg.vmap(lambda u, v: u + v)(a, b)
    with pytest.raises(ValueError, match="expected `in_dims` to be int or a"):
        tg.vmap(ident, in_dims=None)(a)
    with pytest.raises(ValueError, match="expected `in_dims` to be int or a"):
        tg.vmap(ident, in_dims=1.5)(a)
    with pytest.raises(ValueError, match="at least one Tensor to vmap over"):
        tg.vmap(ident, in_dims=(None,))(a)
    with pytest.raises(ValueError, match="in_dims is not compatible with the structure"):
        tg.vmap(ident, in_dims=(0, 0))(a)
    with pytest.raises(ValueError, match="in_dims is not compatible with the structure"):
        tg.vmap(lambda d: d["a"], in_dims=({"a": 0},))({"a": a, "b": a})
    with pytest.raises(ValueError, match=r"in_dim=2 .*dimensionality 2 .*-2 <= in_dim < 2"):
        tg.vmap(ident, in_dims=2)(a)
    with pytest.raises(ValueError, match="cannot vmap over non-Tensor arguments"):
        tg.vmap(lambda u, n: u * n, in_dims=(0, 0))(a, 3)
    with pytest.raises(ValueError, match="must only return Tensors, got type"):
        tg.vmap(lambda u: 3.0)(a)
    with pytest.raises(ValueError, match="must only return Tensors, got type"):
        tg.vmap(lambda u: None)(a)
    with pytest.raises(ValueError, match="out_dims is not compatible with the structure"):
        tg.vmap(ident, out_dims=(0, 1))(a)
    with pytest.raises(IndexError, match="Dimension out of range"):
        tg.vmap(ident, out_dims=3)(a)
    with pytest.raises(ValueError, match="got no inputs"):
        tg.vmap(ident)()
    with pytest.raises(ValueError, match="chunk_size should be None or greater than 0"):
        tg.vmap(ident, chunk_size=0)
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        tg.vmap(ident, randomness="sometimes")
    with pytest.raises(ValueError, match="size 0"):  # a loop cannot infer the output's shape
        tg.vmap(ident)(tensor_on(onp.ones((0, 3)), device))
    with pytest.raises(ValueError, match="different shapes"):
        tg.vmap(lambda u: u[: int(u.sum().item())])(tensor_on(onp.array([[1.0, 0.0],
                                                                         [2.0, 0.0]]), device))


def test_vmap_randomness(device):
    x = tensor_on(onp.zeros((3, 4)), device)

    def noisy(u):
        return u + tg.rand(4, device=device, dtype=tg.float64)

    with pytest.raises(RuntimeError, match="randomness error mode"):
        tg.vmap(noisy)(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        tg.vmap(lambda u: tg.nn.functional.dropout(u, 0.5))(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        F.jacfwd(noisy)(x[0])
    # the generators are back after the error: drawing works, and is reproducible
    tg.manual_seed(3)
    first = host(tg.rand(4, device=device, dtype=tg.float64))
    second = host(tg.rand(4, device=device, dtype=tg.float64))
    tg.manual_seed(3)
    same = host(tg.vmap(noisy, randomness="same")(x))
    onp.testing.assert_allclose(same, onp.broadcast_to(first, (3, 4)), rtol=1e-12)
    # after "same" the generators moved on as after one call
    onp.testing.assert_allclose(host(tg.rand(4, device=device, dtype=tg.float64)), second,
                                rtol=1e-12)
    diff = host(tg.vmap(noisy, randomness="different")(x))
    assert len({tuple(r) for r in diff.tolist()}) == 3
    # an error inside "same" mode leaves usable generators
    def failing(u):
        noisy(u)
        raise ZeroDivisionError("inside vmap")

    for mode in ("same", "error", "different"):
        with pytest.raises((ZeroDivisionError, RuntimeError)):
            tg.vmap(failing, randomness=mode)(x)
        assert tg.rand(2, device=device).shape == (2,)
    # jacfwd's randomness="same": a random shift has no derivative, every column agrees
    J = F.jacfwd(lambda u: u * 2 + tg.rand(4, device=device, dtype=tg.float64),
                 randomness="same")(x[0])
    onp.testing.assert_allclose(host(J), 2 * onp.eye(4), **TOL)


# ---- per-sample gradients and ensembles ---------------------------------------------------
def _mlp(device, seed):
    tg.manual_seed(seed)
    return tg.nn.Sequential(tg.nn.Linear(3, 5), tg.nn.Tanh(), tg.nn.Linear(5, 2)).double().to(
        device)


def test_per_sample_gradients_of_an_mlp(device):
    """vmap(grad(loss), in_dims=(None, 0, 0)) through functional_call, against a loop of
    ordinary backward passes and against torch.func."""
    torch = torch_oracle()
    tf = torch.func

    model = _mlp(device, 0)
    rng = _rng(15)
    xa, ya = rng.standard_normal((6, 3)), onp.array([0, 1, 1, 0, 1, 0])
    x, y = tensor_on(xa, device), tensor_on(ya, device)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(params, xi, yi):
        out = F.functional_call(model, params, (xi[None],))
        return tg.nn.functional.cross_entropy(out, yi[None])

    per_sample = F.vmap(F.grad(loss), in_dims=(None, 0, 0))(params, x, y)
    assert sorted(per_sample) == sorted(params)
    for i in range(6):
        model.zero_grad()
        tg.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        for name, p in model.named_parameters():
            assert per_sample[name].shape == (6,) + p.shape and on(per_sample[name], device)
            onp.testing.assert_allclose(host(per_sample[name][i]), host(p.grad), **TOL)
    # the model's own parameters got nothing from the transform
    model.zero_grad()
    F.vmap(F.grad(loss), in_dims=(None, 0, 0))(params, x, y)
    assert all(p.grad is None for p in model.parameters())
    # torch.func on the same weights
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(),
                                 torch.nn.Linear(5, 2)).double()
    tparams = {k: torch.tensor(host(v)) for k, v in params.items()}

    def tloss(p, xi, yi):
        out = tf.functional_call(tmodel, p, (xi[None],))
        return torch.nn.functional.cross_entropy(out, yi[None])

    theirs = tf.vmap(tf.grad(tloss), in_dims=(None, 0, 0))(tparams, _torch_tree(xa),
                                                           torch.tensor(ya))
    assert_tree_close(per_sample, theirs, device)


def test_model_ensembling_with_stack_module_state(device):
    models = [_mlp(device, s) for s in range(3)]
    params, buffers = F.stack_module_state(models)
    assert params["0.weight"].shape == (3, 5, 3) and params["0.weight"].is_leaf
    assert params["0.weight"].requires_grad and buffers == {}
    rng = _rng(16)
    xa = rng.standard_normal((4, 3))
    x = tensor_on(xa, device)

    def run(p, b, inp):
        return F.functional_call(models[0], (p, b), (inp,))

    out = tg.vmap(run, in_dims=(0, 0, None))(params, buffers, x)
    expected = [m(x) for m in models]
    assert out.shape == (3, 4, 2)
    for k in range(3):
        onp.testing.assert_allclose(host(out[k]), host(expected[k]), **TOL)
    # a minibatch per model
    xs = tensor_on(rng.standard_normal((3, 4, 3)), device)
    out2 = tg.vmap(run)(params, buffers, xs)
    for k in range(3):
        onp.testing.assert_allclose(host(out2[k]), host(models[k](xs[k])), **TOL)
    # gradients reach the stacked leaves, one block per model
    (out ** 2).sum().backward()
    for k, m in enumerate(models):
        m.zero_grad()
        (m(x) ** 2).sum().backward()
        onp.testing.assert_allclose(host(params["2.bias"].grad[k]), host(m[2].bias.grad), **TOL)
        onp.testing.assert_allclose(host(params["0.weight"].grad[k]), host(m[0].weight.grad),
                                    **TOL)
    # buffers are stacked too
    bns = [tg.nn.BatchNorm1d(2).to(device) for _ in range(2)]
    _, bbuf = F.stack_module_state(bns)
    assert bbuf["running_mean"].shape == (2, 2) and not bbuf["running_mean"].requires_grad


def test_stack_module_state_errors():
    with pytest.raises(RuntimeError, match="at least one model"):
        F.stack_module_state([])
    with pytest.raises(RuntimeError, match="same class"):
        F.stack_module_state([tg.nn.Linear(2, 2), tg.nn.Tanh()])
    with pytest.raises(RuntimeError, match="training/eval mode"):
        F.stack_module_state([tg.nn.Linear(2, 2), tg.nn.Linear(2, 2).eval()])
    frozen = tg.nn.Linear(2, 2)
    frozen.weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="weight from each model to have the same"):
        F.stack_module_state([frozen, tg.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="same shape"):
        F.stack_module_state([tg.nn.Linear(2, 2), tg.nn.Linear(2, 3)])


# ---- functional_call ------------------------------------------------------------------------
def test_functional_call_substitutes_and_restores(device):
    lin = tg.nn.Linear(2, 2).double().to(device)
    own_w, own_b = lin.weight, lin.bias
    w = tensor_on(onp.array([[1.0, 2.0], [3.0, 4.0]]), device, requires_grad=True)
    x = tensor_on(onp.array([[1.0, -1.0]]), device)
    y = F.functional_call(lin, {"weight": w}, (x,))
    onp.testing.assert_allclose(host(y), onp.array([[-1.0, -1.0]]) + host(own_b), **TOL)
    assert lin.weight is own_w and lin.bias is own_b
    y.sum().backward()
    onp.testing.assert_allclose(host(w.grad), [[1.0, -1.0], [1.0, -1.0]], **TOL)
    assert own_w.grad is None and own_b.grad is not None  # the bias was the module's own
    # a single argument need not be a tuple; kwargs pass through
    onp.testing.assert_allclose(host(F.functional_call(lin, {"weight": w}, x)), host(y), **TOL)
    onp.testing.assert_allclose(host(F.functional_call(lin, {"weight": w}, (), {"input": x})),
                                host(y), **TOL)

    # restored even when the forward raises
    class Boom(tg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = tg.nn.Linear(2, 2)

        def forward(self, x):
            raise KeyError("boom")

    boom = Boom()
    before = boom.lin.weight
    with pytest.raises(KeyError, match="boom"):
        F.functional_call(boom, {"lin.weight": tg.zeros(2, 2), "extra": tg.ones(1)}, (x,))
    assert boom.lin.weight is before and isinstance(before, tg.nn.Parameter)
    assert not hasattr(boom, "extra")
    # restored even when a later name fails to resolve
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        F.functional_call(boom, {"lin.weight": tg.zeros(2, 2), "nope.weight": tg.ones(1)}, (x,))
    assert boom.lin.weight is before


def test_functional_call_buffers_dicts_and_strict(device):
    bn = tg.nn.BatchNorm1d(2).double().to(device)
    rm = tensor_on(onp.ones(2), device)
    xa = _rng(17).standard_normal((8, 2))
    F.functional_call(bn, ({"running_mean": rm}, {"weight": tensor_on(onp.full(2, 2.0),
                                                                        device)}),
                      (tensor_on(xa, device),))
    # the given buffer was updated in place (momentum 0.1), the module's own was not
    onp.testing.assert_allclose(host(rm), 0.9 + 0.1 * xa.mean(0), **TOL)
    onp.testing.assert_allclose(host(bn.running_mean), onp.zeros(2), **TOL)
    lin = tg.nn.Linear(2, 2)
    x = tg.ones(1, 2)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        F.functional_call(lin, ({"weight": tg.zeros(2, 2)}, {"weight": tg.zeros(2, 2)}), (x,))
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\): 'foo'.*\n.*Missing key\(s\): "
                                           r"'bias'"):
        F.functional_call(lin, {"weight": tg.zeros(2, 2), "foo": tg.ones(1)}, (x,),
                          strict=True)
    out = F.functional_call(lin, {"weight": tg.zeros(2, 2), "bias": tg.ones(2)}, (x,),
                            strict=True)
    onp.testing.assert_allclose(host(out), [[1.0, 1.0]])
    with pytest.raises(TypeError, match="not an instance of tensorgrad.Tensor"):
        F.functional_call(lin, {"weight": 3}, (x,))
    with pytest.raises(TypeError, match="not an instance of tensorgrad.nn.Module"):
        F.functional_call(lin, {"weight.x": tg.ones(1)}, (x,))


def test_functional_call_tied_weights():
    class Tied(tg.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = tg.nn.Linear(2, 2, bias=False)
            self.b = tg.nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    m = Tied()
    x = tg.ones(1, 2)
    two, three = tg.eye(2) * 2, tg.eye(2) * 3
    onp.testing.assert_allclose(F.functional_call(m, {"a.weight": two}, (x,)).numpy(),
                                [[4.0, 4.0]])
    untied = F.functional_call(m, {"a.weight": two}, (x,), tie_weights=False)
    onp.testing.assert_allclose(untied.detach().numpy(), (m.a.weight.detach().numpy() @
                                                          (2 * onp.ones(2)))[None], rtol=1e-6)
    with pytest.raises(ValueError, match="which are tied"):
        F.functional_call(m, {"a.weight": two, "b.weight": three}, (x,))
    onp.testing.assert_allclose(
        F.functional_call(m, {"a.weight": two, "b.weight": three}, (x,),
                          tie_weights=False).numpy(), [[6.0, 6.0]])
    assert m.b.weight is m.a.weight


# ---- argument errors of the derivative transforms ----------------------------------------------
def test_transform_argument_errors():
    x = tg.tensor([1.0, 2.0], dtype=tg.float64)
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a scalar"):
        F.grad(lambda x: x)(x)
    with pytest.raises(RuntimeError, match="should be a tuple: \\(output, aux\\)"):
        F.grad(lambda x: x.sum(), has_aux=True)(x)
    with pytest.raises(RuntimeError, match="should be a tuple: \\(output, aux\\)"):
        F.jacfwd(lambda x: x, has_aux=True)(x)
    with pytest.raises(RuntimeError, match="Got argnum=2, but only 1 positional inputs"):
        F.grad(lambda x: x.sum(), argnums=2)(x)
    with pytest.raises(RuntimeError, match="argnums must be non-empty"):
        F.grad(lambda x: x.sum(), argnums=())(x)
    with pytest.raises(RuntimeError, match="argnums must be int or Tuple"):
        F.jacrev(lambda x: x, argnums=[0])(x)
    with pytest.raises(RuntimeError, match="unique"):
        F.grad(lambda x, y: (x * y).sum(), argnums=(0, 0))(x, x)
    with pytest.raises(RuntimeError, match="Expected primals to be a tuple"):
        F.jvp(lambda x: x, x, (x,))
    with pytest.raises(RuntimeError, match="Expected tangents to be a tuple"):
        F.jvp(lambda x: x, (x,), x)
    with pytest.raises(ValueError, match="chunk_size should be None or greater than 0"):
        F.jacrev(lambda x: x, chunk_size=0)
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        F.jacfwd(lambda x: x, randomness="never")
    # an unused argument gets a zero gradient, as torch's
    g = F.grad(lambda x, y: x.sum(), argnums=(0, 1))(x, x)
    onp.testing.assert_allclose(g[1].numpy(), [0.0, 0.0])


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "row_by_row"])
def test_jacrev_of_a_transposed_output_row_by_row_and_batched(device, monkeypatch, batched):
    """A function whose output is a transposed (not C-contiguous) view: jacrev's rows, one
    VJP per output element (the path every fallback takes) or all at once, give torch's
    Jacobian. The row-by-row path once seeded every row with zeros here: its one-hot seed was
    written into a copy of a Fortran-ordered array, so the Jacobian (and jacrev(jacfwd(...)),
    whose inner Jacobian comes out transposed) was silently zero."""
    torch = torch_oracle()
    if not batched:
        monkeypatch.setattr(F, "_batched_rows", lambda *a: None)
    w = onp.arange(6.0).reshape(2, 3) / 5

    def f(x, m):
        return (m @ x.reshape(3, 2)).T * x.sum()

    a = onp.linspace(-1.0, 1.0, 6)
    got = F.jacrev(lambda x: f(x, tensor_on(w, device)))(tensor_on(a, device))
    want = torch.func.jacrev(lambda x: f(x, torch.tensor(w)))(torch.tensor(a))
    onp.testing.assert_allclose(host(got), want.numpy(), rtol=1e-12, atol=1e-14)
    assert onp.abs(host(got)).max() > 0.1
    g = lambda x: (x ** 4).sum() * x[0]  # noqa: E731
    x0 = onp.array([1.0, 2.0])
    third = F.jacrev(F.jacfwd(F.grad(g)))(tensor_on(x0, device))
    want3 = torch.func.jacrev(torch.func.jacfwd(torch.func.grad(g)))(torch.tensor(x0))
    onp.testing.assert_allclose(host(third), want3.numpy(), rtol=1e-12)
