"""A ninth round of real PyTorch programs run on tensorgrad with only the module swapped.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights and buffers), each program is
``program(torch, steps, init, device="cpu")``: a DDPM training step and reverse sampler, neural
style transfer fitted by L-BFGS with a strong-Wolfe line search, a PointNet / Deep Sets
classifier, and a CLIP-like dual encoder with a learnable temperature. All run in float64 and
must equal PyTorch's trajectory (every reported number) and final parameters and buffers to
rounding.

Randomness both runs share (data, diffusion timesteps and noise, sampling noise) is drawn
inside each program from its own ``np.random.default_rng(seed)`` with a fixed seed, outside
either library, and passed in as tensors, in the same order on both runs. No program calls a
library's own random generator after ``init`` has copied PyTorch's weights.
"""

import math

import numpy as np
import pytest
from test_ported_programs import check_program

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def ddpm_program(torch, steps, init, device="cpu"):
    """A DDPM: a linear beta schedule (torch.linspace), alphas_cumprod by torch.cumprod and
    the posterior variance (alphas_cumprod_prev by F.pad) kept in register_buffer'd buffers;
    timesteps and noise from NumPy, x_t = sqrt(a_bar_t) x0 + sqrt(1 - a_bar_t) eps gathered per
    sample, a sinusoidal time embedding (exp, arange, cat of sin and cos) through an MLP, a
    small conv net with GroupNorm and SiLU whose hidden channels are shifted by the embedding,
    MSE to eps; AdamW. Then three reverse sampling steps from fixed noise in an
    @torch.inference_mode() method, the result clamped to [-1, 1] in place by clamp_ (in
    inference mode too).
    Reports each training loss, the sampled images' values and whether they require grad."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(90)
    T, n, ch, emb_dim = 20, 4, 8, 8
    x0 = torch.tensor(np.tanh(rng.standard_normal((n, 1, 6, 6)))).to(device)
    def extract(a, t, x_shape):  # the per-sample gather of the reference implementations
        return a.gather(-1, t).reshape(t.shape[0], *((1,) * (len(x_shape) - 1)))

    def time_embedding(t, dim=emb_dim):
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64,
                                                            device=t.device) / (half - 1))
        args = t.to(torch.float64)[:, None] * freqs[None, :]
        return torch.cat((args.sin(), torch.cos(args)), dim=-1)

    class Denoiser(nn.Module):
        def __init__(self):
            super().__init__()
            self.time_mlp = nn.Sequential(nn.Linear(emb_dim, ch), nn.SiLU(), nn.Linear(ch, ch))
            self.conv_in = nn.Conv2d(1, ch, 3, padding=1)
            self.norm1 = nn.GroupNorm(2, ch)
            self.conv_mid = nn.Conv2d(ch, ch, 3, padding=1)
            self.norm2 = nn.GroupNorm(4, ch)
            self.conv_out = nn.Conv2d(ch, 1, 3, padding=1)

        def forward(self, x, t):
            emb = self.time_mlp(time_embedding(t))
            h = F.silu(self.norm1(self.conv_in(x)))
            h = h + emb[:, :, None, None]
            h = F.silu(self.norm2(self.conv_mid(h)))
            return self.conv_out(h)

    class GaussianDiffusion(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Denoiser()
            betas = torch.linspace(1e-4, 0.2, T, dtype=torch.float64)
            alphas = 1.0 - betas
            alphas_cumprod = torch.cumprod(alphas, dim=0)
            alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
            self.register_buffer("betas", betas)
            self.register_buffer("alphas", alphas)
            self.register_buffer("alphas_cumprod", alphas_cumprod)
            self.register_buffer("posterior_variance",
                                 betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod))

        def forward(self, x0, t, eps):
            a_bar = extract(self.alphas_cumprod, t, x0.shape)
            x_t = torch.sqrt(a_bar) * x0 + torch.sqrt(1 - a_bar) * eps
            return F.mse_loss(self.model(x_t, t), eps)

        @torch.inference_mode()
        def p_sample(self, x, step, z):
            t = torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
            eps_hat = self.model(x, t)
            coef = extract(self.betas, t, x.shape) / torch.sqrt(
                1 - extract(self.alphas_cumprod, t, x.shape))
            mean = (x - coef * eps_hat) / torch.sqrt(self.alphas[step])
            return mean + torch.sqrt(extract(self.posterior_variance, t, x.shape)) * z

    model = GaussianDiffusion().double()
    init(model)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    out = []
    for _ in range(steps):
        t = torch.tensor(rng.integers(0, T, size=n)).to(device)
        eps = torch.tensor(rng.standard_normal((n, 1, 6, 6))).to(device)
        opt.zero_grad()
        loss = model(x0, t, eps)
        loss.backward()
        opt.step()
        out.append(loss.item())
    model.eval()
    x = torch.tensor(rng.standard_normal((2, 1, 6, 6))).to(device)
    for step in reversed(range(T - 3, T)):
        x = model.p_sample(x, step, torch.tensor(rng.standard_normal((2, 1, 6, 6))).to(device))
    with torch.inference_mode():  # x is an inference tensor: PyTorch refuses clamp_ outside
        x.clamp_(-1.0, 1.0)
    out.append(float(x.requires_grad))
    out += x.flatten().tolist()
    return out, model


def style_program(torch, steps, init, device="cpu"):
    """Neural style transfer: two fixed random conv layers (requires_grad_(False)) extract
    features, Gram matrices by torch.bmm and torch.einsum, a content loss at the deeper layer
    and style losses at both; the image itself (an nn.Parameter) is optimized by
    LBFGS(line_search_fn="strong_wolfe") with a closure, and clamped to [0, 1] under no_grad
    with clamp_ after each step; ImageNet mean/std normalization from buffers. Reports every
    closure's losses, each step's return and image sum, and the optimizer's func_evals and
    n_iter counters from its state_dict."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(91)
    content = torch.tensor(rng.random((1, 3, 8, 8))).to(device)
    style = torch.tensor(rng.random((1, 3, 8, 8))).to(device)

    class Styled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
            self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
            self.image = nn.Parameter(torch.zeros(1, 3, 8, 8, dtype=torch.float64))
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(-1, 1, 1))
            for layer in (self.conv1, self.conv2):
                layer.requires_grad_(False)

        def features(self, x):
            x = (x - self.mean) / self.std  # the tutorial's Normalization layer
            f1 = F.relu(self.conv1(x))
            f2 = F.relu(self.conv2(F.avg_pool2d(f1, 2)))
            return f1, f2

    def gram_bmm(f):
        b, c, h, w = f.shape
        flat = f.view(b, c, h * w)
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)

    def gram_einsum(f):
        b, c, h, w = f.shape
        return torch.einsum("bchw,bdhw->bcd", f, f) / (c * h * w)

    model = Styled().double()
    init(model)
    model.to(device)
    with torch.no_grad():
        model.image.copy_(content)
        target_content = model.features(content)[1].detach()
        target_styles = [gram_bmm(f).detach() for f in model.features(style)]
    opt = torch.optim.LBFGS([model.image], lr=1, max_iter=4, history_size=5,
                            line_search_fn="strong_wolfe")
    out = []

    def closure():
        opt.zero_grad()
        f1, f2 = model.features(model.image)
        content_loss = 1e2 * F.mse_loss(f2, target_content)
        style_loss = 1e6 * (F.mse_loss(gram_bmm(f1), target_styles[0])
                            + F.mse_loss(gram_einsum(f2), target_styles[1]))
        loss = content_loss + style_loss
        loss.backward()
        out.extend([content_loss.item(), style_loss.item()])
        return loss

    for _ in range(steps):
        out.append(opt.step(closure).item())
        with torch.no_grad():
            model.image.clamp_(0, 1)
        out.append(model.image.sum().item())
    lbfgs_state = opt.state_dict()["state"][0]
    out += [lbfgs_state["func_evals"], lbfgs_state["n_iter"]]
    out.append(float(model.conv1.weight.grad is None))
    return out, model


