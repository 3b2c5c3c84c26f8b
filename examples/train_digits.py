"""Train a classifier of handwritten digits (8x8 images) with tensorgrad, the PyTorch way.

The data are the 1,797 digits that ship inside scikit-learn (``sklearn.datasets.load_digits``:
nothing is downloaded), split once into 80 % training and a fixed, seeded 20 % test set. The
model is an MLP (``--model mlp``: Linear, ReLU, Dropout) or a small CNN (``--model cnn``:
Conv2d, ReLU, MaxPool2d, Dropout, Linear); training uses ``tg.utils.data.DataLoader``,
``tg.optim.AdamW`` and a ``StepLR`` schedule, with a tqdm progress bar per epoch. At the end
it writes a PNG of the loss and accuracy curves and a checkpoint (``tg.save``) to ``--out``,
loads the checkpoint into a fresh model, evaluates that one again, and prints
``test accuracy: 0.XXXX`` as its last line.

    python examples/train_digits.py                   # the MLP, on cuda when there is a GPU
    python examples/train_digits.py --model cnn --device cpu
    python examples/train_digits.py --resume build/digits/digits-mlp.tg --epochs 60

``--resume CHECKPOINT`` continues a run from its checkpoint (model, optimizer, schedule, epoch
and RNG state) up to ``--epochs``, exactly as if it had never stopped.
"""

import argparse
import os
import sys
import time

import numpy as np

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad import nn
from tensorgrad.utils.data import DataLoader, TensorDataset, random_split

SPLIT_SEED = 20240  # the test set is the same 20 % in every run
DEFAULTS = {  # per model: epochs, AdamW's learning rate, batch size, StepLR's step (epochs)
    "mlp": {"epochs": 30, "lr": 2e-3, "batch_size": 64, "lr_step": 10},
    "cnn": {"epochs": 24, "lr": 3e-3, "batch_size": 64, "lr_step": 8},
}


def build(kind):
    """The network: logits for the ten digits from a (N, 64) or (N, 1, 8, 8) batch."""
    if kind == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(128, 10),
        )
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),                                    # 32 x 4 x 4
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),                                    # 64 x 2 x 2
        nn.Flatten(),
        nn.Dropout(0.3), nn.Linear(256, 128), nn.ReLU(),
        nn.Dropout(0.3), nn.Linear(128, 10),
    )


def load_data(device):
    """(train, test) TensorDatasets of (N, 1, 8, 8) float32 images in [0, 1] and int64 labels,
    already on ``device``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("train_digits.py needs scikit-learn: pip install -e '.[examples]' "
                 "(or run `make demo`)")
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    full = TensorDataset(tg.tensor(images, device=device), tg.tensor(labels, device=device))
    return random_split(full, [0.8, 0.2], generator=SPLIT_SEED)


def evaluate(model, loader):
    """(mean loss, accuracy) of ``model`` over ``loader``, in eval mode, without a graph."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with tg.no_grad():
        for x, y in loader:
            logits = model(x)
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += len(y)
    return total_loss / count, correct / count


def train_epoch(model, loader, opt, bar):
    model.train()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in bar(loader):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        total_loss += loss.item() * len(y)
        correct += (logits.argmax(dim=1) == y).sum().item()
        count += len(y)
        bar.update_postfix(loss=total_loss / count, acc=correct / count)
    return total_loss / count, correct / count


class Progress:
    """A tqdm bar per epoch with loss and accuracy, or nothing (not a terminal, --quiet, or
    tqdm missing)."""

    def __init__(self, enabled):
        self.tqdm = None
        if enabled:
            try:
                from tqdm import tqdm

                self.tqdm = tqdm
            except ImportError:
                pass
        self.current = None
        self.desc = ""

    def __call__(self, iterable):
        if self.tqdm is None:
            return iterable
        self.current = self.tqdm(iterable, desc=self.desc, leave=False, unit="batch",
                                 dynamic_ncols=True)
        return self.current

    def update_postfix(self, **values):
        if self.current is not None:
            self.current.set_postfix({k: f"{v:.4f}" for k, v in values.items()}, refresh=False)

    def write(self, line):
        if self.tqdm is not None:
            self.tqdm.write(line)
        else:
            print(line, flush=True)


