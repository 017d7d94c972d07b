"""convert: a calibrated or QAT-trained QuantModel -> the int8 ir.Graph it simulates.

Weights, biases, scales and zero points come from the same functions the quantized forward
pass calls (``integer_params``, ``output_qparams``, ``ActivationRange.qparams``), so the graph holds
exactly the integers the QAT model computed with. Layouts change from torch's to the IR's
(NHWC activations, TFLite weight layouts, batch 1).
"""
from __future__ import annotations

import numpy as np
import torch

from edgekd.errors import EdgeKDError
from edgekd.frontends.torch_fx import conv_weight_to_ir, ir_axes, linear_weight_to_ir
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.quant.fake import bias_scales
from edgekd.quant.layers import (
    SOFTMAX_SCALE,
    SOFTMAX_ZERO_POINT,
    HARD_SIGMOID_STEPS,
    QElementwise,
    QWeighted,
    layer_op,
)
from edgekd.quant.model import QuantModel

POOL_OPS = {"max_pool": "MAX_POOL_2D", "avg_pool": "AVERAGE_POOL_2D"}


def convert(model: QuantModel, float_io: bool = False) -> Graph:
    """The int8 graph of a QuantModel (int8 input and outputs, or float32 ones through
    QUANTIZE/DEQUANTIZE when ``float_io``), validated."""
    if not isinstance(model, QuantModel):
        raise EdgeKDError(f"convert expects a model from edgekd.prepare_qat, got "
                          f"{type(model).__name__}")
    return _Writer(model).write(float_io)


