"""tensorgrad.library: PyTorch's torch.library (custom operators) on tensorgrad, each behaviour
compared with PyTorch's: the same operator is defined in both libraries with NumPy kernels, and
values, gradients, schemas, errors and opcheck's reports are compared; gradients also against
finite differences (gradcheck, gradgradcheck) in float64. Every test names its own operator
namespace: both libraries' registries live as long as the process."""

import warnings
import weakref
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np
import pytest
from devices import cyclic_garbage, host, on, put, torch_oracle

import tensorgrad as tg
import tensorgrad.library as L
from tensorgrad.backend.device import xp_of


@pytest.fixture(scope="module")
def torch():
    return torch_oracle()


def _both(torch, build):
    """``build(M)`` run with M = tensorgrad and with M = torch: (ours, theirs)."""
    return build(tg), build(torch)


def _np(x):
    return x.detach().numpy()


def _f64(M, a, requires_grad=False):
    return M.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def _message(fn):
    with pytest.raises(Exception) as info:
        fn()
    return info.type, str(info.value)


# ---- schemas ------------------------------------------------------------------------------
# each signature is written once, with T for the tensor type, D for the dtype type, V for the
# device type and F32 / CPU for default values of those (the libraries' own)
SIGNATURES = [
    ("x: T, y: Optional[T], z: list[T], a: int, b: float, c: bool, d: str, e: Sequence[int]",
     "T", ()),
    ("x: T, n: int = 3, *, scale: float = 1.0, flag: bool = False, name: str = 'a', "
     "o: Optional[int] = None", "tuple[T, T]", ()),
    ("x: T, out: T", "None", ("out",)),
    ("x: T, out: T", "None", "unknown"),
    ("x: T, y: Optional[T], z: list[T]", "T", ("y", "z")),
    ("x: T, y: list[Optional[T]], z: Optional[list[int]], q: Optional[float] = 1.5, "
     "w: Optional[bool] = True, s: Optional[str] = None", "T", ()),
    ("x: T, a: float = -1e-5, b: float = 1e20, c: float = 0.1, d: float = 1 / 3, "
     "e: float = float('inf'), g: float = 2, h: int = -2, i: bool = True", "T", ()),
    ("x: T, s: Union[int, float, bool], t: Optional[Union[int, float, bool]] = None, "
     "u: Sequence[Union[int, float, bool]] = None", "T", ()),
    ("x: T, d: D = F32, e: Optional[D] = None, v: V = CPU, w: Optional[V] = None", "T", ()),
    ("x: T, ls: list[float], lb: list[bool], li: list[int]", "list[T]", ()),
    ("x: T", "tuple[T, int, float, bool]", ()),
    ("x: T", "Union[int, float, bool]", ()),
    ("x: T, *, out: T", "None", ("out",)),
]


def _signature(M, params, ret):
    names = {"T": M.Tensor, "D": M.dtype, "V": M.device if M is not tg else tg.Device,
             "F32": M.float32, "CPU": M.device("cpu"), "Optional": Optional,
             "Sequence": Sequence, "Union": Union}
    scope = dict(names)
    exec(f"def f({params}) -> {ret}: ...", scope)
    return scope["f"]


@pytest.mark.parametrize("params,ret,mutates", SIGNATURES, ids=range(len(SIGNATURES)))
def test_infer_schema_matches_torch(torch, params, ret, mutates):
    ours = L.infer_schema(_signature(tg, params, ret), mutates_args=mutates)
    theirs = torch.library.infer_schema(_signature(torch, params, ret), mutates_args=mutates)
    assert ours == theirs
    named = L.infer_schema(_signature(tg, params, ret), mutates_args=mutates, op_name="ns::f")
    assert named == "ns::f" + theirs


BAD_SIGNATURES = [
    ("x, y: T", "T", (), "Parameter x must have a type annotation"),
    ("x: T, *args", "T", (), "positional-only args, varargs, or varkwargs"),
    ("x: T, **kw", "T", (), "positional-only args, varargs, or varkwargs"),
    ("x: T, y: tuple[int, ...]", "T", (), "We do not support Tuple inputs"),
    ("x: T, y: Optional[Sequence[T]]", "T", (), "Parameter y has unsupported type"),
    ("x: T, y: list[int] = [1, 2]", "T", (), "unsupported default value type"),
    ("x: T", "Optional[T]", (), "Return has unsupported type"),
    ("x: T", "str", (), "Return has unsupported type"),
    ("x: T, out: T", "None", ("y",), "{'y'} in mutates_args were not found"),
    ("x: T, n: int", "T", ("n",), "only Tensors or collections of Tensors can be mutated"),
]


@pytest.mark.parametrize("params,ret,mutates,phrase", BAD_SIGNATURES,
                         ids=range(len(BAD_SIGNATURES)))
def test_infer_schema_errors_match_torch(torch, params, ret, mutates, phrase):
    kind, ours = _message(lambda: L.infer_schema(_signature(tg, params, ret),
                                                 mutates_args=mutates))
    their_kind, theirs = _message(lambda: torch.library.infer_schema(
        _signature(torch, params, ret), mutates_args=mutates))
    assert kind is their_kind is ValueError
    assert phrase in ours and phrase in theirs
    assert ours.startswith("infer_schema(func): ")


def test_infer_schema_needs_a_return_annotation_and_names_in_mutates_args():
    def f(x: tg.Tensor):
        return x

    with pytest.raises(ValueError, match="No return type annotation was provided"):
        L.infer_schema(f, mutates_args=())
    with pytest.raises(TypeError, match="mutates_args"):
        L.infer_schema(lambda x: x, mutates_args=3)
    with pytest.raises(ValueError, match="mutates_args must be 'unknown'"):
        L.infer_schema(f, mutates_args="x")


