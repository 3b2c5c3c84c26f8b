"""A third round of real PyTorch programs run on tensorgrad with only the import changed.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and the same Normal noise),
each program is ``program(torch, steps, init, device="cpu")``: SimCLR-style contrastive
learning, Bayesian logistic regression by stochastic variational inference (with one HMC-style
``autograd.grad`` of the log joint), and a CNN + LSTM classifier of short videos. All run in
float64 and must equal PyTorch's trajectory and final parameters to rounding.
"""

import numpy as np
import pytest
from devices import host, on
from test_ported_programs import assert_program_matches, run_both

import tensorgrad as tg

torch = pytest.importorskip("torch")

STEPS = 4


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def simclr_program(torch, steps, init, device="cpu"):
    """SimCLR's NT-Xent loss: an MLP encoder and projection head over two noisy views,
    F.normalize, the cosine-similarity matrix over a temperature with its diagonal masked by
    masked_fill(eye.bool(), -inf), cross entropy to the positive pair; SGD with momentum and
    weight decay under CosineAnnealingLR. Reports the loss, the positive-pair top-1 accuracy
    and the learning rate."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(20)
    n, d = 8, 10
    x = torch.tensor(rng.standard_normal((n, d))).to(device)
    view1 = x + torch.tensor(0.3 * rng.standard_normal((n, d))).to(device)
    view2 = x + torch.tensor(0.3 * rng.standard_normal((n, d))).to(device)

    class SimCLR(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, 16))
            self.projector = nn.Sequential(nn.ReLU(), nn.Linear(16, 6))

        def forward(self, x):
            return self.projector(self.encoder(x))

    model = SimCLR().double()
    init(model)
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.05)
    temperature = 0.5
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(device)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        z = F.normalize(model(torch.cat([view1, view2], dim=0)), dim=1)
        sim = z @ z.T / temperature
        eye = torch.eye(2 * n, device=sim.device)
        sim = sim.masked_fill(eye.bool(), float("-inf"))
        loss = F.cross_entropy(sim, targets)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            acc = (sim.argmax(dim=1) == targets).double().mean()
        losses += [loss.item(), acc.item(), sched.get_last_lr()[0]]
    return losses, model


def svi_program(torch, steps, init, device="cpu"):
    """Bayesian logistic regression by stochastic variational inference: a mean-field Normal
    posterior (Independent) sampled with rsample, Bernoulli(logits=...).log_prob likelihood,
    kl_divergence to a standard-normal prior, the negative ELBO minimised by Adam. Then one
    leapfrog step of HMC from the posterior mean: torch.autograd.grad of the log joint with
    respect to the position (create_graph=False). Reports the negative ELBOs, then the log
    joint, the gradient norm and the log joint after the step."""
    nn = torch.nn
    D = torch.distributions
    rng = np.random.default_rng(21)
    n, d, samples = 20, 3, 5
    w_true = np.array([1.5, -2.0, 0.5])
    features = rng.standard_normal((n, d))
    labels = (rng.random(n) < 1 / (1 + np.exp(-features @ w_true))).astype(np.float64)
    X = torch.tensor(features).to(device)
    y = torch.tensor(labels).to(device)

    class MeanField(nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = nn.Parameter(0.1 * torch.randn(d))
            self.log_scale = nn.Parameter(torch.full((d,), -1.0))

        def forward(self):
            return D.Independent(D.Normal(self.loc, self.log_scale.exp()), 1)

    posterior = MeanField().double()
    init(posterior)
    posterior = posterior.to(device)
    prior = D.Independent(D.Normal(torch.zeros(d, dtype=torch.float64, device=device),
                                   torch.ones(d, dtype=torch.float64, device=device)), 1)
    opt = torch.optim.Adam(posterior.parameters(), lr=0.1)

    def log_joint(w):
        return prior.log_prob(w) + D.Bernoulli(logits=w @ X.T).log_prob(y).sum(-1)

    losses = []
    for _ in range(steps):
        opt.zero_grad()
        q = posterior()
        w = q.rsample((samples,))
        log_lik = D.Bernoulli(logits=w @ X.T).log_prob(y).sum(-1)
        elbo = log_lik.mean() - D.kl_divergence(q, prior)
        loss = -elbo
        loss.backward()
        opt.step()
        losses.append(loss.item())

    position = posterior.loc.detach().clone().requires_grad_(True)
    momentum = torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64).to(device)
    energy = log_joint(position)
    (grad,) = torch.autograd.grad(energy, position, create_graph=False)
    assert not grad.requires_grad
    eps = 0.05
    with torch.no_grad():
        momentum = momentum + 0.5 * eps * grad
        moved = position + eps * momentum
    losses += [energy.item(), grad.norm().item(), log_joint(moved).item()]
    return losses, posterior


def video_program(torch, steps, init, device="cpu"):
    """A CNN + LSTM classifier of short clips stored (batch, channel, time, H, W): permute to
    frames, fold time into the batch with reshape, Conv2d/BatchNorm2d/MaxPool2d per frame, view
    back to (batch, time, features), nn.LSTM(batch_first=True), a linear head on the last
    step; clip_grad_value_, Adagrad; evaluation under no_grad in eval mode with argmax
    accuracy. Reports the training loss, the largest gradient before clipping, and the
    evaluation loss and accuracy."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(22)
    batch, time, size, classes = 6, 4, 6, 3
    clips = torch.tensor(rng.standard_normal((batch, 1, time, size, size))).to(device)
    labels = torch.tensor(rng.integers(0, classes, size=batch)).to(device)
    val_clips = torch.tensor(rng.standard_normal((4, 1, time, size, size))).to(device)
    val_labels = torch.tensor(rng.integers(0, classes, size=4)).to(device)

    class ClipNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.frames = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4),
                                        nn.ReLU(), nn.MaxPool2d(2))
            self.lstm = nn.LSTM(4 * 3 * 3, 8, batch_first=True)
            self.head = nn.Linear(8, classes)

        def forward(self, clips):
            b, c, t, h, w = clips.shape
            frames = clips.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
            feats = self.frames(frames).view(b, t, -1)
            out, (h_n, c_n) = self.lstm(feats)
            assert h_n.shape == (1, b, 8)
            return self.head(out[:, -1])

    model = ClipNet().double()
    init(model)
    model = model.to(device)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.1, lr_decay=0.01,
                              initial_accumulator_value=0.1)
    losses = []
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(clips), labels)
        loss.backward()
        biggest = max(p.grad.abs().max() for p in model.parameters())
        nn.utils.clip_grad_value_(model.parameters(), clip_value=0.05)
        opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(val_clips)
            val_loss = F.cross_entropy(logits, val_labels)
            acc = (logits.argmax(dim=1) == val_labels).double().mean()
        losses += [loss.item(), biggest.item(), val_loss.item(), acc.item()]
    return losses, model


