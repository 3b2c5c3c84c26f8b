"""Module, optimizer and autograd-graph hooks beyond the forward/backward ones, each checked
against PyTorch's behaviour: half/bfloat16/set_submodule/extra state/to_empty, the deprecated
backward hook, state-dict hooks, global module hooks, saved-tensor hooks, multi-grad hooks and
grad_fn hooks."""

import warnings

import numpy as np
import pytest
from devices import close_to_torch, host, on, put, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad.autograd import graph
from tensorgrad.nn.modules import Module

torch = torch_oracle()
nn = tg.nn


def _twins(device, sizes=(3, 4, 2)):
    """A Linear-Tanh-Linear net in tensorgrad (on ``device``) and in PyTorch, same weights."""
    rng = np.random.default_rng(0)
    ours = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.Tanh(), nn.Linear(sizes[1], sizes[2]))
    theirs = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.Tanh(),
                                 torch.nn.Linear(sizes[1], sizes[2]))
    sd = {k: rng.standard_normal(tuple(v.shape)).astype(np.float32)
          for k, v in ours.state_dict().items()}
    ours.load_state_dict(sd)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    ours.to(device)
    x = rng.standard_normal((5, sizes[0])).astype(np.float32)
    return ours, theirs, x


def _raises_same(ours, theirs):
    """Both callables raise, the same exception type; returns it."""
    with pytest.raises(Exception) as mine:
        ours()
    with pytest.raises(Exception) as ref:
        theirs()
    assert type(mine.value) is type(ref.value), (mine.value, ref.value)
    return mine.value


# ---- casts, set_submodule, extra state, to_empty ---------------------------------------------
class _WithBuffers:
    @staticmethod
    def make(lib):
        m = lib.nn.Linear(2, 3)
        m.register_buffer("steps", lib.zeros(2, dtype=lib.int64))
        m.register_buffer("scale", lib.ones(3))
        return m


def test_half_casts_floating_state_like_torch(device):
    ours, theirs = _WithBuffers.make(tg).to(device), _WithBuffers.make(torch)
    assert ours.half() is ours
    theirs.half()
    got = {k: str(v.dtype) for k, v in ours.state_dict().items()}
    want = {k: str(v.dtype).removeprefix("torch.") for k, v in theirs.state_dict().items()}
    assert got == want == {"weight": "float16", "bias": "float16", "steps": "int64",
                           "scale": "float16"}
    assert all(on(v, device) for v in ours.state_dict().values())
    y = ours(tg.ones(4, 2, dtype=tg.float16, device=device))
    assert y.dtype == np.float16 and on(y, device)


def test_bfloat16_is_a_clear_error_as_tensor_bfloat16():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="bfloat16.*no bfloat16 dtype") as e:
        m.bfloat16()
    with pytest.raises(TypeError, match="no bfloat16 dtype"):
        tg.ones(2).bfloat16()  # the same kind of error as the tensor's
    assert "half()" in str(e.value)
    assert m.weight.dtype == np.float32  # nothing changed


def test_set_submodule_like_torch():
    def build(lib):
        outer = lib.nn.Module()
        outer.net_b = lib.nn.Module()
        outer.net_b.linear = lib.nn.Linear(3, 3)
        return outer

    ours, theirs = build(tg), build(torch)
    ours.set_submodule("net_b.linear", nn.Tanh())
    theirs.set_submodule("net_b.linear", torch.nn.Tanh())
    ours.set_submodule("net_b.conv", nn.ReLU())  # strict=False: a new child of an existing one
    theirs.set_submodule("net_b.conv", torch.nn.ReLU())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()] == \
        ["", "net_b", "net_b.linear", "net_b.conv"]
    assert type(ours.get_submodule("net_b.linear")).__name__ == "Tanh"
    cases = [
        (lambda o: o.set_submodule("net_b.other", o.net_b.conv, strict=True)),  # AttributeError
        (lambda o: o.set_submodule("missing.conv", o.net_b.conv)),  # AttributeError
        (lambda o: o.set_submodule("", o.net_b.conv)),  # ValueError
        (lambda o: o.set_submodule("net_b.conv", 3)),  # ValueError: not a module
    ]
    kinds = [type(_raises_same(lambda c=c: c(ours), lambda c=c: c(theirs))) for c in cases]
    assert kinds == [AttributeError, AttributeError, ValueError, ValueError]