def test_custom_op_name_and_arguments_errors(torch):
    def f(x: tg.Tensor) -> tg.Tensor:
        return x.clone()

    with pytest.raises(ValueError, match="namespace::name"):
        L.custom_op("noname", f, mutates_args=())
    with pytest.raises(ValueError, match="namespace::name"):
        L.custom_op("a::b::c", f, mutates_args=())
    with pytest.raises(ValueError, match="identifiers"):
        L.custom_op("my lib::f", f, mutates_args=())
    with pytest.raises(ValueError, match="reserved namespace"):
        L.custom_op("prim::f", f, mutates_args=())
    # mutates_args is required, as in PyTorch (the same TypeError)
    kind, ours = _message(lambda: L.custom_op("tgl_names::f", f))
    their_kind, theirs = _message(lambda: torch.library.custom_op("tgl_names::f", f))
    assert kind is their_kind is TypeError
    assert ours == theirs
    op = L.custom_op("tgl_names::f", f, mutates_args=())
    assert repr(op) == "<CustomOpDef(tgl_names::f)>"
    assert str(op._opoverload._schema) == "tgl_names::f(Tensor x) -> Tensor"


# ---- calls: binding, values, gradients ----------------------------------------------------
def _numpy_sin(M, name):
    """sin(x) * scale through NumPy, with a backward formula written with M's operations."""

    @M.library.custom_op(name, mutates_args=())
    def numpy_sin(x: M.Tensor, *, scale: float = 1.0) -> M.Tensor:
        return M.from_numpy(np.sin(_np(x)) * scale)

    def setup_context(ctx, inputs, keyword_only_inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.scale = keyword_only_inputs["scale"]

    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * x.cos() * ctx.scale

    numpy_sin.register_autograd(backward, setup_context=setup_context)
    return numpy_sin


def test_values_gradients_and_second_derivatives_match_torch(torch):
    ours, theirs = _both(torch, lambda M: _numpy_sin(M, "tgl_sin::numpy_sin"))
    data = np.array([0.3, -1.2, 2.5])
    results = []
    for M, op in ((tg, ours), (torch, theirs)):
        x = _f64(M, data, True)
        y = op(x, scale=2.0)
        assert y.requires_grad
        g, = M.autograd.grad(y.sum(), x, create_graph=True)
        gg, = M.autograd.grad((g * g).sum(), x)
        results.append((_np(y), _np(g), _np(gg)))
    for mine, ref in zip(*results):
        np.testing.assert_allclose(mine, ref, rtol=1e-12)
    np.testing.assert_allclose(results[0][1], 2 * np.cos(data), rtol=1e-12)


def test_gradcheck_and_gradgradcheck_in_float64():
    op = _numpy_sin(tg, "tgl_gradcheck::numpy_sin")
    x = _f64(tg, [0.1, 0.7, -2.0], True)
    assert tg.gradcheck(lambda x: op(x, scale=0.5), (x,))
    assert tg.autograd.gradgradcheck(lambda x: op(x, scale=0.5), (x,))
    # the transforms see it too: tg.func.grad and the autograd-style tg.grad (NumPy in, out)
    np.testing.assert_allclose(host(tg.func.grad(lambda x: op(x).sum())(x.detach())),
                               np.cos([0.1, 0.7, -2.0]))
    np.testing.assert_allclose(tg.grad(lambda x: op(x).sum())(np.array([0.1, 0.7])),
                               np.cos([0.1, 0.7]))


def test_kernel_runs_below_autograd_as_in_torch(torch):
    def build(M):
        seen = []

        @M.library.custom_op("tgl_below::f", mutates_args=())
        def f(x: M.Tensor) -> M.Tensor:
            seen.append((M.is_grad_enabled(), x.requires_grad))
            return x * 2

        return f, seen

    (ours, our_seen), (theirs, their_seen) = _both(torch, build)
    for M, op in ((tg, ours), (torch, theirs)):
        op(M.ones(2, requires_grad=True))
        op(M.ones(2))
    assert our_seen == their_seen == [(False, True), (True, False)]
    # the kernel's own operations are not recorded: the result's history is the op's node
    y = ours(tg.ones(2, requires_grad=True))
    assert "tgl_below::f" in repr(y.grad_fn)


def test_binding_errors_match_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_bind::f", mutates_args=())
        def f(x: M.Tensor, n: int) -> M.Tensor:
            return x * n

        return f

    ours, theirs = _both(torch, build)
    x_ours, x_theirs = tg.ones(2), torch.ones(2)
    cases = [
        lambda op, x: op(x),  # missing n
        lambda op, x: op(x, 2, 3),  # too many
        lambda op, x: op(x, 2.5),  # a float for an int
        lambda op, x: op(np.ones(2), 2),  # an array for a Tensor
    ]
    for case in cases:
        kind, mine = _message(lambda c=case: c(ours, x_ours))
        their_kind, ref = _message(lambda c=case: c(theirs, x_theirs))
        assert kind is their_kind is RuntimeError
        assert mine.splitlines()[0] == ref.splitlines()[0]
        assert "Declaration: tgl_bind::f(Tensor x, SymInt n) -> Tensor" in mine
    np.testing.assert_allclose(host(ours(x=x_ours, n=3)), _np(theirs(x=x_theirs, n=3)))
    with pytest.raises(TypeError, match="unexpected keyword argument 'm'"):
        ours(x_ours, m=2)


def test_optional_tensor_tuple_output_and_int_output_match_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_opt::f", mutates_args=())
        def f(x: M.Tensor, b: M.Tensor | None = None) -> tuple[M.Tensor, int]:
            y = M.from_numpy(_np(x) * 2 + (0 if b is None else _np(b)))
            return y, int(np.prod(x.shape))

        def setup_context(ctx, inputs, output):
            ctx.has_b = inputs[1] is not None
            ctx.n = output[1]

        def backward(ctx, g, g_n):
            assert g_n is None  # an int output gets no gradient
            return g * 2, (g * ctx.n if ctx.has_b else None)

        f.register_autograd(backward, setup_context=setup_context)
        return f

    ours, theirs = _both(torch, build)
    got = []
    for M, op in ((tg, ours), (torch, theirs)):
        x, b = _f64(M, [1.0, 2.0], True), _f64(M, [0.5, 0.25], True)
        y, n = op(x, b)
        y.sum().backward()
        y2, n2 = op(x)
        got.append((_np(y), n, _np(x.grad), _np(b.grad), _np(y2), n2))
    for mine, ref in zip(*got):
        np.testing.assert_allclose(mine, ref)


def test_lists_of_tensors_in_and_out_match_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_list::f", mutates_args=())
        def f(xs: list[M.Tensor], w: float) -> list[M.Tensor]:
            return [M.from_numpy(_np(t) * w) for t in xs]

        seen = []

        def setup_context(ctx, inputs, output):
            ctx.w = inputs[1]

        def backward(ctx, grads):
            seen.append(ctx.needs_input_grad)
            return [g * ctx.w for g in grads], None

        f.register_autograd(backward, setup_context=setup_context)
        return f, seen

    (ours, our_seen), (theirs, their_seen) = _both(torch, build)
    got = []
    for M, op in ((tg, ours), (torch, theirs)):
        a, b = _f64(M, [1.0, 2.0], True), _f64(M, [3.0, 4.0, 5.0])
        outs = op([a, b], 3.0)
        assert isinstance(outs, list) and len(outs) == 2
        (outs[0] * outs[0]).sum().backward()
        got.append((_np(outs[0]), _np(outs[1]), _np(a.grad), b.grad))
    assert got[0][3] is None and got[1][3] is None
    for mine, ref in zip(got[0][:3], got[1][:3]):
        np.testing.assert_allclose(mine, ref)
    assert our_seen == their_seen == [([True, False], False)]


def test_kernel_may_return_arrays_and_is_checked_against_the_schema():
    @L.custom_op("tgl_arrays::f", mutates_args=())
    def f(x: tg.Tensor) -> tuple[tg.Tensor, tg.Tensor]:
        return np.sin(x.numpy()), np.cos(x.numpy())

    s, c = f(tg.tensor([0.0]))
    assert isinstance(s, tg.Tensor) and isinstance(c, tg.Tensor)
    assert (s.item(), c.item()) == (0.0, 1.0)

    @L.custom_op("tgl_arrays::bad", mutates_args=())
    def bad(x: tg.Tensor) -> tg.Tensor:
        return 3

    with pytest.raises(RuntimeError, match=r"tgl_arrays::bad: the implementation returned a "
                                           r"int for output 0"):
        bad(tg.ones(1))

    @L.custom_op("tgl_arrays::short", mutates_args=())
    def short(x: tg.Tensor) -> tuple[tg.Tensor, tg.Tensor]:
        return x * 2

    with pytest.raises(RuntimeError, match="tuple of 2 outputs"):
        short(tg.ones(1))


# ---- autograd registration ----------------------------------------------------------------
def test_backward_without_registered_autograd_raises_as_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_noag::f", mutates_args=())
        def f(x: M.Tensor) -> M.Tensor:
            return M.from_numpy(np.sin(_np(x)))

        return f

    ours, theirs = _both(torch, build)
    y_ours, y_theirs = ours(tg.ones(2, requires_grad=True)), theirs(torch.ones(2,
                                                                          requires_grad=True))
    assert y_ours.requires_grad and y_theirs.requires_grad
    kind, mine = _message(lambda: y_ours.sum().backward())
    their_kind, ref = _message(lambda: y_theirs.sum().backward())
    assert kind is their_kind is RuntimeError
    assert mine == ref
    assert "tgl_noag.f.default" in mine and "register_autograd" in mine
    assert not ours(tg.ones(2)).requires_grad  # no input requires grad: a plain result


def test_backward_errors_name_the_op_and_the_argument():
    @L.custom_op("tgl_bwerr::f", mutates_args=())
    def f(x: tg.Tensor, y: tg.Tensor, n: int) -> tg.Tensor:
        return x + y * n

    x = tg.ones(2, requires_grad=True)
    f.register_autograd(lambda ctx, g: g)
    with pytest.raises(RuntimeError, match=r"tgl_bwerr::f: backward returned 1 gradient\(s\), "
                                           r"expected 3, one per input of the op \(x, y, n"):
        f(x, x, 2).sum().backward()
    f.register_autograd(lambda ctx, g: (g, g, g))
    with pytest.raises(RuntimeError, match=r"tgl_bwerr::f: backward returned a gradient for "
                                           r"argument 'n' \(2\).*not a Tensor"):
        f(x, x, 2).sum().backward()
    f.register_autograd(lambda ctx, g: (g, g[:1], None))
    with pytest.raises(RuntimeError, match=r"tgl_bwerr::f: backward returned a gradient of "
                                           r"shape \(1,\) for argument 'y', which has shape "
                                           r"\(2,\)"):
        f(x, x, 2).sum().backward()
    f.register_autograd(lambda ctx, g: (g, None, None))  # None: no gradient for y
    y = tg.ones(2, requires_grad=True)
    f(x, y, 2).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0] and y.grad is None
    with pytest.raises(TypeError, match="backward must be callable"):
        f.register_autograd(3)


