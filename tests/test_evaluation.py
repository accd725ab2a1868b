"""The quality harness: metric definitions, and `tusou eval` end to end on small folders."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from tusou.cli import main
from tusou.engine import Engine
from tusou.engine.params import Page
from tusou.engine.sources import ImageSource
from tusou.evaluation import synthetic
from tusou.evaluation.dataset import decode_rgb, encode_jpeg
from tusou.evaluation.metrics import (
    Ranked,
    average_precision_at,
    precision_at,
    summarise_copies,
    summarise_rankings,
)
from tusou.evaluation.runner import _fit, _Harness
from tusou.evaluation.transforms import apply_transform
from tusou.images.decode import decode_image
from tusou.images.limits import ImageLimits

# --- metrics --------------------------------------------------------------------------


def test_average_precision_normalises_by_what_fits_in_the_top_k() -> None:
    assert average_precision_at(["a", "b"], {"a", "b"}) == 1.0
    # Relevant at ranks 1 and 3 of 3 relevant items: (1/1 + 2/3) / 3.
    assert average_precision_at(["a", "x", "b"], {"a", "b", "c"}) == pytest.approx((1 + 2 / 3) / 3)
    # A group larger than k: a perfect top 10 still scores 1.
    group = {f"g{i}" for i in range(50)}
    assert average_precision_at(sorted(group)[:10], group) == 1.0
    assert average_precision_at(["x"], set()) == 0.0


def test_precision_counts_missing_results_as_wrong() -> None:
    assert precision_at(["a", "b"], {"a", "b"}, k=10) == 0.2


def test_ns_score_counts_the_query_itself_when_it_is_in_the_library() -> None:
    summary = summarise_rankings([["b", "x", "c", "d"]], [{"b", "c", "d"}], ["a"])
    # Top 4 = a (itself), b, x, c -> 3 of the group.
    assert summary.ns_score == 3
    assert summary.recall_at_1 == 1.0
    outside = summarise_rankings([["b", "x", "c", "d"]], [{"b", "c", "d"}], [None])
    assert outside.ns_score == 3


def test_copy_summary_counts_false_positives_at_the_threshold() -> None:
    answers = [Ranked(["o1", "d1"], [0.9, 0.7], [None, 30]),
               Ranked(["d2"], [0.55], [22]),
               Ranked(["d3"], [0.8], [40])]
    summary = summarise_copies(answers, ["o1", "o2", None], threshold=0.6)
    assert summary.positives == 2
    assert summary.recall_at_1 == 0.5
    assert summary.recall_at_threshold == 0.5
    # d1 (0.7) and the unrelated query's d3 (0.8) are over 0.6; d2 (0.55) is not.
    assert summary.false_positives == 2
    assert summary.best_false_score == 0.8
    assert summary.true_scores == [0.9]


# --- tusou eval ------------------------------------------------------------------------


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=92)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        _save(folder / f"{name}.jpg", getattr(skimage.data, name)())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    return folder


def test_eval_copies_mode_finds_the_originals(photo_folder: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "same.json"
    code = main(["eval", "same", "--images", str(photo_folder), "--transforms", "hflip,rot90,crop50,crop25",
                 "--generated-distractors", "6", "--unrelated", "3", "--json", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert "recall@1" in captured.out and "hflip" in captured.out
    # The long steps say how far they are (on stderr: the table alone goes to stdout).
    assert "[same] 1 of 19 queries asked" in captured.err and "of 12 images added" in captured.err
    result = json.loads(out.read_text())["results"][0]
    assert result["kind"] == "same" and result["mode"] == "copies"
    assert result["library_size"] == 4 + 6
    rows = {row["set"]: row for row in result["rows"]}
    assert set(rows) == {"hflip", "rot90", "crop50", "crop25", "unrelated", "all copies",
                         "all but crop25"}
    for name in ("hflip", "rot90", "crop50"):
        assert rows[name]["queries"] == 4
        assert rows[name]["recall@1"] == 1.0
    assert rows["unrelated"]["queries"] == 3
    assert rows["all copies"]["false_positives"] == 0
    # The same target's own count: every copy but the 25 % crop, which has a bar of its own.
    assert rows["all copies"]["queries"] == 16 and rows["all but crop25"]["queries"] == 12
    # Broken files are reported, not fatal, each by its name.
    assert any("broken.jpg" in note for note in result["notes"])
    assert "not added: empty.png: not a recognisable image" in result["notes"]
    assert result["timings"]["search_ms_p50"] > 0


def test_eval_groups_mode_with_labels_and_baseline(tmp_path: Path) -> None:
    folder = tmp_path / "groups"
    rows = ["file,group"]
    for g, name in enumerate(("astronaut", "chelsea", "coffee")):
        original = getattr(skimage.data, name)()
        for t, transform in enumerate(("crop50", "hflip", "jpeg15")):
            rel = f"{name}/{transform}.jpg"
            _save(folder / rel, apply_transform(transform, original, g * 10 + t))
            rows.append(f"{rel},{name}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "similar.json"
    assert main(["eval", "similar", "--images", str(folder), "--baseline", "--json", str(out)]) == 0
    result = json.loads(out.read_text())["results"][0]
    assert result["mode"] == "groups"
    baseline, loo = result["rows"]
    assert baseline["set"].startswith("baseline")
    assert loo["set"] == "leave-one-out" and loo["queries"] == 9
    assert loo["recall@1"] == 1.0 and loo["N-S"] == 3.0
    assert loo["exact_copy_first"] == 1.0 and loo["exact_copy_min_score"] >= 0.99


def test_eval_rejects_unknown_kinds_and_transforms(photo_folder: Path) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "nonsense", "--images", str(photo_folder)])
    with pytest.raises(SystemExit):
        main(["eval", "same", "--images", str(photo_folder), "--transforms", "melt"])


def test_generated_images_are_deterministic() -> None:
    assert np.array_equal(synthetic.distractor(7), synthetic.distractor(7))
    assert not np.array_equal(synthetic.page(1)[:100], synthetic.page(2)[:100])


def test_labels_with_bom_singletons_and_missing_files(tmp_path: Path) -> None:
    folder = tmp_path / "labelled"
    for name in ("astronaut", "chelsea"):
        _save(folder / f"{name}.jpg", getattr(skimage.data, name)())
        _save(folder / f"{name}-flip.jpg", getattr(skimage.data, name)()[:, ::-1])
    _save(folder / "coffee.jpg", skimage.data.coffee())
    (folder / "labels.csv").write_text(
        "\ufefffile,group,comment\nastronaut.jpg,a,x\nastronaut-flip.jpg,a,\nchelsea.jpg,c,\n"
        "chelsea-flip.jpg,c,\ncoffee.jpg,,\n", encoding="utf-8")
    out = tmp_path / "r.json"
    assert main(["eval", "similar", "--images", str(folder), "--json", str(out)]) == 0
    row = json.loads(out.read_text())["results"][0]["rows"][0]
    # coffee is alone in its group: nothing to find, so it is not a query.
    assert row["queries"] == 4 and row["recall@1"] == 1.0
    with pytest.raises(SystemExit):
        main(["eval", "similar", "--images", str(folder), "--labels", str(tmp_path / "nope.csv")])
    with pytest.raises(SystemExit):
        main(["eval", "similar", "--images", str(tmp_path / "no-such-folder")])



def test_harness_finds_every_image_by_its_brief(engine: Engine) -> None:
    harness = _Harness(engine, "similar")
    assert harness.ids_by_brief() == {}
    added = {}
    for name in ("astronaut", "chelsea", "coffee"):
        data = (Path(skimage.data.data_dir) / f"{name}.png").read_bytes()
        added[name] = harness.library.add(ImageSource(data=data), brief=name).id
    assert harness.ids_by_brief() == added


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_copies_are_made_from_the_pixels_the_library_stores() -> None:
    """A 16-bit PNG read by Pillow's plain RGB conversion is white; a transparent one is
    black where the library sees paper. The transforms must start from the library's own
    pixels, or every copy of such a picture is a copy of something else."""
    camera = skimage.data.camera()
    deep = _png(Image.fromarray(camera.astype(np.uint16) * 257))
    cat = skimage.data.chelsea()
    alpha = np.where(np.arange(cat.shape[1]) < cat.shape[1] // 2, 0, 255).astype(np.uint8)
    clear = _png(Image.fromarray(np.dstack([cat, np.broadcast_to(alpha, cat.shape[:2])])))
    image = Image.fromarray(skimage.data.astronaut())
    exif = image.getexif()
    exif[0x0112] = 6  # stored turned: shown rotated 90 degrees clockwise
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif)
    for data in (deep, clear, buf.getvalue()):
        stored = decode_image(data, ImageLimits()).pixels
        assert np.array_equal(decode_rgb(data), stored)
    assert np.array_equal(decode_rgb(deep)[..., 0], camera)
    assert (decode_rgb(clear)[:, :10] == 255).all()


def test_harness_enlarges_what_is_under_the_kinds_minimum_and_sends_the_rest_as_is(
        engine: Engine) -> None:
    harness = _Harness(engine, "picturebook")
    limits = harness.spec.limits
    coffee = skimage.data.coffee()  # 400 x 600
    at_limit = encode_jpeg(np.ascontiguousarray(coffee[:limits.min_side, :223]))
    assert _fit(at_limit, limits) == at_limit
    under = np.ascontiguousarray(coffee[:limits.min_side - 1, :211])
    sent = _fit(encode_jpeg(under), limits)
    pixels = decode_rgb(sent)
    assert pixels.shape[:2] == (limits.min_side, 212)  # 211 * 150 / 149
    # Enlarged, not otherwise changed: shrunk back it is the picture that was asked for.
    back = cv2.resize(pixels, (211, 149), interpolation=cv2.INTER_AREA).astype(np.float32)
    original = decode_rgb(encode_jpeg(under)).astype(np.float32)
    assert np.abs(back - original).mean() < 3.0
    # The kind takes it as sent, and a search with it finds it.
    added = harness.library.add(ImageSource(data=sent), brief="small")
    page = harness.library.search(ImageSource(data=sent), tag_filter=None,
                                  page=Page(0, 5), threshold=0.0)
    assert page.hits and page.hits[0].cont_sign == added.cont_sign
