"""A thirteenth round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers), each program is
``program(torch, steps, init, device="cpu")``. This round stresses API areas earlier rounds
touched lightly: a Fourier neural operator (``torch.fft.rfft2``/``irfft2``, complex
``nn.Parameter``s, ``einsum`` on complex tensors), an ensemble trained through ``torch.func``
(``stack_module_state``, ``functional_call``, nested ``vmap`` of ``grad`` with per-sample
clipping), a RealNVP-style flow whose coupling is a hand-written ``torch.distributions``
``Transform`` inside a ``TransformedDistribution`` (``ComposeTransform``, ``AffineTransform``,
``SigmoidTransform``, ``log_prob``, ``rsample``), an image model of patches
(``F.unfold``/``F.fold``, ``pixel_unshuffle``/``pixel_shuffle``, an ``affine_grid`` +
``grid_sample`` warp, ``nn.Embedding(padding_idx=, max_norm=)``), an orthogonal RNN
(``torch.linalg.matrix_exp`` of a skew-symmetric parameter beside
``parametrizations.orthogonal``), a complex-valued network (``view_as_complex``/
``view_as_real``, modReLU, a loss on ``.abs()``), metric learning (``cdist``, ``topk``,
``F.normalize``, ``cosine_embedding_loss``, ``triplet_margin_with_distance_loss``), and a loop
shaped for mixed precision with it switched off (``autocast(enabled=False)``,
``GradScaler(enabled=False)``, ``torch.backends`` flags, a ``torch.jit.script``'ed helper). All
run in float64 (complex128) and must equal PyTorch's trajectory and final state to rounding.

Randomness both runs share is drawn inside each program from its own
``np.random.default_rng(seed)``.

The gaps the programs found, fixed and tested at the end: ``tg.randn``/``tg.rand`` refused a
complex dtype; ``Module.double()``/``float()``/``half()`` cast complex parameters to real
(PyTorch's cast floating tensors only); every optimizer stepped complex parameters in complex
arithmetic where PyTorch steps their ``view_as_real`` (Adam's second moment per real and
imaginary part; Rprop's step sizes start at ``complex(lr, lr)``); ``autocast(enabled=False)``
refused ``dtype=bfloat16``.
"""

import copy
import math
import warnings

import numpy as np
import pytest
from devices import host, on
from test_ported_programs import check_program, torch_run

