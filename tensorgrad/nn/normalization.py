"""Normalisation layers with PyTorch's names, arguments, initialisation and repr."""

from .. import creation
from . import functional as F
from .modules import Module, Parameter


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` dimensions (PyTorch's
    ``nn.LayerNorm``): biased variance, ``eps`` inside the square root, and with
    ``elementwise_affine`` a weight initialised to ones and (with ``bias``) a bias to zeros.

    >>> import tensorgrad as tg
    >>> ln = tg.nn.LayerNorm(4)
    >>> ln
    LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> ln(tg.ones(2, 4)).shape, ln.weight.tolist(), ln.bias.tolist()
    ((2, 4), [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self.normalized_shape = F._norm_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*self.normalized_shape, dtype=dtype,
                                                  device=device))
            self.bias = Parameter(creation.zeros(*self.normalized_shape, dtype=dtype,
                                                 device=device)) if bias else None
        else:
            self.weight = None
            self.bias = None

    def reset_parameters(self):
        """Weight back to ones, bias back to zeros (PyTorch's initialisation)."""
        if self.weight is not None:
            self.weight.data = creation.ones_like(self.weight).data
        if self.bias is not None:
            self.bias.data = creation.zeros_like(self.bias).data

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")

__all__ = ["LayerNorm"]
