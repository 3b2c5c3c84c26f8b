"""A twelfth round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers), each program is
``program(torch, steps, init, device="cpu")``. This round leans on scientific code and on the
machinery around a training loop rather than on deep nets: a physics-informed solver of a 2-D
Poisson equation (second derivatives by ``torch.autograd.grad(create_graph=True)``, L-BFGS with
the strong Wolfe search), Lotka-Volterra parameter estimation through a hand-written RK4
integrator, a Kalman filter and RTS smoother fitted by its marginal likelihood
(``torch.linalg.solve``, ``slogdet``), optimal transport by log-space Sinkhorn iterations
(``logsumexp``, a debiased divergence), differentiable sphere tracing of a signed distance
field (normals by ``autograd.grad`` at the hit points), a rolling portfolio policy with softmax
weights and a shrunk covariance penalty (``torch.cov``, ``ChainedScheduler``), stochastic
weight averaging (``swa_utils``, ``SequentialLR`` into ``CosineAnnealingWarmRestarts``,
``update_bn``, clipping by value and by norm with ``foreach``), and sharpness-aware
minimisation (``parameters_to_vector`` / ``vector_to_parameters``, forward and full backward
hooks, ``torch.utils.checkpoint`` inside the model, ``add_param_group`` mid-training and a
``save``/``load`` round trip of model, optimizer and scheduler through a ``BytesIO``), and the
optimizer step fused into the backward pass (one optimizer per parameter stepped from
``register_post_accumulate_grad_hook``, with step pre- and post-hooks). All run in float64
and must equal PyTorch's trajectory (every reported number) and final parameters and buffers
to rounding.

Randomness both runs share is drawn inside each program from its own
``np.random.default_rng(seed)``.

The gaps the programs found, fixed and tested at the end: ``nn.Module`` had no
``register_forward_hook``, ``register_full_backward_hook`` or
``register_full_backward_pre_hook`` (now as PyTorch's, on identity nodes around the module's
inputs and outputs, ``tensorgrad/nn/_module_hooks.py``); optimizers had no
``register_step_pre_hook`` / ``register_step_post_hook``; NAdam's ``mu_product`` and ASGD's
``eta`` and ``mu`` were doubles where PyTorch keeps them in its scalar dtype (float32 under
the default dtype), so float64 trajectories parted at the eighth digit. Left as it is: the
order in which the two engines visit independent branches (PyTorch runs a Linear's bias
accumulation before its weight's), which only the order of leaf hooks can show.
"""

import io
import math

import numpy as np
import pytest
from test_ported_programs import check_program, torch_run

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def poisson_program(torch, steps, init, device="cpu"):
    """A physics-informed network for the Poisson equation u_xx + u_yy = f on the unit square
    with u = 0 on the boundary (f from the exact solution sin(pi x) sin(pi y)): an MLP u(x, y),
    its gradient at interior collocation points by torch.autograd.grad(create_graph=True), the
    two second derivatives by a second grad of each gradient column, the PDE residual plus a
    boundary penalty; L-BFGS(line_search_fn="strong_wolfe") with a closure. Reports each
    step's loss, the optimizer's iteration and evaluation counts, and the relative L2 error
    against the exact solution on a grid (under no_grad)."""
    nn = torch.nn
    rng = np.random.default_rng(40)
    interior = torch.tensor(rng.uniform(0.05, 0.95, size=(20, 2))).to(device)
    s = rng.random((4, 3))
    edges = [np.stack([s[0], np.zeros(3)], 1), np.stack([s[1], np.ones(3)], 1),
             np.stack([np.zeros(3), s[2]], 1), np.stack([np.ones(3), s[3]], 1)]
    boundary = torch.tensor(np.concatenate(edges)).to(device)
    g = np.linspace(0.1, 0.9, 5)
    grid = torch.tensor(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)).to(device)
    pi = math.pi

    def exact(p):
        return torch.sin(pi * p[:, 0]) * torch.sin(pi * p[:, 1])

    class PINN(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 10), nn.Tanh(), nn.Linear(10, 10), nn.Tanh(),
                                     nn.Linear(10, 1))

        def forward(self, p):
            return self.net(p).squeeze(-1)

    model = PINN().double()
    init(model)
    model.to(device)
    source = -2 * pi ** 2 * exact(interior)
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=4, history_size=5,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        p = interior.clone().requires_grad_(True)
        u = model(p)
        (du,) = torch.autograd.grad(u.sum(), p, create_graph=True)
        u_xx = torch.autograd.grad(du[:, 0].sum(), p, create_graph=True)[0][:, 0]
        u_yy = torch.autograd.grad(du[:, 1].sum(), p, create_graph=True)[0][:, 1]
        residual = u_xx + u_yy - source
        loss = residual.pow(2).mean() + 10.0 * model(boundary).pow(2).mean()
        loss.backward()
        return loss

    out = []
    for _ in range(steps):
        loss = opt.step(closure)
        state = opt.state_dict()["state"][0]
        out += [loss.item(), float(state["n_iter"]), float(state["func_evals"])]
    with torch.no_grad():
        err = torch.linalg.vector_norm(model(grid) - exact(grid)) / torch.linalg.vector_norm(
            exact(grid))
    out.append(err.item())
    return out, model


