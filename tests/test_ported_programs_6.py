"""A sixth round of real PyTorch programs run on tensorgrad with only the import changed.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and the same Normal noise),
each program is ``program(torch, steps, init, device="cpu")``: DQN on a small grid world,
advantage actor-critic with GAE, second-order MAML on sine regression, and a mixture density
network. All run in float64 and must equal PyTorch's trajectory and final parameters to
rounding. Where a program makes random choices (exploration, sampled actions, replay batches,
tasks) it draws them from its own ``np.random.default_rng(seed)``, so both runs see the same
draws; the mixture's ``.sample()`` runs under ``shared_sampling`` (below).
"""

import contextlib
import copy
import math

import numpy as np
import pytest
from devices import host, on
from test_ported_programs import assert_program_matches, run_both

import tensorgrad as tg

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def dqn_program(torch, steps, init, device="cpu"):
    """DQN on a deterministic 3x3 grid world (start top-left, goal bottom-right, -0.05 a move,
    +1 and done at the goal): a replay buffer of preallocated tensors written row by row and
    read by a batch of integer indices, Q(s).gather(1, a.unsqueeze(1)), a target network made
    by copy.deepcopy and refreshed by load_state_dict(state_dict()) every 4 steps, the target
    max over next states by .max(1).values.detach(), a done mask, smooth_l1_loss, Adam and
    clip_grad_value_. Epsilon-greedy coins, random actions and replay indices come from the
    program's own NumPy generator (seed 30), drawn every step whatever is chosen, so both
    runs see the same stream. Reports each action and whether it was greedy; for each update
    the loss, the largest gradient before clipping and the number of terminal transitions in
    the batch; and at the end the target network's Q table."""
    nn = torch.nn
    F = torch.nn.functional
    size, n_actions, capacity, batch, gamma, refresh = 3, 4, 32, 6, 0.9, 4
    n_states = size * size
    moves = [(-1, 0), (1, 0), (0, -1), (0, 1)]

    def env_step(s, a):
        r, c = divmod(s, size)
        r = min(max(r + moves[a][0], 0), size - 1)
        c = min(max(c + moves[a][1], 0), size - 1)
        s2 = r * size + c
        done = s2 == n_states - 1
        return s2, (1.0 if done else -0.05), done

    eye = torch.eye(n_states, dtype=torch.float64).to(device)
    q_net = nn.Sequential(nn.Linear(n_states, 16), nn.ReLU(), nn.Linear(16, n_actions)).double()
    init(q_net)
    q_net.to(device)
    target_net = copy.deepcopy(q_net)
    target_net.eval()
    opt = torch.optim.Adam(q_net.parameters(), lr=1e-2)

    buf_s = torch.zeros(capacity, n_states, dtype=torch.float64, device=device)
    buf_a = torch.zeros(capacity, dtype=torch.long, device=device)
    buf_r = torch.zeros(capacity, dtype=torch.float64, device=device)
    buf_s2 = torch.zeros_like(buf_s)
    buf_done = torch.zeros(capacity, dtype=torch.bool, device=device)
    rng = np.random.default_rng(30)
    state, filled, losses = 0, 0, []
    for step in range(steps):
        eps = max(0.1, 1.0 - step / 10)
        coin, random_action = rng.random(), int(rng.integers(n_actions))
        greedy = coin >= eps
        if not greedy:
            action = random_action
        else:
            with torch.no_grad():
                action = int(q_net(eye[state].unsqueeze(0)).argmax(dim=1).item())
        next_state, reward, done = env_step(state, action)
        i = filled % capacity
        buf_s[i] = eye[state]
        buf_a[i] = action
        buf_r[i] = reward
        buf_s2[i] = eye[next_state]
        buf_done[i] = done
        filled += 1
        state = 0 if done else next_state
        losses += [float(action), float(greedy)]
        if filled >= batch:
            idx = torch.tensor(rng.integers(0, min(filled, capacity), size=batch)).to(device)
            s, a, r, s2, d = buf_s[idx], buf_a[idx], buf_r[idx], buf_s2[idx], buf_done[idx]
            q_sa = q_net(s).gather(1, a.unsqueeze(1)).squeeze(1)
            next_q = target_net(s2).max(1).values.detach()
            target = r + gamma * next_q * (~d).to(r.dtype)
            loss = F.smooth_l1_loss(q_sa, target)
            opt.zero_grad()
            loss.backward()
            largest = max(p.grad.abs().max().item() for p in q_net.parameters())
            nn.utils.clip_grad_value_(q_net.parameters(), clip_value=0.05)
            opt.step()
            losses += [loss.item(), largest, d.sum().item()]
        if step % refresh == refresh - 1:
            target_net.load_state_dict(q_net.state_dict())
    with torch.no_grad():  # the target network's last copy, read back through the program
        losses += target_net(eye).flatten().tolist()
    return losses, q_net


