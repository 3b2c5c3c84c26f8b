"""Bad input across the public API, as one table.

Each row builds a fresh setup and returns ``(action, watched)``: ``action()`` must raise the
row's exception type with a message matching the row's fragment (which names the shapes or says
what to do), and every object in ``watched`` (tensors, modules, optimizers, files) must be
exactly as it was before the call: no bad input leaves anything half-changed.
"""

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad.utils.data import DataLoader, TensorDataset

HAS_CUDA = tg.cuda.is_available()  # real CuPy with a GPU, or the conftest's CuPy stand-in


@dataclass(frozen=True)
class Bad:
    id: str
    make: Callable  # (tmp_path) -> (action, [watched objects])
    exc: type
    match: str


ROWS = []


def bad(id, exc, match):
    """Decorator: the function is a row's ``make``."""

    def deco(make):
        ROWS.append(Bad(id, make, exc, match))
        return make

    return deco


def simple(id, exc, match, action):
    """A row with nothing to watch but what the action builds itself."""
    ROWS.append(Bad(id, lambda tmp: (action, []), exc, match))


# ---- snapshots: everything a bad input must leave unchanged --------------------------------
def _arr(a):
    a = a.data if isinstance(a, tg.Tensor) else a
    a = a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a
    return ("array", a.dtype.str, a.shape, np.asarray(a).tobytes())


def snapshot(obj):
    if isinstance(obj, tg.Tensor):
        return ("tensor", _arr(obj), obj.requires_grad, obj._version, obj.grad_fn is None,
                None if obj.grad is None else _arr(obj.grad))
    if isinstance(obj, tg.nn.Module):
        return ("module", [(k, snapshot(v)) for k, v in obj.state_dict(keep_vars=True).items()])
    if isinstance(obj, tg.optim.Optimizer):
        return ("optim", _plain(obj.state_dict()), len(obj.param_groups))
    if isinstance(obj, os.PathLike):
        return ("file", os.path.exists(obj), open(obj, "rb").read() if os.path.exists(obj)
                else None, sorted(os.listdir(os.path.dirname(obj))))
    raise TypeError(obj)


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, tg.Tensor) or hasattr(x, "dtype") and hasattr(x, "shape"):
        return _arr(x)
    return x


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_bad_input(row, tmp_path):
    action, watched = row.make(tmp_path)
    before = [snapshot(w) for w in watched]
    with pytest.raises(row.exc, match=row.match), np.errstate(all="ignore"):
        action()
    assert [snapshot(w) for w in watched] == before, "state half-changed by a refused input"


def test_the_table_is_large_enough():
    assert len(ROWS) >= 60
    assert len({r.id for r in ROWS}) == len(ROWS)


# ---- shapes: the message names both -------------------------------------------------------
def _pair(a, b, rg=True):
    return tg.ones(*a, requires_grad=rg), tg.ones(*b)


for _name, _op in [("add", lambda x, y: x + y), ("sub", lambda x, y: x - y),
                   ("mul", lambda x, y: x * y), ("div", lambda x, y: x / y),
                   ("pow", lambda x, y: x ** y), ("maximum", lambda x, y: x.maximum(y))]:
    @bad(f"shapes-{_name}", ValueError, r"\(2, ?3\).*\(4, ?5\)")
    def _(tmp, op=_op):
        x, y = _pair((2, 3), (4, 5))
        return (lambda: op(x, y)), [x, y]


@bad("shapes-matmul", ValueError, r"matmul.*\(2, 3\).*\(4, 5\)")
def _(tmp):
    x, y = _pair((2, 3), (4, 5))
    return (lambda: x @ y), [x, y]


simple("shapes-cat", ValueError, r"concatenate.*\(2, 3\).*\(2, 4\)",
       lambda: tg.cat([tg.ones(2, 3), tg.ones(2, 4)], dim=0))
simple("shapes-stack", ValueError, r"same shape.*\(2, 3\), \(2, 4\)",
       lambda: tg.stack([tg.ones(2, 3), tg.ones(2, 4)]))
simple("shapes-reshape", ValueError, r"reshape.*size 6.*\(4, ?2\)",
       lambda: tg.ones(2, 3).reshape(4, 2))
