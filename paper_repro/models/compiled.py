"""torch.compile of the networks: inductor, less one of its decompositions.

Inductor rewrites max_pool2d's backward as a scatter-add into a zeroed float32 buffer in
NCHW order, then casts and transposes it to the network's layout. For the 2x2, stride 2
windows of these networks, inductor's own lowering of the op is a gather (each input
position reads the one window it belongs to), which fuses with the batch norm's backward
around it: with the rewrite dropped, a bf16 MNIST step on one core spent 75 ms instead of
125 ms in the kernel that holds the first pooling layer's backward."""

from __future__ import annotations

import torch
from torch import nn

LOWERED_NOT_DECOMPOSED = (torch.ops.aten.max_pool2d_with_indices_backward.default,)


def inductor_backend(graph, example_inputs):
    """torch.compile's inductor backend without the decompositions of LOWERED_NOT_DECOMPOSED.
    AOTAutograd's cache is bypassed: its key leaves out the decompositions, so it would hand
    back a graph compiled with the default ones (seen); inductor's own cache, keyed on the
    decomposed graphs, still saves recompiling."""
    # imported here: inductor takes seconds to import, and eager runs never need it
    from torch._inductor.compile_fx import compile_fx
    from torch._inductor.decomposition import select_decomp_table

    table = {op: fn for op, fn in select_decomp_table().items() if op not in LOWERED_NOT_DECOMPOSED}
    with torch._functorch.config.patch(enable_autograd_cache=False):
        return compile_fx(graph, example_inputs, decompositions=table)


def compile_network(net: nn.Module) -> nn.Module:
    return torch.compile(net, backend=inductor_backend)
