"""Every subset the project takes covers the classes in proportion, whatever order a loader
returns its examples in (the one rule: `data.stratified_order`)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from paper_repro.data import Split, head, stratified_order


def _split(labels) -> Split:
    labels = torch.as_tensor(labels, dtype=torch.int64)
    images = torch.zeros(len(labels), 1, 2, 2, dtype=torch.uint8)
    return Split(images, labels, tuple(str(c) for c in range(int(labels.max()) + 1)))


@given(st.lists(st.integers(0, 6), min_size=1, max_size=300), st.data())
def test_every_prefix_holds_each_class_in_proportion(labels, data):
    labels = torch.tensor(sorted(labels))  # the worst case: a loader that lists class by class
    order = stratified_order(labels)
    assert sorted(order.tolist()) == list(range(len(labels)))  # a permutation
    n = data.draw(st.integers(1, len(labels)))
    counts = torch.bincount(labels, minlength=7).double()
    share = counts / len(labels)
    got = torch.bincount(labels[order[:n]], minlength=7).double()
    k = int((counts > 0).sum())
    assert torch.all((got - n * share).abs() <= 1.5 * (1 + k * share) + 1e-9)


@given(st.integers(1, 7), st.integers(1, 40), st.data())
def test_equal_classes_are_dealt_round_robin(classes, per_class, data):
    labels = torch.arange(classes).repeat_interleave(per_class)  # class by class
    order = stratified_order(labels)
    n = data.draw(st.integers(1, len(labels)))
    got = torch.bincount(labels[order[:n]], minlength=classes).double()
    assert torch.all((got - n / classes).abs() < 1.0)


def test_a_class_sorted_split_gives_subsets_with_every_class():
    split = _split(np.repeat(np.arange(10), 100))  # 0 x100, then 1 x100, ...
    small = head(split, 20)
    assert torch.bincount(small.labels, minlength=10).tolist() == [2] * 10
    assert len(torch.unique(head(split, 10).labels)) == 10  # one of each, never one class
    assert head(split, 5000) is split


def test_within_a_class_the_loaders_order_is_kept_and_interleaved_splits_stay_as_they_are():
    interleaved = torch.arange(40) % 4  # CIFAR-10's loaders already interleave their classes
    assert stratified_order(interleaved).tolist() == list(range(40))
    labels = torch.tensor([1, 0, 1, 1, 0, 1])
    order = stratified_order(labels).tolist()
    ones = [i for i in order if labels[i] == 1]
    assert ones == [0, 2, 3, 5]  # class 1's examples in their own order


def test_the_evaluators_subset_is_stratified_and_the_whole_split_keeps_its_order():
    from paper_repro.device_data import DeviceData, InputNorm

    split = _split(np.repeat(np.arange(4), 25))
    data = DeviceData(split, InputNorm(torch.zeros(1)), torch.device("cpu"))
    assert torch.bincount(data.labels[data.subset(8)], minlength=4).tolist() == [2, 2, 2, 2]
    assert data.subset().tolist() == list(range(100))  # verification pairs index the features
    seen = torch.cat([index for index, _ in data.batches(data.subset(8), batch_size=3)])
    assert seen.tolist() == data.subset(8).tolist()


def test_a_folder_without_train_and_test_holds_out_every_class_in_proportion():
    from paper_repro.data import user

    split = _split(np.repeat(np.arange(3), [10, 20, 30]))  # class-sorted, unequal classes
    test, train = user._holdout(split, "test"), user._holdout(split, "train")
    assert torch.bincount(test.labels).tolist() == [2, 4, 6]  # every 5th of each class
    assert torch.bincount(train.labels).tolist() == [8, 16, 24]
    assert torch.bincount(head(test, 6).labels).tolist() == [1, 2, 3]
