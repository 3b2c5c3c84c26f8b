"""Folding an eval-mode BatchNorm into the convolution or linear layer before it, as
``torch.nn.utils.fusion``: ``fuse_conv_bn_eval``, ``fuse_conv_bn_weights``,
``fuse_linear_bn_eval``, ``fuse_linear_bn_weights``.

>>> import tensorgrad as tg
>>> conv, bn = tg.nn.Conv2d(2, 3, 3).eval(), tg.nn.BatchNorm2d(3).eval()
>>> x = tg.randn(1, 2, 5, 5)
>>> fused = tg.nn.utils.fuse_conv_bn_eval(conv, bn)
>>> bool(tg.allclose(fused(x), bn(conv(x)), atol=1e-5))
True
"""

import copy

from ..modules import Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights"]


def _check_eval(layer, bn):
    if layer.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")


def _bn_defaults(bn_rm, bn_w, bn_b):
    from ... import ones_like, zeros_like

    return (ones_like(bn_rm) if bn_w is None else bn_w,
            zeros_like(bn_rm) if bn_b is None else bn_b)


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A copy of ``conv`` (eval mode) whose weight and bias include ``bn``'s normalisation
    (eval mode, running statistics); ``transpose`` for transposed convolutions."""
    _check_eval(conv, bn)
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose)
    return fused


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    """``(weight, bias)`` Parameters of a convolution followed by an eval-mode BatchNorm with
    running mean ``bn_rm``, variance ``bn_rv``, ``bn_eps``, affine ``bn_w``/``bn_b`` (None:
    1 and 0); the convolution's dtypes are kept."""
    from ... import rsqrt, zeros_like

    w_dtype = conv_w.dtype
    b_dtype = conv_b.dtype if conv_b is not None else w_dtype
    if conv_b is None:
        conv_b = zeros_like(bn_rm)
    bn_w, bn_b = _bn_defaults(bn_rm, bn_w, bn_b)
    scale = rsqrt(bn_rv + bn_eps)
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (conv_w.ndim - 2)
    fused_w = (conv_w * (bn_w * scale).reshape(shape)).to(w_dtype)
    fused_b = ((conv_b - bn_rm) * scale * bn_w + bn_b).to(b_dtype)
    return (Parameter(fused_w.detach(), conv_w.requires_grad),
            Parameter(fused_b.detach(), conv_b.requires_grad))


def fuse_linear_bn_eval(linear, bn):
    """A copy of ``linear`` (eval mode) whose weight and bias include ``bn``'s normalisation;
    ``bn.num_features`` must be ``linear.out_features`` or 1."""
    _check_eval(linear, bn)
    if not (linear.out_features == bn.num_features or bn.num_features == 1):
        raise AssertionError("To fuse, linear.out_features == bn.num_features or "
                             "bn.num_features == 1")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """``(weight, bias)`` Parameters of a linear layer followed by an eval-mode BatchNorm."""
    from ... import rsqrt, zeros_like

    w_dtype = linear_w.dtype
    b_dtype = linear_b.dtype if linear_b is not None else w_dtype
    if linear_b is None:
        linear_b = zeros_like(bn_rm)
    bn_w, bn_b = _bn_defaults(bn_rm, bn_w, bn_b)
    bn_scale = bn_w * rsqrt(bn_rv + bn_eps)
    fused_w = linear_w * bn_scale.unsqueeze(-1).to(w_dtype)
    fused_b = ((linear_b - bn_rm) * bn_scale + bn_b).to(b_dtype)
    return (Parameter(fused_w.detach(), linear_w.requires_grad),
            Parameter(fused_b.detach(), linear_b.requires_grad))
