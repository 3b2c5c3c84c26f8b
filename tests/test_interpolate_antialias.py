"""``F.interpolate(..., antialias=True)`` (it raised NotImplementedError) and PyTorch's
``mode="lanczos"``: PIL-style resampling, where shrinking stretches the filter so that each
output pixel averages every input pixel it covers. Values and gradients equal PyTorch's for
the bilinear (triangle), bicubic (Keys, a = -0.5) and Lanczos-3 filters, down and up, with
sizes or scale factors, with or without align_corners."""

import numpy as np
import pytest
from devices import against_torch, host, torch_oracle

import tensorgrad as tg

F = tg.nn.functional
_X = np.random.default_rng(5).standard_normal((2, 3, 17, 23))

CASES = [
    dict(size=(5, 7)), dict(size=(8, 8)), dict(size=(30, 9)), dict(size=(1, 1)),
    dict(scale_factor=0.3), dict(scale_factor=(0.5, 2.5)),
    dict(scale_factor=0.45, recompute_scale_factor=True),
    dict(size=(5, 7), align_corners=True), dict(size=(21, 4), align_corners=True),
]


# lanczos takes align_corners=False only (as PyTorch's)
_MODE_CASES = [(mode, case) for mode in ("bilinear", "bicubic", "lanczos") for case in CASES
               if not (mode == "lanczos" and case.get("align_corners"))]


@pytest.mark.parametrize("mode,case", _MODE_CASES,
                         ids=[f"{m}-" + ",".join(f"{k}={v}" for k, v in c.items())
                              for m, c in _MODE_CASES])
def test_antialias_matches_torch(device, mode, case):
    def run(F):
        return lambda v: F.interpolate(v, mode=mode, antialias=True, **case)

    against_torch(device, run(tg.nn.functional), run(torch_oracle().nn.functional), [_X],
                  grad_args=(0,), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "lanczos"])
def test_antialias_float32_matches_torch(mode):
    torch = torch_oracle()
    x = _X.astype(np.float32)
    ours = F.interpolate(tg.tensor(x), size=(6, 9), mode=mode, antialias=True)
    theirs = torch.nn.functional.interpolate(torch.tensor(x), size=(6, 9), mode=mode,
                                             antialias=True)
    assert ours.dtype == tg.float32
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_antialias_averages_what_plain_bilinear_skips():
    """Shrinking a one-pixel checkerboard by 3: plain bilinear samples every third pixel and
    keeps the board's 0 and 1; the antialiased triangle covers five pixels (weights 1, 2, 3,
    2, 1 over 9: 4/9 and 5/9 of the two colours along each axis), which gives 40/81 or 41/81
    inside. A constant stays that constant."""
    board = (np.indices((33, 33)).sum(0) % 2).astype(np.float64)[None, None]
    plain = F.interpolate(tg.tensor(board), size=(11, 11), mode="bilinear").numpy()[0, 0]
    smooth = F.interpolate(tg.tensor(board), size=(11, 11), mode="bilinear",
                           antialias=True).numpy()[0, 0]
    assert set(np.unique(plain)) == {0.0, 1.0}
    inner = smooth[1:-1, 1:-1]
    assert np.allclose(np.minimum(np.abs(inner - 40 / 81), np.abs(inner - 41 / 81)), 0,
                       atol=1e-12)
    const = F.interpolate(tg.full((1, 1, 13, 13), 3.0, dtype=tg.float64), size=(4, 6),
                          mode="bicubic", antialias=True)
    np.testing.assert_allclose(const.numpy(), 3.0, rtol=1e-15)


def test_antialias_derivatives():
    x = tg.tensor(_X[:1, :1, :9, :11])
    for mode in ("bilinear", "bicubic", "lanczos"):
        tg.check_grads(lambda v: F.interpolate(v, size=(4, 5), mode=mode, antialias=True),
                       modes=("fwd", "rev"), order=2)(x)


def test_antialias_errors():
    x4 = tg.tensor(_X)
    for mode, x in (("nearest", x4), ("area", x4), ("bilinear", tg.tensor(_X[0])),
                    ("trilinear", tg.tensor(_X[None]))):
        with pytest.raises(ValueError, match="antialias=True takes the bilinear, bicubic and "
                                             "lanczos modes and a 4-D input"):
            F.interpolate(x, size=(4,) * (x.ndim - 2), mode=mode, antialias=True)
    with pytest.raises(ValueError, match="mode 'lanczos' needs antialias=True"):
        F.interpolate(x4, size=(4, 4), mode="lanczos")
    with pytest.raises(ValueError, match="align_corners False"):
        F.interpolate(x4, size=(4, 4), mode="lanczos", antialias=True, align_corners=True)
    assert host(F.interpolate(x4, size=(4, 4), mode="lanczos", antialias=True)).shape == \
        (2, 3, 4, 4)
