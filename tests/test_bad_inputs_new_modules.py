"""Bad input to the modules added last: scipy.optimize, sparse COO tensors, the profiler,
SummaryWriter, tg.jit and tg.backends.

Each test makes one mistake a user makes and checks the error: its type (SciPy's or PyTorch's
for the same mistake, checked against them where they are installed), a message that names the
function, the argument and the shapes or values, and that nothing was changed or created on the
way (a sparse tensor, a writer's directory, a global switch).
"""

import os

import numpy as np
import pytest
from devices import host, put, tensor_on

import tensorgrad as tg
import tensorgrad.numpy as tnp
from tensorgrad.profiler import ProfilerActivity, profile, schedule
from tensorgrad.scipy import optimize as opt
from tensorgrad.utils.tensorboard import SummaryWriter


def _sq(x, a):
    return tnp.sum((x - a) ** 2)


def _a(device):
    return tensor_on(np.array([1.0, 2.0]), device)


# ---- minimize ---------------------------------------------------------------------------------
@pytest.mark.parametrize("x0", [None, "abc", b"ab"], ids=["None", "str", "bytes"])
def test_minimize_x0_not_numbers(device, x0):
    # before: None ran and returned NaN "NaN result encountered"; a str gave NumPy's
    # "could not convert string to float"
    with pytest.raises(TypeError, match=r"minimize: x0 must be a number, a 1-D array or a "
                                        r"Tensor, got (NoneType|str|bytes)"):
        opt.minimize(_sq, x0, args=(_a(device),))


def test_minimize_x0_empty(device):
    with pytest.raises(ValueError, match=r"minimize: x0 has no entries \(shape \(0,\)\)"):
        opt.minimize(lambda x: tnp.sum(x), put(np.zeros(0), device))


def test_root_x0_of_strings():
    with pytest.raises(TypeError, match=r"root: x0 must hold numbers, got ndarray of shape "
                                        r"\(2,\) and dtype <U1"):
        opt.root(lambda x: x, np.array(["a", "b"]))


def test_minimize_fun_not_scalar(device):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    with pytest.raises(ValueError):  # SciPy's type for the same mistake
        scipy_optimize.minimize(lambda x: x ** 2, np.zeros(3))
    # before: "grad: the function must return a scalar" (with Tensor args prefixed by the
    # internal primitive's name "_solution:")
    for args in ((), (_a(device)[0],)):
        with pytest.raises(ValueError, match=r"minimize: fun must return a scalar, got shape "
                                             r"\(3,\) at x0 of shape \(3,\)"):
            opt.minimize(lambda x, *a: (x - sum(a)) ** 2, put(np.zeros(3), device), args=args)


@pytest.mark.parametrize("value", [None, "loss"], ids=["None", "str"])
def test_minimize_fun_returns_no_number(device, value):
    # before: "float() argument must be ... not 'NoneType'" from inside the solver
    with pytest.raises(TypeError, match=r"minimize: fun must return a number, an array or a "
                                        r"Tensor, got (NoneType|str)"):
        opt.minimize(lambda x: value, put(np.zeros(2), device))


def test_minimize_fun_not_callable(device):
    with pytest.raises(TypeError, match="minimize: fun must be callable, got int"):
        opt.minimize(3, put(np.zeros(2), device))


def test_minimize_jac_true_needs_a_pair(device):
    # before: IndexError "invalid index to scalar variable" from inside the primitive
    with pytest.raises(TypeError, match=r"minimize: with jac=True, fun must return \(value, "
                                        r"gradient\), got"):
        opt.minimize(_sq, put(np.zeros(2), device), args=(_a(device),), jac=True)


def test_minimize_unknown_method(device):
    # before: "_solution: Unknown solver bogus (arguments: ...)", or AttributeError for an int
    with pytest.raises(ValueError, match=r"minimize: unknown method 'bogus'; SciPy's are "
                                         r"nelder-mead, .*bfgs"):
        opt.minimize(_sq, put(np.zeros(2), device), args=(_a(device),), method="bogus")
    with pytest.raises(TypeError, match="minimize: method must be a str, got int"):
        opt.minimize(_sq, put(np.zeros(2), device), args=(_a(device),), method=3)


