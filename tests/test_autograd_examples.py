"""The kinds of programs in HIPS autograd's ``examples/`` run on tensorgrad with only their
imports changed: a character RNN and an LSTM trained with ``adam``, a convnet built on
``scipy.signal.convolve`` trained with ``rmsprop``, a neural ODE through ``odeint``, and a
fluid simulation differentiated with respect to its initial velocities.

As in ``test_autograd_compat.py``, each program is written once against a namespace ``L`` of
what its imports bind; tensorgrad runs it on the test's device (on the GPU with that device as
tensorgrad's default, so the arrays a program makes itself, ``np.ones`` and the like, are made
there as well), HIPS autograd runs the very same program on the host, and the two must agree
to rounding (float64). Derivatives are also checked against central finite differences.
"""

import contextlib
import importlib
from types import SimpleNamespace

import numpy as onp
import pytest
from devices import host, numeric_jacobian, on, put
from test_autograd_compat import _check_against_numeric, namespaces
from test_autograd_compat import _namespace as _compat_namespace

import tensorgrad as tg

pytest.importorskip("scipy")


def _namespace(root):
    """test_autograd_compat's namespace, with the names these programs import besides."""
    mod = importlib.import_module
    builtins = ("tensorgrad.autograd_compat.builtins" if root == "tensorgrad"
                else "autograd.builtins")
    return SimpleNamespace(
        **vars(_compat_namespace(root)),
        odeint=mod(f"{root}.scipy.integrate").odeint,
        convolve=mod(f"{root}.scipy.signal").convolve,
        rmsprop=mod(f"{root}.misc.optimizers").rmsprop,
        tuple=mod(builtins).tuple,
    )


TG, _tg, _autograd = namespaces(_namespace)


@contextlib.contextmanager
def _default_device(device):
    """``device`` as tensorgrad's default while a program runs (the CPU again after it)."""
    tg.set_default_device(device)
    try:
        yield
    finally:
        tg.set_default_device("cpu")


def _close(mine, theirs, rtol=1e-10, atol=1e-12):
    """Our result (a container of arrays of any device) equals autograd's (host)."""
    flat_mine, _ = TG.flatten(host(mine))
    flat_theirs, _ = TG.flatten(theirs)
    onp.testing.assert_allclose(host(flat_mine), host(flat_theirs), rtol=rtol, atol=atol)


def _flat_check_grads(L, f, params, order=2):
    """``check_grads`` of ``f`` at the container ``params``, through its flat vector."""
    flat, unflatten = L.flatten(params)
    tg.check_grads(lambda v: f(unflatten(v)), modes=("fwd", "rev"), order=order)(flat)


def _one_hot_batch(strings):
    """(time, sequence, character) one-hot float array of equal-length ``strings``, and the
    alphabet size."""
    alphabet = sorted(set("".join(strings)))
    idx = onp.array([[alphabet.index(c) for c in s] for s in strings]).T
    return onp.array(idx[:, :, None] == onp.arange(len(alphabet)), dtype=float), len(alphabet)


TEXT = ["hello wo", "the cat ", "autograd", "tensors!"]


