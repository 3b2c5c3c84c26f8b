"""PyTorch's OptimizerInfo configurations through tensorgrad's optimizers
(``tests/optiminfo_check.py``): every keyword set torch tests each optimizer with gives the same
parameters after every step of a small float64 problem, and torch's error inputs raise here too.
``EXPECTED`` lists the differences kept on purpose, with the reason; one that stops differing
fails, so the table stays true."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest")  # torch.testing._internal needs it (the oracle extra)

import optiminfo_check as oc  # noqa: E402
from opinfo_check import assert_as_expected  # noqa: E402

# name -> (reason, substrings one of which every differing line contains)
_TENSOR_FLAGS = ("tensorgrad takes a Tensor lr or betas in any combination; torch refuses a "
                 "Tensor with foreach=True (its own implementation's limit) and mixed "
                 "float/Tensor betas", "foreach': True", "both floats or both Tensors")
EXPECTED = {"Adam": _TENSOR_FLAGS, "AdamW": _TENSOR_FLAGS}


@pytest.mark.parametrize("name", sorted(oc.OPTIMIZERS))
def test_pytorch_optimizer_configurations_agree(name):
    assert_as_expected(oc.check(oc.OPTIMIZERS[name]), name, EXPECTED)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "ASGD", "Rprop"])
def test_a_one_element_tensor_lr_steps_as_the_number(name, device):
    """PyTorch takes ``lr`` as a 1-element Tensor; it steps as the number would (SGD and Adagrad
    raised a TypeError before), and a bad weight_decay is refused at construction."""
    import numpy as np

    import tensorgrad as tg

    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 2))
    runs = []
    for lr in (0.05, tg.tensor(0.05, dtype=tg.float64, device=device)):
        w = tg.tensor(w0.copy(), device=device, requires_grad=True)
        opt = getattr(tg.optim, name)([w], lr=lr)
        for _ in range(3):
            opt.zero_grad()
            (w * w * w * w).sum().backward()
            opt.step()
        runs.append(w.detach().cpu().numpy())
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-12)
    assert not np.allclose(runs[0], w0)
    if name.startswith("Adam"):
        with pytest.raises(ValueError, match="weight_decay"):
            getattr(tg.optim, name)([w], lr=0.1, weight_decay=-1)
