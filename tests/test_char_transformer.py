"""examples/char_transformer.py runs end to end in a short configuration on every device: the
loss lines have their format, start near log(vocabulary) and go down, a held-out loss and a
sample of generated text are printed, and a seed makes the run repeatable."""

import math
import re

from conftest import CUPY_STANDIN
from test_examples import run_example

SHORT = ["--steps", "30", "--log-every", "10", "--width", "32", "--heads", "2",
         "--context", "32", "--batch-size", "16", "--lr", "1e-2", "--max-chars", "60000",
         "--eval-batches", "2", "--sample-chars", "60"]
LOSS_LINE = re.compile(r"step +(\d+)/(\d+)  loss (\d+\.\d{4})  lr (\d\.\d\de[-+]\d\d) +"
                       r"(\d+\.\d)s")


def _run(device, *extra):
    return run_example("char_transformer.py", "--device", device, *SHORT, *extra,
                       standin=CUPY_STANDIN and device != "cpu")


def _without_times(out):
    return re.sub(r"\d+\.\ds\b", "", out)


def test_char_transformer_trains_and_samples(device):
    out = _run(device, "--seed", "1")
    lines = out.splitlines()
    vocab = re.search(r"vocabulary (\d+) \(log (\d+\.\d{4})\)", out)
    assert vocab, out
    assert f"on {device}" in out, out

    steps = [LOSS_LINE.fullmatch(line) for line in lines if line.startswith("step")]
    assert steps and all(steps), out
    assert [int(m.group(1)) for m in steps] == [1, 10, 20, 30], out
    assert all(int(m.group(2)) == 30 for m in steps), out
    losses = [float(m.group(3)) for m in steps]
    assert all(math.isfinite(v) for v in losses), out
    # an untrained model predicts about uniformly: log(vocabulary) nats
    assert abs(losses[0] - math.log(int(vocab.group(1)))) < 0.5, out
    assert losses[-1] < losses[0] - 1.0 and losses[-1] < losses[1], out

    held_out = re.search(r"held-out loss (\d+\.\d{4})", out)
    assert held_out and float(held_out.group(1)) < losses[0] - 1.0, out

    start = lines.index("sample (temperature 0.8):")
    rule = "-" * 72
    assert lines[start + 1] == rule and lines[-1] == rule, out
    sample = "\n".join(lines[start + 2:-1])
    assert sample.startswith("def ") and len(sample) == len("def ") + 60, out


def test_char_transformer_is_repeatable_with_a_seed():
    first, again = (_run("cpu", "--seed", "3", "--steps", "10") for _ in range(2))
    assert _without_times(first) == _without_times(again)
    other = _run("cpu", "--seed", "4", "--steps", "10")
    assert _without_times(other) != _without_times(first)
