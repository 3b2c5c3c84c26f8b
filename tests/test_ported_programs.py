"""Real PyTorch training programs run on tensorgrad with only the import changed.

Each program is one function ``program(torch, steps, init, device="cpu")`` written against the
``torch`` module it is given, so the same code runs with ``torch`` and with ``tensorgrad`` passed
as ``torch``. ``init(model)`` is called once the model is built: on the PyTorch run it records
the state_dict as NumPy arrays, on ours it loads them, so both start from the same weights. The
programs run in float64; the tests compare the loss trajectories and the final parameters.
"""

import contextlib
import itertools

import numpy as np
import pytest
from devices import host, on

import tensorgrad as tg

torch = pytest.importorskip("torch")

STEPS = 5


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def vae_program(torch, steps, init, device="cpu"):
    """A VAE on random binary data: MLP encoder/decoder, Normal.rsample, kl_divergence, Adam."""
    nn = torch.nn
    F = torch.nn.functional
    D = torch.distributions
    rng = np.random.default_rng(0)
    x = torch.tensor((rng.random((16, 12)) > 0.5).astype(np.float64)).to(device)

    class VAE(nn.Module):
        def __init__(self, d_in=12, d_h=16, d_z=3):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(d_in, d_h), nn.Tanh())
            self.mu = nn.Linear(d_h, d_z)
            self.logvar = nn.Linear(d_h, d_z)
            self.dec = nn.Sequential(nn.Linear(d_z, d_h), nn.ReLU(), nn.Linear(d_h, d_in))

        def forward(self, x):
            h = self.enc(x)
            q = D.Normal(self.mu(h), torch.exp(0.5 * self.logvar(h)))
            z = q.rsample()
            prior = D.Normal(torch.zeros_like(z), torch.ones_like(z))
            kl = D.kl_divergence(q, prior).sum(-1).mean()
            logits = self.dec(z)
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()
            return rec + kl

    model = VAE().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = model(x)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model