# ---- 1. a vanilla character RNN: one-hot inputs, tanh state, dict parameters ---------------
def rnn_program(L, strings=TEXT, state_size=8, num_iters=8):
    np, npr = L.np, L.npr
    seqs, vocab = _one_hot_batch(strings)
    seqs = L.put(seqs)
    rs = npr.RandomState(0)
    params = {"init hiddens": rs.randn(1, state_size) * 0.1,
              "change": rs.randn(vocab + state_size + 1, state_size) * 0.1,
              "predict": rs.randn(state_size + 1, vocab) * 0.1}
    params = L.put(params)

    def concat_and_multiply(weights, *args):
        cat_state = np.hstack(args + (np.ones((args[0].shape[0], 1)),))
        return np.dot(cat_state, weights)

    def rnn_predict(params, inputs):
        def update_rnn(input, hiddens):
            return np.tanh(concat_and_multiply(params["change"], input, hiddens))

        def hiddens_to_output_probs(hiddens):
            output = concat_and_multiply(params["predict"], hiddens)
            return output - L.logsumexp(output, axis=1, keepdims=True)

        hiddens = np.repeat(params["init hiddens"], inputs.shape[1], axis=0)
        output = [hiddens_to_output_probs(hiddens)]
        for input in inputs:  # time steps
            hiddens = update_rnn(input, hiddens)
            output.append(hiddens_to_output_probs(hiddens))
        return output

    def rnn_log_likelihood(params, inputs, targets):
        logprobs = rnn_predict(params, inputs)
        loglik = 0.0
        num_time_steps, num_examples, _ = inputs.shape
        for t in range(num_time_steps):
            loglik += np.sum(logprobs[t] * targets[t])
        return loglik / (num_time_steps * num_examples)

    def training_loss(params, iter=0):
        return -rnn_log_likelihood(params, seqs[:-1], seqs[1:])

    trace = []

    def callback(weights, iter, gradient):
        trace.append(float(host(training_loss(weights, iter))))

    trained = L.adam(L.grad(training_loss), params, step_size=0.1, num_iters=num_iters,
                     callback=callback)
    return training_loss, params, trained, trace


def test_rnn_trains_like_autograds(device):
    L = _tg(device)
    with _default_device(device):
        loss, init, trained, trace = rnn_program(L)
        g = L.grad(loss)(init)
    assert set(trained) == {"init hiddens", "change", "predict"}
    assert all(on(v, device) for v in trained.values()) and on(g["change"], device)
    assert len(trace) == 8 and trace[-1] < trace[0] - 0.2
    AG = _autograd()
    loss_ag, init_ag, trained_ag, trace_ag = rnn_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    _close(g, AG.grad(loss_ag)(init_ag))
    _close(trained, trained_ag, rtol=1e-9)


def test_rnn_gradients_against_finite_differences(device):
    L = _tg(device)
    with _default_device(device):
        loss, init, _, _ = rnn_program(L, strings=["abca", "bcab"], state_size=3, num_iters=0)
        _check_against_numeric(L, loss, init)
        _flat_check_grads(L, loss, init)


# ---- 2. an LSTM: sigmoid gates from tanh, np.concatenate, list parameters -------------------
def lstm_program(L, strings=TEXT, state_size=6, num_iters=6):
    np, npr = L.np, L.npr
    seqs, vocab = _one_hot_batch(strings)
    seqs = L.put(seqs)
    rs = npr.RandomState(1)

    def rp(*shape):
        return rs.randn(*shape) * 0.1

    # init cells, init hiddens, change, forget, ingate, outgate, predict
    gate_shape = (vocab + state_size + 1, state_size)
    params = L.put([rp(1, state_size), rp(1, state_size)] + [rp(*gate_shape) for _ in range(4)]
                   + [rp(state_size + 1, vocab)])

    def sigmoid(x):
        return 0.5 * (np.tanh(x / 2.0) + 1.0)

    def concat_and_multiply(weights, *args):
        cat_state = np.concatenate(args + (np.ones((args[0].shape[0], 1)),), axis=1)
        return np.dot(cat_state, weights)

    def lstm_predict(params, inputs):
        init_cells, init_hiddens, w_change, w_forget, w_in, w_out, w_predict = params

        def update_lstm(input, hiddens, cells):
            change = np.tanh(concat_and_multiply(w_change, input, hiddens))
            forget = sigmoid(concat_and_multiply(w_forget, input, hiddens))
            ingate = sigmoid(concat_and_multiply(w_in, input, hiddens))
            outgate = sigmoid(concat_and_multiply(w_out, input, hiddens))
            cells = cells * forget + ingate * change
            hiddens = outgate * np.tanh(cells)
            return hiddens, cells

        def hiddens_to_output_probs(hiddens):
            output = concat_and_multiply(w_predict, hiddens)
            return output - L.logsumexp(output, axis=1, keepdims=True)

        num_sequences = inputs.shape[1]
        hiddens = np.repeat(init_hiddens, num_sequences, axis=0)
        cells = np.repeat(init_cells, num_sequences, axis=0)
        output = [hiddens_to_output_probs(hiddens)]
        for input in inputs:
            hiddens, cells = update_lstm(input, hiddens, cells)
            output.append(hiddens_to_output_probs(hiddens))
        return output

    def training_loss(params, iter=0):
        logprobs = lstm_predict(params, seqs[:-1])
        loglik = sum(np.sum(lp * tgt) for lp, tgt in zip(logprobs, seqs[1:]))
        return -loglik / ((seqs.shape[0] - 1) * seqs.shape[1])

    trace = []

    def callback(weights, iter, gradient):
        trace.append(float(host(training_loss(weights))))

    trained = L.adam(L.grad(training_loss), params, step_size=0.1, num_iters=num_iters,
                     callback=callback)
    return training_loss, params, trained, trace