simple("shapes-where", ValueError, r"where.*\(2,\).*\(3,\).*\(4,\)",
       lambda: tg.ops.where(tg.ones(2) > 0, tg.ones(3), tg.ones(4)))


@bad("shapes-linear-input", ValueError, r"\(4, 5\).*weight of shape \(2, 3\)")
def _(tmp):
    m = tg.nn.Linear(3, 2)
    return (lambda: m(tg.ones(4, 5))), [m]


simple("shapes-mse-loss", ValueError, r"\(3,\).*\(4,\)",
       lambda: F.mse_loss(tg.ones(3, requires_grad=True), tg.ones(4)))
simple("shapes-cross-entropy-target", ValueError, r"input's shape \(3, 4\), got \(3,\)",
       lambda: F.cross_entropy(tg.ones(3, 4), tg.ones(3)))


@bad("shapes-conv-channels", ValueError, r"3 channels.*\(2, 1, 3, 3\)")
def _(tmp):
    m = tg.nn.Conv2d(1, 2, 3)
    return (lambda: m(tg.ones(1, 3, 5, 5))), [m]


simple("shapes-conv-ndim", ValueError, r"\(N, C, H, W\).*got shape \(4, 4\)",
       lambda: tg.nn.Conv2d(1, 2, 3)(tg.ones(4, 4)))


@bad("shapes-setitem", ValueError, r"setitem.*\(4,\).*\(3,\)")
def _(tmp):
    t = tg.ones(3)
    return (lambda: t.__setitem__(slice(None), tg.ones(4))), [t]


@bad("shapes-backward-gradient", RuntimeError, r"gradient has shape \(3,\).*\(2, 3\)")
def _(tmp):
    x = tg.ones(2, 3, requires_grad=True)
    y = x * 2.0
    return (lambda: y.backward(tg.ones(3))), [x, y]


simple("shapes-tensor-dataset", ValueError, r"first dimensions must agree.*\(3,\), \(4,\)",
       lambda: TensorDataset(tg.ones(3), tg.ones(4)))


# ---- data that is not floats where floats are needed --------------------------------------
simple("data-string", TypeError, "cannot make a tensor of str.*pass numbers",
       lambda: tg.tensor("abc"))
simple("data-strings", TypeError, "cannot make a tensor of str.*pass numbers",
       lambda: tg.tensor(["a", "b"]))
simple("data-object", TypeError, "cannot make a tensor of object.*pass numbers",
       lambda: tg.tensor([object(), 1.0]))
simple("data-object-array", TypeError, "cannot make a tensor of object",
       lambda: tg.tensor(np.array([None, 1.0], dtype=object)))
simple("data-string-operand", TypeError, r"add.*str.*numeric dtypes",
       lambda: tg.ones(3) + "a")
simple("data-requires-grad-int", RuntimeError, r"int64.*\.float\(\)",
       lambda: tg.tensor([1, 2], requires_grad=True))
simple("data-requires-grad-bool", RuntimeError, r"bool.*\.float\(\)",
       lambda: tg.tensor([True, False], requires_grad=True))
simple("data-requires-grad-factory-int", RuntimeError, r"int64.*\.float\(\)",
       lambda: tg.zeros(3, dtype=np.int64, requires_grad=True))


@bad("data-requires-grad-method-int", RuntimeError, r"int64.*\.float\(\)")
def _(tmp):
    t = tg.tensor([1, 2])
    return t.requires_grad_, [t]


simple("data-parameter-int", RuntimeError, r"int64.*\.float\(\)",
       lambda: tg.nn.Parameter(tg.tensor([1, 2])))
simple("data-grad-of-string", TypeError, "differentiate with respect to str.*float",
       lambda: tg.grad(lambda a: a * 2.0)("x"))
simple("data-jacobian-of-objects", TypeError, "differentiate with respect to object.*float",
       lambda: tg.jacobian(lambda a: a)(np.array([None], dtype=object)))
simple("data-float-index", IndexError, r"getitem.*integer \(or boolean\)",
       lambda: tg.ones(3)[tg.tensor([0.0, 1.0])])