def test_minimize_bounds_that_do_not_fit(device):
    x0 = put(np.zeros(2), device)
    # before: with plain args SciPy silently stretched one pair over both components; with
    # Tensor args the same call raised: now both raise before any solve
    for args in ((np.array([1.0, 2.0]),), (_a(device),)):
        with pytest.raises(ValueError, match=r"minimize: bounds must have one \(low, high\) "
                                             r"pair per component, got 1 for x0 of shape \(2,\)"):
            opt.minimize(_sq, x0, args=args, bounds=[(0, 1)])
    with pytest.raises(TypeError, match=r"minimize: bounds\[0\] must be a \(low, high\) pair "
                                        r"of numbers or None, got \(0,\)"):
        opt.minimize(_sq, x0, args=(_a(device),), bounds=[(0,), (0, 1)])
    with pytest.raises(ValueError, match=r"minimize: bounds\[1\] has its low end above its "
                                         r"high end"):
        opt.minimize(_sq, x0, args=(_a(device),), bounds=[(0, 1), (3, 2)])


def test_minimize_error_inside_fun_names_the_call(device):
    # x0 of length 3 against a parameter of length 2: the broadcasting error is fun's own (as
    # in SciPy), raised before the solve with a note saying where it came from
    with pytest.raises(ValueError, match="broadcast") as info:
        opt.minimize(_sq, put(np.zeros(3), device), args=(_a(device),))
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "minimize: raised by fun at the starting point x0" in notes
    assert "shape (3,)" in notes and "shape (2,)" in notes


def test_minimize_nan_value_is_a_failure_not_an_answer(device):
    a = _a(device)
    res = opt.minimize(lambda x, a: tnp.sum(x * a) * np.nan, put(np.zeros(2), device),
                       args=(a,))
    # SciPy's status and message on the host; tensorgrad's BFGS says the same on a GPU
    # (before: it searched down to a step of 1e-12 and reported "precision loss")
    assert not res.success and res.status == 3 and "NaN" in res.message


