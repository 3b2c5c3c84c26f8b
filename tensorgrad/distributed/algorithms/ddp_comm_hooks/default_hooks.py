"""The stock DDP communication hooks (PyTorch's ``default_hooks``).

A hook is ``hook(state, bucket) -> Future``: ``bucket`` (a ``GradBucket``) holds the flat
gradients of some parameters; the future's value is the flat tensor DDP writes back into
their ``.grad`` (averaged over the ranks: DDP does not divide a hook's result again).

>>> from tensorgrad.distributed.algorithms.ddp_comm_hooks import default_hooks  # doctest: +SKIP
>>> ddp.register_comm_hook(None, default_hooks.fp16_compress_hook)              # doctest: +SKIP
"""

from ... import GroupMember, all_reduce, get_world_size

__all__ = ["allreduce_hook", "fp16_compress_hook", "fp16_compress_wrapper"]


def _average_async(process_group, tensor):
    """Divide ``tensor`` by the group's size, start its all-reduce, and return the future of
    the reduced tensor."""
    group = GroupMember.WORLD if process_group is None else process_group
    tensor.data[...] /= get_world_size(group)
    work = all_reduce(tensor, group=group, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


def allreduce_hook(process_group, bucket):
    """The default: average the bucket's gradients over the ranks with one all-reduce (pass
    the ``process_group`` as the hook's state; None: all ranks)."""
    return _average_async(process_group, bucket.buffer())


def fp16_compress_wrapper(hook):
    """``hook`` run on the bucket's gradients cast to float16 (half the bytes to send); the
    result is cast back to the gradients' dtype."""

    def wrapped(state, bucket):
        buffer = bucket.buffer()
        bucket.set_buffer(buffer.to("float16"))
        fut = hook(state, bucket)

        def decompress(f):
            buffer.data[...] = f.value().data
            return buffer

        return fut.then(decompress)

    return wrapped


def fp16_compress_hook(process_group, bucket):
    """Average in float16: the gradients are cast to float16, all-reduced (half the bytes
    on the wire), and cast back."""
    return fp16_compress_wrapper(allreduce_hook)(process_group, bucket)
