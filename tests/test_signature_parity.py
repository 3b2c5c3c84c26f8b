"""Signature parity with PyTorch, as a permanent audit: for every public callable of the torch
namespaces below that tensorgrad also has, tensorgrad takes each parameter PyTorch names, by
keyword, at PyTorch's position when PyTorch's may be passed positionally. PyTorch's parameters
come from ``inspect.signature`` (Python-level functions and classes' ``__init__``) or, for its C
builtins, from the first line of the docstring (``add(input, other, *, alpha=1, out=None)``).

Deliberate differences live in ``EXCLUDED`` with a reason; an entry that no longer matches a
difference fails the audit too, so the table shrinks as tensorgrad grows. The behaviour behind
the parameters fixed with this audit is tested against PyTorch at the end of the file."""

import functools
import inspect
import re
import warnings

import numpy as np
import pytest
from devices import host, tensor_on, torch_oracle

import tensorgrad as tg

torch = torch_oracle()
TF = torch.nn.functional
F = tg.nn.functional
P = inspect.Parameter
_POSITIONAL = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)

# (label, PyTorch's namespace, tensorgrad's, how tensorgrad's objects are called: "function",
# "method" (self first) or "class" (compared by __init__, self first))
NAMESPACES = [
    ("nn", torch.nn, tg.nn),
    ("F", torch.nn.functional, tg.nn.functional),
    ("torch", torch, tg),
    ("Tensor", torch.Tensor, tg.Tensor),
    ("linalg", torch.linalg, tg.linalg),
    ("fft", torch.fft, tg.fft),
    ("special", torch.special, tg.special),
    ("optim", torch.optim, tg.optim),
    ("lr_scheduler", torch.optim.lr_scheduler, tg.optim.lr_scheduler),
    ("distributions", torch.distributions, tg.distributions),
    ("data", torch.utils.data, tg.utils.data),
    ("init", torch.nn.init, tg.nn.init),
    ("nn.utils", torch.nn.utils, tg.nn.utils),
]
# tensorgrad's NumPy-style names that bind the same positional slot as PyTorch's
ALIASES = {"dim": "axis", "keepdim": "keepdims"}

_CANNOT = "NumPy/CuPy arrays have no such notion"
_OUT = "out=: tensorgrad's functions return new arrays (no preallocated outputs)"
_OPERAND = ("the operand's keyword name: tensorgrad's fast operator method takes it positionally "
            "only (t.op(x) works, t.op(other=x) does not)")
_INTERNAL = "a PyTorch-internal or CUDA-only switch with no meaning here"

