"""An autograd program moved to the GPU the other way: its text unchanged, only
``tensorgrad.set_default_device("cuda")`` before it runs.

The programs are those of ``test_autograd_compat.py`` and ``test_autograd_examples*.py``, run
with tensorgrad's namespace whose ``put`` does nothing: the data they make through
``np``/``npr`` (``np.zeros``, ``np.array(list)``, ``npr.RandomState(...).randn``, ``np.eye``,
``np.linspace``) must land on the default device by itself. Those files bind plain NumPy as
``onp`` for the data a HIPS example makes with ``autograd.numpy``; here ``onp`` is bound to
``tensorgrad.numpy`` too (every numpy import of the program changed, nothing else). Each
program runs twice, with the CPU and with ``cuda`` as default; the results must live where the
run put them and agree to 1e-10 (the same seeded draws on both).

Only the cuda run is new here, so every test is a cuda test: on the CuPy stand-in, or on a GPU;
``-m "not cuda"`` deselects them, and without either they are not collected.
"""

import contextlib

import numpy as onp
import pytest
import test_autograd_compat as compat
import test_autograd_examples as ex1
import test_autograd_examples_2 as ex2
import test_autograd_examples_3 as ex3
import test_autograd_examples_4 as ex4
from conftest import _device_params
from devices import host, on

import tensorgrad as tg
import tensorgrad.numpy as tnp
import tensorgrad.numpy.random as tnpr

pytestmark = pytest.mark.cuda

CUDA = [p for p in _device_params() if p.values[0] == "cuda"]


def on_cuda(test):
    """``test`` run on the cuda device; without one (no GPU, stand-in switched off) it is not
    collected at all, as the cuda variants of the ``device`` fixture's tests are not."""
    return pytest.mark.parametrize("device", CUDA)(test) if CUDA else None


@contextlib.contextmanager
def default_device(device):
    """``device`` as tensorgrad's default inside, the CPU again after it, even on failure."""
    tg.set_default_device(device)
    try:
        yield
    finally:
        tg.set_default_device("cpu")


def _leaves(x):
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _leaves(x[k])]
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _leaves(item)]
    return [x]


def _both_runs(monkeypatch, device, module, run):
    """``run()`` with the CPU as default, then with ``device``: the program's module sees
    ``tensorgrad.numpy`` as its ``onp``. Checks that every array of the second run is on the
    device, every array of the first on the host, and that the two agree to 1e-10."""
    monkeypatch.setattr(module, "onp", tnp)
    cpu = run()
    with default_device(device):
        gpu = run()
    assert tg.get_default_device() == "cpu"
    mine, ref = _leaves(gpu), _leaves(cpu)
    assert len(mine) == len(ref)
    arrays = 0
    for a, b in zip(mine, ref):
        if hasattr(b, "shape") and getattr(b, "ndim", 0) > 0:
            assert on(a, device) and on(b, "cpu"), (type(a), type(b))
            arrays += 1
        onp.testing.assert_allclose(host(a), host(b), rtol=1e-10, atol=1e-12)
    assert arrays > 0
    return gpu


@on_cuda
def test_neural_net_on_containers(monkeypatch, device):
    L = compat.TG

    def run():
        objective, init, trained, trace = compat.neural_net_program(L)
        return [init, trained, trace, L.grad(objective)(trained, 1)]

    init, trained, trace, g = _both_runs(monkeypatch, device, compat, run)
    assert onp.mean(trace[-8:]) < 0.5 * onp.mean(trace[:8])


@on_cuda
def test_gaussian_process_marginal_likelihood(monkeypatch, device):
    L = compat.TG

    def run():
        lml = compat.gp_program(L)
        p = L.np.array([0.1, -0.3, -1.0])
        return [lml(p), L.grad(lambda q: lml(q)[0])(p), L.hessian(lambda q: lml(q)[1])(p)]

    (by_hand, via_mvn), g, H = _both_runs(monkeypatch, device, compat, run)
    assert abs(float(host(by_hand)) - float(host(via_mvn))) < 1e-10 and H.shape == (3, 3)


