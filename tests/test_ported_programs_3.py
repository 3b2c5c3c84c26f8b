"""A third round of real PyTorch programs run on tensorgrad with only the import changed.

As in ``test_ported_programs.py`` (whose ``run_both`` runs each program with ``torch`` and with
``tensorgrad`` passed as ``torch``, from the same initial weights), each program is
``program(torch, steps, init, device="cpu")``: a GAN with spectral-normalised discriminator, a
small ResNet with a save/load round trip in the middle of training, and a seq2seq attention
block. All run in float64 and must equal PyTorch's trajectory and final state to rounding.
"""

import io
import os
import tempfile

import numpy as np
import pytest
from devices import host, on
from test_ported_programs import assert_program_matches, run_both

import tensorgrad as tg

torch = pytest.importorskip("torch")

STEPS = 4


# ---------------------------------------------------------------------------------------------
# the programs (plain PyTorch code; only ``torch`` differs)


def gan_program(torch, steps, init, device="cpu"):
    """A GAN on a 2-d Gaussian mixture: MLP generator, MLP discriminator whose layers carry
    spectral norm (the hook form and the parametrization form), two Adams with different betas,
    BCEWithLogitsLoss, fake samples detached for the discriminator step."""
    nn = torch.nn
    rng = np.random.default_rng(20)
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0]])

    class GAN(nn.Module):
        def __init__(self):
            super().__init__()
            self.G = nn.Sequential(nn.Linear(3, 16), nn.LeakyReLU(0.2), nn.Linear(16, 2))
            self.D = nn.Sequential(
                nn.utils.spectral_norm(nn.Linear(2, 16)), nn.LeakyReLU(0.2),
                nn.utils.parametrizations.spectral_norm(nn.Linear(16, 16)), nn.Tanh(),
                nn.Linear(16, 1))

    model = GAN().double()
    init(model)
    model.to(device)
    opt_g = torch.optim.Adam(model.G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(model.D.parameters(), lr=1e-3, betas=(0.0, 0.9))
    criterion = nn.BCEWithLogitsLoss()
    out = []
    for _ in range(steps):
        real = torch.tensor(centers[rng.integers(0, 3, 8)] + 0.1 * rng.standard_normal((8, 2)))
        real = real.to(device)
        z = torch.tensor(rng.standard_normal((8, 3))).to(device)
        ones = torch.ones(8, 1, dtype=torch.float64, device=device)
        zeros = torch.zeros(8, 1, dtype=torch.float64, device=device)
        fake = model.G(z)
        opt_d.zero_grad()
        d_loss = criterion(model.D(real), ones) + criterion(model.D(fake.detach()), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = criterion(model.D(fake), ones)
        g_loss.backward()
        opt_g.step()
        out += [d_loss.item(), g_loss.item()]
    model.eval()  # eval: the spectral norms use their stored vectors without iterating
    with torch.no_grad():
        out.append(model.D(model.G(z)).sum().item())
    return out, model


def resnet_program(torch, steps, init, device="cpu"):
    """A small ResNet: conv-BN-ReLU blocks with residual adds (one with a strided 1x1
    projection), AdaptiveAvgPool2d, Dropout(p=0); SGD with nesterov and weight decay on the
    weights only (a second param group without decay for biases and norms), LambdaLR. Halfway
    through, model, optimizer and scheduler are saved, rebuilt from the files and resumed."""
    nn = torch.nn
    F = torch.nn.functional
    rng = np.random.default_rng(21)
    images = torch.tensor(rng.standard_normal((6, 3, 8, 8))).to(device)
    labels = torch.tensor(rng.integers(0, 4, size=6)).to(device)

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.short = nn.Sequential()
            if stride != 1 or c_in != c_out:
                self.short = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                           nn.BatchNorm2d(c_out))

        def forward(self, x):
            h = F.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            return F.relu(h + self.short(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
            self.layers = nn.Sequential(Block(4, 4, 1), Block(4, 8, 2))
            self.pool = nn.AdaptiveAvgPool2d((1, 1))
            self.drop = nn.Dropout(p=0.0)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            h = self.pool(self.layers(self.stem(x)))
            return self.fc(self.drop(torch.flatten(h, 1)))

    def make_optimizer(model):
        decay = [p for n, p in model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
        opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-3},
                               {"params": no_decay, "weight_decay": 0.0}],
                              lr=0.05, momentum=0.9, nesterov=True)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0 / (1.0 + epoch))
        return opt, sched

    def train_step(model, opt, sched):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        opt.step()
        sched.step()
        return loss.item()

    model = ResNet().double()
    init(model)
    model.to(device)
    opt, sched = make_optimizer(model)
    losses = [train_step(model, opt, sched) for _ in range(steps)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "checkpoint.pt")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "step": steps}, path)
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    model = ResNet().double().to(device)  # fresh weights, overwritten by the checkpoint
    opt, sched = make_optimizer(model)
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["opt"])
    sched.load_state_dict(checkpoint["sched"])
    losses.append(float(checkpoint["step"]))
    losses.append(train_step(model, opt, sched))
    losses.append(sched.get_last_lr()[0])
    model.eval()
    with torch.no_grad():
        losses.append(F.cross_entropy(model(images), labels).item())
    return losses, model


