"""Moving test data to the device a test runs on, and back for comparison.

Tests take the ``device`` fixture ("cpu", and "cuda" on real CuPy or on the strict stand-in),
build their inputs with NumPy as always, ``put`` them on the device, and compare ``host``
copies of the results with NumPy's or PyTorch's answers.
"""

import contextlib
import gc

import numpy as np

import tensorgrad as tg
from tensorgrad.backend.device import Device, to_host, xp_of


def put(x, device):
    """``x`` (a NumPy array, a Tensor, or a list/tuple/dict of them; numbers stay numbers) on
    ``device``."""
    if isinstance(x, tg.Tensor):
        return x.to(device)
    if isinstance(x, np.ndarray):
        return Device(device).put(x)
    if isinstance(x, (list, tuple)):
        return type(x)(put(v, device) for v in x)
    if isinstance(x, dict):
        return {k: put(v, device) for k, v in x.items()}
    return x


def host(x):
    """``x`` (a Tensor, an array of either device, a number, or containers of them) as NumPy
    values: the explicit copy from the device, for comparisons."""
    if isinstance(x, tg.Tensor):
        return x.numpy()
    if isinstance(x, (list, tuple)):
        return type(x)(host(v) for v in x)
    if isinstance(x, dict):
        return {k: host(v) for k, v in x.items()}
    if hasattr(x, "dtype") and hasattr(x, "shape"):
        return to_host(x)
    return x


def on(x, device):
    """Whether ``x`` (a Tensor or an array) lives on ``device``'s array module."""
    data = x.data if isinstance(x, tg.Tensor) else x
    return xp_of(data) is Device(device).xp


def torch_repr(ours, theirs):
    """(our repr, PyTorch's): ours follows PyTorch 2.13, whose normalisation layers print
    ``bias=``; an older PyTorch (2.11 on the GPU machine) does not, so it is left out of ours
    where theirs lacks it."""
    import re

    mine, ref = repr(ours), repr(theirs)
    if "bias=" not in ref:
        mine = re.sub(r", bias=(True|False)", "", mine)
    return mine, ref


def torch_oracle():
    """PyTorch, the oracle of the comparisons (the test is skipped where it is missing)."""
    import pytest

    return pytest.importorskip("torch")


def tensor_on(a, device, requires_grad=False):
    """A tensor of the NumPy data ``a`` on ``device``."""
    return tg.tensor(put(np.asarray(a), device), requires_grad=requires_grad)


def close_to_torch(mine, theirs, **tol):
    """Our result (any device) against PyTorch's tensor (or an array), on the host."""
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    np.testing.assert_allclose(host(mine), theirs, **tol)


def same_as_torch(mine, theirs, tol=1e-12):
    """Our tensor (any device) against PyTorch's: shape, dtype and values."""
    want = theirs.detach().resolve_conj().numpy()
    got = host(mine)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got, want)