# {(namespace, name, parameter): reason}; "*" as the name matches every name of the namespace,
# "*" as the namespace every namespace
EXCLUDED = {
    ("*", "*", "out"): _OUT,
    ("*", "*", "layout"): "layout=: only strided tensors (" + _CANNOT + ")",
    ("*", "*", "pin_memory"): "pin_memory=: page-locked host memory is CUDA-runtime-only",
    ("*", "*", "memory_format"): "memory_format=: " + _CANNOT + " (tensor.to(memory_format=) "
                                  "is handled separately)",
    # Tensor operator methods whose operand is positional only
    **{("Tensor", n, p): _OPERAND
       for n, p in [("add_", "other"), ("sub_", "other"), ("subtract_", "other"), ("mul", "value"),
                    ("mul_", "value"), ("multiply", "value"), ("multiply_", "value"),
                    ("div", "value"), ("div_", "value"), ("divide", "value"),
                    ("divide_", "value"), ("true_divide", "value"), ("true_divide_", "value"),
                    ("floor_divide", "value"), ("floor_divide_", "value"),
                    ("pow", "exponent"), ("pow_", "exponent"), ("fmod", "divisor"),
                    ("fmod_", "divisor"), ("remainder", "divisor"), ("remainder_", "divisor"),
                    ("eq", "other"), ("eq_", "other"), ("ne", "other"), ("ne_", "other"),
                    ("ge", "other"), ("ge_", "other"), ("gt", "other"), ("gt_", "other"),
                    ("le", "other"), ("le_", "other"), ("lt", "other"), ("lt_", "other"),
                    ("dot", "other"), ("matmul", "tensor2"), ("bmm", "batch2"),
                    ("maximum", "other"), ("minimum", "other"), ("expand_as", "other"),
                    ("view_as", "other"), ("reshape_as", "other"), ("type_as", "tensor"),
                    ("take", "indices"), ("masked_scatter", "tensor"),
                    ("index_copy", "tensor2"), ("index_copy_", "tensor"),
                    ("is_set_to", "tensor"), ("where", "condition"), ("where", "y"),
                    ("swapaxes", "axis0"), ("swapaxes", "axis1"), ("swapaxes_", "axis0"),
                    ("swapaxes_", "axis1"), ("transpose", "dim0"), ("transpose", "dim1"),
                    ("transpose_", "dim0"), ("transpose_", "dim1"), ("narrow", "dimension"),
                    ("narrow_copy", "dimension"), ("hsplit", "split_size_or_sections"),
                    ("vsplit", "split_size_or_sections"), ("dsplit", "split_size_or_sections"),
                    ("orgqr", "input2"), ("ormqr", "input2"), ("ormqr", "input3"),
                    ("arctanh_", "other"), ("atanh_", "other"), ("unsafe_split", "split_size"),
                    ("frexp", "input"), ("put", "input"), ("histogram", "input"),
                    ("histogram", "bins"), ("put", "index"), ("put", "source"),
                    ("put", "accumulate")]},
    # top-level functions whose first, always positional, argument has another name
    **{("torch", n, p): _OPERAND
       for n, p in [("broadcast_to", "shape"), ("cat", "tensors"), ("concatenate", "tensors"),
                    ("stack", "tensors"), ("dot", "tensor"), ("empty_like", "input"),
                    ("full_like", "input"), ("ones_like", "input"), ("zeros_like", "input"),
                    ("from_numpy", "ndarray"), ("searchsorted", "values"),
                    ("swapaxes", "axis0"), ("swapaxes", "axis1"),
                    ("set_num_interop_threads", "int"),
                    ("narrow_copy", "input"), ("narrow_copy", "dim"), ("narrow_copy", "start"),
                    ("narrow_copy", "length")]},
    ("Tensor", "sum", "dtype"): "position: dtype is keyword-only after tensorgrad's axis/"
                                "keepdims aliases (t.sum(0, True, torch.float64) is rare)",
    ("Tensor", "prod", "dtype"): "position: as sum's",
    **{("Tensor", n, "dtype"): "position: tensorgrad's dtype is keyword-only (rarely positional)"
       for n in ("cumsum", "cumsum_", "cumprod", "cumprod_", "nansum")},
    **{("Tensor", "new_empty_strided", p): "position: keyword-only in tensorgrad, as PyTorch "
                                           "code passes them"
       for p in ("dtype", "device", "requires_grad")},
    ("torch", "save", "f"): "tensorgrad names it path (a path or a binary file, as f)",
    ("torch", "load", "f"): "tensorgrad names it path (a path or a binary file, as f)",
    ("torch", "norm", "dtype"): "position: tensorgrad's dtype is keyword-only",
    ("Tensor", "copy_", "non_blocking"): _INTERNAL,
    ("Tensor", "to_dense", "masked_grad"): _INTERNAL,
    ("Tensor", "to_sparse", "sparseDims"): "the legacy spelling of sparse_dim",
    ("Tensor", "random_", "from"): "`from` is a Python keyword; tensorgrad's is positional",
    ("Tensor", "uniform_", "from"): "`from` is a Python keyword; tensorgrad's is positional",
    ("Tensor", "resize_", "memory_format"): _CANNOT,
    ("Tensor", "resize_as_", "tensor"): _OPERAND,
    ("torch", "save", "_disable_byteorder_record"): "a private switch of torch's zip format",
}