def stn_program(torch, steps, init, device="cpu"):
    """A spatial transformer: a small CNN predicts an affine theta, affine_grid + grid_sample
    resample the image, a classifier reads it; cross entropy, SGD with momentum, StepLR."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    images = torch.tensor(rng.standard_normal((6, 1, 8, 8))).to(device)
    labels = torch.tensor(rng.integers(0, 3, size=6)).to(device)

    class STN(nn.Module):
        def __init__(self):
            super().__init__()
            self.localization = nn.Sequential(
                nn.Conv2d(1, 4, kernel_size=3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                nn.Linear(4 * 3 * 3, 6))
            with torch.no_grad():  # start near the identity transform, as the tutorial does
                self.localization[-1].weight.mul_(0.1)
                self.localization[-1].bias.copy_(
                    torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=torch.float32))
            self.classifier = nn.Sequential(
                nn.Conv2d(1, 4, kernel_size=3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                nn.Flatten(), nn.Linear(16, 3))

        def forward(self, x):
            theta = self.localization(x).view(-1, 2, 3)
            grid = F.affine_grid(theta, x.size(), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                              align_corners=False)
            return self.classifier(x)

    model = STN().double()
    init(model)
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    losses.append(sched.get_last_lr()[0])
    return losses, model


def lstm_program(torch, steps, init, device="cpu"):
    """A seq2seq-ish tagger: Embedding, an LSTM over a packed padded batch, a linear head;
    CrossEntropyLoss(ignore_index=pad), clip_grad_norm_, AdamW."""
    nn = torch.nn
    rnn_utils = torch.nn.utils.rnn
    pad, vocab, batch, length = 0, 11, 4, 6
    rng = np.random.default_rng(2)
    lengths = [4, 6, 2, 3]  # unsorted: enforce_sorted=False sorts and unsorts
    src = np.zeros((batch, length), dtype=np.int64)
    tgt = np.zeros((batch, length), dtype=np.int64)
    for b, n in enumerate(lengths):
        src[b, :n] = rng.integers(1, vocab, size=n)
        tgt[b, :n] = rng.integers(1, vocab, size=n)
    src = torch.tensor(src).to(device)
    tgt = torch.tensor(tgt).to(device)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, 8, padding_idx=pad)
            self.lstm = nn.LSTM(8, 10, num_layers=1, batch_first=True)
            self.head = nn.Linear(10, vocab)

        def forward(self, tokens, lengths):
            packed = rnn_utils.pack_padded_sequence(self.embed(tokens), lengths,
                                                    batch_first=True, enforce_sorted=False)
            out, (h, c) = self.lstm(packed)
            out, out_lengths = rnn_utils.pad_packed_sequence(out, batch_first=True,
                                                             padding_value=0.0,
                                                             total_length=tokens.shape[1])
            return self.head(out), h

    model = Tagger().double()
    init(model)
    model.to(device)
    criterion = nn.CrossEntropyLoss(ignore_index=pad)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        logits, h = model(src, torch.tensor(lengths))
        loss = criterion(logits.transpose(1, 2), tgt)  # (N, C, T) logits, (N, T) targets
        loss.backward()
        total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.1)
        opt.step()
        losses += [loss.item(), float(total)]
    return losses, model


def gnn_program(torch, steps, init, device="cpu"):
    """A message-passing graph network: messages on edges, mean (scatter_reduce and index_add)
    and amax aggregation at the nodes, LayerNorm, a graph-level readout; RMSprop."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    n_nodes, n_feat, hidden = 7, 5, 8
    edges = np.array([[0, 1], [1, 2], [2, 0], [3, 2], [4, 2], [5, 4], [1, 0], [6, 5], [4, 5]])
    src = torch.tensor(edges[:, 0]).to(device)
    dst = torch.tensor(edges[:, 1]).to(device)
    x = torch.tensor(rng.standard_normal((n_nodes, n_feat))).to(device)
    target = torch.tensor(rng.standard_normal((1, 2))).to(device)

    class MessagePassing(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.message = nn.Linear(2 * d_in, d_out)
            self.update = nn.Linear(d_in + 3 * d_out, d_out)
            self.norm = nn.LayerNorm(d_out)

        def forward(self, x, src, dst):
            m = torch.relu(self.message(torch.cat([x[src], x[dst]], dim=-1)))
            index = dst.unsqueeze(-1).expand_as(m)
            empty = torch.zeros(x.shape[0], m.shape[1], dtype=m.dtype, device=m.device)
            mean = empty.scatter_reduce(0, index, m, reduce="mean", include_self=False)
            amax = empty.scatter_reduce(0, index, m, reduce="amax", include_self=False)
            ones = torch.ones(dst.shape[0], dtype=m.dtype, device=m.device)
            degree = torch.zeros(x.shape[0], dtype=m.dtype, device=m.device).index_add(0, dst,
                                                                                       ones)
            summed = torch.zeros_like(empty).index_add_(0, dst, m)
            mean2 = summed / degree.clamp(min=1).unsqueeze(-1)
            h = self.update(torch.cat([x, mean, amax, mean2], dim=-1))
            return F.gelu(self.norm(h))

    class GNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([MessagePassing(n_feat, hidden),
                                         MessagePassing(hidden, hidden)])
            self.readout = nn.Linear(hidden, 2)

        def forward(self, x, src, dst):
            for layer in self.layers:
                x = layer(x, src, dst)
            return self.readout(x.mean(dim=0, keepdim=True))

    model = GNN().double()
    init(model)
    model.to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-2, alpha=0.9, momentum=0.5)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(x, src, dst), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model


def dpsgd_program(torch, steps, init, device="cpu"):
    """DP-SGD: per-sample gradients by vmap(grad(functional_call)), clipped per sample, summed,
    noised; batches from DataLoader(TensorDataset(...), shuffle=False)."""
    nn = torch.nn
    F = torch.nn.functional
    functional_call, grad, vmap = torch.func.functional_call, torch.func.grad, torch.func.vmap

    rng = np.random.default_rng(4)
    features = torch.tensor(rng.standard_normal((20, 6)))
    classes = torch.tensor(rng.integers(0, 3, size=20))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(features, classes),
                                         batch_size=8, shuffle=False)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    init(model)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    max_norm, sigma = 1.0, 0.1
    noise_rng = np.random.default_rng(5)

    def sample_loss(params, x, y):
        out = functional_call(model, params, (x.unsqueeze(0),))
        return F.cross_entropy(out, y.unsqueeze(0))

    per_sample_grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    losses = []
    batches = itertools.cycle(loader)
    for _ in range(steps):
        xb, yb = next(batches)
        xb, yb = xb.to(device), yb.to(device)
        params = {k: v.detach() for k, v in model.named_parameters()}
        grads = per_sample_grads(params, xb, yb)
        norms = torch.stack([g.reshape(g.shape[0], -1).norm(dim=1) for g in grads.values()],
                            dim=1).norm(dim=1)
        factor = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for name, p in model.named_parameters():
            g = torch.einsum("b,b...->...", factor, grads[name])
            noise = torch.tensor(noise_rng.standard_normal(tuple(p.shape))).to(device)
            p.grad = (g + sigma * max_norm * noise) / xb.shape[0]
        opt.step()
        with torch.no_grad():
            losses.append(F.cross_entropy(model(xb), yb).item())
        losses.append(norms.max().item())
    return losses, model


