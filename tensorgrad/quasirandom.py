"""``tg.quasirandom``: PyTorch's ``torch.quasirandom.SobolEngine``, Sobol' low-discrepancy
sequences in up to 21201 dimensions.

>>> import tensorgrad as tg
>>> from tensorgrad.quasirandom import SobolEngine
>>> engine = SobolEngine(dimension=3)
>>> engine.draw(4, dtype=tg.float64).tolist()
[[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.75, 0.25, 0.25], [0.25, 0.75, 0.75]]

The algorithm. Each dimension d has 30 (``MAXBIT``) direction numbers v[d, 0..29], 30-bit
integers made from Joe and Kuo's "new-joe-kuo-6.21201" table (a primitive polynomial over GF(2)
and initial values m_1..m_s per dimension, the search criterion D(6); the first dimension is the
van der Corput sequence) by Bratley and Fox's recurrence. Point k is, in Gray-code order,

    x_k[d] = shift[d] XOR (XOR over the set bits b of k ^ (k >> 1) of v[d, b]),

so x_0 = shift and x_{k+1} = x_k XOR v[., c(k)] with c(k) the index of the lowest zero bit of k.
``draw`` computes the first point of a batch from that closed form and the rest as one cumulative
XOR (``np.bitwise_xor.accumulate``) over the gathered direction rows: no Python loop over points.
``fast_forward`` only moves the counter. Values are the integers times 2**-30; in float32 the
integer is rounded to float32 first (round to nearest, as PyTorch does).

Scrambling (``scramble=True``): each dimension's direction numbers are multiplied, as 30-digit
binary vectors, by a random lower-triangular binary matrix with unit diagonal (Matousek's linear
matrix scrambling, the affine form of Owen's scrambling that PyTorch also uses), and the points
are XORed with a random 30-bit digital shift. Both keep the net property: every 1-D projection
of points 2**m * i .. 2**m * (i + 1) - 1 has one point in each interval [j / 2**m, (j + 1) / 2**m).
The random bits come from a NumPy Generator seeded with ``seed``, or, with ``seed=None``, from
tensorgrad's global CPU generator (so ``tg.manual_seed`` makes them repeat).

What equals PyTorch's. Unscrambled points, bit for bit in float64 and float32, after any
sequence of ``draw``, ``draw_base2``, ``fast_forward`` and ``reset``, in every dimension, and
``sobolstate`` (the direction numbers), ``num_generated``, ``repr`` and the errors PyTorch
raises for a dimension out of range and for ``draw_base2`` breaking the power-of-2 balance. What
does not: scrambled points (PyTorch draws its matrices and shift from its own generator, so
only their distribution is the same); a float32 value that rounds up to 1.0 in PyTorch (an
integer within 32 of 2**30: unscrambled only after 2**24 points) is the largest float32 below
1 here, so every point is in [0, 1); ``draw(0)`` on a fresh engine returns a (0, dimension)
tensor (PyTorch raises); a negative ``n`` or an engine run past 2**30 points raises here
(PyTorch fails or silently wraps); ``out=`` must have the shape (n, dimension) (PyTorch resizes
it), and the points are written into it in its dtype after being computed in ``dtype``, as
PyTorch's copy does; float16 is refused, as PyTorch refuses it.
"""

import numbers
import operator
import os

import numpy as np

from . import creation as _cr
from .tensor import Tensor

__all__ = ["SobolEngine"]

_MAXBIT = 30
_MAXDIM = 21201
_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sobol_directions.npz")
_TABLE = []  # [(MAXDIM, MAXBIT) uint32 direction numbers], made on first use
_F32_BELOW_ONE = np.nextafter(np.float32(1), np.float32(0))


# ---- the direction numbers -----------------------------------------------------------------
# The data file holds Joe and Kuo's table compactly (366 kB): the polynomials, which increase,
# as half their successive differences (uint8), and the initial values m_k (odd, below 2**(k+1);
# m_0 is always 1) as bit planes: for k = 1, 2, ..., the dimensions whose polynomial's degree
# exceeds k each give (m_k - 1) / 2 in k bits, bit 0 of all of them first, then bit 1, ...
# (one np.packbits stream for all k). _pack_table makes it from the plain table (SciPy ships
# one: scipy/stats/_sobol_direction_numbers.npz, arrays poly and vinit; tests check both ways).