def _split_top(text):
    """``text`` split at the commas outside brackets and quotes."""
    parts, depth, cur, quote = [], 0, "", None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return parts + [cur]


def _doc_params(fn, name):
    """PyTorch's parameters from the docstring's first signature ``name(a, b=1, *, c=None)``,
    as (name, kind) pairs, or None when it has none."""
    doc = (getattr(fn, "__doc__", None) or "").strip()
    doc = re.sub(r"^(torch\.)?(linalg|fft|special)\.", "", doc)  # linalg.norm(A, ...)
    if not doc.startswith(name + "("):
        return None
    head = doc[len(name) + 1:]
    depth, end = 1, None
    for i, ch in enumerate(head):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0:
            end = i
            break
    if end is None:
        return None
    out, kind = [], P.POSITIONAL_OR_KEYWORD
    for part in _split_top(head[:end]):
        part = part.strip().lstrip("\\").replace("\\", "")
        if not part:
            continue
        if part == "*":
            kind = P.KEYWORD_ONLY
        elif part == "/":
            out = [(n, P.POSITIONAL_ONLY) for n, _ in out]
        elif part.startswith("**"):
            continue
        else:
            star = part.startswith("*")
            pname = part.lstrip("*").split(":")[0].split("=")[0].strip()
            if not re.fullmatch(r"[A-Za-z_]\w*", pname):
                return None
            out.append((pname, P.VAR_POSITIONAL if star else kind))
            if star:
                kind = P.KEYWORD_ONLY
    return out


def _sig_params(fn):
    try:
        return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError):
        return None


def _opaque(params):
    return [k for _, k in params] == [P.VAR_POSITIONAL, P.VAR_KEYWORD]


def torch_params(obj, name, bound):
    """PyTorch's parameters of ``obj`` (less ``self`` where ``bound``), or None."""
    fn = obj.__init__ if inspect.isclass(obj) else obj
    params = _sig_params(fn)
    own = params[1:] if bound and params and params[0][0] == "self" else params
    if params is None or _opaque(own):
        params = _doc_params(fn, name) or _doc_params(obj, name)
        if params is None:
            return None
        return params  # documented signatures show no self
    if bound and params and params[0][0] == "self":
        params = params[1:]
    return params


def tensorgrad_params(obj, bound):
    """tensorgrad's parameters of ``obj``, less the first where ``bound`` (a method's tensor
    or a class's self, whatever its name); a forwarding ``(*args, **kwargs)`` wrapper is read
    through to the function it wraps (``__wrapped__``, or the ``fn`` of its closure)."""
    fn = obj.__init__ if inspect.isclass(obj) else obj
    params = _sig_params(fn)
    if params is None:
        return None
    if bound:
        params = params[1:]
    if _opaque(params):
        inner = getattr(fn, "__wrapped__", None)
        if inner is None and inspect.isfunction(fn):
            inner = inspect.getclosurevars(fn).nonlocals.get("fn")
        if callable(inner) and _sig_params(inner) is not None:
            params = _sig_params(inner)[1:] if bound else _sig_params(inner)
    return params


def _differences(theirs, ours):
    """{parameter: what is wrong} for PyTorch's ``theirs`` against tensorgrad's ``ours``."""
    kinds = dict(ours)
    names = [n for n, _ in ours]
    var_kw = any(k == P.VAR_KEYWORD for _, k in ours)
    var_pos = next((i for i, (_, k) in enumerate(ours) if k == P.VAR_POSITIONAL), None)
    positional = [n for n, k in ours if k in _POSITIONAL]
    out = {}
    their_positional = [n for n, k in theirs if k in _POSITIONAL]
    for name, kind in theirs:
        if kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            continue
        if kind != P.POSITIONAL_ONLY:
            if name not in kinds and not var_kw:
                out[name] = "missing"
                continue
            if kinds.get(name) == P.POSITIONAL_ONLY:
                out[name] = "not taken by keyword"
                continue
        if kind in _POSITIONAL:
            i = their_positional.index(name)
            if var_pos is not None and var_pos <= i:
                continue
            if i >= len(positional) or positional[i] not in (name, ALIASES.get(name)):
                if kind == P.POSITIONAL_ONLY and i < len(positional):
                    continue  # a positional-only slot: its name does not matter
                if name in names or not var_kw:
                    out[name] = f"position {i} (tensorgrad's positional: {positional})"
    return out