def pointnet_program(torch, steps, init, device="cpu"):
    """A PointNet / Deep Sets classifier: a T-Net (Conv1d, max over points, a Linear plus
    torch.eye(3).repeat) predicts a 3x3 transform applied by torch.bmm, with the orthogonality
    regularizer ||I - A A^T||_F (torch.linalg.norm over dims (1, 2)); a shared per-point MLP
    as Conv1d(kernel_size=1) with BatchNorm1d and ReLU, a symmetric readout of the max over
    points (torch.max(dim=2).values) and the mean, a linear classifier, cross entropy; SGD
    with momentum and StepLR. Reports the loss, accuracy and learning rate of each step and the
    permutation-invariance gap of the final model in eval mode."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(92)
    n, n_points, n_classes = 8, 10, 3
    points = torch.tensor(rng.standard_normal((n, 3, n_points))).to(device)
    labels = torch.tensor(rng.integers(0, n_classes, size=n)).to(device)
    perm = torch.tensor(rng.permutation(n_points)).to(device)

    class TNet(nn.Module):  # predicts a 3x3 transform, started at the identity
        def __init__(self, k=3):
            super().__init__()
            self.k = k
            self.conv = nn.Conv1d(k, 8, 1)
            self.fc = nn.Linear(8, k * k)

        def forward(self, x):
            h = torch.max(F.relu(self.conv(x)), 2, keepdim=True)[0].view(-1, 8)
            identity = torch.eye(self.k, dtype=x.dtype, device=x.device).repeat(x.shape[0], 1, 1)
            return self.fc(h).view(-1, self.k, self.k) + identity

    class PointNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.tnet = TNet()
            self.mlp = nn.Sequential(nn.Conv1d(3, 16, kernel_size=1), nn.BatchNorm1d(16),
                                     nn.ReLU(), nn.Conv1d(16, 16, kernel_size=1), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, n_classes))

        def forward(self, x):
            transform = self.tnet(x)
            x = torch.bmm(transform, x)
            h = self.mlp(x)
            pooled = torch.cat([torch.max(h, dim=2).values, h.mean(dim=2)], dim=1)
            eye = torch.eye(3, dtype=x.dtype, device=x.device)
            regularizer = torch.linalg.norm(eye - torch.bmm(transform, transform.transpose(1, 2)),
                                            dim=(1, 2)).mean()
            return self.head(pooled), regularizer

    model = PointNet().double()
    init(model)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    out = []
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        logits, regularizer = model(points)
        loss = F.cross_entropy(logits, labels) + 0.01 * regularizer
        loss.backward()
        opt.step()
        sched.step()
        accuracy = (logits.argmax(dim=1) == labels).double().mean()
        out += [loss.item(), accuracy.item(), sched.get_last_lr()[0]]
    model.eval()
    with torch.no_grad():
        gap = (model(points)[0] - model(points[:, :, perm])[0]).abs().max()
    out.append(gap.item())
    return out, model


def clip_program(torch, steps, init, device="cpu"):
    """A CLIP-like dual encoder: an image MLP and a text encoder (Embedding, mean over tokens,
    a Linear), both projected and F.normalize'd, a learnable logit_scale started at
    log(1/0.07), exponentiated and clamped to [13.3, 100] (the floor is reached, so one step's
    scale gradient is zero and Adam's momentum carries on); logits = scale * img @ txt.T, a
    symmetric cross entropy over the similarity matrix and its transpose; Adam, after which
    the parameter itself is clamped in place under no_grad, as OpenAI's training loop does
    through ``.data`` (tensorgrad's ``.data`` is the backend array by design, DESIGN.md).
    Reports the loss, the scale and the image-to-text accuracy of each step."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(93)
    n, d_img, vocab, length, d = 6, 10, 12, 5, 4
    images = torch.tensor(rng.standard_normal((n, d_img))).to(device)
    tokens = torch.tensor(rng.integers(0, vocab, size=(n, length))).to(device)

    class CLIP(nn.Module):
        def __init__(self):
            super().__init__()
            self.image_encoder = nn.Sequential(nn.Linear(d_img, 16), nn.GELU(),
                                               nn.Linear(16, d))
            self.token_embedding = nn.Embedding(vocab, 8)
            self.text_proj = nn.Linear(8, d, bias=False)
            self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))  # as in CLIP

        def forward(self, images, tokens):
            img = F.normalize(self.image_encoder(images), dim=-1)
            txt = F.normalize(self.text_proj(self.token_embedding(tokens).mean(dim=1)), dim=-1)
            scale = self.logit_scale.exp().clamp(min=13.3, max=100)  # the floor bites
            logits = scale * img @ txt.t()
            return logits, scale

    model = CLIP().double()
    init(model)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    targets = torch.arange(n, device=images.device)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        logits, scale = model(images, tokens)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)) / 2
        loss.backward()
        opt.step()
        with torch.no_grad():  # (OpenAI's loop writes logit_scale.data.clamp_; see the note)
            model.logit_scale.clamp_(0, math.log(100))
        accuracy = (logits.argmax(dim=1) == targets).double().mean()
        out += [loss.item(), scale.item(), accuracy.item()]
    return out, model


