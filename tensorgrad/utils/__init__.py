"""``tensorgrad.utils``: data loading (``tensorgrad.utils.data``)."""

from . import data

__all__ = ["data"]
