"""The standard evaluation of each kind: which images, which protocol, which queries.

Built only from what is on this machine: scikit-image's sample photographs, images the
suite generates, and the development images in ``shared/eval-dev`` when that folder is
there (it is optional; without it the suites still run, on fewer real photos).
"""

from __future__ import annotations

import os
from pathlib import Path

from tusou.evaluation.arguments import EVAL_KINDS
from tusou.evaluation.dataset import (
    EvalImage,
    encode_jpeg,
    generated_distractors,
    generated_pages,
    labelled_folder,
    plain_folder,
    sample_images,
    spread,
)
from tusou.evaluation.runner import EvalConfig
from tusou.evaluation.transforms import COPY_TRANSFORMS, PAGE_TRANSFORMS, apply_transform

# Seeds of generated images: library distractors, unrelated queries and pages never overlap.
DISTRACTOR_SEEDS = 1_000_000
UNRELATED_SEEDS = 1_500_000
PAGE_SEEDS = 2_000_000
UNRELATED_PAGE_SEEDS = 2_500_000


def find_eval_dev() -> Path | None:
    """``shared/eval-dev`` beside the checkout (or where TUSOU_EVAL_DEV points), if present."""
    env = os.environ.get("TUSOU_EVAL_DEV")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "eval-dev" for p in here.parents]
    candidates.append(Path.cwd().parent / "shared" / "eval-dev")
    for path in candidates:
        if path.is_dir():
            return path
    return None


def _textures(eval_dev: Path | None) -> list[EvalImage]:
    if eval_dev is None or not (eval_dev / "dtd5" / "labels.csv").is_file():
        return []
    return labelled_folder(eval_dev / "dtd5")


def _ukbench(eval_dev: Path | None) -> list[EvalImage]:
    if eval_dev is None or not (eval_dev / "dedup-variants" / "base_images").is_dir():
        return []
    return plain_folder(eval_dev / "dedup-variants" / "base_images", prefix="ukbench/")


def _split(images: list[EvalImage], count: int) -> tuple[list[EvalImage], list[EvalImage]]:
    picked = spread(images, count)
    keys = {i.key for i in picked}
    return picked, [i for i in images if i.key not in keys]


def _proxy_groups() -> list[EvalImage]:
    """Without labelled photos: each sample photo and three edits of it form a group."""
    out: list[EvalImage] = []
    for n, image in enumerate(sample_images()):
        out.append(EvalImage(image.key, image.key, image.load))
        for t, name in enumerate(("crop50", "hflip", "jpeg15")):
            def load(image: EvalImage = image, name: str = name, seed: int = n * 10 + t) -> bytes:
                return encode_jpeg(apply_transform(name, image.pixels(), seed))
            out.append(EvalImage(f"{image.key}#{name}", image.key, load))
    return out


def suite(kind: str, *, eval_dev: Path | None = None, distractors: int = 2000,
          quick: bool = False) -> EvalConfig:
    """The standard evaluation of ``kind``. ``quick`` shrinks it for a smoke run."""
    scale = 0.1 if quick else 1.0
    n_distractors = int(distractors * scale)
    textures = _textures(eval_dev)
    if kind == "same":
        picked, rest = _split(textures, int(30 * scale) or 3)
        originals = sample_images() + _ukbench(eval_dev) + picked + generated_pages(
            int(15 * scale) or 2, first_seed=PAGE_SEEDS)
        return EvalConfig(
            kind=kind, mode="copies", library=originals,
            distractors=generated_distractors(n_distractors, first_seed=DISTRACTOR_SEEDS) + rest,
            transforms=tuple(COPY_TRANSFORMS), query_originals=None if not quick else 12,
            negatives=generated_distractors(int(200 * scale), first_seed=UNRELATED_SEEDS))
    if kind == "picturebook":
        pages = generated_pages(int(60 * scale) or 4, first_seed=PAGE_SEEDS)
        other_pages = generated_pages(int(300 * scale), first_seed=PAGE_SEEDS + 10_000)
        return EvalConfig(
            kind=kind, mode="copies", library=pages + sample_images() + _ukbench(eval_dev),
            distractors=other_pages + generated_distractors(n_distractors, first_seed=DISTRACTOR_SEEDS),
            transforms=PAGE_TRANSFORMS, query_originals=None if not quick else 8,
            negatives=generated_pages(int(100 * scale), first_seed=UNRELATED_PAGE_SEEDS))
    if kind == "product":
        objects = [i for i in sample_images() if i.key.split("/")[-1].split(".")[0] in PRODUCT_SAMPLES]
        return EvalConfig(
            kind=kind, mode="copies", library=objects + _ukbench(eval_dev),
            distractors=generated_distractors(int(300 * scale), first_seed=DISTRACTOR_SEEDS)
            + spread(textures, int(60 * scale)),
            transforms=(), query_originals=None if not quick else 4)
    if kind in ("similar", "fabric"):
        groups = textures or _proxy_groups()
        if quick:
            groups = spread(groups, 60)
        return EvalConfig(kind=kind, mode="groups", library=groups, baseline=kind == "similar")
    raise ValueError(f"unknown kind {kind!r}; one of {', '.join(EVAL_KINDS)}")


# Sample photographs of a single object (the product protocol cuts it out).
PRODUCT_SAMPLES = frozenset({"astronaut", "chelsea", "coffee", "rocket", "motorcycle_left",
                             "horse", "camera"})
