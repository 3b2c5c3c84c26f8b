"""PyTorch's ``torch.utils.benchmark.utils.valgrind_wrapper``: the containers of Callgrind
instruction counts (``timer_interface``). tensorgrad does not collect them (see there)."""