@pytest.mark.parametrize("where", ["x0_on_device", "args_on_device"])
def test_minimize_x0_and_args_on_different_devices(device, where):
    # before (x0 on cuda, a CPU Tensor parameter): the solve worked, then res.fun raised
    # "subtract: expected all arguments on the same device"
    leaf = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    a, x0 = leaf, np.zeros(2)
    if where == "x0_on_device":
        x0 = put(x0, device)
    else:
        a = leaf.to(device)
    res = opt.minimize(_sq, x0, args=(a,))
    np.testing.assert_allclose(host(res.x), [1.0, 2.0], atol=1e-6)
    assert abs(float(host(res.fun))) < 1e-10
    (res.x.sum() + res.fun).backward()  # dx*/da = I; dfun/da = 0 at the minimum
    np.testing.assert_allclose(host(leaf.grad), [1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_minimize_integer_or_float32_x0_with_float64_args(device, dtype):
    res = opt.minimize(_sq, put(np.zeros(2, dtype=dtype), device), args=(_a(device),))
    np.testing.assert_allclose(host(res.x), [1.0, 2.0], atol=1e-4)


# ---- root and fsolve ----------------------------------------------------------------------------
def test_root_fun_returns_the_wrong_number_of_values(device):
    # before, on the host: SciPy's TypeError naming its internal '_wrapped_fun', prefixed by
    # "_solution:"; now the same ValueError as the GPU path always gave
    t = tensor_on(np.array(0.5), device)
    for call in (lambda: opt.root(lambda x, t: x[:2] * t, put(np.zeros(3), device), args=(t,)),
                 lambda: opt.root(lambda x: x[:2], put(np.zeros(3), device))):
        with pytest.raises(ValueError, match=r"root: fun must return as many values as x has, "
                                             r"got shape \(2,\) for x of shape \(3,\)"):
            call()
    with pytest.raises(ValueError, match=r"fsolve: fun must return as many values as x has"):
        opt.fsolve(lambda x: x[:2], put(np.zeros(3), device))


def test_root_unknown_method(device):
    with pytest.raises(ValueError, match=r"root: unknown method 'bogus'; SciPy's are hybr"):
        opt.root(lambda x: x - 1, put(np.zeros(2), device), method="bogus")


def test_root_singular_jacobian_is_a_failure(device):
    # fun does not depend on x: no root. SciPy's hybr reports failure; tensorgrad's Newton on
    # a GPU did raise "_solution: Singular matrix" from the linear solve
    c = tensor_on(np.array([1.0, 2.0]), device)
    res = opt.root(lambda x, c: x * 0 + c, put(np.ones(2), device), args=(c,))
    assert not res.success


# ---- scalar solvers -----------------------------------------------------------------------------
def _parabola(t, c):
    return t * t - c


def test_brentq_bracket_without_sign_change(device):
    # before: "_solution: f(a) and f(b) must have different signs (arguments: ...)", no values
    c = tensor_on(np.array(2.0), device)
    with pytest.raises(ValueError, match=r"brentq: f\(a\) and f\(b\) must have different "
                                         r"signs, got f\(0.0\) = -2.0 and f\(1.0\) = -1.0"):
        opt.brentq(_parabola, 0.0, 1.0, args=(c,))


@pytest.mark.parametrize("a", [None, "0"], ids=["None", "str"])
def test_brentq_bracket_ends_not_numbers(a):
    # before: SciPy's RuntimeError "Unable to parse arguments"
    with pytest.raises(TypeError, match=r"brentq: bracket\[0\] must be a real number, got "
                                        r"(NoneType|str)"):
        opt.brentq(_parabola, a, 2.0, args=(2.0,))


def test_root_scalar_bracket_of_the_wrong_length():
    # before: (0, 1, 2) was silently cut to (0, 1)
    with pytest.raises(ValueError, match=r"root_scalar: bracket must have 2 numbers, got 3"):
        opt.root_scalar(_parabola, args=(2.0,), bracket=(0, 1, 2))
    with pytest.raises(TypeError, match="root_scalar: bracket must be a sequence of 2 numbers, "
                                        "got str"):
        opt.root_scalar(_parabola, args=(2.0,), bracket="ab")


def test_scalar_solvers_f_not_scalar(device):
    # before: "_solution: cannot reshape array of size 2 into shape (1,)"
    c = tensor_on(np.array(2.0), device)

    def f(t, c):
        return tnp.stack([t, t]) - c

    with pytest.raises(ValueError, match=r"brentq: f must return a scalar, got shape \(2,\)"):
        opt.brentq(f, 0.0, 2.0, args=(c,))
    with pytest.raises(ValueError, match=r"newton: f must return a scalar, got shape \(2,\)"):
        opt.newton(f, 1.0, args=(c,))
    with pytest.raises(ValueError, match=r"minimize_scalar: fun must return a scalar, got "
                                         r"shape \(2,\)"):
        opt.minimize_scalar(f, args=(c,))


def test_scalar_root_nan_value(device):
    # before: brentq returned 0.0 and newton NaN, both as converged roots
    c = tensor_on(np.array(2.0), device)
    with pytest.raises(ValueError, match=r"brentq: f returned NaN at x = 0.0"):
        opt.brentq(lambda t, c: t * np.nan + c, 0.0, 2.0, args=(c,))
    with pytest.raises(ValueError, match=r"newton: f returned NaN at x = 1.0"):
        opt.newton(lambda t, c: t * np.nan + c, 1.0, args=(c,))


def test_newton_x0_not_a_single_number():
    # before: "only 0-dimensional arrays can be converted to Python scalars"
    with pytest.raises(ValueError, match=r"newton: x0 must be a single number, got shape "
                                         r"\(2,\)"):
        opt.newton(_parabola, np.array([1.0, 2.0]), args=(2.0,))
    with pytest.raises(TypeError, match="newton: x0 must be a number, got None"):
        opt.newton(_parabola, None, args=(2.0,))
    with pytest.raises(TypeError, match="root_scalar: x0 must be a real number, got str"):
        opt.root_scalar(_parabola, args=(2.0,), x0="1")


def test_newton_zero_derivative_raises_as_scipy(device):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    with pytest.raises(RuntimeError):  # SciPy's newton, disp=True
        scipy_optimize.newton(lambda t: t * 0 + 2.0, 1.0)
    # before: 1.0 came back as the root of a function without one
    c = tensor_on(np.array(2.0), device)
    with pytest.raises(RuntimeError, match=r"newton: failed to converge after 1 iterations"):
        opt.newton(lambda t, c: t * 0 + c, 1.0, args=(c,))
    assert float(host(opt.newton(lambda t, c: t * 0 + c, 1.0, args=(c,), disp=False))) == 1.0


def test_minimize_scalar_bad_bounds():
    def f(t, c):
        return (t - c) ** 2

    with pytest.raises(ValueError, match=r"minimize_scalar: bounds must have 2 numbers, got 3"):
        opt.minimize_scalar(f, bounds=(0, 1, 2), args=(2.0,))
    # before: NumPy's "ufunc 'isfinite' not supported for the input types"
    with pytest.raises(TypeError, match="minimize_scalar: bounds must be a sequence of 2 "
                                        "numbers, got str"):
        opt.minimize_scalar(f, bounds="ab", args=(2.0,))
    with pytest.raises(ValueError, match=r"minimize_scalar: bounds \(3.0, 1.0\): the lower "
                                         r"bound exceeds the upper one"):
        opt.minimize_scalar(f, bounds=(3, 1), args=(2.0,))


def test_scalar_solvers_unknown_method():
    with pytest.raises(ValueError, match="root_scalar: unknown method 'bogus'; SciPy's are "
                                         "bisect"):
        opt.root_scalar(_parabola, args=(2.0,), x0=1.0, method="bogus")
    with pytest.raises(ValueError, match="minimize_scalar: unknown method 'bogus'; SciPy's are "
                                         "brent"):
        opt.minimize_scalar(_parabola, args=(2.0,), method="bogus")


# ---- sparse COO tensors -------------------------------------------------------------------------
def _sparse(device):
    i = put(np.array([[0, 1, 1], [2, 0, 2]]), device)
    return tg.sparse_coo_tensor(i, tensor_on(np.array([3.0, 4.0, 5.0]), device), (2, 3))


def _same(s, indices, values):
    np.testing.assert_array_equal(host(s._indices()), indices)
    np.testing.assert_array_equal(host(s._values()), values)
    assert s._plan is None


@pytest.mark.parametrize("size", ["ab", (2, None), (2.5, 3)], ids=["str", "None", "float"])
def test_sparse_size_not_ints(size):
    # before: int()'s own "invalid literal for int() with base 10: 'a'" and friends
    with pytest.raises(TypeError, match="sparse_coo_tensor\\(\\): size must be a sequence of "
                                        "ints"):
        tg.sparse_coo_tensor([[0, 1]], [1.0, 2.0], size)


def test_sparse_uint64_indices_beyond_int64():
    # before: the index wrapped round to -9223372036854775803 in the message
    with pytest.raises(IndexError, match="sparse_coo_tensor\\(\\): indices hold "
                                         "9223372036854775813"):
        tg.sparse_coo_tensor(np.array([[2 ** 63 + 5]], np.uint64), [1.0], (3,))


@pytest.mark.parametrize("indices, exc, match", [
    ([[0, 1, 1], [2, 0, 3]], IndexError, r"indices\[1\] holds 3, out of range for size "
                                         r"\(2, 3\) \(dim 1 has size 3\)"),
    ([[0, -1, 1], [2, 0, 2]], IndexError, r"indices\[0\] holds -1"),
    ([[0.0, 1.0, 1.0], [2.0, 0.0, 2.0]], TypeError, "indices must be an integer tensor, got "
                                                    "dtype float64"),
    ([0, 1, 1], ValueError, r"indices must be 2-D, \(sparse_dim, nnz\), got shape \(3,\)"),
    ([[[0, 1, 1]]], ValueError, r"indices must be 2-D, \(sparse_dim, nnz\), got shape "
                                r"\(1, 1, 3\)"),
], ids=["too_large", "negative", "float", "1-D", "3-D"])
def test_sparse_indices_refused(device, indices, exc, match):
    with pytest.raises(exc, match="sparse_coo_tensor\\(\\): " + match):
        tg.sparse_coo_tensor(put(np.array(indices), device),
                             tensor_on(np.array([3.0, 4.0, 5.0]), device), (2, 3))


@pytest.mark.parametrize("shape, what", [
    ((3, 2, 2), r"mat2 must be 1-D or 2-D, got 3-D"),
    ((), r"mat2 must be 1-D or 2-D, got 0-D"),
    ((4, 2), r"the inner dimensions differ \(4 and 3\)"),
], ids=["3-D", "0-D", "inner"])
def test_sparse_matmul_dense_of_the_wrong_shape(device, shape, what):
    s = _sparse(device)
    d = tensor_on(np.ones(shape), device)
    for call, op in ((lambda: s @ d, "matmul"), (lambda: tg.sparse.mm(s, d), "sparse.mm")):
        with pytest.raises(RuntimeError, match=rf"{op}\(\): sparse mat1 of shape \(2, 3\) @ "
                                               rf"dense mat2 of shape {re_shape(shape)}: {what}"):
            call()
    _same(s, [[0, 1, 1], [2, 0, 2]], [3.0, 4.0, 5.0])


def re_shape(shape):
    return "\\(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + "\\)"


def test_dense_matmul_sparse_batched_is_not_supported(device):
    # PyTorch broadcasts a batch of dense matrices over the sparse one; tensorgrad says it does
    # not (before: "sparse mat1 of shape (3, 2) @ dense mat2 of shape (2, 2, 2)")
    s = _sparse(device)
    with pytest.raises(tg.sparse.SparseLayoutError, match=r"matmul\(\): dense input of shape "
                                                          r"\(2, 2, 2\) @ sparse other of "
                                                          r"shape \(2, 3\): a batched"):
        tensor_on(np.ones((2, 2, 2)), device) @ s
    assert issubclass(tg.sparse.SparseLayoutError, RuntimeError)  # NotImplementedError is one


@pytest.mark.parametrize("shape, what", [
    ((2, 4), r"the inner dimensions differ \(4 and 2\)"),
    ((), r"the dense operand must be 1-D or 2-D, got 0-D"),
], ids=["inner", "0-D"])
def test_dense_matmul_sparse_is_described_as_written(device, shape, what):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):  # PyTorch's type for the same product
        torch.ones(shape) @ torch.ones(2, 3).to_sparse()
    # before: the error described the transposed product s.t() @ d.T (or, for a 0-d operand,
    # "transpose: axis 1 is out of range")
    s = _sparse(device)
    with pytest.raises(RuntimeError, match=rf"matmul\(\): dense input of shape "
                                           rf"{re_shape(shape)} @ sparse other of shape "
                                           rf"\(2, 3\): {what}"):
        tensor_on(np.ones(shape), device) @ s


