"""A fifth round of real PyTorch programs run on tensorgrad with only the import changed.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights), each program is
``program(torch, steps, init, device="cpu")``: a small Vision Transformer, a U-Net for
segmentation, and a Conv1d + bidirectional GRU classifier with attention pooling and an EMA of
its weights. All run in float64 and must equal PyTorch's trajectory and final state to rounding.
"""

import functools
import math

import numpy as np
import pytest
from devices import against_torch, host
from test_ported_programs import assert_program_matches, run_both

import tensorgrad as tg

torch = pytest.importorskip("torch")

STEPS = 4


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def vit_program(torch, steps, init, device="cpu", schedule="sequential"):
    """A small Vision Transformer: patch embedding by a Conv2d whose stride is the patch size,
    a learned cls token (zeros, then trunc_normal_) and learned positions, a pre-norm GELU
    TransformerEncoder, LayerNorm + Linear head on the cls token; CrossEntropyLoss with label
    smoothing, AdamW with two param groups (no decay for biases, norms, cls token and positions,
    chosen by name and ndim), linear warmup then cosine by SequentialLR(LinearLR,
    CosineAnnealingLR) or by one LambdaLR, clip_grad_norm_; evaluation in eval mode under
    inference_mode; one more step on larger images, the position embeddings resized bicubically
    in the forward pass. Reports the loss, the gradient norm and both groups' learning rates of
    each step, the evaluation loss, accuracy and probabilities, and the last step's loss and
    position-embedding gradient norm."""
    nn = torch.nn
    rng = np.random.default_rng(50)
    batch, size, patch, d, classes = 4, 8, 4, 16, 3
    images = torch.tensor(rng.standard_normal((batch, 3, size, size))).to(device)
    labels = torch.tensor(rng.integers(0, classes, size=batch)).to(device)
    grid = size // patch
    n_patches = grid * grid
    big_images = torch.tensor(rng.standard_normal((batch, 3, 12, 12))).to(device)

    def resample_pos_embed(pos_embed, new_grid):
        """The grid's position embeddings resized bicubically (a ViT run at another image
        size, as timm's resample_abs_pos_embed); the cls token's position kept."""
        cls_pos, grid_pos = pos_embed[:, :1], pos_embed[:, 1:]
        grid_pos = grid_pos.reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        grid_pos = torch.nn.functional.interpolate(grid_pos, size=new_grid, mode="bicubic",
                                                   align_corners=False)
        grid_pos = grid_pos.permute(0, 2, 3, 1).flatten(1, 2)
        return torch.cat([cls_pos, grid_pos], dim=1)

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_embed = nn.Conv2d(3, d, kernel_size=patch, stride=patch)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
            self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 1, d))
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            nn.init.normal_(self.pos_embed, std=0.02)
            layer = nn.TransformerEncoderLayer(d, nhead=2, dim_feedforward=32, dropout=0.0,
                                               activation="gelu", batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=2,
                                                 enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, classes)

        def forward(self, x):
            x = self.patch_embed(x)
            new_grid = tuple(x.shape[-2:])
            x = x.flatten(2).transpose(1, 2)  # (B, N, d)
            pos = self.pos_embed
            if new_grid != (grid, grid):  # another image size (timm's dynamic_img_size)
                pos = resample_pos_embed(pos, new_grid)
            cls = self.cls_token.expand(x.shape[0], -1, -1)
            x = torch.cat((cls, x), dim=1) + pos
            x = self.encoder(x)
            return self.head(self.norm(x[:, 0]))

    model = ViT().double()
    init(model)
    model = model.to(device)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim <= 1 or name.endswith(".bias") or name in ("cls_token", "pos_embed"):
            no_decay.append(p)
        else:
            decay.append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.95))
    warmup = 2
    if schedule == "sequential":
        sched = torch.optim.lr_scheduler.SequentialLR(
            opt, [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=warmup),
                  torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - warmup,
                                                             eta_min=1e-4)],
            milestones=[warmup])
    else:
        def warmup_cosine(step):
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, steps - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    out = []
    for _ in range(steps):
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = criterion(model(images), labels)
        loss.backward()
        total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
        sched.step()
        out += [loss.item(), float(total), sched.get_last_lr()[0], sched.get_last_lr()[1]]
    model.eval()
    with torch.inference_mode():
        logits = model(images)
        accuracy = (logits.argmax(dim=-1) == labels).double().mean()
        out += [criterion(logits, labels).item(), accuracy.item()]
        out += torch.softmax(logits, dim=-1).flatten().tolist()
    # one step at 12 x 12 images: the positions reach the loss through bicubic interpolation
    model.train()
    opt.zero_grad()
    loss = criterion(model(big_images), labels)
    loss.backward()
    out += [loss.item(), model.pos_embed.grad.norm().item()]
    opt.step()
    return out, model


