"""``opt.state[p]`` as PyTorch users read and write it: buffers as Tensors that share the
optimizer's arrays (it held the raw arrays: ``opt.state[p]["exp_avg"].norm()`` raised
AttributeError), and Tensors written into it kept as arrays the update reads."""

import numpy as np
import pytest
from devices import host

import tensorgrad as tg

W0 = np.array([[1.0, -2.0, 0.5], [0.3, 0.0, -1.0]])
X = np.array([[0.5, 1.0, -1.5], [2.0, -0.5, 0.25]])


def _setup(lib, device=None, opt="Adam", **kw):
    w = lib.nn.Parameter(lib.tensor(W0) if lib is not tg else tg.tensor(W0, device=device))
    x = lib.tensor(X) if lib is not tg else tg.tensor(X, device=device)
    o = getattr(lib.optim, opt)([w], lr=0.1, **kw)

    def step():
        o.zero_grad()
        ((w * x).sum(1) ** 2).sum().backward()
        o.step()

    return w, o, step


def test_state_buffers_are_tensors_sharing_the_arrays(device):
    torch = pytest.importorskip("torch")
    w, opt, step = _setup(tg, device)
    tw, topt, tstep = _setup(torch)
    for _ in range(3):
        step()
        tstep()
    st, tst = opt.state[w], topt.state[tw]
    assert sorted(st) == sorted(tst) == ["exp_avg", "exp_avg_sq", "step"]
    m = st["exp_avg"]
    assert isinstance(m, tg.Tensor) and m.device == w.device and not m.requires_grad
    np.testing.assert_allclose(host(m), tst["exp_avg"].numpy(), rtol=1e-12)
    assert float(m.norm()) == pytest.approx(float(tst["exp_avg"].norm()), rel=1e-12)
    assert st["step"] == 3 == int(tst["step"])
    # in place through the Tensor: the optimizer's own buffer changes
    st["exp_avg"].zero_()
    tst["exp_avg"].zero_()
    assert not host(opt.state[w]["exp_avg"]).any()
    step()
    tstep()
    np.testing.assert_allclose(host(w), tw.detach().numpy(), rtol=1e-12)
    # the same state seen through values() and items()
    (p, by_items), = opt.state.items()
    assert p is w and by_items == st and list(opt.state.values()) == [st]
    assert opt.state.get(w) == st and w in opt.state


def test_replacing_a_buffer_with_a_tensor(device):
    """PyTorch code moves a loaded optimizer's state with ``state[k] = v.to(device)``, or
    replaces a buffer; the optimizer keeps the new array and steps from it."""
    torch = pytest.importorskip("torch")
    w, opt, step = _setup(tg, device, opt="SGD", momentum=0.9)
    tw, topt, tstep = _setup(torch, opt="SGD", momentum=0.9)
    for _ in range(2):
        step()
        tstep()
    for st in opt.state.values():
        for k, v in st.items():
            if isinstance(v, tg.Tensor):
                st[k] = v.to(device) * 0.5
    for st in topt.state.values():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                st[k] = v * 0.5
    raw = opt.state[id(w)]["momentum_buffer"]
    assert not isinstance(raw, tg.Tensor) and hasattr(raw, "shape")  # kept as its array
    for _ in range(2):
        step()
        tstep()
    np.testing.assert_allclose(host(w), tw.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(opt.state[w]["momentum_buffer"]),
                               topt.state[tw]["momentum_buffer"].numpy(), rtol=1e-12)


def test_assigning_a_whole_state(device):
    w, opt, step = _setup(tg, device)
    step()
    saved = {k: (v.clone() if isinstance(v, tg.Tensor) else v) for k, v in opt.state[w].items()}
    before = host(w).copy()
    step()
    after_one = host(w).copy()
    opt.state[w] = saved  # back to the state after the first step
    with tg.no_grad():
        w.copy_(tg.tensor(before, device=device))
    step()
    np.testing.assert_array_equal(host(w), after_one)
    assert not isinstance(opt.state[id(w)]["exp_avg"], tg.Tensor)


def test_state_view_survives_deepcopy_and_state_dict():
    import copy

    w, opt, step = _setup(tg)
    step()
    opt.state[w]["note"] = tg.tensor([1.0, 2.0])  # a custom entry, as SAM-style wrappers add
    twin = copy.deepcopy(opt)
    w2 = twin.param_groups[0]["params"][0]
    np.testing.assert_array_equal(twin.state[w2]["exp_avg"].numpy(),
                                  opt.state[w]["exp_avg"].numpy())
    assert twin.state[w2]["note"].tolist() == [1.0, 2.0]
    sd = opt.state_dict()
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "note", "step"]
    assert repr(opt.state[w]).startswith("{'step': 1, 'exp_avg': tensor(")