def test_lstm_trains_like_autograds(device):
    L = _tg(device)
    with _default_device(device):
        loss, init, trained, trace = lstm_program(L)
        g = L.grad(loss)(init)
    assert isinstance(trained, list) and len(trained) == 7
    assert all(on(v, device) for v in trained) and on(g[2], device)
    assert trace[-1] < trace[0] - 0.2
    AG = _autograd()
    loss_ag, init_ag, trained_ag, trace_ag = lstm_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    _close(g, AG.grad(loss_ag)(init_ag))
    _close(trained, trained_ag, rtol=1e-9)


def test_lstm_gradients_against_finite_differences(device):
    L = _tg(device)
    with _default_device(device):
        loss, init, _, _ = lstm_program(L, strings=["abc", "cab"], state_size=2, num_iters=0)
        _check_against_numeric(L, loss, init)
        _flat_check_grads(L, loss, init)


# ---- 3. a convnet: scipy.signal.convolve with axes/dot_axes, reshape + max pooling ----------
class WeightsParser:
    """Named blocks of one flat parameter vector (autograd's convnet keeps its weights so)."""

    def __init__(self):
        self.idxs_and_shapes = {}
        self.N = 0

    def add_weights(self, name, shape):
        start = self.N
        self.N += int(onp.prod(shape))
        self.idxs_and_shapes[name] = (slice(start, self.N), shape)

    def get(self, vect, name):
        idxs, shape = self.idxs_and_shapes[name]
        return vect[idxs].reshape(shape)


def convnet_program(L, num_images=6, num_iters=5):
    np = L.np
    rs = onp.random.RandomState(3)
    images = rs.randn(num_images, 1, 8, 8)
    labels = rs.randint(0, 4, size=num_images)
    targets = L.put(onp.array(labels[:, None] == onp.arange(4), dtype=float))
    images = L.put(images)

    parser = WeightsParser()
    parser.add_weights("filters", (1, 3, 3, 3))  # [color_in, color_out, y, x]
    parser.add_weights("conv biases", (1, 3, 1, 1))
    parser.add_weights("W1", (3 * 3 * 3, 10))
    parser.add_weights("b1", (10,))
    parser.add_weights("W2", (10, 4))
    parser.add_weights("b2", (4,))

    def conv_layer(inputs, weights):
        # [data, color_in, y, x] * [color_in, color_out, y, x] -> [data, color_out, y, x]
        filters = parser.get(weights, "filters")
        conv = L.convolve(inputs, filters, axes=([2, 3], [2, 3]), dot_axes=([1], [0]),
                          mode="valid")
        return conv + parser.get(weights, "conv biases")

    def maxpool_layer(inputs, pool_shape=(2, 2)):
        new_shape = inputs.shape[:2]
        for i in [0, 1]:
            new_shape += (inputs.shape[i + 2] // pool_shape[i], pool_shape[i])
        result = inputs.reshape(new_shape)
        return np.max(np.max(result, axis=3), axis=4)

    def predict(weights, inputs):
        h = maxpool_layer(conv_layer(inputs, weights))
        h = h.reshape((h.shape[0], np.prod(h.shape[1:])))
        h = np.tanh(np.dot(h, parser.get(weights, "W1")) + parser.get(weights, "b1"))
        out = np.dot(h, parser.get(weights, "W2")) + parser.get(weights, "b2")
        return out - L.logsumexp(out, axis=1, keepdims=True)

    def loss_fun(weights, iter=0):
        log_prior = -0.01 * np.dot(weights, weights)
        log_lik = np.sum(predict(weights, images) * targets) / num_images
        return -log_prior - log_lik

    weights = L.put(onp.random.RandomState(4).randn(parser.N) * 0.3)
    trace = []

    def callback(w, iter, g):
        trace.append(float(host(loss_fun(w))))

    trained = L.rmsprop(L.grad(loss_fun), weights, step_size=0.05, num_iters=num_iters,
                        callback=callback)
    conv_out = conv_layer(images, weights)
    return loss_fun, weights, trained, trace, conv_out


def test_convnet_trains_like_autograds(device):
    L = _tg(device)
    with _default_device(device):
        loss, init, trained, trace, conv_out = convnet_program(L)
        g = L.grad(loss)(init)
    assert conv_out.shape == (6, 3, 6, 6) and on(conv_out, device) and on(trained, device)
    assert trace[-1] < trace[0]
    AG = _autograd()
    loss_ag, init_ag, trained_ag, trace_ag, conv_ag = convnet_program(AG)
    _close(conv_out, conv_ag)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    _close(g, AG.grad(loss_ag)(init_ag))
    _close(trained, trained_ag, rtol=1e-9)


def test_convnet_gradients_against_finite_differences(device):
    L = _tg(device)
    with _default_device(device):
        loss, init, _, _, _ = convnet_program(L, num_images=2, num_iters=0)
        exact = host(L.grad(loss)(init))
        numeric = numeric_jacobian(lambda w: float(host(loss(L.put(w)))), host(init))
        onp.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-7)
        _flat_check_grads(L, loss, init)


