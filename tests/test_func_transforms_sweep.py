"""vmap, and vmap of jacrev and jacfwd, over ~65 per-sample functions: each sample's value
against PyTorch's, each per-sample Jacobian against central finite differences (float64).
PyTorch 2.13 itself fails three of these: vmap(jacfwd) of det and of solve is wrong for every
sample after the first, and jacrev of cdist is wrong (0.9 off)."""

import numpy as np
import pytest
from devices import host

import tensorgrad as tg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3, 5))
W = RNG.standard_normal((5, 2))

FNS = {  # each: a function of one sample x (3, 5), written once for torch and tensorgrad (L)
    "matmul": lambda L, x: x @ L.tensor(W),
    "sum0": lambda L, x: x.sum(0),
    "softmax": lambda L, x: L.softmax(x,-1),
    "logsumexp": lambda L, x: L.logsumexp(x, 0),
    "index": lambda L, x: x[1],
    "index_adv": lambda L, x: x[[0,2,2]],
    "slice_T": lambda L, x: x[:, 1:].T,
    "reshape": lambda L, x: x.reshape(5,3),
    "cat": lambda L, x: L.cat([x, x*2], 0),
    "stack": lambda L, x: L.stack([x, x.sin()], -1),
    "where": lambda L, x: L.where(x>0, x, x*x),
    "norm": lambda L, x: L.linalg.vector_norm(x, dim=1),
    "max": lambda L, x: x.max(1).values,
    "sort": lambda L, x: x.sort(1).values,
    "cumsum": lambda L, x: x.cumsum(1),
    "outer": lambda L, x: L.outer(x[0], x[1]),
    "einsum": lambda L, x: L.einsum('ij,kj->ik', x, x),
    "conv1d": lambda L, x: L.nn.functional.conv1d(x[None], L.ones(2,3,2, dtype=x.dtype))[0],
    "layer_norm": lambda L, x: L.nn.functional.layer_norm(x, (5,)),
    "gelu": lambda L, x: L.nn.functional.gelu(x),
    "mse": lambda L, x: L.nn.functional.mse_loss(x, x.flip(0)),
    "cross_entropy": lambda L, x: L.nn.functional.cross_entropy(x, L.tensor([0,1,4])),
    "det": lambda L, x: L.linalg.det(x[:, :3]),
    "inv": lambda L, x: L.linalg.inv(x[:, :3] + 3*L.eye(3, dtype=x.dtype)),
    "solve": lambda L, x: L.linalg.solve(x[:, :3] + 3*L.eye(3, dtype=x.dtype), x[:, 3]),
    "gather": lambda L, x: L.gather(x, 1, L.tensor([[0,4],[1,1],[2,3]])),
    "scatter_add": lambda L, x: L.zeros(3, 5, dtype=x.dtype).scatter_add(
        1, L.tensor([[0, 4, 0, 1, 1]] * 3), x),
    "pad": lambda L, x: L.nn.functional.pad(x, (1,2)),
    "roll": lambda L, x: L.roll(x, 1, 1),
    "tril": lambda L, x: L.tril(x),
    "diag": lambda L, x: L.diagonal(x),
    "prod": lambda L, x: x.prod(1),
    "clamp": lambda L, x: x.clamp(-0.5, 0.5),
    "topk": lambda L, x: x.topk(2, 1).values,
    "var": lambda L, x: x.var(1),
    "std_mean": lambda L, x: L.std_mean(x, 0)[0],
    "median": lambda L, x: x.median(1).values,
    "mv": lambda L, x: L.mv(x, x[0]),
    "kron": lambda L, x: L.kron(x[:2,:2], x[:2, :2]),
    "cdist": lambda L, x: L.cdist(x, x*0.5),
    "svdvals": lambda L, x: L.linalg.svdvals(x),
    "qr_r": lambda L, x: L.linalg.qr(x.T)[1],
    "eigvalsh": lambda L, x: L.linalg.eigvalsh(x[:, :3] @ x[:, :3].T),
    "cholesky": lambda L, x: L.linalg.cholesky(x @ x.T + L.eye(3, dtype=x.dtype)),
    "fft": lambda L, x: L.fft.rfft(x).abs(),
    "unfold": lambda L, x: x.unfold(1, 2, 1),
    "expand": lambda L, x: x[:, None].expand(3, 2, 5),
    "masked_fill": lambda L, x: x.masked_fill(x > 0.5, 0.),
    "index_select": lambda L, x: L.index_select(x, 1, L.tensor([4,0])),
    "flip": lambda L, x: x.flip(1),
    "trace": lambda L, x: L.trace(x[:, :3]),
    "dot": lambda L, x: L.dot(x[0], x[1]),
    "avg_pool": lambda L, x: L.nn.functional.avg_pool1d(x[None], 2)[0],
    "max_pool": lambda L, x: L.nn.functional.max_pool1d(x[None], 2)[0],
    "interp": lambda L, x: L.nn.functional.interpolate(x[None], scale_factor=2, mode='linear')[0],
    "atan2": lambda L, x: L.atan2(x, x.flip(1)),
    "logcumsumexp": lambda L, x: L.logcumsumexp(x, 1),
    "cummax": lambda L, x: L.cummax(x, 1).values,
    "amax_multi": lambda L, x: x.amax((0,1)),
    "addmm": lambda L, x: L.addmm(x[:, :2], x, L.tensor(W)),
    "baddbmm_like": lambda L, x: L.bmm(x[None], L.tensor(W)[None])[0],
    "triu_solve": lambda L, x: L.linalg.solve_triangular(
        L.triu(x[:, :3]) + 3 * L.eye(3, dtype=x.dtype), x, upper=True),
    "nll": lambda L, x: L.nn.functional.nll_loss(L.log_softmax(x, 1), L.tensor([0,1,4])),
    "embedding": lambda L, x: L.nn.functional.embedding(L.tensor([0,2,2]), x),
    "dropout_eval": lambda L, x: L.nn.functional.dropout(x, 0.5, training=False),
    "normalize": lambda L, x: L.nn.functional.normalize(x, dim=1),
    "pinv": lambda L, x: L.linalg.pinv(x),
    "matrix_exp": lambda L, x: L.linalg.matrix_exp(x[:, :3]*0.2),
    "lstsq": lambda L, x: L.linalg.lstsq(x.T, x[0][:, None]).solution,
}


def _fd_jacobian(f, x, h=1e-6):
    y0 = f(x)
    jac = np.zeros(y0.shape + x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        jac[(Ellipsis,) + i] = (f(x + e) - f(x - e)) / (2 * h)
    return jac


@pytest.mark.parametrize("name", sorted(FNS))
def test_vmap_and_per_sample_jacobians(name):
    f = FNS[name]
    want = np.stack([f(torch, torch.tensor(x)).numpy() for x in X])
    np.testing.assert_allclose(host(tg.func.vmap(lambda x: f(tg, x))(tg.tensor(X))), want,
                               rtol=1e-10, atol=1e-12)
    fd = np.stack([_fd_jacobian(lambda a: f(torch, torch.tensor(a)).numpy(), x) for x in X])
    for transform in (tg.func.jacrev, tg.func.jacfwd):
        jac = tg.func.vmap(transform(lambda x: f(tg, x)))(tg.tensor(X))
        np.testing.assert_allclose(host(jac), fd, rtol=1e-6, atol=1e-6)