def unet_program(torch, steps, init, device="cpu"):
    """A two-level U-Net: Conv2d + BatchNorm2d + ReLU blocks, MaxPool2d down, ConvTranspose2d up
    at one level and bilinear F.interpolate(scale_factor=2) at the other, torch.cat skips; loss
    BCEWithLogitsLoss(pos_weight) plus a soft Dice loss; SGD with nesterov momentum and weight
    decay; ReduceLROnPlateau stepped with the loss; an evaluation pass in eval mode under
    no_grad. Reports the losses, the learning rate and the evaluation loss and probabilities."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(51)
    images = torch.tensor(rng.standard_normal((3, 2, 8, 8))).to(device)
    masks = torch.tensor((rng.random((3, 1, 8, 8)) > 0.7).astype(np.float64)).to(device)
    val_images = torch.tensor(rng.standard_normal((2, 2, 8, 8))).to(device)

    def block(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                             nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                             nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                             nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = block(2, 4)
            self.enc2 = block(4, 8)
            self.bottom = block(8, 8)
            self.pool = nn.MaxPool2d(2)
            self.up2 = nn.ConvTranspose2d(8, 8, kernel_size=2, stride=2)
            self.dec2 = block(16, 4)
            self.dec1 = block(8, 4)
            self.out = nn.Conv2d(4, 1, kernel_size=1)

        def forward(self, x):
            e1 = self.enc1(x)                       # (B, 4, 8, 8)
            e2 = self.enc2(self.pool(e1))           # (B, 8, 4, 4)
            b = self.bottom(self.pool(e2))          # (B, 8, 2, 2)
            d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
            up1 = F.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=False)
            d1 = self.dec1(torch.cat([up1, e1], dim=1))
            return self.out(d1)

    def dice_loss(logits, target, eps=1.0):
        probs = torch.sigmoid(logits)
        inter = (probs * target).sum(dim=(1, 2, 3))
        union = probs.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))
        return (1 - (2 * inter + eps) / (union + eps)).mean()

    model = UNet().double()
    init(model)
    model = model.to(device)
    bce = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0], dtype=torch.float64,
                                                       device=device))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5,
                                                       patience=0, threshold=0.5)
    out = []
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        logits = model(images)
        loss = bce(logits, masks) + dice_loss(logits, masks)
        loss.backward()
        opt.step()
        sched.step(loss.detach())  # the metric as a 0-d tensor, on the device
        out += [loss.item(), opt.param_groups[0]["lr"]]
    model.eval()
    with torch.no_grad():
        logits = model(images)
        out.append((bce(logits, masks) + dice_loss(logits, masks)).item())
        out += torch.sigmoid(model(val_images)).flatten().tolist()
    return out, model


def gru_program(torch, steps, init, device="cpu"):
    """A sequence classifier over padded variable-length sequences: pad_sequence, Conv1d over
    time, a bidirectional GRU over pack_padded_sequence(enforce_sorted=False), pad_packed_sequence,
    additive attention pooling with padded positions masked to -inf before softmax; gradient
    accumulation over two micro-batches, Adam under CosineAnnealingWarmRestarts, and an EMA of
    the weights by swa_utils.AveragedModel, once with get_ema_multi_avg_fn and once with a custom
    avg_fn. Reports the loss, the learning rate and the EMA models' losses; the EMA models'
    parameters are compared as well (returned as submodules of the returned module)."""
    nn = torch.nn
    F = torch.nn.functional
    rnn_utils = torch.nn.utils.rnn
    swa_utils = torch.optim.swa_utils
    rng = np.random.default_rng(52)
    features, classes = 3, 4
    lengths = [5, 3, 7, 2, 6, 4]
    seqs = [torch.tensor(rng.standard_normal((n, features))).to(device) for n in lengths]
    labels = torch.tensor(rng.integers(0, classes, size=len(lengths))).to(device)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(features, 6, kernel_size=3, padding=1)
            self.gru = nn.GRU(6, 5, batch_first=True, bidirectional=True)
            self.att_proj = nn.Linear(10, 8)
            self.att_score = nn.Linear(8, 1, bias=False)
            self.head = nn.Linear(10, classes)

        def forward(self, padded, lengths):
            h = F.relu(self.conv(padded.transpose(1, 2))).transpose(1, 2)  # (B, T, 6)
            packed = rnn_utils.pack_padded_sequence(h, lengths, batch_first=True,
                                                    enforce_sorted=False)
            out, _ = self.gru(packed)
            out, _ = rnn_utils.pad_packed_sequence(out, batch_first=True,
                                                   total_length=padded.shape[1])
            scores = self.att_score(torch.tanh(self.att_proj(out))).squeeze(-1)  # (B, T)
            positions = torch.arange(padded.shape[1], device=padded.device)
            mask = positions.unsqueeze(0) >= lengths.to(padded.device).unsqueeze(1)
            weights = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=1)
            pooled = torch.bmm(weights.unsqueeze(1), out).squeeze(1)
            return self.head(pooled)

    class All(nn.Module):  # carries the EMA copies so their state is compared as well
        def __init__(self, model, ema, ema_fn):
            super().__init__()
            self.model = model
            self.ema = ema
            self.ema_fn = ema_fn

    model = Classifier().double()
    init(model)
    model = model.to(device)
    ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.8))

    def ema_avg(averaged, current, num_averaged):
        return 0.7 * averaged + 0.3 * current

    ema_fn = swa_utils.AveragedModel(model, avg_fn=ema_avg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2,
                                                                 eta_min=1e-3)
    micro = [slice(0, 3), slice(3, 6)]
    out = []
    for step in range(steps):
        model.train()
        opt.zero_grad()
        total = 0.0
        for part in micro:
            batch_seqs = seqs[part]
            padded = rnn_utils.pad_sequence(batch_seqs, batch_first=True)
            lens = torch.tensor([s.shape[0] for s in batch_seqs])
            loss = F.cross_entropy(model(padded, lens), labels[part]) / len(micro)
            loss.backward()
            total += loss.item()
        opt.step()
        epoch, i = divmod(step, 2)  # two optimizer steps an epoch, fractional epochs
        sched.step(epoch + i / 2)
        ema.update_parameters(model)
        ema_fn.update_parameters(model)
        ema.eval()
        ema_fn.eval()
        with torch.no_grad():
            padded = rnn_utils.pad_sequence(seqs, batch_first=True)
            lens = torch.tensor(lengths)
            ema_loss = F.cross_entropy(ema(padded, lens), labels)
            ema_fn_loss = F.cross_entropy(ema_fn(padded, lens), labels)
        out += [total, sched.get_last_lr()[0], ema_loss.item(), ema_fn_loss.item()]
    return out, All(model, ema, ema_fn)


PROGRAMS = {"vit": vit_program, "vit-lambda": functools.partial(vit_program, schedule="lambda"),
            "unet": unet_program, "gru": gru_program}


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and the other numbers it reports) and final parameters and
    buffers equal PyTorch's, with model and data moved by ``.to(device)``."""
    torch.manual_seed(0)
    run = run_both(PROGRAMS[name], steps=STEPS, device=device)
    # state atol: the attention's key biases have a gradient of zero in exact arithmetic (a
    # shift of every score of a row), so they hold only rounding noise of about 1e-12
    assert_program_matches(run, device, rtol=1e-10, state_rtol=1e-10)
    assert math.isfinite(sum(run[1]))