def lotka_program(torch, steps, init, device="cpu"):
    """Parameter estimation of a Lotka-Volterra predator-prey system: the four rates are
    exp of learnable logs in an nn.Module whose forward is the vector field (unbind, stack); a
    hand-written classic RK4 integrator unrolls 24 steps from three initial conditions at once;
    the observations are a NumPy RK4 solution of the true system plus noise. The loss is the
    mean squared error of the log populations; NAdam, clip_grad_norm_(foreach=True). Reports
    the loss, the clipped gradient norm and the four rates each step."""
    nn = torch.nn
    rng = np.random.default_rng(41)
    true = np.array([1.1, 0.4, 0.9, 0.3])
    z0 = np.array([[2.0, 1.0], [1.0, 2.5], [3.0, 1.5]])
    n_steps, h = 24, 0.25

    def field_np(z):
        a, b, c, d = true
        x, y = z[:, 0], z[:, 1]
        return np.stack([a * x - b * x * y, -c * y + d * x * y], 1)

    z, path = z0, [z0]
    for _ in range(n_steps):
        k1 = field_np(z)
        k2 = field_np(z + h / 2 * k1)
        k3 = field_np(z + h / 2 * k2)
        k4 = field_np(z + h * k3)
        z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        path.append(z)
    observed = np.stack(path) * np.exp(0.05 * rng.standard_normal((n_steps + 1, 3, 2)))
    observed = torch.tensor(observed).to(device)
    start = torch.tensor(z0).to(device)

    class LotkaVolterra(nn.Module):
        def __init__(self):
            super().__init__()
            self.log_rates = nn.Parameter(torch.log(torch.tensor([0.8, 0.6, 0.7, 0.5])))

        def forward(self, t, z):
            a, b, c, d = self.log_rates.exp().unbind()
            x, y = z[..., 0], z[..., 1]
            return torch.stack([a * x - b * x * y, -c * y + d * x * y], dim=-1)

    def rk4(f, z, t0, h, n):
        zs = [z]
        for i in range(n):
            t = t0 + i * h
            k1 = f(t, z)
            k2 = f(t + h / 2, z + h / 2 * k1)
            k3 = f(t + h / 2, z + h / 2 * k2)
            k4 = f(t + h, z + h * k3)
            z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            zs.append(z)
        return torch.stack(zs)

    model = LotkaVolterra().double()
    init(model)
    model.to(device)
    opt = torch.optim.NAdam(model.parameters(), lr=0.05)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        pred = rk4(model, start, 0.0, h, n_steps)
        loss = (pred.clamp_min(1e-6).log() - observed.log()).pow(2).mean()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5, foreach=True)
        opt.step()
        out += [loss.item(), norm.item()] + model.log_rates.exp().tolist()
    return out, model


def kalman_program(torch, steps, init, device="cpu"):
    """A Kalman filter and Rauch-Tung-Striebel smoother for a 2-D constant-velocity target
    (state: position and velocity, observed: noisy position), fitted by the exact marginal
    likelihood in the process and observation noise levels (log-parametrised, a per-axis
    observation noise). The filter's gain comes from torch.linalg.solve on the innovation
    covariance, the log-likelihood from torch.linalg.slogdet and a solve; the smoother's gain
    from another solve, running backwards over Python lists; Adamax. Reports the negative log
    likelihood, the noise levels and the smoothed positions' error against the true track."""
    nn = torch.nn
    rng = np.random.default_rng(42)
    n, dt = 14, 0.5
    F_np = np.eye(4) + dt * np.eye(4, k=2)
    x, track = np.array([0.0, 0.0, 1.0, 0.5]), []
    for _ in range(n):
        x = F_np @ x + np.concatenate([np.zeros(2), 0.3 * rng.standard_normal(2)])
        track.append(x[:2])
    track = np.array(track)
    ys = torch.tensor(track + np.array([0.4, 0.2]) * rng.standard_normal((n, 2))).to(device)
    track = torch.tensor(track).to(device)
    F = torch.tensor(F_np).to(device)
    H = torch.eye(2, 4, dtype=torch.float64, device=device)
    q_shape = torch.tensor(np.kron(np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]]),
                                   np.eye(2))).to(device)

    class Noise(nn.Module):
        def __init__(self):
            super().__init__()
            self.log_q = nn.Parameter(torch.tensor(0.0))
            self.log_r = nn.Parameter(torch.zeros(2))

        def forward(self):
            return self.log_q.exp() * q_shape, torch.diag(self.log_r.exp())

    def smooth(Q, R):
        m = torch.zeros(4, dtype=torch.float64, device=device)
        P = torch.eye(4, dtype=torch.float64, device=device) * 4.0
        nll = 0.0
        filtered, predicted = [], []
        for t in range(n):
            m_pred = F @ m
            P_pred = F @ P @ F.T + Q
            S = H @ P_pred @ H.T + R
            v = ys[t] - H @ m_pred
            K = torch.linalg.solve(S, H @ P_pred).T
            m = m_pred + K @ v
            P = P_pred - K @ S @ K.T
            _, logdet = torch.linalg.slogdet(S)
            nll = nll + 0.5 * (logdet + v @ torch.linalg.solve(S, v) + 2 * math.log(2 * pi))
            filtered.append((m, P))
            predicted.append((m_pred, P_pred))
        ms, Ps = filtered[-1]
        smoothed = [ms]
        for t in range(n - 2, -1, -1):
            mf, Pf = filtered[t]
            mp, Pp = predicted[t + 1]
            G = torch.linalg.solve(Pp, F @ Pf).T
            ms = mf + G @ (ms - mp)
            Ps = Pf + G @ (Ps - Pp) @ G.T
            smoothed.append(ms)
        return nll, torch.stack(smoothed[::-1])

    pi = math.pi
    model = Noise().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adamax(model.parameters(), lr=0.1)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        Q, R = model()
        nll, states = smooth(Q, R)
        nll.backward()
        opt.step()
        err = (states[:, :2] - track).pow(2).sum(-1).mean().sqrt()
        out += [nll.item(), err.item(), model.log_q.exp().item()] + model.log_r.exp().tolist()
    return out, model