def test_setup_context_is_called_with_torchs_keywords(torch):
    """keyword_only_inputs is passed when the op has keyword-only arguments, by keyword: a
    setup_context without it fails in both libraries."""

    def build(M):
        @M.library.custom_op("tgl_setup::f", mutates_args=())
        def f(x: M.Tensor, *, s: float) -> M.Tensor:
            return x * s

        f.register_autograd(lambda ctx, g: g, setup_context=lambda ctx, inputs, output: None)
        return f

    ours, theirs = _both(torch, build)
    kind, _ = _message(lambda: ours(tg.ones(1, requires_grad=True), s=2.0))
    their_kind, _ = _message(lambda: theirs(torch.ones(1, requires_grad=True), s=2.0))
    assert kind is their_kind is TypeError


def test_register_autograd_on_a_mutable_op_is_refused_as_in_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_mutag::f", mutates_args=("out",))
        def f(x: M.Tensor, out: M.Tensor) -> None:
            out.copy_(x)

        return f

    ours, theirs = _both(torch, build)
    kind, mine = _message(lambda: ours.register_autograd(lambda ctx, g: g))
    their_kind, ref = _message(lambda: theirs.register_autograd(lambda ctx, g: g))
    assert kind is their_kind is RuntimeError
    assert mine == ref


def test_forward_mode_through_a_custom_op_raises():
    op = _numpy_sin(tg, "tgl_fwd::numpy_sin")
    x = _f64(tg, [0.5])
    with pytest.raises(RuntimeError, match="tgl_fwd::numpy_sin: forward-mode AD"):
        tg.func.jvp(op, (x,), (tg.ones_like(x),))