@functools.cache
def audit():
    """(compared names per namespace, {(namespace, name, param): problem}, unreadable names)."""
    compared, gaps, unreadable = {}, {}, []
    for label, theirs_ns, ours_ns in NAMESPACES:
        compared[label] = 0
        bound = label == "Tensor"
        for name in sorted(dir(theirs_ns)):
            if name.startswith("_"):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = getattr(theirs_ns, name, None)
                ours = getattr(ours_ns, name, None)
            if not (callable(theirs) and callable(ours)) or inspect.ismodule(theirs):
                continue
            module = getattr(theirs, "__module__", None) or "torch"
            if not module.startswith("torch"):
                continue  # re-exported from elsewhere (bisect_right in lr_scheduler)
            tp = torch_params(theirs, name, bound or inspect.isclass(theirs))
            if tp is None:
                unreadable.append((label, name))
                continue
            gp = tensorgrad_params(ours, bound or inspect.isclass(ours))
            if gp is None:
                unreadable.append((label, name))
                continue
            compared[label] += 1
            for param, problem in _differences(tp, gp).items():
                gaps[(label, name, param)] = problem
    return compared, gaps, unreadable


def _excluded(key):
    label, name, param = key
    return any(k in EXCLUDED for k in [key, (label, "*", param), ("*", "*", param)])


def test_every_torch_parameter_is_taken_or_excluded_with_a_reason():
    _, gaps, _ = audit()
    left = {k: v for k, v in gaps.items() if not _excluded(k)}
    assert not left, "\n".join(f"{k}: {v}" for k, v in sorted(left.items()))


def test_no_exclusion_is_stale():
    _, gaps, _ = audit()
    used = set()
    for label, name, param in gaps:
        for k in [(label, name, param), (label, "*", param), ("*", "*", param)]:
            if k in EXCLUDED:
                used.add(k)
    stale = sorted(set(EXCLUDED) - used)
    assert not stale, f"exclusions that match no difference any more: {stale}"


def test_the_walk_compares_every_namespace():
    compared, gaps, unreadable = audit()
    # floors well under today's counts: a walker that silently compares nothing fails
    floors = {"nn": 130, "F": 100, "torch": 380, "Tensor": 430, "linalg": 35, "fft": 15,
              "special": 50, "optim": 14, "lr_scheduler": 15, "distributions": 60, "data": 15,
              "init": 10, "nn.utils": 15}
    low = {k: (compared[k], v) for k, v in floors.items() if compared[k] < v}
    assert not low, low
    assert all(r for r in EXCLUDED.values()), "every exclusion gives a reason"


def test_docstring_signatures_are_parsed():
    assert _doc_params(torch.fft.fft2, "fft2") == [
        ("input", P.POSITIONAL_OR_KEYWORD), ("s", P.POSITIONAL_OR_KEYWORD),
        ("dim", P.POSITIONAL_OR_KEYWORD), ("norm", P.POSITIONAL_OR_KEYWORD),
        ("out", P.KEYWORD_ONLY)]
    assert [n for n, _ in torch_params(torch.Tensor.add, "add", True)] == ["other", "alpha"]
    # a position mismatch and a missing keyword are both found
    theirs = [("input", P.POSITIONAL_OR_KEYWORD), ("weight", P.POSITIONAL_OR_KEYWORD),
              ("eps", P.KEYWORD_ONLY)]
    ours = [("input", P.POSITIONAL_OR_KEYWORD), ("reduction", P.POSITIONAL_OR_KEYWORD),
            ("weight", P.POSITIONAL_OR_KEYWORD)]
    assert set(_differences(theirs, ours)) == {"weight", "eps"}


