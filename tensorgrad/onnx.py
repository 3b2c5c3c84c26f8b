"""``tg.onnx``: the import path of PyTorch's ``torch.onnx``, without an exporter.

Programs ported by changing their import lines often keep ``import torch.onnx`` for an export
step behind a flag (pytorch/examples' word_language_model does). The import works; calling
``export`` raises a ``RuntimeError`` that says so, rather than writing a wrong file.

>>> import tensorgrad.onnx
>>> tensorgrad.onnx.is_in_onnx_export()
False
"""

__all__ = ["export", "is_in_onnx_export"]


def is_in_onnx_export():
    """False: tensorgrad never traces a model for ONNX."""
    return False


def export(model, args=(), f=None, *unused_args, **unused_kwargs):
    """PyTorch's ``torch.onnx.export``: not available in tensorgrad (see the module docstring)."""
    raise RuntimeError(
        f"tensorgrad.onnx.export: tensorgrad has no ONNX exporter (model "
        f"{type(model).__name__}, file {f!r}); save the weights with tg.save(model.state_dict(), "
        f"path) and export from a PyTorch copy of the model instead")
