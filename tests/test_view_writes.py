"""In-place writes where views are involved: a write through one view, or into a base, is
seen by every other view of that base, in its values and in its derivatives, in reverse mode,
in forward mode and in torch.func's transforms, as in PyTorch. (Before, a view taken before a
write kept its old history: a silently wrong gradient.) autograd-style transforms keep
autograd's semantics, where ``y *= x`` binds ``y`` to a new value."""

import functools
import gc
import weakref

import numpy as np
import pytest
from devices import host, on, put, torch_oracle

import tensorgrad as tg

X4 = np.array([0.3, -0.7, 1.1, 0.5])


def sibling(lib, x):
    """A write through one view, read through another that overlaps it."""
    y = x * 1
    a, b = y[0:2], y[1:3]
    a.mul_(x[2:4])
    return b * y[3]


def base_then_view(lib, x):
    """A write into the base, read through a view taken before it."""
    y = x * 1
    v = y[1:3]
    y.mul_(x)
    return v


def plain_base(lib, x):
    """A base with no history takes a traced write; its earlier view gets one too."""
    y = lib.zeros(4, dtype=x.dtype, device=x.device)
    v = y[1:3]
    y.add_(x * 2)
    return v * v


def view_of_view(lib, x):
    """A view of a view whose middle tensor is gone; the write goes through another view."""
    y = x.reshape(2, 2) * 1
    vv = y.reshape(-1)[1:3]
    y[0].mul_(x[3])
    return vv


def transposed(lib, x):
    """A transposed view; the write is into a column of the base."""
    y = x.reshape(2, 2) * 1
    t = y.t()
    y[:, 0].mul_(x[2:4])
    return t * x.reshape(2, 2)


def assigned(lib, x):
    """``y[0:2] = ...`` with a view overlapping the written part."""
    y = x * 1
    b = y[1:3]
    y[0:2] = x[2:4] ** 2
    return b * y[2:4]


def chained_writes(lib, x):
    """Writes through a view of a view, then into the base; the first view is read."""
    y = x * 1
    v = y[1:4]
    w = v[0:2]
    w.sin_()
    y.mul_(x)
    return v.sin() + w.sum()


PROGRAMS = [sibling, base_then_view, plain_base, view_of_view, transposed, assigned,
            chained_writes]