def numeric_jacobian(f, x, eps=1e-6):
    """Central finite differences of ``f`` at the float64 host array ``x``: shape
    ``f(x).shape + x.shape`` (for a scalar ``f``, its gradient)."""
    x = np.asarray(x, dtype=float)
    y0 = np.asarray(f(x))
    jac = np.zeros(y0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        jac[(...,) + idx] = (np.asarray(f(x + d)) - np.asarray(f(x - d))) / (2 * eps)
    return jac


def assert_matches_cpu(f, x, device, rtol, grad_rtol, grad_atol=0.0):
    """The scalar ``f`` of a Tensor and its gradient at the host array ``x``, computed on
    ``device``, against the same computed on the CPU."""
    t = tg.tensor(x, device=device, requires_grad=True)
    out = f(t)
    out.backward()
    ref = tg.tensor(x, requires_grad=True)
    expected = f(ref)
    expected.backward()
    np.testing.assert_allclose(float(out.item()), float(expected.item()), rtol=rtol)
    np.testing.assert_allclose(t.grad.cpu().numpy(), ref.grad.numpy(), rtol=grad_rtol,
                               atol=grad_atol)


def fit(model, opt, loss_fn, x, y, steps):
    """The losses (floats) of ``steps`` steps of ``opt`` on ``loss_fn(model(x), y)``: the
    training loop of the tests that check a model learns."""
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@contextlib.contextmanager
def cyclic_garbage():
    """A list, filled when the block ends, of the tensorgrad objects (Tensors, graph nodes,
    autograd.Function contexts) that only the cyclic collector could free: the block runs with
    the collector off, then one collection saves what it finds. The CuPy stand-in makes ctypes
    types, cycles of their own, so only tensorgrad's objects count."""
    from tensorgrad.autograd.function import FunctionCtx
    from tensorgrad.autograd.graph import Node

    found = []
    gc.collect()
    gc.disable()
    try:
        yield found
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found.extend(o for o in gc.garbage if isinstance(o, (tg.Tensor, Node, FunctionCtx)))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def quiet(step, warmup=2):
    """Run ``step`` ``warmup`` times, then once more while the CuPy stand-in's recorder
    watches: the watcher of that last run, whose ``events`` are the host synchronisations real
    CuPy would make (lazy set-up, such as an optimizer's first flat buffers, may sync once)."""
    from cupy_standin import _sync

    for _ in range(warmup):
        step()
    with _sync.watch() as w:
        step()
    return w


def assert_quiet(step, warmup=2):
    """``step`` makes no host synchronisation after ``warmup`` runs (on the stand-in)."""
    w = quiet(step, warmup)
    assert not w.events, w.report()


def param_names(fn):
    """Parameter names of ``fn``, ``*name`` for a variadic one; ``**kwargs`` left out."""
    import inspect

    sig = inspect.signature(fn)
    return [("*" if p.kind == p.VAR_POSITIONAL else "") + p.name
            for p in sig.parameters.values() if p.kind != p.VAR_KEYWORD]


def torch_param_names(fn):
    """The parameter names of a torch function: its Python signature, or else the first line
    of its docstring ``name(a, b=1, *, c=None) -> Tensor``."""
    import inspect
    import re

    try:
        names = param_names(fn)
        if names or not inspect.signature(fn).parameters:
            return names
    except (TypeError, ValueError):
        pass
    head = fn.__doc__.strip().split("\n\n")[0].replace("\n", " ")
    while re.search(r"\[[^\[\]]*\]", head):  # type annotations: Union[Tensor, ...]
        head = re.sub(r"\[[^\[\]]*\]", "", head)
    inside = head[head.index("(") + 1:head.index(")")]
    names = []
    for part in inside.split(","):
        part = part.strip().lstrip("\\").split(":")[0].split("=")[0].strip()
        if part and part not in ("*", "/"):
            names.append(part)
    return names


def assert_takes_torchs_parameters(name, ours, want, not_taken=(), overloads=()):
    """``ours`` takes the parameters ``want`` (PyTorch's names, less ``not_taken``) in their
    order, and no others but those of PyTorch's other ``overloads``."""
    mine = param_names(ours)
    want = [p for p in want if p not in set(not_taken)]
    extra = set(mine) - set(want) - set(overloads)
    assert [p for p in mine if p in want] == want, (name, mine, want)
    assert not extra, (name, extra)


def against_torch(device, fn_tg, fn_torch, arrays, grad_args=(), rtol=1e-10, atol=1e-12,
                  pick=lambda r: r, rng=None):
    """Run both on float64 copies of ``arrays``; compare the values, then the gradients of a
    random weighting of the output (drawn from ``rng``) with respect to ``grad_args``."""
    torch = torch_oracle()
    rng = np.random.default_rng(0) if rng is None else rng
    ours = [tensor_on(a, device, requires_grad=i in grad_args) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i in grad_args) for i, a in enumerate(arrays)]
    out, ref = pick(fn_tg(*ours)), pick(fn_torch(*theirs)).resolve_conj()
    assert tuple(out.shape) == tuple(ref.shape), (out.shape, ref.shape)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=rtol, atol=atol)
    if grad_args:
        w = rng.standard_normal(tuple(ref.shape))
        if ref.dtype.is_complex:
            w = w + 1j * rng.standard_normal(tuple(ref.shape))
            (out * tensor_on(w, device)).real.sum().backward()
            (ref * torch.tensor(w)).real.sum().backward()
        else:
            (out * tensor_on(w, device)).sum().backward()
            (ref * torch.tensor(w)).sum().backward()
        for i in grad_args:
            np.testing.assert_allclose(host(ours[i].grad), theirs[i].grad.numpy(), rtol=rtol,
                                       atol=atol)
    return out, ref


def check_samples_and_expand(d, td, case, device):
    """Our distribution ``d`` against PyTorch's ``td``: with seed 0, samples of 0, 1 and 2
    sample dimensions of PyTorch's shape, on ``device``, without grad and inside the support;
    then both expanded to (2, *batch_shape): the same family, batch and event shapes. Returns
    the expanded (ours, PyTorch's)."""
    tg.manual_seed(0)
    for shape in ((), (4,), (2, 5)):
        s = d.sample(shape)
        assert tuple(s.shape) == tuple(td.sample(shape).shape)
        assert on(s, device) and not s.requires_grad
        assert bool(d.support.check(s).all().item()), f"{case} sample outside its support"
    new_batch = (2,) + tuple(d.batch_shape)
    e, te = d.expand(new_batch), td.expand(new_batch)
    assert type(e) is type(d)
    assert tuple(e.batch_shape) == tuple(te.batch_shape)
    assert tuple(e.event_shape) == tuple(te.event_shape)
    return e, te