simple("data-float-scalar-index", IndexError, "getitem: only integers, slices",
       lambda: tg.ones(3)[1.5])


@bad("data-state-dict-strings", TypeError, r"'bias' holds str.*numeric tensor")
def _(tmp):
    m = tg.nn.Linear(3, 2)
    sd = {"weight": np.zeros((2, 3), np.float32), "bias": np.array(["a", "b"])}
    return (lambda: m.load_state_dict(sd)), [m]  # the weight must not be loaded either


# ---- devices ------------------------------------------------------------------------------
simple("device-unknown", ValueError, "unknown device 'tpu'.*'cpu' or 'cuda",
       lambda: tg.ones(3, device="tpu"))


@bad("device-to-unknown", ValueError, "unknown device 'gpu'.*'cpu' or 'cuda")
def _(tmp):
    t = tg.ones(3, requires_grad=True)
    return (lambda: t.to("gpu")), [t]


if HAS_CUDA:
    @bad("device-mixed-add", RuntimeError, r"same device.*\.to\(device\)")
    def _(tmp):
        x = tg.ones(3, requires_grad=True)
        y = tg.ones(3, device="cuda")
        return (lambda: x + y), [x, y]

    simple("device-mixed-matmul", RuntimeError, r"matmul.*same device.*\.to\(device\)",
           lambda: tg.ones(2, 3) @ tg.ones(3, device="cuda"))
    simple("device-mixed-cat", RuntimeError, r"same device",
           lambda: tg.cat([tg.ones(3), tg.ones(3, device="cuda")]))

    @bad("device-backward-gradient", RuntimeError, r"gradient is on cuda.*\.to\('cpu'\)")
    def _(tmp):
        x = tg.ones(3, requires_grad=True)
        y = x * 2.0
        return (lambda: y.backward(tg.ones(3, device="cuda"))), [x]

    @bad("device-linear-input", RuntimeError, "same device")
    def _(tmp):
        m = tg.nn.Linear(3, 2)
        return (lambda: m(tg.ones(4, 3, device="cuda"))), [m]


# ---- the tape -----------------------------------------------------------------------------
@bad("tape-backward-twice", RuntimeError, r"already freed.*retain_graph=True")
def _(tmp):
    x = tg.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    return y.backward, [x]  # x.grad keeps the first backward's value, not a second one


@bad("tape-backward-shared-freed", RuntimeError, "retain_graph=True")
def _(tmp):
    x = tg.ones(3, requires_grad=True)
    h = x.exp()
    h.sum().backward()
    return (lambda: (h * 2.0).sum().backward()), [x]


@bad("tape-backward-non-scalar", RuntimeError, r"scalar outputs.*\(2, 3\).*gradient=")
def _(tmp):
    x = tg.ones(2, 3, requires_grad=True)
    y = x * 2.0
    return y.backward, [x, y]


@bad("tape-backward-no-grad", RuntimeError, "requires_grad=True")
def _(tmp):
    x = tg.ones(3)
    return (lambda: (x * 2.0).sum().backward()), [x]


@bad("tape-autograd-grad-non-scalar", RuntimeError, r"grad_outputs.*\(2, 3\)")
def _(tmp):
    x = tg.ones(2, 3, requires_grad=True)
    return (lambda: tg.autograd.grad(x * 2.0, [x])), [x]


simple("tape-grad-of-non-scalar-function", TypeError, r"scalar.*\(3,\).*elementwise_grad",
       lambda: tg.grad(lambda a: a * a)(np.ones(3)))
simple("tape-retain-grad-no-grad", RuntimeError, "does not require grad",
       lambda: tg.ones(3).retain_grad())
simple("tape-hook-no-grad", RuntimeError, "does not require grad",
       lambda: tg.ones(3).register_hook(lambda g: g))


@bad("tape-in-place-saved", RuntimeError, r"saved by 'exp'.*modified in place.*clone\(\)")
def _(tmp):
    x = tg.ones(3, requires_grad=True)
    a = x * 1.0
    b = a.exp()
    a += 1.0
    return (lambda: b.sum().backward()), [x]