# ---- the behaviour behind the parameters this audit added ------------------------------------
_RNG = np.random.default_rng(7)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_elementwise_loss_weight_matches_torch(device, name, reduction):
    from devices import against_torch

    x, y, w = _RNG.standard_normal((3, 4)), _RNG.standard_normal((3, 4)), _RNG.random((3, 4))
    against_torch(device, lambda a, b, c: getattr(F, name)(a, b, reduction=reduction, weight=c),
                  lambda a, b, c: getattr(TF, name)(a, b, reduction=reduction, weight=c),
                  [x, y, w], grad_args=(0, 1, 2))
    with pytest.raises(ValueError, match=f"{name}: weight must have the input's shape"):
        getattr(F, name)(tensor_on(x, device), tensor_on(y, device),
                         weight=tensor_on(w[0], device))


_LEGACY = [(None, False), (False, None), (False, True), (True, False), (True, None)]


def _loss_cases():
    x, y = _RNG.standard_normal((4, 3)), _RNG.standard_normal((4, 3))
    p, b = _RNG.random((4, 3)), (_RNG.random((4, 3)) > 0.5) * 1.0
    c = np.array([0, 2, 1, 2])
    s = np.sign(_RNG.standard_normal(4))
    return {
        "mse_loss": ([x, y], ()), "l1_loss": ([x, y], ()), "smooth_l1_loss": ([x, y], ()),
        "kl_div": ([x, p], ()), "cross_entropy": ([x, c], ()), "nll_loss": ([x, c], ()),
        "binary_cross_entropy": ([p, b], ()), "binary_cross_entropy_with_logits": ([x, b], ()),
        "soft_margin_loss": ([x[:, 0], s], ()), "margin_ranking_loss": ([x[:, 0], y[:, 0], s], ()),
        "multi_margin_loss": ([x, c], ()), "poisson_nll_loss": ([x, p], ()),
    }


@pytest.mark.parametrize("name", sorted(_loss_cases()))
def test_legacy_size_average_and_reduce_map_to_torchs_reduction_with_its_warning(device, name):
    arrays, _ = _loss_cases()[name]
    for size_average, reduce in _LEGACY:
        kw = {"size_average": size_average, "reduce": reduce}
        with warnings.catch_warnings(record=True) as theirs_w:
            warnings.simplefilter("always")
            ref = getattr(TF, name)(*[torch.tensor(a) for a in arrays], **kw)
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated, "
                                             "please use reduction=") as ours_w:
            out = getattr(F, name)(*[tensor_on(a, device) for a in arrays], **kw)
        assert str(ours_w[0].message) == str(theirs_w[0].message)
        assert ours_w[0].filename == __file__  # points at the caller, as PyTorch's
        np.testing.assert_allclose(host(out), ref.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["L1Loss", "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
                                  "KLDivLoss", "SmoothL1Loss", "SoftMarginLoss"])
def test_loss_modules_take_size_average_and_reduce_as_torchs(name):
    for size_average, reduce in _LEGACY:
        with pytest.warns(UserWarning, match="reduction="):
            theirs = getattr(torch.nn, name)(size_average=size_average, reduce=reduce)
        with pytest.warns(UserWarning, match="reduction="):
            ours = getattr(tg.nn, name)(size_average=size_average, reduce=reduce)
        assert ours.reduction == theirs.reduction
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning without the legacy arguments
        assert getattr(tg.nn, name)(reduction="sum").reduction == "sum"


def test_legacy_reduction_reaches_a_module_forward(device):
    x, y = _RNG.standard_normal((3, 2)), _RNG.standard_normal((3, 2))
    with pytest.warns(UserWarning):
        ours = tg.nn.MSELoss(size_average=False)(tensor_on(x, device), tensor_on(y, device))
    with pytest.warns(UserWarning):
        ref = torch.nn.MSELoss(size_average=False)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(host(ours), ref.item(), rtol=1e-12)


