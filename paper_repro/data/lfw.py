"""LFW (Labeled Faces in the Wild; Huang et al., UMass TR 07-49, 2007), deep-funneled: the
images, the View 2 protocol files, the face crop, and the image-unrestricted splits.

Files live in ``<root>/lfw/`` (official location http://vis-www.cs.umass.edu/lfw/):

- ``lfw-deepfunneled.tgz``: 13,233 JPEGs of 5,749 people, 250x250 each, stored as
  ``lfw-deepfunneled/<Name>/<Name>_<NNNN>.jpg``; or that folder, extracted, beside it.
  Two archives are accepted (a :class:`FileSpec` holds one digest, so the source lists
  both): the official tarball (md5 68331da3...) and the offline copy rebuilt from the
  website's images (sha256 bccc8a95...), whose bytes differ while the images are the
  originals. The extracted folder has no published checksum: each of its images must
  decode as a 250x250 JPEG, and its decoded cache is keyed by a digest of the whole tree.
- ``pairs.txt``: View 2, 10 folds x (300 matched + 300 mismatched) pairs; matched lines are
  ``name n1 n2``, mismatched lines ``name1 n1 name2 n2`` (LFW README sec. 3c).
- ``people.txt``: the people of each fold with their number of images (README sec. 3d).
  The folds are person-disjoint and every pair of fold k names people of fold k; both are
  checked, so no protocol below can train on a person it tests on.

Face crop. The papers align each face by five landmarks and a similarity transform onto a
112x96 template (SphereFace/CosFace: eyes at (30.3, 51.7) and (65.5, 51.5), mouth corners
at y = 92.3). No landmark detector is available offline, so every image is cut with one
fixed box, :data:`LFW_BOX` = (70, 52, 180, 180) in the 250x250 image, then resized
(Pillow bilinear, antialiased when shrinking). The box maps the *mean* deep-funneled face
onto that template: the eyes of the mean of 330 images lie at (104.5, 111.5) and
(145.5, 111) and its mouth at y = 157, which land within 2 px of the template's at a scale
of 1.14. Deep funneling (Huang et al., NIPS 2012) already aligned the faces to one another,
which is why the mean face is sharp; what a fixed box cannot remove is each image's own
offset, scale and in-plane rotation, which the papers' per-image alignment does.

Decoding and cropping all 13,233 images took 9 s on one core shared with another job, so
the cropped faces are cached as uint8 ``(N, C, H, W)`` in ``.npz`` files keyed by the
archive's digest, the crop and Pillow's version (as :mod:`paper_repro.data.cifar` does for
its JPEG copy); a cached load takes under a second. The cache also holds the verified
pairs.txt and people.txt, so on a machine without LFW it is all :func:`load_lfw` needs. At
the quick size, 1x56x48 luma, it is 35 MiB, small enough to carry to a GPU machine; RGB at
that size would be 102 MiB, the papers' 3x112x96 407 MiB.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import PIL
import torch
from PIL import Image

from . import files
from .files import DataError, FileSpec
from .split import Split

LABEL = "LFW (deep-funneled)"
OFFICIAL = "http://vis-www.cs.umass.edu/lfw/"
ARCHIVE_NAME = "lfw-deepfunneled.tgz"
IMAGE_SIDE = 250  # every LFW image is 250x250

# (left, top, right, bottom) in the 250x250 image; see the module docstring for its origin
LFW_BOX = (70, 52, 180, 180)
# (C, H, W) of the cropped faces: the papers' 112x96 RGB, and half of it in luma for the CPU
SHAPES = {"paper": (3, 112, 96), "quick": (1, 56, 48)}


@dataclass(frozen=True)
class LfwSource:
    """The LFW files and the layout they must have.

    ``archives``: accepted versions of the image archive (same name, different digests);
    the first one is downloaded when the archive is missing."""

    archives: tuple[FileSpec, ...]
    pairs: FileSpec
    people: FileSpec
    top: str = "lfw-deepfunneled"
    folder: str = "lfw"


LFW = LfwSource(
    archives=(
        FileSpec(ARCHIVE_NAME, "68331da3eb755a505a502b5aacb3c201", urls=(OFFICIAL + ARCHIVE_NAME,)),
        # the offline copy (../shared/data/lfw/SHA256SUMS): rebuilt, same images
        FileSpec(
            ARCHIVE_NAME,
            "bccc8a953ed5be51f6e98790ca11ebcc145162f264c42447184ebe6da4f67b72",
            algorithm="sha256",
        ),
    ),
    pairs=FileSpec(
        "pairs.txt",
        "9f1ba174e4e1c508ff7cdf10ac338a7d",
        urls=(OFFICIAL + "pairs.txt",),
        max_bytes=1 << 20,
    ),
    people=FileSpec(
        "people.txt",
        "450f0863dd89e85e73936a6d71a3474b",
        urls=(OFFICIAL + "people.txt",),
        max_bytes=1 << 20,
    ),
)

# View 1 (development) pairs: one header number N, then N matched and N mismatched lines
DEV_PAIRS = {
    "train": FileSpec(
        "pairsDevTrain.txt",
        "4f27cbf15b2da4a85c1907eb4181ad21",
        urls=(OFFICIAL + "pairsDevTrain.txt",),
        max_bytes=1 << 20,
    ),
    "test": FileSpec(
        "pairsDevTest.txt",
        "5132f7440eb68cf58910c8a45a2ac10b",
        urls=(OFFICIAL + "pairsDevTest.txt",),
        max_bytes=1 << 20,
    ),
}


# --------------------------------------------------------------------------- protocol files


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


def load_dev_pairs(split: str, root: str | Path | None = None, download: bool = True) -> PairsFile:
    """View 1 pairs (``"train"`` or ``"test"``), for model selection outside View 2."""
    spec = DEV_PAIRS[split]
    folder = files.data_root(root) / LFW.folder
    [path] = files.ensure_files([spec], folder, download_missing=download, label=LABEL)
    return parse_pairs(files.read_verified(path, spec), str(path))


# --------------------------------------------------------------------------- images


def crop_face(image: Image.Image, box: tuple[int, int, int, int], shape) -> np.ndarray:
    """The face in ``box`` of ``image`` resized to ``shape`` = (C, H, W): uint8 (C, H, W).

    C = 3 is RGB; C = 1 is Pillow's luma (ITU-R 601-2), taken before resizing."""
    c, h, w = shape
    if c not in (1, 3):
        raise ValueError(f"faces have 1 (luma) or 3 (RGB) channels, not {c}")
    face = image.convert("L" if c == 1 else "RGB").resize(
        (w, h), Image.Resampling.BILINEAR, box=box
    )
    pixels = np.asarray(face)  # (H, W) or (H, W, 3)
    return pixels[None] if c == 1 else pixels.transpose(2, 0, 1)  # (C, H, W)


