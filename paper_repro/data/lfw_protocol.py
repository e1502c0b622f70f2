"""LFW's View 2 protocol (Huang et al., UMass TR 07-49, 2007; its README sec. 3c-3d): the
pairs.txt and people.txt parsers, the checks that the folds are person-disjoint and name
existing images, the cropped faces with their protocol (`Lfw`), and the splits it defines:
the image-unrestricted folds and the two halves. The images themselves, their crop and their
cache are `lfw.py`'s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .files import DataError
from .split import FaceSplit, PairSet, Split

LABEL = "LFW (deep-funneled)"


class Pair(NamedTuple):
    name_a: str
    number_a: int
    name_b: str
    number_b: int
    same: bool
    fold: int  # 1-based
    line: int  # 1-based line in the file, for messages


@dataclass(frozen=True)
class PairsFile:
    what: str  # the file, for messages
    folds: int
    per_fold: int  # matched pairs per fold (= mismatched pairs per fold)
    pairs: tuple[Pair, ...]

    @property
    def issame(self) -> np.ndarray:
        return np.array([p.same for p in self.pairs], dtype=bool)

    @property
    def fold(self) -> np.ndarray:
        return np.array([p.fold for p in self.pairs], dtype=np.int64)


class Person(NamedTuple):
    name: str
    count: int
    fold: int  # 1-based
    line: int


@dataclass(frozen=True)
class PeopleFile:
    what: str
    folds: tuple[tuple[Person, ...], ...]

    def by_name(self) -> dict[str, Person]:
        return {p.name: p for fold in self.folds for p in fold}


def _text(data: bytes, what: str) -> list[str]:
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{what}: not a text file ({e})") from e


def _count(token: str, what: str, line: int) -> int:
    if not token.isdigit() or int(token) < 1:
        raise DataError(f"{what} line {line}: expected a positive integer, got {token!r}")
    return int(token)


class _Lines:
    """The non-blank lines of a file with their 1-based numbers; blank trailing lines end it."""

    def __init__(self, lines: list[str], what: str):
        self.lines, self.what, self.i = lines, what, 0

    def next(self, expected: str) -> tuple[list[str], int]:
        while self.i < len(self.lines) and not self.lines[self.i].strip():
            self.i += 1
        if self.i == len(self.lines):
            raise DataError(f"{self.what}: ends early; expected {expected}")
        self.i += 1
        return self.lines[self.i - 1].split(), self.i

    def finish(self) -> None:
        rest = [k + 1 for k in range(self.i, len(self.lines)) if self.lines[k].strip()]
        if rest:
            raise DataError(f"{self.what} line {rest[0]}: unexpected content after the last fold")


def parse_pairs(data: bytes, what: str = "pairs.txt") -> PairsFile:
    """Parse ``pairs.txt`` (header ``folds per_fold``) or a View 1 file (header ``N``)."""
    lines = _Lines(_text(data, what), what)
    header, n = lines.next("the header")
    if len(header) not in (1, 2):
        raise DataError(f"{what} line {n}: expected 'folds pairs_per_fold', got {header}")
    counts = [_count(t, what, n) for t in header]
    folds, per_fold = (1, counts[0]) if len(counts) == 1 else counts
    pairs = []
    for fold in range(1, folds + 1):
        for same in (True, False):
            for _ in range(per_fold):
                kind = "name n1 n2" if same else "name1 n1 name2 n2"
                tokens, n = lines.next(f"a pair '{kind}' of fold {fold}")
                if len(tokens) != (3 if same else 4):
                    raise DataError(
                        f"{what} line {n}: expected a {'matched' if same else 'mismatched'} "
                        f"pair '{kind}' (fold {fold}), got {' '.join(tokens)!r}"
                    )
                if same:
                    a, na, nb = tokens
                    b = a
                else:
                    a, na, b, nb = tokens
                    if a == b:
                        raise DataError(f"{what} line {n}: a mismatched pair names {a} twice")
                pairs.append(Pair(a, _count(na, what, n), b, _count(nb, what, n), same, fold, n))
    lines.finish()
    return PairsFile(what, folds, per_fold, tuple(pairs))


def parse_people(data: bytes, what: str = "people.txt") -> PeopleFile:
    """Parse ``people.txt``: folds, then per fold its size and ``name count`` lines.

    Rejects a person listed twice: the folds must be person-disjoint."""
    lines = _Lines(_text(data, what), what)
    header, n = lines.next("the number of folds")
    if len(header) != 1:
        raise DataError(f"{what} line {n}: expected the number of folds, got {header}")
    seen: dict[str, int] = {}
    folds = []
    for fold in range(1, _count(header[0], what, n) + 1):
        size_tokens, n = lines.next(f"the number of people of fold {fold}")
        if len(size_tokens) != 1:
            raise DataError(f"{what} line {n}: expected the size of fold {fold}, got {size_tokens}")
        people = []
        for _ in range(_count(size_tokens[0], what, n)):
            tokens, n = lines.next(f"'name count' in fold {fold}")
            if len(tokens) != 2:
                raise DataError(f"{what} line {n}: expected 'name count', got {' '.join(tokens)!r}")
            name = tokens[0]
            if name in seen:
                raise DataError(
                    f"{what} line {n}: {name} is already listed at line {seen[name]}; "
                    "the folds must be person-disjoint"
                )
            seen[name] = n
            people.append(Person(name, _count(tokens[1], what, n), fold, n))
        folds.append(tuple(people))
    lines.finish()
    return PeopleFile(what, tuple(folds))


def _numbers(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")


def check_protocol(
    pairs: PairsFile, people: PeopleFile, listing: dict[str, list[int]], where: str, top: str
) -> None:
    """Every person and pair must exist in the images; pairs of fold k name people of fold k."""
    for fold in people.folds:
        for p in fold:
            numbers = listing.get(p.name)
            if numbers is None:
                raise DataError(
                    f"{people.what} line {p.line}: identity {p.name} has no images in {where} "
                    f"(no folder {top}/{p.name}/)"
                )
            if numbers != list(range(1, p.count + 1)):
                raise DataError(
                    f"{people.what} line {p.line}: {p.name} has {p.count} images there, but "
                    f"{where} has {len(numbers)}, numbered {_numbers(numbers)}"
                )
    listed = people.by_name()
    for pair in pairs.pairs:
        for name, number in ((pair.name_a, pair.number_a), (pair.name_b, pair.number_b)):
            if name not in listing:
                raise DataError(
                    f"{pairs.what} line {pair.line}: unknown identity {name}: "
                    f"{where} has no folder {top}/{name}/"
                )
            if number not in listing[name]:
                raise DataError(
                    f"{pairs.what} line {pair.line}: image {top}/{name}/{name}_{number:04d}.jpg "
                    f"does not exist in {where} ({name} has {len(listing[name])} images)"
                )
            person = listed.get(name)
            if person is None or person.fold != pair.fold:
                where_listed = (
                    "is not in " + people.what
                    if person is None
                    else f"is in fold {person.fold} of {people.what} (line {person.line})"
                )
                raise DataError(
                    f"{pairs.what} line {pair.line}: {name} appears in fold {pair.fold} but "
                    f"{where_listed}; the folds must be person-disjoint"
                )


@dataclass(frozen=True, eq=False)
class Lfw:
    """The cropped LFW faces with the View 2 protocol.

    ``images``: uint8 (N, C, H, W), sorted by (identity name, image number).
    ``identity``: int64 (N,), index into ``names`` (sorted). ``number``: int64 (N,), the
    NNNN of the file name. ``pair_index``: int64 (P, 2), the rows of ``images`` forming
    each pair of ``pairs`` (in file order)."""

    images: torch.Tensor
    names: tuple[str, ...]
    identity: np.ndarray
    number: np.ndarray
    pairs: PairsFile
    people: PeopleFile
    pair_index: np.ndarray
    where: str  # the archive or folder the images came from
    box: tuple[int, int, int, int]


def _split(
    data: Lfw,
    name: str,
    train_folds,
    pair_folds,
    test_folds,
    min_images: int,
    description: str,
) -> FaceSplit:
    train_people = sorted(
        p.name for k in train_folds for p in data.people.folds[k - 1] if p.count >= min_images
    )
    tested = {n for p in data.pairs.pairs if p.fold in test_folds for n in (p.name_a, p.name_b)}
    leaked = sorted(tested.intersection(train_people))
    if leaked:  # load_lfw's checks make this impossible; kept as the protocol's guarantee
        raise DataError(
            f"split {name}: identities both trained on and tested: {', '.join(leaked[:10])}"
        )
    if not train_people:
        raise DataError(f"split {name}: no identity with at least {min_images} images to train on")
    name_index = {n: i for i, n in enumerate(data.names)}
    label_of = np.full(len(data.names), -1, dtype=np.int64)  # identity index -> class label
    label_of[[name_index[n] for n in train_people]] = np.arange(len(train_people))
    rows = np.flatnonzero(label_of[data.identity] >= 0)
    train = Split(
        images=data.images[torch.from_numpy(rows)].contiguous(),
        labels=torch.from_numpy(label_of[data.identity[rows]]),
        classes=tuple(train_people),
    )
    selected = np.flatnonzero(np.isin(data.pairs.fold, list(pair_folds)))
    used = np.unique(data.pair_index[selected])  # sorted image rows the pairs need
    pairs = PairSet(
        images=data.images[torch.from_numpy(used)].contiguous(),
        index=torch.from_numpy(np.searchsorted(used, data.pair_index[selected])),
        issame=data.pairs.issame[selected],
        folds=data.pairs.fold[selected],
        what=f"{LABEL} pairs of folds {list(pair_folds)}",
    )
    return FaceSplit(name, train, pairs, tuple(test_folds), description)


def image_unrestricted_split(data: Lfw, fold: int, min_images: int = 1) -> FaceSplit:
    """LFW's image-unrestricted protocol for ``fold`` (1..10): train on the people of the nine
    other folds (people.txt), report accuracy on the pairs of ``fold``.

    All folds' pairs are kept: the threshold for ``fold`` is chosen on the other nine, which
    are pairs of training people (the README: "the training sets are formed from 9 of the 10
    sets"). ``min_images`` drops identities with fewer training images."""
    folds = range(1, len(data.people.folds) + 1)
    if fold not in folds:
        raise ValueError(f"fold must be in 1..{len(folds)}, got {fold}")
    others = [k for k in folds if k != fold]
    return _split(
        data, f"fold{fold:02d}", others, list(folds), (fold,), min_images,
        f"people of folds {others} -> pairs of fold {fold}",
    )  # fmt: skip


def halves_split(data: Lfw, half: int, min_images: int = 1) -> FaceSplit:
    """The two-halves variant: half 1 trains on the people of folds 1-5 and is tested on the
    pairs of folds 6-10, half 2 the other way round. Each test fold's threshold is chosen on
    the other test folds of its half, all of them people the network never saw."""
    if half not in (1, 2):
        raise ValueError(f"half must be 1 or 2, got {half}")
    n = len(data.people.folds)
    first, second = list(range(1, n // 2 + 1)), list(range(n // 2 + 1, n + 1))
    train, test = (first, second) if half == 1 else (second, first)
    return _split(
        data, f"half{half}", train, test, test, min_images,
        f"people of folds {train[0]}-{train[-1]} -> pairs of folds {test[0]}-{test[-1]}",
    )  # fmt: skip
