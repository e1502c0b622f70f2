"""Inductor for the heads' arithmetic, without dynamo at call time.

At small shapes, such as CIFAR's (256, 256, 10), a head step is some 70-110 tensor operations
on (B,) and (B, C) tensors, each costing more in dispatch than in arithmetic; compiled, the
element-wise chains become a few generated loops around the three matmuls.

`call(fn, *args)` traces fn once per kind of call (make_fx, on fake tensors) and hands the
graph to inductor (`torch._inductor.compile`). A call is looked up in a dict whose key is
what the trace bakes in from the arguments: fn, the numbers, flags and functions among them,
and each tensor's shape, strides, dtype and device. Module globals the traced code reads are
baked in too, unkeyed: code that patches them (tests/losses/test_mutants.py does, eagerly)
has to `clear()` the graphs to compile with the patch. torch.compile's route, which this
replaced, paid dynamo's guard checks and wrappers on every call (one L-Softmax call at the
CIFAR shape on 2 cores: 118 us through torch.compile, 80 us here with inductor's Python
wrapper), and its guards grew with every head and shape.

What can be compiled: tensors, numbers, bools, strings and None, and module-level functions
or functools.partial objects of them over those (how the heads hand over their partials:
a closure, lambda or bound method runs eagerly, with one warning). The tensors,
also those inside a partial (L-Softmax's lam), are inputs of the compiled graph; everything
else is a constant of it, so a new value compiles once more. The compiled functions are the
eager ones traced: the same values up to the order of floating-point operations
(tests/losses/test_compiled.py holds them to the eager path)."""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Callable, Iterator

import torch
import torch._inductor
from torch._subclasses import fake_tensor
from torch.fx.experimental.proxy_tensor import make_fx

# what a failed compile raises (dynamo's errors, inductor's lowering and C++ build errors);
# any other error is the function's own and is not retried
COMPILE_ERRORS = (
    torch._dynamo.exc.TorchDynamoException,
    torch._inductor.exc.InductorError,
    torch._inductor.exc.CppCompileError,
    torch._inductor.exc.InvalidCxxCompiler,
    torch._inductor.exc.LoweringException,
)
# what tracing on fake tensors raises for code it cannot follow (data-dependent shapes or
# values, operators without a fake kernel)
TRACE_ERRORS = (
    fake_tensor.DataDependentOutputException,
    fake_tensor.DynamicOutputShapeException,
    fake_tensor.UnsupportedOperatorException,
    fake_tensor.UnsupportedFakeTensorException,
)
# the errors that mean no graph can be built here at all, whatever the call: after one, every
# call runs eagerly without trying again
NO_COMPILER = (torch._inductor.exc.InvalidCxxCompiler, torch._inductor.exc.CppCompileError)
COMPILER = "compiler"

# why calls ran eagerly: COMPILER -> why no graph can be built here (every later call runs
# eagerly), "name: reason" -> why one kind of call could not be traced or compiled (those
# calls run eagerly, the others still compile); the runner records them in its provenance
failures: dict[str, str] = {}
# keys of the calls that failed to compile (they run eagerly without trying again)
uncompiled: set[tuple] = set()
# (fn, constants, tensor layouts) -> the compiled graph of fn for such calls
graphs: dict[tuple, Callable] = {}

_CONSTANT_TYPES = frozenset((bool, int, float, str, type(None)))
# the inputs' elements up to which a CPU graph runs on one thread (see _options); CIFAR's
# features (256, 256) are 65,536, the face shape's class weights (10572, 512) 5.4 million
SINGLE_THREAD_ELEMENTS = 2**17


class NotCompilableError(TypeError):
    """An argument that would have to be a constant of the graph but cannot be a key."""


def call(fn, *args):
    """fn(*args) through its compiled graph for calls like this one (compiling it on the first
    such call), or eagerly, with one warning per reason, where the arguments cannot be
    compiled or compiling failed."""
    name = fn.__qualname__
    if COMPILER in failures:
        return fn(*args)
    tensors: list[torch.Tensor] = []
    try:
        spec = tuple(_flatten(a, tensors) for a in args)
    except NotCompilableError as exc:
        return _eagerly(fn, args, f"{name}: {exc}", f"NotCompilableError: {exc}")
    key = (fn, spec, tuple(_layout(t) for t in tensors))
    graph = graphs.get(key)
    if graph is None:
        if key in uncompiled:
            return fn(*args)
        try:
            graph = graphs[key] = _compile(fn, spec, tensors)
        except COMPILE_ERRORS + TRACE_ERRORS as exc:
            reason = f"{type(exc).__name__}: {exc}"
            # inductor wraps what went wrong in an InductorError
            if isinstance(getattr(exc, "inner_exception", exc), NO_COMPILER):
                return _eagerly(fn, args, COMPILER, reason)
            uncompiled.add(key)
            return _eagerly(fn, args, f"{name}: {reason}"[:300], reason)
    return tuple(graph(*tensors))


