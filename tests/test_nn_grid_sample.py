"""grid_sample and affine_grid against PyTorch (values, gradients for the input and the grid),
their second derivatives against finite differences, and their errors."""

import itertools

import numpy as np
import pytest
from devices import close_to_torch, host, on, put, tensor_on, torch_oracle

import tensorgrad as tg
import tensorgrad.numpy as tnp

F = tg.nn.functional

MODES = {2: ("bilinear", "nearest", "bicubic"), 3: ("bilinear", "nearest")}
PADDINGS = ("zeros", "border", "reflection")
CASES = [(k, mode, pad, ac) for k in (2, 3) for mode in MODES[k] for pad in PADDINGS
         for ac in (True, False)]
SHAPES = {2: ((2, 3, 5, 6), (2, 4, 3)), 3: ((2, 3, 4, 5, 3), (2, 3, 2, 4))}  # input, grid


def _case_id(case):
    k, mode, pad, ac = case
    return f"{k + 2}d-{mode}-{pad}-{'ac' if ac else 'noac'}"


def _sample_both(x, grid, device, dtype=np.float64, **options):
    """Our output and gradients (input, grid) and PyTorch's, for a random cotangent."""
    torch = torch_oracle()
    x, grid = x.astype(dtype), grid.astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    tgrid = torch.tensor(grid, requires_grad=True)
    ty = torch.nn.functional.grid_sample(tx, tgrid, **options)
    cot = np.random.default_rng(1).standard_normal(tuple(ty.shape)).astype(dtype)
    (ty * torch.tensor(cot)).sum().backward()
    mx = tensor_on(x, device, requires_grad=True)
    mgrid = tensor_on(grid, device, requires_grad=True)
    y = F.grid_sample(mx, mgrid, **options)
    (y * tensor_on(cot, device)).sum().backward()
    return (y, mx.grad, mgrid.grad), (ty, tx.grad, tgrid.grad)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_grid_sample_matches_torch(case, device, rng):
    k, mode, pad, ac = case
    xs, gs = SHAPES[k]
    x = rng.standard_normal(xs)
    grid = rng.uniform(-1.4, 1.4, gs + (k,))  # points outside [-1, 1] too
    grid[0, 0, 0] = 1.0  # exactly on the corners
    grid[0, 0, 1] = -1.0
    (y, gx, ggrid), (ty, tgx, tggrid) = _sample_both(x, grid, device, mode=mode,
                                                     padding_mode=pad, align_corners=ac)
    assert on(y, device)
    assert y.shape == tuple(ty.shape)
    close_to_torch(y, ty, rtol=1e-10, atol=1e-12)
    close_to_torch(gx, tgx, rtol=1e-10, atol=1e-12)
    if mode == "nearest":  # the grid gets no gradient (PyTorch's is all zeros)
        assert ggrid is None or not np.any(host(ggrid))
        assert not np.any(tggrid.numpy())
    else:
        close_to_torch(ggrid, tggrid, rtol=1e-9, atol=1e-10)
        assert np.any(host(ggrid))


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_float32_matches_torch(mode, device, rng):
    x = rng.standard_normal((2, 4, 7, 5))
    grid = rng.uniform(-1.2, 1.2, (2, 6, 3, 2))
    (y, gx, ggrid), (ty, tgx, tggrid) = _sample_both(x, grid, device, np.float32, mode=mode,
                                                     padding_mode="reflection",
                                                     align_corners=False)
    assert y.dtype == np.float32 and gx.dtype == np.float32
    close_to_torch(y, ty, rtol=1e-5, atol=1e-5)
    close_to_torch(gx, tgx, rtol=1e-5, atol=1e-5)
    if mode != "nearest":
        assert ggrid.dtype == np.float32
        close_to_torch(ggrid, tggrid, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pad", PADDINGS)
@pytest.mark.parametrize("ac", [True, False])
def test_grid_sample_single_pixel_axes(pad, ac, device, rng):
    """A size-1 axis: with align_corners every point maps onto the one pixel (PyTorch's
    degenerate reflection too)."""
    x = rng.standard_normal((1, 2, 1, 4))
    grid = rng.uniform(-1.5, 1.5, (1, 3, 3, 2))
    for mode in ("bilinear", "bicubic"):
        (y, gx, ggrid), (ty, tgx, tggrid) = _sample_both(x, grid, device, mode=mode,
                                                         padding_mode=pad, align_corners=ac)
        close_to_torch(y, ty, rtol=1e-10, atol=1e-12)
        close_to_torch(gx, tgx, rtol=1e-10, atol=1e-12)
        close_to_torch(ggrid, tggrid, rtol=1e-9, atol=1e-10)


def test_grid_sample_default_align_corners_is_false(rng):
    x = tg.tensor(rng.standard_normal((1, 1, 3, 3)))
    grid = tg.tensor(rng.uniform(-1, 1, (1, 2, 2, 2)))
    np.testing.assert_array_equal(F.grid_sample(x, grid).numpy(),
                                  F.grid_sample(x, grid, align_corners=False).numpy())
    assert not np.allclose(F.grid_sample(x, grid).numpy(),
                           F.grid_sample(x, grid, align_corners=True).numpy())


# ---- second order, away from the kinks --------------------------------------------------------
def _smooth_grid(rng, sizes, out, ac, inside=False):
    """A grid (1, *out, k) whose pixel coordinates are a pixel or so around the input (or
    ``inside`` it) and keep 0.1 away from integers and half-integers: no floor, clip or
    reflection kink is near."""
    k = len(sizes)
    frac = rng.uniform(0.1, 0.4, (1,) + out + (k,)) + 0.5 * rng.integers(0, 2, (1,) + out + (k,))
    cols = []
    for j in range(k):
        size = sizes[k - 1 - j]  # grid[..., 0] runs along the last axis
        lo, hi = (0, size - 1) if inside else (-2, size + 1)
        pix = rng.integers(lo, hi, (1,) + out) + frac[..., j]
        cols.append(2 * pix / (size - 1) - 1 if ac else (2 * pix + 1) / size - 1)
    return np.stack(cols, axis=-1)


SECOND_ORDER = [  # (k, mode, padding_mode, align_corners)
    (2, "bilinear", "zeros", False), (2, "bilinear", "reflection", True),
    (2, "bilinear", "reflection", False), (2, "bicubic", "zeros", True),
    (2, "bicubic", "reflection", False), (2, "bicubic", "border", False),
    (3, "bilinear", "border", False), (3, "bilinear", "zeros", True),
]


@pytest.mark.parametrize("case", SECOND_ORDER, ids=_case_id)
def test_grid_sample_second_order(case, device, rng):
    k, mode, pad, ac = case
    sizes = (3, 4) if k == 2 else (2, 3, 3)
    x = rng.standard_normal((1, 2) + sizes)
    grid = _smooth_grid(rng, sizes, (2, 2) if k == 2 else (2, 1, 2), ac)

    def f(x, grid):
        return tnp.tanh(F.grid_sample(x, grid, mode=mode, padding_mode=pad, align_corners=ac))

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*put((x, grid), device))