import tensorgrad as tg

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def fno_program(torch, steps, init, device="cpu"):
    """A Fourier neural operator learning the solution operator of a periodic Poisson problem
    -lap u = a on an 8x8 grid (targets by NumPy's FFT): the field and its grid coordinates lifted
    by a Linear, two Fourier layers (torch.fft.rfft2, the lowest modes of both signs of the
    first frequency mixed by torch.einsum("bixy,ioxy->boxy") with complex128 nn.Parameters,
    written into a zero complex spectrum by slice assignment, torch.fft.irfft2(s=...)) plus a
    1x1 Conv2d path and GELU, a projection MLP; the relative L2 loss of the FNO paper, Adam
    (on complex parameters) and StepLR. Reports the loss and the spectrum's energy each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(60)
    n, s = 6, 8
    k = np.fft.fftfreq(s) * s
    kx, ky = np.meshgrid(k, k, indexing="ij")
    spectrum = np.fft.fft2(rng.standard_normal((n, s, s))) * np.exp(-0.3 * (kx ** 2 + ky ** 2))
    spectrum[:, 0, 0] = 0
    a = np.real(np.fft.ifft2(spectrum))
    lap = kx ** 2 + ky ** 2
    lap[0, 0] = 1.0
    u = np.real(np.fft.ifft2(np.fft.fft2(a) / lap))
    x = torch.tensor(a[..., None]).to(device)  # (batch, x, y, 1)
    y = torch.tensor(u).to(device)

    class SpectralConv2d(nn.Module):
        def __init__(self, cin, cout, m1, m2):
            super().__init__()
            self.m1, self.m2 = m1, m2
            scale = 1 / (cin * cout)
            self.w1 = nn.Parameter(scale * torch.randn(cin, cout, m1, m2, dtype=torch.cdouble))
            self.w2 = nn.Parameter(scale * torch.randn(cin, cout, m1, m2, dtype=torch.cdouble))

        def forward(self, x):
            b, _, h, w = x.shape
            x_ft = torch.fft.rfft2(x)
            out_ft = torch.zeros(b, self.w1.size(1), h, w // 2 + 1, dtype=torch.cdouble,
                                 device=x.device)
            out_ft[:, :, :self.m1, :self.m2] = torch.einsum(
                "bixy,ioxy->boxy", x_ft[:, :, :self.m1, :self.m2], self.w1)
            out_ft[:, :, -self.m1:, :self.m2] = torch.einsum(
                "bixy,ioxy->boxy", x_ft[:, :, -self.m1:, :self.m2], self.w2)
            return torch.fft.irfft2(out_ft, s=(h, w))

    class FNO(nn.Module):
        def __init__(self, width=6, modes=3):
            super().__init__()
            self.lift = nn.Linear(3, width)
            self.spectral = nn.ModuleList(SpectralConv2d(width, width, modes, modes)
                                          for _ in range(2))
            self.pointwise = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(2))
            self.proj = nn.Sequential(nn.Linear(width, 16), nn.GELU(), nn.Linear(16, 1))

        def forward(self, a):
            b, h, w, _ = a.shape
            gx = torch.linspace(0, 1, h, dtype=a.dtype, device=a.device)
            gy = torch.linspace(0, 1, w, dtype=a.dtype, device=a.device)
            grid = torch.stack(torch.meshgrid(gx, gy, indexing="ij"), -1)
            z = self.lift(torch.cat([a, grid.expand(b, h, w, 2)], -1)).permute(0, 3, 1, 2)
            for i, (spec, conv) in enumerate(zip(self.spectral, self.pointwise)):
                z = spec(z) + conv(z)
                if i < len(self.spectral) - 1:
                    z = F.gelu(z)
            return self.proj(z.permute(0, 2, 3, 1)).squeeze(-1)

    model = FNO().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        pred = model(x)
        diff = torch.linalg.vector_norm((pred - y).reshape(n, -1), dim=1)
        loss = (diff / torch.linalg.vector_norm(y.reshape(n, -1), dim=1)).mean()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            energy = sum(p.abs().pow(2).sum() for p in model.spectral.parameters())
        out += [loss.item(), energy.item()]
    return out, model


def ensemble_program(torch, steps, init, device="cpu"):
    """An ensemble of four MLP regressors trained at once with torch.func: the members' weights
    stacked by stack_module_state (a registered buffer among them), one functional_call of a
    deepcopied template; per-sample gradients of every member by vmap(vmap(grad(...))) over
    members and then samples (each member its own bootstrap batch), clipped per sample to norm
    1 (DP-SGD's recipe, without noise), averaged and handed to SGD with momentum as .grad of
    the stacked leaves; the ensemble's mean and spread on shared test points by
    vmap(in_dims=(0, 0, None)). Reports the members' losses, the fraction of clipped samples,
    and the test spread; the stacked weights are copied back into the members at the end."""
    nn = torch.nn
    F = torch.nn.functional
    functional_call, grad, vmap = torch.func.functional_call, torch.func.grad, torch.func.vmap
    stack_module_state = torch.func.stack_module_state
    rng = np.random.default_rng(61)
    members, batch = 4, 8
    xs = rng.uniform(-2, 2, size=(40, 1))
    ys = np.sin(2 * xs) + 0.1 * rng.standard_normal((40, 1))
    boot = rng.integers(0, 40, size=(steps, members, batch))
    x_all = torch.tensor(xs).to(device)
    y_all = torch.tensor(ys).to(device)
    x_test = torch.linspace(-2, 2, 9, dtype=torch.float64, device=device).unsqueeze(1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(1, 12)
            self.fc2 = nn.Linear(12, 1)
            self.register_buffer("scale", torch.tensor(0.5))

        def forward(self, x):
            return self.fc2(torch.tanh(self.fc1(x) * 2 * self.scale))

    class Ensemble(nn.Module):
        def __init__(self):
            super().__init__()
            self.members = nn.ModuleList(Net() for _ in range(members))

    ensemble = Ensemble().double()
    init(ensemble)
    ensemble.to(device)
    params, buffers = stack_module_state(list(ensemble.members))
    template = copy.deepcopy(ensemble.members[0])

    def loss_one(p, b, x, y):
        pred = functional_call(template, (p, b), (x.unsqueeze(0),))
        return F.mse_loss(pred, y.unsqueeze(0))

    per_sample = vmap(vmap(grad(loss_one), in_dims=(None, None, 0, 0)))
    opt = torch.optim.SGD(list(params.values()), lr=0.1, momentum=0.9)
    out = []
    for step in range(steps):
        idx = torch.tensor(boot[step]).to(device)
        xb, yb = x_all[idx], y_all[idx]  # (members, batch, 1)
        grads = per_sample(params, buffers, xb, yb)
        norms = torch.sqrt(sum(g.reshape(members, batch, -1).pow(2).sum(-1)
                               for g in grads.values()))
        factor = (1.0 / (norms + 1e-6)).clamp(max=1.0)
        for name, p in params.items():
            g = grads[name]
            scaled = g * factor.reshape(members, batch, *([1] * (g.dim() - 2)))
            p.grad = scaled.mean(1)
        with torch.no_grad():
            preds = vmap(lambda p, b, x: functional_call(template, (p, b), (x,)))(
                params, buffers, xb)
        opt.step()
        losses = ((preds - yb) ** 2).mean((1, 2))
        out += losses.tolist() + [(norms > 1).double().mean().item()]
    with torch.no_grad():
        test = vmap(lambda p, b, x: functional_call(template, (p, b), (x,)),
                    in_dims=(0, 0, None))(params, buffers, x_test)
        out += test.std(0).squeeze(-1).tolist()
        for i, member in enumerate(ensemble.members):
            for name, p in member.named_parameters():
                p.copy_(params[name][i])
    return out, ensemble


def coupling_flow_program(torch, steps, init, device="cpu"):
    """A RealNVP-style flow for points in the unit square: a standard normal base made an event
    by Independent, pushed through a ComposeTransform of two hand-written ConditionalAffine
    couplings (a torch.distributions.Transform subclass with _call, _inverse and
    log_abs_det_jacobian, its scale and shift from a small MLP of the unmasked coordinate), a
    learned AffineTransform(event_dim=1) and a SigmoidTransform, as a TransformedDistribution.
    The loss is the negative log_prob of the data plus a small term on rsample'd points (the
    flow's samples pulled away from the square's corners); Adam. Reports the loss, the mean
    log-likelihood and a sample's mean each step."""
    nn = torch.nn
    D = torch.distributions
    constraints = torch.distributions.constraints
    rng = np.random.default_rng(62)
    raw = np.concatenate([rng.normal([0.3, 0.7], 0.08, size=(12, 2)),
                          rng.normal([0.7, 0.3], 0.08, size=(12, 2))])
    data = torch.tensor(np.clip(raw, 0.02, 0.98)).to(device)

    class ConditionalAffine(D.Transform):
        domain = constraints.independent(constraints.real, 1)
        codomain = constraints.independent(constraints.real, 1)
        bijective = True

        def __init__(self, net, keep):
            super().__init__()
            self.net, self.keep = net, keep

        def _params(self, x):
            s, t = self.net(x[..., self.keep:self.keep + 1]).chunk(2, dim=-1)
            return torch.tanh(s), t

        def _call(self, x):
            s, t = self._params(x)
            moved = x[..., 1 - self.keep:2 - self.keep] * torch.exp(s) + t
            parts = [x[..., :1], moved] if self.keep == 0 else [moved, x[..., 1:]]
            return torch.cat(parts, -1)

        def _inverse(self, y):
            s, t = self._params(y)
            moved = (y[..., 1 - self.keep:2 - self.keep] - t) * torch.exp(-s)
            parts = [y[..., :1], moved] if self.keep == 0 else [moved, y[..., 1:]]
            return torch.cat(parts, -1)

        def log_abs_det_jacobian(self, x, y):
            s, _ = self._params(x)
            return s.sum(-1)

    class Flow(nn.Module):
        def __init__(self):
            super().__init__()
            self.nets = nn.ModuleList(
                nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 2)) for _ in range(2))
            self.loc = nn.Parameter(torch.zeros(2))
            self.log_scale = nn.Parameter(torch.zeros(2))

        def dist(self):
            base = D.Independent(D.Normal(torch.zeros_like(self.loc),
                                          torch.ones_like(self.loc)), 1)
            transform = D.ComposeTransform([
                ConditionalAffine(self.nets[0], 0), ConditionalAffine(self.nets[1], 1),
                D.AffineTransform(self.loc, self.log_scale.exp(), event_dim=1),
                D.SigmoidTransform()])
            return D.TransformedDistribution(base, transform)

    model = Flow().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        flow = model.dist()
        loglik = flow.log_prob(data).mean()
        samples = flow.rsample((16,))
        corner = ((samples - 0.5) ** 2).sum(-1).mean()
        loss = -loglik + 0.1 * corner
        loss.backward()
        opt.step()
        out += [loss.item(), loglik.item()] + samples.mean(0).tolist()
    return out, model


