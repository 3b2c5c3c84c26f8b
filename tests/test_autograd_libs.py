"""Patterns that real autograd-based libraries (tried by hand through the hook, see README's
section for autograd users) rely on, each reproduced by a small program in autograd's style:
rules re-declared for autograd's own primitives, ``check_grads`` with keyword arguments,
NumPy's array methods on traced values, NumPy's derivative-free functions on traced values."""

import numpy as onp
import pytest
from devices import host, numeric_jacobian, on, put

import tensorgrad as tg
from tensorgrad import autograd_compat

X = onp.array([[0.3, -1.2, 2.0, 0.7], [1.1, 0.4, -0.5, 2.5], [-0.8, 1.9, 0.6, -0.2]])


# ---- rules a library declares for functions that are autograd's primitives --------------------
@pytest.fixture
def restore_inv_rules():
    """``inv`` is a primitive here too: a rule declared for it replaces tensorgrad's (as it
    would autograd's), so the test puts tensorgrad's back for the tests that follow."""
    from tensorgrad.numpy import linalg

    p = linalg.inv.prim
    saved = (p.vjps, p.jvps)
    yield
    p.vjps, p.jvps = saved


def test_rules_redeclared_for_autograd_primitives_that_are_composites_here(device,
                                                                          restore_inv_rules):
    """A library that adds a JVP to ``slogdet`` (an autograd primitive, a composite of
    primitives in tensorgrad: not installed) or rules to ``inv`` (a primitive in both:
    installed) imports, and the derivatives stay right."""
    with autograd_compat.installed():
        import autograd.numpy as np
        from autograd.core import defjvp, defvjp
        from autograd.extend import defjvp_argnum
        from autograd.numpy.linalg import inv, slogdet
        from autograd.test_util import check_grads

        defjvp(slogdet, lambda g, ans, x: (0.0, np.trace(np.linalg.solve(x, g))))
        defjvp(inv, lambda g, ans, x: -ans @ g @ ans)
        defvjp(inv, lambda ans, x: lambda g: -ans.T @ g @ ans.T)
        defjvp_argnum(slogdet, lambda argnum, g, ans, args, kwargs: g)  # never installed
        a = put(onp.eye(3) * 4 + X[:, :3] / 5, device)
        f = lambda m: slogdet(m)[1] + np.sum(inv(m))  # noqa: E731
        check_grads(f, modes=["fwd", "rev"], order=2)(a)
        from autograd import grad

        expected = onp.linalg.inv(host(a)).T  # d log|det a| / da
        g = grad(lambda m: slogdet(m)[1])(a)
        assert on(g, device)
        onp.testing.assert_allclose(host(g), expected, rtol=1e-10)


def test_rules_for_a_plain_function_are_still_refused():
    from tensorgrad.extend import defjvp, defvjp

    def not_a_primitive(x):
        return x * 2

    with pytest.raises(TypeError, match="not a primitive"):
        defvjp(not_a_primitive, lambda ans, x: lambda g: 2 * g)
    with pytest.raises(TypeError, match="not a primitive"):
        defjvp(not_a_primitive, lambda g, ans, x: 2 * g)


def test_check_grads_passes_keyword_arguments_to_the_function(device):
    """autograd's ``check_grads(f)(x, groups, num_groups=5)``: keywords go to ``f``."""
    from tensorgrad.test_util import check_grads

    seen = []

    def grouped(x, scale, power=2):
        seen.append(power)
        return tg.numpy.sum(scale * x ** power)

    check_grads(grouped, modes=["fwd", "rev"])(put(X[0], device), 1.5, power=3)
    assert seen and set(seen) == {3}
    with pytest.raises(AssertionError):  # a wrong rule is still caught with keywords given
        @tg.primitive
        def bad(x, k=1.0):
            return k * x ** 2

        tg.defvjp(bad, lambda g, ans, x, k=1.0: g * x)  # should be 2 k x
        check_grads(lambda x, k: tg.numpy.sum(bad(x, k=k)), modes=["rev"], order=1)(
            put(X[0], device), k=2.0)