def _counter_class(lib):
    class Counter(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(2, 2)
            self.count = 0

        def get_extra_state(self):
            return {"count": self.count}

        def set_extra_state(self, state):
            self.count = state["count"]

    return Counter


def test_extra_state_in_state_dict_like_torch(device):
    Ours, Theirs = _counter_class(tg), _counter_class(torch)
    wrap_ours = nn.Sequential(Ours(), nn.Linear(2, 2)).to(device)
    wrap_theirs = torch.nn.Sequential(Theirs(), torch.nn.Linear(2, 2))
    wrap_ours[0].count = wrap_theirs[0].count = 7
    sd = wrap_ours.state_dict()
    assert list(sd) == list(wrap_theirs.state_dict()) == \
        ["0._extra_state", "0.lin.weight", "0.lin.bias", "1.weight", "1.bias"]
    assert sd["0._extra_state"] == {"count": 7}
    fresh = nn.Sequential(Ours(), nn.Linear(2, 2)).to(device)
    assert fresh.load_state_dict(sd) == ([], [])
    assert fresh[0].count == 7
    # a missing extra state is a missing key; one for a module without set_extra_state is an
    # unexpected key: the lists PyTorch gives
    sd_t = wrap_theirs.state_dict()
    for drop_or_add in ("drop", "add"):
        mine, ref = dict(sd), dict(sd_t)
        if drop_or_add == "drop":
            del mine["0._extra_state"], ref["0._extra_state"]
        else:
            mine["1._extra_state"] = ref["1._extra_state"] = 1
        got = fresh.load_state_dict(mine, strict=False)
        want = torch.nn.Sequential(Theirs(), torch.nn.Linear(2, 2)).load_state_dict(
            ref, strict=False)
        assert (list(got.missing_keys), list(got.unexpected_keys)) == \
            (list(want.missing_keys), list(want.unexpected_keys))
        with pytest.raises(RuntimeError, match="_extra_state"):
            fresh.load_state_dict(mine)
    with pytest.raises(RuntimeError, match="get_extra_state"):
        nn.Linear(2, 2).get_extra_state()


def test_to_empty_keeps_parameters_and_moves_them(device):
    m = nn.Linear(3, 2)
    m.register_buffer("running", tg.ones(2))
    want = {k: host(v).copy() for k, v in m.state_dict().items()}
    params = list(m.parameters())
    opt = tg.optim.SGD(m.parameters(), lr=0.1)
    assert m.to_empty(device=device) is m
    assert list(m.parameters()) == params  # the same Parameter objects: the optimizer holds them
    assert {k: (tuple(v.shape), str(v.dtype)) for k, v in m.state_dict().items()} == {
        "weight": ((2, 3), "float32"), "bias": ((2,), "float32"), "running": ((2,), "float32")}
    assert all(on(v, device) for v in m.state_dict().values())
    m.load_state_dict({k: put(v, device) for k, v in want.items()})
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(host(v), want[k])
    m(tg.ones(1, 3, device=device)).sum().backward()
    opt.step()
    assert not np.array_equal(host(m.weight), want["weight"])
    # PyTorch's signature: keyword-only device, recurse
    tm = torch.nn.Linear(3, 2).to_empty(device="cpu")
    assert tuple(tm.weight.shape) == tuple(m.weight.shape)
    with pytest.raises(TypeError):
        m.to_empty("cpu")


# ---- the deprecated backward hook -------------------------------------------------------------
def test_register_backward_hook_runs_as_full_and_warns_where_torch_does(device):
    ours, theirs, x = _twins(device)
    seen_o, seen_t = [], []
    ours[1].register_backward_hook(lambda m, gi, go: seen_o.append((gi, go)))
    theirs[1].register_backward_hook(lambda m, gi, go: seen_t.append((gi, go)))
    xo = tensor_on(x, device, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one node, fed by a non-leaf: neither warns
        ours[1](xo * 1).sum().backward()
        theirs[1](xt * 1).sum().backward()
    # fed by a leaf (PyTorch's hook sees AccumulateGrad among the next nodes): both warn
    with pytest.warns(FutureWarning, match="multiple autograd Nodes"):
        ours[1](xo)
    with pytest.warns(FutureWarning, match="multiple autograd Nodes"):
        theirs[1](xt)
    assert len(seen_o) == len(seen_t) == 1
    close_to_torch(seen_o[0][0][0], seen_t[0][0][0], rtol=1e-5)
    close_to_torch(seen_o[0][1][0], seen_t[0][1][0], rtol=1e-5)
    # Linear: several nodes in forward (PyTorch's hook would miss grad_input): both warn
    ours[0].register_backward_hook(lambda m, gi, go: None)
    theirs[0].register_backward_hook(lambda m, gi, go: None)
    with pytest.warns(FutureWarning, match="multiple autograd Nodes"):
        ours[0](tensor_on(x, device, requires_grad=True))
    with pytest.warns(FutureWarning, match="multiple autograd Nodes"):
        theirs[0](torch.tensor(x, requires_grad=True))
    # mixing with a full hook on one module is refused by both
    err = _raises_same(lambda: ours[0].register_full_backward_hook(lambda *a: None),
                       lambda: theirs[0].register_full_backward_hook(lambda *a: None))
    assert "Cannot use both" in str(err)
    ours[2].register_full_backward_hook(lambda *a: None)
    theirs[2].register_full_backward_hook(lambda *a: None)
    _raises_same(lambda: ours[2].register_backward_hook(lambda *a: None),
                 lambda: theirs[2].register_backward_hook(lambda *a: None))


# ---- state-dict hooks ---------------------------------------------------------------------------
def _nested(lib):
    inner = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.ReLU())
    return lib.nn.Sequential(inner, lib.nn.Linear(2, 1))


def _log_state_dict_hooks(model, log):
    handles = []
    for name, m in model.named_modules():
        handles.append(m.register_state_dict_pre_hook(
            lambda mod, prefix, keep_vars, name=name: log.append(("pre", name, prefix,
                                                                  keep_vars))))
        handles.append(m.register_state_dict_post_hook(
            lambda mod, sd, prefix, meta, name=name: log.append(("post", name, prefix,
                                                                 len(sd), meta["version"]))))
    return handles


def test_state_dict_hooks_order_and_arguments_like_torch(device):
    ours, theirs = _nested(tg).to(device), _nested(torch)
    log_o, log_t = [], []
    handles = _log_state_dict_hooks(ours, log_o)
    _log_state_dict_hooks(theirs, log_t)
    sd = ours.state_dict(keep_vars=True)
    theirs.state_dict(keep_vars=True)
    assert log_o == log_t and len(log_o) == 10
    assert dict(sd._metadata) == dict(theirs.state_dict()._metadata)
    for h in handles:
        h.remove()
    log_o.clear()
    ours.state_dict()
    assert log_o == []


def test_state_dict_post_hooks_edit_and_replace_like_torch():
    results = []
    for lib in (tg, torch):
        m = _nested(lib)
        m[0][0].register_state_dict_post_hook(
            lambda mod, sd, prefix, meta: [sd.pop(prefix + "bias")] and None)
        # the older hook may return a new dict: honoured at the root only
        m[1]._register_state_dict_hook(lambda mod, sd, prefix, meta: {"child": 1})
        m._register_state_dict_hook(lambda mod, sd, prefix, meta: dict(sd, root=1))
        results.append(list(m.state_dict()))
        m[1].register_state_dict_post_hook(lambda *a: {"returned": 1})
        with pytest.raises(RuntimeError, match="must return None"):
            m.state_dict()
    assert results[0] == results[1] == ["0.0.weight", "1.weight", "1.bias", "root"]


def test_load_state_dict_pre_hooks_like_torch(device):
    calls = {}
    for lib in (tg, torch):
        log = calls[lib.__name__] = []
        m = _nested(lib)
        sd = m.state_dict()

        def rename(mod, state_dict, prefix, local_metadata, strict, missing, unexpected, errors,
                   log=log):
            log.append((type(mod).__name__, prefix, dict(local_metadata), strict, len(missing)))
            old = prefix + "old_weight"
            if old in state_dict:  # a legacy name, renamed as a real loader would
                state_dict[prefix + "weight"] = state_dict.pop(old)

        for mod in m.modules():
            mod.register_load_state_dict_pre_hook(rename)
        legacy = dict(sd)
        legacy["1.old_weight"] = legacy.pop("1.weight") * 0 + 3
        assert not any(m.load_state_dict(legacy))
        assert float(m[1].weight.sum().item()) == 6.0
        assert "1.old_weight" in legacy  # the caller's dict is left alone
        # error_msgs from a hook fail the load
        m[1]._register_load_state_dict_pre_hook(
            lambda state_dict, prefix, *rest: rest[-1].append("no good"))
        with pytest.raises(RuntimeError, match="no good"):
            m.load_state_dict(sd)
    assert calls["tensorgrad"] == calls["torch"]
    # a plain dict has no _metadata: {}; a state_dict() result gives each module's version
    assert calls["tensorgrad"][0] == ("Sequential", "", {}, True, 0)
    assert calls["tensorgrad"][-1] == ("Linear", "1.", {"version": 1}, True, 0)


def test_load_state_dict_post_hooks_like_torch(device):
    outcome = {}
    for lib in (tg, torch):
        m = _nested(lib)
        if lib is tg:
            m.to(device)
        seen = []
        handle = m[0].register_load_state_dict_post_hook(
            lambda mod, keys: seen.append((list(keys.missing_keys), list(keys.unexpected_keys))))
        m.register_load_state_dict_post_hook(
            lambda mod, keys: keys.missing_keys.clear())  # forgives missing keys
        partial = {k: v for k, v in m.state_dict().items() if k != "1.bias"}
        result = m.load_state_dict(partial)  # strict, yet no error: the hook cleared them
        outcome[lib.__name__] = (seen, list(result.missing_keys))
        handle.remove()
        m.register_load_state_dict_post_hook(lambda mod, keys: 1)
        with pytest.raises(AssertionError, match="not expected to return new values"):
            m.load_state_dict(m.state_dict())
        assert len(seen) == 1
    assert outcome["tensorgrad"] == outcome["torch"] == ([([], [])], [])


def test_optimizer_state_dict_hooks_like_torch():
    logs = {}
    for lib in (tg, torch):
        log = logs[lib.__name__] = []
        w = lib.zeros(2, requires_grad=True)
        opt = lib.optim.SGD([w], lr=0.1, momentum=0.9)
        (w * 2).sum().backward()
        opt.step()
        opt.register_state_dict_pre_hook(lambda o: log.append("pre"))
        opt.register_state_dict_pre_hook(lambda o: log.append("pre-first"), prepend=True)
        h = opt.register_state_dict_post_hook(
            lambda o, sd: log.append(("post", sorted(sd))) or dict(sd, extra=1))
        sd = opt.state_dict()
        log.append(("result", sorted(sd)))
        h.remove()
        opt.register_load_state_dict_pre_hook(
            lambda o, sd: log.append(("load-pre", sorted(sd))) or
            {k: v for k, v in sd.items() if k != "extra"})
        opt.register_load_state_dict_post_hook(
            lambda o: log.append(("load-post", o.param_groups[0]["lr"])))
        sd["param_groups"][0]["lr"] = 0.5
        opt.load_state_dict(sd)
        log.append(("lr", opt.param_groups[0]["lr"], "extra" in sd))
    assert logs["tensorgrad"] == logs["torch"]
    assert logs["torch"][-1] == ("lr", 0.5, True)


# ---- hooks common to all modules ----------------------------------------------------------------
def _global_api(lib):
    return lib.nn.modules.module


def test_global_module_hooks_order_and_replacement_like_torch(device):
    ours, theirs, x = _twins(device)
    logs = {}
    for lib, model, inp in ((tg, ours, tensor_on(x, device, requires_grad=True)),
                            (torch, theirs, torch.tensor(x, requires_grad=True))):
        api = _global_api(lib)
        log = logs[lib.__name__] = []
        model[0].register_forward_pre_hook(lambda m, a: log.append("local-pre"))
        model[0].register_forward_hook(lambda m, a, out: log.append("local-fwd"))
        model[2].register_full_backward_hook(lambda m, gi, go: log.append("local-bwd"))
        model[2].register_full_backward_pre_hook(lambda m, go: log.append("local-bwd-pre"))
        handles = [
            api.register_module_forward_pre_hook(
                lambda m, a: log.append(("pre", type(m).__name__))),
            api.register_module_forward_hook(
                lambda m, a, out: log.append(("fwd", type(m).__name__))),
            api.register_module_full_backward_pre_hook(
                lambda m, go: log.append(("bwd-pre", type(m).__name__))),
            api.register_module_full_backward_hook(
                lambda m, gi, go: log.append(("bwd", type(m).__name__))),
            # a global forward hook may replace the output: Tanh's doubled
            api.register_module_forward_hook(
                lambda m, a, out: out * 2 if type(m).__name__ == "Tanh" else None),
        ]
        y = model(inp)
        y.sum().backward()
        log.append(("y", host(y).round(5).tolist() if lib is tg else
                    y.detach().numpy().round(5).tolist()))
        log.append(("grad", host(inp.grad).round(4).tolist() if lib is tg else
                    inp.grad.numpy().round(4).tolist()))
        for h in handles:
            h.remove()
        log.append("removed")
        model(inp)
    assert logs["tensorgrad"] == logs["torch"]
    assert Module.__call__ is Module._call_plain  # the plain path is back


def test_global_forward_pre_hook_with_kwargs_always_call_and_kinds():
    api = _global_api(tg)
    seen = []

    class Boom(nn.Module):
        def forward(self, x, scale=1):
            raise ValueError("boom")

    h1 = api.register_module_forward_hook(lambda m, a, kw, out: seen.append(("kw", kw)),
                                          with_kwargs=True)
    h2 = api.register_module_forward_hook(lambda m, a, out: seen.append(("always", out)),
                                          always_call=True)
    h3 = api.register_module_forward_pre_hook(lambda m, a: (a[0] + 1,))
    try:
        assert nn.Identity()(tg.ones(1), ).item() == 2.0
        with pytest.raises(ValueError, match="boom"):
            Boom()(tg.ones(1), scale=3)
    finally:
        for h in (h1, h2, h3):
            h.remove()
    assert seen[0] == ("kw", {}) and ("always", None) in seen
    # full and deprecated global backward hooks do not mix, as in PyTorch
    h = api.register_module_full_backward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="Cannot use both"):
        api.register_module_backward_hook(lambda *a: None)
    h.remove()
    h = api.register_module_backward_hook(lambda *a: None)
    h.remove()
    assert Module.__call__ is Module._call_plain
    import tensorgrad.nn.modules.module as by_import
    assert by_import.register_module_forward_hook is api.register_module_forward_hook


