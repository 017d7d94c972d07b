"""Write an int8 ir.Graph as a QDQ ONNX model that onnxruntime runs.

Every int8 tensor of the IR becomes an int8 ONNX value, read through a DequantizeLinear;
every op is its float ONNX op between those DQs and a QuantizeLinear with the output's
(scale, zero point), the fused activation a Relu/Clip before the Q. Weights are int8 and
biases int32 initializers behind a DQ (per output channel, axis 0). Layout is ONNX's NCHW:
4-D tensors are transposed, weights written OIHW, and a RESHAPE of a 4-D map transposes to
NHWC first so that its elements keep the IR's order. The batch dimension is symbolic ("N")
when every activation has a leading 1 (a batch of one); otherwise shapes are fixed.

The model states edgekd's integers and grids exactly (``read_onnx`` reads back the same
graph), but onnxruntime computes it its own way: in float between DQ and Q, or fused into
QLinear* kernels with a float requantization scale, rounding halves to even. Its outputs may
therefore differ from the reference by a code here and there (docs/onnx.md).
"""
from __future__ import annotations

import numpy as np

from edgekd.errors import EdgeKDError, UnsupportedError
from edgekd.frontends.nchw import conv_weight_from_ir, nchw_shape
from edgekd.ir import Graph, Node, QuantParams, Tensor

OPSET = 17
IR_VERSION = 8  # what onnxruntime 1.17 and later read
BATCH = "N"


def write_onnx(graph: Graph) -> bytes:
    """The serialized QDQ ONNX model of an int8 graph."""
    return _Writer(graph.validate()).model().SerializeToString()


def _codes(tensor: Tensor):
    """The numpy type of a quantized tensor's codes (and of its zero point in the file)."""
    return np.uint8 if tensor.dtype == "uint8" else np.int8


def auto_pad(node: Node) -> str:
    """TFLite's SAME pads the odd extra row/column at the end: ONNX's SAME_UPPER. (auto_pad
    rather than explicit pads keeps SAME and VALID apart where both pad nothing.)"""
    return "SAME_UPPER" if node.attrs["padding"] == "SAME" else "VALID"


