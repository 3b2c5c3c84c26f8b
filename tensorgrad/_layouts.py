"""PyTorch's tensor layouts (``tg.strided``, ``tg.sparse_coo``, ``tg.sparse_csr``, ...) and the
``layout=`` argument of the factories.

A layout is a tag with one object per name (``tg.strided is tg.strided``; a pickled or copied
one comes back as the same object), printed as PyTorch prints its own (``torch.strided``: the
sparse tensors' reprs and the tests compare with PyTorch's). Dense tensors are
``tg.strided``; the sparse tensors of ``tensorgrad.sparse`` report their own layout.

Every factory whose PyTorch counterpart takes ``layout=`` takes it here, in one place:
:func:`install` wraps the public functions named in ``FACTORIES`` (and the ``Tensor.new_*``
methods) once, at import. ``None`` and ``tg.strided`` make the dense tensor; another layout
raises ``NotImplementedError`` naming the factory and the layout (build sparse tensors with
``tg.sparse_coo_tensor`` or ``Tensor.to_sparse(layout=...)``); anything else a ``TypeError``.

>>> import tensorgrad as tg
>>> tg.zeros(2, layout=tg.strided).layout
torch.strided
"""

import functools
import inspect


def _named(name):
    return layout(name)


class layout:
    """PyTorch's layout tag (``torch.layout``): one object per name."""

    __slots__ = ("_name",)
    _made = {}

    def __new__(cls, name):
        made = cls._made.get(name)
        if made is None:
            made = object.__new__(cls)
            made._name = name
            cls._made[name] = made
        return made

    def __repr__(self):
        return f"torch.{self._name}"

    def __reduce__(self):
        return _named, (self._name,)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


strided = layout("strided")
sparse_coo = layout("sparse_coo")
sparse_csr = layout("sparse_csr")
sparse_csc = layout("sparse_csc")
sparse_bsr = layout("sparse_bsr")
sparse_bsc = layout("sparse_bsc")
_mkldnn = layout("_mkldnn")
jagged = layout("jagged")


def check_layout(value, op):
    """Refuse a ``layout=`` other than None or ``tg.strided`` for the factory ``op``."""
    if value is None or value is strided:
        return
    if not isinstance(value, layout):
        raise TypeError(f"{op}(): argument 'layout' must be a layout such as tg.strided, not "
                        f"{type(value).__name__} ({value!r})")
    raise NotImplementedError(f"{op}(): layout={value!r} is not supported: tensorgrad's "
                              f"factories make strided (dense) tensors; build a sparse one with "
                              f"tg.sparse_coo_tensor / tg.sparse_csr_tensor or "
                              f"Tensor.to_sparse(layout=...)")


def takes_layout(fn, op=None, layout_kw=True, pin_kw=True):
    """``fn`` with PyTorch's keywords ``layout=`` (checked by :func:`check_layout`, then not
    passed on: ``fn`` makes strided tensors) and ``pin_memory=`` (True gives the tensor in
    page-locked host memory, :meth:`Tensor.pin_memory`), each where ``layout_kw`` /
    ``pin_kw``."""
    op = op or fn.__name__

    @functools.wraps(fn)
    def factory(*args, layout=None, pin_memory=False, **kwargs):
        if layout is not None and layout is not strided:
            if not layout_kw:
                raise TypeError(f"{op}() got an unexpected keyword argument 'layout'")
            check_layout(layout, op)
        if pin_memory:
            if not pin_kw:
                raise TypeError(f"{op}() got an unexpected keyword argument 'pin_memory'")
            return _pinned(fn(*args, **kwargs), op)
        return fn(*args, **kwargs)

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return factory
    kw_only = inspect.Parameter.KEYWORD_ONLY
    params = [p for p in sig.parameters.values() if p.name not in ("layout", "pin_memory")]
    names = [p.name for p in params]
    # PyTorch's place, right after dtype, where what follows is keyword-only; else the end
    end = len(params) - (params and params[-1].kind is inspect.Parameter.VAR_KEYWORD)
    at = end
    if "dtype" in names and all(p.kind in (kw_only, inspect.Parameter.VAR_KEYWORD)
                                for p in params[names.index("dtype") + 1:]):
        at = names.index("dtype") + 1
    if pin_kw:  # PyTorch's place, right after requires_grad; else the end
        names = [p.name for p in params]
        pin_at = names.index("requires_grad") + 1 if "requires_grad" in names else end
        params.insert(pin_at, inspect.Parameter("pin_memory", kw_only, default=False))
    if layout_kw:
        params.insert(at, inspect.Parameter("layout", kw_only, default=None))
    factory.__signature__ = sig.replace(parameters=params)
    return factory


def _pinned(t, op):
    """The factory's result ``t`` in pinned host memory, a leaf as it was."""
    if t.device.type != "cpu":
        raise RuntimeError(f"{op}(): pin_memory=True is for CPU tensors (page-locked host "
                           f"memory), not for one on {t.device}")
    return t.detach().pin_memory().requires_grad_(t.requires_grad)


# PyTorch's factories with a layout= (their schemas' ``Layout? layout``); torch.tensor,
# torch.as_tensor, torch.asarray and the sparse constructors take none. All of them but range
# take pin_memory= too, and so does torch.tensor (PIN_ONLY)
FACTORIES = (
    "zeros ones empty full eye arange range linspace logspace rand randn randint randperm "
    "normal zeros_like ones_like empty_like full_like rand_like randn_like randint_like "
    "empty_strided empty_permuted scalar_tensor tril_indices triu_indices hann_window "
    "hamming_window blackman_window bartlett_window kaiser_window").split()
METHODS = ("new_zeros", "new_ones", "new_empty", "new_full", "new_empty_strided")
NO_PIN = ("range",)
PIN_ONLY = ("tensor",)


def install(namespace, tensor_cls):
    """Wrap the factories named in ``FACTORIES`` found in ``namespace`` (the package's globals)
    and ``tensor_cls``'s ``new_*`` methods; a second call wraps nothing again."""
    for name in FACTORIES + list(PIN_ONLY):
        fn = namespace.get(name)
        if fn is not None and not getattr(fn, "_takes_layout", False):
            wrapped = takes_layout(fn, name, layout_kw=name not in PIN_ONLY,
                                   pin_kw=name not in NO_PIN)
            # pickled by reference as tensorgrad.<name>, the object users hold (the wrapped
            # function's own module keeps the unwrapped one)
            wrapped.__module__, wrapped.__qualname__ = namespace["__name__"], name
            wrapped._takes_layout = True
            namespace[name] = wrapped
    for name in METHODS:
        fn = tensor_cls.__dict__.get(name)
        if fn is not None and not getattr(fn, "_takes_layout", False):
            setattr(tensor_cls, name, takes_layout(fn, name))
            getattr(tensor_cls, name)._takes_layout = True