def test_sparse_addmm_mat_that_does_not_broadcast(device):
    # before: "add: operands could not be broadcast together ..." (ValueError, naming add)
    s = _sparse(device)
    with pytest.raises(RuntimeError, match=r"sparse.addmm\(\): mat of shape \(5, 5\) does not "
                                           r"broadcast to the product's shape \(2, 2\)"):
        tg.sparse.addmm(tensor_on(np.ones((5, 5)), device), s, tensor_on(np.ones((3, 2)),
                                                                          device))


def test_sparse_dim_not_an_int(device):
    # before: IndexError "dim 'a' is out of range"; PyTorch raises TypeError
    s = _sparse(device)
    with pytest.raises(TypeError, match=r"sparse.sum\(\): dim must be an int, got str 'a'"):
        tg.sparse.sum(s, "a")
    with pytest.raises(TypeError, match=r"transpose\(\): dim must be an int, got float"):
        s.transpose(0, 1.0)


def test_sparse_divided_by_a_string(device):
    # before: "divide: ufunc 'divide' not supported for the input types ..."
    s = _sparse(device)
    with pytest.raises(TypeError, match=r"div\(\): a sparse tensor of shape \(2, 3\) can be "
                                        r"divided by a number or a 0-d tensor only, not a str"):
        s / "ab"
    _same(s, [[0, 1, 1], [2, 0, 2]], [3.0, 4.0, 5.0])