PROGRAMS = {"simclr": simclr_program, "svi": svi_program, "video": video_program}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and the other numbers it reports) and final parameters and
    buffers equal PyTorch's, with model and data moved by ``.to(device)``."""
    torch.manual_seed(0)
    assert_program_matches(run_both(PROGRAMS[name], steps=STEPS, device=device), device)


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: the video model's gradients exceed the clip
    value (clipping is active), the contrastive loss falls, and the HMC gradient is nonzero."""
    torch.manual_seed(0)
    want, _, _, _ = run_both(video_program, steps=2)
    assert min(want[1::4]) > 0.05
    want, _, _, _ = run_both(simclr_program, steps=STEPS)
    assert want[-3] < want[0]
    want, _, _, _ = run_both(svi_program, steps=2)
    assert want[-2] > 1e-3


# ---------------------------------------------------------------------------------------------
# the gap the probes around these programs found, fixed and tested on its own


def _unused_grads(lib, device=None, **kw):
    x = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
    u = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64, requires_grad=True)
    if device is not None:
        x, u = x.to(device).detach().requires_grad_(), u.to(device).detach().requires_grad_()
    return x, u, lib.autograd.grad((x.sin() * x).sum(), [x, u], **kw)


def test_autograd_grad_materialize_grads(device):
    """Fix: torch.autograd.grad's ``materialize_grads=True`` (an HMC step's gradient of the
    log joint with respect to every state variable, some unused) was refused as an unknown
    keyword. It gives zeros of the input's shape, dtype and device where the outputs do not
    depend on an input, implies ``allow_unused``, and refuses ``allow_unused=False``."""
    x, u, (gx, gu) = _unused_grads(tg, device, materialize_grads=True)
    tx, tu, (want_x, want_u) = _unused_grads(torch, materialize_grads=True)
    np.testing.assert_allclose(host(gx), want_x.numpy(), rtol=1e-14)
    assert on(gx, device) and on(gu, device)
    assert gu.dtype == u.dtype == tg.float64 and tuple(gu.shape) == (2, 2)
    np.testing.assert_array_equal(host(gu), want_u.numpy())
    assert not gu.requires_grad
    _, _, (_, none) = _unused_grads(tg, device, allow_unused=True)
    assert none is None
    with pytest.raises(ValueError, match="materialize_grads"):
        _unused_grads(tg, device, allow_unused=False, materialize_grads=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        _unused_grads(tg, device)
