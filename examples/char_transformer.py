"""Train a small character-level transformer on Python's own standard library, with tensorgrad.

The text is the source of a few standard-library modules, read from the folder that holds
``os.py`` (it ships with every Python: nothing is downloaded). The model is a two-layer
GPT-style decoder: token and learned position embeddings, two pre-norm blocks (LayerNorm,
causal MultiheadAttention, residual; LayerNorm, MLP with GELU, residual), a final LayerNorm
and a linear head that predicts the next character. Training uses AdamW, a linear warm-up
followed by a cosine decay (``LambdaLR``) and gradient clipping (``clip_grad_norm_``).

It prints the training loss every ``--log-every`` steps (it starts near log(vocabulary size)
and goes down), a held-out loss at the end, and then a sample of generated text.

    python examples/char_transformer.py                        # about 2-3 minutes on 2 CPU cores
    python examples/char_transformer.py --device cpu --steps 300 --width 64
"""

import argparse
import math
import os
import time

import numpy as np

import tensorgrad as tg
import tensorgrad.nn.functional as F
import tensorgrad.numpy as tnp
from tensorgrad import nn

# A fixed list, in a fixed order, so that every run trains on the same text.
# All plain ASCII: a small vocabulary of the characters Python code is written with.
MODULES = ["textwrap", "string", "glob", "fnmatch", "bisect", "colorsys", "keyword", "reprlib",
           "abc", "copy", "calendar", "pprint", "queue", "contextlib", "operator", "numbers",
           "weakref", "sched", "graphlib", "random", "dataclasses", "tokenize", "difflib"]


def load_text(max_chars):
    """The concatenated source of ``MODULES`` (those this Python has), at most ``max_chars``."""
    stdlib = os.path.dirname(os.__file__)
    parts = []
    for name in MODULES:
        path = os.path.join(stdlib, name + ".py")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                parts.append(f.read())
    return "\n".join(parts)[:max_chars]


class Vocabulary:
    """Characters <-> integer ids."""

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


def causal_mask(length, device):
    """(length, length) bool mask, True above the diagonal: position i may not look at j > i
    (PyTorch's convention for MultiheadAttention: True = masked out)."""
    pos = tg.arange(length, device=device)
    return pos.reshape(1, length) > pos.reshape(length, 1)


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, width))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False, is_causal=True)[0]
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    """Logits (N, T, vocab) of the next character, from a (N, T) batch of character ids."""

    def __init__(self, vocab_size, context, width, heads, layers):
        super().__init__()
        self.context = context
        self.tok_emb = nn.Embedding(vocab_size, width)
        self.pos_emb = nn.Embedding(context, width)
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size)
        # GPT-2's initialisation: small embeddings train faster than PyTorch's N(0, 1)
        for emb in (self.tok_emb, self.pos_emb):
            nn.init.normal_(emb.weight, std=0.02)

    def forward(self, ids):
        length = ids.shape[1]
        pos = tg.arange(length, device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(pos)
        mask = causal_mask(length, ids.device)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))


def get_batch(data, batch_size, context, device):
    """``batch_size`` random windows of ``data`` (a NumPy array of ids): inputs (N, T) and the
    targets, the same windows shifted by one character. Offsets come from tensorgrad's RNG."""
    starts = tg.randint(0, len(data) - context - 1, size=(batch_size,)).numpy()
    windows = np.stack([data[s:s + context + 1] for s in starts])
    x = tg.tensor(windows[:, :-1], device=device)
    y = tg.tensor(windows[:, 1:], device=device)
    return x, y


