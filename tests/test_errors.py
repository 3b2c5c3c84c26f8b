"""Errors a user meets: each test checks the exception type and that the message names the op,
the shapes, or what to do instead."""

import collections
import sys

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.backend.device import CPU, Device

registry = sys.modules["tensorgrad.ops.registry"]
tensor_module = sys.modules["tensorgrad.tensor"]  # tg.tensor is the factory function


# ---- the tape -------------------------------------------------------------------------------
def test_second_backward_through_a_freed_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"freed.*retain_graph=True"):
        y.backward()


def test_backward_through_a_shared_subgraph_freed_by_another_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (h * 2.0).sum().backward()


def test_backward_of_a_non_scalar_without_gradient():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 2\).*gradient="):
        y.backward()
    y.backward(tg.ones(2, 2))  # the fix the message gives works
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 2), 2.0))


def test_backward_with_a_gradient_of_the_wrong_shape_names_both_shapes():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"\(2,\).*\(3,\)"):
        y.backward(tg.ones(2))


def test_backward_of_a_tensor_without_grad():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        (tg.ones(2) * 2.0).sum().backward()


def test_in_place_change_of_a_tensor_saved_for_backward():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = x * 2.0
    b = a * a  # saves a
    a += 1.0
    with pytest.raises(RuntimeError, match=r"multiply.*modified in place.*clone\(\)"):
        b.sum().backward()


def test_setitem_on_a_tensor_saved_for_backward():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = x * 2.0
    b = a.exp() * a
    a[0] = 0.0
    with pytest.raises(RuntimeError, match="modified in place"):
        b.sum().backward()


def test_in_place_change_under_no_grad_of_a_saved_input():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = x * 2.0
    b = a.tanh()  # saves a
    with tg.no_grad():
        a.mul_(3.0)
    with pytest.raises(RuntimeError, match="tanh.*modified in place"):
        b.sum().backward()


def test_in_place_change_through_detach_of_a_saved_tensor():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = x * 2.0
    b = a * a
    a.detach()[0] = 7.0  # shares data and version counter
    with pytest.raises(RuntimeError, match="modified in place"):
        b.sum().backward()


@pytest.mark.parametrize("write", ["setitem", "mul_", "iadd"])
def test_in_place_change_under_no_grad_of_a_saved_output(write):
    # exp's rule reads its own output: changing that output must not give a wrong gradient
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.exp()
    with tg.no_grad():
        if write == "setitem":
            y[0] = 0.0
        elif write == "mul_":
            y.mul_(2.0)
        else:
            y += 1.0
    with pytest.raises(RuntimeError, match="exp.*modified in place"):
        y.sum().backward()


def test_in_place_change_of_a_saved_output_through_a_view():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.tanh()
    view = y[:2]
    with tg.no_grad():
        view.mul_(0.0)
    with pytest.raises(RuntimeError, match="tanh.*modified in place"):
        y.sum().backward()


def test_in_place_change_of_an_output_no_rule_reads_is_allowed():
    # multiply's rules read its inputs, not its answer: PyTorch allows this, and so do we
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = tg.tensor([4.0, 5.0, 6.0], requires_grad=True)
    h = x * w
    h += 1.0
    with tg.no_grad():
        h.mul_(1.0)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 5.0, 6.0])
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0, 3.0])


def test_requires_grad_on_an_integer_tensor():
    with pytest.raises(RuntimeError, match=r"floating-point.*int64.*\.float\(\)"):
        tg.tensor([1, 2], requires_grad=True)
    t = tg.tensor([1, 2])
    with pytest.raises(RuntimeError, match=r"floating-point.*\.float\(\)"):
        t.requires_grad_()
    with pytest.raises(RuntimeError, match="floating-point"):
        t.requires_grad = True
    assert not t.requires_grad


def test_requires_grad_false_on_a_non_leaf():
    y = tg.tensor([1.0], requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"leaf.*detach\(\)"):
        y.requires_grad_(False)


