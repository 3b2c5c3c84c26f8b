"""tg.fft, tg.special, the window functions and stft/istft against PyTorch, on every device."""

import inspect
import re

import numpy as np
import pytest
from devices import host, on, put, torch_oracle

import tensorgrad as tg

torch = torch_oracle()
RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 8))
Z = X + 1j * RNG.standard_normal((3, 8))


def _tt(a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def _close(mine, theirs, tol=1e-10):
    theirs = theirs.detach().resolve_conj().numpy() if hasattr(theirs, "detach") else theirs
    np.testing.assert_allclose(host(mine), theirs, rtol=tol, atol=tol)


def _grads_match(f_tg, f_torch, *arrays, device, tol=1e-9):
    """Values and .grad of sum(|f(x)|^2) against PyTorch's."""
    mine = [tg.tensor(put(a, device), requires_grad=True) for a in arrays]
    theirs = [_tt(a, True) for a in arrays]
    out, ref = f_tg(*mine), f_torch(*theirs)
    assert on(out, device)
    _close(out, ref, tol)
    (tg.abs(out) ** 2).sum().backward()
    (ref.abs() ** 2).sum().backward()
    for m, t in zip(mine, theirs):
        assert on(m.grad, device)
        _close(m.grad, t.grad, tol)


# ---- tg.fft ----------------------------------------------------------------------------------
ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_D = ["fft2", "ifft2", "fftn", "ifftn", "rfft2", "irfft2", "rfftn", "irfftn"]
REAL_ONLY = {"rfft", "ihfft", "rfft2", "rfftn"}


@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("name", ONE_D)
def test_fft_one_dim(name, norm, device):
    for data in (X, Z) if name not in REAL_ONLY else (X,):
        for kw in ({}, {"n": 6, "dim": 0}, {"n": 11}):
            _grads_match(lambda x: getattr(tg.fft, name)(x, norm=norm, **kw),
                         lambda x: getattr(torch.fft, name)(x, norm=norm, **kw), data,
                         device=device)


@pytest.mark.parametrize("name", N_D)
def test_fft_n_dim(name, device):
    data = X.reshape(2, 3, 4)
    for kw in ({}, {"s": (4, 6)}, {"dim": (0, 2)}, {"s": (3, 5), "dim": (2, 0)},
               {"norm": "ortho"}):
        if name.endswith("2") and "dim" in kw and len(kw["dim"]) != 2:
            continue
        _grads_match(lambda x: getattr(tg.fft, name)(x, **kw),
                     lambda x: getattr(torch.fft, name)(x, **kw), data, device=device)


def test_fft_defaults_follow_torch_not_numpy(device):
    # torch's fftn with s and no dim transforms the last len(s) dims; -1 in s keeps the size
    x = tg.tensor(put(X.reshape(2, 3, 4), device))
    _close(tg.fft.fftn(x, s=(-1, 6)), torch.fft.fftn(_tt(X.reshape(2, 3, 4)), s=(-1, 6)))
    _close(tg.fft.irfftn(x, s=(2, -1)), torch.fft.irfftn(_tt(X.reshape(2, 3, 4)), s=(2, -1)))
    # float32 in, complex64 out; integers become the default float dtype
    assert tg.fft.fft(tg.tensor(put(X.astype(np.float32), device))).dtype == np.complex64
    assert tg.fft.rfft(tg.tensor(put(np.arange(4), device))).dtype == np.complex64
    with pytest.raises(RuntimeError, match="rfft expects a real"):
        tg.fft.rfft(tg.tensor(put(Z, device)))
    with pytest.raises(ValueError, match="normalization"):
        tg.fft.fft(x, norm="bad")


def test_fftfreq_and_shifts(device):
    for n, d in ((5, 0.1), (8, 1.0), (1, 2.0)):
        f = tg.fft.fftfreq(n, d, dtype=tg.float64, device=device)
        assert on(f, device)
        _close(f, torch.fft.fftfreq(n, d, dtype=torch.float64))
        _close(tg.fft.rfftfreq(n, d, dtype=tg.float64, device=device),
               torch.fft.rfftfreq(n, d, dtype=torch.float64))
    f = tg.fft.fftfreq(4, requires_grad=True)
    assert f.requires_grad and f.dtype == np.float32
    for dim in (None, 1, (0, 1), -1):
        _grads_match(lambda x: tg.fft.fftshift(x, dim=dim),
                     lambda x: torch.fft.fftshift(x, dim=dim), Z, device=device)
        _grads_match(lambda x: tg.fft.ifftshift(x, dim=dim),
                     lambda x: torch.fft.ifftshift(x, dim=dim), X, device=device)


@pytest.mark.parametrize("name", ["rfft", "irfft", "fft", "hfft"])
def test_fft_second_order(name, device):
    x = put(X[:2, :5], device)
    tg.check_grads(lambda a: tg.abs(getattr(tg.fft, name)(a, n=6, norm="ortho")) ** 2,
                   modes=("fwd", "rev"), order=2)(x)


# ---- tg.special ------------------------------------------------------------------------------
POS = np.array([0.3, 0.7, 1.9, 2.5])
UNIT = np.array([0.1, 0.35, 0.6, 0.85])
SIGNED = np.array([-1.7, -0.4, 0.3, 2.2])
UNARY = {  # name: (data, differentiable in torch)
    "erf": SIGNED, "erfc": SIGNED, "erfcx": SIGNED, "erfinv": UNIT - 0.5, "expit": SIGNED,
    "logit": UNIT, "exp2": SIGNED, "expm1": SIGNED, "log1p": POS, "gammaln": POS,
    "digamma": POS, "psi": POS, "i0": SIGNED, "i0e": SIGNED, "i1": SIGNED, "i1e": SIGNED,
    "ndtr": SIGNED, "ndtri": UNIT, "log_ndtr": SIGNED, "sinc": SIGNED, "entr": POS,
}
NO_TORCH_GRAD = {"bessel_j0": SIGNED, "bessel_j1": SIGNED, "bessel_y0": POS, "bessel_y1": POS,
                 "modified_bessel_i0": SIGNED, "modified_bessel_i1": SIGNED,
                 "modified_bessel_k0": POS, "modified_bessel_k1": POS,
                 "spherical_bessel_j0": SIGNED}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_special_unary(name, device):
    _grads_match(getattr(tg.special, name), getattr(torch.special, name), UNARY[name],
                 device=device)


@pytest.mark.parametrize("name", sorted(NO_TORCH_GRAD))
def test_special_unary_without_torch_grad(name, device):
    data = NO_TORCH_GRAD[name]
    out = getattr(tg.special, name)(tg.tensor(put(data, device)))
    assert on(out, device)
    _close(out, getattr(torch.special, name)(_tt(data)))


def test_special_with_arguments(device):
    t = lambda a: tg.tensor(put(a, device), requires_grad=True)  # noqa: E731
    _grads_match(lambda x: tg.special.polygamma(2, x), lambda x: torch.special.polygamma(2, x),
                 POS, device=device)
    _grads_match(lambda x: tg.special.multigammaln(x, 3),
                 lambda x: torch.special.multigammaln(x, 3), POS + 1.5, device=device)
    _grads_match(lambda x: tg.special.logit(x, eps=0.2), lambda x: torch.special.logit(x, 0.2),
                 UNIT, device=device)
    for name in ("xlogy", "xlog1py"):
        _grads_match(getattr(tg.special, name), getattr(torch.special, name), SIGNED, POS,
                     device=device)
    _close(tg.special.xlog1py(2.0, t(POS)), torch.special.xlog1py(2.0, _tt(POS)))
    # zeta, gammainc, gammaincc: differentiable in `other` only, as in torch
    for name in ("zeta", "gammainc", "gammaincc"):
        a = POS + 1.2
        _grads_match(lambda q: getattr(tg.special, name)(tg.tensor(put(a, device)), q),
                     lambda q: getattr(torch.special, name)(_tt(a), q), POS, device=device)
        with pytest.raises(NotImplementedError):
            getattr(tg.special, name)(t(a), t(POS)).sum().backward()
    _close(tg.special.zeta(2.0, t(POS)), torch.special.zeta(2.0, _tt(POS)))
    with pytest.raises(RuntimeError, match="multigammaln"):
        tg.special.multigammaln(t(POS), 3)
    _close(tg.special.round(tg.tensor(put(SIGNED * 10, device)), decimals=-1),
           torch.round(_tt(SIGNED * 10), decimals=-1))


def test_special_reductions(device):
    data = X
    for dim in (0, 1, (0, 1)):
        _grads_match(lambda x: tg.special.logsumexp(x, dim, keepdim=True),
                     lambda x: torch.special.logsumexp(x, dim, keepdim=True), data,
                     device=device)
    for name in ("softmax", "log_softmax"):
        _grads_match(lambda x: getattr(tg.special, name)(x, 1),
                     lambda x: getattr(torch.special, name)(x, 1), data, device=device)
        out = getattr(tg.special, name)(tg.tensor(put(data, device)), 0, dtype=tg.float32)
        assert out.dtype == np.float32


@pytest.mark.parametrize("name,data", [("erfcx", SIGNED), ("ndtri", UNIT),
                                       ("log_ndtr", SIGNED), ("i1e", SIGNED),
                                       ("gammaln", POS)])
def test_special_second_order(name, data, device):
    tg.check_grads(getattr(tg.special, name), modes=("fwd", "rev"), order=2)(put(data, device))


def test_zeta_second_order(device):
    tg.check_grads(lambda q: tg.special.zeta(tg.tensor(put(POS + 1.5, device)), q),
                   modes=("fwd", "rev"), order=2)(put(POS, device))


# ---- windows, stft, istft ----------------------------------------------------------------------
WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window",
           "kaiser_window"]


