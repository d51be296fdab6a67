"""M2S-GAN's generator with its music encoder on ONNX Runtime, the graph built here from the
prepared weights: no PyTorch, no ``onnx`` package, no model file shipped. The rest of the
generator (noise upsampler, temporal blocks, head: small (T30, C) products) stays in NumPy.

The music encoder is about 95 % of the generator's arithmetic; ONNX Runtime runs its 2D
convolutions with its own kernels (MLAS: blocked channels-last layouts, all cores), which
NumPy's one-operation-at-a-time passes cannot match (2.5x as fast here).

The graph is written as ONNX protobuf bytes by :func:`music_encoder_model` (a minimal protobuf
writer, :class:`_Proto`), from the same folded weights the NumPy encoder uses
(:class:`core.neural.numpy_generator.NumpyGenerator`), with the weights as constant
initializers, so ONNX Runtime pre-packs them once per session. One graph serves every chunk
length (the time axis is symbolic). Opset 17, IR version 8: ONNX Runtime 1.13 and newer.

Shapes: mel (T90, 128) float32 -> music features (floor((T90 - 1) / 3) + 1, 64) float32.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import numpy as np

from .architecture import MEL_BANDS
from .numpy_generator import NumpyGenerator, encode_in_chunks

ORT_ENCODER_CHUNK_FRAMES = 900  # 10 s of mel per run: activations ~8 MB (faster than 30 s here)
OPSET = 17
IR_VERSION = 8
_FLOAT, _INT64 = 1, 7  # TensorProto data types
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7


class _Proto:
    """A protobuf message being written: fields appended in order, by wire type (``varint``: 0,
    ``delimited``: 2, bytes, text or a nested message; ``fixed32``: 5, a float)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    @staticmethod
    def _varint(value: int) -> bytes:
        value &= (1 << 64) - 1  # negative int64 as two's complement, ten bytes
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                return bytes(out)

    def varint(self, field: int, value: int) -> _Proto:
        self.parts.append(self._varint(field << 3) + self._varint(int(value)))
        return self

    def fixed32(self, field: int, value: float) -> _Proto:
        self.parts.append(self._varint(field << 3 | 5) + struct.pack("<f", value))
        return self

    def delimited(self, field: int, value: bytes | str | _Proto) -> _Proto:
        data = value.encode() if isinstance(value, str) else value.serialize() if isinstance(value, _Proto) else value
        self.parts.append(self._varint(field << 3 | 2) + self._varint(len(data)) + data)
        return self

    def packed_ints(self, field: int, values: Iterable[int]) -> _Proto:
        return self.delimited(field, b"".join(self._varint(int(v)) for v in values))

    def serialize(self) -> bytes:
        return b"".join(self.parts)


class _Graph:
    """ONNX nodes, initializers, inputs and outputs, written as a GraphProto."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[_Proto] = []
        self.initializers: list[_Proto] = []
        self.inputs: list[_Proto] = []
        self.outputs: list[_Proto] = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint: str, array: np.ndarray) -> str:
        """A constant initializer (float32 or int64) named after ``hint``."""
        name = self.fresh(hint)
        array = np.ascontiguousarray(array)
        data_type = _INT64 if array.dtype == np.int64 else _FLOAT
        array = array.astype("<i8" if data_type == _INT64 else "<f4", copy=False)
        tensor = (
            _Proto().packed_ints(1, array.shape).varint(2, data_type).delimited(8, name).delimited(9, array.tobytes())
        )
        self.initializers.append(tensor)
        return name

    def node(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        """Add a node with one output; returns the output's name."""
        output = self.fresh(op_type.lower())
        proto = _Proto()
        for name in inputs:
            proto.delimited(1, name)
        proto.delimited(2, output).delimited(3, output).delimited(4, op_type)
        for key, value in attributes.items():
            attribute = _Proto().delimited(1, key)
            if isinstance(value, str):
                attribute.delimited(4, value).varint(20, _ATTR_STRING)
            elif isinstance(value, float):
                attribute.fixed32(2, value).varint(20, _ATTR_FLOAT)
            elif isinstance(value, int):
                attribute.varint(3, value).varint(20, _ATTR_INT)
            else:
                attribute.packed_ints(8, value).varint(20, _ATTR_INTS)
            proto.delimited(5, attribute)
        self.nodes.append(proto)
        return output

    @staticmethod
    def _value_info(name: str, dims: list[int | str]) -> _Proto:
        shape = _Proto()
        for dim in dims:
            shape.delimited(1, _Proto().delimited(2, dim) if isinstance(dim, str) else _Proto().varint(1, dim))
        tensor_type = _Proto().varint(1, _FLOAT).delimited(2, shape)
        return _Proto().delimited(1, name).delimited(2, _Proto().delimited(1, tensor_type))

    def input(self, name: str, dims: list[int | str]) -> str:
        self.inputs.append(self._value_info(name, dims))
        return name

    def output(self, source: str, name: str, dims: list[int | str]) -> None:
        # The output is an Identity of ``source``, so it carries the public name.
        proto = _Proto().delimited(1, source).delimited(2, name).delimited(3, name).delimited(4, "Identity")
        self.nodes.append(proto)
        self.outputs.append(self._value_info(name, dims))

    def model(self) -> bytes:
        graph = _Proto()
        for node in self.nodes:
            graph.delimited(1, node)
        graph.delimited(2, self.name)
        for tensor in self.initializers:
            graph.delimited(5, tensor)
        for value in self.inputs:
            graph.delimited(11, value)
        for value in self.outputs:
            graph.delimited(12, value)
        opset = _Proto().delimited(1, "").varint(2, OPSET)
        return (
            _Proto()
            .varint(1, IR_VERSION)
            .delimited(2, "virtualconductor")
            .delimited(7, graph)
            .delimited(8, opset)
            .serialize()
        )


