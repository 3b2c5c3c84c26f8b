"""A second round of real PyTorch programs run on tensorgrad with only the import changed.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights), each program is
``program(torch, steps, init, device="cpu")``: a causal transformer language model, a
normalizing flow, a physics-informed network, a Gaussian-process marginal likelihood and a
mixed-precision CNN step. The first four run in float64 and must equal PyTorch's trajectory
and final parameters to rounding; the mixed-precision one runs in float32 with float16 regions.
"""

import numpy as np
import pytest
from devices import host, on
from test_ported_programs import assert_final_state, assert_program_matches, run_both

import tensorgrad as tg

torch = pytest.importorskip("torch")

STEPS = 4


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def transformer_program(torch, steps, init, device="cpu"):
    """A causal transformer language model: token embedding tied to the output head, learned
    positions, TransformerEncoder layers under a square subsequent mask, each layer run through
    torch.utils.checkpoint; AdamW with OneCycleLR, clip_grad_norm_."""
    nn = torch.nn
    F = torch.nn.functional
    checkpoint = torch.utils.checkpoint.checkpoint
    vocab, d_model, length, batch = 13, 16, 7, 3
    rng = np.random.default_rng(10)
    tokens = torch.tensor(rng.integers(0, vocab, size=(batch, length + 1))).to(device)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d_model)
            self.pos = nn.Parameter(0.02 * torch.randn(length, d_model))
            layer = nn.TransformerEncoderLayer(d_model, nhead=2, dim_feedforward=32,
                                               dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=2,
                                                 enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab, bias=False)
            self.head.weight = self.embed.weight  # weight tying

        def forward(self, x):
            n = x.shape[1]
            h = self.embed(x) + self.pos[:n]
            mask = nn.Transformer.generate_square_subsequent_mask(n, device=x.device,
                                                                  dtype=h.dtype)
            for layer in self.encoder.layers:
                h = checkpoint(layer, h, src_mask=mask, is_causal=True, use_reentrant=False)
            return self.head(self.norm(h))

    model = LM().double()
    init(model)
    model.to(device)
    assert model.head.weight is model.embed.weight
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-2, total_steps=steps,
                                                pct_start=0.5)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
        loss.backward()
        total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
        sched.step()
        losses += [loss.item(), float(total), sched.get_last_lr()[0],
                   opt.param_groups[0]["betas"][0]]
    return losses, model


def flow_program(torch, steps, init, device="cpu"):
    """A normalizing flow fitted by maximum likelihood: a standard normal base made an event
    by Independent, pushed through a ComposeTransform of a learned AffineTransform
    (event_dim=1), exp, a learned power and a learned scale; log_prob, Adam; samples by
    rsample."""
    nn = torch.nn
    D = torch.distributions
    T = torch.distributions.transforms
    rng = np.random.default_rng(11)
    data = torch.tensor(np.exp(0.5 * rng.standard_normal((32, 2)) + [0.3, -0.2])).to(device)

    class Flow(nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = nn.Parameter(torch.zeros(2))
            self.log_scale = nn.Parameter(torch.zeros(2))
            self.log_power = nn.Parameter(torch.zeros(1))
            self.log_scale2 = nn.Parameter(torch.zeros(2))

        def forward(self):
            zeros = torch.zeros(2, dtype=self.loc.dtype, device=self.loc.device)
            base = D.Independent(D.Normal(zeros, torch.ones_like(zeros)), 1)
            transform = T.ComposeTransform([
                T.AffineTransform(self.loc, self.log_scale.exp(), event_dim=1),
                T.ExpTransform(),
                T.PowerTransform(self.log_power.exp()),
                T.AffineTransform(0.0, self.log_scale2.exp()),
            ])
            return D.TransformedDistribution(base, [transform])

    model = Flow().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=5e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        flow = model()
        loss = -flow.log_prob(data).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    flow = model()
    sample = flow.rsample((5,))
    assert tuple(sample.shape) == (5, 2) and tuple(flow.event_shape) == (2,)
    losses += sample.detach().reshape(-1).tolist()
    losses += flow.log_prob(sample).detach().tolist()
    return losses, model


def pinn_program(torch, steps, init, device="cpu"):
    """A physics-informed network for the heat equation u_t = k u_xx: an MLP u(x, t), its
    derivatives at collocation points by vmap(jacrev) and vmap(hessian) of functional_call,
    plus an initial-condition loss; LBFGS with a closure and the strong Wolfe line search."""
    nn = torch.nn
    func = torch.func
    k = 0.1
    rng = np.random.default_rng(12)
    colloc = torch.tensor(rng.uniform(0.0, 1.0, size=(12, 2))).to(device)  # (x, t)
    x0 = torch.tensor(np.linspace(0.0, 1.0, 8)).to(device)
    u0 = torch.sin(np.pi * x0)

    model = nn.Sequential(nn.Linear(2, 10), nn.Tanh(), nn.Linear(10, 10), nn.Tanh(),
                          nn.Linear(10, 1)).double()
    init(model)
    model.to(device)

    def u(params, xt):
        return func.functional_call(model, params, (xt.unsqueeze(0),)).squeeze()

    def loss_fn():
        params = dict(model.named_parameters())
        du = func.vmap(func.jacrev(u, argnums=1), in_dims=(None, 0))(params, colloc)
        d2u = func.vmap(func.hessian(u, argnums=1), in_dims=(None, 0))(params, colloc)
        residual = du[:, 1] - k * d2u[:, 0, 0]
        initial = model(torch.stack([x0, torch.zeros_like(x0)], dim=1)).squeeze(-1) - u0
        return residual.pow(2).mean() + initial.pow(2).mean()

    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=3, history_size=5,
                            line_search_fn="strong_wolfe")
    losses = []

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        losses.append(loss.item())
        return loss

    for _ in range(steps):
        opt.step(closure)
    # the same residual by autograd.grad(create_graph=True), as older PINN code writes it
    pts = colloc.clone().requires_grad_(True)
    out = model(pts).sum()
    (g,) = torch.autograd.grad(out, pts, create_graph=True)
    (gg,) = torch.autograd.grad(g[:, 0].sum(), pts, create_graph=True)
    residual = g[:, 1] - k * gg[:, 0]
    losses.append(residual.pow(2).mean().item())
    return losses, model


