"""tg.manual_seed makes initialisation, dropout, random factories and DataLoader shuffling repeat
run to run, on every device."""

import numpy as np
from devices import host

import tensorgrad as tg
from tensorgrad.utils.data import DataLoader, TensorDataset


def _draws(device):
    model = tg.nn.Sequential(tg.nn.Linear(5, 7), tg.nn.Dropout(0.5), tg.nn.Linear(7, 2))
    model.to(device)
    x = tg.ones(4, 5, device=device)
    out = model(x)  # dropout's mask is drawn here
    loader = DataLoader(TensorDataset(tg.arange(10)), batch_size=3, shuffle=True)
    order = [host(b).tolist() for (b,) in loader]
    return {
        "init": [host(p) for p in model.parameters()],
        "dropout": host(tg.nn.functional.dropout(tg.ones(50, device=device), p=0.5)),
        "forward": host(out),
        "rand": host(tg.rand(3, 4, device=device)),
        "randn": host(tg.randn(6, device=device)),
        "randint": host(tg.randint(0, 100, (5,), device=device)),
        "shuffle": order,
    }


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if k == "shuffle":
            assert a[k] == b[k], k
        elif k == "init":
            for u, v in zip(a[k], b[k]):
                np.testing.assert_array_equal(u, v)
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_manual_seed_repeats_every_source_of_randomness(device):
    tg.manual_seed(1234)
    first = _draws(device)
    tg.manual_seed(1234)
    second = _draws(device)
    _same(first, second)
    tg.manual_seed(4321)
    third = _draws(device)
    assert not np.array_equal(first["randn"], third["randn"])
    assert not np.array_equal(first["dropout"], third["dropout"])
    assert first["shuffle"] != third["shuffle"] or not np.array_equal(first["rand"],
                                                                      third["rand"])


def test_the_draws_are_random_within_a_run(device):
    tg.manual_seed(7)
    a = host(tg.randn(100, device=device))
    b = host(tg.randn(100, device=device))
    assert not np.array_equal(a, b)
    assert abs(a.mean()) < 0.5 and 0.5 < a.std() < 1.5
    mask = host(tg.nn.functional.dropout(tg.ones(1000, device=device), p=0.5))
    assert 350 < int((mask == 0).sum()) < 650


def test_seeded_training_runs_repeat_bit_for_bit(device):
    def run():
        tg.manual_seed(99)
        model = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.Dropout(0.3), tg.nn.Linear(8, 1))
        model.to(device)
        opt = tg.optim.SGD(model.parameters(), lr=0.1)
        data = TensorDataset(tg.randn(20, 4, device=device), tg.randn(20, 1, device=device))
        for xb, yb in DataLoader(data, batch_size=5, shuffle=True):
            opt.zero_grad()
            loss = ((model(xb) - yb) ** 2).mean()
            loss.backward()
            opt.step()
        return [host(p) for p in model.parameters()]

    for u, v in zip(run(), run()):
        np.testing.assert_array_equal(u, v)