# ---- NumPy's array methods on traced values (autograd's ArrayBox) --------------------------
_METHODS = {
    "std": (lambda b: b.std(), lambda a: a.std()),
    "var_axis": (lambda b: b.var(axis=1), lambda a: a.var(axis=1)),
    "std_ddof": (lambda b: b.std(0, ddof=1), lambda a: a.std(0, ddof=1)),
    "min_pos": (lambda b: b.min(1), lambda a: a.min(1)),
    "max_pos": (lambda b: b.max(0), lambda a: a.max(0)),
    "cumsum": (lambda b: b.cumsum(), lambda a: a.cumsum()),
    "cumprod_axis": (lambda b: b.cumprod(axis=1), lambda a: a.cumprod(axis=1)),
    "repeat": (lambda b: b.repeat(2, axis=0), lambda a: a.repeat(2, axis=0)),
    "repeat_flat": (lambda b: b.repeat(2), lambda a: a.repeat(2)),
    "take": (lambda b: b.take([0, 5, 7]), lambda a: a.take([0, 5, 7])),
    "take_axis": (lambda b: b.take([0, 2], axis=1), lambda a: a.take([0, 2], axis=1)),
    "compress": (lambda b: b.compress([True, False, True], axis=0),
                 lambda a: a.compress([True, False, True], axis=0)),
}


@pytest.mark.parametrize("name", sorted(_METHODS))
def test_numpy_methods_on_traced_values_under_the_hook(name, device):
    """Values and gradients (against central differences) of NumPy's methods on traced
    values, which follow PyTorch outside the hook."""
    method, reference = _METHODS[name]
    w = onp.linspace(0.5, 1.5, reference(X).size).reshape(reference(X).shape)
    with autograd_compat.installed():
        import autograd.numpy as np
        from autograd import grad

        values = []

        def f(x):
            y = method(x)
            values.append(y)
            return np.sum(y * put(w, device))

        g = grad(f)(put(X, device))
    assert on(g, device) and on(values[0], device)
    onp.testing.assert_allclose(host(values[0]), reference(X), rtol=1e-12)
    onp.testing.assert_allclose(host(g), numeric_jacobian(lambda a: onp.sum(reference(a) * w), X),
                                rtol=1e-6, atol=1e-8)


def test_size_is_numpys_count_and_pytorchs_method_under_the_hook(device):
    x = tg.tensor(put(X, device))
    assert x.size() == (3, 4)
    with autograd_compat.installed():
        from autograd import grad

        seen = []

        def f(b):
            seen.append((b.size == 12, b.size * 2, b.size(), b.size(1), b.shape[0] == 3))
            return b.sum()

        grad(f)(put(X, device))
    assert seen == [(True, 24, (3, 4), 4, True)]
    assert callable(x.size) and x.size() == (3, 4) and x.size(0) == 3  # PyTorch's again


def test_pytorch_forms_still_selected_by_keyword_and_restored_after(device):
    x = tg.tensor(put(X, device))
    torch_std = float(host(x.std()))
    onp.testing.assert_allclose(torch_std, X.std(ddof=1))
    with autograd_compat.installed():
        onp.testing.assert_allclose(float(host(x.std())), X.std())
        onp.testing.assert_allclose(float(host(x.std(unbiased=True))), X.std(ddof=1))
        values, idx = x.min(dim=1)
        onp.testing.assert_allclose(host(values), X.min(1))
        assert host(idx).tolist() == X.argmin(1).tolist()
        onp.testing.assert_allclose(host(x.cumsum(dim=0)), X.cumsum(0))
        assert [host(i).tolist() for i in x.nonzero()] == [i.tolist() for i in X.nonzero()]
    onp.testing.assert_allclose(float(host(x.std())), torch_std)
    assert host(x.nonzero()).shape == (12, 2)  # PyTorch's (count, ndim) again
    assert isinstance(x.min(1), tuple)


# ---- NumPy's derivative-free functions on traced values ------------------------------------
def test_derivative_free_numpy_functions_take_traced_values(device):
    """autograd's ``nograd_functions`` (indices, counts, tests) take boxes; they take traced
    tensors here too, and what depends on them differentiates through the rest."""
    with autograd_compat.installed():
        import autograd.numpy as np
        from autograd import grad

        def f(x):
            flat = np.ravel(x)
            keep = np.nonzero(flat > 0.5)[0]
            where = np.searchsorted(np.sort(flat), 0.0)
            assert int(np.count_nonzero(flat > 0)) == int((X > 0).sum())
            assert bool(np.allclose(x, x)) and bool(np.all(np.isclose(x, x)))
            assert not np.isscalar(x) and np.iscomplexobj(x) is False
            lo = np.argpartition(flat, 2)[:2]
            return np.sum(flat[keep] ** 2) + where * np.sum(flat[lo])

        a = put(X, device)
        g = grad(f)(a)
    flat = X.ravel()
    where = onp.searchsorted(onp.sort(flat), 0.0)
    expected = onp.where(flat > 0.5, 2 * flat, 0.0)
    expected[onp.argpartition(flat, 2)[:2]] += where
    onp.testing.assert_allclose(host(g).ravel(), expected, rtol=1e-12)


