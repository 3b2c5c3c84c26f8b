"""``tensorgrad.futures``: PyTorch's ``torch.futures``: a ``Future`` is a value that comes
later, such as the result of a collective started with ``async_op=True``
(``work.get_future()``), or what a DDP communication hook returns.

>>> import tensorgrad as tg
>>> f = tg.futures.Future()
>>> g = f.then(lambda fut: fut.value() * 2)
>>> f.set_result(21)
>>> g.wait()
42
"""

__all__ = ["Future", "collect_all", "wait_all"]


class Future:
    """A value set later with ``set_result`` (or an error, with ``set_exception``).
    ``wait()`` returns it (finishing the operation behind it first, for a future that came
    from one), ``value()`` returns it once done, ``then(callback)`` is a new future of
    ``callback(this_future)``, ``add_done_callback(callback)`` runs ``callback(this_future)``
    when it is done."""

    def __init__(self, *, devices=None):
        self._done = False
        self._value = None
        self._error = None
        self._callbacks = []
        self._waiter = None  # what wait() runs to complete a future that an operation sets

    def done(self):
        return self._done

    def set_result(self, result):
        if self._done:
            raise RuntimeError("Future.set_result: the future is already completed")
        self._value = result
        self._complete()

    def set_exception(self, result):
        if self._done:
            raise RuntimeError("Future.set_exception: the future is already completed")
        if not isinstance(result, BaseException):
            raise TypeError(f"Future.set_exception: expected an exception, got "
                            f"{type(result).__name__}")
        self._error = result
        self._complete()

    def _complete(self):
        self._done = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def wait(self):
        if not self._done:
            if self._waiter is None:
                raise RuntimeError("Future.wait: nothing will complete this future (set_result "
                                   "was not called, and no operation is behind it)")
            self._waiter()
        return self.value()

    def value(self):
        if not self._done:
            raise RuntimeError("Future.value: the future is not completed yet; call wait()")
        if self._error is not None:
            raise self._error
        return self._value

    def then(self, callback):
        child = Future()

        def run(parent):
            try:
                child.set_result(callback(parent))
            except Exception as e:  # noqa: BLE001 (handed to whoever waits on the child)
                child.set_exception(e)

        child._waiter = self.wait
        self.add_done_callback(run)
        return child

    def add_done_callback(self, callback):
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def __repr__(self):
        return f"Future(done={self._done})"


def collect_all(futures):
    """A future of the list of ``futures``, done when all of them are."""
    futures = list(futures)
    out = Future()
    out._waiter = lambda: [f.wait() for f in futures] and None

    def check(_):
        if not out.done() and all(f.done() for f in futures):
            out.set_result(futures)

    for f in futures:
        f.add_done_callback(check)
    if not futures:
        out.set_result([])
    return out


def wait_all(futures):
    """Wait for every future; their values, in order."""
    return [f.wait() for f in futures]
