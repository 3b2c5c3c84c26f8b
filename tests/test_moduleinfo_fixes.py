"""nn modules against PyTorch on the samples of its ModuleInfo database that differed
(``tests/moduleinfo_check.py``): unbatched 2-D average pooling, an empty batch in batch norm,
kl_div's target (zeros, negatives, NaN), gaussian_nll_loss's broadcast variance, a mean over
only ignored targets, instance norm's running statistics, fractional max pooling with more
random samples than the batch, LinearCrossEntropyLoss, forward's keyword ``input``, and the
module error inputs that tensorgrad accepted silently."""

import numpy as np
import pytest
from devices import against_torch, host, tensor_on, torch_oracle

import tensorgrad as tg

F = tg.nn.functional
ORDER2 = dict(modes=("fwd", "rev"), order=2)


def _pair(device, tcls, gcls, *args, **kwargs):
    """(torch module in float64, tensorgrad module with its parameters and buffers, on
    ``device``)."""
    torch = torch_oracle()
    torch.manual_seed(0)
    mt = tcls(*args, **kwargs).double()
    mg = gcls(*args, **kwargs).to(tg.float64)
    sd = {k: tg.tensor(v.detach().numpy().copy()) for k, v in mt.state_dict().items()}
    if sd:
        mg.load_state_dict(sd)
    return mt, mg.to(device)


def _buffers_agree(mt, mg):
    for name, v in mt.named_buffers():
        np.testing.assert_allclose(host(dict(mg.named_buffers())[name]), v.detach().numpy(),
                                   rtol=1e-12, atol=1e-12, err_msg=name)


# ---- pooling of unbatched inputs ---------------------------------------------------------------
POOLS = [  # (name, args, unbatched shape)
    ("avg_pool2d", (2,), (3, 6, 6)), ("avg_pool2d", ((2, 3), 1, 1), (2, 5, 7)),
    ("max_pool2d", (2,), (3, 6, 6)), ("avg_pool1d", (2,), (3, 8)), ("max_pool1d", (3,), (2, 9)),
    ("avg_pool3d", (2,), (2, 4, 4, 4)), ("max_pool3d", (2,), (2, 4, 4, 4)),
    ("lp_pool1d", (2.0, 2), (3, 8)), ("lp_pool2d", (2.0, 2), (3, 6, 6)),
    ("lp_pool3d", (2.0, 2), (2, 4, 4, 4)), ("adaptive_avg_pool1d", (3,), (3, 8)),
    ("adaptive_avg_pool2d", (3,), (3, 6, 7)), ("adaptive_avg_pool3d", (2,), (2, 4, 5, 4)),
    ("adaptive_max_pool1d", (3,), (3, 8)), ("adaptive_max_pool2d", (3,), (3, 6, 7)),
    ("adaptive_max_pool3d", (2,), (2, 4, 5, 4)),
]


@pytest.mark.parametrize("name,args,shape", POOLS, ids=[f"{p[0]}-{i}" for i, p in
                                                      enumerate(POOLS)])
def test_pooling_accepts_unbatched_input(device, name, args, shape):
    torch = torch_oracle()
    x = np.random.default_rng(1).standard_normal(shape)
    if name.startswith("lp"):
        x = np.abs(x) + 0.1  # lp pooling's gradient at 0 is torch's own choice
    against_torch(device, lambda t: getattr(F, name)(t, *args),
                  lambda t: getattr(torch.nn.functional, name)(t, *args), [x], grad_args=(0,))


def test_avg_pool2d_module_unbatched_matches_torch(device):
    torch = torch_oracle()
    x = np.random.default_rng(2).standard_normal((3, 6, 6))
    against_torch(device, tg.nn.AvgPool2d([2, 2]), torch.nn.AvgPool2d([2, 2]), [x],
                  grad_args=(0,))
    tg.check_grads(lambda t: F.avg_pool2d(t, 2), **ORDER2)(tensor_on(x[:, :4, :4], device))
    with pytest.raises(ValueError, match=r"avg_pool2d: input must be .*\(2, 6\)"):
        F.avg_pool2d(tensor_on(x[0, :2], device), 2)