def a2c_program(torch, steps, init, device="cpu"):
    """Advantage actor-critic on 4 copies of a 5-cell corridor (move left, stay, right; +1 and
    done at the right end, -0.01 otherwise, by torch.where(done, 1.0, -0.01)): a shared tanh
    trunk with a policy head and a value head, Categorical(logits=...) whose log_prob of the
    taken actions, entropy bonus and probs build the loss, returns and GAE advantages by
    reversed Python loops over per-step tensors, advantages normalised by .std(),
    clip_grad_norm_, RMSprop. Actions are sampled by inverse
    CDF, ``(u > probs.cumsum(-1)).sum(-1)``, with the uniforms ``u`` from the program's own
    NumPy generator (seed 31), so both runs take the same actions. Reports the loss, its three
    parts, the mean discounted return, the bincount of the actions and the number of episodes
    ended of each update."""
    nn = torch.nn
    F = torch.nn.functional
    D = torch.distributions
    n_envs, n_pos, n_actions, horizon, gamma, lam = 4, 5, 3, 6, 0.95, 0.9

    class ActorCritic(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Sequential(nn.Linear(n_pos, 16), nn.Tanh())
            self.policy = nn.Linear(16, n_actions)
            self.value = nn.Linear(16, 1)

        def forward(self, obs):
            h = self.trunk(obs)
            return self.policy(h), self.value(h).squeeze(-1)

    model = ActorCritic().double()
    init(model)
    model.to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=5e-3, alpha=0.99, eps=1e-5)
    rng = np.random.default_rng(31)
    positions = np.zeros(n_envs, dtype=np.int64)

    def observe(positions):
        return F.one_hot(torch.tensor(positions).to(device), n_pos).to(torch.float64)

    losses = []
    for _ in range(steps):
        log_probs, values, entropies, rewards, masks, actions = [], [], [], [], [], []
        for _ in range(horizon):
            logits, value = model(observe(positions))
            dist = D.Categorical(logits=logits)
            u = torch.tensor(rng.random(n_envs)).to(device)
            action = (u.unsqueeze(-1) > dist.probs.detach().cumsum(-1)).sum(-1)
            action = action.clamp(max=n_actions - 1)
            actions.append(action)
            log_probs.append(dist.log_prob(action))
            entropies.append(dist.entropy())
            values.append(value)
            positions = np.clip(positions + np.array(action.tolist()) - 1, 0, n_pos - 1)
            done = positions == n_pos - 1
            done_t = torch.tensor(done).to(device)
            rewards.append(torch.where(done_t, 1.0, -0.01))  # float32, as PyTorch's
            masks.append((~done_t).double())
            positions = np.where(done, 0, positions)
        with torch.no_grad():
            _, next_value = model(observe(positions))
        gae = torch.zeros(n_envs, dtype=torch.float64, device=device)
        running = next_value
        advantages, returns = [None] * horizon, [None] * horizon
        for t in reversed(range(horizon)):
            following = next_value if t == horizon - 1 else values[t + 1].detach()
            delta = rewards[t] + gamma * following * masks[t] - values[t].detach()
            gae = delta + gamma * lam * masks[t] * gae
            advantages[t] = gae
            running = rewards[t] + gamma * running * masks[t]
            returns[t] = running
        advantages = torch.stack(advantages)
        value_targets = advantages + torch.stack(values).detach()
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = -(torch.stack(log_probs) * advantages).mean()
        value_loss = F.mse_loss(torch.stack(values), value_targets)
        entropy = torch.stack(entropies).mean()
        loss = policy_loss + 0.5 * value_loss - 0.01 * entropy
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        opt.step()
        losses += [loss.item(), policy_loss.item(), value_loss.item(), entropy.item(),
                   torch.stack(returns).mean().item()]
        losses += torch.bincount(torch.stack(actions).flatten(), minlength=n_actions).tolist()
        losses.append((1 - torch.stack(masks)).sum().item())
    return losses, model