def _degrees(poly):
    return np.frexp(poly.astype(np.float64))[1].astype(np.int64) - 1  # bit_length - 1


def _pack_table(poly, vinit):
    """The data file's arrays from ``poly`` (MAXDIM,) and ``vinit`` (MAXDIM, max degree)."""
    poly, vinit = np.asarray(poly, np.int64), np.asarray(vinit, np.int64)
    steps = np.diff(poly) // 2
    if poly[0] != 1 or np.any(np.diff(poly) <= 0) or steps.max() > 255:
        raise ValueError("_pack_table: the polynomials must start at 1 and increase by at most "
                         "510")
    deg = _degrees(poly)
    planes = []
    for k in range(1, int(deg.max())):
        vals = vinit[deg > k, k]
        if np.any(vals % 2 != 1) or np.any(vals >= 2 << k):
            raise ValueError(f"_pack_table: initial values m_{k} must be odd and below "
                             f"2**{k + 1}")
        planes.extend(((vals >> 1) >> b) & 1 for b in range(k))
    bits = np.concatenate(planes).astype(np.uint8)
    return {"poly_step": steps.astype(np.uint8), "init_bits": np.packbits(bits)}


def _unpack_table(poly_step, init_bits):
    """``(poly, vinit)`` back from the data file's arrays (vinit[d, k] = 0 for k >= degree)."""
    poly = np.concatenate(([1], 1 + 2 * np.cumsum(poly_step, dtype=np.int64)))
    deg = _degrees(poly)
    vinit = np.zeros((len(poly), max(int(deg.max()), 1)), np.int64)
    vinit[:, 0] = 1
    bits = np.unpackbits(init_bits).astype(np.int64)
    offset = 0
    for k in range(1, int(deg.max())):
        rows = np.flatnonzero(deg > k)
        planes = bits[offset:offset + k * len(rows)].reshape(k, len(rows))
        offset += k * len(rows)
        vinit[rows, k] = 2 * (planes << np.arange(k)[:, None]).sum(axis=0) + 1
    if not np.all(bits[offset:] == 0) or len(bits) - offset >= 8:
        raise ValueError("SobolEngine: the direction-number data file is corrupt")
    return poly, vinit


def _direction_numbers(poly, vinit):
    """The (len(poly), MAXBIT) direction numbers: dimension 0 has m_k = 1 for all k; dimension
    d >= 1 of degree s takes m_0..m_{s-1} from ``vinit`` and, for k >= s, Bratley and Fox's
    m_k = m_{k-s} XOR 2**s m_{k-s} XOR (XOR over i = 1..s-1 of a_i 2**i m_{k-i}), with a_i
    the coefficient of x**(s-i) in the polynomial. Column k is then shifted to bit 29 - k."""
    ndim = len(poly)
    m = np.ones((ndim, _MAXBIT), np.int64)
    deg = _degrees(poly)
    rest = np.arange(1, ndim)
    s, p = deg[rest], poly[rest]
    for k in range(_MAXBIT):
        early = k < s
        if k < vinit.shape[1]:
            m[rest[early], k] = vinit[rest[early], k]
        late = ~early
        if not late.any():
            continue
        rows, sl, pl = rest[late], s[late], p[late]
        new = m[rows, k - sl] ^ (m[rows, k - sl] << sl)
        for i in range(1, int(sl.max())):
            coef = (i < sl) & ((pl >> np.maximum(sl - i, 0)) & 1 == 1)
            new ^= np.where(coef, m[rows, k - i] << i, 0)
        m[rows, k] = new
    return (m << (_MAXBIT - 1 - np.arange(_MAXBIT))).astype(np.uint32)


def _table():
    if not _TABLE:
        with np.load(_DATA) as f:
            poly, vinit = _unpack_table(f["poly_step"], f["init_bits"])
        if len(poly) != _MAXDIM:
            raise ValueError(f"SobolEngine: the direction-number data file has {len(poly)} "
                             f"dimensions, expected {_MAXDIM}")
        table = _direction_numbers(poly, vinit)
        table.flags.writeable = False
        _TABLE.append(table)
    return _TABLE[0]


