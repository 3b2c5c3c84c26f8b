"""The modules of ``tensorgrad.utils.benchmark``, at PyTorch's paths
(``torch.utils.benchmark.utils.common``, ``.timer``, ``.compare``, ``.fuzzer``,
``.valgrind_wrapper.timer_interface``)."""
