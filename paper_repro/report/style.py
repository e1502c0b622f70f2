"""One look for every figure: Agg backend, sizes, a fixed colour per head, and `save`, which
writes PNG + PDF + a one-line caption saying which command and which files made the figure.

Output is deterministic: the PDF carries no creation date and the PNG no software tag, so
re-rendering unchanged results gives byte-identical files (and clean diffs in git)."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt
from matplotlib import colormaps
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

from paper_repro.fileio import atomic_write, atomic_write_bytes
from paper_repro.losses import HEADS
from paper_repro.provenance import REPO_ROOT

WIDTH = 7.0  # inches: one figure across a page; panels split it
PANEL_HEIGHT = 2.6  # inches per row of panels
DPI = 200  # PNG resolution

RC = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.3,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.constrained_layout.use": True,
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,  # TrueType: text stays text in the PDF
    "svg.hashsalt": "paper_repro",
}

SOFTMAX_COLOUR = "#333333"
PAPER_COLOUR = "#c00000"  # the published number wherever it is marked
CLASS_COLOURS = "tab10"  # classes in the 2-D feature plots


# integer margin -> (shade of the family's map, hue shift): light, turned towards cyan, dark.
# Three shades of one hue alone could not be told apart where their bands overlap.
INTEGER_MARGINS = {1: (0.35, 0.0), 2: (0.55, 0.0), 3: (0.75, -0.09), 4: (0.95, 0.0)}


def head_colour(head: str, margin: float | None = None) -> tuple[float, ...] | str:
    """A fixed colour per (head, margin), the same in every figure: each head family has the
    hue it declares (`MarginHead.colours`); the margin sets the shade (and for m = 3 turns
    the hue), so m = 2, 3, 4 read as one family yet stay apart."""
    cls = HEADS.get(head)
    if cls is None or cls.margin is None:
        return SOFTMAX_COLOUR
    kind = next(h.kind for h in cls.hypers if h.name == cls.margin)
    if margin is None:
        shade = 0.7
    elif kind is int:
        shade, turn = INTEGER_MARGINS[min(max(int(margin), 1), 4)]
        hue, saturation, value = rgb_to_hsv(colormaps[cls.colours](shade)[:3])
        return (*hsv_to_rgb(((hue + turn) % 1.0, saturation, value)), 1.0)
    else:  # additive margins lie in [0, ~0.5]
        shade = 0.45 + 0.9 * min(float(margin), 0.5)
    # the darkest shades of every map are near-black: keep hues apart
    return colormaps[cls.colours](min(shade, 0.9))


def head_linestyle(head: str, margin: float | None = None) -> str:
    """A line style per integer margin, so that shades of one hue that lie close (m = 3 and
    m = 4) and curves that coincide (the three L-Softmax lambda schedules) stay apart."""
    cls = HEADS.get(head)
    if cls is None or cls.margin is None or margin is None:
        return "-"
    if next(h.kind for h in cls.hypers if h.name == cls.margin) is not int:
        return "-"
    return {3: "--", 4: ":"}.get(int(margin), "-")


def class_colour(index: int):
    return colormaps[CLASS_COLOURS](index % 10)


def figure(rows: int = 1, cols: int = 1, width: float = WIDTH, height: float | None = None, **kw):
    """plt.subplots at the project's size, axes always a 2-D array; call it inside a
    `styled` function so the rcParams apply."""
    return plt.subplots(
        rows, cols, figsize=(width, height or PANEL_HEIGHT * rows), squeeze=False, **kw
    )


def styled(fn):
    """Run a plotting function under the project's rcParams (ticks, fonts, grid)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        # artists read rcParams when created, so the whole drawing runs inside the context
        with plt.rc_context(RC):
            return fn(*args, **kwargs)

    return wrapper


def display_path(path: Path) -> str:
    """A path relative to the repository when inside it, so captions are portable."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def sources_text(paths: Iterable[Path]) -> str:
    """`dir/` (n files) per folder, in sorted order: where the inputs are, not a list of them."""
    groups: dict[str, int] = {}
    for p in sorted(Path(p) for p in paths):
        folder = display_path(p.parent) + "/"
        groups[folder] = groups.get(folder, 0) + 1
    return "; ".join(f"`{d}` ({n} file{'s' if n > 1 else ''})" for d, n in groups.items())


def caption(what: str, command: str, sources: Iterable[Path] = ()) -> str:
    """One line: what the figure shows, the command that drew it, the files it was drawn from."""
    sources = list(sources)
    made_from = sources_text(sources) if sources else "the loss functions alone (no results)"
    return f"{what} Made by `{command}` from {made_from}."


def save(fig, path_stem: Path, caption: str) -> list[Path]:
    """Write <stem>.png, <stem>.pdf and <stem>.txt (the caption line); close the figure."""
    stem = Path(path_stem)
    png, pdf, txt = (stem.parent / f"{stem.name}.{ext}" for ext in ("png", "pdf", "txt"))
    # no timestamps or version tags, so identical inputs give identical bytes
    for path, fmt, metadata in (
        (png, "png", {"Software": None}),
        (pdf, "pdf", {"Creator": None, "Producer": None, "CreationDate": None}),
    ):
        buffer = io.BytesIO()
        with plt.rc_context(RC):
            fig.savefig(buffer, format=fmt, metadata=metadata)
        atomic_write_bytes(path, buffer.getvalue())
    with atomic_write(txt, "w") as f:
        f.write(caption.strip() + "\n")
    plt.close(fig)
    return [png, pdf, txt]