# ---- saved-tensor hooks -------------------------------------------------------------------------
def _loss(lib, model, x):
    return (model(x) ** 2).sum()


def test_saved_tensors_hooks_pack_unpack_like_torch(device):
    ours, theirs, x = _twins(device)
    counts = {}
    for lib, model, inp in ((tg, ours, tensor_on(x, device, requires_grad=True)),
                            (torch, theirs, torch.tensor(x, requires_grad=True))):
        store, c = [], counts.setdefault(lib.__name__, {"pack": 0, "unpack": 0})

        def pack(t, store=store, c=c):
            c["pack"] += 1
            store.append(t)
            return len(store) - 1

        def unpack(i, store=store, c=c):
            c["unpack"] += 1
            return store[i]

        with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
            loss = _loss(lib, model, inp)
        packs = c["pack"]
        assert packs > 0 and c["unpack"] == 0  # packed while recording, unpacked in backward
        loss.backward(retain_graph=True)
        assert c["unpack"] == packs
        loss.backward()
        assert c["unpack"] == 2 * packs  # each backward unpacks again
        with pytest.raises(RuntimeError):
            loss.backward()  # freed, as usual
        c["grad"] = inp.grad
    close_to_torch(counts["tensorgrad"]["grad"], counts["torch"]["grad"], rtol=1e-4, atol=1e-6)
    from tensorgrad.ops import registry

    assert registry.Node is graph.Node  # nothing left swapped in after the context