@pytest.mark.parametrize("name", WINDOWS)
def test_windows(name, device):
    for n in (0, 1, 2, 7, 8):
        for periodic in (True, False):
            w = getattr(tg, name)(n, periodic, dtype=tg.float64, device=device)
            assert on(w, device) and w.dtype == np.float64
            _close(w, getattr(torch, name)(n, periodic, dtype=torch.float64))
    w = getattr(tg, name)(5, requires_grad=True)
    assert w.requires_grad and w.dtype == np.float32
    _close(tg.kaiser_window(9, False, 5.0, dtype=tg.float64),
           torch.kaiser_window(9, False, 5.0, dtype=torch.float64))
    _close(tg.hamming_window(9, True, 0.5, 0.3, dtype=tg.float64),
           torch.hamming_window(9, True, 0.5, 0.3, dtype=torch.float64))


SIG = RNG.standard_normal((2, 40))
STFT_CASES = [
    dict(n_fft=16),
    dict(n_fft=16, hop_length=5, center=False),
    dict(n_fft=16, hop_length=4, win_length=10),
    dict(n_fft=15, hop_length=3, normalized=True, onesided=False, pad_mode="constant"),
    dict(n_fft=12, hop_length=4, pad_mode="replicate"),
]


@pytest.mark.parametrize("kw", STFT_CASES, ids=range(len(STFT_CASES)))
def test_stft_matches_torch(kw, device):
    win = kw.get("win_length", kw["n_fft"])
    w = np.hanning(win + 2)[1:-1]  # no zeros at the ends
    for sig in (SIG, SIG[0]):
        _grads_match(lambda x, ww: tg.stft(x, window=ww, return_complex=True, **kw),
                     lambda x, ww: torch.stft(x, window=ww, return_complex=True, **kw),
                     sig, w, device=device)
    ikw = {k: v for k, v in kw.items() if k != "pad_mode"}
    spec = tg.stft(tg.tensor(put(SIG, device)), window=tg.tensor(put(w, device)),
                   return_complex=True, **kw)
    tspec = torch.stft(_tt(SIG), window=_tt(w), return_complex=True, **kw)
    for length in (None, 40, 45):
        _grads_match(lambda s, ww: tg.istft(s, window=ww, length=length, **ikw),
                     lambda s, ww: torch.istft(s, window=ww, length=length, **ikw),
                     host(spec), w, device=device)
    # method form, and the round trip reconstructs the signal
    y = spec.istft(window=tg.tensor(put(w, device)), length=40, **ikw)
    covered = 40 if kw.get("center", True) else 40 - (40 - kw["n_fft"]) % kw["hop_length"]
    _close(y[:, :covered], SIG[:, :covered])
    _close(tg.tensor(put(SIG, device)).stft(window=tg.tensor(put(w, device)),
                                           return_complex=True, **kw), tspec)


