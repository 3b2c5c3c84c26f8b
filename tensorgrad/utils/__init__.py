"""``tensorgrad.utils``: data loading (``tensorgrad.utils.data``) and activation checkpointing
(``tensorgrad.utils.checkpoint``)."""

from . import checkpoint, data

__all__ = ["checkpoint", "data"]