def sinkhorn_program(torch, steps, init, device="cpu"):
    """Fitting a weighted point cloud to a target cloud by optimal transport: entropic OT by
    Sinkhorn iterations in log space (dual potentials updated by torch.logsumexp over the
    rows and the columns of (g - C) / eps), the debiased Sinkhorn divergence
    OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2, the gradient flowing through all the unrolled
    iterations into the source points and into the logits of their softmax weights; SGD with
    momentum under ExponentialLR. Reports the divergence, the transport plan's marginal error
    and the learning rate each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(43)
    target = torch.tensor(rng.standard_normal((9, 2)) * 0.5 + np.array([1.0, -0.5])).to(device)
    b = torch.full((9,), 1.0 / 9, dtype=torch.float64, device=device)
    eps, iters = 0.1, 25

    class Cloud(nn.Module):
        def __init__(self):
            super().__init__()
            self.points = nn.Parameter(torch.randn(8, 2))
            self.logits = nn.Parameter(torch.zeros(8))

        def forward(self):
            return self.points, F.softmax(self.logits, dim=0)

    def entropic_ot(x, a, y, b):
        C = torch.cdist(x, y).pow(2)
        f = torch.zeros_like(a)
        g = torch.zeros_like(b)
        for _ in range(iters):
            f = eps * a.log() - eps * torch.logsumexp((g[None, :] - C) / eps, dim=1)
            g = eps * b.log() - eps * torch.logsumexp((f[:, None] - C) / eps, dim=0)
        plan = torch.exp((f[:, None] + g[None, :] - C) / eps)
        return (plan * C).sum(), plan

    model = Cloud().double()
    init(model)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.8)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        x, a = model()
        ot_ab, plan = entropic_ot(x, a, target, b)
        ot_aa, _ = entropic_ot(x, a, x, a)
        ot_bb, _ = entropic_ot(target, b, target, b)
        loss = ot_ab - 0.5 * ot_aa - 0.5 * ot_bb
        loss.backward()
        opt.step()
        sched.step()
        marginal = (plan.sum(1) - a).abs().max() + (plan.sum(0) - b).abs().max()
        out += [loss.item(), marginal.item(), sched.get_last_lr()[0]]
    return out, model


def render_program(torch, steps, init, device="cpu"):
    """Differentiable sphere tracing: rays from a pinhole camera through a 6x6 image march a
    signed distance field (a sphere of learnable centre and softplus radius smoothly unioned
    with a ground plane by -k logaddexp(-a/k, -b/k)) for a fixed number of steps; the soft
    silhouette is a sigmoid of the smallest distance met along each ray (stack + amin), the
    normals are torch.autograd.grad of the SDF at the final points (create_graph=True, so the
    shading's own gradient flows through them), Lambertian shading with a learnable light
    direction (F.normalize, clamp). The target image is rendered by the same code under
    torch.no_grad() from other parameters; Rprop on the MSE. Reports the loss, the radius and
    the centre each step."""
    nn = torch.nn
    F = torch.nn.functional
    side = 6
    u = np.linspace(-0.5, 0.5, side)
    pix = np.stack(np.meshgrid(u, u, indexing="xy"), -1).reshape(-1, 2)
    dirs = np.concatenate([pix, np.ones((side * side, 1))], 1)
    dirs = torch.tensor(dirs / np.linalg.norm(dirs, axis=1, keepdims=True)).to(device)
    origin = torch.tensor([0.0, 0.2, -3.0], dtype=torch.float64, device=device)

    class Scene(nn.Module):
        def __init__(self, centre, radius, light):
            super().__init__()
            self.centre = nn.Parameter(torch.tensor(centre, dtype=torch.float64))
            self.raw_radius = nn.Parameter(torch.tensor(radius, dtype=torch.float64))
            self.light = nn.Parameter(torch.tensor(light, dtype=torch.float64))

        def sdf(self, p):
            sphere = torch.linalg.vector_norm(p - self.centre, dim=-1) - F.softplus(
                self.raw_radius)
            plane = p[..., 1] + 0.8
            k = 0.1
            return -k * torch.logaddexp(-sphere / k, -plane / k)

        def forward(self):
            t = torch.zeros(dirs.shape[0], dtype=torch.float64, device=device)
            dists = []
            for _ in range(10):
                d = self.sdf(origin + t[:, None] * dirs)
                dists.append(d)
                t = (t + d).clamp(max=8.0)
            p = origin + t[:, None] * dirs
            with torch.enable_grad():
                if not p.requires_grad:
                    p = p.detach().requires_grad_(True)
                d = self.sdf(p)
                (normal,) = torch.autograd.grad(d.sum(), p, create_graph=True)
            normal = F.normalize(normal, dim=-1)
            light = F.normalize(self.light, dim=0)
            shade = (normal @ light).clamp(min=0.0) * 0.8 + 0.2
            silhouette = torch.sigmoid((0.05 - torch.stack(dists).amin(0)) / 0.02)
            return silhouette * shade

    with torch.no_grad():
        target = Scene([0.3, 0.1, 0.5], 0.2, [0.5, 1.0, -1.0]).to(device)()
    model = Scene([0.0, 0.0, 0.0], 0.0, [0.0, 1.0, -0.5])
    init(model)
    model.to(device)
    opt = torch.optim.Rprop(model.parameters(), lr=0.05)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (model() - target).pow(2).mean()
        loss.backward()
        opt.step()
        out += [loss.item(), F.softplus(model.raw_radius).item()] + model.centre.tolist()
    return out, model


def portfolio_program(torch, steps, init, device="cpu"):
    """A rolling portfolio policy on simulated daily returns of six assets: each day an MLP
    reads the last four days' returns and proposes softmax weights; the loss is minus the mean
    portfolio return plus a risk penalty w^T S w with S the Ledoit-Wolf-style shrinkage of
    torch.cov of the returns toward tr(S)/n I, plus a turnover penalty (the L1 change of the
    weights day to day) and a small entropy bonus. Adam under ChainedScheduler(ConstantLR
    warm-up, ExponentialLR). Reports the loss, the annualised Sharpe ratio of the policy, the
    turnover and the learning rate, and at the end the minimum-variance weights by
    torch.linalg.solve for comparison with the policy's mean weights."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(44)
    n_days, n_assets, window = 40, 6, 4
    mix = rng.standard_normal((n_assets, n_assets)) * 0.01
    drift = np.linspace(-0.001, 0.002, n_assets)
    returns = torch.tensor(rng.standard_normal((n_days, n_assets)) @ mix + drift).to(device)
    features = returns.unfold(0, window, 1)[:-1].reshape(n_days - window, -1)
    realised = returns[window:]

    model = nn.Sequential(nn.Linear(n_assets * window, 16), nn.Tanh(),
                          nn.Linear(16, n_assets)).double()
    init(model)
    model.to(device)
    cov = torch.cov(returns.T)
    shrink = 0.2
    cov = (1 - shrink) * cov + shrink * cov.diagonal().mean() * torch.eye(
        n_assets, dtype=torch.float64, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    sched = torch.optim.lr_scheduler.ChainedScheduler([
        torch.optim.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=2),
        torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        w = F.softmax(model(features * 100), dim=-1)
        r = (w * realised).sum(-1)
        risk = torch.einsum("ti,ij,tj->t", w, cov, w).mean()
        turnover = (w[1:] - w[:-1]).abs().sum(-1).mean()
        entropy = -(w * w.log()).sum(-1).mean()
        loss = -r.mean() * 100 + 50 * risk * 100 + 0.01 * turnover - 0.001 * entropy
        loss.backward()
        opt.step()
        sched.step()
        sharpe = r.mean() / r.std() * math.sqrt(252)
        out += [loss.item(), sharpe.item(), turnover.item(), sched.get_last_lr()[0]]
    ones = torch.ones(n_assets, dtype=torch.float64, device=device)
    w_mv = torch.linalg.solve(cov, ones)
    w_mv = w_mv / w_mv.sum()
    with torch.no_grad():
        w_mean = F.softmax(model(features * 100), dim=-1).mean(0)
    out += w_mv.tolist() + w_mean.tolist()
    return out, model


def swa_program(torch, steps, init, device="cpu"):
    """Stochastic weight averaging of a regression MLP with BatchNorm1d: SGD with momentum
    under SequentialLR (a LinearLR warm-up, then CosineAnnealingWarmRestarts, which restarts
    once) for all but the last two epochs, then torch.optim.swa_utils.SWALR (cosine annealing
    to the SWA learning rate) while an AveragedModel accumulates the running mean of the
    weights after each of those epochs; gradients clipped by value and then by norm, both
    with foreach=True; mini-batches from a DataLoader. At the end swa_utils.update_bn
    recomputes the averaged model's BatchNorm statistics from the loader. Reports the losses,
    the norm before clipping, the learning rate and the averaged model's loss."""
    nn = torch.nn
    F = torch.nn.functional
    data = torch.utils.data
    rng = np.random.default_rng(45)
    x = rng.standard_normal((32, 3))
    y = np.sin(x[:, :1] * 2) + x[:, 1:2] * x[:, 2:3]
    x, y = torch.tensor(x).to(device), torch.tensor(y).to(device)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=8, shuffle=False)

    model = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.Linear(16, 1)).double()
    init(model)
    model.to(device)
    swa_model = torch.optim.swa_utils.AveragedModel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.3, total_iters=2),
        torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, eta_min=0.01)],
        milestones=[2])
    swa_sched = torch.optim.swa_utils.SWALR(opt, swa_lr=0.03, anneal_epochs=2)
    swa_start = steps - 2
    out = []
    for epoch in range(steps):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            torch.nn.utils.clip_grad_value_(model.parameters(), 0.5, foreach=True)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
            opt.step()
            out += [loss.item(), norm.item()]
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_sched.step()
        else:
            sched.step()
        out.append(opt.param_groups[0]["lr"])
    torch.optim.swa_utils.update_bn(loader, swa_model)
    swa_model.eval()
    with torch.no_grad():
        out.append(F.mse_loss(swa_model(x), y).item())
    return out, swa_model