def test_vmap_runs_the_op_per_example():
    op = _numpy_sin(tg, "tgl_vmap::numpy_sin")
    xs = np.linspace(-1, 1, 6).reshape(3, 2)
    np.testing.assert_allclose(host(tg.func.vmap(op)(tg.tensor(xs))), np.sin(xs), rtol=1e-6)


def test_no_reference_cycle_and_saved_inputs_freed_after_backward():
    op = _numpy_sin(tg, "tgl_cycles::numpy_sin")
    x = _f64(tg, [0.1, 0.2], True)
    with cyclic_garbage() as found:
        for _ in range(3):
            h = x * 2
            kept = weakref.ref(h.data)
            y = op(h)
            del h
            assert kept() is not None  # saved by setup_context
            y.sum().backward()
            assert kept() is None  # freed with the node's saves
            del y
    assert found == []


def test_aliasing_outputs_are_refused_as_in_torch(torch):
    def build(M):
        def same(x: M.Tensor) -> M.Tensor:
            return x

        def view(x: M.Tensor) -> M.Tensor:
            return x[:1]

        def twice(x: M.Tensor) -> tuple[M.Tensor, M.Tensor]:
            y = x * 2
            return y, y

        return [M.library.custom_op(f"tgl_alias::{f.__name__}", f, mutates_args=())
                for f in (same, view, twice)]

    ours, theirs = _both(torch, build)
    for mine, ref in zip(ours, theirs):
        kind, text = _message(lambda op=mine: op(tg.ones(2)))
        their_kind, their_text = _message(lambda op=ref: op(torch.ones(2)))
        assert kind is their_kind is RuntimeError
        assert "may not alias any inputs to this custom operator" in text
        assert text.split(" (with implementation")[0] == their_text.split(" (with impl")[0]
    # a clone is fine
    ok = L.custom_op("tgl_alias::ok", lambda x: x.clone(), mutates_args=(),
                     schema="(Tensor x) -> Tensor")
    assert ok(tg.ones(2)).tolist() == [1.0, 1.0]


# ---- kernels per device -------------------------------------------------------------------
def test_register_kernel_and_set_kernel_enabled_match_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_kernels::f", mutates_args=())
        def f(x: M.Tensor) -> M.Tensor:
            return M.zeros(1)

        results = [f(M.randn(3))]

        @f.register_kernel("cpu")
        def _(x):
            return M.ones(1)

        results.append(f(M.randn(3)))
        with f.set_kernel_enabled("cpu", enabled=False):
            results.append(f(M.randn(3)))
        results.append(f(M.randn(3)))
        return results

    ours, theirs = _both(torch, build)
    assert [r.tolist() for r in ours] == [r.tolist() for r in theirs] == [[0.], [1.], [0.],
                                                                           [1.]]


def test_set_kernel_enabled_warns_and_restores():
    @L.custom_op("tgl_enable::f", mutates_args=())
    def f(x: tg.Tensor) -> tg.Tensor:
        return x * 2

    with pytest.warns(UserWarning, match="no kernel was registered for this device type"):
        with f.set_kernel_enabled("cuda", False):
            pass
    f.register_kernel("cpu", lambda x: x * 3)
    with pytest.warns(UserWarning, match="already enabled"):
        with f.set_kernel_enabled("cpu", True):
            assert f(tg.ones(1)).item() == 3
    with f.set_kernel_enabled("cpu", False):
        assert f(tg.ones(1)).item() == 2
        f.register_kernel("cpu", lambda x: x * 4)  # registered while disabled: still disabled
        assert f(tg.ones(1)).item() == 2
    assert f(tg.ones(1)).item() == 4


def test_kernel_only_for_cuda_raises_on_cpu_as_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_cudaonly::f", mutates_args=(), device_types="cuda")
        def f(x: M.Tensor) -> M.Tensor:
            return x * 2

        return f

    ours, theirs = _both(torch, build)
    kind, mine = _message(lambda: ours(tg.ones(1)))
    their_kind, ref = _message(lambda: theirs(torch.ones(1)))
    assert kind is their_kind is NotImplementedError
    assert mine.startswith("Could not run 'tgl_cudaonly::f' with arguments from the 'CPU' "
                           "backend")
    assert ref.startswith("Could not run 'tgl_cudaonly::f' with arguments from the 'CPU' "
                          "backend")
    assert "register_kernel('cpu')" in mine
    with pytest.raises(RuntimeError, match="device type, got 'tpu'"):
        ours.register_kernel("tpu", lambda x: x)


def test_kernel_is_picked_by_the_device_of_the_tensors(device):
    @L.custom_op("tgl_device::scale", mutates_args=())
    def scale(x: tg.Tensor, k: float) -> tg.Tensor:
        return xp_of(x.data).multiply(x.data, k)  # any device: the array module of x

    scale.register_autograd(lambda ctx, g: (g * ctx.k, None),
                            setup_context=lambda ctx, inputs, output: setattr(ctx, "k",
                                                                              inputs[1]))
    x = tg.tensor(put(np.array([1.0, 2.0]), device), requires_grad=True)
    y = scale(x, 3.0)
    assert on(y, device)
    np.testing.assert_allclose(host(y), [3.0, 6.0])
    y.sum().backward()
    assert on(x.grad, device)
    np.testing.assert_allclose(host(x.grad), [3.0, 3.0])

    assert tg.gradcheck(lambda x: scale(x, 0.5), (x,))

    scale.register_kernel("cuda", lambda x, k: xp_of(x.data).multiply(x.data, 10 * k))
    expected = [30.0, 60.0] if device == "cuda" else [3.0, 6.0]
    np.testing.assert_allclose(host(scale(x, 3.0)), expected)


def test_ops_without_tensor_inputs_take_the_device_argument(device):
    @L.custom_op("tgl_nodevice::arange", mutates_args=())
    def arange(n: int, device: tg.Device) -> tg.Tensor:
        return tg.arange(n, device=device) * 1.0

    arange.register_kernel("cuda", lambda n, device: tg.arange(n, device=device) * 2.0)
    y = arange(3, tg.device(device))
    assert on(y, device)
    np.testing.assert_allclose(host(y), np.arange(3) * (2.0 if device == "cuda" else 1.0))

    @L.custom_op("tgl_nodevice::ones", mutates_args=())
    def ones(n: int) -> tg.Tensor:
        return tg.ones(n)

    assert ones(2).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="without tensor inputs are required to have a "
                                         "`device: tg.device` argument"):
        ones.register_kernel("cpu", lambda n: tg.ones(n))