def test_tensor_add_sub_alpha_and_div_rounding_mode(device):
    from devices import against_torch

    a, b = _RNG.standard_normal((2, 3)) * 5, _RNG.standard_normal((2, 3)) + 3
    for name in ("add", "sub", "subtract"):
        against_torch(device, lambda x, y: getattr(x, name)(y, alpha=-0.5),
                      lambda x, y: getattr(x, name)(y, alpha=-0.5), [a, b], grad_args=(0, 1))
        against_torch(device, lambda x, y: getattr(x, name)(other=y),
                      lambda x, y: getattr(x, name)(other=y), [a, b], grad_args=(0, 1))
    for name in ("div", "divide"):
        for mode in ("trunc", "floor"):
            against_torch(device, lambda x, y: getattr(x, name)(y, rounding_mode=mode),
                          lambda x, y: getattr(x, name)(y, rounding_mode=mode), [a, b])
        against_torch(device, lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y),
                      [a, b], grad_args=(0, 1))
    x = tensor_on(a, device)
    assert host(x.add(2.0, alpha=3)).tolist() == (torch.tensor(a).add(2.0, alpha=3)).tolist()


def test_tensor_split_takes_split_size_by_keyword(device):
    a = _RNG.standard_normal((5, 2))
    ours = tensor_on(a, device).split(split_size=2, dim=0)
    theirs = torch.tensor(a).split(split_size=2, dim=0)
    assert [tuple(t.shape) for t in ours] == [tuple(t.shape) for t in theirs]
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(host(o), t.numpy())
    assert [tuple(t.shape) for t in tensor_on(a, device).split([1, 4])] == [(1, 2), (4, 2)]


def test_hooks_take_hook_by_keyword(device):
    x = tensor_on(np.ones(3), device, requires_grad=True)
    y = x * 2.0
    seen = []
    y.register_hook(hook=lambda g: g * 10)
    x.register_post_accumulate_grad_hook(hook=lambda t: seen.append(host(t.grad).tolist()))
    y.sum().backward()
    assert seen == [[20.0, 20.0, 20.0]]


def test_rng_state_and_default_device_take_torchs_keywords():
    state = tg.get_rng_state()
    a = tg.rand(4)
    tg.set_rng_state(new_state=state)
    assert host(tg.rand(4)).tolist() == host(a).tolist()
    tg.set_default_device(device="cpu")
    assert tg.get_default_device() == tg.device("cpu")


def test_from_dlpack_device_and_copy(device):
    src = torch.arange(4.0)
    shared = tg.from_dlpack(src)
    copied = tg.from_dlpack(src, copy=True)
    src[0] = 7.0
    assert host(shared).tolist()[0] == 7.0 and host(copied).tolist()[0] == 0.0
    moved = tg.from_dlpack(ext_tensor=src, device=device)
    assert moved.device == tg.device(device) and host(moved).tolist() == src.tolist()
    if device != "cpu":
        with pytest.raises(ValueError, match="from_dlpack: copy=False"):
            tg.from_dlpack(src, device=device, copy=False)
    assert tg.from_dlpack(src, device="cpu", copy=False).device == tg.device("cpu")


def test_save_and_load_take_torchs_pickle_arguments(tmp_path, device):
    import pickle
    import types

    path = tmp_path / "m.tg"
    t = tensor_on(np.arange(3.0), device)
    tg.save({"t": t}, path, pickle_module=pickle, pickle_protocol=4,
            _use_new_zipfile_serialization=True)
    for mmap in (None, False, True):
        back = tg.load(path, map_location=device, pickle_module=pickle, weights_only=True,
                       mmap=mmap)
        assert host(back["t"]).tolist() == [0.0, 1.0, 2.0]
    other = types.ModuleType("dill")
    with pytest.raises(ValueError, match="save: pickle_module=dill cannot be used"):
        tg.save({"t": t}, path, pickle_module=other)
    with pytest.raises(ValueError, match="load: pickle_module=dill cannot be used"):
        tg.load(path, pickle_module=other)
    with pytest.raises(TypeError, match="load: mmap must be a bool"):
        tg.load(path, mmap="yes")