@pytest.mark.parametrize("write", ["iadd", "isub", "imul", "itruediv", "setitem", "add_", "zero_"])
def test_in_place_op_on_a_leaf_that_requires_grad(write):
    p = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"leaf.*in-place.*no_grad\(\)"):
        if write == "iadd":
            p += 1.0
        elif write == "isub":
            p -= 1.0
        elif write == "imul":
            p *= 2.0
        elif write == "itruediv":
            p /= 2.0
        elif write == "setitem":
            p[0] = 5.0
        elif write == "add_":
            p.add_(tg.ones(2))
        else:
            p.zero_()
    assert p.tolist() == [1.0, 2.0]  # untouched
    assert p.is_leaf and p._version == 0


def test_retain_grad_and_hooks_on_a_tensor_without_grad():
    t = tg.ones(2)
    with pytest.raises(RuntimeError, match="require"):
        t.retain_grad()
    with pytest.raises(RuntimeError, match="require"):
        t.register_hook(lambda g: g)


# ---- shapes -------------------------------------------------------------------------------
def test_matmul_shape_mismatch_names_the_op_and_both_shapes():
    a = tg.ones(2, 3)
    b = tg.ones(4, 5)
    with pytest.raises(ValueError) as info:
        a @ b
    msg = str(info.value)
    assert "matmul" in msg
    assert "(2, 3)" in msg and "(4, 5)" in msg


def test_matmul_shape_mismatch_with_grad_and_numpy_operand():
    a = tg.ones(2, 3, requires_grad=True)
    with pytest.raises(ValueError) as info:
        a @ np.ones((2, 2), dtype=np.float32)
    msg = str(info.value)
    assert "matmul" in msg and "(2, 3)" in msg and "(2, 2)" in msg


def test_broadcast_mismatch_in_add_names_the_op_and_both_shapes():
    with pytest.raises(ValueError) as info:
        tg.ones(2, 3) + tg.ones(4, 5)
    msg = str(info.value)
    assert "add" in msg
    assert "(2, 3)" in msg and "(4, 5)" in msg


@pytest.mark.parametrize("op", ["sub", "mul", "div", "rsub"])
def test_broadcast_mismatch_in_other_binary_ops_names_both_shapes(op):
    a = tg.ones(3, requires_grad=True)
    b = tg.ones(4)
    with pytest.raises(ValueError) as info:
        if op == "sub":
            a - b
        elif op == "mul":
            a * b
        elif op == "div":
            a / b
        else:
            np.ones(4, dtype=np.float32) - a
    msg = str(info.value)
    assert "(3,)" in msg and "(4,)" in msg


def test_in_place_broadcast_mismatch_under_no_grad_names_the_op_and_shapes():
    p = tg.ones(3, requires_grad=True)
    with pytest.raises(ValueError) as info:
        with tg.no_grad():
            p += tg.ones(4)
    msg = str(info.value)
    assert "add" in msg and "(3,)" in msg and "(4,)" in msg


def test_setitem_shape_mismatch_names_the_shapes():
    t = tg.zeros(3)
    with pytest.raises(ValueError) as info:
        t[:2] = tg.ones(3)
    msg = str(info.value)
    assert "setitem" in msg and "(3,)" in msg


