"""Run PyTorch's own sample inputs (the OpInfo database of ``torch.testing._internal``) through
tensorgrad and compare with PyTorch: forward values, shapes and dtypes, and the gradients of
every input that requires one (a random cotangent per output, float64).

Used by ``tests/test_opinfo_torch.py``; ``python tests/opinfo_check.py [op ...]`` prints what
differs, op by op. torch is the oracle here: nothing under ``tensorgrad/`` imports it.

How an op reaches tensorgrad: an OpInfo wrapper written in torch's test module (``lambda x, n:
torch.polygamma(n, x)``, ``wrapper_set_seed(torch.randn, ...)``) runs again with ``torch``
bound to tensorgrad; any other op is looked up by its name (``nn.functional.conv2d`` ->
``tg.nn.functional.conv2d``, ``T`` -> the property, ``cauchy_`` -> the method).
"""

import signal
import sys
import types
import warnings

import numpy as np
import torch
from torch.testing._internal.common_methods_invocations import op_db

# torch's test utilities freeze torch.backends' flags on import (torch.backends.cudnn.benchmark =
# ... raises after it); other tests set them as user programs do
torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True

import tensorgrad as tg  # noqa: E402

DTYPES = (torch.float64, torch.complex128, torch.int64, torch.bool, torch.float32)
MAX_SAMPLES = 24  # per op and dtype
DEVICE = ["cpu"]  # where tensorgrad's tensors live (``check(..., device=)``)
SECONDS = 20  # per sample, both libraries together
HIGHER_SAMPLES = 6  # samples per op checked in forward mode and to second order

# ops whose samples draw random numbers (compared by shape and dtype only): OpInfo wraps most in
# ``wrapper_set_seed``; these draw without it
RANDOM = {"bernoulli", "multinomial", "nn.functional.rrelu", "nn.functional.dropout",
          "nn.functional.dropout2d", "nn.functional.dropout3d", "nn.functional.alpha_dropout",
          "nn.functional.feature_alpha_dropout", "nn.functional.fractional_max_pool2d",
          "nn.functional.fractional_max_pool3d", "nn.functional.scaled_dot_product_attention",
          "normal", "rand_like", "randn_like", "randint_like", "randint", "empty", "empty_like",
          "empty_strided", "empty_permuted", "new_empty", "new_empty_strided",
          "torch.empty", "uniform", "cauchy", "exponential", "geometric", "log_normal"}


def key(op):
    return op.name + ("." + op.variant_test_name if op.variant_test_name else "")


OPS = {key(op): op for op in op_db}


def _tg_dtype(d):
    return getattr(tg, str(d).split(".")[1])


def _tg_function(f):
    """tensorgrad's function of the name of torch's function ``f`` (a value in a sample's
    arguments, such as ``distance_function=torch.pairwise_distance``)."""
    name = getattr(f, "__name__", None)
    for ns in (tg, tg.nn.functional, tg.linalg, tg.special):
        if name and callable(getattr(ns, name, None)):
            return getattr(ns, name)
    return f


def _tg_encoder_layer(layer):
    """tensorgrad's TransformerEncoderLayer configured as torch's ``layer`` (an argument of
    TransformerEncoder's samples), with its parameters."""
    attn, lin = layer.self_attn, layer.linear1
    act = layer.activation
    ours = tg.nn.TransformerEncoderLayer(
        attn.embed_dim, attn.num_heads, dim_feedforward=lin.out_features,
        dropout=layer.dropout.p, activation=_tg_function(act) if callable(act) else act,
        layer_norm_eps=layer.norm1.eps, batch_first=attn.batch_first,
        norm_first=layer.norm_first, bias=lin.bias is not None)
    ours.load_state_dict({k: tg.tensor(t.detach().numpy().copy())
                          for k, t in layer.state_dict().items()})
    return ours