def patches_program(torch, steps, init, device="cpu"):
    """A class-conditional image restorer on 8x8 two-channel images: pixel_unshuffle to 8
    channels at 4x4, a class bias from nn.Embedding(4, 8, padding_idx=0, max_norm=1.0) (class 0:
    unlabelled; max_norm renormalizes looked-up rows in place), F.unfold of 3x3 patches mixed by
    a learned matrix, F.fold back with overlapping patches averaged by the fold of ones,
    pixel_shuffle up, and a learned affine warp (theta = identity + a small Linear of the class
    embedding) by F.affine_grid + F.grid_sample(padding_mode="border", align_corners=True). L1
    loss, Adam with weight decay. Reports the loss and the embedding's largest row norm."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(63)
    images = rng.standard_normal((5, 2, 8, 8))
    target = np.roll(images, 1, axis=3) * 0.8
    noisy = images + 0.3 * rng.standard_normal(images.shape)
    x = torch.tensor(noisy).to(device)
    y = torch.tensor(target).to(device)
    labels = torch.tensor([0, 1, 2, 3, 1]).to(device)

    class Restorer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(4, 8, padding_idx=0, max_norm=1.0)
            self.mix = nn.Parameter(torch.eye(72) + 0.01 * torch.randn(72, 72))
            self.theta = nn.Linear(8, 6)
            self.out = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x, labels):
            b = x.size(0)
            e = self.embed(labels)
            z = F.pixel_unshuffle(x, 2) + e[:, :, None, None]
            cols = F.unfold(z, kernel_size=3, padding=1)  # (b, 72, 16)
            cols = torch.matmul(self.mix, cols)
            ones = torch.ones_like(z)
            count = F.fold(F.unfold(ones, 3, padding=1), (4, 4), kernel_size=3, padding=1)
            z = F.fold(cols, output_size=(4, 4), kernel_size=3, padding=1) / count
            z = F.pixel_shuffle(z, 2)
            eye = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=x.dtype, device=x.device)
            theta = (eye + 0.1 * torch.tanh(self.theta(e))).view(b, 2, 3)
            grid = F.affine_grid(theta, list(z.shape), align_corners=True)
            z = F.grid_sample(z, grid, mode="bilinear", padding_mode="border",
                              align_corners=True)
            return self.out(z)

    model = Restorer().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.l1_loss(model(x, labels), y)
        loss.backward()
        opt.step()
        out += [loss.item(), model.embed.weight.detach().norm(dim=1).max().item()]
    return out, model


def orthogonal_rnn_program(torch, steps, init, device="cpu"):
    """An orthogonal RNN on the adding problem (sum the two marked values of a 12-step
    sequence): the first cell's recurrent matrix is torch.linalg.matrix_exp(A - A^T) of a free
    parameter (expRNN), the second layer's Linear is made orthogonal by
    torch.nn.utils.parametrizations.orthogonal; a modReLU nonlinearity, RMSprop. Reports the
    loss each step and how far both recurrent matrices are from orthogonal at the end."""
    nn = torch.nn
    F = torch.nn.functional
    orthogonal = torch.nn.utils.parametrizations.orthogonal
    rng = np.random.default_rng(64)
    batch, length, hidden = 6, 12, 5
    values = rng.uniform(0, 1, size=(batch, length))
    marks = np.zeros((batch, length))
    for b in range(batch):
        marks[b, rng.choice(length, size=2, replace=False)] = 1
    seq = torch.tensor(np.stack([values, marks], -1)).to(device)
    target = torch.tensor((values * marks).sum(1, keepdims=True)).to(device)

    class ModReLU(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.bias = nn.Parameter(torch.full((n,), -0.1))

        def forward(self, h):
            return torch.sign(h) * F.relu(h.abs() + self.bias)

    class ExpRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(2, hidden)
            self.skew = nn.Parameter(0.3 * torch.randn(hidden, hidden))
            self.act = ModReLU(hidden)
            self.second = orthogonal(nn.Linear(hidden, hidden, bias=False))
            self.inp2 = nn.Linear(hidden, hidden)
            self.act2 = ModReLU(hidden)
            self.head = nn.Linear(hidden, 1)

        def recurrent(self):
            return torch.linalg.matrix_exp(self.skew - self.skew.T)

        def forward(self, seq):
            w = self.recurrent()
            h = seq.new_zeros(seq.size(0), hidden)
            g = seq.new_zeros(seq.size(0), hidden)
            for t in range(seq.size(1)):
                h = self.act(self.inp(seq[:, t]) + h @ w.T)
                g = self.act2(self.inp2(h) + self.second(g))
            return self.head(g)

    model = ExpRNN().double()
    init(model)
    model.to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-2)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(seq), target)
        loss.backward()
        opt.step()
        out.append(loss.item())
    with torch.no_grad():
        eye = torch.eye(hidden, dtype=torch.float64, device=seq.device)
        for w in (model.recurrent(), model.second.weight):
            out.append(torch.linalg.matrix_norm(w @ w.T - eye).item())
    return out, model


def complex_program(torch, steps, init, device="cpu"):
    """A complex-valued equalizer for a QPSK-like signal through a 3-tap complex channel with
    noise: windows of the received complex signal go through ComplexLinear layers whose weights
    are real (out, in, 2) parameters read by torch.view_as_complex, a modReLU (ReLU of |z| plus
    a bias, times z/|z|), and out to a complex symbol; the loss is the mean of |pred - sent|^2 by
    .abs() plus a small penalty on torch.view_as_real(pred) outside the unit box; AdamW. Reports
    the loss and the symbol error rate (signs of real and imaginary parts) each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(65)
    n, window = 48, 5
    sent = ((rng.integers(0, 2, size=n + window) * 2 - 1)
            + 1j * (rng.integers(0, 2, size=n + window) * 2 - 1)) / math.sqrt(2)
    channel = np.array([1.0, 0.4 - 0.3j, 0.1j])
    received = np.convolve(sent, channel)[:n + window]
    received = received + 0.05 * (rng.standard_normal(received.shape)
                                  + 1j * rng.standard_normal(received.shape))
    windows = np.stack([received[i:i + window] for i in range(n)])
    x = torch.tensor(windows).to(device)
    y = torch.tensor(sent[window - 1:window - 1 + n]).to(device)

    class ComplexLinear(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(d_out, d_in, 2) / math.sqrt(2 * d_in))
            self.bias = nn.Parameter(torch.zeros(d_out, 2))

        def forward(self, z):
            w = torch.view_as_complex(self.weight)
            return z @ w.T + torch.view_as_complex(self.bias)

    class ModReLU(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.b = nn.Parameter(torch.full((n,), 0.05))

        def forward(self, z):
            mag = z.abs()
            return F.relu(mag + self.b) * (z / (mag + 1e-9))

    model = nn.Sequential(ComplexLinear(window, 8), ModReLU(8), ComplexLinear(8, 1)).double()
    init(model)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-2, weight_decay=1e-2)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        pred = model(x).squeeze(-1)
        mse = (pred - y).abs().pow(2).mean()
        box = F.relu(torch.view_as_real(pred).abs() - 1).pow(2).mean()
        loss = mse + 0.1 * box
        loss.backward()
        opt.step()
        errors = ((pred.real.sign() != y.real.sign()) | (pred.imag.sign() != y.imag.sign()))
        out += [loss.item(), errors.double().mean().item()]
    return out, model