class _Writer:
    def __init__(self, graph: Graph) -> None:
        import onnx

        self.onnx = onnx
        self.graph = graph
        self.nodes: list = []
        self.initializers: list = []
        self.names: set[str] = set(graph.tensors)  # ONNX values and initializers
        self.node_names: set[str] = set()
        self.dequantized: dict[str, str] = {}  # int8 tensor -> its float DQ value
        self.batched = all(t.shape[:1] == (1,) for t in graph.activations())

    def refuse(self, node: Node, why: str) -> UnsupportedError:
        return UnsupportedError(f"graph {self.graph.name!r}: node {node.name!r} ({node.op}): "
                                f"{why}")

    def unique(self, name: str, used: set[str] | None = None) -> str:
        used = self.names if used is None else used
        candidate, suffix = name, 0
        while candidate in used:
            suffix += 1
            candidate = f"{name}_{suffix}"
        used.add(candidate)
        return candidate

    def model(self):
        helper = self.onnx.helper
        for node in self.graph.nodes:
            self.write(node)
        inputs = [self.value_info(self.graph.tensor(n)) for n in self.graph.inputs]
        outputs = [self.value_info(self.graph.tensor(n)) for n in self.graph.outputs]
        onnx_graph = helper.make_graph(self.nodes, self.graph.name, inputs, outputs,
                                       self.initializers)
        model = helper.make_model(onnx_graph, producer_name="edgekd",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        try:
            self.onnx.checker.check_model(model)
        except Exception as error:
            raise EdgeKDError(f"graph {self.graph.name!r}: the ONNX model written is invalid "
                              f"({error})") from None
        return model

    def value_info(self, tensor: Tensor):
        element = {"int8": self.onnx.TensorProto.INT8, "uint8": self.onnx.TensorProto.UINT8,
                   "float32": self.onnx.TensorProto.FLOAT}.get(tensor.dtype)
        if element is None:
            raise EdgeKDError(f"graph {self.graph.name!r}: input/output {tensor.name!r} is "
                              f"{tensor.dtype}; ONNX export handles int8, uint8 and "
                              "float32")
        shape = list(nchw_shape(tensor.shape))
        if self.batched:
            shape[0] = BATCH
        return self.onnx.helper.make_tensor_value_info(tensor.name, element, shape)

    # -- building blocks --------------------------------------------------------------------

    def add(self, op: str, inputs: list[str], output: str | None = None,
            node_name: str | None = None, **attrs) -> str:
        """Append a node (named ``node_name``: the IR node's, for the op that computes it)."""
        output = output or self.unique(f"{inputs[0]}_{op.lower()}")
        name = self.unique(node_name or f"{output}_{op}", self.node_names)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def constant(self, name: str, array: np.ndarray) -> str:
        name = self.unique(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def quant_inputs(self, name: str, quant: QuantParams, zero_dtype) -> list[str]:
        """Scale and zero point initializers: scalars per tensor, 1-D per channel."""
        scale = quant.scale.astype(np.float32)
        zero_point = quant.zero_point.astype(zero_dtype)
        if not quant.per_channel:
            scale, zero_point = scale.reshape(()), zero_point.reshape(())
        return [self.constant(f"{name}_scale", scale),
                self.constant(f"{name}_zero_point", zero_point)]

    def dequantized_value(self, tensor_name: str) -> str:
        """The float value of an int8 activation (one DQ per tensor)."""
        if tensor_name not in self.dequantized:
            tensor = self.graph.tensor(tensor_name)
            self.dequantized[tensor_name] = self.add(
                "DequantizeLinear", [tensor_name, *self.quant_inputs(tensor_name, tensor.quant,
                                                                       _codes(tensor))],
                self.unique(f"{tensor_name}_dequantized"))
        return self.dequantized[tensor_name]

    def constant_value(self, tensor: Tensor, data: np.ndarray, dtype) -> str:
        """An integer initializer behind a DQ (per-channel parameters along axis 0)."""
        codes = self.constant(f"{tensor.name}_quantized", data.astype(dtype))
        q = tensor.quant
        axis = {"axis": 0} if q.per_channel else {}
        return self.add("DequantizeLinear",
                        [codes, *self.quant_inputs(tensor.name, q, dtype)],
                        self.unique(f"{tensor.name}_dequantized"), **axis)

    def quantize_into(self, value: str, tensor_name: str, activation: str = "NONE") -> None:
        """Clamp as the fused activation, then QuantizeLinear into the int8 tensor."""
        if activation == "RELU":
            value = self.add("Relu", [value])
        elif activation == "RELU6":
            value = self.add("Clip", [value, self.constant("zero", np.float32(0.0)),
                                      self.constant("six", np.float32(6.0))])
        tensor = self.graph.tensor(tensor_name)
        self.add("QuantizeLinear", [value, *self.quant_inputs(tensor_name, tensor.quant,
                                                                _codes(tensor))], tensor_name)

    def to_nhwc_rows(self, value: str, ir: tuple[int, ...]) -> str:
        """A float value holding a 4-D IR tensor (NCHW in the file) reordered so that its
        elements follow the IR's NHWC order."""
        if len(ir) == 4 and ir[3] > 1 and ir[1] * ir[2] > 1:
            return self.add("Transpose", [value], perm=[0, 2, 3, 1])
        return value

    # -- ops ----------------------------------------------------------------------------------

    def write(self, node: Node) -> None:
        writer = getattr(self, f"write_{node.op.lower()}", None)
        if writer is None:
            raise self.refuse(node, "no ONNX export for this op")
        writer(node)

    def write_quantize(self, node: Node) -> None:
        self.quantize_into(node.inputs[0], node.outputs[0])

    def write_dequantize(self, node: Node) -> None:
        tensor = self.graph.tensor(node.inputs[0])
        self.add("DequantizeLinear", [tensor.name, *self.quant_inputs(tensor.name, tensor.quant,
                                                                        np.int8)],
                 node.outputs[0])

    def write_conv_2d(self, node: Node, depthwise: bool = False) -> None:
        x, w, b = self.weighted_inputs(node)
        y = self.graph.tensor(node.outputs[0])
        weights = conv_weight_from_ir(w.data, depthwise)
        kernel = (weights.shape[2], weights.shape[3])
        inputs = [self.dequantized_value(x.name), self.constant_value(w, weights, np.int8)]
        if b is not None:
            inputs.append(self.constant_value(b, b.data, np.int32))
        out = self.add("Conv", inputs, node_name=node.name, kernel_shape=list(kernel),
                       strides=list(node.attrs["stride"]),
                       dilations=list(node.attrs["dilation"]), auto_pad=auto_pad(node),
                       group=x.shape[3] if depthwise else 1)
        self.quantize_into(out, y.name, node.attrs["activation"])

    def weighted_inputs(self, node: Node) -> tuple[Tensor, Tensor, Tensor | None]:
        """Input, weights and (optional) bias tensors of a conv or fully connected node."""
        names = [*node.inputs, "", ""][:3]
        return tuple(self.graph.tensor(n) if n else None for n in names)

    def write_depthwise_conv_2d(self, node: Node) -> None:
        self.write_conv_2d(node, depthwise=True)

    def write_fully_connected(self, node: Node) -> None:
        x, w, b = self.weighted_inputs(node)
        y = self.graph.tensor(node.outputs[0])
        if len(y.shape) != 2:
            raise self.refuse(node, f"output of shape {y.shape}: ONNX export writes a 2-D "
                                    "(rows, outputs) result")
        value = self.dequantized_value(x.name)
        if len(x.shape) != 2:  # TFLite reads the NHWC input as rows of w.shape[1] values
            value = self.add("Reshape", [self.to_nhwc_rows(value, x.shape),
                                         self.constant("rows", np.array([-1, w.shape[1]]))])
        inputs = [value, self.constant_value(w, w.data, np.int8)]
        if b is not None:
            inputs.append(self.constant_value(b, b.data, np.int32))
        out = self.add("Gemm", inputs, node_name=node.name, transB=1)
        self.quantize_into(out, y.name, node.attrs["activation"])

    def write_pool(self, node: Node, op: str, **extra) -> None:
        x, y = self.graph.tensor(node.inputs[0]), self.graph.tensor(node.outputs[0])
        kernel = tuple(node.attrs["filter"])
        out = self.add(op, [self.dequantized_value(x.name)], node_name=node.name,
                       kernel_shape=list(kernel),
                       strides=list(node.attrs["stride"]), auto_pad=auto_pad(node), **extra)
        self.quantize_into(out, y.name, node.attrs["activation"])

    def write_max_pool_2d(self, node: Node) -> None:
        self.write_pool(node, "MaxPool")

    def write_average_pool_2d(self, node: Node) -> None:
        # TFLite averages the cells inside the image only.
        self.write_pool(node, "AveragePool", count_include_pad=0)

    def write_add(self, node: Node) -> None:
        out = self.add("Add", [self.dequantized_value(n) for n in node.inputs],
                       node_name=node.name)
        self.quantize_into(out, node.outputs[0], node.attrs["activation"])

    def write_reshape(self, node: Node) -> None:
        x, y = self.graph.tensor(node.inputs[0]), self.graph.tensor(node.outputs[0])
        value = self.to_nhwc_rows(self.dequantized_value(x.name), x.shape)
        shape = [-1 if self.batched else y.shape[0], *y.shape[1:]]
        value = self.add("Reshape", [value, self.constant("shape", np.array(shape))],
                         node_name=node.name)
        if len(y.shape) == 4:  # back to NCHW
            value = self.add("Transpose", [value], perm=[0, 3, 1, 2])
        self.quantize_into(value, y.name)

    def write_softmax(self, node: Node) -> None:
        x = self.graph.tensor(node.inputs[0])
        value = self.dequantized_value(x.name)
        beta = float(node.attrs["beta"])
        if beta != 1.0:
            value = self.add("Mul", [value, self.constant("beta", np.float32(beta))])
        if len(x.shape) not in (2, 4):
            raise self.refuse(node, f"softmax of a {len(x.shape)}-D tensor")
        out = self.add("Softmax", [value], node_name=node.name,
                       axis=-1 if len(x.shape) == 2 else 1)
        self.quantize_into(out, node.outputs[0])

    # -- integer QUANTIZE and the layout ops: values in the IR's NHWC order in between --

    def write_requantize(self, node: Node) -> None:
        self.quantize_into(self.dequantized_value(node.inputs[0]), node.outputs[0])

    def ir_order(self, name: str) -> str:
        """The float value of an activation with its elements in the IR's (NHWC) order."""
        tensor = self.graph.tensor(name)
        value = self.dequantized_value(name)
        return self.add("Transpose", [value], perm=[0, 2, 3, 1]) if len(tensor.shape) == 4 \
            else value

    def quantize_ir_order(self, value: str, node: Node) -> None:
        """QuantizeLinear of a value in IR order into the node's output (NCHW if 4-D)."""
        if len(self.graph.tensor(node.outputs[0]).shape) == 4:
            value = self.add("Transpose", [value], perm=[0, 3, 1, 2])
        self.quantize_into(value, node.outputs[0])

    def ints(self, name: str, values) -> str:
        return self.constant(name, np.array(list(values), dtype=np.int64))

    def write_pad(self, node: Node) -> None:
        x = self.graph.tensor(node.inputs[0])
        paddings = node.attrs["paddings"]
        q = x.quant
        fill = np.float32((node.attrs["pad_value"] - q.scalar_zero_point) * q.scalar_scale)
        pads = self.ints("pads", [p[0] for p in paddings] + [p[1] for p in paddings])
        out = self.add("Pad", [self.ir_order(x.name), pads, self.constant("pad_value", fill)],
                       node_name=node.name, mode="constant")
        self.quantize_ir_order(out, node)

    def write_concatenation(self, node: Node) -> None:
        rank = len(self.graph.tensor(node.outputs[0]).shape)
        axis = node.attrs["axis"]
        values = []
        for name in node.inputs:
            value = self.ir_order(name)
            if len(self.graph.tensor(name).shape) < rank:  # PACK
                value = self.add("Unsqueeze", [value, self.ints("axes", [axis])])
            values.append(value)
        self.quantize_ir_order(self.add("Concat", values, node_name=node.name, axis=axis),
                               node)

    def write_strided_slice(self, node: Node) -> None:
        x = self.graph.tensor(node.inputs[0])
        a = node.attrs
        # An end before index 0 (a negative step) counts from the back in ONNX: -dim - 1
        # is clamped to "before the first".
        ends = [b + s * n if b + s * n >= 0 else -d - 1
                for b, s, n, d in zip(a["begin"], a["strides"], a["size"], x.shape)]
        value = self.add("Slice", [self.ir_order(x.name), self.ints("starts", a["begin"]),
                                   self.ints("ends", ends),
                                   self.ints("axes", range(len(x.shape))),
                                   self.ints("steps", a["strides"])], node_name=node.name)
        y = self.graph.tensor(node.outputs[0])
        if tuple(y.shape) != tuple(a["size"]):
            value = self.add("Reshape", [value, self.ints("shape", y.shape)])
        self.quantize_ir_order(value, node)

    def write_transpose(self, node: Node) -> None:
        self.quantize_ir_order(self.add("Transpose", [self.ir_order(node.inputs[0])],
                                        node_name=node.name, perm=list(node.attrs["perm"])),
                               node)

    def write_tile(self, node: Node) -> None:
        self.quantize_ir_order(self.add("Tile", [self.ir_order(node.inputs[0]),
                                                 self.ints("repeats", node.attrs["multiples"])],
                                        node_name=node.name), node)

    def write_resize_nearest_neighbor(self, node: Node) -> None:
        a = node.attrs
        mode, rounding = (("align_corners", "round_prefer_ceil") if a["align_corners"] else
                          ("tf_half_pixel_for_nn", "floor") if a["half_pixel_centers"] else
                          ("asymmetric", "floor"))
        y = self.graph.tensor(node.outputs[0])
        sizes = self.ints("sizes", nchw_shape(y.shape))
        out = self.add("Resize", [self.dequantized_value(node.inputs[0]), "", "", sizes],
                       node_name=node.name, mode="nearest",
                       coordinate_transformation_mode=mode, nearest_mode=rounding)
        self.quantize_into(out, y.name)

    def write_gather(self, node: Node) -> None:
        x, y = self.graph.tensor(node.inputs[0]), self.graph.tensor(node.outputs[0])
        value = self.add("Gather", [self.ir_order(x.name), self.ints("indices",
                                                                     node.attrs["indices"])],
                         node_name=node.name, axis=node.attrs["axis"])
        self.quantize_ir_order(self.add("Reshape", [value, self.ints("shape", y.shape)]), node)