def to_tg(v, leaves):
    """A sample's argument with torch's tensors, dtypes, sizes and functions made tensorgrad's;
    (torch leaf, tensorgrad leaf) pairs for the tensors that require grad go to ``leaves``."""
    if isinstance(v, torch.Tensor):
        if v.layout != torch.strided:
            raise NotImplementedError(f"sample tensor with layout {v.layout}")
        rg = bool(v.requires_grad)
        for tv, tt in leaves if rg else ():  # one tensor passed twice stays one leaf
            if tv is v:
                return tt
        a = v.detach().resolve_conj().resolve_neg().numpy().copy()
        t = tg.tensor(a, requires_grad=rg, device=DEVICE[0])
        if rg:
            leaves.append((v, t))
        return t
    if isinstance(v, torch.Size):
        return tuple(v)
    if isinstance(v, (list, tuple)):
        out = [to_tg(x, leaves) for x in v]
        return tuple(out) if isinstance(v, tuple) else out
    if isinstance(v, dict):
        return {k: to_tg(x, leaves) for k, x in v.items()}
    if isinstance(v, torch.dtype):
        return _tg_dtype(v)
    if isinstance(v, torch.device):
        return str(v)
    if isinstance(v, torch.memory_format):
        return getattr(tg, str(v).split(".")[1])
    if isinstance(v, torch.layout):
        return getattr(tg, str(v).split(".")[1])
    if isinstance(v, torch.nn.TransformerEncoderLayer):
        return _tg_encoder_layer(v)
    if isinstance(v, torch.nn.Module) and not list(v.parameters()):
        return getattr(tg.nn, type(v).__name__)()  # PairwiseDistance(): default arguments
    if callable(v) and (getattr(v, "__module__", "") or "").startswith("torch") or \
            type(v).__name__ == "builtin_function_or_method":
        return _tg_function(v)
    return v


def _no_seed(op, *args, **kwargs):
    return op(*args, **kwargs)


def _rebound(f):
    """OpInfo's wrapper ``f`` with ``torch`` meaning tensorgrad."""
    g = dict(f.__globals__)
    g["torch"] = tg
    g["wrapper_set_seed"] = _no_seed
    h = types.FunctionType(f.__code__, g, f.__name__, f.__defaults__, f.__closure__)
    h.__kwdefaults__ = f.__kwdefaults__
    return h


def tg_callable(op):
    """(kind, tensorgrad's callable (input, *args, **kwargs)) of OpInfo ``op``, or (None,
    None) where tensorgrad has no such name."""
    f = op.op
    if isinstance(f, types.FunctionType) and (f.__module__ or "").startswith("torch.testing"):
        return "wrapper", _rebound(f)
    obj = tg
    for part in op.name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            break
    if obj is not None and callable(obj) and not isinstance(obj, types.ModuleType):
        return "function", obj
    attr = getattr(tg.Tensor, op.name, None)
    if isinstance(attr, property):
        return "property", lambda x: getattr(x, op.name)
    if attr is not None:
        return "method", lambda x, *a, **k: getattr(x, op.name)(*a, **k)
    return None, None


def _flat(v):
    if isinstance(v, (list, tuple)):
        return [y for x in v for y in _flat(x)]
    return [v]


def _array(v):
    if isinstance(v, torch.Tensor) and v.layout != torch.strided:
        v = v.to_dense()
    if isinstance(v, tg.Tensor) and getattr(v, "is_sparse", False):
        v = v.to_dense()
    if isinstance(v, torch.Tensor):
        return v.detach().resolve_conj().resolve_neg().cpu().numpy(force=True)
    if isinstance(v, tg.Tensor):
        return np.asarray(v.detach().cpu().numpy())
    return np.asarray(v)


def _tol(dtype):
    return {"f": {2: 1e-3, 4: 1e-5, 8: 1e-7}, "c": {8: 1e-5, 16: 1e-7}}.get(
        dtype.kind, {}).get(dtype.itemsize, 0)


def differs(want, got, scale=1.0, check_dtype=True):
    """What differs between torch's ``want`` and tensorgrad's ``got``, or None."""
    if isinstance(want, (bool, int, float, complex)) and not isinstance(want, torch.Tensor):
        if not isinstance(got, (bool, int, float, complex, np.generic, tg.Tensor, np.ndarray)):
            return f"type {type(got).__name__}, torch {type(want).__name__}"
    a, b = _array(want), _array(got)
    if a.shape != b.shape:
        return f"shape {b.shape}, torch {a.shape}"
    if check_dtype and a.dtype != b.dtype and not (isinstance(want, (bool, int, float, complex))):
        return f"dtype {b.dtype}, torch {a.dtype}"
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        tol = max(_tol(a.dtype), _tol(b.dtype), 1e-12) * scale
        a, b = a.astype(np.complex128), b.astype(np.complex128)
        finite = np.abs(a[np.isfinite(a)])
        atol = tol * max(1.0, float(finite.max()) if finite.size else 1.0)  # sums of many terms
        if not np.allclose(b, a, rtol=tol, atol=atol, equal_nan=True):
            err = np.abs(a - b)
            err = err[~np.isnan(err)]
            return f"values: max difference {err.max() if err.size else 'nan'}"
    elif not np.array_equal(a, b):
        return "values"
    return None


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout()