# ---- 4. a neural ODE: odeint differentiated in its initial state and its MLP's parameters ----
def ode_net_program(L, tol=1e-11):
    np = L.np
    rs = onp.random.RandomState(5)
    D, H = 2, 8
    t = L.put(onp.linspace(0.0, 1.0, 6))
    true_A = L.put(onp.array([[-0.1, 2.0], [-2.0, -0.1]]))

    def true_dynamics(y, t, A):
        return np.dot(y ** 3, A)

    target = L.odeint(true_dynamics, L.put(onp.array([2.0, 0.0])), t, L.tuple((true_A,)),
                      rtol=tol, atol=tol)

    def nn_predict(inputs, t, params):
        for W, b in params:
            outputs = np.dot(inputs, W) + b
            inputs = np.tanh(outputs)
        return outputs

    def ode_pred(params, y0):
        return L.odeint(nn_predict, y0, t, L.tuple((params,)), rtol=tol, atol=tol)

    def loss(params, y0):
        return np.mean((ode_pred(params, y0) - target) ** 2)

    params = L.put([(rs.randn(D, H) * 0.5, rs.randn(H) * 0.1),
                    (rs.randn(H, D) * 0.5, rs.randn(D) * 0.1)])
    y0 = L.put(onp.array([1.5, 0.5]))
    return loss, ode_pred, params, y0, target


def test_neural_ode_gradients_match_autograds(device):
    L = _tg(device)
    with _default_device(device):
        loss, ode_pred, params, y0, target = ode_net_program(L)
        traj = ode_pred(params, y0)
        value, (g_params, g_y0) = L.value_and_grad(loss, argnum=(0, 1))(params, y0)
    assert traj.shape == (6, 2) and on(traj, device) and on(target, device)
    assert on(g_y0, device) and on(g_params[0][0], device)
    assert isinstance(g_params, list) and g_params[1][0].shape == (8, 2)
    AG = _autograd()
    loss_ag, pred_ag, params_ag, y0_ag, target_ag = ode_net_program(AG)
    _close(target, target_ag)
    _close(traj, pred_ag(params_ag, y0_ag))
    value_ag, (g_params_ag, g_y0_ag) = AG.value_and_grad(loss_ag, argnum=(0, 1))(params_ag,
                                                                                  y0_ag)
    assert abs(float(host(value)) - value_ag) < 1e-10 * abs(value_ag)
    _close(g_y0, g_y0_ag, rtol=1e-9)
    _close(g_params, g_params_ag, rtol=1e-9, atol=1e-11)


