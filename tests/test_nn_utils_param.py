"""``tg.nn.utils`` parametrizations, pruning, old-style weight/spectral norm, fusion, skip_init,
stateless and ``tg.nn.init``'s old names, against ``torch.nn.utils`` / ``torch.nn.init``.

Training comparisons start both libraries from the same weights (copied through state dicts,
both ways), run a few SGD-with-momentum steps, and compare every state_dict entry and the
gradients."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from devices import close_to_torch, host, on, put

import tensorgrad as tg
from tensorgrad.nn.utils import parametrizations as tgP
from tensorgrad.nn.utils import parametrize as tgp
from tensorgrad.nn.utils import prune as tgprune

torch = pytest.importorskip("torch")
tP = torch.nn.utils.parametrizations
tp = torch.nn.utils.parametrize
tprune = pytest.importorskip("torch.nn.utils.prune")

TOL = {"rtol": 1e-9, "atol": 1e-11}


# ---- helpers ------------------------------------------------------------------------------------
def _sd(mod):
    return {k: v.detach().numpy() if hasattr(v, "detach") and not isinstance(v, tg.Tensor)
            else host(v) for k, v in mod.state_dict().items()}


def _torch_into_tg(tmod, gmod, device):
    gmod.load_state_dict({k: put(v.detach().numpy().copy(), device)
                          for k, v in tmod.state_dict().items()})


def _tg_into_torch(gmod, tmod):
    tmod.load_state_dict({k: torch.from_numpy(host(v).copy())
                          for k, v in gmod.state_dict().items()})


def _same_state(gmod, tmod, **tol):
    g, t = _sd(gmod), {k: v.detach().numpy() for k, v in tmod.state_dict().items()}
    assert list(g) == list(t)
    for k in t:
        np.testing.assert_allclose(g[k], t[k], err_msg=k, **(tol or TOL))


def _same_grads(gmod, tmod, **tol):
    tg_named = dict(gmod.named_parameters())
    t_named = dict(tmod.named_parameters())
    assert sorted(tg_named) == sorted(t_named)
    for k, p in t_named.items():
        close_to_torch(tg_named[k].grad, p.grad, err_msg=k, **(tol or TOL))


def _pair(name, device, *args):
    """``nn.<name>(*args)`` of tensorgrad (float64, on ``device``) and of torch, same weights."""
    t = getattr(torch.nn, name)(*args).double()
    g = getattr(tg.nn, name)(*args, dtype="float64", device=device)
    _torch_into_tg(t, g, device)
    return g, t


def _linears(device, n_in=4, n_out=3):
    return _pair("Linear", device, n_in, n_out)


def _data(rng, device, shape=(6, 4), n_out=3):
    x, y = rng.standard_normal(shape), rng.standard_normal((shape[0], n_out))
    return (tg.tensor(put(x, device)), tg.tensor(put(y, device))), (torch.tensor(x),
                                                                   torch.tensor(y))


def _train(mod, lib, x, y, steps=3, lr=0.1, loss_of=None):
    opt = lib.optim.SGD(mod.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        out = mod(x)
        loss = ((out - y) ** 2).mean() if loss_of is None else loss_of(out)
        loss.backward()
        opt.step()
    return mod


def _train_both(g, t, rng, device, steps=3, xshape=(6, 4), n_out=3, tol=None):
    (gx, gy), (tx, ty) = _data(rng, device, xshape, n_out)
    _train(g, tg, gx, gy, steps)
    _train(t, torch, tx, ty, steps)
    _same_state(g, t, **(tol or {}))
    _same_grads(g, t, **(tol or {}))


def _train_squares(g, t, x, device):
    """Both modules trained on the mean square of their output for the NumPy input ``x``."""
    _train(g, tg, tg.tensor(put(x, device)), None, loss_of=lambda o: (o ** 2).mean())
    _train(t, torch, torch.tensor(x), None, loss_of=lambda o: (o ** 2).mean())


def _raises_as_torch(fn_tg, fn_torch, match=None):
    """Both raise, the same exception class (and ours matches ``match``)."""
    with pytest.raises(Exception) as theirs:
        fn_torch()
    with pytest.raises(theirs.type, match=match):
        fn_tg()


class _Forward:
    """A parametrization without right_inverse, written once for both libraries:
    ``make(lib)`` is a ``lib.nn.Module`` whose forward(X) is ``fn(X)``."""

    def __init__(self, fn):
        self.fn = fn

    def make(self, lib):
        fn = self.fn

        class N(lib.nn.Module):
            def forward(self, X):
                return fn(X)
        return N()


class _Sym:
    """A symmetric-matrix parametrization, written once per library."""

    @staticmethod
    def make(lib):
        base = lib.nn.Module

        class Symmetric(base):
            def forward(self, X):
                return X.triu() + X.triu(1).transpose(-1, -2)

            def right_inverse(self, A):
                return A.triu()

        return Symmetric()


def _scale(lib, c=2.0):
    class Scale(lib.nn.Module):
        def forward(self, X):
            return X * c

        def right_inverse(self, A):
            return A / c

    return Scale()


# ---- Module.register_forward_pre_hook ----------------------------------------------------------
def test_forward_pre_hook_changes_input_and_is_removable(device):
    lin = tg.nn.Linear(2, 2, dtype="float64", device=device)
    calls = []

    def hook(mod, args):
        calls.append(mod)
        return args[0] * 0

    handle = lin.register_forward_pre_hook(hook)
    x = tg.tensor(put(np.ones((1, 2)), device))
    close_to_torch(lin(x), host(lin.bias).reshape(1, 2), rtol=0, atol=0)
    assert calls == [lin]
    handle.remove()
    assert not lin._forward_pre_hooks
    assert not np.allclose(host(lin(x)), host(lin.bias))

    seen = []
    lin.register_forward_pre_hook(lambda m, a, k: seen.append("second") or None, with_kwargs=True)
    lin.register_forward_pre_hook(lambda m, a: seen.append("first"), prepend=True)
    lin(x)
    assert seen == ["first", "second"]


# ---- parametrize -------------------------------------------------------------------------------
def test_register_parametrization_trains_like_torch(device, rng):
    g, t = _linears(device, 3, 3)
    tp.register_parametrization(t, "weight", _Sym.make(torch))
    tgp.register_parametrization(g, "weight", _Sym.make(tg))
    assert type(g).__name__ == type(t).__name__ == "ParametrizedLinear"
    assert list(g.state_dict()) == list(t.state_dict()) == \
        ["bias", "parametrizations.weight.original"]
    assert on(g.parametrizations.weight.original, device)
    close_to_torch(g.weight, t.weight, **TOL)
    _train_both(g, t, rng, device, xshape=(6, 3))
    w = host(g.weight)
    np.testing.assert_array_equal(w, w.T)


def test_parametrization_keeps_the_original_object_and_optimizer(device, rng):
    g, _ = _linears(device, 3, 3)
    w = g.weight
    opt = tg.optim.SGD(g.parameters(), lr=0.5)  # made before the registration
    tgp.register_parametrization(g, "weight", _Sym.make(tg))
    assert g.parametrizations.weight.original is w
    (gx, gy), _ = _data(rng, device, (5, 3))
    before = host(w).copy()
    ((g(gx) - gy) ** 2).mean().backward()
    opt.step()
    assert not np.allclose(before, host(w))


def test_assignment_goes_through_right_inverse(device, rng):
    g, t = _linears(device, 3, 3)
    tp.register_parametrization(t, "weight", _Sym.make(torch))
    tp.register_parametrization(t, "weight", _scale(torch))
    tgp.register_parametrization(g, "weight", _Sym.make(tg))
    tgp.register_parametrization(g, "weight", _scale(tg))
    assert len(g.parametrizations.weight) == 2
    a = rng.standard_normal((3, 3))
    a = a + a.T
    with torch.no_grad():
        t.weight = torch.tensor(a)
    g.weight = tg.tensor(put(a, device))
    close_to_torch(g.parametrizations.weight.original, t.parametrizations.weight.original,
                   **TOL)
    close_to_torch(g.weight, t.weight, **TOL)
    np.testing.assert_allclose(host(g.weight), a, **TOL)
    _train_both(g, t, rng, device, xshape=(6, 3))


def test_stacked_parametrization_checks_shape_and_dtype(device):
    Shrink = _Forward(lambda X: X[:, :2])
    g, t = _linears(device, 3, 3)
    tp.register_parametrization(t, "weight", _Sym.make(torch))
    tgp.register_parametrization(g, "weight", _Sym.make(tg))
    _raises_as_torch(lambda: tgp.register_parametrization(g, "weight", Shrink.make(tg)),
                     lambda: tp.register_parametrization(t, "weight", Shrink.make(torch)),
                     match="shape")
    # the first registration checks too
    g2, t2 = _linears(device, 3, 3)
    _raises_as_torch(lambda: tgp.register_parametrization(g2, "weight", Shrink.make(tg)),
                     lambda: tp.register_parametrization(t2, "weight", Shrink.make(torch)),
                     match="shape")
    # unsafe lets it through, in both
    tp.register_parametrization(t2, "weight", Shrink.make(torch), unsafe=True)
    tgp.register_parametrization(g2, "weight", Shrink.make(tg), unsafe=True)
    assert g2.weight.shape == tuple(t2.weight.shape) == (3, 2)


def test_parametrize_errors_as_torch(device):
    g, t = _linears(device)

    NoTensor = _Forward(lambda X: 3)
    NoInverse = _Forward(lambda X: X * 2)
    ToFloat32 = _Forward(lambda X: X.float())
    _raises_as_torch(lambda: tgp.register_parametrization(g, "nope", _Sym.make(tg)),
                     lambda: tp.register_parametrization(t, "nope", _Sym.make(torch)),
                     match="does not have a parameter")
    _raises_as_torch(lambda: tgp.register_parametrization(g, "weight", NoTensor.make(tg)),
                     lambda: tp.register_parametrization(t, "weight", NoTensor.make(torch)),
                     match="must return a tensor")
    g, t = _linears(device)
    _raises_as_torch(lambda: tgp.register_parametrization(g, "weight", ToFloat32.make(tg)),
                     lambda: tp.register_parametrization(t, "weight", ToFloat32.make(torch)),
                     match="dtype")
    g, t = _linears(device)
    tgp.register_parametrization(g, "weight", NoInverse.make(tg))
    tp.register_parametrization(t, "weight", NoInverse.make(torch))
    new = np.zeros((3, 4))
    _raises_as_torch(lambda: setattr(g, "weight", tg.tensor(put(new, device))),
                     lambda: setattr(t, "weight", torch.tensor(new)),
                     match="does not implement right_inverse")
    _raises_as_torch(lambda: tgp.remove_parametrizations(g, "bias"),
                     lambda: tp.remove_parametrizations(t, "bias"),
                     match="does not have a parametrization")
    _raises_as_torch(lambda: setattr(g, "weight", tg.nn.Parameter(tg.zeros(3, 4))),
                     lambda: setattr(t, "weight", torch.nn.Parameter(torch.zeros(3, 4))),
                     match="already exists")
    _raises_as_torch(lambda: tgp.ParametrizationList([], g.bias),
                     lambda: tp.ParametrizationList([], t.bias))


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations(device, rng, leave):
    g, t = _linears(device, 3, 3)
    tp.register_parametrization(t, "weight", _scale(torch, 3.0))
    tgp.register_parametrization(g, "weight", _scale(tg, 3.0))
    original = g.parametrizations.weight.original
    assert tgp.is_parametrized(g) and tgp.is_parametrized(g, "weight")
    assert not tgp.is_parametrized(g, "bias")
    assert tgp.type_before_parametrizations(g) is tg.nn.Linear
    tp.remove_parametrizations(t, "weight", leave_parametrized=leave)
    tgp.remove_parametrizations(g, "weight", leave_parametrized=leave)
    assert type(g) is tg.nn.Linear and not tgp.is_parametrized(g)
    assert "parametrizations" not in g._modules
    assert g.weight is original  # the same Parameter: optimizers keep working
    assert isinstance(g.weight, tg.nn.Parameter)
    assert list(g.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    close_to_torch(g.weight, t.weight, **TOL)
    _train_both(g, t, rng, device, xshape=(6, 3))


def test_remove_sequence_original_needs_leave_parametrized(device):
    g, t = _linears(device)
    tP.weight_norm(t)
    tgP.weight_norm(g)
    _raises_as_torch(lambda: tgp.remove_parametrizations(g, "weight", False),
                     lambda: tp.remove_parametrizations(t, "weight", False),
                     match="Cannot leave unparametrized")
    tp.remove_parametrizations(t, "weight")
    tgp.remove_parametrizations(g, "weight")
    assert list(g.state_dict()) == list(t.state_dict())
    close_to_torch(g.weight, t.weight, **TOL)
    assert isinstance(g.weight, tg.nn.Parameter) and g.weight.requires_grad


def test_cached_computes_once(device):
    g, _ = _linears(device)
    calls = []

    class Count(tg.nn.Module):
        def forward(self, X):
            calls.append(1)
            return X + 0

    tgp.register_parametrization(g, "weight", Count(), unsafe=True)
    calls.clear()
    w1, w2 = g.weight, g.weight
    assert len(calls) == 2 and w1 is not w2
    with tgp.cached():
        a, b = g.weight, g.weight
        with tgp.cached():
            c = g.weight
    assert a is b is c and len(calls) == 3
    assert g.weight is not a


def test_parametrized_module_to_device_deepcopy_and_pickle(device, rng):
    g = tg.nn.Linear(3, 3, dtype="float64")
    tgp.register_parametrization(g, "weight", _Sym.make(tg))
    g.to(device)
    assert on(g.parametrizations.weight.original, device) and on(g.weight, device)
    c = copy.deepcopy(g)
    assert type(c) is type(g) and c.parametrizations.weight.original is not \
        g.parametrizations.weight.original
    np.testing.assert_array_equal(host(c.weight), host(g.weight))
    with tg.no_grad():
        c.parametrizations.weight.original.data[...] = 0
    assert not np.allclose(host(g.weight), 0)
    with pytest.raises(RuntimeError, match="state_dict"):
        pickle.dumps(g)
    # another instance of Linear is untouched by the class swap
    assert type(tg.nn.Linear(2, 2)) is tg.nn.Linear


def test_state_dict_round_trip_both_ways(device, rng):
    g, t = _linears(device, 3, 3)
    tp.register_parametrization(t, "weight", _Sym.make(torch))
    tgp.register_parametrization(g, "weight", _Sym.make(tg))
    with tg.no_grad():
        g.parametrizations.weight.original.data[...] = put(rng.standard_normal((3, 3)), device)
    _tg_into_torch(g, t)
    close_to_torch(g.weight, t.weight, **TOL)


def test_parametrize_a_buffer_like_torch(device, rng):
    t = torch.nn.BatchNorm1d(3).double()
    g = tg.nn.BatchNorm1d(3, dtype="float64", device=device)
    for lib, mod in ((torch, t), (tg, g)):
        lib.nn.utils.parametrize.register_parametrization(mod, "running_var", _scale(lib, 4.0))
    assert list(g.state_dict()) == list(t.state_dict())
    assert "parametrizations.running_var.original" in g.state_dict()
    assert "running_var" not in g._buffers
    t.eval()
    g.eval()
    x = rng.standard_normal((5, 3))
    close_to_torch(g(tg.tensor(put(x, device))), t(torch.tensor(x)), **TOL)


def test_transfer_parametrizations_and_params(device):
    g, t = _linears(device, 3, 3)
    tgp.register_parametrization(g, "weight", _Sym.make(tg))
    other = tg.nn.Linear(3, 3, dtype="float64", device=device)
    tgp.transfer_parametrizations_and_params(g, other)
    assert other.parametrizations.weight.original is g.parametrizations.weight.original
    np.testing.assert_array_equal(host(other.weight), host(g.weight))


# ---- parametrizations.orthogonal ---------------------------------------------------------------
@pytest.mark.parametrize("omap", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
def test_orthogonal_trains_like_torch(device, rng, omap, shape):
    n_out, n_in = shape
    g, t = _linears(device, n_in, n_out)
    tP.orthogonal(t, orthogonal_map=omap)
    tgP.orthogonal(g, orthogonal_map=omap)
    assert list(g.state_dict()) == list(t.state_dict())
    if n_out == n_in:  # no random completion: the registrations agree by themselves
        close_to_torch(g.weight, t.weight, rtol=1e-9, atol=1e-10)
    _torch_into_tg(t, g, device)  # the random completion of a non-square base
    close_to_torch(g.weight, t.weight, rtol=1e-9, atol=1e-10)
    _train_both(g, t, rng, device, xshape=(6, n_in), n_out=n_out,
                tol={"rtol": 1e-8, "atol": 1e-10})
    w = host(g.weight)
    small = w.T @ w if n_out >= n_in else w @ w.T
    np.testing.assert_allclose(small, np.eye(min(shape)), atol=1e-10)


def test_orthogonal_assignment_and_default_map(device, rng):
    g, t = _linears(device, 4, 4)
    tP.orthogonal(t)
    tgP.orthogonal(g)
    assert g.parametrizations.weight[0].orthogonal_map.name == "matrix_exp"
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    g.weight = tg.tensor(put(q, device))
    t.weight = torch.tensor(q)
    close_to_torch(g.weight, t.weight, **TOL)
    np.testing.assert_allclose(host(g.weight), q, atol=1e-12)
    g2 = tg.nn.Linear(3, 5, dtype="float64", device=device)
    tgP.orthogonal(g2)
    assert g2.parametrizations.weight[0].orthogonal_map.name == "householder"


def test_orthogonal_householder_without_trivialization(device, rng):
    g, t = _linears(device, 3, 5)
    tP.orthogonal(t, orthogonal_map="householder", use_trivialization=False)
    tgP.orthogonal(g, orthogonal_map="householder", use_trivialization=False)
    assert list(g.state_dict()) == list(t.state_dict()) == \
        ["bias", "parametrizations.weight.original"]
    close_to_torch(g.parametrizations.weight.original, t.parametrizations.weight.original,
                   rtol=1e-9, atol=1e-10)
    close_to_torch(g.weight, t.weight, rtol=1e-9, atol=1e-10)
    _train_both(g, t, rng, device, xshape=(6, 3), n_out=5)
    g2, t2 = _linears(device, 4, 4)
    tgP.orthogonal(g2, orthogonal_map="cayley", use_trivialization=False)
    tP.orthogonal(t2, orthogonal_map="cayley", use_trivialization=False)
    _raises_as_torch(lambda: setattr(g2, "weight", g2.weight.detach()),
                     lambda: setattr(t2, "weight", t2.weight.detach()),
                     match="not possible to assign")


class _Batched:
    @staticmethod
    def make(lib, w):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = lib.nn.Parameter(w)

            def forward(self, x):
                return x @ self.weight

        return M()


@pytest.mark.parametrize("omap,triv", [("matrix_exp", True), ("cayley", True),
                                       ("householder", True), ("householder", False)])
def test_orthogonal_batched_like_torch(device, rng, omap, triv):
    w = rng.standard_normal((2, 4, 3))
    g = _Batched.make(tg, tg.tensor(put(w, device)))
    t = _Batched.make(torch, torch.tensor(w))
    tP.orthogonal(t, orthogonal_map=omap, use_trivialization=triv)
    tgP.orthogonal(g, orthogonal_map=omap, use_trivialization=triv)
    assert list(g.state_dict()) == list(t.state_dict())
    _torch_into_tg(t, g, device)
    close_to_torch(g.weight, t.weight, rtol=1e-9, atol=1e-10)
    x = rng.standard_normal((2, 5, 4))
    gx, tx = tg.tensor(put(x, device)), torch.tensor(x)
    _train(g, tg, gx, None, loss_of=lambda o: (o.sum(-1) ** 2).mean())
    _train(t, torch, tx, None, loss_of=lambda o: (o.sum(-1) ** 2).mean())
    _same_state(g, t, rtol=1e-8, atol=1e-10)
    _same_grads(g, t, rtol=1e-8, atol=1e-10)


def test_orthogonal_errors_as_torch(device):
    g, t = _linears(device)
    _raises_as_torch(lambda: tgP.orthogonal(g, "bias"), lambda: tP.orthogonal(t, "bias"),
                     match="Expected a matrix")
    _raises_as_torch(lambda: tgP.orthogonal(g, "nope"), lambda: tP.orthogonal(t, "nope"),
                     match="has no parameter")
    _raises_as_torch(lambda: tgP.orthogonal(g, orthogonal_map="qr"),
                     lambda: tP.orthogonal(t, orthogonal_map="qr"), match="orthogonal_map")
    tgP.orthogonal(g)
    tP.orthogonal(t)
    _raises_as_torch(lambda: setattr(g, "weight", tg.zeros(2, 2, dtype="float64")),
                     lambda: setattr(t, "weight", torch.zeros(2, 2, dtype=torch.float64)),
                     match="shape")


@pytest.mark.parametrize("omap", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_maps_second_order_grads(omap, rng):
    orth = tgP._Orthogonal(tg.zeros(4, 3, dtype="float64"), getattr(tgP._OrthMaps, omap),
                           use_trivialization=False)
    x = rng.standard_normal((4, 3))
    idx = np.arange(3)
    x[idx, idx] = [1.0, -1.0, 1.0]  # the householder map's signs sit on the diagonal
    # the householder map does not differentiate through its diagonal (the signs): check the
    # strictly lower part only there
    keep = np.tril(np.ones((4, 3)), -1) if omap == "householder" else np.ones((4, 3))
    fixed = tg.tensor(x * (1 - keep))
    w = tg.tensor(rng.standard_normal((4, 3)))

    def f(v):
        return (orth(fixed + v * tg.tensor(keep)) * w).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tg.tensor(x * keep))


# ---- parametrizations.weight_norm ----------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, None, -2])
def test_weight_norm_parametrization_trains_like_torch(device, rng, dim):
    g, t = _linears(device)
    tP.weight_norm(t, dim=dim)
    tgP.weight_norm(g, dim=dim)
    assert list(g.state_dict()) == list(t.state_dict()) == \
        ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    _same_state(g, t)
    close_to_torch(g.weight, t.weight, **TOL)
    _train_both(g, t, rng, device)


def test_weight_norm_parametrization_conv(device, rng):
    g, t = _pair("Conv2d", device, 2, 3, 3)
    tP.weight_norm(t)
    tgP.weight_norm(g)
    _train_squares(g, t, rng.standard_normal((2, 2, 5, 5)), device)
    _same_state(g, t)
    _same_grads(g, t)


def test_weight_norm_second_order_grads(rng):
    wn = tgP._WeightNorm(0)

    def f(g_, v_):
        return (wn(g_, v_) ** 3).sum()

    v = rng.standard_normal((3, 4))
    gg = rng.standard_normal((3, 1))
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tg.tensor(gg), tg.tensor(v))


# ---- parametrizations.spectral_norm -----------------------------------------------------------
@pytest.mark.parametrize("n_iter", [1, 3])
def test_spectral_norm_parametrization_trains_like_torch(device, rng, n_iter):
    g, t = _linears(device, 5, 4)
    tP.spectral_norm(t, n_power_iterations=n_iter)
    tgP.spectral_norm(g, n_power_iterations=n_iter)
    assert list(g.state_dict()) == list(t.state_dict()) == \
        ["bias", "parametrizations.weight.original", "parametrizations.weight.0._u",
         "parametrizations.weight.0._v"]
    _torch_into_tg(t, g, device)  # the random start of the power iteration
    _train_both(g, t, rng, device, xshape=(6, 5), n_out=4)
    # eval mode: no power-iteration step, the buffers stay
    g.eval()
    t.eval()
    u = host(g.parametrizations.weight[0]._u).copy()
    close_to_torch(g.weight, t.weight, **TOL)
    np.testing.assert_array_equal(host(g.parametrizations.weight[0]._u), u)
    # sigma close to the largest singular value after the registration's 15 + 3 steps
    w = host(g.parametrizations.weight.original)
    s = np.linalg.svd(w, compute_uv=False)[0]
    np.testing.assert_allclose(np.linalg.svd(host(g.weight), compute_uv=False)[0], 1.0,
                               rtol=0.1)
    assert s > 0


def test_spectral_norm_parametrization_conv_dim_and_errors(device, rng):
    g, t = _pair("ConvTranspose2d", device, 2, 3, 3)
    tP.spectral_norm(t)
    tgP.spectral_norm(g)
    assert g.parametrizations.weight[0].dim == t.parametrizations.weight[0].dim == 1
    _torch_into_tg(t, g, device)
    _train_squares(g, t, rng.standard_normal((1, 2, 4, 4)), device)
    _same_state(g, t)
    g2, t2 = _linears(device)
    _raises_as_torch(lambda: tgP.spectral_norm(g2, n_power_iterations=0),
                     lambda: tP.spectral_norm(t2, n_power_iterations=0),
                     match="n_power_iterations")
    _raises_as_torch(lambda: tgP.spectral_norm(g2, dim=2), lambda: tP.spectral_norm(t2, dim=2),
                     match="out of range")
    _raises_as_torch(lambda: tgP.spectral_norm(g2, "nope"), lambda: tP.spectral_norm(t2, "nope"),
                     match="no parameter")
    # a vector: normalised exactly
    tgP.spectral_norm(g2, "bias")
    tP.spectral_norm(t2, "bias")
    close_to_torch(g2.bias, t2.bias, **TOL)


# ---- old-style weight_norm / spectral_norm ---------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, None])
def test_old_weight_norm_trains_like_torch(device, rng, dim):
    g, t = _linears(device)
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(t, dim=dim)
    with pytest.warns(FutureWarning, match="deprecated"):
        tg.nn.utils.weight_norm(g, dim=dim)
    assert list(g.state_dict()) == list(t.state_dict()) == ["bias", "weight_g", "weight_v"]
    _same_state(g, t)
    assert not isinstance(g.weight, tg.nn.Parameter)
    _train_both(g, t, rng, device)
    close_to_torch(g.weight, t.weight, **TOL)
    torch.nn.utils.remove_weight_norm(t)
    tg.nn.utils.remove_weight_norm(g)
    assert list(g.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    assert isinstance(g.weight, tg.nn.Parameter) and not g._forward_pre_hooks
    _same_state(g, t)


def test_old_weight_norm_errors_as_torch(device):
    g, t = _linears(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.nn.utils.weight_norm(t)
        tg.nn.utils.weight_norm(g)
        _raises_as_torch(lambda: tg.nn.utils.weight_norm(g), lambda: torch.nn.utils.weight_norm(t),
                         match="Cannot register two weight_norm")
    _raises_as_torch(lambda: tg.nn.utils.remove_weight_norm(g, "bias"),
                     lambda: torch.nn.utils.remove_weight_norm(t, "bias"), match="not found")


@pytest.mark.parametrize("n_iter", [1, 2])
def test_old_spectral_norm_trains_like_torch(device, rng, n_iter):
    g, t = _linears(device, 5, 4)
    torch.nn.utils.spectral_norm(t, n_power_iterations=n_iter)
    tg.nn.utils.spectral_norm(g, n_power_iterations=n_iter)
    assert list(g.state_dict()) == list(t.state_dict()) == \
        ["bias", "weight_orig", "weight_u", "weight_v"]
    _torch_into_tg(t, g, device)
    _train_both(g, t, rng, device, xshape=(6, 5), n_out=4)
    close_to_torch(g.weight, t.weight, **TOL)
    g.eval()
    t.eval()
    u = host(g.weight_u).copy()
    x = np.ones((1, 5))
    close_to_torch(g(tg.tensor(put(x, device))), t(torch.tensor(x)), **TOL)
    np.testing.assert_array_equal(host(g.weight_u), u)
    torch.nn.utils.remove_spectral_norm(t)
    tg.nn.utils.remove_spectral_norm(g)
    assert list(g.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    _same_state(g, t)


def test_old_spectral_norm_errors_as_torch(device):
    g, t = _linears(device)
    torch.nn.utils.spectral_norm(t)
    tg.nn.utils.spectral_norm(g)
    _raises_as_torch(lambda: tg.nn.utils.spectral_norm(g), lambda: torch.nn.utils.spectral_norm(t),
                     match="Cannot register two spectral_norm")
    _raises_as_torch(lambda: tg.nn.utils.remove_spectral_norm(g, "bias"),
                     lambda: torch.nn.utils.remove_spectral_norm(t, "bias"), match="not found")
    g2, t2 = _linears(device)
    _raises_as_torch(lambda: tg.nn.utils.spectral_norm(g2, n_power_iterations=0),
                     lambda: torch.nn.utils.spectral_norm(t2, n_power_iterations=0),
                     match="positive")


# ---- prune ------------------------------------------------------------------------------------
def _pruned_pair(device, method, *args, **kwargs):
    g, t = _linears(device, 5, 4)
    getattr(tprune, method)(t, "weight", *args, **kwargs)
    getattr(tgprune, method)(g, "weight", *args, **kwargs)
    return g, t


@pytest.mark.parametrize("method,args", [
    ("l1_unstructured", {"amount": 7}),
    ("l1_unstructured", {"amount": 0.35}),
    ("l1_unstructured", {"amount": 0}),
    ("ln_structured", {"amount": 2, "n": 2, "dim": 0}),
    ("ln_structured", {"amount": 0.4, "n": 1, "dim": 1}),
    ("ln_structured", {"amount": 1, "n": float("inf"), "dim": -1}),
    ("identity", {}),
])
def test_deterministic_pruning_trains_like_torch(device, rng, method, args):
    g, t = _pruned_pair(device, method, **args)
    assert list(g.state_dict()) == list(t.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    assert tgprune.is_pruned(g)
    _same_state(g, t)
    _train_both(g, t, rng, device, xshape=(6, 5), n_out=4)
    close_to_torch(g.weight, t.weight, **TOL)
    assert np.all(host(g.weight)[host(g.weight_mask) == 0] == 0)
    tprune.remove(t, "weight")
    tgprune.remove(g, "weight")
    assert not tgprune.is_pruned(g)
    assert list(g.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    _same_state(g, t)


def test_pruning_container_and_importance_scores(device, rng):
    g, t = _linears(device, 5, 4)
    scores = rng.standard_normal((4, 5))
    for prune, mod, sc in ((tprune, t, torch.tensor(scores)),
                           (tgprune, g, tg.tensor(put(scores, device)))):
        prune.l1_unstructured(mod, "weight", amount=3, importance_scores=sc)
        prune.ln_structured(mod, "weight", amount=1, n=2, dim=0)
        prune.l1_unstructured(mod, "weight", amount=0.2)
    hook = next(iter(g._forward_pre_hooks.values()))
    assert isinstance(hook, tgprune.PruningContainer) and len(hook) == 3
    assert [type(m).__name__ for m in hook] == ["L1Unstructured", "LnStructured",
                                                 "L1Unstructured"]
    _same_state(g, t)
    _train_both(g, t, rng, device, xshape=(6, 5), n_out=4)


def test_custom_and_global_pruning_like_torch(device, rng):
    g1, t1 = _linears(device, 5, 4)
    g2, t2 = _linears(device, 4, 3)
    mask = (rng.random((4, 5)) > 0.5).astype(np.float64)
    tprune.custom_from_mask(t1, "weight", torch.tensor(mask))
    tgprune.custom_from_mask(g1, "weight", tg.tensor(put(mask, device)))
    tprune.global_unstructured([(t1, "weight"), (t2, "weight"), (t2, "bias")],
                               tprune.L1Unstructured, amount=9)
    tgprune.global_unstructured([(g1, "weight"), (g2, "weight"), (g2, "bias")],
                                tgprune.L1Unstructured, amount=9)
    _same_state(g1, t1)
    _same_state(g2, t2)
    assert list(g2.state_dict()) == list(t2.state_dict())
    (gx, gy), (tx, ty) = _data(rng, device, (6, 5), 3)
    gnet = tg.nn.Sequential(g1, tg.nn.Tanh(), g2)
    tnet = torch.nn.Sequential(t1, torch.nn.Tanh(), t2)
    _train(gnet, tg, gx, gy)
    _train(tnet, torch, tx, ty)
    _same_state(gnet, tnet)
    _same_grads(gnet, tnet)
    with pytest.raises(TypeError, match="unstructured"):
        tgprune.global_unstructured([(g1, "weight")], tgprune.LnStructured, amount=1, n=2,
                                    dim=0)


@pytest.mark.parametrize("amount", [3, 0.5])
def test_random_pruning_counts(device, amount):
    g = tg.nn.Linear(6, 4, dtype="float64", device=device)
    tgprune.random_unstructured(g, "weight", amount=amount)
    n = 3 if amount == 3 else 12
    assert int(host(g.weight_mask == 0).sum()) == n
    assert on(g.weight_mask, device)
    g2 = tg.nn.Linear(6, 4, dtype="float64", device=device)
    tgprune.random_structured(g2, "weight", amount=amount, dim=1)
    m = host(g2.weight_mask)
    zero_cols = (m == 0).all(axis=0)
    assert zero_cols.sum() == (3 if amount == 3 else 3) and (m[:, ~zero_cols] == 1).all()
    x = tg.tensor(put(np.ones((2, 6)), device))
    g2(x).sum().backward()
    assert np.all(host(g2.weight_orig.grad)[:, zero_cols] == 0)


def test_prune_errors_as_torch(device):
    for method, kwargs in [("l1_unstructured", {"amount": -1}),
                           ("l1_unstructured", {"amount": 1.5}),
                           ("l1_unstructured", {"amount": "a"}),
                           ("l1_unstructured", {"amount": 100}),
                           ("random_structured", {"amount": 1, "dim": 3}),
                           ("ln_structured", {"amount": 5, "n": 2, "dim": 0})]:
        g, t = _linears(device, 5, 4)
        _raises_as_torch(lambda: getattr(tgprune, method)(g, "weight", **kwargs),
                         lambda: getattr(tprune, method)(t, "weight", **kwargs))
        # a failed pruning is undone (the parameter comes back, last, as in torch)
        assert list(g.state_dict()) == list(t.state_dict())
        assert "weight_orig" not in g._parameters and not g._forward_pre_hooks
    g, t = _linears(device, 5, 4)
    _raises_as_torch(lambda: tgprune.ln_structured(g, "bias", amount=1, n=2, dim=0),
                     lambda: tprune.ln_structured(t, "bias", amount=1, n=2, dim=0),
                     match="multidimensional")
    _raises_as_torch(lambda: tgprune.remove(g, "weight"), lambda: tprune.remove(t, "weight"),
                     match="has to be pruned")
    _raises_as_torch(lambda: tgprune.global_unstructured(3, tgprune.L1Unstructured, amount=1),
                     lambda: tprune.global_unstructured(3, tprune.L1Unstructured, amount=1),
                     match="Iterable")


def test_pruned_module_deepcopy_and_prune_method(device, rng):
    g = tg.nn.Linear(5, 4, dtype="float64", device=device)
    tgprune.l1_unstructured(g, "weight", amount=5)
    c = copy.deepcopy(g)
    x = tg.tensor(put(rng.standard_normal((2, 5)), device))
    np.testing.assert_array_equal(host(c(x)), host(g(x)))
    assert tgprune.is_pruned(c)
    w = tg.tensor(put(np.arange(1.0, 7.0).reshape(2, 3), device))
    out = tgprune.L1Unstructured(amount=2).prune(w)
    np.testing.assert_array_equal(host(out), [[0, 0, 3], [4, 5, 6]])


# ---- fusion, skip_init, stateless, clip_grad_norm -------------------------------------------
@pytest.mark.parametrize("affine", [True, False])
def test_fuse_conv_and_linear_with_bn(device, rng, affine):
    tconv, tbn = torch.nn.Conv2d(2, 3, 3).double(), torch.nn.BatchNorm2d(3, affine=affine).double()
    gconv = tg.nn.Conv2d(2, 3, 3, dtype="float64", device=device)
    gbn = tg.nn.BatchNorm2d(3, affine=affine, dtype="float64", device=device)
    tbn.running_mean.copy_(torch.tensor(rng.standard_normal(3)))
    tbn.running_var.copy_(torch.tensor(rng.random(3) + 0.5))
    if affine:
        with torch.no_grad():
            tbn.weight.copy_(torch.tensor(rng.standard_normal(3)))
    _torch_into_tg(tconv, gconv, device)
    _torch_into_tg(tbn, gbn, device)
    with pytest.raises(AssertionError, match="Fusion only for eval"):
        tg.nn.utils.fuse_conv_bn_eval(gconv, gbn)
    tconv.eval(), tbn.eval(), gconv.eval(), gbn.eval()
    fused = tg.nn.utils.fuse_conv_bn_eval(gconv, gbn)
    tfused = torch.nn.utils.fuse_conv_bn_eval(tconv, tbn)
    assert fused is not gconv and isinstance(fused.weight, tg.nn.Parameter)
    _same_state(fused, tfused)
    x = rng.standard_normal((1, 2, 5, 5))
    close_to_torch(fused(tg.tensor(put(x, device))), tbn(tconv(torch.tensor(x))), **TOL)

    tlin, tbn1 = torch.nn.Linear(4, 3).double(), torch.nn.BatchNorm1d(3).double()
    glin, gbn1 = tg.nn.Linear(4, 3, dtype="float64", device=device), \
        tg.nn.BatchNorm1d(3, dtype="float64", device=device)
    tbn1.running_var.copy_(torch.tensor(rng.random(3) + 0.5))
    _torch_into_tg(tlin, glin, device)
    _torch_into_tg(tbn1, gbn1, device)
    for m in (tlin, tbn1, glin, gbn1):
        m.eval()
    _same_state(tg.nn.utils.fuse_linear_bn_eval(glin, gbn1),
                torch.nn.utils.fuse_linear_bn_eval(tlin, tbn1))
    w, b = tg.nn.utils.fuse_linear_bn_weights(glin.weight, None, gbn1.running_mean,
                                              gbn1.running_var, 1e-5, gbn1.weight, gbn1.bias)
    tw, tb = torch.nn.utils.fuse_linear_bn_weights(tlin.weight, None, tbn1.running_mean,
                                                   tbn1.running_var, 1e-5, tbn1.weight,
                                                   tbn1.bias)
    close_to_torch(w, tw, **TOL)
    close_to_torch(b, tb, **TOL)
    with pytest.raises(AssertionError, match="out_features"):
        tg.nn.utils.fuse_linear_bn_eval(glin, tg.nn.BatchNorm1d(2).eval())


def test_fuse_conv_transpose_weights(device, rng):
    w = rng.standard_normal((2, 3, 3, 3))  # ConvTranspose: (in, out, kh, kw)
    rm, rv, bw, bb = (rng.standard_normal(3), rng.random(3) + 0.5, rng.standard_normal(3),
                      rng.standard_normal(3))
    ours = tg.nn.utils.fuse_conv_bn_weights(*[tg.tensor(put(a, device)) for a in (w,)], None,
                                            *[tg.tensor(put(a, device)) for a in (rm, rv)], 1e-3,
                                            *[tg.tensor(put(a, device)) for a in (bw, bb)],
                                            transpose=True)
    theirs = torch.nn.utils.fuse_conv_bn_weights(torch.tensor(w), None, torch.tensor(rm),
                                                 torch.tensor(rv), 1e-3, torch.tensor(bw),
                                                 torch.tensor(bb), transpose=True)
    for a, b in zip(ours, theirs):
        close_to_torch(a, b, **TOL)


def test_skip_init(device):
    with pytest.raises(RuntimeError, match="Expected a Module"):
        tg.nn.utils.skip_init(int)

    class NoDevice(tg.nn.Module):
        def __init__(self):
            super().__init__()

    with pytest.raises(RuntimeError, match="device"):
        tg.nn.utils.skip_init(NoDevice)
    tg.manual_seed(3)
    m = tg.nn.utils.skip_init(tg.nn.Linear, 4, 3, device=device, dtype="float64")
    after = tg.rand(5)
    tg.manual_seed(3)
    assert np.array_equal(host(after), host(tg.rand(5)))  # no random numbers were drawn
    assert m.weight.shape == (3, 4) and on(m.weight, device)
    w = tg.nn.init.normal_(tg.zeros(3))  # the initialisers work again afterwards
    assert not np.allclose(host(w), 0)


def test_stateless_and_clip_grad_norm_aliases(device, rng):
    g, t = _linears(device)
    x = rng.standard_normal((2, 4))
    w = rng.standard_normal((3, 4))
    with pytest.warns(FutureWarning, match="functional_call"):
        out = tg.nn.utils.stateless.functional_call(
            g, {"weight": tg.tensor(put(w, device))}, (tg.tensor(put(x, device)),))
    with pytest.warns(FutureWarning):
        tout = torch.nn.utils.stateless.functional_call(t, {"weight": torch.tensor(w)},
                                                        (torch.tensor(x),))
    close_to_torch(out, tout, **TOL)
    (gx, gy), (tx, ty) = _data(rng, device, (5, 4))
    ((g(gx) - gy) ** 2).sum().backward()
    ((t(tx) - ty) ** 2).sum().backward()
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        n = tg.nn.utils.clip_grad_norm(g.parameters(), 0.5)
    with pytest.warns(FutureWarning):
        tn = torch.nn.utils.clip_grad_norm(t.parameters(), 0.5)
    close_to_torch(n, tn, **TOL)
    _same_grads(g, t)


# ---- tg.nn.init -----------------------------------------------------------------------------
@pytest.mark.parametrize("old,args,shape", [
    ("uniform", (), (3, 4)), ("normal", (), (3, 4)), ("constant", (0.5,), (3, 4)),
    ("eye", (), (3, 4)), ("dirac", (), (4, 2, 3, 3)), ("xavier_uniform", (), (3, 4)),
    ("xavier_normal", (), (3, 4)), ("kaiming_uniform", (), (3, 4)),
    ("kaiming_normal", (), (3, 4)), ("orthogonal", (), (3, 4)), ("sparse", (0.5,), (4, 3)),
])
def test_init_old_names_warn_and_fill(device, old, args, shape):
    t = tg.zeros(*shape, dtype="float64", device=device)
    with pytest.warns(FutureWarning, match=f"nn.init.{old}_"):
        out = getattr(tg.nn.init, old)(t, *args)
    assert out is t and not np.allclose(host(t), 0)
    assert getattr(tg.nn.init, old).__name__ == getattr(torch.nn.init, old).__name__ == old
    with pytest.warns(FutureWarning):
        getattr(torch.nn.init, old)(torch.zeros(*shape), *args)


def test_init_generator_and_structure(device):
    g1 = tg.Generator(device=device).manual_seed(7) if hasattr(tg, "Generator") else None
    g2 = tg.Generator(device=device).manual_seed(7) if hasattr(tg, "Generator") else None
    for name in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
                 "kaiming_uniform_", "kaiming_normal_", "orthogonal_"):
        a = getattr(tg.nn.init, name)(tg.empty(4, 5, device=device), generator=g1)
        b = getattr(tg.nn.init, name)(tg.empty(4, 5, device=device), generator=g2)
        np.testing.assert_array_equal(host(a), host(b), err_msg=name)
    s = tg.nn.init.sparse_(tg.empty(10, 3, device=device), 0.3, generator=g1)
    assert ((host(s) == 0).sum(axis=0) == 3).all()  # ceil(0.3 * 10) zeros per column
    d = host(tg.nn.init.dirac_(tg.empty(4, 2, 3, device=device), groups=2))
    np.testing.assert_array_equal(d, torch.nn.init.dirac_(torch.empty(4, 2, 3), groups=2).numpy())
    q = host(tg.nn.init.orthogonal_(tg.empty(3, 6, dtype="float64", device=device), gain=2.0))
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(3), atol=1e-12)
    tn = host(tg.nn.init.trunc_normal_(tg.empty(2000, device=device), 1.0, 2.0, -1.0, 1.5))
    assert tn.min() >= -1.0 and tn.max() <= 1.5
    with pytest.warns(UserWarning, match="zero-element"):
        tg.nn.init.kaiming_uniform_(tg.empty(0, 3, device=device))
    with pytest.warns(UserWarning, match="zero-element"):
        torch.nn.init.kaiming_uniform_(torch.empty(0, 3))