def short(v):
    """An argument in a line of the report: tensors by their shape."""
    if isinstance(v, torch.Tensor):
        return f"T{tuple(v.shape)}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(short(x) for x in v) + "]"
    return repr(v)


def arguments(args, kwargs):
    return ", ".join([short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()])


def _describe(s):
    return f"({short(s.input)}, {arguments(s.args, s.kwargs)})"


def assert_as_expected(problems, key, table, stale_check=True):
    """No ``problems`` unless ``table`` (key -> (reason, substrings...)) lists ``key``; then every
    problem contains one of its substrings, and (``stale_check``) there is at least one, so
    that a fixed difference leaves the table."""
    if key not in table:
        assert not problems, "\n".join(problems[:12])
        return
    reason, *patterns = table[key]
    if stale_check:
        assert problems, f"{key} agrees with torch now: remove it from the table ({reason})"
    other = [p for p in problems if not any(pat in p for pat in patterns)]
    assert not other, "\n".join(other[:12])


def main(names, check, what):
    """Print what differs for each name (``python tests/<x>_check.py [name ...]``)."""
    quiet()
    n_bad = 0
    for name in names:
        probs = check(name)
        if probs:
            n_bad += 1
            print(f"== {name} ({len(probs)})")
            for p in probs[:5]:
                print("   ", p[:300])
    print(f"{n_bad} {what} differ", file=sys.stderr)


def check_sample(op, fn, s, i, dtype, random_op, grads):
    """The differences (strings) of one sample."""
    torch.manual_seed(0)
    try:
        want = op.op(s.input, *s.args, **s.kwargs)
    except Exception:  # torch refuses its own sample here (a deprecated form): nothing to compare
        return []
    if not random_op:
        torch.manual_seed(1)
        again = op.op(s.input, *s.args, **s.kwargs)
        random_op = any(isinstance(x, torch.Tensor) and x.dtype.is_floating_point and
                        x.layout == torch.strided and x.shape == y.shape and not torch.equal(x, y)
                        for x, y in zip(_flat(want), _flat(again)))
    where = f"[{i}] {str(dtype).split('.')[1]} {_describe(s)}"
    leaves = []
    try:
        got = fn(to_tg(s.input, leaves), *to_tg(list(s.args), leaves),
                 **to_tg(dict(s.kwargs), leaves))
    except _Timeout:
        raise
    except NotImplementedError as e:
        if "sample tensor with layout" in str(e):
            return []
        return [f"{where}: raises {type(e).__name__}: {str(e)[:160]}"]
    except Exception as e:
        return [f"{where}: raises {type(e).__name__}: {str(e)[:160]}"]
    # compared as OpInfo's gradient checks see them: eigenvectors up to phase, for instance
    try:
        fw, fg = _flat(s.output_process_fn_grad(want)), _flat(s.output_process_fn_grad(got))
    except Exception as e:
        return [f"{where}: output not processable as torch's: {type(e).__name__}: {e}"[:300]]
    if len(fw) != len(fg):
        return [f"{where}: {len(fg)} outputs, torch {len(fw)}"]
    for a, b in zip(fw, fg):
        if random_op:
            if _array(a).shape != _array(b).shape:
                return [f"{where}: shape {_array(b).shape}, torch {_array(a).shape}"]
            continue
        bad = differs(a, b)
        if bad:
            return [f"{where}: {bad}"]
    if random_op or not grads or not leaves:
        return []
    # gradients: a random cotangent for each differentiable output
    wp, gp = _flat(s.output_process_fn_grad(want)), _flat(s.output_process_fn_grad(got))
    pairs = [(a, b) for a, b in zip(wp, gp) if isinstance(a, torch.Tensor) and a.requires_grad
             and (a.dtype.is_floating_point or a.dtype.is_complex)]
    if not pairs:
        return []
    rng = np.random.default_rng(i)
    cots = [rng.standard_normal(tuple(a.shape)).astype(_array(a).dtype) for a, _ in pairs]
    try:
        tgrads = torch.autograd.grad([a for a, _ in pairs], [t for t, _ in leaves],
                                     [torch.from_numpy(c) for c in cots], allow_unused=True)
    except RuntimeError:  # not differentiable in torch either (an integer input, say)
        return []
    try:
        if not all(isinstance(b, tg.Tensor) for _, b in pairs):
            raise TypeError("an output that torch differentiates is not a Tensor")
        # each cotangent on its output's device (`to` moves an output off DEVICE)
        ggrads = tg.autograd.grad([b for _, b in pairs], [t for _, t in leaves],
                                  [tg.tensor(c, device=b.device) for c, (_, b) in
                                   zip(cots, pairs)], allow_unused=True)
    except _Timeout:
        raise
    except Exception as e:
        return [f"{where}: gradient raises {type(e).__name__}: {str(e)[:160]}"]
    for n, (a, b) in enumerate(zip(tgrads, ggrads)):
        shape = tuple(leaves[n][0].shape)
        a = np.zeros(shape) if a is None else _array(a)
        b = np.zeros(shape) if b is None else _array(b)
        bad = differs(a, b, scale=10, check_dtype=False)
        if bad:
            return [f"{where}: gradient of input {n}: {bad}"]
    if i < HIGHER_SAMPLES and op.supports_forward_ad:
        bad = _forward_mode(op, fn, s, leaves, rng)
        if bad:
            return [f"{where}: forward mode: {bad}"]
    if i < HIGHER_SAMPLES and op.supports_gradgrad:
        bad = _second_order(op, fn, s, leaves, rng)
        if bad:
            return [f"{where}: second order: {bad}"]
    return []