def sam_program(torch, steps, init, device="cpu"):
    """Sharpness-aware minimisation of a small classifier: each step takes the gradient,
    moves the flattened weights (torch.nn.utils.parameters_to_vector) by rho times the
    normalised gradient with vector_to_parameters, takes the gradient there, restores the
    weights and steps SGD with it. The model runs its middle block through
    torch.utils.checkpoint (use_reentrant=False); forward hooks record the mean activation of
    every Linear and full backward hooks the norm of the gradients at their outputs (the
    checkpointed one fires again on recomputation). The head starts frozen and joins the
    optimizer by add_param_group at step 2 with its own learning rate; at step 3 the model,
    optimizer and CosineAnnealingLR scheduler are saved to a BytesIO with torch.save, rebuilt
    from torch.load and training continues. Reports losses, the sharpness (perturbed minus
    clean loss), the hooks' records and the learning rates."""
    nn = torch.nn
    F = torch.nn.functional
    utils = torch.nn.utils
    rng = np.random.default_rng(46)
    x = torch.tensor(rng.standard_normal((20, 5))).to(device)
    labels = torch.tensor((rng.standard_normal((20, 5)) @ rng.standard_normal(5) > 0)
                          .astype(np.int64) + (x[:, 0] > 1).long().cpu().numpy()).to(device)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 12)
            self.norm = nn.LayerNorm(12)

        def forward(self, h):
            return h + torch.tanh(self.norm(self.fc(h)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(5, 12)
            self.block = Block()
            self.head = nn.Linear(12, 3)

        def forward(self, x):
            h = F.gelu(self.inp(x))
            h = torch.utils.checkpoint.checkpoint(self.block, h, use_reentrant=False)
            return self.head(h)

    records = []

    def forward_hook(module, args, output):
        records.append(output.detach().mean().item())

    def backward_hook(module, grad_input, grad_output):
        records.append(grad_output[0].norm().item())

    def build(state=None):
        model = Net().double()
        if state is None:
            init(model)
        model.to(device)
        for m in (model.inp, model.block.fc, model.head):
            m.register_forward_hook(forward_hook)
            m.register_full_backward_hook(backward_hook)
        model.head.requires_grad_(False)
        groups = [{"params": [p for n, p in model.named_parameters() if not n.startswith("head")]}]
        opt = torch.optim.SGD(groups, lr=0.2, momentum=0.5)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.02)
        if state is not None:
            model.load_state_dict(state["model"])
            model.head.requires_grad_(True)
            opt.add_param_group({"params": list(model.head.parameters()), "lr": 0.05})
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
        return model, opt, sched

    model, opt, sched = build()
    rho = 0.05
    out = []
    for step in range(steps):
        if step == 2:
            model.head.requires_grad_(True)
            opt.add_param_group({"params": list(model.head.parameters()), "lr": 0.05})
        if step == 3:
            buf = io.BytesIO()
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict()}, buf)
            buf.seek(0)
            model, opt, sched = build(torch.load(buf))
        params = [p for p in model.parameters() if p.requires_grad]
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        weights = utils.parameters_to_vector(params)
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        with torch.no_grad():
            utils.vector_to_parameters(weights + rho * grad / grad.norm(), params)
        opt.zero_grad()
        sharp_loss = F.cross_entropy(model(x), labels)
        sharp_loss.backward()
        with torch.no_grad():
            utils.vector_to_parameters(weights, params)
        opt.step()
        sched.step()
        out += [loss.item(), (sharp_loss - loss).item()]
        out += [g["lr"] for g in opt.param_groups]
    out += records
    return out, model


