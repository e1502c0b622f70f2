"""LFW (Labeled Faces in the Wild; Huang et al., UMass TR 07-49, 2007), deep-funneled: the
images, the face crop and the decoded cache; reading the protocol files and the splits they
define are `lfw_protocol`'s.

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

import numpy as np
import PIL
import torch
from PIL import Image

from . import files
from .files import DataError, FileSpec
from .lfw_protocol import (
    LABEL,
    Lfw,
    PairsFile,
    PeopleFile,
    check_protocol,
    parse_pairs,
    parse_people,
)

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
            check_protocol(pairs, people, _listing(arrays), str(path), src.top)
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
        check_protocol(pairs, people, listing, where, src.top)  # before decoding: fail fast
        arrays = _decode_all(entries, where, src.top, shape)
        for field, key in _TEXTS.items():
            arrays[key] = np.frombuffer(texts[field], dtype=np.uint8)
        files.write_cache(path, meta, arrays)
    else:
        check_protocol(pairs, people, _listing(arrays), where, src.top)
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