@bad("tape-in-place-saved-input", RuntimeError, r"saved by 'multiply'.*modified in place")
def _(tmp):
    x = tg.ones(3, requires_grad=True)
    a = x * 2.0
    b = a * a
    a.mul_(3.0)
    return (lambda: b.sum().backward()), [x]


@bad("tape-in-place-leaf", RuntimeError, r"leaf tensor that requires grad.*no_grad")
def _(tmp):
    x = tg.ones(3, requires_grad=True)
    return (lambda: x.add_(1.0)), [x]


# hooks returning the wrong thing
def _hooked(leaf, ret):
    x = tg.ones(3, requires_grad=True)
    h = x if leaf else x * 2.0
    h.register_hook(lambda g: ret)
    return x, h


for _leaf in (True, False):
    _where = "leaf" if _leaf else "nonleaf"

    @bad(f"hook-wrong-shape-{_where}", RuntimeError, r"hook.*shape \(4,\).*shape \(3,\)")
    def _(tmp, leaf=_leaf):
        x, h = _hooked(leaf, tg.ones(4))
        return (lambda: (h * 1.0).sum().backward()), [x]

    @bad(f"hook-returns-string-{_where}", TypeError, r"hook.*returned str.*\(3,\)")
    def _(tmp, leaf=_leaf):
        x, h = _hooked(leaf, "oops")
        return (lambda: (h * 1.0).sum().backward()), [x]


@bad("hook-returns-int-array", TypeError, r"hook.*returned ndarray.*float tensor")
def _(tmp):
    x, h = _hooked(True, np.ones(3, np.int64))
    return (lambda: (h * 1.0).sum().backward()), [x]


# user-defined rules that return the wrong thing: checked when they run, naming the primitive
def _user_prim(vjp=None, jvp=None):
    @tg.primitive
    def twice(x):
        return x * 2.0

    if vjp is not None:
        tg.defvjp(twice, vjp)
    if jvp is not None:
        tg.defjvp(twice, jvp)
    return twice


for _name, _rule, _frag in [
    ("shape", lambda g, ans, x: g[:1], r"shape \(1,\)"),
    ("number", lambda g, ans, x: (g, g), "a tuple"),
    ("none", lambda g, ans, x: None, "a NoneType"),
    ("dtype", lambda g, ans, x: np.array(["a"] * 3), r"shape \(3,\) and dtype <U1"),
    ("list", lambda g, ans, x: [1.0, 1.0, 1.0], "a list"),
]:
    @bad(f"user-vjp-wrong-{_name}", TypeError, rf"VJP of 'twice' for argument 0 returned {_frag}")
    def _(tmp, rule=_rule):
        f = _user_prim(vjp=rule)
        x = tg.ones(3, requires_grad=True)
        return (lambda: f(x).sum().backward()), [x]

for _name, _rule, _frag in [
    ("shape", lambda t, ans, x: t[:2], r"shape \(2,\)"),
    ("number", lambda t, ans, x: (t, t), "a tuple"),
    ("dtype", lambda t, ans, x: np.array(["a"] * 3), r"shape \(3,\) and dtype <U1"),
]:
    simple(f"user-jvp-wrong-{_name}", TypeError, rf"JVP of 'twice' for argument 0 returned {_frag}",
           (lambda rule: lambda: tg.make_jvp(_user_prim(jvp=rule))(np.ones(3))(np.ones(3)))(_rule))

simple("user-defvjp-not-primitive", TypeError, "not a primitive.*@primitive",
       lambda: tg.defvjp(lambda x: x, lambda g, ans, x: g))


# ---- state dicts and checkpoints ----------------------------------------------------------
def _model_and_dict(change):
    m = tg.nn.Linear(3, 2)
    sd = {k: np.zeros(v.shape, np.float32) for k, v in m.state_dict().items()}
    change(sd)
    return m, sd