def test_sparse_nan_values_propagate_as_in_torch(device):
    torch = pytest.importorskip("torch")
    i = np.array([[0, 1, 1], [2, 0, 2]])
    v = np.array([np.nan, 4.0, 5.0])
    s = tg.sparse_coo_tensor(put(i, device), tensor_on(v, device), (2, 3))
    ours = host(s @ tensor_on(np.ones((3, 2)), device))
    theirs = (torch.sparse_coo_tensor(torch.tensor(i), torch.tensor(v), (2, 3))
              @ torch.ones(3, 2, dtype=torch.float64)).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours[1], theirs[1])


# ---- profiler -----------------------------------------------------------------------------------
def test_profiler_table_bad_arguments():
    with profile() as prof:
        tg.ones(2) * 2
    averages = prof.key_averages()
    with pytest.raises(ValueError, match="table: cannot sort by 'bogus'; use one of cpu_time"):
        averages.table(sort_by="bogus")
    # before: "'>=' not supported between instances of 'str' and 'int'"
    with pytest.raises(TypeError, match="table: row_limit must be an int .* got str 'a'"):
        averages.table(row_limit="a")
    assert "tensorgrad::multiply" in averages.table(row_limit=-1)


def test_profiler_used_in_the_wrong_state():
    prof = profile(schedule=schedule(wait=0, warmup=1, active=1))
    with pytest.raises(RuntimeError, match="profile.step: the profiler is not running"):
        prof.step()
    with pytest.raises(RuntimeError, match="key_averages: the profiler has no results yet"):
        prof.key_averages()
    with pytest.raises(RuntimeError, match="table: the profiler has no results yet"):
        tg.autograd.profiler.profile().table()