@on_cuda
def test_black_box_variational_inference(monkeypatch, device):
    L = compat.TG

    def run():
        fixed = compat.bbvi_program(L, num_samples=50, fixed_noise=True)
        objective = compat.bbvi_program(L, num_samples=50)
        init = L.np.array([-1.0, -1.0, -3.0, -3.0])
        trained = L.adam(L.grad(objective), init, step_size=0.1, num_iters=30)
        return [fixed(init, 0), L.grad(fixed)(init, 0), trained, fixed(trained, 0)]

    before, _, _, after = _both_runs(monkeypatch, device, compat, run)
    assert float(host(after)) < float(host(before))


@on_cuda
def test_character_rnn(monkeypatch, device):
    def run():
        objective, init, trained, trace = ex1.rnn_program(ex1.TG, num_iters=4)
        return [trained, trace]

    trained, trace = _both_runs(monkeypatch, device, ex1, run)
    assert trace[-1] < trace[0]


@on_cuda
def test_natural_gradient_logistic_regression(monkeypatch, device):
    L = ex2.TG

    def run():
        loglik, empirical_fisher, fisher, path = ex2.natural_gradient_program(L)
        return [path, [loglik(w) for w in path], empirical_fisher(path[-1])]

    path, values, _ = _both_runs(monkeypatch, device, ex2, run)
    assert float(host(values[-1])) > float(host(values[0]))


@on_cuda
def test_kalman_filter(monkeypatch, device):
    L = ex3.TG

    def run():
        ll = ex3.kalman_program(L)
        p = L.np.array([0.9, 0.1, -0.2, 0.8, -1.0, -0.5])  # ex3.KALMAN_PARAMS, as a list
        value, g = L.value_and_grad(ll)(p)
        return [value, g, L.hessian(ll)(p)]

    value, g, H = _both_runs(monkeypatch, device, ex3, run)
    assert H.shape == (6, 6)


@on_cuda
def test_gaussian_process_fit_objective(monkeypatch, device):
    L = ex3.TG

    def run():
        nlml = ex3.gp_fit_program(L)
        p = L.np.array([0.2, -0.1, -1.5])
        return [nlml(p), L.grad(nlml)(p), L.hessian(nlml)(p)]

    _both_runs(monkeypatch, device, ex3, run)


@on_cuda
def test_bayesian_neural_net_by_bbvi(monkeypatch, device):
    L = ex4.TG

    def run():
        objective, predictions, init, trained, trace = ex4.bnn_program(L, num_iters=10)
        return [init, trained, trace, L.grad(objective)(trained)]

    init, trained, trace, g = _both_runs(monkeypatch, device, ex4, run)
    assert trace[-1] < trace[0]


@on_cuda
def test_black_box_svi_on_a_banana(monkeypatch, device):
    L = ex4.TG

    def run():
        objective, init, trained, trace = ex4.banana_svi_program(L, num_samples=50,
                                                                 num_iters=20)
        return [trained, trace]

    _both_runs(monkeypatch, device, ex4, run)


@on_cuda
def test_default_device_is_restored_after_a_failing_run(device):
    with pytest.raises(RuntimeError, match="program failed"):
        with default_device(device):
            assert on(tnp.zeros(2), device)
            raise RuntimeError("program failed")
    assert tg.get_default_device() == "cpu" and on(tnp.zeros(2), "cpu")


