"""Every kernel a window layer may call on the host runs in place at the lead the planner
gives it (edgekd/codegen/inplace.py, from the write order codegen/kernels.py states for
it): its output starts that many bytes below its input in one buffer and still matches
the numpy reference byte for byte. A write order stated too generously fails here.

Layers are random one-node graphs; the kernels are the ones the code generator would
pick for them (codegen/kernels.py: the neutral kernel) and the portable reference kernel.
The Helium kernels are checked the same way on the Cortex-M55 (test_mve_kernels.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from edgekd.codegen.inplace import raster_lead
from edgekd.codegen.kernel_table import Layer, portable_row
from edgekd.codegen.kernels import variant_operands
from edgekd.codegen.planner import align_up
from edgekd.codegen.prepare import layer_record
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.registry import op_spec
from edgekd.shapes import conv_output_size

from .kernel_cases import int8_array


def random_layer(rng: np.random.Generator, op: str) -> tuple[Graph, Node]:
    """A one-node graph: a window op with random geometry, scales and weights."""
    padding = str(rng.choice(["SAME", "VALID"]))
    kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    if op == "CONV_2D" and rng.integers(3) == 0:
        kernel, padding = (1, 1), "VALID"
    if op == "DEPTHWISE_CONV_2D" and rng.integers(2):
        kernel = (3, 3)
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dilation = (1, 1) if op.endswith("POOL_2D") or rng.integers(3) else (2, 1)
    in_c = int(rng.integers(1, 20))
    out_c = int(rng.integers(1, 20)) if op == "CONV_2D" else in_c
    in_hw = [int(rng.integers((k - 1) * d + 1, (k - 1) * d + 8))
             for k, d in zip(kernel, dilation)]
    out_hw = [conv_output_size(s, k, st, d, padding)
              for s, k, st, d in zip(in_hw, kernel, stride, dilation)]
    x_q = QuantParams.per_tensor(float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128)))
    tensors = {"x": Tensor("x", (1, *in_hw, in_c), "int8", x_q)}
    inputs = ["x"]
    if op.endswith("POOL_2D"):
        y_q = x_q
        attrs = {"filter": kernel, "stride": stride, "padding": padding, "activation": "NONE"}
    else:
        depthwise = op == "DEPTHWISE_CONV_2D"
        w_shape = (1, *kernel, out_c) if depthwise else (out_c, *kernel, in_c)
        scales = rng.uniform(0.002, 0.02, out_c)
        tensors["w"] = Tensor("w", w_shape, "int8",
                              QuantParams(scales, np.zeros(out_c), 3 if depthwise else 0),
                              rng.integers(-127, 128, w_shape, dtype=np.int8))
        tensors["b"] = Tensor("b", (out_c,), "int32",
                              QuantParams(np.float32(x_q.scale[0]) * scales.astype(np.float32),
                                          np.zeros(out_c), 0),
                              rng.integers(-3000, 3000, out_c, dtype=np.int32))
        inputs += ["w", "b"]
        y_q = QuantParams.per_tensor(float(rng.uniform(0.02, 0.2)), int(rng.integers(-128, 128)))
        attrs = {"stride": stride, "dilation": dilation, "padding": padding,
                 "activation": str(rng.choice(["NONE", "RELU", "RELU6"]))}
        if depthwise:
            attrs["depth_multiplier"] = 1
    tensors["y"] = Tensor("y", (1, *out_hw, out_c), "int8", y_q)
    node = Node(op, "layer", inputs, ["y"], attrs)
    return Graph("layer", tensors, [node], ["x"], ["y"]).validate(), node


def run_in_place(runtime, graph: Graph, node: Node, variant: KernelVariant, lead: int,
                 x: np.ndarray) -> np.ndarray:
    """Call ``variant``'s kernel with its output at byte 0 of a buffer and its input at
    ``lead``, its filter and bias in the forms it reads."""
    ffi, lib = runtime.ffi, runtime.lib
    kernel = variant.kernel
    spec = op_spec(node.op)
    p = spec.prepare(graph, node)
    y = graph.tensor(node.outputs[0])
    out_bytes, in_bytes = int(np.prod(y.shape)), x.size
    buffer = np.full(max(out_bytes, lead + in_bytes), 0xA5, dtype=np.uint8)
    buffer[lead:lead + in_bytes] = x.reshape(-1).view(np.uint8)
    source = ffi.from_buffer("int8_t[]", buffer[lead:])
    target = ffi.from_buffer("int8_t[]", buffer)
    out_dims = runtime.dims(*y.shape)
    if node.op.endswith("POOL_2D"):
        status = getattr(lib, kernel)(runtime.pool_params(p), runtime.dims(*x.shape), source,
                                      out_dims, target)
    else:
        w_shape = graph.tensor("w").shape
        filt, b = (np.ascontiguousarray(a) for a in variant_operands(graph, node, variant))
        quant, keep = runtime.quant(p.multiplier, p.shift)
        sizer = getattr(lib, f"{kernel}_scratch_size", None)
        need = sizer(runtime.dims(*x.shape), runtime.dims(*w_shape), out_dims) if sizer else 0
        scratch = np.zeros(max(int(need), 16), dtype=np.uint8)
        ctx = ffi.new("ekd_context *", {"buf": ffi.from_buffer(scratch), "size": int(need)})
        status = getattr(lib, kernel)(ctx, runtime.conv_params(p), quant,
                                      runtime.dims(*x.shape), source,
                                      runtime.dims(*w_shape), ffi.from_buffer("int8_t[]", filt),
                                      runtime.ptr("int32_t", b), out_dims, target)
        del keep
    runtime.check(status, kernel)
    return buffer[:out_bytes].view(np.int8).reshape(y.shape).copy()


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D",
                                "MAX_POOL_2D"])
@pytest.mark.parametrize("seed", range(40))
def test_host_kernels_run_in_place_at_their_lead(runtime, op, seed):
    rng = np.random.default_rng([seed, len(op)])
    graph, node = random_layer(rng, op)
    x = int8_array(rng, graph.tensor("x").shape)
    spec = op_spec(node.op)
    inputs = [x] + [graph.tensor(n).data for n in node.inputs[1:]]
    expected = spec.evaluate(spec.prepare(graph, node), inputs, graph.tensor("y").shape)
    record = layer_record(graph, node)
    portable = portable_row(node.op)
    variants = [v for v in record.variants if v.guard is None]
    if portable.name not in [v.kernel for v in variants]:
        variants.append(portable.variant(Layer(graph, node)))
    calls = [v.kernel for v in record.variants]
    for variant in variants:
        if variant.order is None:
            continue  # never planned in place (the layer's lead is None)
        lead = max(0, raster_lead(record.window, variant.order))
        # Its own lead, and the layer's as the planner places it: aligned, and the
        # largest of its kernels' (whole pixels for a channel-major kernel, inplace.py).
        planned = [align_up(record.lead)] if record.lead is not None and \
            variant.kernel in calls else []
        for at in {lead, *planned}:
            got = run_in_place(runtime, graph, node, variant, at, x)
            assert np.array_equal(got, expected), f"{variant.kernel} in place at lead {at}"
