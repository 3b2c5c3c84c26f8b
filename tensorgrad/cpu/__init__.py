"""``tg.cpu``: PyTorch's ``torch.cpu`` names, for code written against both devices.

>>> import tensorgrad as tg
>>> tg.cpu.is_available(), tg.cpu.device_count(), tg.cpu.current_device()
(True, 1, 'cpu')
"""

import contextlib

from . import amp

__all__ = ["amp", "is_available", "device_count", "current_device", "synchronize", "set_device",
           "device", "stream", "current_stream", "Stream"]


def is_available():
    """Always True: the CPU is always there."""
    return True


def device_count():
    """1: the host is one device."""
    return 1


def current_device():
    """``'cpu'``, as PyTorch's answers."""
    return "cpu"


def synchronize(device=None):
    """Nothing to wait for: host work is done when its call returns."""


def set_device(device):
    """Accepted for PyTorch code: there is one CPU device."""


class Stream:
    """The CPU's one stream, as PyTorch's ``torch.cpu.Stream``: ``wait_stream``, ``query``
    and ``synchronize`` have nothing to wait for."""

    def __init__(self, priority=-1):
        self.priority = priority

    def wait_stream(self, stream):
        pass

    def query(self):
        return True

    def synchronize(self):
        pass


_STREAM = Stream()


def current_stream(device=None):
    return _STREAM


@contextlib.contextmanager
def stream(stream):
    """Run the block on ``stream``: on the CPU, as it is."""
    yield


@contextlib.contextmanager
def device(device):
    """Run the block on ``device``: on the CPU, as it is."""
    yield
