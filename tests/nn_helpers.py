"""What the tests that compare nn modules with PyTorch's (test_nn_attention,
test_nn_transformer_decoder, test_nn_rnn) share: float64 leaves, copied weights, and the
comparison of outputs and of the gradients of inputs and parameters."""

import numpy as np
from devices import host, on, put

import tensorgrad as tg

TOL = dict(rtol=1e-10, atol=1e-12)


def leaf(a, device):
    """A leaf Tensor of ``a`` on ``device`` that requires grad."""
    return tg.tensor(put(np.asarray(a), device), requires_grad=True)


def copy_weights(ours, theirs, device):
    """PyTorch module -> our module (the same state_dict names), float64, on ``device``."""
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert sorted(state) == sorted(ours.state_dict())
    ours.load_state_dict(state)
    for p in ours.parameters():
        assert on(p, device) and p.dtype == np.float64


def compare_params(ours, theirs, ordered=False):
    """The same parameter names (in the same order where ``ordered``), each with PyTorch's
    gradient."""
    mine = dict(ours.named_parameters())
    ref = dict(theirs.named_parameters())
    if ordered:
        assert list(mine) == list(ref)
    assert sorted(mine) == sorted(ref)
    for name, p in ref.items():
        assert mine[name].grad is not None, name
        np.testing.assert_allclose(host(mine[name].grad), p.grad.numpy(), err_msg=name, **TOL)


def check_backward(outputs, leaves, device, rng):
    """Each (ours, PyTorch's) pair of ``outputs`` equal in device, shape and value; then
    sum(output * g) over the outputs, one random g each, backpropagated in both, and the
    gradient of each (ours, PyTorch's) pair of ``leaves`` equal."""
    import torch

    loss = ref_loss = 0.0
    for a, b in outputs:
        assert on(a, device) and a.shape == tuple(b.shape)
        np.testing.assert_allclose(host(a), b.detach().numpy(), **TOL)
        g = rng.standard_normal(a.shape)
        loss = loss + (a * tg.tensor(put(g, device))).sum()
        ref_loss = ref_loss + (b * torch.tensor(g)).sum()
    loss.backward()
    ref_loss.backward()
    for a, b in leaves:
        assert on(a.grad, device)
        np.testing.assert_allclose(host(a.grad), b.grad.numpy(), **TOL)