def test_derivative_free_functions_without_the_hook_still_refuse_unknown_ones():
    """Only NumPy's derivative-free functions pass traced values: one with a derivative that
    tensorgrad lacks is still refused, never silently cut."""
    from tensorgrad._passthrough import NO_DERIVATIVE

    assert "nonzero" in NO_DERIVATIVE and "nanpercentile" not in NO_DERIVATIVE
    with pytest.raises(NotImplementedError, match="no derivative"):
        tg.grad(lambda x: tg.numpy.sum(tg.numpy.nanpercentile(x, 50.0)))(
            onp.array([0.2, 0.4]))


# ---- a list argument of a transform, given whole to NumPy's functions (lifelines' hazards) ----
def test_a_traced_list_goes_whole_into_numpy_functions(device):
    """lifelines' ``hazard_at_times([3.0, 10.0, 50.0])`` is ``elementwise_grad(cum_hazard,
    argnum=1)(params, times)`` with ``times`` a list: its traced elements reach ``np.clip``
    and ufuncs as one list, which become one array (as NumPy makes one from a list)."""
    times = [0.5, 2.0, 7.5]
    p = onp.array([1.3, 0.4])

    def reference(t):
        t = onp.asarray(t)
        return (onp.exp(p[0] * onp.log(onp.clip(t, 1e-25, onp.inf)) - p[1]) + onp.sqrt(t)
                + onp.maximum(t, 1.0) ** 2)

    with autograd_compat.installed():
        import autograd.numpy as np
        from autograd import elementwise_grad

        def cum_hazard(params, t):
            return (np.exp(params[0] * np.log(np.clip(t, 1e-25, np.inf)) - params[1])
                    + np.sqrt(t) + np.maximum(t, 1.0) ** 2)

        hazard = elementwise_grad(cum_hazard, 1)(put(p, device), [put(onp.array(t), device)
                                                                 for t in times])
        value = cum_hazard(put(p, device), [put(onp.array(t), device) for t in times])
    assert isinstance(hazard, list) and all(on(h, device) for h in hazard)
    expected = onp.diag(numeric_jacobian(reference, onp.array(times)))
    onp.testing.assert_allclose([float(host(h)) for h in hazard], expected, rtol=1e-7)
    onp.testing.assert_allclose(host(value), reference(times), rtol=1e-12)


def test_a_list_holding_a_traced_value_is_one_array_for_a_primitive():
    """Tensorgrad's own door: ``tnp.exp([x, 2.0])`` inside ``grad`` stacks, as ``tnp.array``."""
    f = lambda x: tg.numpy.sum(tg.numpy.exp([x, 2.0]) * tg.numpy.clip([x, x * x], 0.0, 5.0))
    x = 0.7
    g = tg.grad(f)(x)
    expected = onp.exp(x) * x + onp.exp(x) + onp.exp(2.0) * 2 * x
    onp.testing.assert_allclose(g, expected, rtol=1e-12)
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


# ---- a user primitive with several outputs (grcwa's eig through autograd.extend) --------------
def _polar_primitive():
    """A primitive that returns a named tuple (the norm and the direction of ``x``), its
    rules in autograd's convention: ``ans`` the whole tuple, ``g`` a tuple of cotangents."""
    import collections

    from tensorgrad.extend import defjvp, defvjp, primitive

    Polar = collections.namedtuple("Polar", "r u")
    calls = []

    @primitive
    def polar(x):
        calls.append(1)
        r = (x * x).sum() ** 0.5
        return Polar(r, x / r)

    tnp = tg.numpy

    def vjp_maker(ans, x):
        def vjp(g):
            gr, gu = g
            return gr * ans.u + (gu - tnp.sum(gu * ans.u) * ans.u) / ans.r

        return vjp

    defvjp(polar, vjp_maker)
    defjvp(polar, lambda g, ans, x: (tnp.sum(g * ans.u),
                                     (g - tnp.sum(g * ans.u) * ans.u) / ans.r))
    return polar, Polar, calls