def music_encoder_model(network: NumpyGenerator) -> bytes:
    """The music encoder of ``network`` (its folded float32 weights) as an ONNX model.

    Input ``mel``: (T90, 128) float32, T90 >= 5 (one pass, reflect-padded at its two ends).
    Output ``music``: (floor((T90 - 1) / 3) + 1, 64) float32.
    """
    graph = _Graph("music_encoder")
    x = graph.input("mel", ["t90", MEL_BANDS])
    x = graph.node("Reshape", [x, graph.constant("shape", np.array([1, 1, -1, MEL_BANDS], np.int64))])
    reflect_pads = graph.constant("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    pools = (([5, 5], [1, 2], [2, 2, 2, 2]), ([5, 5], [3, 2], [2, 2, 2, 2]), ([3, 3], [1, 2], [1, 1, 1, 1]))
    for layers, (kernel, strides, pads) in zip(network.encoder_layers, pools):
        for layer in layers:
            # (C_out, 9 C_in + 1) columns (dt, df, c_in), bias -> ONNX's (C_out, C_in, 3, 3)
            taps = layer.weight[:, :-1]
            weight = taps.reshape(layer.out_channels, 3, 3, layer.in_channels).transpose(0, 3, 1, 2)
            padded = graph.node("Pad", [x, reflect_pads], mode="reflect")
            out = graph.node(
                "Conv", [padded, graph.constant("w", weight), graph.constant("b", layer.bias)], kernel_shape=[3, 3]
            )
            out = graph.node("Relu", [out])
            if layer.identity_residual:
                out = graph.node("Add", [out, x])
            elif layer.residual is not None:
                r_weight, r_bias = layer.residual  # (C_out, C_in), (C_out, 1)
                skip = graph.node(
                    "Conv",
                    [x, graph.constant("rw", r_weight[:, :, None, None]), graph.constant("rb", r_bias[:, 0])],
                    kernel_shape=[1, 1],
                )
                out = graph.node("Add", [out, skip])
            x = out
        x = graph.node("MaxPool", [x], kernel_shape=kernel, strides=strides, pads=pads)
    # (1, 32, T30, 16) -> (T30, 32, 16): rows of 512 ordered c * 16 + f, as network.projection expects
    x = graph.node("Transpose", [x], perm=[0, 2, 1, 3])
    x = graph.node("Reshape", [x, graph.constant("shape", np.array([-1, 512], np.int64))])
    x = graph.node("MatMul", [x, graph.constant("projection", network.projection)])
    x = graph.node("Add", [x, graph.constant("projection_bias", network.projection_bias)])
    graph.output(x, "music", ["t30", 64])
    return graph.model()


class OrtGenerator:
    """The generator with its music encoder on ONNX Runtime (CPU) and the rest in NumPy.

    Parameters
    ----------
    state : dict of str to np.ndarray
        The generator's weights under our key names, as for :class:`NumpyGenerator`.
    threads : int or None
        ONNX Runtime's intra-op threads; None lets it use every physical core.

    Calling it is the same as calling a :class:`NumpyGenerator` (same inputs and outputs).
    """

    def __init__(self, state: dict[str, np.ndarray], *, threads: int | None = None) -> None:
        import onnxruntime

        self.numpy = NumpyGenerator(state)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # warnings about unused initializers etc. are not the user's business
        # Idle worker threads sleep instead of spinning: NumPy's part of the generator runs
        # between the encoder's runs, and spinning threads took a core from it (~25 % slower).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            music_encoder_model(self.numpy), options, providers=["CPUExecutionProvider"]
        )
        self.version = str(onnxruntime.__version__)

    def encode_music_pass(self, mel_90hz: np.ndarray) -> np.ndarray:
        """One pass, as :meth:`NumpyGenerator.encode_music_pass`: (T90, 128) -> (T30, 64)."""
        if mel_90hz.shape[0] < 5 or mel_90hz.shape[1:] != (MEL_BANDS,):
            raise ValueError(f"the music encoder needs at least 5 frames of {MEL_BANDS} bands, got {mel_90hz.shape}")
        return self.session.run(None, {"mel": np.ascontiguousarray(mel_90hz, dtype=np.float32)})[0]

    def encode_music(self, mel_90hz: np.ndarray) -> np.ndarray:
        """Music features in chunks equal to one pass: (T90, 128) -> (floor((T90 - 1) / 3) + 1, 64).
        One chunk at a time: ONNX Runtime spreads each over the cores itself."""
        return encode_in_chunks(
            self.encode_music_pass, np.asarray(mel_90hz, dtype=np.float32), ORT_ENCODER_CHUNK_FRAMES
        )

    def __call__(self, mel_90hz: np.ndarray, noise_1hz: np.ndarray) -> np.ndarray:
        """mel (90 S, 128) + noise (S, 8) -> keypoints (30 S, 13, 2), as :class:`NumpyGenerator`."""
        music = self.encode_music(mel_90hz)
        noise = self.numpy.encode_noise(noise_1hz)
        if music.shape[0] != noise.shape[0]:
            raise ValueError(f"{mel_90hz.shape[0]} mel frames and {noise_1hz.shape[0]} s of noise do not match")
        return self.numpy.keypoints_from_hidden(self.numpy.temporal(np.concatenate([music, noise], axis=1)))
