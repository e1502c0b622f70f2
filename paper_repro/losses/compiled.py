"""torch.compile for the heads' arithmetic.

At small shapes, such as CIFAR's (256, 256, 10), a head step is some 70-110 tensor operations
on (B,) and (B, C) tensors, each costing more in dispatch than in arithmetic; compiled, the
element-wise chains become a few generated loops around the two matmuls. The compiled
functions are the eager ones traced, so they compute the same values up to the order of
floating-point operations (tests/losses/test_compiled.py holds them to the eager path)."""

from __future__ import annotations

import functools
import warnings

import torch

# what a failed compile raises (dynamo's errors, inductor's lowering and C++ build errors);
# any other error is the function's own and is not retried
COMPILE_ERRORS = (
    torch._dynamo.exc.TorchDynamoException,
    torch._inductor.exc.InductorError,
    torch._inductor.exc.CppCompileError,
    torch._inductor.exc.LoweringException,
)

# function name -> why compiling it failed; those functions run eagerly from then on
failures: dict[str, str] = {}
# every head, shape and dtype is one more compiled version of the same two functions; past
# dynamo's default of 8 versions a function runs eagerly, after failing every version's guards
# first (slower than never compiling: seen in make bench, whose ninth head went from 3x to 5x)
RECOMPILE_LIMIT = 64


@functools.cache
def compiled_math(fn):
    """fn through torch.compile (static shapes: a new shape compiles once more), falling back
    to fn itself, with one warning, where compiling fails (no C compiler, an unsupported op).
    """
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
    compiled = torch.compile(fn, dynamic=False)

    @functools.wraps(fn)
    def run(*args):
        if fn.__qualname__ in failures:
            return fn(*args)
        try:
            return compiled(*args)
        except COMPILE_ERRORS as exc:
            failures[fn.__qualname__] = f"{type(exc).__name__}: {exc}"[:300]
            warnings.warn(f"torch.compile of {fn.__qualname__} failed, running it eagerly: "
                          f"{failures[fn.__qualname__]}", stacklevel=2)  # fmt: skip
            return fn(*args)

    return run