def _torch_x(torch, x=X4, **kw):
    return torch.tensor(x, dtype=torch.float64, **kw)


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
def test_backward_through_views_matches_pytorch(program, device):
    torch = torch_oracle()
    w = np.linspace(1.0, 2.0, program(tg, tg.tensor(X4)).numel())
    x = tg.tensor(put(X4, device), requires_grad=True)
    out = program(tg, x)
    assert on(out, device)
    (out.reshape(-1) * tg.tensor(put(w, device))).sum().backward()
    xt = _torch_x(torch, requires_grad=True)
    ref = program(torch, xt)
    (ref.reshape(-1) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(x.grad), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
def test_view_writes_pass_gradcheck_both_modes_and_second_order(program, device):
    x = tg.tensor(put(X4, device), requires_grad=True)

    def f(x):
        return program(tg, x)

    assert tg.autograd.gradcheck(f, (x,), check_forward_ad=True)
    assert tg.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
def test_forward_ad_through_views_matches_pytorch(program, device):
    torch = torch_oracle()
    fwad, tfwad = tg.autograd.forward_ad, torch.autograd.forward_ad
    tan = np.array([1.0, 10.0, 100.0, 1000.0])
    with fwad.dual_level():
        out = program(tg, fwad.make_dual(tg.tensor(put(X4, device)), tg.tensor(put(tan, device))))
        primal, tangent = fwad.unpack_dual(out)
    with tfwad.dual_level():
        ref = program(torch, tfwad.make_dual(_torch_x(torch), _torch_x(torch, tan)))
        rp, rt = tfwad.unpack_dual(ref)
    assert on(primal, device) and on(tangent, device)
    np.testing.assert_allclose(host(primal), rp.numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(tangent), rt.numpy(), rtol=1e-12, atol=1e-12)


def test_forward_ad_write_reaches_the_primal_memory_as_pytorchs():
    """An in-place op on a dual writes its primal: a primal unpacked before sees it."""
    torch = torch_oracle()
    got = []
    for lib in (tg, torch):
        fwad = lib.autograd.forward_ad
        with fwad.dual_level():
            x = lib.tensor([1.0, 2.0], dtype=lib.float64)
            d = fwad.make_dual(x, lib.ones(2, dtype=lib.float64))
            before = fwad.unpack_dual(d).primal
            d.mul_(3)
            got.append((x.tolist(), before.tolist(), fwad.unpack_dual(d).tangent.tolist()))
    assert got[0] == got[1] == ([3.0, 6.0], [3.0, 6.0], [3.0, 3.0])


TRANSFORMS = ["grad", "vjp", "jacrev", "jvp", "jacfwd", "vmap", "vmap_grad", "hessian"]


def _transform(func, name, lib, x):
    """``name`` of the scalar-or-vector program ``func`` at ``x``, as plain nested lists."""
    def scalar(x):
        return (func(x).reshape(-1) ** 2).sum()

    if name == "grad":
        r = lib.func.grad(scalar)(x)
    elif name == "vjp":
        out, fn = lib.func.vjp(func, x)
        r = fn(lib.ones_like(out))[0]
    elif name == "jacrev":
        r = lib.func.jacrev(func)(x)
    elif name == "jvp":
        r = lib.stack([t.reshape(-1) for t in lib.func.jvp(func, (x,), (x * 0 + 1,))])
    elif name == "jacfwd":
        r = lib.func.jacfwd(func)(x)
    elif name.startswith("vmap"):
        f = func if name == "vmap" else lib.func.grad(scalar)
        try:
            r = lib.func.vmap(f)(lib.stack([x, 2 * x]))
        except RuntimeError:  # torch's vmap cannot write batched values into the plain base
            assert lib is not tg and func.__name__ == "plain_base"
            r = lib.stack([f(x), f(2 * x)])
    else:
        r = lib.func.hessian(scalar)(x)
    return r.tolist()


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
def test_torch_func_transforms_write_as_pytorch(program, name):
    torch = torch_oracle()
    def bind(lib):
        f = functools.partial(program, lib)
        f.__name__ = program.__name__
        return f

    mine = _transform(bind(tg), name, tg, tg.tensor(X4))
    theirs = _transform(bind(torch), name, torch, _torch_x(torch))
    np.testing.assert_allclose(mine, theirs, rtol=1e-11, atol=1e-12)


def test_saved_answer_overwritten_through_another_view_raises_as_pytorch(device):
    """exp_ saves its answer; a later write into the base overwrites it: backward refuses."""
    torch = torch_oracle()

    def program(lib, x):
        y = x * 1
        w = y[0:2]
        w.exp_()
        y.mul_(x)
        return w.sum()

    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        program(torch, _torch_x(torch, requires_grad=True)).backward()
    with pytest.raises(RuntimeError, match="'exp' .* was modified in place"):
        program(tg, tg.tensor(put(X4, device), requires_grad=True)).backward()


def test_vmap_takes_its_loop_only_where_a_write_meets_views():
    calls = []

    def no_views(x):
        calls.append(type(x).__name__)
        y = x * 2
        y.add_(1)
        return y.sum()

    def with_views(x):
        calls.append(type(x).__name__)
        return base_then_view(tg, x)

    xs = tg.tensor(np.stack([X4, 2 * X4]))
    np.testing.assert_allclose(tg.func.vmap(no_views)(xs).tolist(), (2 * xs + 1).sum(1).tolist())
    assert calls == ["Batched"]  # one batched call
    calls.clear()
    out = tg.func.vmap(with_views)(xs)
    np.testing.assert_allclose(out.tolist(), [base_then_view(tg, r).tolist() for r in xs])
    assert calls[0] == "Batched" and calls[1:] == ["Tensor", "Tensor"]  # then the loop


def test_autograd_style_transforms_keep_autograds_rebinding():
    """In autograd ``y *= x`` on a traced value makes a new value: a view taken before keeps
    the old one. tg.grad and tg.make_jvp do the same; tg.func's transforms write (above)."""
    autograd = pytest.importorskip("autograd")
    anp = autograd.numpy
    import tensorgrad.numpy as tnp

    def make(np_):
        def f(x):
            y = x * 1
            v = y[1:3]
            y *= x
            return np_.sum(v * v) + np_.sum(y)
        return f

    want = autograd.grad(make(anp))(X4)
    np.testing.assert_allclose(tg.grad(make(tnp))(X4), want, rtol=1e-12)
    want_jvp = autograd.make_jvp(make(anp))(X4)(np.ones(4))
    np.testing.assert_allclose(tg.make_jvp(make(tnp))(X4)(np.ones(4)), want_jvp, rtol=1e-12)
    # the same program through tg.func.grad writes, as torch.func.grad does
    torch = torch_oracle()
    theirs = torch.func.grad(make(torch))(_torch_x(torch)).numpy()
    np.testing.assert_allclose(tg.func.grad(make(tg))(tg.tensor(X4)).numpy(), theirs, rtol=1e-12)
    assert not np.allclose(theirs, want)  # the two semantics differ on this program


def test_views_are_held_weakly_and_their_list_stays_short():
    p = tg.randn(10, requires_grad=True)
    base = p * 1
    v = base[0:5]
    ref = weakref.ref(v)
    del v
    gc.collect()
    assert ref() is None  # the base does not keep its views alive
    for _ in range(5000):  # a tensor viewed at every step, as a weight is
        (base[2:4] * 2).sum()
    assert len(base._vc) <= 64  # [version, references to live or not yet dropped views]


def test_tensors_with_views_pickle_and_deepcopy_as_pytorchs():
    """A view's link and its base's references to views stay in this process: a pickled or
    copied tensor is a tensor of its own (pickling a view made in grad mode used to fail)."""
    import copy
    import pickle

    torch = torch_oracle()
    for lib in (tg, torch):
        x = lib.randn(4, requires_grad=True)
        v = x[0:2]
        y = lib.randn(4)
        w = y[1:3]
        for clone in (pickle.loads(pickle.dumps(x)), copy.deepcopy(x)):
            assert clone.requires_grad and clone.tolist() == x.tolist()
        w2 = pickle.loads(pickle.dumps(w))
        w2.add_(1)  # a tensor of its own now
        assert w2.tolist() == (w + 1).tolist() and y[1:3].tolist() == w.tolist()
        assert v.tolist() == x[0:2].tolist()


def test_write_into_a_view_whose_base_memory_was_replaced_leaves_it_alone():
    """``set_``/``.data =`` give the base new memory: its old views are views no more."""
    x = tg.tensor(X4, requires_grad=True)
    y = x * 1
    v = y[0:2]
    old = v.detach().clone()
    y.data = y.data.copy()
    y.mul_(x)
    assert v.tolist() == old.tolist()
    v.sum().backward()
    np.testing.assert_allclose(x.grad.tolist(), [1.0, 1.0, 0.0, 0.0])


def test_tensors_and_parameters_take_attributes_as_pytorchs():
    """``t.foo = 1`` on a tensor or a parameter, as training code marks parameters
    (``p.no_decay = True``); a view does not inherit them; pickle and deepcopy keep them."""
    import copy
    import pickle

    torch = torch_oracle()
    for lib in (tg, torch):
        t = lib.randn(3)
        t.tag = "input"
        assert t.tag == "input" and not hasattr(t[0:2], "tag")
        m = lib.nn.Linear(2, 2)
        m.weight.no_decay = True
        assert [n for n, p in m.named_parameters() if getattr(p, "no_decay", False)] == ["weight"]
    p = tg.nn.Parameter(tg.randn(2))
    p.bar = "x"
    assert copy.deepcopy(p).bar == "x" and pickle.loads(pickle.dumps(p)).bar == "x"
    assert type(copy.deepcopy(p)) is tg.nn.Parameter


def test_rows_of_a_buffer_viewed_before_being_filled_as_pytorch(device):
    """A buffer's rows taken as views first, then filled one by one: each write renews the
    one row it touches, and every row differentiates its own write."""
    torch = torch_oracle()

    def program(lib, x):
        buf = lib.zeros((4, 3), dtype=x.dtype, device=x.device)
        rows = [buf[i] for i in range(4)]  # (torch refuses unbind's views after a write)
        h = x
        for t in range(4):
            buf[t] = h = lib.tanh(h * (t + 1))
        return sum((r * (i + 1)).sum() for i, r in enumerate(rows)) + buf.sum()

    x = tg.tensor(put(X4[:3], device), requires_grad=True)
    program(tg, x).backward()
    xt = _torch_x(torch, X4[:3], requires_grad=True)
    program(torch, xt).backward()
    np.testing.assert_allclose(host(x.grad), xt.grad.numpy(), rtol=1e-12)


def test_custom_function_writing_a_view_in_place_as_pytorch(device):
    """An autograd.Function that doubles its input in place (``ctx.mark_dirty``), given a view:
    the base and the other views take the write, as after a built-in in-place op."""
    torch = torch_oracle()

    def program(lib, x, weights):
        class Double(lib.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                t.mul_(2)
                ctx.mark_dirty(t)
                return t

            @staticmethod
            def backward(ctx, g):
                return g * 2

        y = x * 1
        v = y[1:3]
        out = Double.apply(y[0:2])
        return (v * weights[0]).sum() + (y * weights[1]).sum() + out.sum(), y

    w = (np.array([10.0, 100.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    x = tg.tensor(put(X4, device), requires_grad=True)
    loss, y = program(tg, x, [tg.tensor(put(a, device)) for a in w])
    loss.backward()
    xt = _torch_x(torch, requires_grad=True)
    tloss, ty = program(torch, xt, [torch.tensor(a) for a in w])
    tloss.backward()
    np.testing.assert_allclose(host(y.detach()), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(x.grad), xt.grad.numpy(), rtol=1e-12)


def test_expand_to_the_same_shape_is_a_writable_view_as_pytorchs(device):
    torch = torch_oracle()
    got = []
    for lib, dev in ((tg, device), (torch, "cpu")):
        x = lib.tensor(put(X4, dev) if lib is tg else X4, requires_grad=True)
        y = x * 1
        row = y[None, 1:3].expand(1, 2)  # no dimension really broadcast
        row.mul_(4.0)
        (y * y).sum().backward()
        got.append((host(y.detach()) if lib is tg else y.detach().numpy(),
                    host(x.grad) if lib is tg else x.grad.numpy()))
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-12)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-12)
    with pytest.raises(RuntimeError, match="more than one element"):
        (tg.tensor(put(X4, device), requires_grad=True) * 1)[None].expand(3, 4).add_(1.0)


def test_in_place_on_a_gather_is_allowed():
    """``as_strided`` is a gather in tensorgrad (documented: a copy, not a view); an in-place
    op on its result used to be refused as a write into a view made outside grad mode."""
    x = tg.tensor(X4, requires_grad=True)
    y = x * 1
    w = tg.as_strided(y, (2, 2), (1, 1))  # overlapping windows [[0, 1], [1, 2]]
    w.mul_(2.0)
    w.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 2.0, 0.0] and y.tolist() == X4.tolist()


# ---- random programs of views and in-place writes, against PyTorch ----------------------------
_FUZZ_VIEWS = [
    lambda t, r: t[int(r.integers(0, t.shape[0])):] if t.ndim and t.shape[0] else t,
    lambda t, r: t.t() if t.ndim == 2 else t,
    lambda t, r: t.reshape(-1) if t.is_contiguous() else t,
    lambda t, r: t[..., ::2],
    lambda t, r: t.unsqueeze(0),
    lambda t, r: t.select(0, int(r.integers(0, t.shape[0]))) if t.ndim >= 2 and t.shape[0] else t,
    lambda t, r: t.diagonal() if t.ndim == 2 else t,
]


def _some_of(x, t):
    return x.reshape(-1)[:t.numel()].reshape(t.shape) if x.numel() >= t.numel() else 0.5


_FUZZ_WRITES = [
    lambda t, x: t.mul_(1.5),
    lambda t, x: t.add_(_some_of(x, t)),
    lambda t, x: t.sin_(),
    lambda t, x: t.mul_(t),  # reads the tensor it writes (left out in forward mode, below)
    lambda t, x: t.copy_(_some_of(x, t) * 2) if x.numel() >= t.numel() else t.mul_(3.0),
    lambda t, x: t.clamp_(-0.5, 0.8),
    lambda t, x: t.tanh_(),
]


def _random_program(lib, seed, x, writes):
    """2 to 6 steps, each a view of a tensor made so far or an in-place write into one; the
    result weighs every tensor made (so each view's values and derivatives count)."""
    r = np.random.default_rng(seed)
    y = x * 1
    made = [y]
    for _ in range(int(r.integers(2, 7))):
        src = made[int(r.integers(0, len(made)))]
        if r.integers(0, 3) < 2:
            made.append(_FUZZ_VIEWS[int(r.integers(0, len(_FUZZ_VIEWS)))](src, r))
        else:
            writes[int(r.integers(0, len(writes)))](src, x)
    w = np.random.default_rng(seed + 1000)
    return sum((t * lib.tensor(w.standard_normal(tuple(t.shape)))).sum() for t in made), y


_FUZZ_X = np.random.default_rng(0).standard_normal((4, 4)) * 0.7


@pytest.mark.parametrize("seed", range(60))
def test_random_view_programs_backward_as_pytorch(seed):
    torch = torch_oracle()
    got = []
    for lib in (tg, torch):
        x = lib.tensor(_FUZZ_X, requires_grad=True)
        try:
            loss, y = _random_program(lib, seed, x, _FUZZ_WRITES)
            loss.backward()
        except RuntimeError as e:  # both refuse (a saved value overwritten, ...)
            got.append(type(e))
            continue
        got.append((loss.item(), y.detach().numpy().copy(), x.grad.numpy().copy()))
    if got[1] is RuntimeError:
        assert got[0] is RuntimeError
        return
    assert got[0] is not RuntimeError
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-10)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-10)
    np.testing.assert_allclose(got[0][2], got[1][2], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(60))