# ---- mutation -----------------------------------------------------------------------------
def test_mutated_arguments_are_written_and_versioned_as_in_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_mut::sin_out", mutates_args=("out",))
        def sin_out(x: M.Tensor, out: M.Tensor) -> None:
            out.copy_(x.sin())

        @M.library.custom_op("tgl_mut::fill_raw", mutates_args=("out",))
        def fill_raw(out: M.Tensor) -> None:
            out.numpy()[:] = 5.0  # behind the library's back: only the declaration bumps

        @M.library.custom_op("tgl_mut::unknown", mutates_args="unknown")
        def unknown(x: M.Tensor, y: M.Tensor) -> None:
            y.numpy()[:] = 3.0

        @M.library.custom_op("tgl_mut::add_all", mutates_args=("ys",))
        def add_all(ys: list[M.Tensor]) -> None:
            for y in ys:
                y.add_(1)

        return sin_out, fill_raw, unknown, add_all

    got = []
    for M, (sin_out, fill_raw, unknown, add_all) in zip((tg, torch), _both(torch, build)):
        x, o = M.ones(2), M.zeros(2)
        assert sin_out(x, o) is None
        r = M.zeros(2)
        fill_raw(r)
        a, b = M.zeros(2), M.zeros(2)
        unknown(a, b)
        ys = [M.zeros(1), M.zeros(1)]
        add_all(ys)
        np.testing.assert_allclose(_np(o), np.sin([1.0, 1.0]), rtol=1e-6)
        got.append((o._version, _np(r).tolist(), r._version, x._version, a._version,
                    b._version, _np(b).tolist(), [y._version for y in ys]))
    assert got[0] == got[1]
    assert got[0][0] == 2  # the kernel's copy_, then the declaration
    sin_out = L.ops.tgl_mut.sin_out.default  # a declared write passes opcheck
    report = L.opcheck(sin_out, (_f64(tg, [1.0], True), _f64(tg, [0.0])))
    assert set(report.values()) == {"SUCCESS"}


def test_a_write_into_a_saved_tensor_is_caught_at_backward(torch):
    def build(M):
        @M.library.custom_op("tgl_mutsaved::add_one", mutates_args=("y",))
        def add_one(y: M.Tensor) -> None:
            y.add_(1)

        return add_one

    for M, op in zip((tg, torch), _both(torch, build)):
        x = M.ones(2, requires_grad=True)
        h = x * 2
        z = h * h  # saves h
        op(h)
        assert _np(h).tolist() == [3.0, 3.0]
        with pytest.raises(RuntimeError, match="modified by an inplace operation|modified in "
                                               "place after it was saved"):
            z.sum().backward()


# ---- the older API: Library, define, impl -------------------------------------------------
def test_library_define_impl_and_ops_namespace_match_torch(torch):
    def build(M):
        lib = M.library.Library("tgl_libdef", "DEF")
        assert lib.define("foo(Tensor x, float a=2.0) -> Tensor") == "foo"
        lib.define("foo.two(Tensor x, Tensor y) -> Tensor")
        lib.impl("foo", lambda x, a=2.0: M.from_numpy(_np(x) * a), "CPU")
        lib.impl("foo.two", lambda x, y: M.from_numpy(_np(x) + _np(y)), "CPU")
        ops = M.ops.tgl_libdef if M is torch else tg.library.ops.tgl_libdef
        x = M.ones(2)
        return lib, (ops.foo(x).tolist(), ops.foo(x, 3.0).tolist(),
                     ops.foo.default(x, a=4.0).tolist(), ops.foo(x, x).tolist(),
                     ops.foo.two(x, x).tolist(), sorted(ops.foo.overloads()),
                     str(ops.foo.two._schema), ops.foo.default.name(), str(ops.foo.default),
                     repr(ops.foo.default), repr(ops.foo), ops.foo._qualified_op_name,
                     [a.name for a in ops.foo.two._schema.arguments], repr(lib))

    (our_lib, ours), (their_lib, theirs) = _both(torch, build)
    assert ours == theirs
    # the namespace is an attribute of tensorgrad.ops too (tensorgrad's own ops package)
    assert tg.ops.tgl_libdef.foo(tg.ones(1)).tolist() == [2.0]
    assert tg.ops.where is tg.ops.elementwise.where  # the package's own names stay
    for M, lib in ((tg, our_lib), (torch, their_lib)):
        with pytest.raises(RuntimeError, match="only be registered with a single call to def"):
            lib.define("foo(Tensor x) -> Tensor")
        with pytest.raises(RuntimeError, match="Only a single TORCH_LIBRARY"):
            M.library.Library("tgl_libdef", "DEF")


def test_library_destroyed_removes_its_ops_as_torch(torch):
    import gc

    messages = []
    for M in (tg, torch):
        lib = M.library.Library("tgl_libdel", "DEF")
        lib.define("foo(Tensor x) -> Tensor")
        del lib
        gc.collect()
        ops = tg.library.ops if M is tg else torch.ops
        messages.append(_message(lambda o=ops: o.tgl_libdel.foo))
        lib = M.library.Library("tgl_libdel", "DEF")  # the namespace is free again
        lib.define("foo(Tensor x) -> Tensor")
        lib._destroy()
    assert messages[0] == messages[1]
    assert messages[0][0] is AttributeError


def test_library_kinds_and_keys_errors_match_torch(torch):
    for M in (tg, torch):
        with pytest.raises(ValueError, match="Unsupported kind: FOO"):
            M.library.Library("tgl_kinds", "FOO")
        impl_lib = M.library.Library("tgl_kinds", "IMPL")
        with pytest.raises(RuntimeError, match="Cannot define an operator inside of a "
                                               "TORCH_LIBRARY_IMPL block"):
            impl_lib.define("foo(Tensor x) -> Tensor")
        frag = M.library.Library("tgl_kinds", "FRAGMENT")
        frag.define("foo(Tensor x) -> Tensor")
        with pytest.raises(RuntimeError, match="could not parse dispatch key: BOGUS"):
            frag.impl("foo", lambda x: x, "BOGUS")
        with pytest.raises(RuntimeError):  # no name in the schema
            frag.define("(Tensor x) -> Tensor")
        frag._destroy()