def test_neural_ode_gradients_against_finite_differences(device):
    L = _tg(device)
    with _default_device(device):
        loss, _, params, y0, _ = ode_net_program(L)
        _check_against_numeric(L, lambda p: loss(p, y0), params, rtol=1e-6, atol=1e-8)
        g_y0 = host(L.grad(loss, 1)(params, y0))
        numeric = numeric_jacobian(lambda v: float(host(loss(params, L.put(v)))), host(y0))
    onp.testing.assert_allclose(g_y0, numeric, rtol=1e-6, atol=1e-8)


def test_odeint_gradient_in_the_times_matches_autograds(device):
    L = _tg(device)
    AG = _autograd()
    ts = onp.array([0.0, 0.3, 0.7, 1.0])
    A = onp.array([[-0.1, 2.0], [-2.0, -0.1]])

    def program(L):
        def f(y, t, A):
            return L.np.dot(y ** 3, A) * (1.0 + 0.5 * L.np.sin(t))

        def loss(t):
            ys = L.odeint(f, L.put(onp.array([1.0, 0.2])), t, (L.put(A),), rtol=1e-11,
                          atol=1e-11)
            return L.np.sum(ys ** 2)

        return loss

    with _default_device(device):
        loss = program(L)
        g = L.grad(loss)(L.put(ts))
        tg.check_grads(loss, modes=("rev",), order=1)(L.put(ts))
    assert on(g, device)
    _close(g, AG.grad(program(AG))(ts), rtol=1e-9)


def test_hessian_through_odeint_matches_autograds(device):
    """Regression: the adjoint's VJPs of the dynamics, run inside odeint's forward, came back
    as Tensors (a transform nested in the Hessian's) and SciPy could not take them."""
    L = _tg(device)
    with _default_device(device):
        loss, _, params, y0, _ = ode_net_program(L)
        H = L.hessian(lambda y: loss(params, y))(y0)
    assert on(H, device)
    AG = _autograd()
    loss_ag, _, params_ag, y0_ag, _ = ode_net_program(AG)
    _close(H, AG.hessian(lambda y: loss_ag(params_ag, y))(y0_ag), rtol=1e-8, atol=1e-10)


def test_odeint_check_grads_to_second_order(device):
    L = _tg(device)
    with _default_device(device):
        loss, _, params, y0, _ = ode_net_program(L, tol=1e-11)
        # reverse mode only: odeint has no JVP rule (nor has it in autograd)
        tg.check_grads(lambda y: loss(params, y), modes=("rev",), order=2)(y0)
        tg.check_grads(lambda p: loss(p, y0), modes=("rev",), order=1)(params)


def test_odeint_through_the_autograd_import_hook():
    """``import autograd.scipy.integrate`` under the hook gives the differentiable odeint (it
    was SciPy's, refused on traced values)."""
    from tensorgrad import autograd_compat
    from tensorgrad.scipy.integrate import odeint

    with autograd_compat.installed():
        from autograd.scipy.integrate import odeint as hooked
    assert hooked is odeint


def test_raw_device_array_indexed_by_an_integer_tensor(device):
    """Regression (CuPy stand-in): CuPy takes an index that exports __cuda_array_interface__
    (a CUDA tensor) as an array; the stand-in refused it, so the fluid simulation's
    ``smoke[left_ix, top_ix]`` (a constant field, traced integer indices) failed on "cuda"."""
    field = put(onp.arange(12.0).reshape(3, 4), device)
    rows = tg.tensor(put(onp.array([2, 0, 1]), device))
    cols = tg.tensor(put(onp.array([3, 1, 0]), device))
    picked = field[rows, cols]
    assert on(picked, device)
    onp.testing.assert_array_equal(host(picked), [11.0, 1.0, 4.0])