def _replace(v, swap):
    """``v`` with the objects keyed by id in ``swap`` replaced."""
    if id(v) in swap:
        return swap[id(v)]
    if isinstance(v, (list, tuple)) and not isinstance(v, torch.Size):
        out = [_replace(x, swap) for x in v]
        return tuple(out) if isinstance(v, tuple) else out
    if isinstance(v, dict):
        return {k: _replace(x, swap) for k, x in v.items()}
    return v


def _as_function(call, sample_args, originals, process, wrapper):
    """f(*leaves) -> the float outputs of ``call`` on the sample with its leaves replaced, through
    OpInfo's gradcheck wrapper (which makes a Hermitian input of a square one, for instance)."""
    def f(*new):
        swap = {id(o): n for o, n in zip(originals, new)}
        inp, args, kwargs = _replace(sample_args, swap)
        out = _flat(process(wrapper(call, inp, *args, **kwargs)))
        return tuple(o for o in out if getattr(o, "dtype", None) is not None and (
            (o.dtype.is_floating_point or o.dtype.is_complex) if isinstance(o, torch.Tensor) else
            np.dtype(o.dtype).kind in "fc"))
    return f


def _both(op, fn, s, leaves):
    tsample = (s.input, list(s.args), dict(s.kwargs))
    t_leaves = [t for t, _ in leaves]
    g_leaves = [g for _, g in leaves]
    # tensorgrad's arguments with its leaves in the same places as torch's
    holder = []
    gsample = (to_tg(s.input, holder), to_tg(list(s.args), holder), to_tg(dict(s.kwargs), holder))
    g_leaves = [g for _, g in holder]
    ft = _as_function(op.op, tsample, t_leaves, s.output_process_fn_grad, op.gradcheck_wrapper)
    wrapper = op.gradcheck_wrapper
    if isinstance(wrapper, types.FunctionType) and wrapper.__module__.startswith("torch.testing"):
        wrapper = _rebound(wrapper)
    fg = _as_function(fn, gsample, g_leaves, s.output_process_fn_grad, wrapper)
    return ft, fg, t_leaves, g_leaves


def _forward_mode(op, fn, s, leaves, rng):
    """torch.func.jvp against tg.func.jvp with one random tangent per input."""
    ft, fg, tl, gl = _both(op, fn, s, leaves)
    tangents = [rng.standard_normal(tuple(t.shape)) for t in tl]
    try:
        _, want = torch.func.jvp(ft, tuple(t.detach() for t in tl),
                                 tuple(torch.from_numpy(v) for v in tangents))
    except Exception:  # torch has no forward-mode rule here
        return None
    try:
        _, got = tg.func.jvp(fg, tuple(g.detach() for g in gl),
                             tuple(tg.tensor(v, device=DEVICE[0]) for v in tangents))
    except Exception as e:
        return f"raises {type(e).__name__}: {str(e)[:160]}"
    for a, b in zip(_flat(want), _flat(got)):
        bad = differs(a, b, scale=10, check_dtype=False)
        if bad:
            return bad
    return None


