"""``tg.autograd.grad(out, inputs)`` and ``backward(inputs=...)`` compute only what the
targets need, as PyTorch's engine: no gradient of a leaf that is not asked for (a weight's,
for the gradient of a critic with respect to its input) is computed."""

import numpy as np
import pytest
from devices import host, put, torch_oracle

import tensorgrad as tg
from tensorgrad.extend import defvjp, primitive

CALLS = {"x": 0, "w": 0}


@primitive
def scaled(x, w):
    return x * w


defvjp(scaled,
       lambda ans, x, w: (CALLS.__setitem__("x", CALLS["x"] + 1), lambda g: g * w)[1],
       lambda ans, x, w: (CALLS.__setitem__("w", CALLS["w"] + 1), lambda g: g * x)[1])


def _fresh():
    CALLS.update(x=0, w=0)


def test_grad_toward_an_input_computes_no_weight_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    w = tg.tensor([3.0, 4.0], requires_grad=True)
    _fresh()
    g, = tg.autograd.grad(scaled(x, w).sum(), x)
    assert g.tolist() == [3.0, 4.0] and CALLS == {"x": 1, "w": 0} and w.grad is None
    _fresh()
    scaled(x, w).sum().backward(inputs=[w])
    assert w.grad.tolist() == [1.0, 2.0] and x.grad is None and CALLS == {"x": 0, "w": 1}
    _fresh()
    scaled(x, w).sum().backward()  # without targets every leaf gets its gradient
    assert CALLS == {"x": 1, "w": 1} and x.grad.tolist() == [3.0, 4.0]


def test_target_behind_another_target_still_gets_its_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    w = tg.tensor([3.0, 4.0], requires_grad=True)
    h = scaled(x, w)
    _fresh()
    gh, gx, gw = tg.autograd.grad((h * h).sum(), (h, x, w))
    assert gh.tolist() == [6.0, 16.0] and gx.tolist() == [18.0, 64.0]
    assert gw.tolist() == [6.0, 32.0] and CALLS == {"x": 1, "w": 1}


def test_gradient_penalty_matches_pytorch(device):
    """WGAN-GP's penalty: the input gradient with create_graph, then its backward into the
    weights; the weights' values and gradients agree with PyTorch's."""
    torch = torch_oracle()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 5))
    w1, w2 = rng.standard_normal((5, 7)), rng.standard_normal((7, 1))

    def penalty(lib, x, w1, w2):
        g, = lib.autograd.grad((lib.tanh(x @ w1) @ w2).sum(), x, create_graph=True)
        return ((g.norm(dim=1) - 1) ** 2).mean()

    ours = [tg.tensor(put(a, device), requires_grad=True) for a in (x, w1, w2)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w1, w2)]
    p, tp = penalty(tg, *ours), penalty(torch, *theirs)
    p.backward()
    tp.backward()
    np.testing.assert_allclose(host(p.detach()), tp.item(), rtol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(host(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_unused_target_is_none_or_raises_as_pytorch():
    x = tg.tensor([1.0], requires_grad=True)
    y = tg.tensor([2.0], requires_grad=True)
    out = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        tg.autograd.grad(out, (x, y), retain_graph=True)
    gx, gy = tg.autograd.grad(out, (x, y), allow_unused=True)
    assert gx.tolist() == [2.0] and gy is None