for _name, _change, _exc, _frag in [
    ("missing", lambda sd: sd.pop("bias"), RuntimeError, r"missing keys \['bias'\]"),
    ("unexpected", lambda sd: sd.update(extra=np.ones(1)), RuntimeError,
     r"unexpected keys \['extra'\]"),
    ("mis-shaped", lambda sd: sd.update(bias=np.ones(5)), RuntimeError,
     r"'bias' has shape \(5,\) in the state dict but \(2,\) in the model"),
    ("mis-shaped-weight", lambda sd: sd.update(weight=np.ones((3, 2))), RuntimeError,
     r"'weight' has shape \(3, 2\).*\(2, 3\)"),
]:
    @bad(f"state-dict-{_name}", _exc, _frag)
    def _(tmp, change=_change):
        m, sd = _model_and_dict(change)
        return (lambda: m.load_state_dict(sd)), [m]  # the valid entries are not loaded either


@bad("state-dict-not-a-dict", TypeError, "expected a dict of name -> tensor")
def _(tmp):
    m = tg.nn.Linear(3, 2)
    return (lambda: m.load_state_dict([1, 2])), [m]


def _checkpoint_file(tmp, name, content):
    path = tmp / name
    path.write_bytes(content)
    return path


def _valid_checkpoint_bytes(tmp):
    tg.save({"w": tg.ones(4), "step": 3}, str(tmp / "valid.tg"))
    return (tmp / "valid.tg").read_bytes()


for _name, _content in [
    ("garbage", lambda tmp: b"not a checkpoint" * 8),
    ("empty", lambda tmp: b""),
    ("truncated", lambda tmp: _valid_checkpoint_bytes(tmp)[:-40]),
    ("pickle", lambda tmp: pickle.dumps({"w": np.ones(3)})),
]:
    @bad(f"checkpoint-{_name}", ValueError, "not a valid tensorgrad checkpoint")
    def _(tmp, content=_content, name=_name):
        path = _checkpoint_file(tmp, f"{name}.tg", content(tmp))
        return (lambda: tg.load(str(path))), [path]


@bad("checkpoint-missing-file", FileNotFoundError, "No such file")
def _(tmp):
    return (lambda: tg.load(str(tmp / "nope.tg"))), [tmp / "nope.tg"]


@bad("checkpoint-save-unsavable-keeps-old-file", TypeError, "cannot store a object.*can be saved")
def _(tmp):
    path = tmp / "ckpt.tg"
    tg.save({"w": tg.ones(2)}, str(path))
    return (lambda: tg.save({"w": tg.zeros(2), "bad": object()}, str(path))), [path]


@bad("checkpoint-save-function", TypeError, "cannot store a function")
def _(tmp):
    path = tmp / "fn.tg"
    return (lambda: tg.save(lambda: 1, str(path))), [path]


# ---- optimizers: learning rates and state ------------------------------------------------
def _params():
    p = tg.nn.Parameter(tg.ones(2))
    p.grad = tg.ones(2)
    return [p]


for _cls, _lr, _frag in [
    ("SGD", float("nan"), r"finite number >= 0, got lr=nan"),
    ("SGD", float("inf"), r"finite number >= 0, got lr=inf"),
    ("SGD", -0.1, r"must be >= 0.*lr=-0.1"),
    ("Adam", float("nan"), r"finite number >= 0, got lr=nan"),
    ("Adam", -1e-3, r"invalid lr=-0.001"),
    ("AdamW", float("inf"), r"finite number >= 0, got lr=inf"),
    ("RMSprop", float("-inf"), r"lr=-inf"),
]:
    @bad(f"optim-{_cls}-lr-{_lr}", ValueError, _frag)
    def _(tmp, cls=_cls, lr=_lr):
        ps = _params()
        return (lambda: getattr(tg.optim, cls)(ps, lr=lr)), ps


@bad("optim-add-param-group-nan-lr", ValueError, "finite number >= 0, got lr=nan")
def _(tmp):
    ps = _params()
    opt = tg.optim.SGD(ps, lr=0.1)
    more = _params()
    return (lambda: opt.add_param_group({"params": more, "lr": float("nan")})), [opt] + ps


simple("optim-empty-params", ValueError, "empty parameter list",
       lambda: tg.optim.SGD([], lr=0.1))
simple("optim-tensor-not-iterable", TypeError, "iterable of Tensors or dicts",
       lambda: tg.optim.SGD(tg.ones(2, requires_grad=True), lr=0.1))