class _Writer:
    def __init__(self, model: QuantModel) -> None:
        self.model = model
        self.traced = model.traced
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.qparams: dict[str, tuple[float, int]] = {}  # value -> (scale, zero point)

    def write(self, float_io: bool) -> Graph:
        t = self.traced
        with torch.no_grad():
            try:
                self.add_activation(t.input, self.model.input_quant.range.qparams())
            except EdgeKDError as e:
                raise EdgeKDError(f"{t.name}: input {t.input!r}: {e}") from None
            for spec, layer in zip(t.layers, self.model.layers):
                try:
                    self.write_layer(spec, layer)
                except EdgeKDError as e:
                    raise EdgeKDError(f"{spec.location}: {e}") from None
        inputs, outputs = [t.input], list(t.outputs)
        if float_io:
            inputs = [self.boundary("QUANTIZE", t.input)]
            outputs = [self.boundary("DEQUANTIZE", name) for name in outputs]
        return Graph(t.name, self.tensors, self.nodes, inputs, outputs).validate()

    def add_activation(self, value: str, qparams: tuple[float, int],
                       shape: tuple[int, ...] | None = None) -> None:
        scale, zero_point = qparams
        self.qparams[value] = qparams
        self.tensors[value] = Tensor(value, shape or self.traced.ir_shape(value), "int8",
                                     QuantParams.per_tensor(scale, zero_point))

    def add_constant(self, name: str, data: np.ndarray, dtype: str,
                     quant: QuantParams) -> str:
        self.tensors[name] = Tensor(name, data.shape, dtype, quant, data.astype(dtype))
        return name

    def boundary(self, op: str, value: str) -> str:
        """A float32 tensor beside an int8 one, and the QUANTIZE/DEQUANTIZE between them."""
        name = f"{value}_float"
        self.tensors[name] = Tensor(name, self.tensors[value].shape, "float32")
        if op == "QUANTIZE":
            self.nodes.insert(0, Node(op, f"{value}_quantize", [name], [value]))
        else:
            self.nodes.append(Node(op, f"{value}_dequantize", [value], [name]))
        return name

    def write_layer(self, spec, layer) -> None:
        x = spec.inputs[0]
        if spec.kind in ("conv", "linear"):
            self.write_weighted(spec, layer)
        elif spec.kind in POOL_OPS:
            self.add_activation(spec.output, self.qparams[x])
            attrs = {k: tuple(spec.attrs[k]) for k in ("filter", "stride")}
            self.nodes.append(Node(POOL_OPS[spec.kind], spec.name, [x], [spec.output],
                                   {**attrs, "padding": spec.attrs["padding"],
                                    "activation": spec.activation}))
        elif spec.kind == "add":
            scales = [self.qparams[v][0] for v in spec.inputs]
            self.add_activation(spec.output, layer.output_qparams(*scales))
            self.nodes.append(Node("ADD", spec.name, list(spec.inputs), [spec.output],
                                   {"activation": spec.activation}))
        elif spec.kind == "flatten":
            self.add_activation(spec.output, self.qparams[x])
            self.nodes.append(Node("RESHAPE", spec.name, [x], [spec.output]))
        elif spec.kind in ("mul", "sub", "mean", "activation"):
            self.write_elementwise(spec, layer)
        elif spec.kind == "softmax":
            self.add_activation(spec.output, (SOFTMAX_SCALE, SOFTMAX_ZERO_POINT))
            self.nodes.append(Node("SOFTMAX", spec.name, [x], [spec.output], {"beta": 1.0}))
        else:
            raise EdgeKDError(f"layer {spec.name!r}: unknown kind {spec.kind!r}")

    def write_elementwise(self, spec, layer: QElementwise) -> None:
        """MUL, SUB, MEAN or an activation, with the output parameters its quantized
        forward pass used."""
        inputs = list(spec.inputs)
        self.add_activation(spec.output,
                            layer.output_qparams([self.qparams[v] for v in inputs]))
        op = layer_op(spec)
        if op == "HARD_SIGMOID":
            self.write_steps(spec, HARD_SIGMOID_STEPS)
            return
        attrs = {"activation": spec.activation} if op in ("MUL", "SUB") else {}
        if op == "LEAKY_RELU":
            attrs["alpha"] = spec.attrs["alpha"]
        if op == "MEAN":
            rank = len(self.traced.shapes[inputs[0]])
            attrs.update(axis=ir_axes(spec.attrs["dims"], rank),
                         keep_dims=spec.attrs["keepdim"])
        self.nodes.append(Node(op, spec.name, inputs, [spec.output], attrs))

    def write_steps(self, spec, steps) -> None:
        """A layer written as ops with constant scalars (ConstantStep), in a chain."""
        value = spec.inputs[0]
        for k, step in enumerate(steps):
            constant = self.add_constant(f"{spec.name}/{step.op.lower()}_constant",
                                         np.array([step.code]), "int8",
                                         QuantParams.per_tensor(step.scale, 0))
            out = spec.output if k == len(steps) - 1 else f"{spec.name}/{step.op.lower()}"
            self.add_activation(out, step.out_qparams, self.traced.ir_shape(spec.output))
            self.nodes.append(Node(step.op, f"{spec.name}/{step.op.lower()}", [value, constant],
                                   [out], dict(step.attrs)))
            value = out

    def write_weighted(self, spec, layer: QWeighted) -> None:
        x = spec.inputs[0]
        in_scale, _ = self.qparams[x]
        w_q, w_scales, b_q = layer.integer_params(in_scale)
        w_q = w_q.cpu().numpy()
        scales = w_scales.double().cpu().numpy()
        if spec.kind == "conv":
            depthwise = spec.attrs["depthwise"]
            op = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
            weights = conv_weight_to_ir(w_q, depthwise)
            axis = 3 if depthwise else 0
            attrs = {"stride": tuple(spec.attrs["stride"]),
                     "dilation": tuple(spec.attrs["dilation"]),
                     "padding": spec.attrs["padding"], "activation": spec.activation}
            if depthwise:
                attrs["depth_multiplier"] = spec.attrs["depth_multiplier"]
        else:
            op, axis = "FULLY_CONNECTED", 0
            weights = linear_weight_to_ir(w_q, spec.attrs["chw"])
            attrs = {"activation": spec.activation}
        zeros = np.zeros(len(scales), dtype=np.int64)
        w_name = self.add_constant(f"{spec.name}.weight", weights, "int8",
                                   QuantParams(scales, zeros, axis))
        b_name = self.add_constant(f"{spec.name}.bias", b_q.cpu().numpy(), "int32",
                                   QuantParams(bias_scales(in_scale, w_scales), zeros, 0))
        self.add_activation(spec.output, layer.output_qparams(in_scale, w_scales))
        self.nodes.append(Node(op, spec.name, [x, w_name, b_name], [spec.output], attrs))