def metric_program(torch, steps, init, device="cpu"):
    """Metric learning on four noisy clusters in 6-D: an MLP embedder with F.normalize'd output,
    F.cosine_embedding_loss on random pairs (target +1 or -1, margin 0.2), and
    F.triplet_margin_with_distance_loss with a cosine distance function and swap=True on
    triplets chosen by NumPy, plus nn.TripletMarginWithDistanceLoss's default (pairwise)
    distance; SGD with nesterov momentum. Under no_grad each step, recall@1 and @3 from
    torch.cdist on the embeddings with the diagonal masked and torch.topk(largest=False).
    Reports the loss, its three parts and the two recalls each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(66)
    centres = rng.standard_normal((4, 6)) * 1.5
    labels_np = np.repeat(np.arange(4), 5)
    feats = centres[labels_np] + 0.8 * rng.standard_normal((20, 6))
    x = torch.tensor(feats).to(device)
    labels = torch.tensor(labels_np).to(device)
    pa, pb = rng.integers(0, 20, size=(2, 24))
    pair_target = torch.tensor(np.where(labels_np[pa] == labels_np[pb], 1.0, -1.0)).to(device)
    pa, pb = torch.tensor(pa).to(device), torch.tensor(pb).to(device)
    anchors = rng.integers(0, 20, size=16)
    pos = np.array([rng.choice(np.flatnonzero((labels_np == labels_np[a])
                                              & (np.arange(20) != a))) for a in anchors])
    neg = np.array([rng.choice(np.flatnonzero(labels_np != labels_np[a])) for a in anchors])
    anchors, pos, neg = (torch.tensor(v).to(device) for v in (anchors, pos, neg))

    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4)).double()
    init(model)
    model.to(device)
    triplet = nn.TripletMarginWithDistanceLoss(margin=0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)

    def cosine_distance(a, b):
        return 1.0 - F.cosine_similarity(a, b, dim=-1)

    out = []
    for _ in range(steps):
        opt.zero_grad()
        emb = F.normalize(model(x), dim=1)
        pair = F.cosine_embedding_loss(emb[pa], emb[pb], pair_target, margin=0.2)
        cos_trip = F.triplet_margin_with_distance_loss(
            emb[anchors], emb[pos], emb[neg], distance_function=cosine_distance, margin=0.3,
            swap=True)
        l2_trip = triplet(emb[anchors], emb[pos], emb[neg])
        loss = pair + cos_trip + 0.5 * l2_trip
        loss.backward()
        opt.step()
        with torch.no_grad():
            dist = torch.cdist(emb, emb)
            dist.fill_diagonal_(float("inf"))
            _, nearest = torch.topk(dist, 3, dim=1, largest=False)
            hits = labels[nearest] == labels[:, None]
            recall1 = hits[:, 0].double().mean()
            recall3 = hits.any(1).double().mean()
        out += [loss.item(), pair.item(), cos_trip.item(), l2_trip.item(), recall1.item(),
                recall3.item()]
    return out, model


def amp_off_program(torch, steps, init, device="cpu"):
    """A training script carrying the mixed-precision scaffolding with it switched off, as real
    scripts run on a CPU: torch.backends flags set (cudnn.benchmark, cudnn.deterministic,
    cuda.matmul.allow_tf32, cudnn.allow_tf32) and restored, torch.set_float32_matmul_precision,
    a torch.jit.script'ed GELU helper, torch.autocast(device_type, dtype=torch.bfloat16,
    enabled=False) around the forward, torch.amp.GradScaler(enabled=False) through scale,
    unscale_, clip_grad_norm_, step and update, and a CosineAnnealingLR; a small CNN on 8x8
    images with label smoothing. Reports the loss, the scale, the clipped norm, whether the
    forward ran in float64 and the learning rate each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(67)
    images = torch.tensor(rng.standard_normal((8, 1, 8, 8))).to(device)
    labels = torch.tensor(rng.integers(0, 3, size=8)).to(device)
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"

    @torch.jit.script
    def bias_gelu(x, bias):
        y = x + bias
        return y * 0.5 * (1.0 + torch.erf(y / 1.4142135623730951))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
            self.bias = nn.Parameter(torch.zeros(4, 1, 1))
            self.pool = nn.AdaptiveAvgPool2d(2)
            self.fc = nn.Linear(16, 3)

        def forward(self, x):
            return self.fc(self.pool(bias_gelu(self.conv(x), self.bias)).flatten(1))

    flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        model = Net().double()
        init(model)
        model.to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        scaler = torch.amp.GradScaler(device_type, enabled=False)
        out = []
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=False):
                logits = model(images)
                loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            scaler.step(opt)
            scaler.update()
            sched.step()
            out += [loss.item(), float(scaler.get_scale()), norm.item(),
                    logits.dtype == torch.float64, sched.get_last_lr()[0]]
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
         torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) = flags[:4]
        torch.set_float32_matmul_precision(flags[4])
    return out, model