def test_grid_sample_nearest_second_order_in_input(device, rng):
    x = rng.standard_normal((1, 2, 3, 4))
    grid = _smooth_grid(rng, (3, 4), (2, 3), False)

    def f(x):
        return tnp.sin(F.grid_sample(x, put(grid, device), mode="nearest",
                                     padding_mode="reflection"))

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(x, device))


def test_grid_sample_grid_gradient_of_gradient_matches_finite_differences(device, rng):
    """d/dgrid of (d loss / d input): the mixed term that bilinear weights produce."""
    x = rng.standard_normal((1, 1, 3, 3))
    grid = _smooth_grid(rng, (3, 3), (1, 2), True, inside=True)

    def input_grad_norm(g):
        xt = tensor_on(x, device, requires_grad=True)
        y = F.grid_sample(xt, g, align_corners=True)
        (gx,) = tg.autograd.grad((y ** 2).sum(), [xt], create_graph=True)
        return (gx ** 2).sum()

    gt = tensor_on(grid, device, requires_grad=True)
    input_grad_norm(gt).backward()
    eps = 1e-6
    numeric = np.zeros_like(grid)
    for idx in np.ndindex(grid.shape):
        d = np.zeros_like(grid)
        d[idx] = eps
        hi = input_grad_norm(tensor_on(grid + d, device)).item()
        lo = input_grad_norm(tensor_on(grid - d, device)).item()
        numeric[idx] = (hi - lo) / (2 * eps)
    assert np.any(numeric)
    np.testing.assert_allclose(host(gt.grad), numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("xs, gs", [((2, 3, 4, 5), (2, 0, 3, 2)), ((2, 0, 4, 5), (2, 2, 3, 2)),
                                     ((0, 3, 4, 5), (0, 2, 3, 2)),
                                     ((0, 3, 4, 5, 2), (0, 2, 3, 1, 3))])
def test_grid_sample_empty_batch_points_or_channels(xs, gs, device):
    for mode in MODES[len(xs) - 2]:
        x = tensor_on(np.ones(xs), device, requires_grad=True)
        grid = tensor_on(np.zeros(gs), device, requires_grad=True)
        y = F.grid_sample(x, grid, mode=mode)
        y.sum().backward()
        assert y.shape == xs[:2] + gs[1:-1]
        assert x.grad.shape == xs and not np.any(host(x.grad))


# ---- the sampling primitives --------------------------------------------------------------------
def _tap_case(rng, n=2, c=3, pixels=5, points=4, corners=3):
    """x (N, C, S), w (T, N, P), g (N, C, P) and rows (T, N, P) with repeated pixels."""
    rows = rng.integers(0, pixels, (corners, n, points)) + np.arange(n)[:, None] * pixels
    rows[1, 0, :2] = rows[0, 0, 0]  # several corners and points on one pixel
    return (rng.standard_normal((n, c, pixels)), rng.standard_normal((corners, n, points)),
            rng.standard_normal((n, c, points)), rows)


def _tap_reference(x, w, g, rows):
    """The three partial derivatives of sum x[n, c, rows] * w * g, by loops."""
    n, c, pixels = x.shape
    corners, _, points = rows.shape
    total = np.zeros_like(x)
    dot = np.zeros_like(w)
    out = np.zeros_like(g)
    for t, i, p in np.ndindex(corners, n, points):
        s = rows[t, i, p] - i * pixels
        out[i, :, p] += w[t, i, p] * x[i, :, s]
        dot[t, i, p] = x[i, :, s] @ g[i, :, p]
        total[i, :, s] += w[t, i, p] * g[i, :, p]
    return out, dot, total


def test_tap_primitives_match_loops(device, rng):
    from tensorgrad.nn._functional_grid import _tap_dot, _tap_spread, _tap_sum

    x, w, g, rows = _tap_case(rng)
    out, dot, total = _tap_reference(x, w, g, rows)
    dx, dw, dg, drows = put((x, w, g, rows), device)
    for mine, want in [(_tap_sum(dx, dw, rows=drows), out), (_tap_dot(dx, dg, rows=drows), dot),
                       (_tap_spread(dg, dw, rows=drows, pixels=x.shape[2]), total)]:
        assert on(mine, device)
        np.testing.assert_allclose(host(mine), want, rtol=1e-12, atol=1e-12)
    # no weights: weights 1 (nearest sampling with a padding that keeps every tap inside)
    ones = np.ones_like(w[:1])
    one_out, _, one_total = _tap_reference(x, ones, g, rows[:1])
    np.testing.assert_allclose(host(_tap_sum(dx, None, rows=drows[:1])), one_out, rtol=1e-12)
    np.testing.assert_allclose(host(_tap_spread(dg, None, rows=drows[:1], pixels=x.shape[2])),
                               one_total, rtol=1e-12)


def test_tap_primitives_float32_stay_float32(device, rng):
    from tensorgrad.nn._functional_grid import _tap_dot, _tap_spread, _tap_sum

    x, w, g, rows = _tap_case(rng)
    out, dot, total = _tap_reference(x, w, g, rows)
    dx, dw, dg, drows = put((x.astype(np.float32), w.astype(np.float32), g.astype(np.float32),
                             rows), device)
    for mine, want in [(_tap_sum(dx, dw, rows=drows), out), (_tap_dot(dx, dg, rows=drows), dot),
                       (_tap_spread(dg, dw, rows=drows, pixels=x.shape[2]), total)]:
        assert mine.dtype == np.float32
        np.testing.assert_allclose(host(mine), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("which", ["sum", "dot", "spread"])
def test_tap_primitives_second_order(which, device, rng):
    """Each rule is a call of another of the three: second derivatives in both modes."""
    from tensorgrad.nn._functional_grid import _tap_dot, _tap_spread, _tap_sum

    x, w, g, rows = _tap_case(rng)
    drows = put(rows, device)
    fn, args = {
        "sum": (lambda a, b: _tap_sum(a, b, rows=drows), (x, w)),
        "dot": (lambda a, b: _tap_dot(a, b, rows=drows), (x, g)),
        "spread": (lambda a, b: _tap_spread(a, b, rows=drows, pixels=x.shape[2]), (g, w)),
    }[which]

    def f(a, b):
        return tnp.sin(fn(a, b))

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*put(args, device))


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("pad", PADDINGS)
def test_grid_sample_makes_no_host_sync(mode, pad, cuda_device, rng):
    """Forward and backward on the cuda device (the stand-in records what would sync)."""
    from cupy_standin import _sync

    x = tensor_on(rng.standard_normal((2, 3, 5, 6)).astype(np.float32), cuda_device,
                  requires_grad=True)
    grid = tensor_on(rng.uniform(-1.3, 1.3, (2, 4, 3, 2)).astype(np.float32), cuda_device,
                     requires_grad=True)

    def step():
        F.grid_sample(x, grid, mode=mode, padding_mode=pad).sum().backward()

    step()
    with _sync.watch() as w:
        step()
    assert not w.events, w.report()
    assert on(x.grad, cuda_device) and np.any(host(x.grad))


# ---- affine_grid --------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("ac", [True, False])
def test_affine_grid_matches_torch(k, ac, device, rng):
    torch = torch_oracle()
    size = (2, 3, 4, 5) if k == 2 else (2, 3, 3, 4, 2)
    theta = rng.standard_normal((2, k, k + 1))
    tt = torch.tensor(theta, requires_grad=True)
    tgrid = torch.nn.functional.affine_grid(tt, size, align_corners=ac)
    cot = rng.standard_normal(tuple(tgrid.shape))
    (tgrid * torch.tensor(cot)).sum().backward()
    mt = tensor_on(theta, device, requires_grad=True)
    grid = F.affine_grid(mt, size, align_corners=ac)
    (grid * tensor_on(cot, device)).sum().backward()
    assert on(grid, device) and grid.shape == tuple(tgrid.shape)
    close_to_torch(grid, tgrid, rtol=1e-12, atol=1e-14)
    close_to_torch(mt.grad, tt.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid")  # PyTorch's, on size 1
def test_affine_grid_single_pixel_and_float32(rng):
    torch = torch_oracle()
    theta = rng.standard_normal((1, 2, 3)).astype(np.float32)
    for size in [(1, 1, 1, 3), (1, 2, 4, 1)]:
        for ac in (True, False):
            grid = F.affine_grid(tg.tensor(theta), size, align_corners=ac)
            assert grid.dtype == np.float32
            close_to_torch(grid, torch.nn.functional.affine_grid(torch.tensor(theta), size,
                                                                 align_corners=ac),
                           rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3])
def test_spatial_transformer_matches_torch(k, device, rng):
    """affine_grid then grid_sample, differentiated with respect to theta and the input."""
    torch = torch_oracle()
    size = (2, 2, 5, 6) if k == 2 else (2, 2, 3, 4, 5)
    eye = np.concatenate([np.eye(k), np.zeros((k, 1))], axis=1)
    theta = eye + 0.3 * rng.standard_normal((2, k, k + 1))
    x = rng.standard_normal(size)
    tt, tx = torch.tensor(theta, requires_grad=True), torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.grid_sample(
        tx, torch.nn.functional.affine_grid(tt, size, align_corners=False),
        padding_mode="border", align_corners=False)
    (ty ** 2).sum().backward()
    mt = tensor_on(theta, device, requires_grad=True)
    mx = tensor_on(x, device, requires_grad=True)
    y = F.grid_sample(mx, F.affine_grid(mt, size, align_corners=False), padding_mode="border",
                      align_corners=False)
    (y ** 2).sum().backward()
    close_to_torch(y, ty, rtol=1e-10, atol=1e-12)
    close_to_torch(mx.grad, tx.grad, rtol=1e-10, atol=1e-12)
    close_to_torch(mt.grad, tt.grad, rtol=1e-9, atol=1e-10)


def test_affine_grid_second_order(device, rng):
    def f(theta):
        return tnp.sin(F.affine_grid(theta, (1, 1, 2, 3), align_corners=False))

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(rng.standard_normal((1, 2, 3)), device))