def in_backward_program(torch, steps, init, device="cpu"):
    """The optimizer step fused into the backward pass (PyTorch's memory-saving recipe): one
    Adam per parameter in a dict keyed by the parameter, stepped and zeroed from the
    parameter's register_post_accumulate_grad_hook as soon as its gradient is accumulated, so
    no two gradients are alive together. Each optimizer carries a step pre-hook that clamps
    its gradient in place (clipping by value, per parameter) and a post-hook that logs which
    parameter stepped; one of them is removed by its handle halfway. The model is a denoising
    autoencoder (Linear, SiLU, LayerNorm, a tied decoder through F.linear with the encoder's
    weight transposed, so that weight gets two contributions before its hook fires). Reports
    the losses, the order in which the parameters stepped and their step counts."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(47)
    clean = rng.standard_normal((16, 2)) @ rng.standard_normal((2, 6))
    clean = torch.tensor(clean).to(device)
    noisy = clean + 0.3 * torch.tensor(rng.standard_normal((16, 6))).to(device)

    class TiedAutoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(6, 3)
            self.norm = nn.LayerNorm(3)
            self.dec_bias = nn.Parameter(torch.zeros(6))

        def forward(self, x):
            z = self.norm(F.silu(self.enc(x)))
            return F.linear(z, self.enc.weight.t(), self.dec_bias)

    model = TiedAutoencoder().double()
    init(model)
    model.to(device)
    index = {p: i for i, p in enumerate(model.parameters())}  # tensors hash by identity
    optimizers = {p: torch.optim.Adam([p], lr=0.05) for p in model.parameters()}
    order = []
    handles = []

    def clamp_grad(opt, args, kwargs):
        opt.param_groups[0]["params"][0].grad.clamp_(-0.5, 0.5)

    def log_step(opt, args, kwargs):
        p = opt.param_groups[0]["params"][0]
        alone = all(q.grad is None for q in index if q is not p)
        order.append((index[p], alone))

    for opt in optimizers.values():
        opt.register_step_pre_hook(clamp_grad)
        handles.append(opt.register_step_post_hook(log_step))

    def step_in_backward(p):
        optimizers[p].step()
        optimizers[p].zero_grad()

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(step_in_backward)

    out = []
    for step in range(steps):
        if step == steps // 2:
            handles[0].remove()
        loss = F.mse_loss(model(noisy), clean)
        loss.backward()
        # the engines may visit independent branches in different orders (PyTorch runs the
        # bias's AccumulateGrad before the weight's, which waits behind a TBackward node):
        # the set of parameters that stepped is compared, each with its gradient alone alive
        out += [loss.item()] + [float(i) + 0.5 * alone for i, alone in sorted(order)]
        order.clear()
    counts = [optimizers[p].state_dict()["state"][0]["step"] for p in model.parameters()]
    out += [float(c) for c in counts]
    out.append(all(p.grad is None for p in model.parameters()))
    return out, model


PROGRAMS = {"poisson": (poisson_program, 3), "lotka": (lotka_program, 5),
            "kalman": (kalman_program, 5), "sinkhorn": (sinkhorn_program, 4),
            "render": (render_program, 4), "portfolio": (portfolio_program, 5),
            "swa": (swa_program, 6), "sam": (sam_program, 5),
            "in_backward": (in_backward_program, 4)}


# ---------------------------------------------------------------------------------------------
# the tests


_OUTPUT_ONLY = "ignore:Full backward hook is firing"  # SAM's first Linear: its input is data


@pytest.mark.filterwarnings(_OUTPUT_ONLY)
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and every other number it reports) and its final parameters and
    buffers equal PyTorch's, with model and data moved by ``.to(device)``."""
    check_program(PROGRAMS, name, device)