# ---- batch norm: an empty batch, eps ----------------------------------------------------------
@pytest.mark.parametrize("dim,shape", [(1, (0, 5, 9)), (1, (0, 5)), (2, (0, 5, 2, 2)),
                                       (3, (0, 5, 2, 2, 2)), (1, (2, 5, 0))])
@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_empty_batch_in_training(device, dim, shape, affine):
    torch = torch_oracle()
    name = f"BatchNorm{dim}d"
    mt, mg = _pair(device, getattr(torch.nn, name), getattr(tg.nn, name), 5, 1e-3, 0.3, affine)
    mt.train()
    mg.train()
    x = np.zeros(shape)
    out, ref = against_torch(device, mg, mt, [x], grad_args=(0,))
    assert tuple(out.shape) == shape
    _buffers_agree(mt, mg)  # statistics untouched, num_batches_tracked counted, as torch
    assert int(mg.num_batches_tracked.item()) == 1
    if affine:  # the parameters stay on the graph, with zero gradients
        assert np.array_equal(host(mg.weight.grad), np.zeros(5))
        assert np.array_equal(host(mg.bias.grad), np.zeros(5))


def test_batch_norm_eps_must_be_positive_when_training(device):
    torch = torch_oracle()
    x = np.random.default_rng(3).standard_normal((2, 10))
    for eps in (0.0, -1.0):
        with pytest.raises(ValueError, match=r"batch_norm: eps must be positive when training"):
            tg.nn.BatchNorm1d(10, eps=eps).to(device)(tensor_on(x, device))
        with pytest.raises(ValueError):
            torch.nn.BatchNorm1d(10, eps=eps)(torch.tensor(x, dtype=torch.float32))
    # eval mode with eps 0 normalises by the running variance, as torch does
    m = tg.nn.BatchNorm1d(10, eps=0.0).to(device).eval()
    mt = torch.nn.BatchNorm1d(10, eps=0.0).double().eval()
    np.testing.assert_allclose(host(m(tensor_on(x, device))), mt(torch.tensor(x)).detach())
    with pytest.raises(ValueError, match=r"eps must be non-negative"):
        F.batch_norm(tensor_on(x, device), tg.zeros(10).to(device), tg.ones(10).to(device),
                     eps=-1.0)


# ---- kl_div ----------------------------------------------------------------------------------
def test_kl_div_target_zero_negative_and_nan_as_torch(device):
    torch = torch_oracle()
    x = np.array([-1.0, -2.0, -0.5, 0.2, -1.0, -0.3])
    t = np.array([-0.5, 0.0, 0.3, 1.0, np.nan, 2.0])
    for reduction in ("none", "sum", "mean", "batchmean"):
        # values NaN where the target is negative or NaN, 0 * log 0 = 0; the target's gradient
        # log(t) + 1 - x, NaN at 0 and below (torch's xlogy rule)
        against_torch(device, lambda a, b: F.kl_div(a, b, reduction=reduction),
                      lambda a, b: torch.nn.functional.kl_div(a, b, reduction=reduction),
                      [x, t], grad_args=(0, 1))


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
def test_kl_div_module_matches_torch(device, log_target, reduction):
    torch = torch_oracle()
    rng = np.random.default_rng(4)
    x = np.log(rng.uniform(0.1, 1.0, (4, 5)))
    t = rng.uniform(0.0, 1.0, (4, 5))
    t[0, 0] = 0.0  # a zero target: value 0, input gradient -0 (the target gets no gradient)
    if log_target:
        t = np.log(rng.uniform(0.1, 1.0, (4, 5)))
    against_torch(device, tg.nn.KLDivLoss(reduction=reduction, log_target=log_target),
                  torch.nn.KLDivLoss(reduction=reduction, log_target=log_target), [x, t],
                  grad_args=(0,))
    tg.check_grads(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
                   **ORDER2)(tensor_on(x[:2, :3], device),
                             tensor_on(np.abs(t[1:3, :3]) + 0.2, device))


