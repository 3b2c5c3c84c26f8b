"""``autograd.differential_operators``: autograd's transforms, computed by tensorgrad."""

from collections import OrderedDict  # noqa: F401  (autograd's module has it)

from ..autograd.functional import (  # noqa: F401
    checkpoint,
    deriv,
    elementwise_grad,
    grad,
    grad_and_aux,
    grad_named,
    hessian,
    hessian_tensor_product,
    hessian_vector_product,
    holomorphic_grad,
    jacobian,
    make_ggnvp,
    make_hvp,
    make_jvp,
    make_jvp_reversemode,
    make_vjp,
    multigrad_dict,
    tensor_jacobian_product,
    value_and_grad,
    vector_jacobian_product,
)
from ..extend import defvjp_argnum, primitive, vspace  # noqa: F401
from ._core import unary_to_nary  # noqa: F401

atuple = tuple