PROGRAMS = {"vae": vae_program, "stn": stn_program, "lstm": lstm_program,
            "gnn": gnn_program, "dpsgd": dpsgd_program}


# ---------------------------------------------------------------------------------------------
# running a program twice


@contextlib.contextmanager
def shared_normal_noise(seed=0):
    """Normal.rsample draws from the same NumPy stream in both libraries (their generators
    differ), so the VAE's two runs see the same noise."""
    import torch.distributions.normal as torch_normal

    import tensorgrad.distributions.continuous as tg_continuous

    theirs = np.random.default_rng(seed)
    ours = np.random.default_rng(seed)

    def torch_draw(shape, dtype, device):
        return torch.tensor(theirs.standard_normal(tuple(shape)), dtype=dtype, device=device)

    def tg_draw(who, shape, like):
        data = like.data if isinstance(like, tg.Tensor) else like
        return tg.tensor(ours.standard_normal(tuple(shape)).astype(data.dtype),
                         device=like.device)

    saved = torch_normal._standard_normal, tg_continuous.standard_normal
    torch_normal._standard_normal, tg_continuous.standard_normal = torch_draw, tg_draw
    try:
        yield
    finally:
        torch_normal._standard_normal, tg_continuous.standard_normal = saved


def run_both(program, steps=STEPS, device="cpu"):
    """(torch's losses, ours, torch's final state as arrays, ours) from the same weights."""
    start = {}

    def record(model):
        start.update({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})

    def load(model):
        model.load_state_dict({k: tg.tensor(v) for k, v in start.items()})

    with shared_normal_noise():
        want, theirs = program(torch, steps, record)
    with shared_normal_noise():
        got, ours = program(tg, steps, load, device=device)
    their_state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    our_state = ours.state_dict()
    return want, got, their_state, our_state


def check_program(programs, name, device, state_atol=1e-12, sampling=contextlib.nullcontext):
    """A later round's test: ``programs[name]`` is (program, steps); both libraries run it from
    PyTorch's initial weights (``sampling``: a context both run under, for shared draws), and
    every number it reports and its final state equal PyTorch's to 1e-10, of PyTorch's types."""
    program, steps = programs[name]
    torch.manual_seed(0)  # PyTorch's initial weights, copied into ours
    with sampling():
        run = run_both(program, steps=steps, device=device)
    assert_program_matches(run, device, rtol=1e-10, state_rtol=1e-10, state_atol=state_atol,
                           same_types=True)


def torch_run(programs, name, sampling=contextlib.nullcontext):
    """``programs[name]`` run by PyTorch alone, seeded as in ``check_program`` (for the rounds'
    checks that their comparisons are not vacuous)."""
    program, steps = programs[name]
    torch.manual_seed(0)
    with sampling():
        return program(torch, steps, lambda model: None)


def assert_final_state(theirs, ours, device, rtol=1e-8, atol=1e-10):
    """Every entry of PyTorch's final state dict is in ours, on ``device``, of its dtype and
    equal to it."""
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert on(ours[key], device), key
        assert ours[key].dtype == value.dtype, key
        np.testing.assert_allclose(host(ours[key]), value, rtol=rtol, atol=atol, err_msg=key)


def assert_program_matches(run, device, rtol=1e-9, atol=1e-12, state_rtol=1e-8,
                           state_atol=1e-10, moved=slice(None), same_types=False):
    """``run_both``'s result: the numbers the program reported (floats, or of PyTorch's own
    types with ``same_types``) equal PyTorch's, those in ``moved`` are not all alike (the loss
    moved), and the final state equals PyTorch's (``assert_final_state``)."""
    want, got, theirs, ours = run
    assert len(got) == len(want)
    if same_types:
        assert [type(v) for v in got] == [type(v) for v in want]  # .item()/.tolist() types
    else:
        assert all(isinstance(v, float) for v in got)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    assert len(set(got[moved])) > 1
    assert_final_state(theirs, ours, device, state_rtol, state_atol)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and the other numbers it reports) and final parameters equal
    PyTorch's, with model and batches moved by ``.to(device)``."""
    assert_program_matches(run_both(PROGRAMS[name], device=device), device)