def _torch_run(name):
    return torch_run(PROGRAMS, name)


@pytest.mark.filterwarnings(_OUTPUT_ONLY)
def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: L-BFGS's strong Wolfe search evaluates more often
    than it iterates and the PDE loss falls; the Lotka-Volterra gradient is clipped; the
    Kalman likelihood rises and the two observation noises part; Sinkhorn's plan meets its
    marginals and the divergence falls; the rendering loss falls; the portfolio's chained
    schedule changes course when the warm-up ends; SWA's gradients are clipped and its
    schedule restarts; SAM's perturbation raises the loss and the checkpointed Linear's
    forward hook fires twice a pass; every in-backward step ran with its gradient alone."""
    poisson, _ = _torch_run("poisson")
    assert poisson[-2] > poisson[-3] > 0 and poisson[0] > poisson[-4]
    lotka, _ = _torch_run("lotka")
    assert max(lotka[1::6]) > 0.5 and lotka[0] > lotka[-6]
    kalman, _ = _torch_run("kalman")
    assert kalman[0] > kalman[-5] and abs(kalman[-2] - kalman[-1]) > 1e-3
    sinkhorn, _ = _torch_run("sinkhorn")
    assert max(sinkhorn[1::3]) < 1e-2 and sinkhorn[0] > sinkhorn[-3]
    render, _ = _torch_run("render")
    assert render[0] > render[-5] > 0
    portfolio, _ = _torch_run("portfolio")
    lrs = portfolio[3:20:4]
    assert lrs[0] < lrs[1] > lrs[2] > lrs[3]
    swa, model = _torch_run("swa")
    lrs = swa[8:54:9]
    assert max(swa[1:8:2]) > 1 and lrs[1] > lrs[2] < lrs[3]
    assert int(model.n_averaged) == 2
    sam, _ = _torch_run("sam")
    assert all(v > 0 for v in (sam[1], sam[4], sam[7], sam[11], sam[15]))
    assert len(sam) == 18 + 5 * 2 * 7  # per pass: 3 forward hooks, fc again, 3 backward hooks
    in_backward, _ = _torch_run("in_backward")
    assert all(v % 1 == 0.5 for v in in_backward[1:6]) and in_backward[-1] is True


# ---------------------------------------------------------------------------------------------
# the gaps the programs found, fixed and tested on their own


@pytest.mark.parametrize("default", ["float32", "float64"])
@pytest.mark.parametrize("name, kw", [("NAdam", dict(lr=0.05)),
                                      ("NAdam", dict(lr=0.02, momentum_decay=0.1)),
                                      ("ASGD", dict(lr=0.01, t0=2, lambd=1e-2)),
                                      ("ASGD", dict(lr=0.3, alpha=0.5))])
def test_optimizer_scalar_state_rounds_as_torch(name, kw, default, device):
    """Fix: NAdam's mu_product and ASGD's eta and mu live in PyTorch in 0-d tensors of its
    scalar dtype (float32 unless the default dtype is float64); ours kept doubles, so float64
    trajectories parted from PyTorch's at the eighth digit from the first step."""
    import tensorgrad as tg

    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(5)

    def run(lib, dev):
        w = lib.tensor(w0, requires_grad=True)
        if lib is tg:
            w = tg.tensor(w0, device=dev, requires_grad=True)
        opt = getattr(lib.optim, name)([w], **kw)
        for _ in range(8):
            opt.zero_grad()
            ((w ** 4).sum() + (w[:2] * w[2:4]).sum()).backward()
            opt.step()
        return np.array(w.detach().tolist())

    saved = torch.get_default_dtype(), tg.get_default_dtype()
    torch.set_default_dtype(getattr(torch, default))
    tg.set_default_dtype(default)
    try:
        want, got = run(torch, "cpu"), run(tg, device)
    finally:
        torch.set_default_dtype(saved[0])
        tg.set_default_dtype(saved[1])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