def test_programs_are_not_vacuous():
    """What the comparisons rely on happens: the ViT's gradients exceed the clipping norm and
    its last step's positions get a gradient through the bicubic resize, the U-Net's plateau
    scheduler lowers the learning rate, and the two EMAs differ from each other and lag the
    model."""
    torch.manual_seed(0)
    want, _, _, theirs = run_both(vit_program, steps=STEPS)
    assert min(want[1:4 * STEPS:4]) > 1.0 and want[-1] > 0
    want, _, _, _ = run_both(unet_program, steps=STEPS)
    assert want[2 * STEPS - 1] < want[1]
    want, _, theirs, _ = run_both(gru_program, steps=STEPS)
    assert want[-1] != want[-2]
    for key, value in theirs.items():
        if key.startswith("model."):
            ema = theirs["ema.module." + key[len("model."):]]
            assert not np.allclose(ema, value, rtol=1e-6), key


# ---------------------------------------------------------------------------------------------
# the gaps the programs found, each fixed and tested on its own


_X = np.random.default_rng(60).standard_normal((2, 3, 4, 5)) * 3


@pytest.mark.parametrize("build", [
    "nn.ReLU(inplace=True)", "nn.ReLU(True)", "nn.SiLU(inplace=True)",
    "nn.Softplus(beta=2.0, threshold=1.0)", "nn.Softplus(0.5, 2.0)", "nn.Softplus()",
    "nn.Dropout(0.0, inplace=True)", "nn.Dropout(p=0.3, inplace=False).eval()",
    "nn.Upsample(scale_factor=2, mode='bicubic')"])