def _second_order(op, fn, s, leaves, rng):
    """The gradient of <grad f . u, w>: a random cotangent u of the outputs, then a random w
    against the first gradients."""
    ft, fg, tl, gl = _both(op, fn, s, leaves)
    t_in = [t.detach().requires_grad_() for t in tl]
    outs = ft(*t_in)
    if not outs:
        return None
    us = [rng.standard_normal(tuple(o.shape)) for o in outs]
    ws = [rng.standard_normal(tuple(t.shape)) for t in t_in]
    try:
        g1 = torch.autograd.grad(outs, t_in, [torch.from_numpy(u) for u in us], create_graph=True,
                                 allow_unused=True)
        pairs = [(g, w) for g, w in zip(g1, ws) if g is not None and g.requires_grad]
        if not pairs:
            return None
        want = torch.autograd.grad([g for g, _ in pairs], t_in,
                                   [torch.from_numpy(w) for _, w in pairs], allow_unused=True)
    except Exception:
        return None
    g_in = [g.detach().requires_grad_() for g in gl]
    try:
        gouts = fg(*g_in)
        listed = gouts if isinstance(gouts, (tuple, list)) else [gouts]
        h1 = tg.autograd.grad(gouts, g_in, [tg.tensor(u, device=o.device)
                                            for u, o in zip(us, listed)],
                              create_graph=True, allow_unused=True)
        idx = [k for k, g in enumerate(g1) if g is not None and g.requires_grad]
        hp = [(h1[k], ws[k]) for k in idx if h1[k] is not None and h1[k].requires_grad]
        if not hp:
            got = [None] * len(g_in)
        else:
            got = tg.autograd.grad([h for h, _ in hp], g_in,
                                   [tg.tensor(w, device=h.device) for h, w in hp],
                                   allow_unused=True)
    except Exception as e:
        return f"raises {type(e).__name__}: {str(e)[:160]}"
    for t, a, b in zip(t_in, want, got):
        a = np.zeros(tuple(t.shape)) if a is None else _array(a)
        b = np.zeros(tuple(t.shape)) if b is None else _array(b)
        bad = differs(a, b, scale=100, check_dtype=False)
        if bad:
            return bad
    return None


def check(op, dtypes=DTYPES, device="cpu"):
    """Every difference of ``op`` on its samples, as strings (empty: all agree), with
    tensorgrad's tensors on ``device``."""
    DEVICE[0] = device
    kind, fn = tg_callable(op)
    if kind is None:
        return [f"no tensorgrad name for {op.name}"]
    supported = op.supported_dtypes("cpu")
    random_op = op.name in RANDOM or (isinstance(op.op, types.FunctionType) and
                                      "wrapper_set_seed" in op.op.__code__.co_names)
    problems = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for dtype in dtypes:
            if dtype not in supported:
                continue
            grads = dtype == torch.float64 and op.supports_autograd
            torch.manual_seed(1234)  # torch draws the samples: the same ones on every run
            try:
                samples = op.sample_inputs("cpu", dtype, requires_grad=grads)
            except Exception as e:  # torch's own generator fails (a missing optional module)
                problems.append(f"{dtype}: torch's samples raise {type(e).__name__}: {e}")
                continue
            for i, s in enumerate(samples):
                if i >= MAX_SAMPLES:
                    break
                signal.alarm(SECONDS)
                try:
                    problems += check_sample(op, fn, s, i, dtype, random_op, grads)
                except _Timeout:
                    problems.append(f"[{i}] {dtype}: over {SECONDS} s")
                except Exception as e:  # torch itself refuses the sample
                    problems.append(f"[{i}] {dtype}: harness {type(e).__name__}: {e}"[:300])
                finally:
                    signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    return problems


def check_errors(op):
    """torch's error inputs of ``op`` (``op.error_inputs``: arguments torch refuses) on which
    tensorgrad raises nothing, as strings (empty: tensorgrad refuses them all too)."""
    kind, fn = tg_callable(op)
    if kind is None:
        return []
    try:
        torch.manual_seed(1234)
        errors = list(op.error_inputs("cpu"))
    except Exception:  # torch's generator needs what this machine lacks
        return []
    accepted = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for ei in errors:
            s = ei.sample_input
            if kind in ("method", "property") and not isinstance(s.input, torch.Tensor):
                continue  # torch's method called on a Python number: nothing of tensorgrad's
            signal.alarm(SECONDS)
            try:
                fn(to_tg(s.input, []), *to_tg(list(s.args), []), **to_tg(dict(s.kwargs), []))
            except _Timeout:
                accepted.append(f"over {SECONDS} s: {_describe(s)}")
            except Exception:  # refused, as torch refuses it
                continue
            else:
                accepted.append(f"no error where torch raises {ei.error_type.__name__} "
                                f"({ei.error_regex!r}): {_describe(s)}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    return accepted


def quiet():
    warnings.filterwarnings("ignore")


if __name__ == "__main__":
    main([k for name in sys.argv[1:] or list(OPS)
          for k in ([name] if name in OPS else [k for k in OPS if OPS[k].name == name])],
         lambda k: check(OPS[k]), "ops")