# ---- errors ------------------------------------------------------------------------------------
def _t(*shape, dtype=np.float64):
    return tg.tensor(np.zeros(shape, dtype=dtype))


BAD_SAMPLE = [  # (input shape, grid shape, options, words the message must contain)
    ((2, 3, 4), (2, 4, 2), {}, ["grid_sample", "input", "(2, 3, 4)"]),
    ((1, 2, 3, 4, 5, 6), (1, 2, 3, 4, 5, 4), {}, ["grid_sample", "input", "(1, 2, 3, 4, 5, 6)"]),
    ((2, 3, 4, 5), (2, 4, 5, 2, 1), {}, ["grid_sample", "grid", "(2, 4, 5, 2, 1)",
                                         "(2, 3, 4, 5)"]),
    ((2, 3, 4, 5), (2, 4, 5, 3), {}, ["grid_sample", "grid", "(2, 4, 5, 3)", "(2, 3, 4, 5)"]),
    ((2, 3, 4, 5, 6), (2, 1, 4, 5, 2), {}, ["grid_sample", "grid", "(2, 1, 4, 5, 2)"]),
    ((2, 3, 4, 5), (3, 4, 5, 2), {}, ["grid_sample", "batch", "(3, 4, 5, 2)", "(2, 3, 4, 5)"]),
    ((2, 3, 4, 5, 6), (2, 1, 4, 5, 3), {"mode": "bicubic"},
     ["grid_sample", "bicubic", "(2, 3, 4, 5, 6)"]),
    ((2, 3, 4, 5), (2, 4, 5, 2), {"mode": "area"}, ["grid_sample", "mode", "'area'"]),
    ((2, 3, 4, 5), (2, 4, 5, 2), {"padding_mode": "wrap"},
     ["grid_sample", "padding_mode", "'wrap'"]),
    ((2, 3, 0, 5), (2, 4, 5, 2), {}, ["grid_sample", "spatial", "(2, 3, 0, 5)"]),
]


