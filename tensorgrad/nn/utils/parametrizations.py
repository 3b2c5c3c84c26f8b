"""``tg.nn.utils.parametrizations``: ``orthogonal``, ``weight_norm`` and ``spectral_norm`` as
parametrizations (``tg.nn.utils.parametrize``), as ``torch.nn.utils.parametrizations``.

>>> import tensorgrad as tg
>>> lin = tg.nn.utils.parametrizations.orthogonal(tg.nn.Linear(3, 3))
>>> W = lin.weight.detach()
>>> bool(tg.allclose(W.T @ W, tg.eye(3), atol=1e-5))
True
>>> sorted(tg.nn.utils.parametrizations.weight_norm(tg.nn.Linear(2, 2)).state_dict())
['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
"""

from enum import Enum, auto

from ... import creation
from ...autograd.grad_mode import no_grad
from ...autograd.graph import bump_version
from ...backend.device import xp_of
from ...tensor import Tensor, _new_tensor
from .. import functional as F
from ..modules import Module
from . import parametrize

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def _mH(x):
    return x.mT.conj() if x.is_complex() else x.mT


def _householder_product(a, tau):
    from ... import linalg

    return linalg.householder_product(a, tau)


def _make_orthogonal(a):
    """The Q of A = QR (A tall) with R's diagonal made non-negative, as PyTorch's."""
    q, r = _qr(a)
    signs = r.diagonal(dim1=-2, dim2=-1).sgn()
    return q * signs.unsqueeze(-2)


def _qr(a):
    from ... import linalg

    return linalg.qr(a)


def _is_orthogonal(q):
    n, k = q.shape[-2], q.shape[-1]
    eye = creation.eye(k, dtype=q.dtype, device=q.device)
    eps = 10.0 * n * xp_of(q.data).finfo(q.dtype).eps
    return bool(xp_of(q.data).allclose((_mH(q) @ q).data, eye.data, atol=eps))


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        if weight.is_complex() and orthogonal_map == _OrthMaps.householder:
            raise ValueError("The householder parametrization does not support complex tensors.")
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            X = X.tril()
            if n != k:  # embed the tall matrix into a square one
                pad = creation.zeros(*X.shape[:-2], n, n - k, dtype=X.dtype, device=X.device)
                X = _cat([X, pad])
            A = X - _mH(X)  # skew-symmetric (skew-Hermitian)
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = _matrix_exp(A)
            else:  # the Cayley retraction (I + A/2)(I - A/2)^{-1}
                eye = creation.eye(n, dtype=A.dtype, device=A.device)
                Q = _solve(eye - 0.5 * A, eye + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(-2))
            Q = _householder_product(A, tau)
            # X's diagonal holds +-1 (not trained): the sign of each column
            diag = X.diagonal(dim1=-2, dim2=-1).detach()
            signs = _new_tensor(xp_of(diag.data).trunc(diag.data), None, False)
            Q = Q * signs.unsqueeze(-2)
        if "base" in self._buffers:
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q):
        with no_grad():
            return self._right_inverse(Q)

    def _right_inverse(self, Q):
        if tuple(Q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {tuple(Q.shape)}.")
        Q_init = Q
        n, k = Q.shape[-2], Q.shape[-1]
        transpose = n < k
        if transpose:
            Q = Q.mT
            n, k = k, n
        if "base" not in self._buffers:
            if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                raise NotImplementedError("It is not possible to assign to the matrix exponential "
                                          "or the Cayley parametrizations when "
                                          "use_trivialization=False.")
            A = _geqrf_reflectors(Q)
            return A.mT if transpose else A
        if n == k:
            Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
        else:  # complete Q to an n x n orthogonal matrix
            noise = creation.randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype, device=Q.device)
            Q = _make_orthogonal(_cat([Q, noise]))
        self.base = Q
        # -Id: with it, householder(zeros) == eye, and the other maps give base
        neg_id = creation.zeros(*Q_init.shape, dtype=Q_init.dtype, device=Q_init.device)
        xp = xp_of(neg_id.data)
        m = min(Q_init.shape[-2:])
        neg_id.data[..., xp.arange(m), xp.arange(m)] = -1
        return neg_id


def _cat(ts):
    from ... import cat

    return cat(ts, dim=-1)


def _matrix_exp(a):
    from ... import matrix_exp

    return matrix_exp(a)


def _solve(a, b):
    from ... import linalg

    return linalg.solve(a, b)