def test_library_op_without_autograd_warns_as_torch(torch):
    """A Library op without a formula runs its kernel with grad mode on: a kernel outside the
    tape (NumPy) gives no gradient, one made of differentiable operations gives their
    gradient; the backward pass warns in both cases (PyTorch's autograd fallback)."""

    def build(M):
        lib = M.library.Library("tgl_libnoag", "FRAGMENT")
        lib.define("np_sin(Tensor x) -> Tensor")
        lib.impl("np_sin", lambda x: M.from_numpy(np.sin(_np(x))), "CPU")
        lib.define("triple(Tensor x) -> Tensor")
        lib.impl("triple", lambda x: x * 3, "CompositeExplicitAutograd")
        return lib

    libs = _both(torch, build)
    got = []
    for M in (tg, torch):
        ops = tg.library.ops if M is tg else torch.ops
        x = M.ones(2, requires_grad=True)
        y = ops.tgl_libnoag.np_sin(x)
        assert y.requires_grad
        with pytest.warns(UserWarning, match="an autograd kernel was not registered"):
            y.sum().backward()
        no_grad = x.grad
        y = ops.tgl_libnoag.triple(x)
        with pytest.warns(UserWarning, match="an autograd kernel was not registered"):
            y.sum().backward()
        got.append((no_grad, x.grad.tolist()))
    assert got[0] == got[1] == (None, [3.0, 3.0])
    del libs


def test_composite_implicit_and_fallthrough_kernels_match_torch(torch):
    def build(M):
        lib = M.library.Library("tgl_libkeys", "FRAGMENT")
        lib.define("sq(Tensor x) -> Tensor")
        lib.impl("sq", lambda x: x * x, "CompositeImplicitAutograd")
        lib.define("np_twice(Tensor x) -> Tensor")
        lib.impl("np_twice", lambda x: M.from_numpy(_np(x) * 2), "CPU")
        lib.impl("np_twice", M.library.fallthrough_kernel, "Autograd")
        return lib

    libs = _both(torch, build)
    got = []
    for M in (tg, torch):
        ops = tg.library.ops if M is tg else torch.ops
        x = _f64(M, [1.0, 3.0], True)
        ops.tgl_libkeys.sq(x).sum().backward()
        y = ops.tgl_libkeys.np_twice(x)
        got.append((x.grad.tolist(), y.requires_grad, y.tolist()))
    assert got[0] == got[1] == ([2.0, 6.0], False, [2.0, 6.0])
    with pytest.raises(NotImplementedError, match=r"fallthrough_kernel\(\) should never be "
                                                  r"called"):
        L.fallthrough_kernel()
    del libs


def test_functional_registration_api_matches_torch(torch):
    def build(M):
        lib = M.library
        lib.define("tgl_funcs::f", "(Tensor x) -> Tensor")
        lib.impl("tgl_funcs::f", "cpu", lambda x: x + 1)
        lib.define("tgl_funcs::g", "(Tensor x) -> Tensor")

        @lib.impl("tgl_funcs::g", types=["cpu"])
        def _(x):
            return M.from_numpy(_np(x) + 10)

        lib.register_autograd("tgl_funcs::g", lambda ctx, g: g * 3)
        lib.define("tgl_funcs::h", "(Tensor x) -> Tensor")
        lib.register_kernel("tgl_funcs::h", "cpu", lambda x: M.from_numpy(_np(x) * 100))
        lib.register_fake("tgl_funcs::h")(lambda x: M.empty_like(x))

        @lib.custom_op("tgl_funcs::j", mutates_args=())
        def j(x: M.Tensor) -> M.Tensor:
            return M.from_numpy(np.sin(_np(x)))

        lib.register_autograd("tgl_funcs::j", lambda ctx, g: g * 5)
        ops = tg.library.ops if M is tg else torch.ops
        x = M.ones(2, requires_grad=True)
        out = [ops.tgl_funcs.f(M.ones(1)).tolist(), ops.tgl_funcs.h(M.ones(1)).tolist()]
        ops.tgl_funcs.g(x).sum().backward()
        out.append(x.grad.tolist())
        x.grad = None
        j(x).sum().backward()
        out.append(x.grad.tolist())
        lib.register_autograd(j, lambda ctx, g: g * 6)  # by the op itself
        x.grad = None
        j(x).sum().backward()
        out.append(x.grad.tolist())
        return out

    ours, theirs = _both(torch, build)
    assert ours == theirs == [[2.0], [100.0], [3.0, 3.0], [5.0, 5.0], [6.0, 6.0]]
    with pytest.raises(ValueError, match='of the form "namespace::name"'):
        L.define("nonamespace", "(Tensor x) -> Tensor")
    with pytest.raises(AttributeError, match="no operator 'tgl_funcs::missing'"):
        L.register_autograd("tgl_funcs::missing", lambda ctx, g: g)


def test_impl_with_a_library_decorator_form(torch):
    for M in (tg, torch):
        lib = M.library.Library("tgl_oldimpl", "FRAGMENT")
        lib.define("f(Tensor x) -> Tensor")

        @M.library.impl(lib, "f", "CPU")
        def _(x):
            return x * 7

        ops = tg.library.ops if M is tg else torch.ops
        assert ops.tgl_oldimpl.f(M.ones(1)).tolist() == [7.0]
        lib._destroy()


def test_triton_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="tensorgrad has no Triton"):
        L.triton_op("tgl_triton::f", lambda x: x, mutates_args=())
    with pytest.raises(NotImplementedError, match="tensorgrad has no Triton"):
        L.wrap_triton(object())


def test_register_torch_dispatch_runs_for_its_tensor_subclass():
    class Marked(tg.Tensor):
        pass

    @L.custom_op("tgl_dispatch::f", mutates_args=())
    def f(x: tg.Tensor) -> tg.Tensor:
        return x * 2

    calls = []

    @f.register_torch_dispatch(Marked)
    def _(cls, func, types, args, kwargs):
        calls.append((cls, func, types))
        return args[0] * 10

    plain = tg.ones(1)
    marked = tg.ones(1)
    marked.__class__ = Marked
    assert f(plain).item() == 2 and f(marked).item() == 10
    assert calls == [(Marked, f._opoverload, (Marked,))]