def gp_program(torch, steps, init, device="cpu"):
    """Gaussian-process regression by the exact marginal likelihood: an ARD RBF kernel from
    cdist, softplus-positive hyperparameters, Cholesky factor, cholesky_solve, logdet;
    Adam; the predictive mean and variance at test points."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(13)
    x = torch.tensor(rng.uniform(-2.0, 2.0, size=(15, 2))).to(device)
    y = (torch.sin(2.0 * x[:, 0]) + 0.3 * x[:, 1]
         + 0.1 * torch.tensor(rng.standard_normal(15)).to(device))
    x_test = torch.tensor(rng.uniform(-2.0, 2.0, size=(4, 2))).to(device)

    class GP(nn.Module):
        def __init__(self):
            super().__init__()
            self.raw_lengthscale = nn.Parameter(torch.zeros(2))
            self.raw_outputscale = nn.Parameter(torch.tensor(0.5))
            self.raw_noise = nn.Parameter(torch.tensor(-2.0))
            self.mean = nn.Parameter(torch.tensor(0.0))

        def kernel(self, a, b):
            ls = F.softplus(self.raw_lengthscale)
            d2 = torch.cdist(a / ls, b / ls).pow(2)
            return F.softplus(self.raw_outputscale) * torch.exp(-0.5 * d2)

        def forward(self, x, y):
            n = x.shape[0]
            K = self.kernel(x, x) + (F.softplus(self.raw_noise) + 1e-6) * torch.eye(
                n, dtype=x.dtype, device=x.device)
            L = torch.linalg.cholesky(K)
            r = (y - self.mean).unsqueeze(-1)
            alpha = torch.cholesky_solve(r, L)
            fit = 0.5 * (r * alpha).sum()
            half_logdet = torch.log(torch.diagonal(L)).sum()
            nll = (fit + half_logdet + 0.5 * n * np.log(2 * np.pi)) / n
            return nll, torch.logdet(K), L, alpha

    model = GP().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        nll, logdet, _, _ = model(x, y)
        nll.backward()
        opt.step()
        losses += [nll.item(), logdet.item()]
    with torch.no_grad():
        _, _, L, alpha = model(x, y)
        ks = model.kernel(x_test, x)
        mean = model.mean + (ks @ alpha).squeeze(-1)
        v = torch.linalg.solve_triangular(L, ks.T, upper=False)
        var = F.softplus(model.raw_outputscale) - v.pow(2).sum(0)
    losses += mean.tolist() + var.tolist()
    return losses, model


def amp_program(torch, steps, init, device="cpu", enabled=True):
    """A CNN training step in mixed precision: float32 weights, the forward pass under
    torch.autocast(float16), GradScaler scaling the loss, unscale_ before clip_grad_norm_,
    scaler.step and update; SGD with momentum."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(14)
    images = torch.tensor(rng.standard_normal((8, 1, 8, 8)).astype(np.float32)).to(device)
    labels = torch.tensor(rng.integers(0, 4, size=8)).to(device)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(4, 8, 3), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    init(model)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler(device, enabled=enabled)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=enabled):
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
        assert logits.dtype == (torch.float16 if enabled else torch.float32)
        assert loss.dtype == torch.float32
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
        scaler.step(opt)
        scaler.update()
        losses += [loss.item(), float(total), scaler.get_scale()]
    return losses, model


PROGRAMS = {"transformer": transformer_program, "flow": flow_program, "pinn": pinn_program,
            "gp": gp_program}


# ---------------------------------------------------------------------------------------------
# the comparisons


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and the other numbers it reports) and final parameters equal
    PyTorch's, with model and data moved by ``.to(device)``."""
    assert_program_matches(run_both(PROGRAMS[name], steps=STEPS, device=device), device)


