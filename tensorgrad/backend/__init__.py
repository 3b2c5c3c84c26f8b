"""Backends: where arrays live and which array module (numpy or cupy) computes on them."""

from .device import Device, as_device, cupy, device_of, get_array_module, xp_of

__all__ = ["Device", "as_device", "cupy", "device_of", "get_array_module", "xp_of"]
