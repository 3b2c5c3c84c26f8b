"""More libraries built on HIPS autograd, under tensorgrad's import hook against the real
autograd in this process (as tests/test_autograd_libraries.py): each program below is written
in the style of one library's use of autograd (our own code, not the library's) and runs twice,
importing ``autograd`` afresh under each engine; the results agree to 1e-10.

- vittles (sensitivity of optima): derivative arrays of several orders reordered by
  ``np.moveaxis`` with integer *arrays* of axes, empty ones included.
- mici (Hamiltonian Monte Carlo): a matrix class with ``__array__`` and ``__rmatmul__`` used
  as an operand of traced values (``p @ M @ p.T`` under ``slogdet``, ``M @ p``, ``p * M``);
  mici itself (in the ``dev`` extra) also runs: its autograd derivative wrappers up to
  matrix-Tressian products, and a SoftAbs Riemannian-manifold HMC integrator step.
- pymoo (multi-objective optimisation): Jacobians through autograd's engine driven by hand,
  ``VJPNode.new_root()``, ``new_box``, ``box._node`` and ``backward_pass`` with a boxed
  cotangent, one row at a time.

CPU only, as the other library tests: these programs hand arrays to plain NumPy."""

import numpy as onp
import pytest
from autograd_libs import run_under

from tensorgrad import autograd_compat

LIBRARIES = ("mici",)


def _run(engine, fn):
    return run_under(engine, fn, LIBRARIES)


def _host(v):
    return onp.asarray(v.numpy() if hasattr(v, "grad_fn") else getattr(v, "_value", v))


def _same(ours, theirs, path=""):
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), path
        for k in theirs:
            _same(ours[k], theirs[k], f"{path}.{k}")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, f"{path}[{i}]")
    else:
        a, b = _host(ours), _host(theirs)
        assert a.shape == b.shape, path
        onp.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=path)


def _compare(fn):
    theirs = _run("autograd", fn)
    ours = _run("tensorgrad", fn)
    _same(ours, theirs)
    return ours


# ---- vittles' style: derivative arrays reordered with arrays of axes ---------------------------
def test_moveaxis_takes_integer_arrays_of_axes_as_numpy():
    """vittles keeps d^(k1+k2) f / dx^k1 dy^k2 as arrays and reorders them with
    ``np.moveaxis(a, axes, -1 * axes)`` where ``axes`` is an integer array (empty for k = 0);
    tensorgrad's ``moveaxis`` took only ints, lists and tuples."""

    def program():
        import autograd
        import autograd.numpy as np

        def f(x, y):
            return np.sum(np.sin(x) * np.exp(y[0] * x)) + np.sum(np.outer(x, y) ** 2)

        x0 = onp.array([0.3, -0.2, 0.5])
        y0 = onp.array([0.7, 0.1])
        d_x = autograd.grad(f, 0)
        d_xy = autograd.jacobian(d_x, 1)
        d_xxy = autograd.jacobian(d_xy, 0)  # axes (x, y, x)
        out = {}
        for k in range(3):
            axes = onp.arange(k)  # empty for k == 0
            arr = d_xxy(x0, y0)
            out[f"moved{k}"] = np.moveaxis(arr, axes, -1 * axes - 1)
        # the same inside a trace: the reordered array of a traced value
        out["traced"] = autograd.grad(lambda y: np.sum(np.moveaxis(
            np.outer(np.sin(x0), y)[:, :, None] * y, onp.array([0, 2]), onp.array([2, 0]))
            * np.arange(12.0).reshape(2, 2, 3)))(y0)
        out["zero_d_axis"] = np.moveaxis(d_xy(x0, y0), onp.array(1), 0)
        return out

    out = _compare(program)
    assert out["moved1"].shape == onp.moveaxis(onp.zeros((3, 2, 3)), [0], [-1]).shape


# ---- mici's style: a matrix class as an operand of traced values -------------------------------
_MATRIX_CLASS = '''
class SymMatrix:
    """A positive-definite matrix object: ``@`` with arrays from either side, ``*`` by
    scalars, and ``__array__``, as a library's structured-matrix class."""

    __array_priority__ = 1

    def __init__(self, array):
        self._array = onp.asarray(array)
        self.shape = self._array.shape

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)

    def __matmul__(self, other):
        return self._array @ other

    def __rmatmul__(self, other):
        return other @ self._array
'''


def _matrix_class():
    namespace = {"onp": onp}
    exec(_MATRIX_CLASS, namespace)
    return namespace["SymMatrix"]