def test_saved_tensors_hooks_nesting_and_errors_like_torch(device):
    for lib in (tg, torch):
        outer, inner = [], []
        x = tg.ones(3, requires_grad=True, device=device) if lib is tg else \
            torch.ones(3, requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: outer.append(1) or t, lambda t: t):
            with lib.autograd.graph.saved_tensors_hooks(lambda t: inner.append(1) or t,
                                                        lambda t: t):
                y = x.exp()  # saves (at least) its answer
            z = y.exp()
        assert inner and outer  # the innermost context packs
        (z.sum()).backward()
        assert float(x.grad.sum()) == pytest.approx(3 * np.exp(1 + np.e), rel=1e-5)
        with lib.autograd.graph.disable_saved_tensors_hooks("no hooks here"):
            with pytest.raises(RuntimeError, match="no hooks here"):
                with lib.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                    pass
    with tg.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t[:1]):
        y = tg.ones(3, requires_grad=True, device=device).exp().sum()
    with pytest.raises(RuntimeError, match="unpack hook returned shape"):
        y.backward()


def test_save_on_cpu_keeps_host_copies_and_same_gradients(device):
    ours, theirs, x = _twins(device)
    xo = tensor_on(x, device, requires_grad=True)
    plain = tensor_on(x, device, requires_grad=True)
    _loss(tg, ours, plain).backward()
    with tg.autograd.graph.save_on_cpu(pin_memory=False):
        loss = _loss(tg, ours, xo)
    held = []
    for n in graph.tape_order(loss._node):
        if isinstance(n.args, graph._Packed):
            for dev, t in (v for v in n.args.held() if isinstance(v, tuple)):
                assert on(t, "cpu")  # what is kept lives in host memory
                assert dev is None if device == "cpu" else str(dev).startswith("cuda")
                held.append(t)
    assert held
    loss.backward()
    np.testing.assert_allclose(host(xo.grad), host(plain.grad), rtol=1e-6)
    xt = torch.tensor(x, requires_grad=True)
    with torch.autograd.graph.save_on_cpu(pin_memory=False):
        _loss(torch, theirs, xt).backward()
    close_to_torch(xo.grad, xt.grad, rtol=1e-4, atol=1e-6)