def test_mixed_precision_program_matches_torch(device):
    """The float16-autocast CNN step with GradScaler: ours (autocast on ``device``'s type,
    cpu or the cuda stand-in) against PyTorch's autocast(cpu, float16) on the same program,
    within float16 rounding; the float16 regions are really there (the trajectory differs from
    our own float32 run by more than float32 rounding, less than float16's), the scale is
    PyTorch's, and the weights stay float32."""
    torch.manual_seed(0)  # the same initial weights for both comparisons
    want, got, theirs, ours = run_both(amp_program, steps=STEPS, device=device)
    assert len(got) == len(want)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)
    assert got[2::3] == want[2::3] == [65536.0] * STEPS  # no overflow: the scale stays
    assert_final_state(theirs, ours, device, rtol=5e-3, atol=5e-4)

    def fp32(torch, steps, init, device="cpu"):
        return amp_program(torch, steps, init, device=device, enabled=False)

    torch.manual_seed(0)
    want32, got32, theirs32, ours32 = run_both(fp32, steps=STEPS, device=device)
    np.testing.assert_allclose(got32, want32, rtol=1e-5, atol=1e-6)
    drift = np.abs(np.subtract(got[:-1:3], got32[:-1:3])).max()
    assert 1e-6 < drift < 1e-2


# ---------------------------------------------------------------------------------------------
# the gap the programs found, fixed and tested on its own


_W = np.array([0.3, -0.7, 1.1])
_X = np.array([[0.5, 1.5, -0.4], [0.2, -1.0, 0.8]])


def _transformed(lib, kind):
    """A scalar of ``w`` built from a torch.func transform of a function that reads ``w``
    (closed over, or passed in an argument the transform does not differentiate)."""
    func = lib.func

    def f(w, x):
        return (lib.tanh(w * x) * x.sin()).sum() + (w * x).pow(3).sum()

    if kind == "grad closure":
        return lambda w, x: func.grad(lambda x_: f(w, x_))(x[0]).pow(2).sum()
    if kind == "jacrev argnums":
        return lambda w, x: func.jacrev(f, argnums=1)(w, x[0]).pow(2).sum()
    if kind == "vmap jacrev":
        return lambda w, x: func.vmap(func.jacrev(f, argnums=1), in_dims=(None, 0))(
            w, x).pow(2).sum()
    if kind == "hessian closure":
        return lambda w, x: func.hessian(lambda x_: f(w, x_))(x[0]).pow(2).sum()
    if kind == "vmap hessian":
        return lambda w, x: func.vmap(func.hessian(f, argnums=1), in_dims=(None, 0))(
            w, x).pow(2).sum()
    raise AssertionError(kind)


_KINDS = ["grad closure", "jacrev argnums", "vmap jacrev", "hessian closure", "vmap hessian"]


@pytest.mark.parametrize("kind", _KINDS)
def test_func_transforms_stay_on_the_outer_tape(kind, device):
    """Fix: torch.func's grad, jacrev and hessian of a function reading a tensor that requires
    grad, closed over or in an argument not differentiated (``functional_call(model, params,
    ...)`` under ``jacrev(u, argnums=1)``, as a PINN's PDE residual), gave a result detached
    from it: the loss built on it had no gradient there (None, silently, and the PINN trained
    on its initial-condition term only). The result is now recorded on the user's tape, and
    ``backward`` gives PyTorch's gradient."""
    w = tg.tensor(_W, device=device, requires_grad=True)
    out = _transformed(tg, kind)(w, tg.tensor(_X, device=device))
    assert out.requires_grad
    out.backward()
    tw = torch.tensor(_W, requires_grad=True)
    want = _transformed(torch, kind)(tw, torch.tensor(_X))
    want.backward()
    np.testing.assert_allclose(host(out), want.item(), rtol=1e-13)
    assert on(w.grad, device)
    np.testing.assert_allclose(host(w.grad), tw.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["jacrev argnums", "hessian closure"])
def test_func_transforms_outer_derivatives_by_finite_differences(kind):
    """The same, to second order in both modes against central differences (float64)."""
    x = tg.tensor(_X)
    fn = _transformed(tg, kind)
    tg.check_grads(lambda w: fn(w, x), modes=("fwd", "rev"), order=2)(tg.tensor(_W))


def test_func_transforms_without_outer_tape_record_nothing():
    """The fix costs nothing where nothing outside requires grad: a plain argument's
    gradient, Jacobian and Hessian come back without history, as before."""
    x = tg.tensor(_X[0])
    w = tg.tensor(_W)
    f = lambda x_: (tg.tanh(w * x_)).sum()  # noqa: E731
    for transform in (tg.func.grad, tg.func.jacrev, tg.func.hessian):
        res = transform(f)(x)
        assert not res.requires_grad and res.grad_fn is None
    with tg.no_grad():  # under no_grad nothing is recorded even with a parameter closed over
        w.requires_grad_(True)
        assert not tg.func.grad(f)(x).requires_grad