def maml_program(torch, steps, init, device="cpu", second_order=True):
    """MAML on sine-wave regression (amplitude and phase drawn per task from the program's own
    NumPy generator, seed 32): for each of 3 tasks, 2 inner SGD steps on fast weights from
    torch.autograd.grad(create_graph=True) through torch.func.functional_call, the query loss
    of the adapted weights averaged into a meta-loss backpropagated through the inner loop
    (second order), Adam on the meta-parameters. Reports the meta-loss and every element of
    every meta-gradient of each step."""
    nn = torch.nn
    F = torch.nn.functional
    functional_call = torch.func.functional_call
    n_tasks, n_shots, inner_lr = 3, 5, 0.1
    model = nn.Sequential(nn.Linear(1, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(),
                          nn.Linear(12, 1)).double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(32)

    def task():
        amplitude, phase = rng.uniform(0.5, 2.0), rng.uniform(0.0, math.pi)
        x = rng.uniform(-5.0, 5.0, size=(2 * n_shots, 1))
        y = amplitude * np.sin(x + phase)
        x, y = torch.tensor(x).to(device), torch.tensor(y).to(device)
        return x[:n_shots], y[:n_shots], x[n_shots:], y[n_shots:]

    losses = []
    for _ in range(steps):
        opt.zero_grad()
        meta_loss = 0.0
        for _ in range(n_tasks):
            x_s, y_s, x_q, y_q = task()
            fast = dict(model.named_parameters())
            for _ in range(2):
                inner = F.mse_loss(functional_call(model, fast, (x_s,)), y_s)
                grads = torch.autograd.grad(inner, list(fast.values()),
                                            create_graph=second_order)
                fast = {name: w - inner_lr * g for (name, w), g in zip(fast.items(), grads)}
            meta_loss = meta_loss + F.mse_loss(functional_call(model, fast, (x_q,)), y_q)
        meta_loss = meta_loss / n_tasks
        meta_loss.backward()
        losses.append(meta_loss.item())
        for p in model.parameters():
            losses += p.grad.flatten().tolist()
        opt.step()
    return losses, model


def mdn_program(torch, steps, init, device="cpu"):
    """A mixture density network for a two-valued 2-d target of a scalar input: an MLP whose
    head is split into K=3 mixture logits, K x 2 means and K x 2 log-scales;
    MixtureSameFamily(Categorical(logits), Independent(Normal(loc, scale), 1)); the negative
    mean log_prob as loss; Adam. Reports the loss, the mixture's .mean and .variance of the
    first rows, and at the end a (2,)-shaped .sample() of the first rows (shared draws only
    under ``shared_sampling``)."""
    nn = torch.nn
    D = torch.distributions
    K, dim = 3, 2
    rng = np.random.default_rng(33)
    x = rng.uniform(-1.0, 1.0, size=(24, 1))
    branch = np.where(rng.random((24, 1)) < 0.5, 1.0, -1.0)  # two modes per input
    y = np.concatenate([branch * np.sin(3 * x), np.cos(2 * x) + 0.5 * branch], axis=1)
    y = y + 0.05 * rng.standard_normal(y.shape)
    x, y = torch.tensor(x).to(device), torch.tensor(y).to(device)

    class MDN(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 16),
                                       nn.Tanh())
            self.head = nn.Linear(16, K + 2 * K * dim)

        def forward(self, x):
            logits, loc, log_scale = self.head(self.trunk(x)).split([K, K * dim, K * dim],
                                                                    dim=-1)
            loc = loc.view(-1, K, dim)
            scale = log_scale.view(-1, K, dim).clamp(-5.0, 3.0).exp()
            return D.MixtureSameFamily(D.Categorical(logits=logits),
                                       D.Independent(D.Normal(loc, scale), 1))

    model = MDN().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(steps):
        mixture = model(x)
        loss = -mixture.log_prob(y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        losses += mixture.mean[:3].flatten().tolist() + mixture.variance[:3].flatten().tolist()
    with torch.no_grad():
        mixture = model(x[:4])
        sample = mixture.sample((2,))
    assert tuple(sample.shape) == (2, 4, dim)
    losses += sample.flatten().tolist()
    return losses, model


PROGRAMS = {"dqn": (dqn_program, 24), "a2c": (a2c_program, 4), "maml": (maml_program, 3),
            "mdn": (mdn_program, 6)}


@contextlib.contextmanager
def shared_sampling(seed=0):
    """Categorical.sample and Normal.sample draw from the same NumPy stream in both libraries
    (their generators differ): the categorical by inverse CDF of uniforms, the normal as
    ``loc + scale * z``. Each library's replacement is the same code on its own ``torch`` and
    its own generator of the same seed, so both runs see the same draws in the same order;
    what the comparison then checks is the rest of ``sample`` (shapes, expansion, and
    MixtureSameFamily's pick of one component per draw)."""

    def patched(lib):
        rng = np.random.default_rng(seed)

        def categorical_sample(self, sample_shape=()):
            shape = tuple(sample_shape) + tuple(self.batch_shape)
            u = lib.tensor(rng.random(shape), dtype=self.probs.dtype).to(self.probs.device)
            cdf = self.probs.detach().cumsum(-1)
            index = (u.unsqueeze(-1) > cdf).sum(-1)
            return index.clamp(max=self.probs.shape[-1] - 1)

        def normal_sample(self, sample_shape=()):
            shape = tuple(sample_shape) + tuple(self.batch_shape)
            z = lib.tensor(rng.standard_normal(shape), dtype=self.loc.dtype).to(self.loc.device)
            with lib.no_grad():
                return self.loc.expand(shape) + self.scale.expand(shape) * z

        return categorical_sample, normal_sample

    targets = [(lib.distributions.Categorical, lib.distributions.Normal, patched(lib))
               for lib in (torch, tg)]
    saved = [(cat.sample, norm.sample) for cat, norm, _ in targets]
    try:
        for cat, norm, (cat_sample, norm_sample) in targets:
            cat.sample, norm.sample = cat_sample, norm_sample
        yield
    finally:
        for (cat, norm, _), (cat_sample, norm_sample) in zip(targets, saved):
            cat.sample, norm.sample = cat_sample, norm_sample


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and the other numbers it reports: actions, meta-gradients,
    mixture moments and samples) and final parameters equal PyTorch's, with model and data
    moved by ``.to(device)``."""
    program, steps = PROGRAMS[name]
    torch.manual_seed(0)  # PyTorch's initial weights, copied into ours
    with shared_sampling():
        run = run_both(program, steps=steps, device=device)
    assert_program_matches(run, device, same_types=True)


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: the DQN acts both greedily and at random, clips
    some gradients and replays terminal transitions; the actor-critic takes every action and
    ends episodes; MAML's second-order meta-gradient differs from the first-order one."""
    def run(name, steps=None, **kw):
        torch.manual_seed(0)  # as in test_program_matches_torch
        program, default_steps = PROGRAMS[name]
        return program(torch, steps or default_steps, lambda model: None, **kw)[0]

    dqn, steps = run("dqn"), PROGRAMS["dqn"][1]
    # the first 5 steps report (action, greedy), each later one adds an update's 3 numbers
    assert 0.0 in dqn[1:10:2]  # random actions while epsilon is high
    updates = dqn[10:10 + 5 * (steps - 5)]
    assert len(dqn) == 10 + 5 * (steps - 5) + 9 * 4
    assert 1.0 in updates[1::5]  # greedy once epsilon fell
    assert max(updates[3::5]) > 0.05  # clip_grad_value_ acts
    assert max(updates[4::5]) >= 1  # a done mask is used
    a2c = run("a2c")
    counts = np.array([a2c[i + 5:i + 8] for i in range(0, len(a2c), 9)])
    assert (counts.sum(0) > 0).all()
    assert sum(a2c[8::9]) > 0
    second, first = run("maml", 1), run("maml", 1, second_order=False)
    assert np.abs(np.subtract(second[1:], first[1:])).max() > 0.1 * np.abs(second[1:]).max()