def test_profile_activities_given_as_one_value():
    # before: "'ProfilerActivity' object is not iterable"
    with pytest.raises(TypeError, match=r"profile: activities must be a list of "
                                        r"ProfilerActivity values \(e.g. \[ProfilerActivity.CPU"):
        profile(activities=ProfilerActivity.CPU)
    with profile(activities=[ProfilerActivity.CPU]) as prof:  # nothing was left claimed
        tg.ones(2) + 1
    assert any(e.key == "tensorgrad::add" for e in prof.key_averages())


def test_schedule_arguments_not_ints():
    # before: "'<' not supported between instances of 'str' and 'int'"
    with pytest.raises(TypeError, match="schedule: wait must be an int, got str 'a'"):
        schedule(wait="a", warmup=1, active=1)
    with pytest.raises(TypeError, match="schedule: active must be an int, got float 1.5"):
        schedule(wait=0, warmup=1, active=1.5)


# ---- SummaryWriter ------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    ({"max_queue": "x"}, "SummaryWriter: max_queue must be a number, got str 'x'"),
    ({"flush_secs": "x"}, "SummaryWriter: flush_secs must be a number, got str 'x'"),
    ({"purge_step": "x"}, "SummaryWriter: global_step must be an integer"),
], ids=["max_queue", "flush_secs", "purge_step"])
def test_summary_writer_bad_settings_create_nothing(tmp_path, kw, match):
    # before: the event file was created (and left open, empty) before int(max_queue) failed
    run = tmp_path / "run"
    with pytest.raises(TypeError, match=match):
        SummaryWriter(str(run), **kw)
    assert not run.exists()


