"""``nn.init`` on ``p.data`` (the array), as PyTorch code writes it: DCGAN's
``weights_init`` calls ``nn.init.normal_(m.weight.data, 0.0, 0.02)``. It raised
"memoryview: invalid slice key" (a NumPy array's ``.data`` is its buffer); the array is now
filled in place, with the numbers the same call on the parameter draws."""

import numpy as np
import pytest
from devices import host

import tensorgrad as tg
import tensorgrad.nn as nn

INITS = [
    ("normal_", (0.0, 0.02)), ("uniform_", (-0.1, 0.1)), ("constant_", (0.5,)), ("zeros_", ()),
    ("ones_", ()), ("xavier_uniform_", ()), ("xavier_normal_", ()), ("kaiming_uniform_", ()),
    ("kaiming_normal_", ()), ("trunc_normal_", (0.0, 0.02)), ("orthogonal_", ()),
    ("dirac_", ()), ("eye_", ()),
]


@pytest.mark.parametrize("name,args", INITS)
def test_init_fills_the_data_array_as_the_parameter(device, name, args):
    shape = (4, 4) if name == "eye_" else (4, 3, 3, 3)
    fn = getattr(nn.init, name)
    a = nn.Parameter(tg.zeros(*shape, device=device))
    b = nn.Parameter(tg.zeros(*shape, device=device))
    array = a.data
    tg.manual_seed(7)
    out = fn(a.data, *args)
    tg.manual_seed(7)
    fn(b, *args)
    assert out is array and a.data is array  # in place, the array itself returned
    np.testing.assert_array_equal(host(a), host(b))
    assert name == "zeros_" or host(a).any()


def test_dcgan_weights_init():
    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    tg.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(100, 64, 4, 1, 0, bias=False), nn.BatchNorm2d(64),
                        nn.ReLU(True), nn.Conv2d(64, 3, 4, 2, 1, bias=False))
    net.apply(weights_init)
    w = net[0].weight.numpy()
    assert abs(w.std() - 0.02) < 0.001 and abs(w.mean()) < 0.001
    assert abs(net[1].weight.numpy().mean() - 1.0) < 0.01
    assert not net[1].bias.numpy().any()
    assert net(tg.randn(2, 100, 1, 1)).shape == (2, 3, 2, 2)