def _stepped_adam():
    ps = _params()
    opt = tg.optim.Adam(ps, lr=0.1)
    opt.step()
    return ps, opt


@bad("optim-load-state-dict-not-a-state-dict", ValueError, r"'state' and 'param_groups'")
def _(tmp):
    ps, opt = _stepped_adam()
    return (lambda: opt.load_state_dict({"foo": 1})), [opt] + ps


@bad("optim-load-state-dict-groups", ValueError, r"different number of parameter groups")
def _(tmp):
    ps, opt = _stepped_adam()
    sd = opt.state_dict()
    sd["param_groups"] = sd["param_groups"] * 2
    return (lambda: opt.load_state_dict(sd)), [opt] + ps


@bad("optim-load-state-dict-buffer-shape", ValueError,
     r"buffer .exp_avg. of parameter 0 has shape \(5,\), expected \(2,\) for the "
     r"parameter of shape \(2,\)")
def _(tmp):
    ps, opt = _stepped_adam()
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 123.0  # must not be applied when the state is refused
    sd["state"][0]["exp_avg"] = np.ones(5, np.float32)
    return (lambda: opt.load_state_dict(sd)), [opt] + ps


# ---- DataLoader misuse ----------------------------------------------------------------------
_DS = TensorDataset(tg.arange(6))
for _name, _kw, _exc, _frag in [
    ("batch-size-0", dict(batch_size=0), ValueError, "batch_size should be a positive integer"),
    ("batch-size-float", dict(batch_size=2.5), ValueError, "positive integer, got 2.5"),
    ("num-workers", dict(num_workers=-1), ValueError, "num_workers option should be non-neg"),
    ("shuffle-and-sampler", dict(shuffle=True, sampler=[0, 1]), ValueError,
     "mutually exclusive with shuffle"),
    ("shuffle-string", dict(shuffle="yes"), TypeError, "shuffle should be a boolean"),
    ("batch-sampler-and-size", dict(batch_sampler=[[0, 1]], batch_size=2), ValueError,
     "batch_sampler option is mutually exclusive"),
    ("drop-last-without-batching", dict(batch_size=None, drop_last=True), ValueError,
     "mutually exclusive with drop_last"),
]:
    simple(f"dataloader-{_name}", _exc, _frag, (lambda kw: lambda: DataLoader(_DS, **kw))(_kw))
simple("dataloader-not-a-dataset", TypeError, "map-style dataset", lambda: DataLoader(5))


# ---- indices out of range -----------------------------------------------------------------
simple("index-int", IndexError, r"index 5 is out of bounds.*size 3", lambda: tg.ones(3)[5])
simple("index-negative", IndexError, r"index -4 is out of bounds.*size 3", lambda: tg.ones(3)[-4])
simple("index-array", IndexError, r"index 3 is out of bounds.*size 3",
       lambda: tg.ones(3, requires_grad=True)[tg.tensor([0, 3])])
simple("index-too-many", IndexError, "too many indices", lambda: tg.ones(3)[0, 0])


@bad("index-setitem", IndexError, r"setitem.*index 5 is out of bounds")
def _(tmp):
    t = tg.ones(3)
    return (lambda: t.__setitem__(5, 2.0)), [t]


simple("index-sum-axis", IndexError, "axis 2 is out of range for a tensor of 1 dimensions",
       lambda: tg.ones(3).sum(axis=2))
simple("index-softmax-dim", IndexError, "axis 3 is out of range",
       lambda: F.softmax(tg.ones(3), dim=3))
simple("index-transpose", IndexError, "axis 5 is out of range",
       lambda: tg.ones(2, 3).transpose(0, 5))
simple("index-embedding", IndexError, r"index 3 is out of range for weight of shape \(3, 2\)",
       lambda: tg.nn.Embedding(3, 2)(tg.tensor([0, 3])))
simple("index-cross-entropy-class", IndexError, r"target index 7.*\[0, 4\)",
       lambda: F.cross_entropy(tg.ones(3, 4), tg.tensor([0, 1, 7])))
simple("index-item-non-scalar", ValueError, r"one-element tensor.*\(3,\)",
       lambda: tg.ones(3).item())