def compiler_found() -> bool:
    """False once a compile has found no working compiler (every call then runs eagerly)."""
    return COMPILER not in failures


def clear() -> None:
    """Forget every compiled graph and failure (the next calls compile anew)."""
    graphs.clear()
    failures.clear()
    uncompiled.clear()


def _eagerly(fn, args, key: str, reason: str):
    """fn(*args), with a warning the first time `key` fails."""
    if key not in failures:
        failures[key] = reason[:300]
        warnings.warn(f"compiling {fn.__qualname__} failed, running it eagerly: {reason[:300]}",
                      stacklevel=3)  # fmt: skip
    return fn(*args)


def _layout(t: torch.Tensor) -> tuple:
    return t.shape, t.stride(), t.dtype, t.device


def _flatten(arg, tensors: list):
    """arg's place in the key: a tensor is appended to `tensors` and leaves a slot, a
    module-level function or a functools.partial of one leaves the function and its
    arguments' places, a constant itself (with its type: True, 1 and 1.0 are equal keys but
    different graphs)."""
    if type(arg) in _CONSTANT_TYPES:  # the common case first: this runs on every step
        return ("constant", type(arg), arg)
    if isinstance(arg, torch.Tensor):
        tensors.append(arg)
        return ("tensor",)
    if isinstance(arg, functools.partial):
        _module_level(arg.func)
        positional = tuple(_flatten(a, tensors) for a in arg.args)
        keywords = tuple((k, _flatten(v, tensors)) for k, v in sorted(arg.keywords.items()))
        return ("partial", arg.func, positional, keywords)
    _module_level(arg)
    return ("partial", arg, (), ())


def _module_level(func) -> None:
    """NotCompilableError unless func is a module-level function: a closure, lambda or bound
    method would bake the values it reads into the graph, where no key sees them change."""
    if not isinstance(func, types.FunctionType) or "<" in func.__qualname__:
        # named by kind, not repr: a closure's address would make every call a new failure
        what = getattr(func, "__qualname__", type(func).__name__)
        raise NotCompilableError(
            f"{what} is not a module-level function or a functools.partial of one (a head's "
            "`partials` and `select` have to be, to compile)"
        )


def _rebuild(spec, tensors: Iterator[torch.Tensor]):
    """The argument `_flatten` took apart, with `tensors` in its slots."""
    kind = spec[0]
    if kind == "tensor":
        return next(tensors)
    if kind == "partial":
        _, func, positional, keywords = spec
        return functools.partial(
            func,
            *(_rebuild(s, tensors) for s in positional),
            **{k: _rebuild(s, tensors) for k, s in keywords},
        )
    return spec[2]


def _compile(fn, spec: tuple, tensors: list[torch.Tensor]) -> Callable:
    def traced(*inputs):
        slots = iter(inputs)
        return fn(*(_rebuild(s, slots) for s in spec))

    # grad mode off: the graph is arithmetic only, as it runs inside autograd.Function.forward
    with torch.no_grad():
        graph = make_fx(traced, tracing_mode="fake")(*tensors)
        return torch._inductor.compile(graph, list(tensors), options=_options(tensors))


def _options(tensors: list[torch.Tensor]) -> dict | None:
    """On CPU: the wrapper that calls the kernels in C++, not Python, and one thread where the
    arithmetic is small (at CIFAR's (256, 256, 10) on 2 cores, a head step took 1.46x plain
    softmax with inductor's defaults, 1.29x with the C++ wrapper and 1.23x with one thread
    too: the second thread's barriers cost more than its share of the loops)."""
    if any(t.device.type != "cpu" for t in tensors):
        return None
    options = {"cpp_wrapper": True}
    if sum(t.numel() for t in tensors) <= SINGLE_THREAD_ELEMENTS:
        options["cpp.threads"] = 1
    return options