def _polar_reference(x, wr, wu):
    r = onp.sqrt(onp.sum(x * x))
    return wr * r + onp.sum(wu * onp.sin(x / r))


@pytest.mark.parametrize("uses", ["r", "u", "both"])
def test_user_primitive_with_several_outputs(uses, device):
    polar, Polar, calls = _polar_primitive()
    tnp = tg.numpy
    x = X[0, :3]
    wr, wu = {"r": (1.5, onp.zeros(3)), "u": (0.0, onp.array([0.5, -1.0, 2.0])),
              "both": (1.5, onp.array([0.5, -1.0, 2.0]))}[uses]

    def f(a):
        out = polar(a)
        parts = []
        if wr:
            parts.append(wr * out.r)
        if wu.any():
            parts.append(tnp.sum(put(wu, device) * tnp.sin(out[1])))
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]

    raw = polar(put(x, device))  # no tracing: the user's tuple, unchanged
    assert type(raw) is Polar and on(raw.u, device)
    a = put(x, device)
    g = tg.grad(f)(a)
    assert on(g, device)
    onp.testing.assert_allclose(host(g), numeric_jacobian(
        lambda v: _polar_reference(v, wr, wu), x), rtol=1e-7, atol=1e-9)
    onp.testing.assert_allclose(float(host(f(a))), _polar_reference(x, wr, wu), rtol=1e-12)
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(a)
    traced = []
    tg.grad(lambda v: (traced.append(type(polar(v))), calls.clear(), polar(v).r,
                       traced.append(len(calls)))[2])(a)
    assert traced == [Polar, 1]  # a traced call runs the kernel once for all its outputs


def test_user_primitive_with_several_outputs_and_no_rule_names_it():
    from tensorgrad.extend import primitive

    @primitive
    def two(x):
        return x * 2, x * 3

    assert [float(v) for v in two(1.0)] == [2.0, 3.0]
    with pytest.raises(NotImplementedError, match="two.*no VJP rule for argument 0"):
        tg.grad(lambda x: two(x)[1])(1.0)


def test_user_primitive_whose_number_of_outputs_depends_on_an_argument():
    """One array, two, or three by a keyword (as ``eigh`` without or with vectors): each call
    is differentiated as what it returned."""
    from tensorgrad.extend import defvjp, primitive

    @primitive
    def powers(x, n=2):
        return x * 2 if n == 1 else tuple(x ** (k + 1) for k in range(n))

    defvjp(powers, lambda ans, x, n=2: (lambda g: 2 * g) if n == 1 else
           (lambda g: sum(g[k] * (k + 1) * x ** k for k in range(n))))
    x = 0.7
    for n, expected in [(2, 1 + 2 * x), (1, 2.0), (3, 1 + 2 * x + 3 * x ** 2), (2, 1 + 2 * x)]:
        f = (lambda v, n=n: powers(v, n=n)) if n == 1 else \
            (lambda v, n=n: sum(powers(v, n=n)))
        onp.testing.assert_allclose(tg.grad(f)(x), expected, rtol=1e-12)
        tg.check_grads(f, modes=("rev",), order=2)(x)


def test_mean_of_integers_raises_as_pytorch_and_is_numpys_under_the_hook(device):
    """PyTorch refuses ``int_tensor.mean()`` (no floating dtype to infer); NumPy's method,
    which the hook installs, gives the float64 mean."""
    torch = pytest.importorskip("torch")
    x = tg.tensor(put(onp.arange(6).reshape(2, 3), device))
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        x.mean()
    with pytest.raises(RuntimeError, match="could not infer output dtype"):
        torch.arange(6).mean()
    onp.testing.assert_allclose(host(x.mean(dtype=tg.float64)), 2.5)
    with autograd_compat.installed():
        assert float(host(x.mean())) == 2.5
        onp.testing.assert_allclose(host(x.mean(axis=0)), [1.5, 2.5, 3.5])
    with pytest.raises(RuntimeError, match="could not infer output dtype"):
        (x > 2).mean()  # bools too, as PyTorch
