"""Run PyTorch's ModuleInfo samples (``torch.testing._internal.common_modules.module_db``: the
constructor arguments and forward inputs torch tests each ``nn`` module with) through
tensorgrad's module of the same name, and compare with torch: the module is built with the same
arguments, given torch's parameters and buffers, run in training and in eval mode, and its
outputs, the gradients of its inputs and of its parameters (a random cotangent per output,
float64), and its buffers after the call (running statistics) must agree.

Used by ``tests/test_moduleinfo_torch.py``; ``python tests/moduleinfo_check.py [nn.Name ...]``
prints what differs. torch is the oracle here only.
"""

import signal
import sys

import numpy as np
import torch
from opinfo_check import DEVICE, _alarm, _array, _flat, _Timeout, arguments, differs, main, to_tg
from torch.testing._internal.common_modules import module_db

import tensorgrad as tg

MODULES = {m.name: m for m in module_db}
SECONDS = 30
RANDOM = {"nn.FractionalMaxPool2d", "nn.FractionalMaxPool3d"}  # compared by shape


def tg_class(info):
    return getattr(tg.nn, info.module_cls.__name__, None)


def _describe(mi):
    c, f = mi.constructor_input, mi.forward_input
    args, fwd = arguments(c.args, c.kwargs), arguments(f.args, f.kwargs)
    return f"{mi.desc or '-'}: ({args})({fwd})"


def _state(m):
    return {k: tg.tensor(v.detach().numpy().copy()) for k, v in m.state_dict().items()}


def check_input(info, cls, mi, i, training, dtype):
    """The differences (strings) of one ModuleInput, in one mode."""
    mode = "train" if training else "eval"
    where = f"[{i}] {mode} {_describe(mi)}"
    torch.manual_seed(0)
    try:
        mt = info.module_cls(*mi.constructor_input.args, **mi.constructor_input.kwargs)
        mt.to(dtype)  # torch's tests move the module to the samples' dtype
        mt.train(training)
        sd = _state(mt)  # the state before the call (which updates running statistics)
        targs, tkw = mi.forward_input.args, mi.forward_input.kwargs
        want = mt(*targs, **tkw)
    except Exception:  # torch refuses the sample (a warning turned error, say)
        return []
    leaves = []
    try:
        mg = cls(*to_tg(list(mi.constructor_input.args), []),
                 **to_tg(dict(mi.constructor_input.kwargs), []))
        mg.to(to_tg(dtype, []))
        mg.train(training)
        if sd:
            mg.load_state_dict(sd)
        got = mg(*to_tg(list(targs), leaves), **to_tg(dict(tkw), leaves))
    except _Timeout:
        raise
    except Exception as e:
        return [f"{where}: raises {type(e).__name__}: {str(e)[:160]}"]
    fw, fg = _flat(want), _flat(got)
    if len(fw) != len(fg):
        return [f"{where}: {len(fg)} outputs, torch {len(fw)}"]
    for a, b in zip(fw, fg):
        if info.name in RANDOM:
            bad = None if _array(a).shape == _array(b).shape else "shape"
        else:
            bad = differs(a, b, scale=10)
        if bad:
            return [f"{where}: output: {bad}"]
    if info.name in RANDOM:
        return []
    # gradients of the inputs and of the parameters
    pairs = [(a, b) for a, b in zip(fw, fg) if isinstance(a, torch.Tensor) and a.requires_grad
             and a.dtype.is_floating_point]
    tparams = [p for _, p in mt.named_parameters()]
    gparams = dict(mg.named_parameters())
    names = [n for n, _ in mt.named_parameters()]
    if not pairs:
        return []
    rng = np.random.default_rng(i)
    cots = [rng.standard_normal(tuple(a.shape)) for a, _ in pairs]
    t_in = [t for t, _ in leaves] + tparams
    try:
        tgrads = torch.autograd.grad([a for a, _ in pairs], t_in,
                                     [torch.from_numpy(c).to(a.dtype) for (a, _), c in
                                      zip(pairs, cots)], allow_unused=True)
    except RuntimeError:
        return []
    if any(n not in gparams for n in names):
        return [f"{where}: parameters {sorted(gparams)}, torch {names}"]
    g_in = [g for _, g in leaves] + [gparams[n] for n in names]
    try:
        ggrads = tg.autograd.grad([b for _, b in pairs], g_in,
                                  [tg.tensor(c.astype(_array(b).dtype)) for (_, b), c in
                                   zip(pairs, cots)], allow_unused=True)
    except _Timeout:
        raise
    except Exception as e:
        return [f"{where}: gradient raises {type(e).__name__}: {str(e)[:160]}"]
    labels = [f"input {k}" for k in range(len(leaves))] + names
    for label, t, a, b in zip(labels, t_in, tgrads, ggrads):
        a = np.zeros(tuple(t.shape)) if a is None else _array(a)
        b = np.zeros(tuple(t.shape)) if b is None else _array(b)
        bad = differs(a, b, scale=100, check_dtype=False)
        if bad:
            return [f"{where}: gradient of {label}: {bad}"]
    # buffers (running statistics) after the call
    for k, v in mt.named_buffers():
        mine = dict(mg.named_buffers()).get(k)
        if mine is None:
            return [f"{where}: no buffer {k}"]
        bad = differs(v, mine, scale=10, check_dtype=False)
        if bad:
            return [f"{where}: buffer {k}: {bad}"]
    return []


def check(info, dtype=torch.float64):
    """Every difference of module ``info`` on its samples (empty: all agree)."""
    DEVICE[0] = "cpu"  # to_tg's device: an OpInfo check on cuda may have run before
    cls = tg_class(info)
    if cls is None:
        return [f"no tensorgrad module {info.module_cls.__name__}"]
    problems = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for training in (True, False):
            torch.manual_seed(1234)  # torch draws the samples: the same ones on every run
            try:
                inputs = info.module_inputs_func(info, device="cpu", dtype=dtype,
                                                 requires_grad=True, training=training)
            except Exception as e:
                problems.append(f"torch's samples raise {type(e).__name__}: {e}")
                continue
            for i, mi in enumerate(inputs):
                signal.alarm(SECONDS)
                try:
                    problems += check_input(info, cls, mi, i, training, dtype)
                except _Timeout:
                    problems.append(f"[{i}]: over {SECONDS} s")
                finally:
                    signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    return problems


if __name__ == "__main__":
    main(sys.argv[1:] or list(MODULES), lambda name: check(MODULES[name]), "modules")