PROGRAMS = {"fno": (fno_program, 5), "ensemble": (ensemble_program, 4),
            "coupling_flow": (coupling_flow_program, 5), "patches": (patches_program, 4),
            "orthogonal_rnn": (orthogonal_rnn_program, 4), "complex": (complex_program, 5),
            "metric": (metric_program, 5), "amp_off": (amp_off_program, 4)}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and every other number it reports) and its final parameters and
    buffers equal PyTorch's, with model and data moved by ``.to(device)``."""
    check_program(PROGRAMS, name, device)


def _torch_run(name):
    return torch_run(PROGRAMS, name)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: the FNO's relative error falls while its spectral
    weights move; the ensemble's members differ and some samples are clipped; the flow's
    likelihood rises; the embedding's max_norm holds the rows near 1; the expRNN's loss falls
    and both recurrent matrices stay orthogonal; the equalizer's symbol errors fall; the
    metric losses fall and recall is high; the scaler stays at 1 and the forward stays float64."""
    fno, model = _torch_run("fno")
    assert fno[0] > fno[-2] and fno[1] != fno[-1]
    assert model.spectral[0].w1.dtype == torch.complex128
    ensemble, _ = _torch_run("ensemble")
    first = ensemble[:4]
    assert len(set(first)) == 4 and max(ensemble[4::5][:4]) > 0
    assert sum(ensemble[:4]) > sum(ensemble[15:19])
    flow, _ = _torch_run("coupling_flow")
    assert flow[1] < flow[-3] and flow[0] > flow[-4]
    patches, _ = _torch_run("patches")
    assert all(0.99 < v < 1.01 for v in patches[1::2]) and patches[0] > patches[-2]
    rnn, _ = _torch_run("orthogonal_rnn")
    assert rnn[0] > rnn[3] and rnn[-2] < 1e-12 and rnn[-1] < 1e-5  # base kept in float32
    cplx, _ = _torch_run("complex")
    assert cplx[1] > cplx[-1] and cplx[0] > cplx[-2]
    metric, _ = _torch_run("metric")
    assert metric[0] > metric[-6] and metric[-1] >= 0.9
    amp, _ = _torch_run("amp_off")
    assert amp[1::5] == [1.0] * 4 and all(amp[3::5]) and amp[2] > 0.5 * 0 + 0.2


# ---------------------------------------------------------------------------------------------
# the gaps the programs found, fixed and tested on their own


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_randn_and_rand_of_complex_dtype(dtype, device):
    """Fix: tg.randn / tg.rand refused a complex dtype (NumPy's generators draw reals only).
    As PyTorch's: randn's real and imaginary parts are independent normals of variance 1/2
    (E|z|^2 = 1), rand's parts uniform in [0, 1)."""
    gen = tg.Generator(device=device).manual_seed(3)
    z = tg.randn(20000, dtype=getattr(tg, dtype), device=device, generator=gen)
    assert on(z, device) and z.dtype == np.dtype(dtype)
    assert str(torch.randn(2, dtype=getattr(torch, dtype)).dtype) == f"torch.{dtype}"
    a = host(z)
    for part in (a.real, a.imag):
        assert abs(part.var() - 0.5) < 0.03 and abs(part.mean()) < 0.03
    assert abs(np.corrcoef(a.real, a.imag)[0, 1]) < 0.05
    u = host(tg.rand(5000, dtype=getattr(tg, dtype), device=device, generator=gen))
    for part in (u.real, u.imag):
        assert part.min() >= 0 and part.max() < 1 and abs(part.mean() - 0.5) < 0.03


@pytest.mark.parametrize("cast", ["double", "float", "half", "to_float64", "to_complex128"])
def test_module_casts_leave_complex_as_torch(cast, device):
    """Fix: Module.double()/float()/half() cast complex parameters to real (dropping the
    imaginary part, the FNO's spectral weights); PyTorch's cast floating tensors only, while
    to(dtype) casts floating and complex ones alike. Gradients follow their parameters."""
    def build(lib):
        m = lib.nn.Linear(2, 2)
        m.weight = lib.nn.Parameter(lib.tensor([[0.5, -1.0], [2.0, 0.25]]))
        m.bias = lib.nn.Parameter(lib.tensor([0.125, -3.0]))
        m.c = lib.nn.Parameter(lib.tensor([1 + 2j, -0.5j], dtype=lib.complex64))
        m.register_buffer("steps", lib.tensor(3))
        m.c.grad = lib.tensor([0.5 - 1j, 2j], dtype=lib.complex64)
        return m

    def apply(m, lib):
        if cast.startswith("to_"):
            return m.to(getattr(lib, cast[3:]))
        return getattr(m, cast)()

    with warnings.catch_warnings():  # to(float64) warns of the lost imaginary parts
        warnings.simplefilter("ignore")
        theirs = apply(build(torch), torch)
        ours = apply(build(tg).to(device), tg)
    for name, t in theirs.state_dict().items():
        o = ours.state_dict()[name]
        assert str(o.dtype) == str(t.dtype).removeprefix("torch."), name
        assert on(o, device)
        np.testing.assert_array_equal(host(o), t.detach().numpy())
    assert str(ours.c.grad.dtype) == str(theirs.c.grad.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(host(ours.c.grad), theirs.c.grad.numpy())


_COMPLEX_OPTIMIZERS = [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)),
                       ("Adam", dict(lr=0.1, amsgrad=True)), ("AdamW", dict(lr=0.1)),
                       ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
                       ("Adagrad", dict(lr=0.1)), ("NAdam", dict(lr=0.1)),
                       ("RAdam", dict(lr=0.1)), ("Adamax", dict(lr=0.1)),
                       ("Adadelta", dict(lr=1.0)), ("Rprop", dict(lr=0.1)),
                       ("ASGD", dict(lr=0.1, t0=1))]