def param_groups(model, weight_decay):
    """AdamW's parameter groups: weight decay on the weight matrices of the linear maps only,
    not on biases, LayerNorm gains or embeddings."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_matrix = p.ndim == 2 and not name.endswith("emb.weight")
        (decay if is_matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def warmup_cosine(warmup, total):
    """The factor LambdaLR multiplies the learning rate by: linear warm-up over ``warmup``
    steps, then a cosine decay to 10 % over the remaining steps."""

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def evaluate(model, data, args):
    """Mean loss over a few random held-out batches, in eval mode, without a graph."""
    model.eval()
    with tg.no_grad():
        losses = []
        for _ in range(args.eval_batches):
            x, y = get_batch(data, args.batch_size, args.context, args.device)
            logits = model(x)
            losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                          y.reshape(-1)).item())
    model.train()
    return sum(losses) / len(losses)


def generate(model, vocab, prompt, length, temperature, device):
    """``prompt`` followed by ``length`` sampled characters: each drawn from
    softmax(logits / temperature) with a uniform number from tensorgrad's RNG."""
    model.eval()
    ids = list(vocab.encode(prompt))
    with tg.no_grad():
        for _ in range(length):
            window = tg.tensor(np.array([ids[-model.context:]]), device=device)
            logits = model(window)[0, -1]
            probs = F.softmax(logits / temperature, dim=-1)
            cdf = tnp.cumsum(probs)
            u = tg.rand(1, device=device, dtype=cdf.dtype)
            # inverse-CDF sampling: the first index whose cumulative probability exceeds u
            ids.append(min(int((cdf < u).sum().item()), len(vocab) - 1))
    model.train()
    return vocab.decode(ids)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=800, help="training steps (default 800)")
    parser.add_argument("--device", default="cuda" if tg.cuda.is_available() else "cpu",
                        help="cpu or cuda[:N] (default: cuda when a GPU is available)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation, batches, sampling")
    parser.add_argument("--context", type=int, default=128, help="characters the model sees")
    parser.add_argument("--width", type=int, default=128, help="embedding width (default 128)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    parser.add_argument("--layers", type=int, default=2, help="transformer blocks (default 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps "
                        "(default: 5 %% of --steps)")
    parser.add_argument("--log-every", type=int, default=100, help="print the loss every N steps")
    parser.add_argument("--eval-batches", type=int, default=10)
    parser.add_argument("--max-chars", type=int, default=400_000, help="text to train on")
    parser.add_argument("--sample-chars", type=int, default=400, help="characters to generate")
    parser.add_argument("--temperature", type=float, default=0.8)
    args = parser.parse_args(argv)
    if args.width % args.heads:
        parser.error(f"--width {args.width} must be a multiple of --heads {args.heads}")

    tg.manual_seed(args.seed)
    text = load_text(args.max_chars)
    vocab = Vocabulary(text)
    data = vocab.encode(text)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    print(f"text: {len(text):,} characters of standard-library source, vocabulary "
          f"{len(vocab)} (log {math.log(len(vocab)):.4f})")

    model = CharTransformer(len(vocab), args.context, args.width, args.heads, args.layers)
    model = model.to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.layers} layers, width {args.width}, {args.heads} heads, context "
          f"{args.context}, {n_params:,} parameters, on {args.device}")

    opt = tg.optim.AdamW(param_groups(model, weight_decay=0.1), lr=args.lr, betas=(0.9, 0.99))
    warmup = args.warmup if args.warmup is not None else max(1, args.steps // 20)
    sched = tg.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(warmup, args.steps))

    start = time.perf_counter()
    running, count = 0.0, 0
    for step in range(1, args.steps + 1):
        x, y = get_batch(train_data, args.batch_size, args.context, args.device)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        running += loss.item()
        count += 1
        if step == 1 or step % args.log_every == 0 or step == args.steps:
            # the mean training loss since the last line
            print(f"step {step:5d}/{args.steps}  loss {running / count:.4f}  lr {lr:.2e}  "
                  f"{time.perf_counter() - start:6.1f}s", flush=True)
            running, count = 0.0, 0

    print(f"held-out loss {evaluate(model, val_data, args):.4f} "
          f"({time.perf_counter() - start:.1f}s)")
    sample = generate(model, vocab, "def ", args.sample_chars, args.temperature, args.device)
    print(f"sample (temperature {args.temperature}):")
    print("-" * 72)
    print(sample)
    print("-" * 72)


if __name__ == "__main__":
    main()