def test_stft_round_trip_default_window_and_errors(device):
    x = tg.tensor(put(SIG[0], device))
    spec = tg.stft(x, 8, return_complex=True)
    assert spec.shape == (5, 21)
    _close(tg.istft(spec, 8, length=40), SIG[0])
    sr = tg.stft(x, 8, return_complex=False)
    _close(sr, torch.stft(_tt(SIG[0]), 8, return_complex=False))
    with pytest.raises(RuntimeError, match="return_complex"):
        tg.stft(x, 8)
    with pytest.raises(RuntimeError, match="window"):
        tg.stft(x, 8, window=tg.hann_window(5, device=device), return_complex=True)
    with pytest.raises(RuntimeError, match="NOLA"):
        tg.istft(spec, 8, window=tg.zeros(8, device=device))


def test_stft_istft_second_order(device):
    w = put(np.hanning(10)[1:-1], device)

    def round_trip(x):
        s = tg.stft(x, 8, 2, window=w, return_complex=True)
        return tg.istft(s * s.abs(), 8, 2, window=w, length=12)

    tg.check_grads(round_trip, modes=("fwd", "rev"), order=2)(put(SIG[0, :12], device))


# ---- names and signatures ----------------------------------------------------------------------
_SKIP = {"out", "layout", "pin_memory"}