def _hooked_pair(lib, device, replace):
    """A module of two tensor inputs and a number giving a tuple of two tensors, with forward,
    full backward and backward pre-hooks that record what they see (arrays on the host) and,
    with ``replace``, double the first output's gradient and halve the first input's."""
    nn = lib.nn
    torch.manual_seed(1)  # PyTorch's module is made first; ours copies its weights

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x, scale, y):
            return self.lin(x) * scale + y.sum(-1, keepdim=True), lib.tanh(y)

    module = Pair()
    if lib is not torch:
        module.load_state_dict({k: lib.tensor(v.detach().numpy()) for k, v in
                                _hooked_pair.reference.state_dict().items()})
    else:
        _hooked_pair.reference = module
    module.double().to(device)
    seen = []

    def arrays(values):
        return [None if v is None else np.array(v.detach().cpu().tolist()) for v in values]

    def forward_hook(m, args, out):
        seen.append(("forward", arrays([args[0], args[2]]) + [args[1]]))
        return (out[0] + 1, out[1]) if replace else None

    def pre_hook(m, grad_output):
        seen.append(("pre", arrays(grad_output)))
        return (grad_output[0] * 2, grad_output[1]) if replace else None

    def hook(m, grad_input, grad_output):
        seen.append(("full", arrays(grad_input), arrays(grad_output)))
        return (grad_input[0] * 0.5, None, grad_input[2]) if replace else None

    module.register_forward_hook(forward_hook)
    module.register_full_backward_pre_hook(pre_hook)
    module.register_full_backward_hook(hook)
    return module, seen


def _run_hooked_pair(lib, device, replace):
    module, seen = _hooked_pair(lib, device, replace)
    rng = np.random.default_rng(3)
    if lib is torch:
        x = torch.tensor(rng.standard_normal((4, 3)), requires_grad=True)
        y = torch.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    else:
        x = lib.tensor(rng.standard_normal((4, 3)), device=device, requires_grad=True)
        y = lib.tensor(rng.standard_normal((4, 3)), device=device, requires_grad=True)
    a, b = module(x, 1.5, y)
    (a.pow(2).sum() + (b * y).sum()).backward()
    grads = [np.array(t.grad.cpu().tolist()) for t in (x, y, module.lin.weight, module.lin.bias)]
    return seen, grads