def test_programs_train_and_clip():
    """The comparisons above are not vacuous: the LSTM's clipping is active (the reported norm
    exceeds max_norm) and DP-SGD clips some samples (norms above 1)."""
    want, _, _, _ = run_both(lstm_program, steps=2)
    assert min(want[1::2]) > 0.1
    want, _, _, _ = run_both(dpsgd_program, steps=2)
    assert max(want[1::2]) > 1.0


# ---------------------------------------------------------------------------------------------
# the gaps the programs found, each fixed and tested on its own


def _loss_and_grad(lib, fn, x, y, **kw):
    xt = lib.tensor(x, requires_grad=True)
    loss = getattr(lib.nn.functional, fn)(xt, lib.tensor(y), **kw)
    weights = lib.tensor(np.arange(1.0, 1.0 + loss.numel()).reshape(tuple(loss.shape)))
    (loss * weights).sum().backward()
    return loss, xt.grad


_R = np.random.default_rng(7)
_LOGITS = _R.standard_normal((2, 4, 3, 2))
_CLASSES = _R.integers(0, 4, (2, 3, 2))
_PROBS = np.exp(_LOGITS) / np.exp(_LOGITS).sum(1, keepdims=True)
_WEIGHT = np.array([1.0, 2.0, 0.5, 1.5])
_LAYOUTS = {
    "NCd1d2 indices": (_LOGITS, _CLASSES, {}),
    "NCd1d2 weight ignore smoothing": (_LOGITS, _CLASSES,
                                       dict(ignore_index=1, label_smoothing=0.1)),
    "NCd1d2 probabilities": (_LOGITS, _PROBS, {}),
    "NCT per token": (_LOGITS[..., 0], _CLASSES[..., 0], dict(ignore_index=2)),
    "unbatched index": (_LOGITS[0, :, 0, 0], _CLASSES[0, 0, 0], {}),
    "unbatched probabilities": (_LOGITS[0, :, 0, 0], _PROBS[0, :, 0, 0], {}),
}


# nll_loss takes class indices only, and no label_smoothing (as PyTorch's)
_LOSS_CASES = [("cross_entropy", name) for name in _LAYOUTS] + [
    ("nll_loss", name) for name, (_, y, _) in _LAYOUTS.items() if y.dtype.kind in "iu"]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("fn,layout", _LOSS_CASES)
def test_class_losses_take_torchs_other_layouts(fn, layout, reduction, device):
    """Fix: cross_entropy and nll_loss took (N, C) only; PyTorch's (N, C, d1, ..., dk) with
    (N, d1, ..., dk) targets (``criterion(logits.transpose(1, 2), tokens)`` in sequence
    models) and unbatched (C,) inputs now give PyTorch's values, shapes and gradients."""
    x, y, kw = _LAYOUTS[layout]
    if fn == "nll_loss":
        kw = {k: v for k, v in kw.items() if k != "label_smoothing"}
    kw = dict(kw, reduction=reduction)
    if "weight" in layout:
        kw_torch = dict(kw, weight=torch.tensor(_WEIGHT))
        kw_ours = dict(kw, weight=tg.tensor(_WEIGHT, device=device))
    else:
        kw_torch = kw_ours = kw
    want, want_grad = _loss_and_grad(torch, fn, x, y, **kw_torch)
    got, got_grad = _loss_and_grad(_on_device(device), fn, x, y, **kw_ours)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(host(got), want.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(host(got_grad), want_grad.numpy(), rtol=1e-12, atol=1e-14)


def _on_device(device):
    """tensorgrad with ``tensor`` placing its data on ``device`` (enough for the helpers)."""
    class Lib:
        nn = tg.nn

        @staticmethod
        def tensor(a, requires_grad=False):
            return tg.tensor(np.asarray(a), device=device, requires_grad=requires_grad)

    return Lib


def test_class_losses_other_layouts_derivatives_and_errors():
    x = tg.tensor(_LOGITS[..., 0])
    y = tg.tensor(_CLASSES[..., 0])
    tg.check_grads(lambda v: tg.nn.functional.cross_entropy(v, y, label_smoothing=0.2),
                   modes=("fwd", "rev"), order=2)(x)
    p = tg.tensor(_PROBS[..., 0])
    tg.check_grads(lambda v: tg.nn.functional.cross_entropy(v, p, reduction="sum"),
                   modes=("fwd", "rev"), order=2)(x)
    # per-sample losses of unbatched rows under vmap: PyTorch's per-sample gradients
    F = tg.nn.functional
    got = tg.func.vmap(tg.func.grad(F.cross_entropy))(tg.tensor(_LOGITS[:, :, 0, 0]),
                                                      tg.tensor(_CLASSES[:, 0, 0]))
    want = torch.func.vmap(torch.func.grad(torch.nn.functional.cross_entropy))(
        torch.tensor(_LOGITS[:, :, 0, 0]), torch.tensor(_CLASSES[:, 0, 0]))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"cross_entropy: for input of shape \(2, 4, 3, 2\) "
                                         r"the target \(class indices\) must have shape "
                                         r"\(2, 3, 2\), got \(2, 3\)"):
        F.cross_entropy(tg.tensor(_LOGITS), tg.tensor(_CLASSES[..., 0]))
    with pytest.raises(ValueError, match=r"nll_loss: input must have a class dimension"):
        F.nll_loss(tg.tensor(1.0), tg.tensor(0))