# ---- fixes found by running the programs this way ------------------------------------------
@on_cuda
def test_regression_full_like_tri_geomspace_follow_the_default_device(device):
    """``np.full``, ``np.zeros_like``/``ones_like``/``full_like`` of host data or a list,
    ``np.tri`` and ``np.geomspace`` made host arrays under a cuda default (CuPy's and JAX's
    ``*_like`` of host data give device arrays); a Tensor's like stays where the Tensor is."""
    host_x = onp.arange(3.0)
    made = {
        "full": (lambda: tnp.full(3, 1.5), onp.full(3, 1.5)),
        "zeros_like": (lambda: tnp.zeros_like(host_x), onp.zeros(3)),
        "ones_like": (lambda: tnp.ones_like([1.0, 2.0]), onp.ones(2)),
        "full_like": (lambda: tnp.full_like(host_x, 2.0), onp.full(3, 2.0)),
        "tri": (lambda: tnp.tri(3, k=-1), onp.tri(3, k=-1)),
        "geomspace": (lambda: tnp.geomspace(1.0, 100.0, 3), onp.array([1.0, 10.0, 100.0])),
    }
    for name, (make, expected) in made.items():
        assert on(make(), "cpu"), name
        with default_device(device):
            out = make()
        assert on(out, device), name
        onp.testing.assert_allclose(host(out), expected, rtol=1e-15, err_msg=name)
    with default_device(device):
        t = tg.tensor(host_x, device="cpu")  # a Tensor made on the CPU keeps its device
        like = tnp.zeros_like(t)
        assert isinstance(like, tg.Tensor) and like.device == "cpu"
        g = tg.grad(lambda v: tnp.sum(tnp.full_like(v, 2.0) * v))(host_x)
    assert on(g, device)
    onp.testing.assert_allclose(host(g), onp.full(3, 2.0))


@on_cuda
def test_regression_host_constants_meet_device_data_in_dot_einsum_concatenate(device):
    """A program's host constant (plain NumPy) meeting device data in ``np.dot``,
    ``np.einsum``, ``np.concatenate``/``np.hstack`` was handed to CuPy, which refuses NumPy
    operands; under a default device it is moved first, as the ops move it."""
    A, v = onp.array([[1.0, 2.0], [3.0, 4.0]]), onp.array([0.5, -1.0])
    with default_device(device):
        dv = tnp.array(v)
        out = [tnp.dot(A, dv), tnp.einsum("ij,j->i", A, dv), tnp.concatenate([v, dv]),
               tnp.hstack([dv, v])]
    expected = [A @ v, A @ v, onp.r_[v, v], onp.r_[v, v]]
    for o, e in zip(out, expected):
        assert on(o, device)
        onp.testing.assert_allclose(host(o), e, rtol=1e-15)
    with pytest.raises(TypeError):  # without a default device CuPy's refusal stands
        tnp.dot(A, _device_array(v, device))


def _device_array(x, device):
    from tensorgrad.backend.device import Device

    return Device(device).put(x)


@on_cuda
def test_seeded_draws_agree_between_cpu_and_cuda_runs(device):
    """npr's draws under a cuda default are NumPy's stream moved: same seed, same numbers."""
    def draws():
        tnpr.seed(3)
        rs = tnpr.RandomState(7)
        return [tnpr.randn(4), rs.randn(2, 3), rs.uniform(-1, 1, size=3), tnpr.permutation(5)]

    cpu = draws()
    with default_device(device):
        gpu = draws()
    for a, b in zip(gpu, cpu):
        assert on(a, device) and on(b, "cpu")
        onp.testing.assert_array_equal(host(a), b)


@on_cuda
def test_regression_shuffle_of_a_device_array_permutes_it(device):
    """``npr.shuffle(x)`` of a device array ran NumPy's shuffle, whose row swaps through views
    left duplicated rows on a CuPy array; it now permutes on the device, in the order NumPy
    gives the same seed, for the module's and RandomState's shuffle."""
    def shuffled(make):
        x, y = make(onp.arange(10.0)), make(onp.arange(12.0).reshape(6, 2))
        tnpr.seed(0)
        tnpr.shuffle(x)
        tnpr.RandomState(1).shuffle(y)
        return x, y

    cpu = shuffled(lambda a: a)
    with default_device(device):
        gpu = shuffled(tnp.array)
    for a, b in zip(gpu, cpu):
        assert on(a, device)
        onp.testing.assert_array_equal(host(a), b)
    assert sorted(host(gpu[0])) == list(range(10)) and not (host(gpu[0]) == onp.arange(10)).all()
