"""The autograd import hook (tensorgrad.autograd_compat), autograd's extension conventions,
the rules nobody wrote (fallbacks), the default device, and autograd's calling contract."""

import importlib
import os
import pkgutil
import re
import subprocess
import sys
import types

import numpy as onp
import pytest
from conftest import CUPY_STANDIN
from devices import host, on, put

import tensorgrad as tg
import tensorgrad.numpy as np
from tensorgrad import autograd_compat
from tensorgrad.autograd.rules import MissingRuleError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
PROGRAMS = os.path.join(TESTS, "autograd_programs")

# ---- 1. every public name of every public autograd module has a counterpart --------------
_STDLIB = {"builtins", "functools", "collections", "itertools", "contextlib", "operator",
           "warnings", "typing", "inspect"}
# autograd's rule makers for its own primitives: tensorgrad's primitives carry their own rules
_RULE_MAKER = re.compile(r"^(grad_|fwd_grad_|forward_grad_|make_grad_|make_gammainc_vjp|"
                         r"make_rfft_factors)|(_vjp|_jvp|_vjp_\d|_adjoint_\d|_gradmaker|"
                         r"jvpmaker|_grad)$|^covgrad$")
# names an implementation module imports from elsewhere (they exist where they are defined)
_IMPORTED = {"np", "anp", "onp", "npo", "builtins", "psi", "gamma", "digamma", "beta", "solve",
             "primitive", "notrace_primitive", "defvjp", "defjvp", "defvjp_argnums",
             "defjvp_argnums", "vspace", "make_vjp", "tuple", "type", "type_", "wraps",
             "flatten", "unbroadcast_f", "repeat_to_match_shape", "match_complex", "autograd",
             "as_strided", "reduce", "func", "fun"}
_ROOTS = {"autograd", "autograd.extend", "autograd.builtins"}  # documented re-export modules
_EXCLUDED = {
    # implementation details of autograd's own engine or namespace-wrapping, with no use
    # outside autograd (reason: tensorgrad's engine is not autograd's)
    "autograd.builtins": {"DictMeta", "ListMeta", "TupleMeta", "container_untake"},
    "autograd.core": {"add_outgrads", "deprecated_defgrad", "deprecated_defvjp",
                      "deprecated_defvjp_is_zero", "deprecated_defvjp_message", "primitive_",
                      "primitive_jvps", "primitive_vjps", "sparse_add", "sparse_object_types",
                      "translate_jvp", "translate_vjp"},
    "autograd.numpy": {"array_from_args", "c_class", "r_class", "concatenate_args",
                       "custom_where", "notrace_functions", "parse_einsum_input",
                       "wrap_if_boxes_inside", "wrap_intdtype", "wrap_namespace"},
    "autograd.numpy.fft": {"check_even_shape", "check_no_repeated_axes", "get_fft2_args",
                           "get_fft_args", "get_fftn_args", "truncate_pad", "wrap_namespace"},
    "autograd.numpy.linalg": {"T", "add2d", "wrap_namespace"},
    "autograd.numpy.numpy_boxes": {"diff_methods", "method_name", "nondiff_methods",
                                   "trace_primitives_map"},
    "autograd.numpy.numpy_vjps": {"nograd_functions", "reverse_axis", "unpermuter",
                                  "wrapped_reshape"},
    "autograd.numpy.numpy_jvps": {"nograd_functions"},
    "autograd.numpy.random": {"wrap_namespace"},
    "autograd.scipy.integrate": {"argnums_unpack"},
    "autograd.scipy.linalg": {"wrap_namespace"},
    "autograd.scipy.signal": {"compute_conv_size", "einsum_tensordot", "flipped_idxs",
                              "parse_axes"},
    "autograd.scipy.special": {"inv_root_pi", "root_pi"},
    "autograd.scipy.stats.multivariate_normal": {"generalized_outer_product"},
    "autograd.tracer": {"trace_primitives_map"},
}
_EXCLUDED["autograd.numpy.numpy_wrapper"] = _EXCLUDED["autograd.numpy"]


