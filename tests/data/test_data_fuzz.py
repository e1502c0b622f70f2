"""Fuzzing the parsers: arbitrary or damaged input gives DataError, never another exception.

Every parser is linear in its input and bounded (sizes are checked before allocating),
so small inputs also cannot hang; hypothesis's own deadline is off only because the
machines are shared and timing is noisy.
"""

from __future__ import annotations

import contextlib
import gzip

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paper_repro.data import cifar, mnist
from paper_repro.data.files import DataError, gunzip_bounded
from tests.data.tiny_datasets import cifar_batch, idx_bytes, jpeg_bytes, py2_pickle

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID_IDX = idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))
VALID_BATCH = cifar_batch(
    np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3, 32, 32) % 251, [3, 7], "labels"
)
VALID_META = py2_pickle({b"label_names": [n.encode() for n in cifar.CIFAR10_CLASSES]})
VALID_JPEG = jpeg_bytes(np.full((32, 32, 3), 90, np.uint8))


@st.composite
def mutated(draw, valid: bytes):
    """``valid`` with a few bytes changed, a slice removed, or truncated."""
    data = bytearray(valid)
    kind = draw(st.sampled_from(["flip", "delete", "truncate", "insert"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    elif kind == "delete":
        i = draw(st.integers(0, len(data) - 1))
        del data[i : i + draw(st.integers(1, 16))]
    elif kind == "truncate":
        del data[draw(st.integers(0, len(data) - 1)) :]
    else:
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


def _parse_batch(data: bytes):
    return cifar._batch(cifar.unpickle(data), cifar.CIFAR10, "fuzz")


def _parse_meta(data: bytes):
    return cifar._class_names(cifar.unpickle(data), cifar.CIFAR10, "fuzz")


def _only_data_errors(parse, data: bytes) -> None:
    # Parsing may succeed (the bytes happen to be valid) or raise DataError; any other
    # exception escapes and fails the test.
    with contextlib.suppress(DataError):
        parse(data)


@FUZZ
@given(st.binary(max_size=200) | st.binary(max_size=64).map(lambda b: b"\x00\x00\x08" + b))
def test_idx_random_bytes(data):
    _only_data_errors(mnist.parse_idx, data)


@FUZZ
@given(mutated(VALID_IDX))
def test_idx_mutated(data):
    _only_data_errors(mnist.parse_idx, data)


@FUZZ
@given(st.binary(max_size=300) | st.binary(max_size=100).map(lambda b: b"\x80\x02" + b))
def test_pickle_random_bytes(data):
    _only_data_errors(_parse_batch, data)
    _only_data_errors(_parse_meta, data)


@FUZZ
@given(mutated(VALID_BATCH))
def test_pickle_batch_mutated(data):
    _only_data_errors(_parse_batch, data)


@FUZZ
@given(mutated(VALID_META))
def test_pickle_meta_mutated(data):
    _only_data_errors(_parse_meta, data)


@FUZZ
@given(st.binary(max_size=200) | mutated(gzip.compress(VALID_IDX)))
def test_gzip_random_and_mutated(data):
    _only_data_errors(lambda d: gunzip_bounded(d, 1000, "fuzz"), data)


@FUZZ
@given(st.binary(max_size=200) | mutated(VALID_JPEG))
def test_jpeg_random_and_mutated(data):
    _only_data_errors(cifar.decode_jpeg, data)


def test_valid_inputs_parse():
    """The seeds of the mutation fuzzers are themselves valid."""
    assert mnist.parse_idx(VALID_IDX).shape == (2, 3, 4)
    data, labels = _parse_batch(VALID_BATCH)
    assert data.shape == (2, 3072) and labels.tolist() == [3, 7]
    assert _parse_meta(VALID_META) == cifar.CIFAR10_CLASSES
    assert gunzip_bounded(gzip.compress(VALID_IDX), 1000, "x") == VALID_IDX
    assert cifar.decode_jpeg(VALID_JPEG).shape == (32, 32, 3)