def test_compile_takes_torchs_newer_switches():
    def f(x):
        return x * 2

    assert tg.compile(f, name="f", recompile_limit=4, isolate_recompiles=True,
                      shapes_spec=None) is f
    assert tg.compile(name="g")(f) is f


# ---- the losses take PyTorch's positional order --------------------------------------------
def test_losses_take_weight_third_as_pytorch(device):
    """``F.cross_entropy(x, y, w)``, ``F.nll_loss(x, y, w)`` and the BCE pair: the third
    positional argument is the class/element weight, as in PyTorch (it was ``reduction``)."""
    torch = torch_oracle()
    tF, F = torch.nn.functional, tg.nn.functional
    rng = np.random.default_rng(7)
    x, y, w = rng.standard_normal((6, 4)), rng.integers(0, 4, 6), rng.random(4) + 0.5
    p, t, ew = rng.random((6, 4)), rng.random((6, 4)), rng.random((6, 4)) + 0.5
    cases = [
        (F.cross_entropy, tF.cross_entropy, (x, y, w)),
        (F.nll_loss, tF.nll_loss, (np.log(p / p.sum(1, keepdims=True)), y, w)),
        (F.binary_cross_entropy, tF.binary_cross_entropy, (p, t, ew)),
        (F.binary_cross_entropy_with_logits, tF.binary_cross_entropy_with_logits, (x, t, ew)),
    ]
    for ours, theirs, args in cases:
        got = ours(*(tensor_on(a, device) for a in args))
        want = theirs(*(torch.tensor(a) for a in args))
        np.testing.assert_allclose(host(got), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "mse_loss", "l1_loss",
                                  "binary_cross_entropy", "binary_cross_entropy_with_logits",
                                  "smooth_l1_loss", "kl_div"])
def test_a_reduction_passed_third_is_a_clear_error(device, name):
    """The order tensorgrad had (``F.mse_loss(x, y, "sum")``) fails loudly, naming the op and
    the argument the string landed in, instead of being taken as a weight or a flag."""
    x = tensor_on(np.full((3, 2), 0.25), device)
    target = tensor_on(np.array([0, 1, 0]), device) if name in ("cross_entropy", "nll_loss") \
        else x
    with pytest.raises(TypeError, match=f"{name}\\(\\): argument '(weight|size_average)' got "
                                        "the string 'sum'; reduction is a keyword argument"):
        getattr(tg.nn.functional, name)(x, target, "sum")


@pytest.mark.parametrize("name", ["div_", "divide_"])
@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
@pytest.mark.parametrize("kind", ["float", "int"])
def test_in_place_division_takes_rounding_mode_as_pytorch(device, name, mode, kind):
    torch = torch_oracle()
    a = np.array([7.5, -7.5, 3.0, -2.0]) if kind == "float" else np.array([7, -7, 3, -2])
    b = np.array([2.0, 2.0, -2.0, 3.0]) if kind == "float" else np.array([2, 2, -2, 3])
    x, tx = tensor_on(a.copy(), device), torch.tensor(a.copy())
    if kind == "int" and mode is None:  # a float quotient cannot be written into integers
        with pytest.raises(TypeError, match="divide: Cannot cast"):
            getattr(x, name)(tensor_on(b, device))
        return
    kept = x
    out = getattr(x, name)(tensor_on(b, device), rounding_mode=mode)
    getattr(tx, name)(torch.tensor(b), rounding_mode=mode)
    assert out is kept and x.dtype == a.dtype
    np.testing.assert_array_equal(host(x), tx.numpy())