def _public_names(mod):
    names = set()
    for n in dir(mod):
        if n.startswith("_"):
            continue
        try:
            v = getattr(mod, n)
        except AttributeError:  # a name NumPy lists but no longer has
            continue
        if isinstance(v, types.ModuleType) and not v.__name__.startswith("autograd"):
            continue  # an imported module (numpy, scipy, warnings, ...)
        origin = (getattr(v, "__module__", None) or "").split(".")[0]
        if origin in _STDLIB and not isinstance(v, type(len)):
            continue  # a standard-library helper (partial, OrderedDict, ...)
        names.add(n)
    return names


def _expected_missing(module, name):
    if name in _EXCLUDED.get(module, ()):
        return True
    if _RULE_MAKER.search(name):
        return True
    return module not in _ROOTS and name in _IMPORTED


def test_every_public_autograd_name_has_a_counterpart():
    autograd = pytest.importorskip("autograd")
    modules = ["autograd"] + [m.name for m in pkgutil.walk_packages(autograd.__path__,
                                                                     "autograd.")]
    real = {m: _public_names(importlib.import_module(m)) for m in modules}
    assert set(real) <= set(autograd_compat.MODULES), "a public autograd module is not mapped"
    missing, unused = {}, {}
    with autograd_compat.installed():
        for m, names in real.items():
            mod = importlib.import_module(m)
            gone = {n for n in names if not hasattr(mod, n)}
            bad = sorted(n for n in gone if not _expected_missing(m, n))
            if bad:
                missing[m] = bad
            stale = sorted(n for n in _EXCLUDED.get(m, ()) if hasattr(mod, n))
            if stale:
                unused[m] = stale
    assert not missing, f"autograd names without a tensorgrad counterpart: {missing}"
    assert not unused, f"excluded names that now exist (drop them from _EXCLUDED): {unused}"
    assert "autograd" not in sys.modules or "site-packages" in sys.modules["autograd"].__file__


