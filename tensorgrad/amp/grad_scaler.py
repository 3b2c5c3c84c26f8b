"""``GradScaler``: dynamic loss scaling, as ``torch.amp.GradScaler``.

The scale and the growth tracker are 0-d arrays on the device of the first ``scale()``d
output (the parameters' device). ``unscale_`` multiplies each gradient by 1/scale and ORs a
"found inf/NaN" flag on the device (no host synchronisation); ``step`` reads that flag once
per device to decide whether to call ``optimizer.step``; ``update`` backs the scale off after
an overflow and grows it after ``growth_interval`` clean steps, on the device.
"""

import contextlib
import enum
import warnings
from collections import defaultdict

import numpy as np

from ..backend.device import cuda_available, device_of, xp_of
from ..tensor import Tensor

_F16 = np.dtype(np.float16)


class OptState(enum.Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state():
    return {"stage": OptState.READY, "found_inf_per_device": {}}


def _on(device):
    """Make ``device`` current (CuPy computes on the current GPU only)."""
    if device.type == "cuda":
        import cupy

        return cupy.cuda.Device(device.index)
    return contextlib.nullcontext()


def _update_scale_(scale, tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    """PyTorch's ``_amp_update_scale_`` on 0-d device arrays, in place, without reading them:
    back off (and reset the tracker) after an overflow; else count a clean step, and after
    ``growth_interval`` of them grow the scale (if the result is finite) and reset."""
    xp = xp_of(scale)
    inf = found_inf > 0
    successful = tracker + 1
    grow = successful == growth_interval
    s64 = scale.astype(np.float64)
    grown = (s64 * growth_factor).astype(np.float32)
    backed = (s64 * backoff_factor).astype(np.float32)
    kept = xp.where(grow & xp.isfinite(grown), grown, scale)
    scale[...] = xp.where(inf, backed, kept)
    tracker[...] = xp.where(inf | grow, 0, successful).astype(tracker.dtype)


class GradScaler:
    """Loss scaling for float16 training, as ``torch.amp.GradScaler``.

    ``scale(loss)`` multiplies by the scale (2**16 at first) before ``backward()``;
    ``step(optimizer)`` unscales the gradients (unless ``unscale_`` did already, e.g. to clip
    them) and skips the step if any is inf or NaN; ``update()`` halves the scale after such a
    step and doubles it after ``growth_interval`` clean ones. ``enabled=False`` makes every
    method a pass-through, so one loop serves both precisions.

    >>> import tensorgrad as tg
    >>> model = tg.nn.Linear(3, 1)
    >>> _ = tg.nn.init.constant_(model.weight, 0.1), tg.nn.init.zeros_(model.bias)
    >>> opt = tg.optim.SGD(model.parameters(), lr=0.1)
    >>> scaler = tg.amp.GradScaler("cpu")
    >>> with tg.autocast("cpu"):
    ...     loss = model(tg.ones(4, 3)).float().pow(2).mean()
    >>> scaler.scale(loss).backward()
    >>> scaler.step(opt)
    >>> scaler.update()
    >>> scaler.get_scale()  # no inf or NaN in the float16 gradients: the scale stays
    65536.0
    >>> [round(v, 4) for v in model.weight.tolist()[0]]
    [0.04, 0.04, 0.04]
    """

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000, enabled=True):
        self._device = str(device).partition(":")[0]
        self._enabled = bool(enabled)
        if self._enabled and self._device == "cuda" and not cuda_available():
            warnings.warn("tensorgrad.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if not growth_factor > 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if not backoff_factor < 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale = None  # made by the first scale(), on its output's device
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker = None
            self._replicas = {}  # device -> the scale there (outputs on several devices)
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # ---- scaling ---------------------------------------------------------------------------
    def _lazy_init_scale_growth_tracker(self, dev):
        with _on(dev):
            self._scale = dev.put(np.full((), self._init_scale, dtype=np.float32))
            self._growth_tracker = dev.put(np.full((), self._init_growth_tracker,
                                                   dtype=np.int32))

    def _scale_on(self, dev):
        if self._scale is None:
            self._lazy_init_scale_growth_tracker(dev)
        home = device_of(self._scale)
        if dev == home:
            return self._scale
        rep = self._replicas.get(dev)
        if rep is None or rep[0] is not self._scale:
            with _on(dev):
                rep = self._replicas[dev] = (self._scale, dev.put(self._scale))
        return rep[1]

    def scale(self, outputs):
        """``outputs`` (a tensor, or a list/tuple of them, nested) times the scale."""
        if not self._enabled:
            return outputs
        self._replicas.clear()  # the scale may have changed since: copy it again
        if isinstance(outputs, Tensor):
            return outputs * self._scale_on(outputs.device)

        def apply_scale(val):
            if isinstance(val, Tensor):
                return val * self._scale_on(val.device)
            if isinstance(val, (list, tuple)):
                return type(val)(apply_scale(v) for v in val)
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    def _check_scale_growth_tracker(self, funcname):
        fix = ("This may indicate your script did not use scaler.scale(loss or outputs) "
               "earlier in the iteration.")
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + fix)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + fix)
        return self._scale, self._growth_tracker

    # ---- unscaling and the step ------------------------------------------------------------
    def _unscale_grads_(self, optimizer, inv_scale, found_inf, allow_fp16):
        """Multiply every gradient by ``inv_scale`` (a 0-d array) in place and OR, per device,
        whether one holds an inf or NaN into a 0-d float32 flag: {device: flag}."""
        per_device = {}
        for group in optimizer.param_groups:
            for param in group["params"]:
                g = param.grad
                if g is None:
                    continue
                if not allow_fp16 and g.dtype == _F16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                if g.is_sparse:  # an Embedding(sparse=True)'s gradient: its values
                    g = g._vals
                gd = g.data
                dev = device_of(gd)
                entry = per_device.get(dev)
                with _on(dev):
                    if entry is None:
                        entry = per_device[dev] = (dev.put(inv_scale), dev.put(found_inf))
                    inv, found = entry
                    xp = xp_of(gd)
                    found += ~xp.isfinite(gd).all()
                    if gd.flags.c_contiguous and getattr(gd.flags, "writeable", True):
                        gd *= inv  # in place (as PyTorch): backward gave the leaf its own buffer
                    else:  # a broadcast or read-only view: a new array
                        g.data = (gd * inv).astype(gd.dtype)
        return {dev: entry[1] for dev, entry in per_device.items()}

    def unscale_(self, optimizer):
        """Divide ``optimizer``'s gradients by the scale in place (before clipping them, say)
        and note, on the device, whether any is inf or NaN. At most once per ``update()``."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        with _on(device_of(self._scale)):
            inv_scale = (1.0 / self._scale.astype(np.float64)).astype(np.float32)
            found_inf = xp_of(self._scale).zeros((), dtype=np.float32)
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, found_inf,
                                                             False)
        state["stage"] = OptState.UNSCALED

    def _check_inf_per_device(self, optimizer):
        """{device: flag} of whether ``optimizer``'s gradients hold an inf or NaN (unscaled by
        1, so nothing changes)."""
        self._check_scale_growth_tracker("_check_inf_per_device")
        with _on(device_of(self._scale)):
            xp = xp_of(self._scale)
            dummy = xp.ones((), dtype=np.float32)
            found = xp.zeros((), dtype=np.float32)
        state = self._per_optimizer_states[id(optimizer)]
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, dummy, found, True)
        return state["found_inf_per_device"]

    def _found_inf_per_device(self, optimizer):
        return self._per_optimizer_states[id(optimizer)]["found_inf_per_device"]

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` unless a gradient is inf or NaN (unscaling them
        first if ``unscale_`` was not called); returns what the step returned, else None.
        Reads the device flag once (the one host synchronisation)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if not state["found_inf_per_device"]:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(v.item() for v in state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale=None):
        """Adjust the scale for the next iteration: ``new_scale`` (a float, or a 1-element
        tensor on the scaler's device) if given, else back off by ``backoff_factor`` if any
        optimizer saw an inf/NaN since the last update, or grow by ``growth_factor`` after
        ``growth_interval`` clean updates. Runs on the device (no synchronisation)."""
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")
        home = device_of(scale)
        with _on(home):
            if new_scale is not None:
                if isinstance(new_scale, float):
                    scale.fill(new_scale)
                else:
                    reason = ("new_scale should be a float or a 1-element tensorgrad Tensor "
                              "with requires_grad=False.")
                    if not isinstance(new_scale, Tensor) or \
                            new_scale.device.type != self._device or new_scale.numel() != 1 \
                            or new_scale.requires_grad:
                        raise AssertionError(reason)
                    scale[...] = home.put(new_scale.data).reshape(()).astype(scale.dtype)
            else:
                found_infs = [home.put(f) for st in self._per_optimizer_states.values()
                              for f in st["found_inf_per_device"].values()]
                if not found_infs:
                    raise AssertionError("No inf checks were recorded prior to update.")
                combined = found_infs[0]
                for f in found_infs[1:]:
                    combined = combined + f
                _update_scale_(scale, tracker, combined, self._growth_factor,
                               self._backoff_factor, self._growth_interval)
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # ---- getters, setters, state -----------------------------------------------------------
    def _get_scale_async(self):
        return self._scale

    def get_scale(self):
        """The current scale as a Python float (a host synchronisation); 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return float(self._init_scale) if self._scale is None else float(self._scale.item())

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def _get_growth_tracker(self):
        if not self._enabled:
            return 0
        if self._growth_tracker is None:
            return self._init_growth_tracker
        return int(self._growth_tracker.item())

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        """{"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}
        (PyTorch's keys); empty when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            with _on(device_of(self._scale)):
                self._scale.fill(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            with _on(device_of(self._growth_tracker)):
                self._growth_tracker.fill(state_dict["_growth_tracker"])