def test_array_like_matrix_objects_as_operands_of_traced_values():
    """``param @ M @ param.T`` with ``M`` an object that has ``__array__`` and ``__rmatmul__``:
    autograd's ArrayBox gives ``M`` to NumPy, which makes an array of it; tensorgrad's operator
    handed the object itself to the op (AttributeError on ``.ndim``, or a VJP that fails on
    ``g * M``). Under the hook the operators now make the array first, as autograd."""
    SymMatrix = _matrix_class()
    rng = onp.random.default_rng(3)
    b = rng.normal(size=(4, 4))
    inner = SymMatrix(b @ b.T + 4 * onp.eye(4))
    base = onp.eye(3) * 2.0
    p0 = rng.normal(size=(3, 4))
    q0 = rng.normal(size=(4, 4))

    def program():
        import autograd
        import autograd.numpy as np

        def log_abs_det(p):
            return np.linalg.slogdet(base + p @ inner @ p.T)[1]

        def quad_inv(p):
            v = np.arange(1.0, 4.0)
            return v @ np.linalg.solve(base + p @ inner @ p.T, v)

        return {
            "logdet": autograd.grad(log_abs_det)(p0),
            "logdet_hessian_row": autograd.jacobian(autograd.grad(log_abs_det))(p0)[1, 2],
            "quad_inv": autograd.grad(quad_inv)(p0),
            "rmatmul": autograd.grad(lambda p: np.sum(np.tanh(inner @ p.T)))(p0),
            "mul_add": autograd.grad(lambda q: np.sum(q * inner + (q - inner) ** 2))(q0),
        }

    _compare(program)


def test_the_hooks_operators_leave_arrays_and_numbers_alone():
    """What the operators take as they are (arrays, NumPy scalars, numbers, Tensors) is not
    converted, and uninstalling restores tensorgrad's own operators."""
    import tensorgrad as tg
    from tensorgrad.tensor import Tensor

    own = Tensor.__dict__["__matmul__"]
    with autograd_compat.installed():
        assert Tensor.__dict__["__matmul__"] is not own
        x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = (x @ onp.eye(2)) * onp.float64(2.0) + 1 - x ** 2 / 3.0
        y.sum().backward()
        onp.testing.assert_allclose(x.grad.numpy(), 2.0 - 2 * x.detach().numpy() / 3.0)
    assert Tensor.__dict__["__matmul__"] is own


# ---- pymoo's style: autograd's engine driven by hand ------------------------------------------
def test_vjpnode_new_box_backward_pass_jacobians_by_hand():
    """A Jacobian one row at a time: ``new_box(x, 0, VJPNode.new_root())``, the problem's
    function on the box, then ``backward_pass(new_box(e_j, 0, VJPNode.new_root()), y._node)``
    for each unit cotangent (a boxed cotangent, whose result is a box: ``._value``), and with a
    plain array cotangent; for one point (elementwise) and for a batch (vectorised)."""

    def program():
        import autograd.numpy as np
        from autograd.core import VJPNode, backward_pass
        from autograd.tracer import isbox, new_box

        def evaluate(x):  # a constrained two-objective problem on one point
            f1 = np.sum(x ** 2)
            f2 = np.sum((x - 1.5) ** 2 * np.exp(-x[0]))
            g = np.array([x[0] + x[1] - 1.0, np.sin(x[2]) * x[1]])
            return {"F": np.array([f1, f2]), "G": g, "H": None}

        def evaluate_batch(X):  # the same for rows of X
            f1 = np.sum(X ** 2, axis=1)
            f2 = np.sum((X - 1.5) ** 2, axis=1) * np.exp(-X[:, 0])
            return {"F": np.stack([f1, f2], axis=1), "C": np.zeros((X.shape[0], 1))}

        def jacobians_one(x):
            box = new_box(x, 0, VJPNode.new_root())
            out = evaluate(box)
            jac = {}
            for name, val in out.items():
                if val is None:
                    continue
                rows = []
                for j in range(len(val)):
                    e = onp.zeros(val.shape)
                    e[j] = 1.0
                    rows.append(backward_pass(new_box(e, 0, VJPNode.new_root()), val._node))
                jac[name] = np.stack(rows, axis=0)._value
                jac[name + "_plain"] = onp.stack([backward_pass(onp.eye(len(val))[j], val._node)
                                                  for j in range(len(val))])
            return jac

        def jacobians_batch(X):
            box = new_box(X, 0, VJPNode.new_root())
            out = evaluate_batch(box)
            jac = {}
            for name, val in out.items():
                if not isbox(val):
                    jac[name] = onp.zeros(val.shape + (X.shape[1],))
                    continue
                cols = []
                for j in range(val.shape[1]):
                    e = np.zeros(val.shape)
                    e[:, j] = 1.0
                    cols.append(backward_pass(new_box(e, 0, VJPNode.new_root()), val._node))
                jac[name] = np.stack(cols, axis=1)._value
            return jac

        x = onp.array([0.2, -0.4, 0.9])
        X = onp.array([[0.2, -0.4, 0.9], [1.0, 0.5, -0.3], [0.0, 2.0, 0.1]])
        out = {"one": jacobians_one(x), "batch": jacobians_batch(X)}
        with pytest.raises(TypeError, match="Can't differentiate w.r.t. type"):
            new_box(None, 0, VJPNode.new_root())
        return out

    out = _compare(program)
    onp.testing.assert_allclose(out["one"]["F"][0], 2 * onp.array([0.2, -0.4, 0.9]))


