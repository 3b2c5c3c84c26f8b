"""``tg.nn.utils.stateless.functional_call``: PyTorch's deprecated name for
``tg.func.functional_call`` (same arguments), which it calls after a FutureWarning."""

import warnings

__all__ = ["functional_call"]


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """``tg.func.functional_call(module, parameters_and_buffers, args, kwargs, ...)``, with
    PyTorch's deprecation warning.

    >>> import warnings, tensorgrad as tg
    >>> lin = tg.nn.Linear(2, 1)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     y = tg.nn.utils.stateless.functional_call(
    ...         lin, {"weight": tg.ones(1, 2), "bias": tg.zeros(1)}, (tg.ones(1, 2),))
    >>> y.tolist()
    [[2.0]]
    """
    from ...func import functional_call as call

    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 "
                  "and will be removed in a future version of PyTorch. Please use "
                  "`torch.func.functional_call` instead which is a drop-in replacement.",
                  FutureWarning, stacklevel=2)
    return call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights,
                strict=strict)