# ---- the engine ----------------------------------------------------------------------------
def _int_arg(value, who, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{who}: {name} must be an int, got {type(value).__name__}")
    return operator.index(value)


def _lowest_set_bit(k):
    """Index of the lowest set bit of each (positive) int64 in ``k``."""
    return (np.frexp((k & -k).astype(np.float64))[1] - 1).astype(np.intp)  # exact: 2**i


def _scrambled(v, rng):
    """``v`` (dim, MAXBIT) multiplied digit-wise by one random lower-triangular unit-diagonal
    binary matrix per dimension (digit k is bit 29 - k, the most significant first). Column k
    of a matrix is a 30-bit mask: its diagonal bit 29 - k and random bits below it (the later
    digits); the product XORs together the columns of the digits set in the input."""
    k = np.arange(_MAXBIT, dtype=np.int64)
    low = rng.integers(0, 1 << (_MAXBIT - 1 - k), size=(v.shape[0], _MAXBIT), dtype=np.int64)
    cols = (low | (1 << (_MAXBIT - 1 - k))).astype(np.uint32)
    out = np.zeros_like(v)
    for j in range(_MAXBIT):
        digit = (v >> np.uint32(_MAXBIT - 1 - j)) & np.uint32(1)
        out ^= digit * cols[:, j, None]
    return out


class SobolEngine:
    r"""An engine drawing (scrambled) Sobol' sequences of ``dimension`` dimensions (1 to
    21201), as ``torch.quasirandom.SobolEngine``: Joe and Kuo's direction numbers (search
    criterion D(6)); points in [0, 1), the first one 0 unless scrambled.

    Args:
        dimension (int): the dimension of the points.
        scramble (bool): scramble the sequence (random linear matrix scrambling and digital
            shift); default False.
        seed (int, optional): the seed of the scrambling's random numbers; None draws them
            from tensorgrad's global generator (``tg.manual_seed`` makes them repeat).

    Unscrambled points equal PyTorch's bit for bit; scrambled ones have the same distribution
    but not PyTorch's values (see the module's docstring).

    >>> import tensorgrad as tg
    >>> e = SobolEngine(2, scramble=True, seed=0)
    >>> x = e.draw_base2(4)                       # 16 points
    >>> sorted((x[:, 0] * 16).floor().tolist()) == list(range(16))   # one per 1/16
    True
    """

    MAXBIT = _MAXBIT
    MAXDIM = _MAXDIM

    def __init__(self, dimension, scramble=False, seed=None):
        dimension = _int_arg(dimension, "SobolEngine()", "dimension")
        if dimension > self.MAXDIM or dimension < 1:
            raise ValueError(f"SobolEngine(): dimension={dimension} is out of range: Supported "
                             f"range of dimensionality for SobolEngine is [1, {self.MAXDIM}]")
        rng_seed = None
        if scramble and seed is not None:
            rng_seed = _cr._check_seed(seed, "SobolEngine()")
        self.seed = seed
        self.scramble = scramble
        self.dimension = dimension
        v = _table()[:dimension]
        if scramble:
            rng = (np.random.default_rng(rng_seed) if rng_seed is not None
                   else _cr.default_generator._backend())
            shift = rng.integers(0, 1 << self.MAXBIT, size=dimension, dtype=np.int64)
            self._shift = shift.astype(np.uint32)
            v = _scrambled(v, rng)
        else:
            self._shift = np.zeros(dimension, np.uint32)
        self._rows = np.ascontiguousarray(v.T)  # (MAXBIT, dimension): row b is v[:, b]
        self.num_generated = 0

    # PyTorch's state tensors, read-only copies (int64)
    @property
    def sobolstate(self):
        """The direction numbers, (dimension, MAXBIT) int64 (scrambled when ``scramble``)."""
        return _cr.from_numpy(self._rows.T.astype(np.int64))

    @property
    def shift(self):
        """The digital shift, (dimension,) int64 (zeros when not ``scramble``)."""
        return _cr.from_numpy(self._shift.astype(np.int64))

    @property
    def quasi(self):
        """The last point drawn (the first before any), as (dimension,) int64 integers."""
        return _cr.from_numpy(self._point(max(self.num_generated - 1, 0)).astype(np.int64))

    def _point(self, k):
        """Point ``k`` as uint32 integers, from the closed form."""
        gray = k ^ (k >> 1)
        used = ((gray >> np.arange(self.MAXBIT)) & 1).astype(bool)
        return self._shift ^ np.bitwise_xor.reduce(self._rows[used], axis=0)

    def _check_count(self, n, who, name):
        if self.num_generated + n > 1 << self.MAXBIT:
            raise ValueError(f"{who}: {name}={n} would take the engine past 2**{self.MAXBIT} "
                             f"points ({self.num_generated} drawn so far), the most a "
                             f"{self.MAXBIT}-bit Sobol' sequence has; call reset() first")

    def _draw(self, n, out, dtype, who):
        if dtype is None:
            dtype = _cr.get_default_dtype()
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"{who}: dtype must be a floating-point dtype, got {dtype!r}") from None
        if dtype not in (np.float32, np.float64):
            raise NotImplementedError(f"{who}: dtype must be float32 or float64 (PyTorch's "
                                      f"SobolEngine has no other), got {dtype}")
        if out is not None:
            if not isinstance(out, Tensor):
                raise TypeError(f"{who}: out must be a Tensor, got {type(out).__name__}")
            if tuple(out.shape) != (n, self.dimension):
                raise RuntimeError(f"{who}: out has shape {tuple(out.shape)}, expected "
                                   f"({n}, {self.dimension}) (n, dimension); tensorgrad does "
                                   f"not resize out")
        self._check_count(n, who, "n")
        start = self.num_generated
        ints = np.empty((n, self.dimension), np.uint32)
        if n:
            ints[0] = self._point(start)
            steps = np.arange(start + 1, start + n, dtype=np.int64)
            self._rows.take(_lowest_set_bit(steps), axis=0, out=ints[1:])  # x_k ^ v[c(k)] = x_k+1
            np.bitwise_xor.accumulate(ints, axis=0, out=ints)
        result = ints.astype(dtype)
        result *= dtype.type(2.0 ** -self.MAXBIT)
        if dtype == np.float32:
            np.minimum(result, _F32_BELOW_ONE, out=result)  # 2**30 - 32 .. - 1 rounds to 1.0
        self.num_generated = start + n
        if out is not None:
            out.copy_(_cr.from_numpy(result))
            return out
        return _cr.from_numpy(result)

    def draw(self, n=1, out=None, dtype=None):
        """The next ``n`` points, an (n, dimension) tensor of ``dtype`` (default: the default
        dtype, ``tg.get_default_dtype()``); ``out`` (of shape (n, dimension)) receives them
        instead, in its own dtype, and is returned."""
        who = "SobolEngine.draw()"
        n = _int_arg(n, who, "n")
        if n < 0:
            raise RuntimeError(f"{who}: n must be non-negative, got {n}")
        return self._draw(n, out, dtype, who)

    def draw_base2(self, m, out=None, dtype=None):
        """The next ``2**m`` points, as ``draw(2**m)``; the points drawn so far plus these must
        be a power of 2 (the balance properties of Sobol' points), else ValueError."""
        who = "SobolEngine.draw_base2()"
        m = _int_arg(m, who, "m")
        if m < 0:
            raise ValueError(f"{who}: m must be non-negative (2**m points), got {m}")
        if m > self.MAXBIT:
            self._check_count(1 << m, who, "2**m")
        n = 1 << m
        total = self.num_generated + n
        if total & (total - 1):
            raise ValueError(f"{who}: The balance properties of Sobol' points require n to be a "
                             f"power of 2. {self.num_generated} points have been previously "
                             f"generated, then: n={self.num_generated}+2**{m}={total}. If you "
                             f"still want to do this, please use 'SobolEngine.draw()' instead.")
        return self._draw(n, out, dtype, who)

    def reset(self):
        """Back to the first point; returns the engine."""
        self.num_generated = 0
        return self

    def fast_forward(self, n):
        """Skip ``n`` points, as drawing them would (in O(1)); returns the engine."""
        who = "SobolEngine.fast_forward()"
        n = _int_arg(n, who, "n")
        if n < 0:
            raise ValueError(f"{who}: n must be non-negative, got {n}")
        self._check_count(n, who, "n")
        self.num_generated += n
        return self

    def __repr__(self):
        parts = [f"dimension={self.dimension}"]
        if self.scramble:
            parts.append("scramble=True")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return f"{type(self).__name__}({', '.join(parts)})"