def test_import_autograd_without_the_hook_is_never_affected():
    pytest.importorskip("autograd")
    code = ("import tensorgrad, tensorgrad.autograd_compat, tensorgrad.extend; import autograd, "
            "autograd.numpy as np; assert 'site-packages' in autograd.__file__; "
            "assert autograd.grad is not tensorgrad.grad; print(type(np.sin).__module__)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(), timeout=120)
    assert res.returncode == 0, res.stderr
    with autograd_compat.installed():
        import autograd as hooked

        assert hooked.grad is tg.grad
    import autograd as real

    assert real.grad is not tg.grad and "site-packages" in real.__file__


def test_hook_modules_are_their_own_and_unknown_modules_say_so():
    with autograd_compat.installed():
        import autograd.numpy as anp
        import autograd.numpy.numpy_boxes  # noqa: F401

        assert anp.sin is np.sin and anp.__version__ == onp.__version__
        assert not hasattr(np, "numpy_boxes")  # nothing written into tensorgrad.numpy
        with pytest.raises(ModuleNotFoundError, match="not one of autograd's public"):
            importlib.import_module("autograd.no_such_module")
    assert not autograd_compat.is_installed()


# ---- 2. programs written for autograd, unmodified: same printed numbers -----------------
def _env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


_ON_STANDIN = ("import sys, runpy; sys.path.insert(0, sys.argv.pop(1)); import cupy_standin; "
               "cupy_standin.install(); "
               "runpy.run_module('tensorgrad.autograd_compat', run_name='__main__')")


def _run(program, hook, device="cpu"):
    path = os.path.join(PROGRAMS, program)
    env = _env()
    if not hook:
        cmd = [sys.executable, path]
    elif device == "cpu":
        cmd = [sys.executable, "-m", "tensorgrad.autograd_compat", path]
    else:
        env["TENSORGRAD_DEVICE"] = "cuda"
        cmd = ([sys.executable, "-c", _ON_STANDIN, TESTS] if CUPY_STANDIN else
               [sys.executable, "-m", "tensorgrad.autograd_compat"]) + [path]
    res = subprocess.run(cmd + ["arg1"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def _numbers(text):
    return [(line.split()[0], [float(v) for v in line.split()[1:] if _is_float(v)])
            for line in text.splitlines() if line.strip()]


def _is_float(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("program", sorted(p for p in os.listdir(PROGRAMS) if p.endswith(".py")))
def test_autograd_programs_print_autograd_numbers(program, device):
    pytest.importorskip("autograd")
    expected = _numbers(_run(program, hook=False))
    got = _numbers(_run(program, hook=True, device=device))
    assert [k for k, _ in got] == [k for k, _ in expected]
    for (key, a), (_, b) in zip(got, expected):
        onp.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-9, err_msg=key)
    if device != "cpu":
        assert "boxes True" in _run(program, hook=True, device=device) or \
            "boxes" not in dict(expected)


# ---- 3. autograd.extend: the curried convention, whatever the signature ------------------
def test_extend_rules_are_always_curried(device):
    from tensorgrad.extend import defjvp, defvjp, primitive

    @primitive
    def scaled_sum(x, scale=2.0, *rest):
        return scale * onp.sum(x) if not hasattr(x, "device") else scale * x.sum()

    # (ans, *args): three "parameters" by count, the form a count would take for (g, ans, x)
    defvjp(scaled_sum, lambda ans, *args: lambda g: g * args[1] * np.ones_like(args[0]))
    defjvp(scaled_sum, lambda g, ans, x, scale=2.0, *rest: scale * np.sum(g))
    x = put(onp.array([1.0, 2.0, 3.0]), device)
    g = tg.grad(lambda x: scaled_sum(x, 3.0))(x)
    assert on(g, device)
    onp.testing.assert_allclose(host(g), [3.0, 3.0, 3.0])
    assert float(host(tg.make_jvp(lambda x: scaled_sum(x, 3.0))(x)(np.ones_like(x))[1])) == 9.0

    @tg.primitive  # tensorgrad's own door keeps the (g, ans, *args) rules
    def cube(x):
        return x ** 3

    tg.defvjp(cube, lambda g, ans, x: 3 * x ** 2 * g)
    assert tg.grad(cube)(2.0) == pytest.approx(12.0)


# ---- 4. no transform needs a rule the user did not write --------------------------------
def _vjp_only():
    from tensorgrad.extend import defvjp, primitive

    @primitive
    def cube(x):
        return x ** 3

    defvjp(cube, lambda ans, x: lambda g: 3 * x ** 2 * g)
    return cube


def _jvp_only():
    from tensorgrad.extend import defjvp, primitive

    @primitive
    def cube(x):
        return x ** 3

    defjvp(cube, lambda g, ans, x: 3 * x ** 2 * g)
    return cube


def _no_rule():
    from tensorgrad.extend import primitive

    @primitive
    def cube(x):
        return x ** 3

    return cube


def _f(cube):
    return lambda x: np.sum(cube(x) * np.sin(x))


def _exact(x):  # d/dx sum(x^3 sin x) and its Hessian
    g = 3 * x ** 2 * onp.sin(x) + x ** 3 * onp.cos(x)
    h = 6 * x * onp.sin(x) + 6 * x ** 2 * onp.cos(x) - x ** 3 * onp.sin(x)
    return g, onp.diag(h)


_REVERSE = {
    "grad": lambda f, x: tg.grad(f)(x),
    "value_and_grad": lambda f, x: tg.value_and_grad(f)(x)[1],
    "elementwise_grad": lambda f, x: tg.elementwise_grad(lambda x: x ** 3 * np.sin(x) +
                                                          0 * f(x))(x),
    "hessian": lambda f, x: tg.hessian(f)(x),
    "jacobian_of_grad": lambda f, x: tg.jacobian(tg.grad(f))(x),
    "make_hvp": lambda f, x: tg.make_hvp(f)(x)[0](np.ones_like(x)),
    "hessian_vector_product": lambda f, x: tg.hessian_vector_product(f)(x, np.ones_like(x)),
    "grad_of_grad_sum": lambda f, x: tg.grad(lambda x: np.sum(tg.grad(f)(x)))(x),
}
_FORWARD = {
    "deriv": lambda f, x: tg.deriv(f)(x),
    "make_jvp": lambda f, x: tg.make_jvp(f)(x)(np.ones_like(x))[1],
}


def _expected(name, x):
    g, H = _exact(x)
    return {"grad": g, "value_and_grad": g, "elementwise_grad": g, "hessian": H,
            "jacobian_of_grad": H, "make_hvp": H.sum(1), "hessian_vector_product": H.sum(1),
            "grad_of_grad_sum": H.sum(0), "deriv": onp.sum(g), "make_jvp": onp.sum(g)}[name]


@pytest.mark.parametrize("rules", ["vjp_only", "jvp_only"])
@pytest.mark.parametrize("transform", sorted(_REVERSE) + sorted(_FORWARD))
def test_user_primitive_with_one_rule_under_every_transform(rules, transform, device):
    cube = {"vjp_only": _vjp_only, "jvp_only": _jvp_only}[rules]()
    f = _f(cube)
    x = onp.array([0.5, -1.2, 2.0])
    run = {**_REVERSE, **_FORWARD}[transform]
    if rules == "vjp_only" and transform in _FORWARD:
        with pytest.raises(NotImplementedError, match="cube: no JVP rule for argument 0"):
            run(f, put(x, device))
        return
    got = run(f, put(x, device))
    assert on(got, device)
    onp.testing.assert_allclose(host(got), _expected(transform, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("transform", sorted(_REVERSE) + sorted(_FORWARD))
def test_primitive_without_rules_names_itself_and_the_missing_rule(transform):
    f = _f(_no_rule())
    rule = "JVP" if transform in _FORWARD else "VJP"
    with pytest.raises(NotImplementedError, match=f"cube: no {rule} rule for argument 0"):
        {**_REVERSE, **_FORWARD}[transform](f, onp.array([0.5, 1.0]))


def test_jvp_only_and_vjp_only_primitives_pass_check_grads():
    x = onp.array([0.3, -0.7])
    tg.check_grads(_f(_jvp_only()), modes=("fwd", "rev"), order=2)(x)
    tg.check_grads(_f(_vjp_only()), modes=("rev",), order=2)(x)
    with pytest.raises(MissingRuleError):
        tg.check_grads(_f(_vjp_only()), modes=("fwd",), order=1)(x)


def test_hessian_through_autograd_defvjp_primitive_matches_autograd():
    autograd = pytest.importorskip("autograd")
    import autograd.extend as ag_extend
    import autograd.numpy as anp

    @ag_extend.primitive
    def ag_cube(x):
        return x ** 3

    ag_extend.defvjp(ag_cube, lambda ans, x: lambda g: 3 * x ** 2 * g)
    x = onp.array([0.5, -1.2, 2.0])
    expected = autograd.hessian(lambda x: anp.sum(ag_cube(x) * anp.sin(x)))(x)
    onp.testing.assert_allclose(tg.hessian(_f(_vjp_only()))(x), expected, rtol=1e-12)


# ---- 5. the default device ---------------------------------------------------------------
def test_default_device_creation_random_and_mixing(default_cuda):
    dev = default_cuda
    made = [np.zeros(3), np.ones((2, 2)), np.eye(2), np.arange(3.0), np.linspace(0, 1, 4),
            np.array([1.0, 2.0]), np.asarray(onp.ones(2)), np.full((2,), 1.5)
            if False else np.empty(2), np.random.randn(3), np.random.RandomState(0).randn(2)]
    assert all(on(a, dev) for a in made)
    # the same draws as NumPy's
    onp.testing.assert_array_equal(host(np.random.RandomState(0).randn(4)),
                                   onp.random.RandomState(0).randn(4))
    host_array = onp.array([1.0, 2.0])
    for op in (np.add, np.multiply, np.maximum):  # a NumPy array meets a device array
        assert on(op(np.ones(2), host_array), dev) and on(op(host_array, np.ones(2)), dev)
    w = tg.grad(lambda w: np.sum(np.tanh(w * host_array) ** 2))(onp.array([0.1, 0.2]))
    assert on(w, dev)  # the variable went to the default device
    expected = 2 * onp.tanh(onp.array([0.1, 0.4])) / onp.cosh(onp.array([0.1, 0.4])) ** 2 * \
        host_array
    onp.testing.assert_allclose(host(w), expected, rtol=1e-12)


def test_cpu_default_changes_nothing():
    assert tg.get_default_device() == "cpu"
    assert type(np.zeros(2)) is onp.ndarray and type(np.random.randn(2)) is onp.ndarray
    assert np.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]


# ---- 6. autograd's contract (issue 7, items 1 and 4) -------------------------------------
def test_python_number_arguments_with_array_results():
    # cpu only: a float argument becomes a host 0-d variable, which cannot meet a device
    # array held in the function's closure unless a default device is set
    device = "cpu"
    arr = put(onp.array([1.0, 2.0, 3.0]), device)
    vjp, value = tg.make_vjp(lambda x: x * arr)(2.0)
    assert on(value, device) and host(value).tolist() == [2.0, 4.0, 6.0]
    assert vjp(put(onp.ones(3), device)) == pytest.approx(6.0)
    J = tg.jacobian(lambda x: x * arr)(2.0)
    assert host(J).tolist() == [1.0, 2.0, 3.0]
    assert tg.grad(lambda x: np.sum(np.add(x, arr)))(1.0) == pytest.approx(3.0)
    e = tg.elementwise_grad(np.maximum)(1.0, arr)  # the gradient of a float: a float
    assert e == pytest.approx(0.5)  # the tie at 1.0 split evenly, as autograd
    assert tg.elementwise_grad(np.maximum)(1.0, 1.0) == pytest.approx(0.5)
    assert host(tg.elementwise_grad(np.max)(put(onp.array([1.0, 1.0]), device))).tolist() == \
        [0.5, 0.5]
    assert tg.grad(lambda e: np.sum(np.linspace(0.0, e, 5)))(2.0) == pytest.approx(2.5)
    assert tg.grad(lambda a: np.sum(np.linspace(a, 3.0, 4) ** 2))(1.0) == pytest.approx(
        52.0 / 9.0)
    tg.check_grads(lambda a: np.linspace(a, 3.0 * a, 4), modes=("fwd", "rev"), order=2)(0.7)


def test_make_ggnvp_matches_autograd():
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as anp

    x, v = onp.array([0.3, -0.4, 1.1]), onp.array([1.0, 0.5, -1.0])
    got = tg.make_ggnvp(lambda w: np.tanh(w * 2.0))(x)(v)
    expected = autograd.make_ggnvp(lambda w: anp.tanh(w * 2.0))(x)(v)
    onp.testing.assert_allclose(got, expected, rtol=1e-12)


def test_make_diagonal_and_version(device):
    D = put(onp.array([[1.0, 2.0], [3.0, 4.0]]), device)
    M = np.make_diagonal(D, axis1=-1, axis2=-2)
    assert on(M, device) and host(M).tolist() == [[[1, 0], [0, 2]], [[3, 0], [0, 4]]]
    tg.check_grads(lambda d: np.make_diagonal(d, axis1=-1, axis2=-2), modes=("fwd", "rev"),
                   order=2)(D)
    with pytest.raises(NotImplementedError, match="make_diagonal"):
        np.make_diagonal(D)
    assert np.__version__ == onp.__version__


def test_grad_of_complex_function_and_traced_item_assignment_are_refused():
    with pytest.raises(TypeError, match="complex value"):
        tg.grad(lambda z: z ** 2)(1.0 + 1.0j)
    assert tg.holomorphic_grad(lambda z: z ** 2)(1.0 + 1.0j) == pytest.approx(2.0 + 2.0j)

    def into_numpy(x):
        a = onp.zeros(3)
        a[0] = x  # the derivative would be lost
        return np.sum(a)

    # autograd 1.9.1 raises ValueError from NumPy here; tensorgrad's __float__ refuses with
    # a TypeError that NumPy re-raises the same way
    for transform in (tg.grad, tg.deriv):
        with pytest.raises((TypeError, ValueError)):
            transform(into_numpy)(onp.array(2.0))
    assert float(tg.tensor(2.0, requires_grad=True)) == 2.0  # outside transforms: allowed


def test_grad_of_a_tuple_of_floats_gives_0d_arrays():
    g = tg.grad(lambda p: p[0] * p[1])((2.0, 3.0))
    assert isinstance(g, tuple) and all(isinstance(v, onp.ndarray) and v.shape == () for v in g)
    assert [float(v) for v in g] == [3.0, 2.0]
    assert tg.grad(lambda x: x * x)(2.0) == 4.0  # a bare float still gives a float


def test_multigrad_dict_and_grad_named():
    from tensorgrad.autograd.functional import grad_named, multigrad_dict

    def f(a, b=2.0):
        return np.sum(a ** 2) * b

    a = onp.array([1.0, 2.0])
    d = multigrad_dict(f)(a, b=3.0)
    assert list(d) == ["a", "b"]
    onp.testing.assert_allclose(d["a"], 6 * a)
    assert float(d["b"]) == pytest.approx(5.0)
    assert grad_named(f, "b")(a, 3.0) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="no argument 'c'"):
        grad_named(f, "c")