def test_backward_pass_refuses_what_it_cannot_do_with_clear_errors():
    with autograd_compat.installed():
        from autograd.core import VJPNode, backward_pass
        from autograd.tracer import new_box

        with pytest.raises(NotImplementedError, match="new_root"):
            VJPNode(1.0, None, (), {}, (), [])
        with pytest.raises(NotImplementedError, match="VJPNode.new_root"):
            new_box(onp.ones(2), 0, object())
        with pytest.raises(TypeError, match="_node"):
            backward_pass(onp.ones(2), None)
        import autograd.numpy as np

        x = new_box(onp.ones(2), 0, VJPNode.new_root())
        y = np.sin(x) * 2
        onp.testing.assert_allclose(backward_pass(onp.ones(2), y._node), 2 * onp.cos(1.0))


# ---- mici itself (the dev extra) ---------------------------------------------------------------
def test_mici_autograd_derivatives_and_a_softabs_hmc_step():
    """mici's autograd wrappers (gradient, Jacobian, Hessian, matrix-Hessian and
    matrix-Tressian products: third derivatives through nested ``make_vjp``) and one implicit
    leapfrog step of its SoftAbs Riemannian-manifold HMC, all derivatives by autograd."""
    pytest.importorskip("mici")
    rng = onp.random.default_rng(7)
    a = rng.normal(size=(3, 3))
    q0 = onp.array([0.3, -0.7, 0.2])
    p0 = onp.array([0.5, 0.1, -0.4])
    m0 = rng.normal(size=(3, 3))

    def program():
        import autograd.numpy as np
        import mici
        from mici.autodiff import autograd_wrapper as aw

        def neg_log_dens(q):
            return 0.5 * np.sum((a @ q) ** 2) + np.sum(np.log(np.cosh(q))) + 0.1 * q[0] ** 3

        def constr(q):
            return np.stack([np.sum(q ** 2) - 1.0, np.sin(q[0]) * q[1]])

        out = {}
        g, v = aw.grad_and_value(neg_log_dens)(q0)
        out["grad"], out["value"] = g, v
        out["jac"] = aw.jacobian_and_value(constr)(q0)[0]
        hess, grad, _ = aw.hessian_grad_and_value(neg_log_dens)(q0)
        out["hess"], out["hess_grad"] = hess, grad
        mhp, jac, _ = aw.mhp_jacobian_and_value(constr)(q0)
        out["mhp"] = mhp(m0[:2])
        mtp, hess2, _, _ = aw.mtp_hessian_grad_and_value(neg_log_dens)(q0)
        out["mtp"] = mtp(m0)
        system = mici.systems.SoftAbsRiemannianMetricSystem(  # mici 0.4.1 does
            # not hand backend= on to its base class: the derivatives given, by autograd
            neg_log_dens, grad_neg_log_dens=aw.grad_and_value(neg_log_dens),
            hess_neg_log_dens=aw.hessian_grad_and_value(neg_log_dens),
            mtp_neg_log_dens=aw.mtp_hessian_grad_and_value(neg_log_dens), softabs_coeff=1.0)
        integrator = mici.integrators.ImplicitLeapfrogIntegrator(system, step_size=0.1)
        state = mici.states.ChainState(pos=q0, mom=p0, dir=1)
        out["h"] = system.h(state)
        out["dh_dpos"] = system.dh_dpos(state)
        new = integrator.step(state)
        out["step_pos"], out["step_mom"] = new.pos, new.mom
        return out

    out = _compare(program)
    assert out["mtp"].shape == (3,) and onp.all(onp.isfinite(out["step_pos"]))
