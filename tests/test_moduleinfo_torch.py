"""PyTorch's ModuleInfo samples through tensorgrad's ``nn`` modules (``tests/moduleinfo_check.py``):
each module torch tests, built with torch's constructor arguments and given torch's parameters,
in training and in eval mode, gives torch's outputs, input and parameter gradients and
buffers (running statistics). ``EXPECTED`` lists the differences kept on purpose, with the
reason; one that stops differing fails, so the table stays true."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest")  # torch.testing._internal needs it (the oracle extra)

import moduleinfo_check as mc  # noqa: E402
from opinfo_check import assert_as_expected  # noqa: E402

# name -> (reason, substrings one of which every differing line contains)
EXPECTED = {
    "nn.CTCLoss": ("torch's backward assumes log_probs came out of log_softmax; tensorgrad's is "
                   "the derivative with respect to log_probs themselves", "gradient of input 0"),
}


@pytest.mark.parametrize("name", sorted(mc.MODULES))
def test_pytorch_module_samples_agree(name):
    assert_as_expected(mc.check(mc.MODULES[name]), name, EXPECTED)