def test_a_namespace_named_like_a_tensorgrad_ops_module_warns():
    with pytest.warns(UserWarning, match="tensorgrad.ops.linalg is tensorgrad's own"):
        @L.custom_op("linalg::tgl_clash", mutates_args=())
        def f(x: tg.Tensor) -> tg.Tensor:
            return x * 2

    import tensorgrad.ops.linalg as linalg_module

    assert tg.ops.linalg is linalg_module
    assert L.ops.linalg.tgl_clash(tg.ones(1)).item() == 2


# ---- opcheck ------------------------------------------------------------------------------
def _with_fake(M, op):
    op.register_fake(lambda x, **kw: M.empty_like(x))
    return op


def test_opcheck_passes_a_correct_op_with_torchs_report(torch):
    ours, theirs = _both(torch, lambda M: _with_fake(M, _numpy_sin(M, "tgl_opcheck::ok")))
    mine = L.opcheck(ours, (_f64(tg, [0.2, 0.4], True),), {"scale": 2.0})
    ref = torch.library.opcheck(theirs, (_f64(torch, [0.2, 0.4], True),), {"scale": 2.0})
    assert mine == ref
    assert list(mine) == ["test_schema", "test_autograd_registration", "test_faketensor",
                          "test_aot_dispatch_dynamic"]
    assert L.opcheck(ours._opoverload, (_f64(tg, [0.2], True),)) == ref
    assert L.opcheck(ours, (_f64(tg, [0.2], True),), test_utils="test_schema") == {
        "test_schema": "SUCCESS"}
    for M, op in ((tg, ours), (torch, theirs)):
        with pytest.raises(ValueError, match="expected test_utils to be subset of"):
            M.library.opcheck(op, (_f64(M, [0.2]),), test_utils=("bogus",))
    with pytest.raises(ValueError, match="op must be"):
        L.opcheck(lambda x: x, (tg.ones(1),))


def test_opcheck_reports_undeclared_mutation_as_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_opcheck::sneaky", mutates_args=())
        def sneaky(x: M.Tensor) -> M.Tensor:
            x.add_(1)
            return x.clone()

        return _with_fake(M, sneaky)

    ours, theirs = _both(torch, build)
    mine = L.opcheck(ours, (tg.ones(2),), raise_exception=False)
    ref = torch.library.opcheck(theirs, (torch.ones(2),), raise_exception=False)
    assert str(mine["test_schema"]) == str(ref["test_schema"]) == (
        "Argument x is not defined as mutable but was mutated")
    assert {k: v for k, v in mine.items() if k != "test_schema"} == {
        k: v for k, v in ref.items() if k != "test_schema"}
    kind, text = _message(lambda: L.opcheck(ours, (tg.ones(2),)))
    their_kind, their_text = _message(lambda: torch.library.opcheck(theirs, (torch.ones(2),)))
    assert kind.__name__ == their_kind.__name__ == "OpCheckError"
    assert text == their_text


def test_opcheck_reports_missing_autograd_as_torch(torch):
    def build(M):
        @M.library.custom_op("tgl_opcheck::noag", mutates_args=())
        def noag(x: M.Tensor) -> M.Tensor:
            return M.from_numpy(np.sin(_np(x)))

        return _with_fake(M, noag)

    ours, theirs = _both(torch, build)
    mine = L.opcheck(ours, (_f64(tg, [0.1], True),), raise_exception=False)
    ref = torch.library.opcheck(theirs, (_f64(torch, [0.1], True),), raise_exception=False)
    assert str(mine["test_aot_dispatch_dynamic"]) == str(ref["test_aot_dispatch_dynamic"])
    assert [v == "SUCCESS" for v in mine.values()] == [v == "SUCCESS" for v in ref.values()]
    assert L.opcheck(ours, (_f64(tg, [0.1]),))["test_aot_dispatch_dynamic"] == "SUCCESS"


def test_opcheck_checks_the_formula_against_finite_differences():
    """Stricter than PyTorch (whose opcheck passes a wrong formula): in float64 the gradient
    must agree with central differences."""

    @L.custom_op("tgl_opcheck::wrong", mutates_args=())
    def wrong(x: tg.Tensor) -> tg.Tensor:
        return tg.from_numpy(np.sin(x.numpy()))

    wrong.register_autograd(lambda ctx, g: g * 2)
    report = L.opcheck(wrong, (_f64(tg, [0.3, 0.6], True),), raise_exception=False)
    assert report["test_schema"] == "SUCCESS"
    assert "Jacobian mismatch" in str(report["test_aot_dispatch_dynamic"])
    # float32 inputs: the backward pass runs, no finite differences
    x32 = tg.tensor([0.3], requires_grad=True)
    assert L.opcheck(wrong, (x32,))["test_aot_dispatch_dynamic"] == "SUCCESS"
    with pytest.raises(L.OpCheckError, match="test_aot_dispatch_dynamic failed with"):
        L.opcheck(wrong, (_f64(tg, [0.3], True),))


def test_opcheck_compares_the_fake_with_the_kernel():
    @L.custom_op("tgl_opcheck::fake", mutates_args=())
    def f(x: tg.Tensor) -> tg.Tensor:
        return x[:1] * 2

    f.register_fake(lambda x: tg.empty_like(x))  # wrong: the kernel returns one element
    report = L.opcheck(f, (tg.ones(3),), raise_exception=False)
    assert "the fake implementation's output 0 is (3,)" in str(report["test_faketensor"])

    @L.custom_op("tgl_opcheck::nonzero", mutates_args=())
    def nonzero(x: tg.Tensor) -> tg.Tensor:
        return tg.from_numpy(np.stack(np.nonzero(x.numpy()), axis=1))

    contexts = []

    @nonzero.register_fake
    def _(x):
        ctx = L.get_ctx()
        contexts.append(ctx)
        return tg.zeros((ctx.new_dynamic_size(), x.ndim), dtype=tg.int64)

    assert L.get_ctx() is None
    report = L.opcheck(nonzero, (tg.tensor([0.0, 1.0, 2.0]),))
    assert report["test_faketensor"] == "SUCCESS"
    assert contexts and contexts[0] is not None and L.get_ctx() is None