def _separated_mixture(lib, device):
    D = lib.distributions
    logits = lib.tensor([[0.0, 0.5, -0.5], [1.0, 0.0, 0.0]], dtype=lib.float64)
    loc = lib.tensor(np.arange(12.0).reshape(2, 3, 2) * 10, dtype=lib.float64)
    scale = lib.tensor(np.full((2, 3, 2), 0.1))
    logits, loc, scale = logits.to(device), loc.to(device), scale.to(device)
    return D.MixtureSameFamily(D.Categorical(logits=logits),
                               D.Independent(D.Normal(loc, scale), 1)), loc


def test_mixture_sample_picks_components(device):
    """The mixture's sample, under the shared draws, equals PyTorch's and draws from several
    components (their means lie 10 apart, their scales are 0.1); unpatched, ours samples on
    ``device`` with the mixture's mean and variance (which equal PyTorch's)."""
    with shared_sampling(seed=3):
        theirs, loc_t = _separated_mixture(torch, "cpu")
        ours, loc = _separated_mixture(tg, device)
        want = theirs.sample((40,))
        got = ours.sample((40,))
    assert tuple(got.shape) == (40, 2, 2) and on(got, device) and got.dtype == tg.float64
    np.testing.assert_allclose(host(got), want.numpy(), rtol=1e-12)
    nearest = np.abs(want.numpy()[:, :, None, :] - loc_t.numpy()[None]).sum(-1).argmin(-1)
    assert all(len(set(nearest[:, b])) == 3 for b in range(2))
    np.testing.assert_allclose(host(ours.mean), theirs.mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(ours.variance), theirs.variance.numpy(), rtol=1e-12)
    tg.manual_seed(0)
    draws = host(ours.sample((20000,)))
    se = np.sqrt(theirs.variance.numpy() / draws.shape[0])
    assert (np.abs(draws.mean(0) - theirs.mean.numpy()) < 5 * se).all()
    np.testing.assert_allclose(draws.var(0), theirs.variance.numpy(), rtol=0.05)