@pytest.mark.parametrize("xs, gs, options, words", BAD_SAMPLE)
def test_grid_sample_bad_inputs(xs, gs, options, words):
    with pytest.raises(ValueError) as err:
        F.grid_sample(_t(*xs), _t(*gs), **options)
    for w in words:
        assert w in str(err.value)


def test_grid_sample_dtype_mismatch():
    with pytest.raises(ValueError, match=r"grid_sample: input \(float64.*grid \(float32"):
        F.grid_sample(_t(1, 1, 2, 2), _t(1, 2, 2, 2, dtype=np.float32))


def test_grid_sample_devices_must_match(cuda_device):
    x = tensor_on(np.zeros((1, 1, 2, 2)), cuda_device)
    with pytest.raises(RuntimeError, match=r"grid_sample: input \(shape \(1, 1, 2, 2\)\) is on "
                                           r"cuda.*grid \(shape \(1, 3, 3, 2\)\) on cpu"):
        F.grid_sample(x, _t(1, 3, 3, 2))


@pytest.mark.parametrize("theta_shape, size, words", [
    ((2, 2, 3), (2, 3, 4, 5, 6), ["affine_grid", "theta", "(2, 2, 3)", "(2, 3, 4, 5, 6)"]),
    ((2, 3, 4), (2, 3, 4, 5), ["affine_grid", "theta", "(2, 3, 4)", "(2, 3, 4, 5)"]),
    ((3, 2, 3), (2, 3, 4, 5), ["affine_grid", "theta", "(3, 2, 3)", "(2, 3, 4, 5)"]),
    ((2, 2, 3), (2, 3, 4), ["affine_grid", "size", "(2, 3, 4)"]),
    ((2, 2, 3), (2, 3, 0, 5), ["affine_grid", "size", "(2, 3, 0, 5)"]),
])
def test_affine_grid_bad_inputs(theta_shape, size, words):
    with pytest.raises(ValueError) as err:
        F.affine_grid(_t(*theta_shape), size)
    for w in words:
        assert w in str(err.value)


def test_affine_grid_integer_theta():
    with pytest.raises(ValueError, match="affine_grid: theta must be floating point"):
        F.affine_grid(tg.tensor(np.zeros((1, 2, 3), dtype=np.int64)), (1, 1, 2, 2))


def test_names_exported():
    assert {"grid_sample", "affine_grid"} <= set(dir(F))
    assert all(callable(getattr(F, n)) for n in ("grid_sample", "affine_grid"))
    assert len(CASES) == len(list(itertools.product(PADDINGS, (True, False)))) * 5
