"""paper_repro.data: the DATASETS registry, Catalog, load_dataset, Split."""

from __future__ import annotations

import pytest
import torch

from paper_repro.data import DATASETS, Catalog, Split, load_dataset


def test_registry_contents():
    faces = ["lfw", "casia-webface"]
    assert list(DATASETS) == ["mnist", "cifar10", "cifar100", "cifar10-jpeg", *faces]
    expect = {
        "mnist": ("MNIST", "classification"),
        "cifar10": ("CIFAR-10", "classification"),
        "cifar10-jpeg": ("CIFAR-10 (JPEG q75 copy)", "classification"),
        "cifar100": ("CIFAR-100", "classification"),
        "lfw": ("LFW image-unrestricted (people of the other folds; no outside data)", "faces"),
    }
    for name, (label, kind) in expect.items():
        entry = DATASETS[name]
        assert (entry.name, entry.label, entry.kind) == (name, label, kind)
    with pytest.raises(TypeError):
        DATASETS["other"] = DATASETS["mnist"]  # read-only


@pytest.mark.parametrize("bad", ["imagenet", "MNIST", "", None])
def test_unknown_dataset_name(bad):
    with pytest.raises(ValueError) as e:
        load_dataset(bad, "train")
    msg = str(e.value)
    assert repr(bad) in msg
    assert all(n in msg for n in ("mnist", "cifar10", "cifar10-jpeg", "cifar100"))
    with pytest.raises(ValueError):
        Catalog().get(bad)


def test_unknown_split(tiny_mnist):
    with pytest.raises(ValueError, match=r"'val'.*train, test"):
        tiny_mnist.catalog(root=tiny_mnist.root).load("mnist", "val")


def test_train_mean_is_the_training_split_mean(tiny_mnist):
    mean = tiny_mnist.catalog(root=tiny_mnist.root).load("mnist", "train").channel_mean()
    images = tiny_mnist.arrays["train"][0]
    assert mean.dtype == torch.float32 and mean.shape == (1,)
    assert mean.item() == pytest.approx(images.astype(float).mean(), rel=1e-6)


def test_split_validates_its_fields():
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    labels = torch.tensor([0, 1])
    s = Split(images, labels, ("a", "b"))
    assert len(s) == 2 and s.label_counts() == [1, 1]
    assert torch.equal(s.channel_mean(), torch.zeros(3))
    with pytest.raises(ValueError, match="uint8"):
        Split(images.float(), labels, ("a", "b"))
    with pytest.raises(ValueError, match="contiguous"):
        Split(images.permute(0, 2, 3, 1), labels, ("a", "b"))
    with pytest.raises(ValueError, match="int64"):
        Split(images, labels.int(), ("a", "b"))
    with pytest.raises(ValueError, match="outside"):
        Split(images, torch.tensor([0, 2]), ("a", "b"))


def test_channel_mean_per_channel():
    images = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    images[:, 1] = 255
    images[0, 2, 0, 0] = 4
    s = Split(images, torch.tensor([0, 0]), ("a",))
    assert s.channel_mean().tolist() == [0.0, 255.0, 0.5]