# ---- devices ------------------------------------------------------------------------------
class _FakeCudaArray(np.ndarray):
    """Stands in for a CuPy array: lives on 'cuda:0' and, like CuPy, refuses NumPy operands."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise TypeError(f"Unsupported type {np.ndarray}")


@pytest.fixture
def fake_cuda(monkeypatch):
    """Make ``device_of`` report cuda:0 for _FakeCudaArray, where the library asks it."""
    cuda0 = Device("cuda:0")

    def device_of(a):
        return cuda0 if isinstance(a, _FakeCudaArray) else CPU

    monkeypatch.setattr(registry, "device_of", device_of)
    monkeypatch.setattr(tensor_module, "device_of", device_of)

    def on_cuda(t):
        t.data = t.data.view(_FakeCudaArray)
        return t

    return on_cuda


@pytest.mark.parametrize("op", ["add", "mul", "matmul", "radd"])
def test_mixing_devices_in_an_operator_says_to_move_them(fake_cuda, op):
    a = tg.ones(3, requires_grad=True)
    b = fake_cuda(tg.ones(3))
    assert b.device == "cuda:0"
    with pytest.raises(RuntimeError) as info:
        if op == "add":
            a + b
        elif op == "mul":
            a * b
        elif op == "matmul":
            a @ b
        else:
            b + a
    msg = str(info.value)
    name = "add" if op == "radd" else ("multiply" if op == "mul" else op)
    assert msg.startswith(name)
    assert "same device" in msg
    assert "cpu" in msg and "cuda:0" in msg
    assert ".to(device)" in msg


def test_mixing_devices_in_a_function_primitive(fake_cuda):
    from tensorgrad.ops import maximum

    a = tg.ones(3)
    b = fake_cuda(tg.ones(3))
    with pytest.raises(RuntimeError, match=r"maximum: expected all arguments on the same device"):
        maximum(a, b)


def test_mixing_devices_in_an_in_place_update(fake_cuda):
    p = tg.ones(3, requires_grad=True)
    g = fake_cuda(tg.ones(3))
    with pytest.raises(RuntimeError, match=r"same device.*cuda:0.*\.to\(device\)"):
        with tg.no_grad():
            p -= g


def test_unknown_device_name():
    with pytest.raises(ValueError, match="cpu.*cuda"):
        tg.device("tpu")


def test_grad_outputs_of_another_shape_names_the_output():
    # it failed inside the first VJP ("VJP of 'multiply' returned shape (4,)")
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"grad: grad_outputs\[0\] has shape \(4,\) but the "
                                           r"tensor has shape \(3,\)"):
        tg.autograd.grad(y, x, tg.ones(4))
    assert tg.autograd.grad(y, x, tg.ones(3))[0].tolist() == [2.0, 2.0, 2.0]


def test_grad_outputs_on_another_device_names_both():
    if not tg.cuda.is_available():  # make test runs it on the CuPy stand-in
        pytest.skip("needs CuPy: a GPU or the stand-in")
    x = tg.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"grad_outputs\[0\] is on cpu but the tensor is on "
                                           r"cuda:0"):
        tg.autograd.grad(y, x, tg.ones(2))


@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_a_loss_target_of_another_shape_warns_as_torch(loss):
    # (N, 1) predictions against (N,) targets broadcast to (N, N): PyTorch warns, so do we
    x, t = tg.zeros(3, 1), tg.ones(3)
    with pytest.warns(UserWarning, match=rf"{loss}: using a target size \(3,\) that is "
                                          r"different to the input size \(3, 1\)"):
        value = getattr(tg.nn.functional, loss)(x, t)
    assert value.shape == ()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(tg.nn.functional, loss)(x, tg.ones(3, 1))  # same shapes: silent


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_a_binary_cross_entropy_target_of_another_shape_is_refused_as_torch(loss):
    with pytest.raises(ValueError, match=rf"{loss}: target size \(3,\) must be the same as "
                                         r"input size \(3, 1\)"):
        getattr(tg.nn.functional, loss)(tg.full((3, 1), 0.5), tg.ones(3))


@pytest.mark.parametrize("name, call, error, match", [
    ("flatten", lambda: tg.ones(2, 3).flatten(1, 0), ValueError, "start_dim 1 comes after"),
    ("put", lambda: tg.zeros(2, 3).put_(tg.tensor([6]), tg.tensor([1.0])), IndexError,
     r"\[-6, 6\)"),
    ("bernoulli", lambda: tg.bernoulli(tg.tensor([1.5])), ValueError, r"\[0, 1\]"),
    ("binary_cross_entropy", lambda: tg.nn.functional.binary_cross_entropy(
        tg.tensor([0.5, 1.5]), tg.tensor([1.0, 0.0])), ValueError, "between 0 and 1"),
])
def test_what_torch_refuses_is_refused(name, call, error, match):
    # these computed silently (flatten into a wrong shape, put wrapping the index around,
    # bernoulli and the BCE of a probability of 1.5); PyTorch raises for each
    torch = pytest.importorskip("torch")
    torch_call = {
        "flatten": lambda: torch.ones(2, 3).flatten(1, 0),
        "put": lambda: torch.zeros(2, 3).put_(torch.tensor([6]), torch.tensor([1.0])),
        "bernoulli": lambda: torch.bernoulli(torch.tensor([1.5])),
        "binary_cross_entropy": lambda: torch.nn.functional.binary_cross_entropy(
            torch.tensor([0.5, 1.5]), torch.tensor([1.0, 0.0])),
    }[name]
    with pytest.raises((RuntimeError, IndexError)):
        torch_call()
    with pytest.raises(error, match=match):
        call()


def test_a_reassigned_parameter_or_module_keeps_its_place():
    # tying weights (decoder.weight = encoder.weight) moved the name to the end: parameter and
    # state_dict order differed from PyTorch's (optimizer state loaded by position)
    torch = pytest.importorskip("torch")

    def names(L):
        m = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.Linear(2, 2), L.nn.ReLU())
        m[0].weight = m[1].weight
        m[0].bias = L.nn.Parameter(L.zeros(2))
        m[1] = L.nn.Linear(2, 2)
        return [n for n, _ in m.named_parameters(remove_duplicate=False)], list(m.state_dict())

    assert names(tg) == names(torch)


@pytest.mark.parametrize("edit", [
    lambda L, s: s.__setitem__(1, L.nn.Tanh()),
    lambda L, s: s.__delitem__(0),
    lambda L, s: s.__delitem__(slice(0, 2)),
    lambda L, s: s.pop(-1),
    lambda L, s: s.insert(1, L.nn.Tanh()),
    lambda L, s: s.insert(-1, L.nn.Tanh()),
    lambda L, s: s.extend([L.nn.Tanh(), L.nn.Sigmoid()]),
    lambda L, s: s.append(L.nn.Tanh()),
], ids=["setitem", "delitem", "delitem_slice", "pop", "insert", "insert_negative", "extend",
        "append"])
@pytest.mark.parametrize("kind", ["Sequential", "ModuleList"])
def test_container_edits_as_torch(edit, kind):
    # Sequential had no item assignment, deletion, insert, pop, extend, +, * (PyTorch's);
    # ModuleList no deletion, pop, +
    torch = pytest.importorskip("torch")

    def layout(L):
        s = getattr(L.nn, kind)([L.nn.Linear(2, 2), L.nn.ReLU(), L.nn.Linear(2, 3)]
                                if kind == "ModuleList" else None) if kind == "ModuleList" \
            else L.nn.Sequential(L.nn.Linear(2, 2), L.nn.ReLU(), L.nn.Linear(2, 3))
        edit(L, s)
        return [(n, type(m).__name__) for n, m in s.named_children()]

    try:
        want = layout(torch)
    except KeyError:  # PyTorch 2.13's ModuleList.insert(-1) fails (KeyError '-1'): a list's
        want = [("0", "Linear"), ("1", "ReLU"), ("2", "Tanh"), ("3", "Linear")]
    assert layout(tg) == want


def test_sequential_arithmetic_as_torch():
    torch = pytest.importorskip("torch")

    def layout(L):
        a = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.ReLU())
        b = L.nn.Sequential(L.nn.Tanh())
        c = a + b
        d = 2 * b
        a += b
        b *= 3
        return [[(n, type(m).__name__) for n, m in s.named_children()] for s in (a, b, c, d)] + [
            (c[0] is a[0], d[0] is d[1])]

    assert layout(tg) == layout(torch)
    with pytest.raises(ValueError, match="positive"):
        tg.nn.Sequential(tg.nn.Tanh()) * 0
    with pytest.raises(IndexError):
        tg.nn.Sequential(tg.nn.Tanh()).insert(3, tg.nn.ReLU())


def test_load_from_state_dict_and_apply_overrides_are_called():
    # PyTorch's extension points: _load_from_state_dict (renaming an old checkpoint's keys,
    # then super()) and _apply (what to/double/cuda call: moving a cache that is no buffer)
    # were never called (the override was silently ignored)
    torch = pytest.importorskip("torch")

    def run(L):
        class Renamed(L.nn.Linear):
            def _load_from_state_dict(self, sd, prefix, *args):
                if prefix + "w" in sd:
                    sd[prefix + "weight"] = sd.pop(prefix + "w")
                super()._load_from_state_dict(sd, prefix, *args)

            def _apply(self, fn, *args, **kwargs):
                self.cache = fn(self.cache)
                return super()._apply(fn, *args, **kwargs)

        net = L.nn.Sequential(Renamed(2, 2))
        net[0].cache = L.ones(2)
        old = {"0.w": L.full((2, 2), 3.0), "0.bias": L.zeros(2)}
        keys = net.load_state_dict(old)
        net.double()
        return (net[0].weight.tolist(), str(net[0].cache.dtype).replace("torch.", ""),
                str(net[0].weight.dtype).replace("torch.", ""), list(keys.missing_keys))

    assert run(tg) == run(torch)
    with pytest.raises(RuntimeError, match="unexpected keys"):
        tg.nn.Linear(2, 2).load_state_dict({"w": tg.ones(2, 2), "bias": tg.zeros(2)})


def test_optimizer_state_is_keyed_by_parameter_as_torch():
    # opt.state was a dict keyed by id(p): custom optimizers (opt.state[p], a defaultdict in
    # PyTorch) raised KeyError, and iterating it gave ids
    torch = pytest.importorskip("torch")

    def run(L):
        class Momentum(L.optim.Optimizer):
            def __init__(self, params, lr=0.1):
                super().__init__(params, {"lr": lr})

            @L.no_grad()
            def step(self, closure=None):
                for g in self.param_groups:
                    for p in g["params"]:
                        st = self.state[p]
                        if "buf" not in st:
                            st["buf"] = L.zeros_like(p)
                        st["buf"].mul_(0.5).add_(p.grad)
                        p.add_(st["buf"], alpha=-g["lr"])

        w = L.nn.Parameter(L.tensor(np.array([1.0, -2.0])))
        opt = Momentum([w])
        for _ in range(3):
            opt.zero_grad()
            (w ** 2).sum().backward()
            opt.step()
        adam = L.optim.Adam([w])
        adam.step()
        out = (w.detach().numpy().tolist(), [k is w for k in opt.state], w in adam.state,
               sorted(adam.state[w]), list(opt.state_dict()["state"][0]))
        adam.state = collections.defaultdict(dict)  # PyTorch code's way to reset the state
        adam.step()
        return out + (len(adam.state), sorted(adam.state_dict()["state"][0]))

    assert run(tg) == run(torch)


def test_optimizer_state_survives_deepcopy_and_save(tmp_path):
    import copy

    w = tg.nn.Parameter(tg.ones(2))
    opt = tg.optim.Adam([w])
    (w * w).sum().backward()
    opt.step()
    twin = copy.deepcopy(opt)
    w2 = twin.param_groups[0]["params"][0]
    assert w2 is not w and w2 in twin.state and w not in twin.state
    assert sorted(twin.state[w2]) == ["exp_avg", "exp_avg_sq", "step"]
    tg.save(opt, tmp_path / "opt.tg")
    back = tg.load(tmp_path / "opt.tg")
    p = back.param_groups[0]["params"][0]
    assert p in back.state and sorted(back.state_dict()["state"][0]) == sorted(twin.state[w2])