# ---- multi-grad hooks and grad_fn hooks ----------------------------------------------------------
def test_multi_grad_hook_all_like_torch(device):
    results = {}
    for lib in (tg, torch):
        if lib is tg:
            a = tensor_on(np.random.default_rng(1).random((2, 3)), device, requires_grad=True)
            b = tensor_on(np.random.default_rng(2).random((2, 3)), device, requires_grad=True)
        else:
            a = torch.tensor(np.random.default_rng(1).random((2, 3)), requires_grad=True)
            b = torch.tensor(np.random.default_rng(2).random((2, 3)), requires_grad=True)
        c = a * b
        d = a * b
        seen = results[lib.__name__] = []
        h = lib.autograd.graph.register_multi_grad_hook(
            (a, b, c, d), lambda grads: seen.append([g is not None for g in grads]))
        c.sum().backward(retain_graph=True)
        c.sum().backward(inputs=(a,), retain_graph=True)
        (c + d).sum().backward(retain_graph=True)
        h.remove()
        c.sum().backward()
        assert len(seen) == 3
    assert results["tensorgrad"] == results["torch"] == [
        [True, True, True, False], [True, False, True, False], [True, True, True, True]]


def test_multi_grad_hook_any_and_errors_like_torch(device):
    firsts = {}
    for lib in (tg, torch):
        a = lib.ones(2, requires_grad=True) if lib is torch else \
            tg.ones(2, requires_grad=True, device=device)
        b = a * 3
        c = b * 5
        got = firsts[lib.__name__] = []
        lib.autograd.graph.register_multi_grad_hook(
            (a, b), lambda g: got.append(float(g.sum())), mode="any")
        c.sum().backward(retain_graph=True)
        c.sum().backward()
        with pytest.raises(ValueError, match="mode"):
            lib.autograd.graph.register_multi_grad_hook((a,), print, mode="some")
    assert firsts["tensorgrad"] == firsts["torch"] == [10.0, 10.0]  # b's, once per pass


