"""``tensorgrad.scipy.signal``: N-dimensional convolution, differentiable in both operands.

``convolve(A, B, axes=None, dot_axes=((), ()), mode="full")`` follows HIPS autograd's
generalisation of ``scipy.signal.convolve``: ``axes = (axes_of_A, axes_of_B)`` are convolved
pairwise, ``dot_axes`` are summed over pairwise (a tensordot), and the output's axes are A's
remaining axes, then B's, then the convolved ones. With the defaults it is
``scipy.signal.convolve(A, B, mode)``.

It is a composition (padding, slicing and one einsum per element of the smaller operand's
window), so derivatives of any order, in either mode, need no rules of their own.

>>> import numpy as np
>>> convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
array([0. , 1. , 2.5, 4. , 1.5])
"""

import itertools
import string

import numpy as np

from .. import numpy as tnp
from ..tensor import keep_array as _as_array


def _out_range(na, nb, mode):
    """(start, length) of the output inside the full convolution along one axis."""
    if mode == "full":
        return 0, na + nb - 1
    if mode == "valid":
        return min(na, nb) - 1, abs(na - nb) + 1
    if mode == "same":
        return (nb - 1) // 2, na
    raise ValueError(f"convolve: mode must be 'full', 'valid' or 'same', got {mode!r}")


def convolve(A, B, axes=None, dot_axes=((), ()), mode="full"):
    """Convolve ``A`` with ``B`` along ``axes``, contracting ``dot_axes`` (see the module)."""
    A, B = _as_array(A), _as_array(B)
    if axes is None:
        if A.ndim != B.ndim:
            raise ValueError(f"convolve: operands of different ranks ({A.ndim} and {B.ndim}) "
                             "need axes=")
        axes = (tuple(range(A.ndim)), tuple(range(A.ndim)))
    conv_a, conv_b = (tuple(int(i) % A.ndim for i in axes[0]),
                      tuple(int(i) % B.ndim for i in axes[1]))
    dot_a, dot_b = (tuple(int(i) % A.ndim for i in dot_axes[0]),
                    tuple(int(i) % B.ndim for i in dot_axes[1]))
    if len(conv_a) != len(conv_b) or len(dot_a) != len(dot_b):
        raise ValueError("convolve: axes and dot_axes must pair the axes of A with those of B")
    for i, j in zip(dot_a, dot_b):
        if A.shape[i] != B.shape[j]:
            raise ValueError(f"convolve: dot axes {i} of A {tuple(A.shape)} and {j} of B "
                             f"{tuple(B.shape)} differ in length")
    letters = iter(string.ascii_letters)
    sub_a = [None] * A.ndim
    sub_b = [None] * B.ndim
    for i, j in zip(dot_a, dot_b):
        sub_a[i] = sub_b[j] = next(letters)
    for i, j in zip(conv_a, conv_b):
        sub_a[i] = sub_b[j] = next(letters)
    ign_a = [i for i in range(A.ndim) if sub_a[i] is None]
    ign_b = [j for j in range(B.ndim) if sub_b[j] is None]
    for i in ign_a:
        sub_a[i] = next(letters)
    for j in ign_b:
        sub_b[j] = next(letters)
    out_sub = ("".join(sub_a[i] for i in ign_a) + "".join(sub_b[j] for j in ign_b)
               + "".join(sub_a[i] for i in conv_a))

    ranges = [_out_range(A.shape[i], B.shape[j], mode) for i, j in zip(conv_a, conv_b)]
    # slide the operand with the larger window; loop over the smaller one's window
    size_a = int(np.prod([A.shape[i] for i in conv_a]))
    size_b = int(np.prod([B.shape[j] for j in conv_b]))
    if size_b <= size_a:
        sig, ker, conv_s, conv_k, sub_s, sub_k = A, B, conv_a, conv_b, sub_a, sub_b
    else:
        sig, ker, conv_s, conv_k, sub_s, sub_k = B, A, conv_b, conv_a, sub_b, sub_a
    pad = [(0, 0)] * sig.ndim
    for i, j in zip(conv_s, conv_k):
        pad[i] = (ker.shape[j] - 1, ker.shape[j] - 1)
    if any(p != (0, 0) for p in pad):
        sig = tnp.pad(sig, pad)
    # the kernel index k is summed out, so its subscripts drop the convolved letters
    sub_k_sliced = "".join(s for d, s in enumerate(sub_k) if d not in conv_k)
    subscripts = "".join(sub_s) + "," + sub_k_sliced + "->" + out_sub
    total = None
    for k in itertools.product(*[range(ker.shape[j]) for j in conv_k]):
        idx_s = [slice(None)] * sig.ndim
        idx_k = [slice(None)] * ker.ndim
        for (i, j), kj, (start, length) in zip(zip(conv_s, conv_k), k, ranges):
            first = start + ker.shape[j] - 1 - kj
            idx_s[i] = slice(first, first + length)
            idx_k[j] = kj
        weight = ker[tuple(idx_k)]
        if isinstance(weight, np.generic):  # one element of a raw kernel: keep it an array
            weight = np.asarray(weight)
        term = tnp.einsum(subscripts, sig[tuple(idx_s)], weight)
        total = term if total is None else total + term
    return total


__all__ = ["convolve"]