def test_kl_div_0d(device):
    torch = torch_oracle()
    for reduction in ("mean", "batchmean", "sum", "none"):
        against_torch(device, lambda a, b: F.kl_div(a, b, reduction=reduction),
                      lambda a, b: torch.nn.functional.kl_div(a, b, reduction=reduction),
                      [np.array(0.5), np.array(0.7)], grad_args=(0, 1))


# ---- gaussian_nll_loss's variance shapes -------------------------------------------------------
@pytest.mark.parametrize("var_shape", [(1, 3), (4, 1), (4,), (4, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gaussian_nll_loss_variance_shapes(device, var_shape, reduction):
    torch = torch_oracle()
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    v = np.abs(rng.standard_normal(var_shape)) + 0.1
    against_torch(device, tg.nn.GaussianNLLLoss(reduction=reduction),
                  torch.nn.GaussianNLLLoss(reduction=reduction), [x, y, v], grad_args=(0, 1, 2))
    tg.check_grads(lambda a, s: F.gaussian_nll_loss(a, tensor_on(y, device), s,
                                                    reduction=reduction),
                   **ORDER2)(tensor_on(x, device), tensor_on(v, device))


def test_gaussian_nll_loss_homoscedastic_3d(device):
    torch = torch_oracle()
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    v = np.abs(rng.standard_normal((2, 1, 4, 4))) + 0.1  # one variance over the channels
    against_torch(device, F.gaussian_nll_loss, torch.nn.functional.gaussian_nll_loss,
                  [x, y, v], grad_args=(0, 2))


@pytest.mark.parametrize("var_shape", [(1, 1), (2, 3), (3,), (1, 4, 3)])
def test_gaussian_nll_loss_bad_variance_shapes_raise(device, var_shape):
    torch = torch_oracle()
    x = np.zeros((4, 3))
    v = np.ones(var_shape)
    with pytest.raises(ValueError, match=r"var is of incorrect size"):
        torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(x), torch.tensor(v))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var of shape .* does not fit input "
                                         r"of shape \(4, 3\)"):
        F.gaussian_nll_loss(tensor_on(x, device), tensor_on(x, device), tensor_on(v, device))


# ---- every target ignored ------------------------------------------------------------------------
CE_CASES = [dict(ignore_index=1), dict(ignore_index=1, label_smoothing=0.15),
            dict(ignore_index=1, weight=np.array([0.3, 0.5, 0.9])),
            dict(weight=np.array([1.0, 0.0, 0.0]))]  # kept rows of weight 0: NaN gradients


@pytest.mark.parametrize("case", range(len(CE_CASES)))
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4)])
def test_cross_entropy_mean_over_no_target(device, case, shape):
    torch = torch_oracle()
    kw = CE_CASES[case]
    x = np.random.default_rng(7).standard_normal(shape)
    t = np.full((shape[0],) + shape[2:], 1 if "ignore_index" in kw else 2, dtype=np.int64)
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    gkw = {k: tensor_on(v, device) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    tt, gt = torch.tensor(t), tensor_on(t, device)
    # the loss is 0 / 0 = NaN; the gradient is 0 for the ignored rows, as torch's
    out, ref = against_torch(device, lambda a: F.cross_entropy(a, gt, **gkw),
                             lambda a: torch.nn.functional.cross_entropy(a, tt, **tkw), [x],
                             grad_args=(0,))
    assert np.isnan(host(out))
    if "label_smoothing" not in kw:
        lx = np.log(np.abs(x) + 0.5)
        against_torch(device, lambda a: F.nll_loss(a, gt, **gkw),
                      lambda a: torch.nn.functional.nll_loss(a, tt, **tkw), [lx], grad_args=(0,))


def test_cross_entropy_module_all_ignored(device):
    torch = torch_oracle()
    x = np.random.default_rng(8).standard_normal((2, 3))
    t = np.array([1, 1])
    out, _ = against_torch(device, lambda a: tg.nn.CrossEntropyLoss(ignore_index=1)(
                               a, tensor_on(t, device)),
                           lambda a: torch.nn.CrossEntropyLoss(ignore_index=1)(
                               a, torch.tensor(t)), [x], grad_args=(0,))
    # one row kept: an ordinary mean, and derivatives of second order
    t2 = tensor_on(np.array([0, 1]), device)
    tg.check_grads(lambda a: F.cross_entropy(a, t2, ignore_index=1), **ORDER2)(
        tensor_on(x, device))


# ---- instance norm's running statistics ----------------------------------------------------------
@pytest.mark.parametrize("dim,shape", [(1, (4, 3, 15)), (1, (3, 15)), (2, (4, 3, 6, 6)),
                                       (2, (3, 6, 6)), (3, (4, 3, 4, 4, 4)), (3, (3, 4, 4, 4))])
@pytest.mark.parametrize("momentum", [0.3, None])
def test_instance_norm_running_stats_as_torch(device, dim, shape, momentum):
    torch = torch_oracle()
    name = f"InstanceNorm{dim}d"
    mt, mg = _pair(device, getattr(torch.nn, name), getattr(tg.nn, name), 3, 1e-3, momentum,
                   False, True)
    x = np.random.default_rng(9).standard_normal(shape) * 2 + 0.5
    for _ in range(2):  # twice: the update uses the state the first call left
        against_torch(device, mg.train(), mt.train(), [x], grad_args=(0,))
        _buffers_agree(mt, mg)
    against_torch(device, mg.eval(), mt.eval(), [x], grad_args=(0,))


# ---- fractional max pooling: more random samples than the batch ------------------------------
@pytest.mark.parametrize("d,shape,samples", [(3, (4, 5, 5, 5), (2, 4, 3)),
                                             (3, (1, 4, 7, 7, 7), (3, 4, 3)),
                                             (2, (4, 5, 5), (2, 4, 2)),
                                             (2, (2, 4, 7, 7), (3, 4, 2))])
def test_fractional_max_pool_takes_the_first_samples(device, d, shape, samples):
    torch = torch_oracle()
    rng = np.random.default_rng(10)
    x = rng.standard_normal(shape)
    u = rng.uniform(0, 1, samples)
    name = f"fractional_max_pool{d}d"
    out, _ = against_torch(
        device, lambda a: getattr(F, name)(a, 2, output_ratio=0.5,
                                           _random_samples=tensor_on(u, device)),
        lambda a: getattr(torch.nn.functional, name)(a, 2, output_ratio=(0.5,) * d,
                                                     _random_samples=torch.tensor(u)),
        [x], grad_args=(0,))
    cls = getattr(tg.nn, f"FractionalMaxPool{d}d")
    m = cls(2, output_ratio=0.5, _random_samples=tensor_on(u, device))
    np.testing.assert_array_equal(host(m(tensor_on(x, device))), host(out))


def test_fractional_max_pool_too_few_samples_raise(device):
    x = tensor_on(np.zeros((2, 4, 5, 5, 5)), device)
    u = tensor_on(np.full((1, 4, 3), 0.5), device)
    with pytest.raises(ValueError, match=r"fractional_max_pool3d: _random_samples must have "
                                         r"shape \(2, 4, 3\).*got \(1, 4, 3\)"):
        F.fractional_max_pool3d(x, 2, output_ratio=0.5, _random_samples=u)
    with pytest.raises(ValueError, match=r"got \(2, 5, 3\)"):
        F.fractional_max_pool3d(x, 2, output_ratio=0.5,
                                _random_samples=tensor_on(np.full((2, 5, 3), 0.5), device))


# ---- LinearCrossEntropyLoss --------------------------------------------------------------------
LCE_CASES = [dict(), dict(bias=True), dict(out_features=(4, 3)),
             dict(out_features=(2,), bias=True, reduction="none"),
             dict(reduction="sum", ignore_index=1), dict(label_smoothing=0.2),
             dict(weight="w"), dict(options="chunk")]


@pytest.mark.parametrize("case", range(len(LCE_CASES)))
def test_linear_cross_entropy_loss_module(device, case):
    torch = torch_oracle()
    rng = np.random.default_rng(11)
    kw = dict(LCE_CASES[case])
    tkw, gkw = dict(kw), dict(kw)
    if kw.get("weight") == "w":
        w = rng.uniform(0.2, 1.0, 6)
        tkw["weight"], gkw["weight"] = torch.tensor(w), tg.tensor(w)
    if kw.get("options") == "chunk":
        tkw["options"] = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=2)
        gkw["options"] = tg.nn.LinearCrossEntropyOptions(batch_chunk_size=2)
    torch.manual_seed(0)
    mt = torch.nn.LinearCrossEntropyLoss(5, 6, **tkw).double()
    mg = tg.nn.LinearCrossEntropyLoss(5, 6, **gkw).to(tg.float64)
    assert sorted(n for n, _ in mg.named_parameters()) == \
        sorted(n for n, _ in mt.named_parameters())
    mg.load_state_dict({k: tg.tensor(v.detach().numpy().copy())
                        for k, v in mt.state_dict().items()})
    mg = mg.to(device)
    x = rng.standard_normal((5, 5))
    t = rng.integers(0, 6, (5,) + tuple(kw.get("out_features", ())))
    gt, tt = tensor_on(t, device), torch.tensor(t)
    against_torch(device, lambda a: mg(a, gt), lambda a: mt(a, tt), [x], grad_args=(0,))
    for (name, p), (_, q) in zip(sorted(mg.named_parameters()),
                                 sorted(mt.named_parameters())):
        np.testing.assert_allclose(host(p.grad), q.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    if "options" not in kw:  # the chunked path, as torch's, is first-order
        tg.check_grads(lambda a: mg(a, gt).sum(), **ORDER2)(tensor_on(x, device))


def test_linear_cross_entropy_loss_api():
    torch = torch_oracle()
    import inspect

    assert list(inspect.signature(tg.nn.LinearCrossEntropyLoss).parameters) == \
        list(inspect.signature(torch.nn.LinearCrossEntropyLoss).parameters)
    mg = tg.nn.LinearCrossEntropyLoss(5, 10, out_features=(4, 3))
    mt = torch.nn.LinearCrossEntropyLoss(5, 10, out_features=(4, 3))
    assert repr(mg) == repr(mt)
    assert tuple(mg.linear.weight.shape) == (120, 5) and mg.linear.bias is None
    assert "LinearCrossEntropyLoss" in tg.nn.__all__
    assert mg.weight is None and mg.ignore_index is None
    with pytest.raises(ValueError, match=r"LinearCrossEntropyLoss: weight must have shape "
                                         r"\(2,\).*got \(3,\)"):
        tg.nn.LinearCrossEntropyLoss(5, 2, weight=tg.ones(3))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 2.0"):
        tg.nn.LinearCrossEntropyLoss(5, 2, label_smoothing=2.0)


def test_linear_cross_entropy_loss_probability_targets(device):
    torch = torch_oracle()
    rng = np.random.default_rng(12)
    torch.manual_seed(0)
    mt = torch.nn.LinearCrossEntropyLoss(5, 4, out_features=(3,), bias=True).double()
    mg = tg.nn.LinearCrossEntropyLoss(5, 4, out_features=(3,), bias=True).to(tg.float64)
    mg.load_state_dict({k: tg.tensor(v.detach().numpy().copy())
                        for k, v in mt.state_dict().items()})
    mg = mg.to(device)
    p = rng.uniform(0.1, 1.0, (2, 4, 3))
    p /= p.sum(axis=1, keepdims=True)
    against_torch(device, lambda a, q: mg(a, q), lambda a, q: mt(a, q),
                  [rng.standard_normal((2, 5)), p], grad_args=(0, 1))


# ---- forward's argument names --------------------------------------------------------------------
@pytest.mark.parametrize("name,args", [("Linear", (4, 3)), ("Identity", ()), ("Flatten", ()),
                                       ("Dropout", (0.0,)), ("ReLU", ()),
                                       ("MaxPool2d", (2,)), ("AvgPool2d", (2,)),
                                       ("Conv2d", (4, 2, 1)), ("RMSNorm", (4,))])
def test_forward_takes_torchs_keyword(device, name, args):
    torch = torch_oracle()
    import inspect

    (key,) = [p for p in inspect.signature(getattr(torch.nn, name).forward).parameters
              if p != "self"]
    mt, mg = _pair(device, getattr(torch.nn, name), getattr(tg.nn, name), *args)
    x = np.random.default_rng(13).standard_normal((2, 4, 4, 4))
    against_torch(device, lambda a: mg(**{key: a}), lambda a: mt(**{key: a}), [x],
                  grad_args=(0,))


def test_sequential_forward_keyword(device):
    torch = torch_oracle()
    mt, mg = _pair(device, torch.nn.Sequential, tg.nn.Sequential)
    x = np.ones((2, 3))
    np.testing.assert_array_equal(host(mg(input=tensor_on(x, device))), mt(input=torch.tensor(x)))


# ---- error inputs that were accepted ------------------------------------------------------------
@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("kw,err,match", [
    (dict(bias=0), TypeError, r"bias should be of type bool, got int \(0\)"),
    (dict(bias="True"), TypeError, r"bias should be of type bool, got str"),
    (dict(batch_first=1), TypeError, r"batch_first should be of type bool, got int"),
    (dict(input_size=0), ValueError, r"input_size, hidden_size and num_layers must be positive, "
                                     r"got input_size=0"),
])
def test_rnn_constructor_refuses_what_torch_refuses(name, kw, err, match):
    torch = torch_oracle()
    args = dict(input_size=3, hidden_size=5)
    args.update(kw)
    with pytest.raises(err):
        getattr(torch.nn, name)(**args)
    with pytest.raises(err, match=f"{name}: {match}"):
        getattr(tg.nn, name)(**args)
    # torch accepts an int for bidirectional; so does tensorgrad
    assert getattr(tg.nn, name)(3, 5, bidirectional=1).bidirectional == 1


def test_huber_loss_delta_must_be_real():
    torch = torch_oracle()
    for bad in (1 + 0j, "1.0"):
        with pytest.raises(TypeError):
            torch.nn.HuberLoss(delta=bad)
        with pytest.raises(TypeError, match=r"HuberLoss: delta must be a float or int"):
            tg.nn.HuberLoss(delta=bad)
    assert tg.nn.HuberLoss(delta=2).delta == 2
    assert tg.nn.HuberLoss(delta=np.float64(0.5)).delta == 0.5


def test_module_error_inputs_all_refused():
    """torch's module error inputs (``module_error_inputs_func``): tensorgrad refuses each,
    except the dtype mismatches tensorgrad promotes (NumPy's rule, as in Linear)."""
    torch = torch_oracle()
    pytest.importorskip("torch.testing._internal.common_modules")
    from opinfo_check import to_tg
    from torch.testing._internal.common_modules import module_db

    promoted = {("nn.NLLLoss", 0), ("nn.RNN", 2), ("nn.GRU", 2), ("nn.LSTM", 2)}
    silent, seen = [], 0
    for info in module_db:
        cls = getattr(tg.nn, info.module_cls.__name__, None)
        if info.module_error_inputs_func is None or cls is None:
            continue
        errs = info.module_error_inputs_func(info, device="cpu", dtype=torch.float64,
                                             requires_grad=False, training=True)
        for k, ei in enumerate(errs):
            mi = ei.module_error_input
            c, f = mi.constructor_input, mi.forward_input
            seen += 1
            try:
                m = cls(*to_tg(list(c.args), []), **to_tg(dict(c.kwargs), []))
                if f is not None:
                    m(*to_tg(list(f.args), []), **to_tg(dict(f.kwargs), []))
            except (ValueError, TypeError, RuntimeError, IndexError):
                continue
            if (info.name, k) not in promoted:
                silent.append(f"{info.name} [{k}] /{ei.error_regex}/")
    assert seen > 50
    assert not silent, silent