def test_opcheck_autograd_registration_for_library_ops(torch):
    """A Library op whose kernel records its own operations but has no autograd registration
    fails, one whose kernel leaves the tape (NumPy) passes: PyTorch's rule."""

    def build(M):
        lib = M.library.Library("tgl_opcheck_lib", "FRAGMENT")
        lib.define("on_tape(Tensor x) -> Tensor")
        lib.impl("on_tape", lambda x: x * 2, "CPU")
        lib.define("numpy(Tensor x) -> Tensor")
        lib.impl("numpy", lambda x: M.from_numpy(_np(x) * 2), "CPU")
        return lib

    libs = _both(torch, build)
    reports = []
    for M in (tg, torch):
        ops = tg.library.ops if M is tg else torch.ops
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the backward's 'no autograd kernel' warnings
            reports.append([M.library.opcheck(
                getattr(ops.tgl_opcheck_lib, name).default, (M.ones(1, requires_grad=True),),
                test_utils=("test_schema", "test_autograd_registration"),
                raise_exception=False) for name in ("on_tape", "numpy")])
    (mine_tape, mine_np), (ref_tape, ref_np) = reports
    assert mine_np == ref_np == {"test_schema": "SUCCESS",
                                 "test_autograd_registration": "SUCCESS"}
    assert type(mine_tape["test_autograd_registration"]) is AssertionError
    assert type(ref_tape["test_autograd_registration"]) is AssertionError
    assert "does not have an autograd kernel" in str(mine_tape["test_autograd_registration"])
    del libs


def test_autograd_key_kernel_may_call_the_op_again():
    """A kernel registered at "Autograd" is typically a Function whose forward calls the op
    again (PyTorch sends that call below autograd): here it reaches the backend kernel."""
    lib = L.Library("tgl_autogradkey", "FRAGMENT")
    lib.define("cube(Tensor x) -> Tensor")
    lib.impl("cube", lambda x: tg.from_numpy(x.numpy() ** 3), "CPU")
    op = L.ops.tgl_autogradkey.cube

    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return op(x)

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 3 * x * x * g

    lib.impl("cube", Cube.apply, "Autograd")
    x = _f64(tg, [1.0, 2.0], True)
    y = op(x)
    y.sum().backward()
    assert y.tolist() == [1.0, 8.0] and x.grad.tolist() == [3.0, 12.0]
    assert L.opcheck(op.default, (x,))["test_aot_dispatch_dynamic"] == "SUCCESS"
    lib._destroy()


def test_namespaces_and_handles(torch):
    @L.custom_op("tgl_handles::f", mutates_args=())
    def f(x: tg.Tensor) -> tg.Tensor:
        return x * 2

    assert L.ops.tgl_handles.f is L.ops.tgl_handles.f  # cached, as torch.ops' packets
    assert L.ops.tgl_handles.f.default == f._opoverload
    assert {f._opoverload: 1}[L.ops.tgl_handles.f.default] == 1
    assert dir(L.ops.tgl_handles) == ["f"]
    # the integrator's hook for tensorgrad.ops' module __getattr__
    assert L.namespace("tgl_handles") is L.ops.tgl_handles
    with pytest.raises(AttributeError, match="has no attribute 'tgl_nothing'"):
        L.namespace("tgl_nothing")
    with pytest.raises(AttributeError, match="has no overload name 'bogus'"):
        getattr(L.ops.tgl_handles.f, "bogus")  # noqa: B009
    # register_vmap and register_autocast are kept (vmap runs the op per example)
    rule = f.register_vmap(lambda info, in_dims, x: (x * 2, 0))
    assert callable(rule)
    f.register_autocast("cuda", tg.float16)
    np.testing.assert_allclose(host(tg.func.vmap(f)(tg.ones(3, 2))), np.full((3, 2), 2.0))
    # torch.library's names that tensorgrad.library has
    names = {n for n in dir(torch.library) if not n.startswith("_") and n[0].islower()}
    missing = names - set(dir(L)) - {"contextlib", "functools", "inspect", "re", "sys", "torch",
                                     "weakref", "deprecated", "device_types_t", "overload",
                                     "get_kernel"}
    assert missing == set()


def test_kernel_and_setup_context_arguments_match_torch(torch):
    """The kernel gets the arguments as PyTorch's dispatcher passes them to a Python kernel
    (trailing defaults and default keyword-only arguments left out, an int for int[2]
    repeated); setup_context gets them all."""

    def build(M):
        seen = []
        lib = M.library.Library("tgl_kernelargs", "FRAGMENT")
        lib.define('foo(Tensor x, int[2] size=[1, 2], float? eps=None, *, str mode="a", '
                   "bool flag=False, Scalar s=3) -> (Tensor, Tensor)")

        def kernel(*args, **kwargs):
            seen.append((args[1:], kwargs))
            return args[0].clone(), args[0].clone()

        lib.impl("foo", kernel, "CPU")
        ops = tg.library.ops if M is tg else torch.ops
        x = M.ones(1)
        ops.tgl_kernelargs.foo(x)
        ops.tgl_kernelargs.foo(x, [3, 4], 0.5, mode="b", flag=True, s=2.5)
        ops.tgl_kernelargs.foo(x, 5)
        ops.tgl_kernelargs.foo(x, size=[7, 8], mode="a")

        @M.library.custom_op("tgl_kernelargs::c", mutates_args=())
        def c(x: M.Tensor, n: int = 2, m: float = 1.0, *, s: float = 1.5) -> M.Tensor:
            return x.clone()

        def setup_context(ctx, inputs, keyword_only_inputs, output):
            seen.append(("setup", inputs[1:], keyword_only_inputs))

        c.register_autograd(lambda ctx, g: g, setup_context=setup_context)
        c.register_kernel("cpu", lambda *args, **kwargs: kernel(*args, **kwargs)[0])
        x = M.ones(1, requires_grad=True)
        c(x)
        c(x, 3, s=2.5)
        c(x, 2, 5.0)
        return lib, seen

    (our_lib, ours), (their_lib, theirs) = _both(torch, build)
    assert ours == theirs
    assert ours[2] == (([5, 5],), {})
    our_lib._destroy()