def face_from_bytes(
    data: bytes, what: str, *, box, shape, side: int | None, formats=("JPEG",)
) -> np.ndarray:
    """Decode one image file and crop it (:func:`crop_face`), or raise DataError naming it.

    ``side``: the image must be side x side pixels (None: any size; box must fit)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in formats:
                raise DataError(f"{what}: expected {'/'.join(formats)}, got {im.format}")
            if side is not None and im.size != (side, side):
                raise DataError(f"{what}: expected a {side}x{side} image, got {im.size}")
            im.load()  # decode now: a truncated or corrupt file fails here
            return crop_face(im, box, shape)
    except DataError:
        raise
    except Exception as e:  # Pillow raises many types for corrupt input
        raise DataError(f"{what}: cannot decode the image ({type(e).__name__}: {e})") from e


_MEMBER = re.compile(r"([^/]+)/\1_(\d{4})\.jpg")  # <Name>/<Name>_<NNNN>.jpg under the top folder
_Entries = dict[tuple[str, int], bytes]


def _member_key(relative: str, where: str, top: str) -> tuple[str, int]:
    match = _MEMBER.fullmatch(relative)
    if match is None:
        raise DataError(
            f"{where}: unexpected file {top}/{relative}; expected {top}/<Name>/<Name>_<NNNN>.jpg"
        )
    return match[1], int(match[2])


def _archive_entries(archive: Path, data: bytes, src: LfwSource) -> _Entries:
    entries: _Entries = {}
    try:
        # forward iteration only: seeking back in a gzip stream decompresses it again
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for m in tf:
                if not m.isfile():
                    continue
                if not m.name.startswith(src.top + "/"):
                    raise DataError(f"{archive}: member {m.name!r} is outside {src.top}/")
                key = _member_key(m.name[len(src.top) + 1 :], str(archive), src.top)
                entries[key] = tf.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive}: cannot read the tar archive ({e})") from e
    return entries


def _folder_entries(folder: Path, src: LfwSource) -> tuple[_Entries, str]:
    """The images of an extracted tree and a sha256 of the whole tree (paths and bytes)."""
    entries: _Entries = {}
    tree = hashlib.sha256()
    try:
        for path in sorted(p for p in folder.rglob("*") if not p.is_dir()):
            relative = path.relative_to(folder).as_posix()
            key = _member_key(relative, str(folder), src.top)
            data = path.read_bytes()
            tree.update(f"{relative}\0{len(data)}\0".encode())
            tree.update(data)
            entries[key] = data
    except OSError as e:
        raise DataError(f"cannot read {folder}: {e}") from e
    return entries, tree.hexdigest()


def _numbers(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")


def _check_protocol(
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


def _decode_all(entries: _Entries, where: str, top: str, shape) -> dict[str, np.ndarray]:
    keys = sorted(entries)
    names = sorted({name for name, _ in keys})
    name_index = {n: i for i, n in enumerate(names)}
    images = np.empty((len(keys), *shape), dtype=np.uint8)
    for i, (name, number) in enumerate(keys):
        images[i] = face_from_bytes(
            entries[(name, number)],
            f"{where}:{top}/{name}/{name}_{number:04d}.jpg",
            box=LFW_BOX,
            shape=shape,
            side=IMAGE_SIDE,
        )
    return {
        "images": images,
        "names": np.array(names, dtype=str),
        "identity": np.array([name_index[n] for n, _ in keys], dtype=np.int64),
        "number": np.array([k for _, k in keys], dtype=np.int64),
    }


_CACHE_VERSION = 2
_TEXTS = {"pairs": "pairs_txt", "people": "people_txt"}  # LfwSource field -> cache member


def _cache_meta(digest: str, shape, src: LfwSource) -> str:
    # decoded pixels depend on the decoder and resampler, hence Pillow's version in the key;
    # the protocol files' digests too, since the cache carries them (see load_lfw)
    crop = f"box:{LFW_BOX} shape:{tuple(shape)}"
    texts = f"pairs:{src.pairs.digest} people:{src.people.digest}"
    return f"v{_CACHE_VERSION} lfw {digest} {texts} {crop} pillow:{PIL.__version__}"


def cache_path(cache: Path, digest: str, shape) -> Path:
    """Where the cropped faces of the images with this digest are cached."""
    c, h, w = shape
    return Path(cache) / f"lfw-{digest[:16]}-{c}x{h}x{w}-v{_CACHE_VERSION}.npz"


def _read_cache(path: Path, meta: str, shape) -> dict[str, np.ndarray] | None:
    def valid(a: dict) -> bool:
        images, identity, number = a["images"], a["identity"], a["number"]
        n = images.shape[0]
        pairs = list(zip(identity.tolist(), number.tolist(), strict=True))
        return (
            images.dtype == np.uint8
            and images.shape == (n, *shape)
            and identity.shape == number.shape == (n,)
            and identity.dtype == number.dtype == np.int64
            and a["names"].ndim == 1
            and n > 0
            and identity.min() >= 0
            and identity.max() < a["names"].shape[0]
            and pairs == sorted(set(pairs))
            and all(a[k].dtype == np.uint8 and a[k].ndim == 1 for k in _TEXTS.values())
        )

    keys = ("images", "names", "identity", "number", *_TEXTS.values())
    return files.read_cache(path, meta, keys, valid)


def _accepted_spec(archive: Path, specs: tuple[FileSpec, ...]) -> FileSpec:
    """The spec the archive matches (streamed hashing), or a DataError listing all of them."""
    errors = []
    for spec in specs:
        try:
            files.verify_file(archive, spec)
            return spec
        except DataError as e:
            errors.append(str(e))
    raise DataError(
        f"{archive} matches none of the accepted versions of {specs[0].name}:\n  "
        + "\n  ".join(errors)
    )


def _listing(arrays: dict[str, np.ndarray]) -> dict[str, list[int]]:
    names = arrays["names"].tolist()
    listing: dict[str, list[int]] = {}
    for i, number in zip(arrays["identity"].tolist(), arrays["number"].tolist(), strict=True):
        listing.setdefault(names[i], []).append(number)
    return listing


def _derived(cache_folder: Path, src: LfwSource, shape):
    """The cached faces of an accepted archive, used alone when no LFW file is at hand (the
    compact form carried to a GPU machine): (path, arrays, texts) or None."""
    for spec in src.archives:
        path = cache_path(cache_folder, spec.digest, shape)
        if not path.is_file():
            continue
        arrays = _read_cache(
            path, _cache_meta(f"{spec.algorithm}:{spec.digest}", shape, src), shape
        )
        if arrays is None:
            continue
        texts = {}
        for field, key in _TEXTS.items():
            text_spec = getattr(src, field)
            data = arrays[key].tobytes()
            if files.digest_bytes(data, text_spec.algorithm) != text_spec.digest:
                raise DataError(
                    f"{path}: its {text_spec.name} does not match {text_spec.describe()}"
                )
            texts[field] = data
        return path, arrays, texts
    return None


def load_lfw(
    root: str | Path | None = None,
    shape=SHAPES["quick"],
    download: bool = True,
    *,
    cache: str | Path | None = None,
    source: LfwSource | None = None,
) -> Lfw:
    """Load LFW's cropped faces at ``shape`` = (C, H, W) with the View 2 protocol files.

    Reads ``<root>/lfw/lfw-deepfunneled.tgz`` if present (verified against the accepted
    digests on every call, also when cached), else the extracted ``<root>/lfw/lfw-deepfunneled/``.
    Without either, a cache made from an accepted archive is enough: it holds the cropped
    faces and the verified pairs.txt and people.txt (checked against their md5 again), so
    this one file can be carried to another machine. Failing all, the files are downloaded
    (when ``download``). Raises :class:`DataError` naming the file, line, identity or image
    for every inconsistency: an unknown identity, a missing image, an undecodable image, a
    person listed in two folds or a pair outside its person's fold.
    """
    src = source or LFW
    shape = tuple(int(v) for v in shape)
    folder = files.data_root(root) / src.folder
    cache_folder = files.cache_dir(cache)
    archive, extracted = folder / src.archives[0].name, folder / src.top
    if not archive.is_file() and not extracted.is_dir():
        derived = _derived(cache_folder, src, shape)
        if derived is not None:
            path, arrays, texts = derived
            pairs = parse_pairs(texts["pairs"], f"{path}:pairs.txt")
            people = parse_people(texts["people"], f"{path}:people.txt")
            _check_protocol(pairs, people, _listing(arrays), str(path), src.top)
            return _assemble(arrays, pairs, people, str(path))

    pairs_path, people_path = files.ensure_files(
        [src.pairs, src.people], folder, download_missing=download, label=LABEL
    )
    texts = {
        "pairs": files.read_verified(pairs_path, src.pairs),
        "people": files.read_verified(people_path, src.people),
    }
    pairs = parse_pairs(texts["pairs"], str(pairs_path))
    people = parse_people(texts["people"], str(people_path))
    if archive.is_file() or not extracted.is_dir():
        [archive] = files.ensure_files(
            src.archives[:1],
            folder,
            download_missing=download,
            label=LABEL,
            hint=f"Alternatively put the extracted {src.top}/ folder in {folder}/, or the "
            f"cache file {cache_path(cache_folder, src.archives[0].digest, shape).name} "
            f"(made by this loader where the archive is) in {cache_folder}/.",
        )
        spec = _accepted_spec(archive, src.archives)
        where, digest = str(archive), f"{spec.algorithm}:{spec.digest}"
        entries = None
    else:
        entries, tree = _folder_entries(extracted, src)
        where, digest, spec = str(extracted), f"tree-sha256:{tree}", None
    path = cache_path(cache_folder, digest.split(":")[1], shape)
    meta = _cache_meta(digest, shape, src)
    arrays = _read_cache(path, meta, shape)
    if arrays is None:
        if entries is None:
            entries = _archive_entries(archive, files.read_verified(archive, spec), src)
        listing: dict[str, list[int]] = {}
        for name, number in sorted(entries):
            listing.setdefault(name, []).append(number)
        _check_protocol(pairs, people, listing, where, src.top)  # before decoding: fail fast
        arrays = _decode_all(entries, where, src.top, shape)
        for field, key in _TEXTS.items():
            arrays[key] = np.frombuffer(texts[field], dtype=np.uint8)
        files.write_cache(path, meta, arrays)
    else:
        _check_protocol(pairs, people, _listing(arrays), where, src.top)
    return _assemble(arrays, pairs, people, where)


def _assemble(arrays, pairs: PairsFile, people: PeopleFile, where: str) -> Lfw:
    names = tuple(arrays["names"].tolist())
    row = {
        (names[i], k): r
        for r, (i, k) in enumerate(
            zip(arrays["identity"].tolist(), arrays["number"].tolist(), strict=True)
        )
    }
    pair_index = np.array(
        [[row[(p.name_a, p.number_a)], row[(p.name_b, p.number_b)]] for p in pairs.pairs],
        dtype=np.int64,
    ).reshape(-1, 2)  # (P, 2), also when there are no pairs
    return Lfw(
        images=torch.from_numpy(np.ascontiguousarray(arrays["images"])),
        names=names,
        identity=arrays["identity"],
        number=arrays["number"],
        pairs=pairs,
        people=people,
        pair_index=pair_index,
        where=where,
        box=LFW_BOX,
    )


# --------------------------------------------------------------------------- protocols


@dataclass(frozen=True, eq=False)
class PairSet:
    """Verification pairs with their images.

    ``images``: uint8 (M, C, H, W), each image the pairs use, once. ``index``: int64 (P, 2)
    rows of ``images``. ``issame``: bool (P,). ``folds``: int64 (P,), 1-based."""

    images: torch.Tensor
    index: torch.Tensor
    issame: np.ndarray
    folds: np.ndarray
    what: str

    def __post_init__(self) -> None:
        p = self.issame.shape[0]
        if self.index.shape != (p, 2) or self.folds.shape != (p,):
            raise ValueError(f"{self.what}: index (P, 2), issame (P,), folds (P,) disagree")
        if p and not (int(self.index.min()) >= 0 and int(self.index.max()) < len(self.images)):
            raise ValueError(f"{self.what}: pair index outside the {len(self.images)} images")


@dataclass(frozen=True, eq=False)
class FaceSplit:
    """A training set of identities and the pairs that evaluate it.

    Accuracy is reported for the pairs of ``test_folds`` only, each fold with the threshold
    chosen on the other folds of ``pairs``; no identity of a test fold is in ``train``."""

    name: str
    train: Split
    pairs: PairSet
    test_folds: tuple[int, ...]
    description: str


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