# ---------------------------------------------------------------------------------------------
# the gap the programs found, fixed and tested on its own


@pytest.mark.parametrize("a,b", [(1.0, -0.01), (1, 0), (1, 0.5), (True, False), (True, 2),
                                 (0.5, True), (1j, 0)])
def test_where_of_two_numbers(a, b, device):
    """Fix: ``torch.where(done, 1.0, -0.01)`` (rewards from a done mask in the actor-critic)
    raised "at least one argument must be a Tensor"; two numbers now give PyTorch's values and
    dtype (bool, int64, the default float or complex dtype: the higher kind of the two, so
    ``(1, 0.5)`` is float32, not NumPy's float64), on the condition's device; a tensor beside
    a number is unchanged."""
    cond = np.array([[True, False, True], [False, False, True]])
    want = torch.where(torch.tensor(cond), a, b)
    got = tg.where(tg.tensor(cond, device=device), a, b)
    assert on(got, device) and tuple(got.shape) == (2, 3)
    assert str(got.dtype) == str(want.dtype).removeprefix("torch."), (got.dtype, want.dtype)
    np.testing.assert_array_equal(host(got), want.numpy())
    previous = tg.get_default_dtype()
    tg.set_default_dtype(tg.float64)
    try:
        if isinstance(a, float) or isinstance(b, float):
            assert tg.where(tg.tensor(cond, device=device), a, b).dtype == tg.float64
    finally:
        tg.set_default_dtype(previous)
    with pytest.raises(TypeError, match="where"):
        tg.where(tg.tensor(cond, device=device), [1.0], b)