def test_activation_modules_take_torchs_arguments(build, device):
    """Fix: nn.ReLU(inplace=True) (the U-Net's blocks), nn.SiLU(inplace=True), nn.Softplus(beta,
    threshold) and nn.Dropout(p, inplace=True) raised TypeError (their constructors took no
    arguments, or only ``p``). They take PyTorch's arguments, positional or keyword, give
    PyTorch's values, gradients and repr; ``inplace`` is accepted and ignored, as tensorgrad's
    other activations do."""
    theirs = eval(build, {"nn": torch.nn})
    ours = eval(build, {"nn": tg.nn})
    assert repr(ours) == repr(theirs)
    # a non-leaf input: PyTorch's in-place forms refuse a leaf that requires grad
    against_torch(device, lambda x: ours(x * 1), lambda x: theirs(x * 1), [_X], grad_args=(0,))


@pytest.mark.parametrize("fn", ["relu", "silu"])
def test_functional_relu_silu_take_inplace(fn, device):
    """Fix: F.relu(x, inplace=True) and F.silu(x, inplace=True) raised TypeError; they give
    PyTorch's values and gradients (``inplace`` accepted and ignored)."""
    ours, theirs = getattr(tg.nn.functional, fn), getattr(torch.nn.functional, fn)
    against_torch(device, lambda x: ours(x * 1, inplace=True),
                  lambda x: theirs(x * 1, inplace=True), [_X], grad_args=(0,))
    against_torch(device, lambda x: ours(x, False), lambda x: theirs(x, False), [_X],
                  grad_args=(0,))


@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 1.0), (0.5, 3.0), (1.0, 0.0)])
def test_softplus_threshold(beta, threshold, device):
    """Fix: F.softplus ignored ``threshold``: PyTorch returns x itself (gradient 1) where
    beta x > threshold; ours gave log(1 + exp(beta x)) / beta there (off by up to
    log(1 + e^-threshold) / beta, 2e-9 at the default 20 and 0.3 at threshold=1).
    binary_cross_entropy_with_logits keeps the exact softplus (PyTorch's log-sigmoid)."""
    x = np.concatenate([_X.ravel(), [-40.0, -21.0, 19.0, 20.5, 25.0, 40.0, 700.0]])
    F_ours, F_torch = tg.nn.functional, torch.nn.functional
    out, ref = against_torch(device, lambda v: F_ours.softplus(v, beta, threshold),
                             lambda v: F_torch.softplus(v, beta, threshold), [x],
                             grad_args=(0,), rtol=1e-12, atol=1e-15)
    # atol: the gradient sigmoid(beta x) of far negative inputs is tanh-based in tensorgrad,
    # exact to 1e-16 absolutely, not relatively. Where the threshold applies, x exactly:
    assert np.array_equal(host(out)[beta * x > threshold], x[beta * x > threshold])
    away = x[np.abs(beta * x - threshold) > 0.1]  # the kink at the threshold left out
    tg.check_grads(lambda v: F_ours.softplus(v, beta, threshold), modes=("fwd", "rev"),
                   order=2)(tg.tensor(away))
    target = (np.arange(x.size) % 3) / 2.0
    against_torch(device, F_ours.binary_cross_entropy_with_logits,
                  F_torch.binary_cross_entropy_with_logits, [x[:-1] / 2, target[:-1]],
                  grad_args=(0,), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("resize", [dict(size=(7, 9)), dict(scale_factor=2),
                                    dict(scale_factor=(1.5, 0.5)), dict(size=(3, 2)),
                                    dict(size=(1, 1)), dict(scale_factor=(0.7, 1.3),
                                                            recompute_scale_factor=True)])
def test_interpolate_bicubic(resize, align_corners, device):
    """Fix: F.interpolate(mode="bicubic") (resizing a ViT's position embeddings to another
    image size) raised ValueError. It is PyTorch's cubic convolution (a = -0.75, unclamped
    source positions, borders replicated), up and down, with or without align_corners: its
    values and gradients equal PyTorch's."""
    def run(F):
        return lambda v: F.interpolate(v, mode="bicubic", align_corners=align_corners,
                                       **resize)

    against_torch(device, run(tg.nn.functional), run(torch.nn.functional), [_X], grad_args=(0,))


def test_interpolate_bicubic_derivatives_and_errors():
    x = tg.tensor(_X[:1, :2])
    F = tg.nn.functional
    tg.check_grads(lambda v: F.interpolate(v, size=(5, 7), mode="bicubic"),
                   modes=("fwd", "rev"), order=2)(x)
    with pytest.raises(ValueError, match=r"mode 'bicubic' needs a 4-D input"):
        F.interpolate(tg.tensor(_X[0]), scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="antialias=True takes the bilinear, bicubic"):
        F.interpolate(x, scale_factor=2, mode="nearest", antialias=True)