def plot(history, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["train_loss"], label="train")
    ax_loss.plot(epochs, history["test_loss"], label="test")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.set_yscale("log")
    ax_loss.legend()
    ax_acc.plot(epochs, history["train_acc"], label="train")
    ax_acc.plot(epochs, history["test_acc"], label="test")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(max(0.0, min(history["test_acc"] + history["train_acc"]) - 0.02), 1.0)
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, help="default: 30 (mlp), 24 (cnn)")
    parser.add_argument("--batch-size", type=int, help="default: 64")
    parser.add_argument("--lr", type=float, help="AdamW's learning rate; default: 2e-3 (mlp), "
                        "3e-3 (cnn)")
    parser.add_argument("--device", default="cuda" if tg.cuda.is_available() else "cpu",
                        help="cpu or cuda[:N] (default: cuda when a GPU is available)")
    parser.add_argument("--out", default=os.path.join("build", "digits"),
                        help="folder for the PNG and the checkpoint (default: build/digits)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation, dropout, "
                        "shuffling (the test split is fixed)")
    parser.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint "
                        "this script wrote")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    defaults = DEFAULTS[args.model]
    epochs = args.epochs if args.epochs is not None else defaults["epochs"]
    batch_size = args.batch_size if args.batch_size is not None else defaults["batch_size"]
    lr = args.lr if args.lr is not None else defaults["lr"]
    if epochs < 1:
        parser.error("--epochs must be at least 1")
    os.makedirs(args.out, exist_ok=True)

    tg.manual_seed(args.seed)
    train_set, test_set = load_data(args.device)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=512)
    model = build(args.model).to(args.device)
    opt = tg.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    # a fixed schedule (not a fraction of --epochs), so that a resumed run that goes on longer
    # follows the run that would have gone that long from the start
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=defaults["lr_step"], gamma=0.3)
    history = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    start_epoch = 0
    if args.resume:
        ck = tg.load(args.resume, map_location=args.device)
        if ck["model_kind"] != args.model:
            parser.error(f"{args.resume} holds a {ck['model_kind']} model; pass --model "
                         f"{ck['model_kind']}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        tg.set_rng_state(ck["rng"])
        history = ck["history"]
        start_epoch = ck["epoch"]

    n_params = sum(p.numel() for p in model.parameters())
    progress = Progress(enabled=not args.quiet and sys.stderr.isatty())
    progress.write(f"{args.model}: {n_params:,} parameters on {args.device}; "
                   f"{len(train_set)} training and {len(test_set)} test images")
    t0 = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        progress.desc = f"epoch {epoch + 1}/{epochs}"
        train_loss, train_acc = train_epoch(model, train_loader, opt, progress)
        sched.step()
        test_loss, test_acc = evaluate(model, test_loader)
        for key, value in (("train_loss", train_loss), ("train_acc", train_acc),
                           ("test_loss", test_loss), ("test_acc", test_acc)):
            history[key].append(value)
        progress.write(f"epoch {epoch + 1:3d}/{epochs}  train loss {train_loss:.4f} "
                       f"acc {train_acc:.4f}  test loss {test_loss:.4f} acc {test_acc:.4f}")
    seconds = time.perf_counter() - t0
    print(f"trained {epochs - start_epoch} epochs in {seconds:.1f} s", flush=True)

    png = os.path.join(args.out, f"digits-{args.model}.png")
    plot(history, png, f"8x8 digits, {args.model} on {args.device}")
    checkpoint = os.path.join(args.out, f"digits-{args.model}.tg")
    tg.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "epoch": epochs, "rng": tg.get_rng_state(),
             "history": history, "model_kind": args.model}, checkpoint)
    print(f"wrote {png} and {checkpoint}")

    # the checkpoint, loaded into a fresh model, classifies the test set as the trained one
    fresh = build(args.model).to(args.device)
    fresh.load_state_dict(tg.load(checkpoint)["model"])
    _, reloaded_acc = evaluate(fresh, test_loader)
    if reloaded_acc != history["test_acc"][-1]:
        sys.exit(f"the reloaded model scores {reloaded_acc:.4f}, the trained one "
                 f"{history['test_acc'][-1]:.4f}")
    print(f"reloaded {checkpoint} into a fresh model and evaluated it again")
    print(f"test accuracy: {reloaded_acc:.4f}")


if __name__ == "__main__":
    main()