def _geqrf_reflectors(q):
    """geqrf's packed output of the real tall matrix ``q`` (or batch): R above the diagonal,
    the reflectors below, and on the diagonal the signs of R's (flipped where LAPACK used no
    reflection, tau == 0), as PyTorch's Householder ``right_inverse``."""
    from ... import linalg

    a, tau = linalg.geqrf(q.detach())
    xp = xp_of(a.data)
    k = q.shape[-1]
    idx = xp.arange(k)
    packed = a.data.copy()
    d = xp.sign(packed[..., idx, idx])
    packed[..., idx, idx] = xp.where(tau.data == 0.0, -d, d)
    return _new_tensor(packed, None, False)


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Make ``module.<name>`` an orthogonal (unitary) matrix or batch of matrices, through
    ``orthogonal_map``: "matrix_exp" (default for square or complex), "cayley" or
    "householder" (default otherwise), as PyTorch's; with ``use_trivialization`` (default)
    the current weight made orthogonal becomes the buffer ``base`` and the map starts at the
    identity. Returns ``module``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.ndim} dimensions.")
    if orthogonal_map is None:
        square = weight.shape[-2] == weight.shape[-1]
        orthogonal_map = "matrix_exp" if square or weight.is_complex() else "householder"
    orth_enum = getattr(_OrthMaps, str(orthogonal_map), None)
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", '
                         f'"householder". Got: {orthogonal_map}')
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module


def _norm_except_dim(v, dim):
    """The 2-norm of ``v`` over every dimension but ``dim``, kept as size-1 dimensions
    (``dim == -1``: the norm of all of ``v``, 0-d), as ``torch.norm_except_dim``."""
    from ... import linalg

    if dim == -1:
        return linalg.vector_norm(v)
    keep = dim % v.ndim
    axes = tuple(d for d in range(v.ndim) if d != keep)
    return linalg.vector_norm(v, 2, dim=axes, keepdim=True)


def _weight_norm(v, g, dim):
    """``v * (g / ||v||)``, the norm over every dimension but ``dim`` (``torch._weight_norm``)."""
    return v * (g / _norm_except_dim(v, dim))


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Write ``module.<name>`` as ``g * v / ||v||`` with the norm over every dimension but
    ``dim`` (``None``: the whole tensor): ``original0`` is ``g``, ``original1`` is ``v``,
    as PyTorch's. Returns ``module``. (PyTorch also renames old ``weight_g``/``weight_v``
    keys when loading a state dict; tensorgrad's ``load_state_dict`` has no hooks for that.)"""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


def _to_matrix(weight, dim):
    """``weight`` with ``dim`` moved first, flattened to a matrix."""
    if dim != 0:
        weight = weight.permute(dim, *(d for d in range(weight.ndim) if d != dim))
    return weight.reshape(weight.shape[0], -1)


def _write(buf, value):
    """``buf``'s values become ``value``'s, in place (PyTorch's ``out=buf``)."""
    buf.data[...] = value.data
    bump_version(buf._vc)


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:  # a vector needs no power iteration (see forward)
            self.n_power_iterations = n_power_iterations
            with no_grad():
                w = _to_matrix(weight, self.dim)
                h, wd = w.shape
                u = creation.randn(h, dtype=w.dtype, device=w.device)
                v = creation.randn(wd, dtype=w.dtype, device=w.device)
                self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
                self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            self._power_method(w, 15)

    def _power_method(self, weight_mat, n_power_iterations):
        from ... import mv

        with no_grad():
            weight_mat = weight_mat.detach()
            for _ in range(n_power_iterations):
                _write(self._u, F.normalize(mv(weight_mat, self._v), dim=0, eps=self.eps))
                _write(self._v, F.normalize(mv(_mH(weight_mat), self._u), dim=0,
                                            eps=self.eps))

    def forward(self, weight):
        from ... import mv, vdot

        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = _to_matrix(weight, self.dim)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u = self._u.detach().clone()
        v = self._v.detach().clone()
        sigma = vdot(u, mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def _is_conv_transpose(module):
    names = {"ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"}
    return any(c.__name__ in names for c in type(module).__mro__)


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide ``module.<name>`` by its spectral norm, estimated by power iteration with the
    buffers ``_u``/``_v`` (one ``n_power_iterations`` step per access in training mode, none
    in eval mode), as PyTorch's; ``dim`` defaults to 1 for transposed convolutions, else 0.
    Returns ``module``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if _is_conv_transpose(module) else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