def test_grad_fn_prehook_and_hook_like_torch(device):
    out = {}
    for lib in (tg, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True) if lib is torch else \
            tensor_on(np.array([1.0, 2.0], np.float32), device, requires_grad=True)
        b = lib.tensor([3.0, 4.0], requires_grad=True) if lib is torch else \
            tensor_on(np.array([3.0, 4.0], np.float32), device, requires_grad=True)
        y = a * b
        log = out[lib.__name__] = []
        h1 = y.grad_fn.register_prehook(lambda go: log.append("pre") or (go[0] * 2,))
        h2 = y.grad_fn.register_hook(
            lambda gi, go: log.append(("post", len(gi), float(go[0].sum()))) or
            (gi[0] + 1, None))
        y.sum().backward(retain_graph=True)
        log.append((host(a.grad).tolist() if lib is tg else a.grad.tolist(), b.grad))
        h1.remove()
        h2.remove()
        a.grad = None
        y.sum().backward()
        log.append(host(a.grad).tolist() if lib is tg else a.grad.tolist())
    assert out["tensorgrad"] == out["torch"] == [
        "pre", ("post", 2, 4.0), ([7.0, 9.0], None), [3.0, 4.0]]
    a = tg.ones(2, requires_grad=True)
    y = a * 2
    y.grad_fn.register_hook(lambda gi, go: (gi[0],) * 3)
    with pytest.raises(RuntimeError, match="incorrect number of values"):
        y.sum().backward()
    t = torch.ones(2, requires_grad=True) * 2
    t.grad_fn.register_hook(lambda gi, go: (gi[0],) * 3)
    with pytest.raises(RuntimeError, match="incorrect number of values"):
        t.sum().backward()
