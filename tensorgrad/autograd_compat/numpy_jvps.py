"""``autograd.numpy.numpy_jvps``: the helpers extension libraries use to write JVP rules.
autograd's JVP makers for its own primitives have no counterpart (tensorgrad's primitives carry
their own rules)."""

from .. import numpy as anp
from ..extend import (  # noqa: F401
    JVPNode,
    def_linear,
    defjvp,
    defjvp_argnum,
    register_notrace,
    vspace,
)
from ._core import ArrayBox  # noqa: F401
from .numpy_vjps import balanced_eq, match_complex, replace_zero, untake  # noqa: F401


def broadcast(x, target_meta):
    """``x`` broadcast to the shape of ``target_meta`` (and made complex if it is)."""
    shape, _, _, iscomplex = target_meta
    x = anp.broadcast_to(x, shape)
    return x + 0j if iscomplex and not anp.iscomplexobj(getattr(x, "data", x)) else x