@pytest.mark.parametrize("replace", [False, True])
def test_module_forward_and_full_backward_hooks_as_torch(replace, device):
    """Fix: nn.Module had no register_forward_hook, register_full_backward_hook or
    register_full_backward_pre_hook. The hooks see what PyTorch's see (the arguments, None
    for the number, the gradients of both outputs and of both tensor inputs, in PyTorch's
    order), and what they return replaces the output, grad_output and grad_input as in
    PyTorch, so every gradient equals PyTorch's."""
    import tensorgrad as tg

    want_seen, want = _run_hooked_pair(torch, "cpu", replace)
    got_seen, got = _run_hooked_pair(tg, device, replace)
    assert [s[0] for s in got_seen] == [s[0] for s in want_seen] == ["forward", "pre", "full"]
    for mine, theirs in zip(got_seen, want_seen):
        for a, b in zip(mine[1:], theirs[1:]):
            assert [v is None for v in a] == [v is None for v in b]
            for u, v in zip(a, b):
                if v is not None:
                    np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def test_module_hooks_remove_prepend_kwargs_and_always_call():
    """Handles remove hooks, prepend puts a hook first, with_kwargs hands the keyword
    arguments, always_call runs a hook when forward raises; a full backward hook on a module
    whose inputs need no gradient fires with grad_input all None (and warns), as PyTorch's;
    a step pre-hook of the wrong kind is refused."""
    import tensorgrad as tg

    for lib in (torch, tg):
        calls = []

        class Scale(lib.nn.Module):
            def forward(self, x, *, factor=2.0):
                if factor < 0:
                    raise ValueError("negative")
                return x * factor

        m = Scale()
        h1 = m.register_forward_hook(lambda mod, args, out: calls.append("a"))
        m.register_forward_hook(lambda mod, args, out: calls.append("b"), prepend=True)
        m.register_forward_hook(lambda mod, args, kwargs, out: calls.append(kwargs["factor"]),
                                with_kwargs=True)
        m.register_forward_hook(lambda mod, args, out: calls.append(out), always_call=True)
        m(lib.ones(2), factor=3.0)
        h1.remove()
        with pytest.raises(ValueError):
            m(lib.ones(2), factor=-1.0)
        assert calls[:3] == ["b", "a", 3.0] and calls[4:] == [None], lib.__name__
        lin = lib.nn.Linear(2, 1)
        got = []
        lin.register_full_backward_hook(lambda mod, gi, go: got.append((gi, go[0].shape)))
        with pytest.warns(UserWarning, match="no inputs require gradients"):
            lin(lib.ones(3, 2)).sum().backward()
        assert got[0][0] == (None,) and tuple(got[0][1]) == (3, 1)
        opt = lib.optim.SGD(lin.parameters(), lr=0.1)
        opt.register_step_pre_hook(lambda o, args, kwargs: "bad")
        with pytest.raises(RuntimeError, match="new_args, new_kwargs"):
            opt.step()


def test_full_backward_hook_derivatives_by_finite_differences():
    """The identity nodes the hooks hang on are differentiable in both modes: a hooked
    module's function passes check_grads to second order, and create_graph's
    Hessian-vector product through it equals PyTorch's."""
    import tensorgrad as tg

    lin = tg.nn.Linear(3, 3).double()
    lin.register_full_backward_hook(lambda m, gi, go: None)
    lin.register_forward_hook(lambda m, args, out: None)

    def f(x):
        return tg.tanh(lin(x * x)).sum()

    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((2, 3))
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tg.tensor(x0))
    tlin = torch.nn.Linear(3, 3).double()
    tlin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in lin.state_dict().items()})
    tlin.register_full_backward_hook(lambda m, gi, go: None)
    v = rng.standard_normal((2, 3))
    hvps = []
    for lib, model in ((torch, tlin), (tg, lin)):
        x = lib.tensor(x0, requires_grad=True)
        (g,) = lib.autograd.grad(lib.tanh(model(x * x)).sum(), x, create_graph=True)
        (h,) = lib.autograd.grad((g * lib.tensor(v)).sum(), x)
        hvps.append(np.array(h.tolist()))
    np.testing.assert_allclose(hvps[1], hvps[0], rtol=1e-12, atol=1e-14)


def test_optimizer_step_hooks_as_torch():
    """Fix: optimizers had no register_step_pre_hook / register_step_post_hook. As
    PyTorch's: hooks get (optimizer, args, kwargs) with the optimizer first in args, a
    pre-hook may return new (args, kwargs) (here: a closure), post-hooks run after the
    update, handles remove them."""
    import tensorgrad as tg

    def rounded(values):  # the two Adams agree to rounding
        return np.round(values, 12).tolist()

    results = []
    for lib in (torch, tg):
        w = lib.tensor([1.0, -2.0], dtype=lib.float64, requires_grad=True)
        opt = lib.optim.Adam([w], lr=0.1)
        log = []

        def closure():
            opt.zero_grad()
            loss = (w ** 2).sum()
            loss.backward()
            return loss

        def pre(o, args, kwargs):
            log.append(("pre", len(args), args[0] is o, rounded(w.tolist())))
            return (args, {"closure": closure}) if not kwargs else None

        def post(o, args, kwargs):
            log.append(("post", sorted(kwargs), rounded(w.tolist())))

        opt.register_step_pre_hook(pre)
        handle = opt.register_step_post_hook(post)
        losses = [opt.step().item(), opt.step().item()]
        handle.remove()
        losses.append(opt.step(closure=closure).item())
        results.append((log, rounded(losses), rounded(w.tolist())))
    assert results[1] == results[0]