# ---- 5. a fluid simulation: np.roll advection, bilinear interpolation, Jacobi projection ----
def fluid_program(L, size=8, num_steps=3, jacobi_iters=4):
    np = L.np

    def project(vx, vy):
        """Make the velocity field approximately divergence-free (a few Jacobi sweeps)."""
        p = np.zeros(vx.shape)
        h = 1.0 / vx.shape[0]
        div = -0.5 * h * (np.roll(vx, -1, axis=0) - np.roll(vx, 1, axis=0)
                          + np.roll(vy, -1, axis=1) - np.roll(vy, 1, axis=1))
        for _ in range(jacobi_iters):
            p = (div + np.roll(p, 1, axis=0) + np.roll(p, -1, axis=0)
                 + np.roll(p, 1, axis=1) + np.roll(p, -1, axis=1)) / 4.0
        vx -= 0.5 * (np.roll(p, -1, axis=0) - np.roll(p, 1, axis=0)) / h
        vy -= 0.5 * (np.roll(p, -1, axis=1) - np.roll(p, 1, axis=1)) / h
        return vx, vy

    def advect(f, vx, vy):
        """Move field ``f`` along the velocities (semi-Lagrangian, bilinear interpolation)."""
        rows, cols = f.shape
        cell_ys, cell_xs = np.meshgrid(np.arange(rows), np.arange(cols))
        center_xs = (cell_xs - vx).ravel()
        center_ys = (cell_ys - vy).ravel()
        left_ix = np.floor(center_xs).astype(int)
        top_ix = np.floor(center_ys).astype(int)
        rw = center_xs - left_ix
        bw = center_ys - top_ix
        left_ix = np.mod(left_ix, rows)
        right_ix = np.mod(left_ix + 1, rows)
        top_ix = np.mod(top_ix, cols)
        bot_ix = np.mod(top_ix + 1, cols)
        flat_f = ((1 - rw) * ((1 - bw) * f[left_ix, top_ix] + bw * f[left_ix, bot_ix])
                  + rw * ((1 - bw) * f[right_ix, top_ix] + bw * f[right_ix, bot_ix]))
        return np.reshape(flat_f, (rows, cols))

    def simulate(vx, vy, smoke):
        for _ in range(num_steps):
            vx_updated = advect(vx, vx, vy)
            vy_updated = advect(vy, vx, vy)
            vx, vy = project(vx_updated, vy_updated)
            smoke = advect(smoke, vx, vy)
        return smoke

    grid = onp.arange(size) / size
    smoke = L.put(onp.exp(-20 * ((grid[:, None] - 0.4) ** 2 + (grid[None, :] - 0.5) ** 2)))
    target = L.put(onp.exp(-20 * ((grid[:, None] - 0.6) ** 2 + (grid[None, :] - 0.4) ** 2)))

    def distance_from_target(init_vel):
        final = simulate(init_vel[0], init_vel[1], smoke)
        return np.mean((final - target) ** 2)

    rs = onp.random.RandomState(6)
    init_vel = L.put(rs.randn(2, size, size) * 0.7)
    return distance_from_target, init_vel, simulate, smoke


def test_fluid_simulation_gradient_matches_autograds(device):
    L = _tg(device)
    with _default_device(device):
        objective, init_vel, simulate, smoke = fluid_program(L)
        final = simulate(init_vel[0], init_vel[1], smoke)
        value, g = L.value_and_grad(objective)(init_vel)
    assert on(final, device) and on(g, device) and g.shape == (2, 8, 8)
    AG = _autograd()
    objective_ag, init_ag, simulate_ag, smoke_ag = fluid_program(AG)
    _close(final, simulate_ag(init_ag[0], init_ag[1], smoke_ag))
    value_ag, g_ag = AG.value_and_grad(objective_ag)(init_ag)
    assert abs(float(host(value)) - value_ag) < 1e-10 * abs(value_ag)
    _close(g, g_ag)


def test_fluid_simulation_gradient_against_finite_differences(device):
    L = _tg(device)
    with _default_device(device):
        objective, init_vel, _, _ = fluid_program(L, size=5, num_steps=2, jacobi_iters=2)
        exact = host(L.grad(objective)(init_vel))
        numeric = numeric_jacobian(lambda v: float(host(objective(L.put(v)))), host(init_vel))
        onp.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-8)
        tg.check_grads(objective, modes=("fwd", "rev"), order=2)(init_vel)