def test_summary_writer_log_dir_not_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match="SummaryWriter: log_dir must be a str or a path, got "
                                        "int"):
        SummaryWriter(3)
    assert os.listdir(tmp_path) == []


def test_add_histogram_max_bins(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        # before: ZeroDivisionError / "'>' not supported between 'int' and 'str'"
        with pytest.raises(ValueError, match="add_histogram: max_bins must be at least 1, "
                                             "got 0"):
            w.add_histogram("h", np.arange(10.0), bins=5, max_bins=0)
        with pytest.raises(TypeError, match="add_histogram: max_bins must be an int"):
            w.add_histogram("h", np.arange(10.0), bins=5, max_bins="a")
        w.add_histogram("h", np.arange(10.0), bins=5, max_bins=2)


def test_summary_writer_values_and_state(device, tmp_path):
    w = SummaryWriter(str(tmp_path))
    with pytest.raises(ValueError, match=r"add_scalar: scalar_value must be a single number, "
                                         r"got shape \(3,\)"):
        w.add_scalar("loss", tensor_on(np.ones(3), device))
    with pytest.raises(ValueError, match=r"add_image: dataformats='XYZ' must order the letters "
                                         r"HW, CHW or NCHW \(image of shape \(3, 4, 4\)\)"):
        w.add_image("img", tensor_on(np.zeros((3, 4, 4)), device), dataformats="XYZ")
    w.add_scalar("loss", tensor_on(np.ones(1), device))
    w.close()
    before = set(os.listdir(tmp_path))
    # as PyTorch's: a writer used after close() opens a new event file rather than failing
    w.add_scalar("loss", 2.0, 1)
    w.close()
    assert len(set(os.listdir(tmp_path)) - before) == 1


# ---- tg.jit and tg.backends ---------------------------------------------------------------------
def test_jit_wait_needs_a_future():
    with pytest.raises(TypeError, match="tg.jit.wait: expects the Future that tg.jit.fork "
                                        "returned, got int"):
        tg.jit.wait(3)
    assert tg.jit.wait(tg.jit.fork(lambda: 5)) == 5


def test_set_fusion_strategy_bad_input_keeps_the_old_one():
    old = tg.jit.set_fusion_strategy([("STATIC", 3)])
    try:
        with pytest.raises(TypeError, match="set_fusion_strategy: strategy must be a list"):
            tg.jit.set_fusion_strategy(3)
        with pytest.raises(ValueError, match=r"each entry must be \('STATIC', n\)"):
            tg.jit.set_fusion_strategy([("STATIC", 2), ("FAST", 1)])
        assert tg.jit.set_fusion_strategy([("STATIC", 3)]) == [("STATIC", 3)]
    finally:
        tg.jit.set_fusion_strategy(old)


def test_allow_tf32_needs_a_bool():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):  # PyTorch's type for the same mistake
        torch.backends.cuda.matmul.allow_tf32 = "no"
    before = tg.backends.cuda.matmul.allow_tf32
    # before: "no" was truthy and switched TF32 on
    with pytest.raises(RuntimeError, match="backends.cuda.matmul.allow_tf32 must be set to a "
                                           "bool, got str 'no'"):
        tg.backends.cuda.matmul.allow_tf32 = "no"
    assert tg.backends.cuda.matmul.allow_tf32 is before
