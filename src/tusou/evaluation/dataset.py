"""Where evaluation images come from: labelled folders, plain folders, packaged samples and
images the suite generates. Every image is an ``EvalImage``: a key, a group and its bytes."""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tusou.evaluation import synthetic
from tusou.images.decode import oriented_rgb
from tusou.images.files import image_files

# Colour or grey photographs that scikit-image ships inside its wheel (no download).
# Left out: near-copies of one another (the right stereo image, the grey chessboard) and
# tiny or purely synthetic pictures.
SKIMAGE_SAMPLES = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png",
                   "coffee.png", "coins.png", "color.png", "grass.png", "gravel.png",
                   "hubble_deep_field.jpg", "ihc.png", "logo.png", "microaneurysms.png",
                   "moon.png", "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg",
                   "text.png", "chessboard_RGB.png", "clock_motion.png", "horse.png")


def encode_jpeg(pixels: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def decode_rgb(data: bytes) -> np.ndarray:
    """RGB pixels the way the engine sees them (``images.decode.oriented_rgb``): a copy
    made from other pixels than the library's own would not be a copy (a 16-bit PNG read
    clipped to white, a transparent one laid on black)."""
    with Image.open(io.BytesIO(data)) as img:
        return oriented_rgb(img)


@dataclass(frozen=True)
class EvalImage:
    """One image of an evaluation: ``key`` names it in reports, ``group`` says which other
    images are relevant to it (same group), ``load`` gives its encoded bytes."""

    key: str
    group: str
    load: Callable[[], bytes]

    def pixels(self) -> np.ndarray:
        return decode_rgb(self.load())


def _file_loader(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def _generated_loader(make: Callable[[int], np.ndarray], seed: int) -> Callable[[], bytes]:
    return lambda: encode_jpeg(make(seed))


def labelled_folder(root: Path, labels: Path | None = None) -> list[EvalImage]:
    """The images of ``root`` grouped by ``labels`` (CSV ``file,group``; default
    ``root/labels.csv``). Without a labels file every image is its own group. Files are
    looked up under ``root`` first, then beside the labels file."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    if labels is None:
        labels = root / "labels.csv"
        if not labels.is_file():
            return plain_folder(root)
    elif not labels.is_file():
        raise ValueError(f"labels file {labels} does not exist")
    images: list[EvalImage] = []
    with labels.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or len(header) < 2:
            raise ValueError(f"{labels}: expected a header row 'file,group'")
        for row in reader:
            if len(row) < 2 or not row[0].strip():
                continue
            rel = row[0].strip()
            # An unlabelled file is a group of its own, not one big "" group.
            group = row[1].strip() or f"\0{rel}"
            path = next((p for p in (root / rel, labels.parent / rel) if p.is_file()), None)
            if path is None:
                raise ValueError(f"{labels}: {rel} is neither under {root} nor beside the labels")
            images.append(EvalImage(rel, group, _file_loader(path)))
    return images


def plain_folder(root: Path, prefix: str = "") -> list[EvalImage]:
    """Every image file under ``root``, each its own group."""
    root = Path(root)
    out = []
    for path in image_files(root):
        key = prefix + path.relative_to(root).as_posix()
        out.append(EvalImage(key, key, _file_loader(path)))
    return out


def sample_images() -> list[EvalImage]:
    """scikit-image's bundled photographs, when scikit-image is installed (else none)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    out = []
    for name in SKIMAGE_SAMPLES:
        path = folder / name
        if path.is_file():
            key = f"skimage/{name}"
            out.append(EvalImage(key, key, _file_loader(path)))
    return out


def _generated(name: str, make: Callable[[int], np.ndarray], count: int, first_seed: int
               ) -> list[EvalImage]:
    keys = ((f"generated/{name}-{seed}", seed) for seed in range(first_seed, first_seed + count))
    return [EvalImage(key, key, _generated_loader(make, seed)) for key, seed in keys]


def generated_distractors(count: int, *, first_seed: int = 1_000_000) -> list[EvalImage]:
    """``count`` procedurally generated unrelated images (seeds ``first_seed``...)."""
    return _generated("distractor", synthetic.distractor, count, first_seed)


def generated_pages(count: int, *, first_seed: int = 2_000_000) -> list[EvalImage]:
    """``count`` synthetic picture-book pages."""
    return _generated("page", synthetic.page, count, first_seed)


def spread(images: list[EvalImage], count: int | None) -> list[EvalImage]:
    """``count`` images picked evenly across the list (every group represented when the
    list is sorted by group), or all of them."""
    if count is None or count >= len(images):
        return list(images)
    idx = np.linspace(0, len(images) - 1, count).round().astype(int)
    return [images[i] for i in sorted(set(idx.tolist()))]