@pytest.mark.parametrize("base", [0.0, 1.0, -1.0, -np.inf, np.inf])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["amax", "amin"])
@pytest.mark.parametrize("op", ["scatter_reduce", "index_reduce"])
def test_extreme_reductions_share_ties_as_torch(op, reduce, include_self, base, device):
    """Fix: with include_self=False, PyTorch still counts the output's own value among the
    ties of amax/amin (a zero-initialised output and a message equal to 0 at the maximum get
    half each, and the output's half goes nowhere); ours gave the message all of it."""
    import warnings

    values = np.round(np.random.default_rng(0).standard_normal((4, 3)))  # many ties
    rows = np.array([0, 2, 0, 1])
    upstream = np.arange(1.0, 10.0).reshape(3, 3)  # no 0 * inf in the test's own product

    def run(lib, dev):
        src = lib.tensor(put_(values, lib, dev), requires_grad=True)
        out_ = lib.full((3, 3), base, dtype=lib.float64, requires_grad=True)
        out = out_.to(dev) if lib is tg else out_
        index = lib.tensor(put_(rows, lib, dev))
        if op == "scatter_reduce":
            res = out.scatter_reduce(0, index.unsqueeze(-1).expand(4, 3), src, reduce,
                                     include_self=include_self)
        else:
            res = out.index_reduce(0, index, src, reduce, include_self=include_self)
        (res * lib.tensor(put_(upstream, lib, dev))).sum().backward()
        return res, src.grad, out_.grad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's "index_reduce is in beta"
        want = run(torch, None)
    got = run(tg, device)
    for g, w in zip(got, want):
        np.testing.assert_allclose(host(g), w.detach().numpy(), rtol=1e-12, atol=1e-14)


def put_(a, lib, device):
    return tg.tensor(a, device=device).data if lib is tg else a


def test_embedding_scale_grad_by_freq(device):
    """Fix: Embedding(scale_grad_by_freq=True) raised NotImplementedError; each row's gradient
    is now divided by its count in the batch, as PyTorch's, the values untouched."""
    weight = np.random.default_rng(1).standard_normal((6, 3))
    tokens = np.array([[1, 2, 1, 0], [1, 5, 0, 3]])
    upstream = np.random.default_rng(2).standard_normal((2, 4, 3))
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(weight), freeze=False,
                                                padding_idx=0, scale_grad_by_freq=True)
    ours = tg.nn.Embedding.from_pretrained(tg.tensor(weight), freeze=False, padding_idx=0,
                                           scale_grad_by_freq=True).to(device)
    want = theirs(torch.tensor(tokens))
    got = ours(tg.tensor(tokens, device=device))
    (want * torch.tensor(upstream)).sum().backward()
    (got * tg.tensor(upstream, device=device)).sum().backward()
    np.testing.assert_array_equal(host(got), want.detach().numpy())
    np.testing.assert_allclose(host(ours.weight.grad), theirs.weight.grad.numpy(), rtol=1e-14)
    assert not np.allclose(host(ours.weight.grad)[1], upstream[tokens == 1].sum(0))  # scaled