def test_random_view_programs_forward_mode_as_pytorch(seed):
    """PyTorch's forward AD differs on ``t.mul_(t)`` (its tangent reads the written value:
    y * (y^2)' is not 2 y y', checked below), so that write is left out here."""
    torch = torch_oracle()
    writes = [w for i, w in enumerate(_FUZZ_WRITES) if i != 3]
    tan = np.random.default_rng(1).standard_normal((4, 4))
    got = []
    for lib in (tg, torch):
        fwad = lib.autograd.forward_ad
        with fwad.dual_level():
            x = fwad.make_dual(lib.tensor(_FUZZ_X), lib.tensor(tan))
            loss, y = _random_program(lib, seed, x, writes)
            (lp, lt), (yp, yt) = fwad.unpack_dual(loss), fwad.unpack_dual(y)
            got.append((lp.item(), lt.item(), yp.numpy().copy(), yt.numpy().copy()))
    for mine, theirs in zip(got[0], got[1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


def test_forward_mode_of_a_tensor_multiplied_by_itself_in_place():
    fwad = tg.autograd.forward_ad
    x, t = np.array([0.5, -2.0, 3.0]), np.array([1.0, 10.0, 100.0])
    with fwad.dual_level():
        y = fwad.make_dual(tg.tensor(x), tg.tensor(t)) * 1
        y.mul_(y)
        primal, tangent = fwad.unpack_dual(y)
    np.testing.assert_allclose(primal.numpy(), x * x)
    np.testing.assert_allclose(tangent.numpy(), 2 * x * t)  # d(y^2) = 2 y dy


def test_forward_mode_under_no_grad_reaches_views_of_a_plain_base(device):
    """Forward AD runs under no_grad too: a plain buffer's view made there takes the tangent
    of a dual written into the buffer, as PyTorch's (views are linked while a level is open)."""
    torch = torch_oracle()
    got = []
    for lib, dev in ((tg, device), (torch, "cpu")):
        fwad = lib.autograd.forward_ad
        with lib.no_grad(), fwad.dual_level():
            x = fwad.make_dual(lib.tensor(put(X4, dev) if lib is tg else X4),
                               lib.tensor(put(X4 * 10, dev) if lib is tg else X4 * 10))
            buf = lib.zeros(4, dtype=x.dtype, device=x.device)
            view = buf[1:3]
            buf.copy_(x * 2)
            primal, tangent = fwad.unpack_dual(view)
            got.append((host(primal), host(tangent)) if lib is tg else
                       (primal.numpy(), tangent.numpy()))
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-12)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-12)

    def f(x):
        buf = tg.zeros(4, dtype=x.dtype, device=x.device)
        view = buf[1:3]
        buf.copy_(x * 2)
        return view * 1

    with tg.no_grad():
        _, jvp_out = tg.func.jvp(f, (tg.tensor(put(X4, device)),), (tg.tensor(put(X4, device)),))
    np.testing.assert_allclose(host(jvp_out), 2 * X4[1:3], rtol=1e-12)


@pytest.mark.parametrize("name", ["jvp", "vjp", "jacobian", "hessian", "hvp"])
def test_torch_autograd_functional_writes_as_pytorch(name):
    """torch.autograd.functional's forms (Tensors in) run the function with PyTorch's in-place
    semantics, as tg.func does; the autograd-style forms keep autograd's (tested above)."""
    torch = torch_oracle()
    got = []
    for lib in (tg, torch):
        F = lib.autograd.functional
        x, v = lib.tensor(X4), lib.tensor([1.0, -2.0, 0.5, 3.0])

        def f(x):
            return base_then_view(lib, x) * 2

        def scalar(x):
            return (f(x) ** 2).sum()

        if name == "jvp":
            r = F.jvp(f, x, v)[1]
        elif name == "vjp":
            r = F.vjp(f, x, v[:2])[1]
        elif name == "jacobian":
            r = F.jacobian(f, x)
        elif name == "hessian":
            r = F.hessian(scalar, x)
        else:
            r = F.hvp(scalar, x, v)[1]
        got.append(np.asarray(r.tolist()))
    np.testing.assert_allclose(got[0], got[1], rtol=1e-12)