def seq2seq_program(torch, steps, init, device="cpu"):
    """A seq2seq attention block: embedded padded source and target, encoder self-attention
    under a key_padding_mask, decoder self-attention under a causal float attn_mask, cross
    attention with a boolean attn_mask and the source padding mask, LayerNorms, label-smoothed
    CrossEntropyLoss ignoring the pad; RAdam. The attention weights are compared too."""
    nn = torch.nn
    vocab, d, pad = 11, 8, 0
    rng = np.random.default_rng(22)
    src = rng.integers(1, vocab, size=(3, 6))
    src[0, 4:] = pad
    src[2, 5:] = pad
    tgt = rng.integers(1, vocab, size=(3, 6))
    tgt[1, 3:] = pad
    src = torch.tensor(src).to(device)
    tgt = torch.tensor(tgt).to(device)
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d, padding_idx=pad)
            self.enc = nn.MultiheadAttention(d, 2, batch_first=True)
            self.dec = nn.MultiheadAttention(d, 2, batch_first=True)
            self.cross = nn.MultiheadAttention(d, 2, batch_first=True, bias=False)
            self.norm1 = nn.LayerNorm(d)
            self.norm2 = nn.LayerNorm(d)
            self.norm3 = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab)

        def forward(self, src, tgt_in):
            src_pad = src == pad
            s = self.embed(src)
            a, _ = self.enc(s, s, s, key_padding_mask=src_pad)
            memory = self.norm1(s + a)
            n = tgt_in.shape[1]
            causal = torch.triu(torch.full((n, n), float("-inf"), dtype=torch.float64,
                                           device=src.device), diagonal=1)
            t = self.embed(tgt_in)
            a, _ = self.dec(t, t, t, attn_mask=causal, need_weights=False)
            h = self.norm2(t + a)
            # the cross attention may not look at the first source position
            block = torch.zeros(n, src.shape[1], dtype=torch.bool, device=src.device)
            block[:, 0] = True
            a, weights = self.cross(h, memory, memory, key_padding_mask=src_pad,
                                    attn_mask=block, need_weights=True)
            _, per_head = self.cross(h, memory, memory, key_padding_mask=src_pad,
                                     need_weights=True, average_attn_weights=False)
            return self.head(self.norm3(h + a)), weights, per_head

    model = Seq2Seq().double()
    init(model)
    model.to(device)
    opt = torch.optim.RAdam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=pad)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        logits, weights, per_head = model(src, tgt_in)
        loss = criterion(logits.reshape(-1, vocab), tgt_out.reshape(-1))
        loss.backward()
        opt.step()
        out.append(loss.item())
    out += [float(v) for v in weights.detach().cpu().numpy().ravel()]
    out += [float(v) for v in per_head.detach().cpu().numpy().ravel()]
    return out, model


PROGRAMS = {"gan": gan_program, "resnet": resnet_program, "seq2seq": seq2seq_program}


# ---------------------------------------------------------------------------------------------
# the comparisons


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_torch(name, device):
    """The program's losses (and the other numbers it reports) and final state equal PyTorch's,
    with model and data moved by ``.to(device)``."""
    assert_program_matches(run_both(PROGRAMS[name], steps=STEPS, device=device), device,
                           moved=slice(STEPS))


def test_programs_are_not_vacuous():
    """The comparisons above see real effects: the GAN's spectral norm iterates (its stored
    vector moves in training), the resumed ResNet step continues the schedule (its lr is the
    LambdaLR value after steps + 1 epochs) and the cross attention never looks at the blocked
    first source position nor at padding."""
    start = {}
    _, gan = gan_program(torch, 2, lambda m: start.update(
        {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}))
    for key in ("D.0.weight_u", "D.2.parametrizations.weight.0._u"):
        assert np.abs(gan.state_dict()[key].numpy() - start[key]).max() > 1e-6, key
    _, got, _, _ = run_both(resnet_program, steps=2)
    assert got[-2] == pytest.approx(0.05 / (1.0 + 3))
    _, got, _, _ = run_both(seq2seq_program, steps=2)
    weights = np.array(got[2:2 + 3 * 5 * 6]).reshape(3, 5, 6)
    np.testing.assert_array_equal(weights[:, :, 0], 0.0)
    np.testing.assert_array_equal(weights[0, :, 4:], 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# the gaps the programs found, each fixed and tested on its own


def test_save_load_through_a_file_object_and_weights_only(device):
    """``tg.save`` writes to a file object (``io.BytesIO``) as ``torch.save`` does, ``tg.load``
    reads it back, and ``tg.load`` takes PyTorch's ``weights_only=`` (either value reads the
    same; anything but a bool or None is refused)."""
    obj = {"w": tg.arange(6.0, device=device).reshape(2, 3), "step": 4, "name": "x"}
    buffer = io.BytesIO()
    tg.save(obj, buffer)
    for weights_only in (True, False, None):
        buffer.seek(0)
        back = tg.load(buffer, weights_only=weights_only)
        assert back["step"] == 4 and back["name"] == "x"
        assert on(back["w"], device)
        np.testing.assert_array_equal(host(back["w"]), np.arange(6.0).reshape(2, 3))
    buffer.seek(0)
    with pytest.raises(TypeError, match="load: weights_only"):
        tg.load(buffer, weights_only="yes")