def _torch_params(fn, name):
    try:
        sig = inspect.signature(fn)
        return [(p.name, p.kind == p.KEYWORD_ONLY, p.default) for p in sig.parameters.values()
                if p.name not in _SKIP]
    except (TypeError, ValueError):
        pass
    line = re.search(r"^\s*" + name + r"\((.*)\)", fn.__doc__, re.M).group(1)
    out, kwonly = [], False
    for part in re.split(r",\s*(?![^()]*\))", line):  # commas outside parentheses
        part = part.strip()
        if part == "*":
            kwonly = True
            continue
        pname = part.split("=")[0].strip()
        if pname not in _SKIP:
            out.append((pname, kwonly, part.split("=")[1].strip() if "=" in part else None))
    return out


_HAMMING = ["window_length", "periodic", "alpha", "beta"]  # torch's doc line omits them


@pytest.mark.parametrize("module,names", [
    ("fft", ONE_D + N_D + ["fftfreq", "rfftfreq", "fftshift", "ifftshift"]),
    ("special", tg.special.__all__),
    ("", WINDOWS + ["stft", "istft"]),
])
def test_names_and_signatures_match_torch(module, names):
    ours_mod = getattr(tg, module) if module else tg
    theirs_mod = getattr(torch, module) if module else torch
    for name in names:
        mine = inspect.signature(getattr(ours_mod, name)).parameters
        theirs = _torch_params(getattr(theirs_mod, name), name)
        positional = [n for n, kw, _ in theirs if not kw]
        if name == "hamming_window":
            positional = _HAMMING
        mine_pos = [n for n, p in mine.items() if p.kind != p.KEYWORD_ONLY]
        assert mine_pos == positional, (module, name, mine_pos, positional)
        for n, kw, _default in theirs:
            assert n in mine, (module, name, n)
            if kw:
                assert mine[n].kind == mine[n].KEYWORD_ONLY, (module, name, n)
    # tensorgrad.numpy.fft and tensorgrad.scipy.special keep NumPy's and SciPy's signatures
    import tensorgrad.numpy as tnp
    import tensorgrad.scipy.special as tss

    assert "axis" in inspect.signature(tnp.fft.fft).parameters
    assert "axis" in inspect.signature(tss.logsumexp).parameters