PROGRAMS = {"ddpm": (ddpm_program, 4), "style": (style_program, 3),
            "pointnet": (pointnet_program, 4), "clip": (clip_program, 4)}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and every other number it reports: samples, accuracies, learning
    rates, scales) and its final parameters and buffers equal PyTorch's, with model and data
    moved by ``.to(device)``."""
    check_program(PROGRAMS, name, device)


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: the DDPM loss moves and the clamp of its samples
    is active; L-BFGS lowers the style loss tenfold and the clamp is active; PointNet's loss
    falls and its learning rate halves; the CLIP loss falls and its scale floor is reached."""
    def run(name):
        torch.manual_seed(0)  # as in test_program_matches_torch
        program, steps = PROGRAMS[name]
        return program(torch, steps, lambda model: None)

    ddpm, _ = run("ddpm")
    assert len(set(ddpm[:4])) == 4 and ddpm[4] == 0.0  # losses moved; samples need no grad
    assert 1.0 in ddpm[5:] and -1.0 in ddpm[5:] and len(set(ddpm[5:])) > 30  # clamped
    style, model = run("style")
    assert style[-1] == 1.0  # the fixed feature layers got no gradient
    assert style[-3] == 15 and style[-2] > 3 * 3  # 5 closure calls (max_eval) a step, and
    # the strong-Wolfe search sometimes took a step without a second evaluation
    returns = style[10:36:12]  # each step: 5 closures' two losses, its return, the image sum
    assert returns[-1] < 0.1 * returns[0]  # L-BFGS lowered the loss tenfold
    image = model.image.detach()
    assert (image == 0).any() and (image == 1).any()  # clamp_ was active at both bounds
    pointnet, _ = run("pointnet")
    assert pointnet[9] < pointnet[0] and pointnet[2] == 0.1 and pointnet[5] == 0.05
    assert pointnet[-1] < 1e-12  # max and mean pooling are permutation invariant
    clip, _ = run("clip")
    assert clip[9] < clip[0] and clip[1] != clip[4]
    assert 13.3 in clip[1::3]  # the clamp was active
