"""Convolutions (1-3 d, groups, strides, dilations, every padding and padding mode), transposed
convolutions (output_padding), max/avg/adaptive/Lp pooling (ceil_mode, count_include_pad,
divisor_override) and interpolate (every mode, align_corners, sizes and scale factors): random
configurations, values and gradients (of the input and the weights) against PyTorch's."""

import random

import numpy as np
import pytest

import tensorgrad as tg

torch = pytest.importorskip("torch")

_MODES = {1: ["nearest", "linear", "nearest-exact"],
          2: ["nearest", "bilinear", "bicubic", "nearest-exact", "area"],
          3: ["nearest", "trilinear", "area"]}


def _conv_module(L, d, cin, cout, k, stride, pad, dil, groups, mode, w, b):
    m = getattr(L.nn, f"Conv{d}d")(cin, cout, k, stride=stride, padding=pad, dilation=dil,
                                   groups=groups, padding_mode=mode, dtype=L.float64)
    with L.no_grad():
        m.weight.copy_(L.tensor(w))
        m.bias.copy_(L.tensor(b))
    return m


def _configs(seed, n=12):
    """(name, fn(L, x) -> (output, [tensors whose grads to compare]), x): n random layers."""
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        d, groups = rnd.choice([1, 2, 3]), rnd.choice([1, 2])
        cin, cout = 2 * groups, rnd.choice([2, 4])
        k, stride, dil = rnd.choice([1, 2, 3]), rnd.choice([1, 2]), rnd.choice([1, 2])
        mode = rnd.choice(["zeros", "reflect", "replicate", "circular"])
        pad = rnd.choice([0, 1, "same", "valid"]) if stride == 1 else rnd.choice([0, 1])
        x = rng.standard_normal((2, cin) + (rnd.choice([5, 6, 7]),) * d)
        w = rng.standard_normal((cout, cin // groups) + (k,) * d)
        b = rng.standard_normal(cout)

        def conv(L, xt, a=(d, cin, cout, k, stride, pad, dil, groups, mode, w, b)):
            m = _conv_module(L, *a)
            return m(xt), [m.weight, m.bias]

        out.append((f"Conv{d}d k{k} s{stride} d{dil} g{groups} p{pad} {mode}", conv, x))
        op = rnd.choice([0, 1]) if stride > 1 else 0
        op = 0 if op >= max(stride, dil) else op
        wt = rng.standard_normal((cin, cout // groups) + (k,) * d)
        pad_t = rnd.choice([0, 1]) if k > 1 else 0

        def conv_t(L, xt, a=(d, wt, stride, pad_t, op, groups, dil)):
            dd, wa, s, p, o, g, dl = a
            wl = L.tensor(wa, requires_grad=True)
            f = getattr(L.nn.functional, f"conv_transpose{dd}d")
            return f(xt, wl, None, s, p, o, g, dl), [wl]

        out.append((f"conv_transpose{d}d k{k} s{stride} d{dil} g{groups} p{pad_t} op{op}",
                    conv_t, x))
        ks, st = rnd.choice([2, 3]), rnd.choice([None, 1, 2])
        pp, ceil = (rnd.choice([0, 1]) if ks > 2 else 0), rnd.choice([False, True])
        out.append((f"max_pool{d}d k{ks} s{st} p{pp} ceil{ceil} dil{dil}",
                    lambda L, xt, a=(d, ks, st, pp, dil, ceil): (getattr(
                        L.nn.functional, f"max_pool{a[0]}d")(xt, *a[1:5], ceil_mode=a[5]), []),
                    x))
        cip, div = rnd.choice([True, False]), (rnd.choice([None, 3]) if d > 1 else None)
        kw = {"divisor_override": div} if div else {}
        out.append((f"avg_pool{d}d k{ks} s{st} p{pp} ceil{ceil} cip{cip} div{div}",
                    lambda L, xt, a=(d, ks, st, pp, ceil, cip), kw=kw: (getattr(
                        L.nn.functional, f"avg_pool{a[0]}d")(xt, *a[1:], **kw), []), x))
        size = rnd.choice([1, 2, 3, 4])
        for kind in ("avg", "max"):
            out.append((f"adaptive_{kind}_pool{d}d {size}",
                        lambda L, xt, a=(kind, d, size): (getattr(
                            L.nn.functional, f"adaptive_{a[0]}_pool{a[1]}d")(xt, a[2]), []), x))
        im = rnd.choice(_MODES[d])
        ac = rnd.choice([None, True, False]) if im in ("linear", "bilinear", "bicubic",
                                                       "trilinear") else None
        sf = rnd.choice([None, 1.5, 2, 0.5])
        sz = None if sf else rnd.choice([3, 8])
        out.append((f"interpolate{d}d {im} align{ac} scale{sf} size{sz}",
                    lambda L, xt, a=(sz, sf, im, ac): (L.nn.functional.interpolate(
                        xt, size=a[0], scale_factor=a[1], mode=a[2], align_corners=a[3]), []),
                    x))
        if d < 3:
            out.append((f"lp_pool{d}d k{ks}",
                        lambda L, xt, a=(d, ks): (getattr(L.nn.functional, f"lp_pool{a[0]}d")(
                            xt.abs() + 0.1, 2.0, a[1]), []), x))
    return out


CONFIGS = [c for seed in range(8) for c in _configs(seed)]


def _run(L, fn, x):
    xt = L.tensor(x, requires_grad=True)
    y, params = fn(L, xt)
    w = L.tensor(np.cos(np.arange(y.numel())).reshape(tuple(y.shape)))
    (y * w).sum().backward()
    return [y.detach().numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in params]


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=[c[0] for c in CONFIGS])
def test_layer_matches_torch(i):
    _, fn, x = CONFIGS[i]
    want = _run(torch, fn, x)
    got = _run(tg, fn, x)
    assert len(got) == len(want)
    for g, t in zip(got, want):
        np.testing.assert_allclose(g, t, rtol=1e-6, atol=1e-8)


def test_conv_forward_takes_another_weight():
    # PyTorch's Conv*d._conv_forward(input, weight, bias): what weight-standardised
    # convolutions (timm's StdConv2d and friends) call with a transformed weight
    for d in (1, 2, 3):
        m = getattr(tg.nn, f"Conv{d}d")(2, 3, 3, padding=1, padding_mode="reflect")
        x = tg.ones((1, 2) + (5,) * d)
        w = m.weight * 2
        y = m._conv_forward(x, w, None)
        want = getattr(tg.nn.functional, f"conv{d}d")(
            tg.nn.functional.pad(x, (1, 1) * d, mode="reflect"), w)
        np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-6)
