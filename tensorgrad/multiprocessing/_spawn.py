"""``spawn`` / ``start_processes``: run ``fn(rank, *args)`` in ``nprocs`` processes and raise a
child's exception in the parent, naming its rank (PyTorch's ``torch.multiprocessing.spawn``)."""

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import tempfile
import time
import traceback
import warnings


class ProcessException(Exception):
    """A process started by ``spawn`` failed; ``error_index`` is its rank, ``error_pid`` its
    process id."""

    def __init__(self, msg, error_index, error_pid):
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.error_pid = error_pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid)


class ProcessRaisedException(ProcessException):
    """A process started by ``spawn`` raised an exception; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """A process started by ``spawn`` exited with a non-zero code or was killed by a signal
    (``exit_code``, ``signal_name``)."""

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid, self.exit_code,
                            self.signal_name)


def _die_with_parent():
    """Linux: a child gets SIGINT when its parent dies, so a non-daemonic child of a killed
    parent does not run on (PyTorch's ``_prctl_pr_set_pdeathsig``). Elsewhere nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _wrap(fn, rank, args, error_file):
    _die_with_parent()
    try:
        fn(rank, *args)
    except KeyboardInterrupt:
        pass  # the parent stopped us
    except Exception:
        with open(error_file, "wb") as fh:
            pickle.dump(traceback.format_exc(), fh)
        sys.exit(1)


class ProcessContext:
    """The processes ``start_processes(..., join=False)`` started: ``processes``, ``pids()``,
    and ``join(timeout)``, which returns True once all have exited successfully, False while
    some still run, and raises ``ProcessRaisedException`` / ``ProcessExitedException`` for the
    first that failed (after terminating the others)."""

    def __init__(self, processes, error_files):
        self.processes = processes
        self.error_files = error_files
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self):
        return [int(p.pid) for p in self.processes]

    def _stop_others(self, grace_period):
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + (grace_period or 0)
        for p in self.processes:
            p.join(max(deadline - time.monotonic(), 0) if grace_period else None)
            if p.is_alive():
                p.kill()
                p.join()

    def _remove_error_files(self):
        for path in self.error_files:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def join(self, timeout=None, grace_period=None):
        """Wait up to ``timeout`` seconds (None: until one exits) for the processes; see the
        class. ``grace_period``: seconds the others get after SIGTERM before SIGKILL."""
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(self.sentinels.keys(), timeout=timeout)
        failed = None
        for sentinel in ready:
            rank = self.sentinels.pop(sentinel)
            p = self.processes[rank]
            p.join()
            if p.exitcode != 0:
                failed = rank
                break
        if failed is None:
            if not self.sentinels:
                self._remove_error_files()
                return True
            return False
        self._stop_others(grace_period)
        self.sentinels.clear()
        p = self.processes[failed]
        path = self.error_files[failed]
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            self._remove_error_files()
            code = p.exitcode
            if code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"<Unknown signal {-code}>"
                raise ProcessExitedException(f"process {failed:d} terminated with signal {name}",
                                             error_index=failed, error_pid=p.pid,
                                             exit_code=code, signal_name=name)
            raise ProcessExitedException(f"process {failed:d} terminated with exit code "
                                         f"{code:d}", error_index=failed, error_pid=p.pid,
                                         exit_code=code)
        with open(path, "rb") as fh:
            original = pickle.load(fh)
        self._remove_error_files()
        msg = f"\n\n-- Process {failed:d} terminated with the following error:\n{original}"
        raise ProcessRaisedException(msg, failed, p.pid)


class SpawnContext(ProcessContext):
    """PyTorch's old name of ``ProcessContext``."""

    def __init__(self, processes, error_files):
        warnings.warn("SpawnContext is renamed to ProcessContext (as in PyTorch 1.4)",
                      DeprecationWarning, stacklevel=2)
        super().__init__(processes, error_files)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Start ``nprocs`` processes with ``start_method`` running ``fn(rank, *args)``; wait for
    them (``join=True``, re-raising a failure with the rank and the child's traceback) or
    return their ``ProcessContext``. With "spawn", ``fn`` and ``args`` must pickle."""
    ctx = multiprocessing.get_context(start_method)
    error_files = []
    processes = []
    for rank in range(nprocs):
        fd, path = tempfile.mkstemp(prefix="tensorgrad-mp-", suffix=".pickle")
        os.close(fd)  # empty until the child writes a traceback into it
        error_files.append(path)
        p = ctx.Process(target=_wrap, args=(fn, rank, args, path), daemon=daemon)
        p.start()
        processes.append(p)
    context = ProcessContext(processes, error_files)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Run ``fn(rank, *args)`` for rank 0..nprocs-1 in fresh ("spawn") processes, as PyTorch's.
    An exception in a child terminates the others and is raised in the parent as
    ``ProcessRaisedException`` naming the rank, with the child's traceback in its message.

    Example (``tests/test_multiprocessing.py`` runs it; a doctest cannot, as the children
    import ``fn`` by its module's name)::

        out = tg.zeros(2).share_memory_()
        mp.spawn(write_rank, args=(out,), nprocs=2)   # write_rank(rank, out): out.data[rank] = rank
    """
    if start_method != "spawn":
        warnings.warn(f"spawn: this function only supports start_method='spawn' (got "
                      f"{start_method!r}); to use another method call "
                      "tensorgrad.multiprocessing.start_processes(fn, args, nprocs, join, "
                      "daemon, start_method=...)", stacklevel=2)
    return start_processes(fn, args, nprocs, join, daemon, start_method=start_method)
