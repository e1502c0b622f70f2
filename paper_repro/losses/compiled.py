"""torch.compile for the heads' arithmetic.

At small shapes, such as CIFAR's (256, 256, 10), a head step is some 70-110 tensor operations
on (B,) and (B, C) tensors, each costing more in dispatch than in arithmetic; compiled, the
element-wise chains become a few generated loops around the two matmuls. The compiled
functions are the eager ones traced, so they compute the same values up to the order of
floating-point operations (tests/losses/test_compiled.py holds them to the eager path)."""

from __future__ import annotations

import functools
import types
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
# function -> its copies per family (see compiled_math), whose code objects hold the versions
twins: dict[object, list] = {}
# every head, shape and dtype is one more compiled version of the same two functions; past
# dynamo's default of 8 versions a function runs eagerly, after failing every version's guards
# first (slower than never compiling: seen in make bench, whose ninth head went from 3x to 5x)
RECOMPILE_LIMIT = 64


@functools.cache
def compiled_math(fn, family: str = ""):
    """fn through torch.compile (static shapes: a new shape compiles once more), falling back
    to fn itself, with one warning, where compiling fails (no C compiler, an unsupported op).
    family: callers whose calls differ in kind (one per head class) get a code object of their
    own. Dynamo keeps the compiled versions of a function on its code object and tries their
    guards one by one on every call, so heads sharing one paid for each other's versions
    (measured at the CIFAR shape on 2 cores: LMCL 2.0x plain softmax alone, 2.25x once eight
    heads had compiled)."""
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
    compiled = torch.compile(_own_code(fn, family) if family else fn, dynamic=False)

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


def _own_code(fn, family: str):
    """fn with a copy of its code object (the same bytecode, named after family)."""
    code = fn.__code__.replace(co_name=f"{fn.__name__}__{family}")
    twin = types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)
    twin.__kwdefaults__, twin.__qualname__ = fn.__kwdefaults__, f"{fn.__qualname__}[{family}]"
    twins.setdefault(fn, []).append(twin)
    return twin
