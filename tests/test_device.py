"""The device seam: Device values, and clear errors where CuPy or a GPU is missing."""

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.backend import Device, xp_of


def test_device_values():
    assert Device("cpu") == "cpu" and Device("cuda:1").index == 1
    assert Device("cuda").index == 0 and str(Device("cuda:2")) == "cuda:2"
    assert tg.tensor([1.0]).device == "cpu"
    assert xp_of(np.ones(2)) is np
    with pytest.raises(ValueError, match="unknown device"):
        Device("tpu")


@pytest.mark.skipif(tg.cuda.is_available(), reason="this checks the message without CuPy")
def test_cuda_without_cupy_says_what_to_install():
    with pytest.raises(RuntimeError, match=r"CuPy is not installed.*tensorgrad\[cuda\]"):
        tg.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        tg.ones(2).cuda()


def test_round_trip_to_cuda_and_back(device):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(device)
    assert y.device == device
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert x.grad.device == "cpu"