@pytest.mark.parametrize("name, kw", _COMPLEX_OPTIMIZERS)
def test_optimizers_step_complex_parameters_as_torch(name, kw, device):
    """Fix: the optimizers stepped a complex parameter with complex arithmetic (Adam's second
    moment g * g is complex, its square root a complex number), where PyTorch steps
    view_as_real of the parameter, its gradient and its state: each real and imaginary part is
    a parameter of its own (Rprop starts both parts' step sizes at lr). The FNO's trajectory
    left PyTorch's at its second step. The state stays complex, of the parameter's shape."""
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))
    w0 = w0.T  # a non-contiguous start: the real view needs a contiguous copy

    def run(lib, dev):
        w = lib.tensor(w0, requires_grad=True) if lib is torch else \
            tg.tensor(w0, device=dev, requires_grad=True)
        opt = getattr(lib.optim, name)([w], **kw)
        for _ in range(4):
            opt.zero_grad()
            loss = (w * w.conj()).real.pow(2).sum() + (w.real * w.imag).sum() + w.imag.sum()
            loss.backward()
            opt.step()
        state = opt.state_dict()["state"][0]
        arrays = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch."))
                  for k, v in state.items() if getattr(v, "ndim", 0)}
        return w, arrays

    want, want_state = run(torch, "cpu")
    got, got_state = run(tg, device)
    np.testing.assert_allclose(host(got.detach()), want.detach().numpy(), rtol=1e-12,
                               atol=1e-14)
    assert got_state == want_state
    assert not np.allclose(want.detach().numpy(), w0)


def test_autocast_disabled_takes_bfloat16(device):
    """Fix: torch.autocast(..., dtype=torch.bfloat16, enabled=False), the line CPU training
    scripts carry, raised for bfloat16 (which NumPy lacks) although a disabled region casts
    nothing; it now runs everything in the inputs' dtype. Enabled, bfloat16 still raises."""
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"
    a = np.arange(6.0).reshape(2, 3)
    out = {}
    for lib, dev in ((torch, "cpu"), (tg, device)):
        x = lib.tensor(a, device=dev)
        with lib.autocast(device_type=device_type if lib is tg else "cpu",
                          dtype=lib.bfloat16 if lib is torch else "bfloat16", enabled=False):
            out[lib.__name__] = x @ x.T
    assert out["tensorgrad"].dtype == np.float64
    np.testing.assert_array_equal(host(out["tensorgrad"]), out["torch"].numpy())
    with pytest.raises(ValueError, match="bfloat16"):
        tg.autocast(device_type, dtype="bfloat16")
