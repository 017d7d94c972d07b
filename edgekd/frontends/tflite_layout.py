"""TFLite's layout ops as the IR's (edgekd/reference/layout.py): read and write.

PAD/PADV2 -> PAD, CONCATENATION and PACK -> CONCATENATION, STRIDED_SLICE, SLICE, SPLIT,
SPLIT_V and UNPACK -> STRIDED_SLICE (one per output), TRANSPOSE, TILE, and SQUEEZE and
EXPAND_DIMS -> RESHAPE. Their index operands (paddings, begin/end/strides, axes, perm,
multiples) must be constants and become node attributes; the slicing arithmetic follows
TFLite's strided_slice::StartForAxis/StopForAxis.
"""
from __future__ import annotations

import math

import numpy as np
import tflite

from edgekd.errors import GraphError, ModelFormatError, UnsupportedError
from edgekd.ir import Graph, Node, Tensor

_B = tflite.BuiltinOperator
_O = tflite.BuiltinOptions
LAYOUT_BUILTINS = {
    _B.PAD: "PAD", _B.PADV2: "PADV2", _B.CONCATENATION: "CONCATENATION", _B.PACK: "PACK",
    _B.STRIDED_SLICE: "STRIDED_SLICE", _B.SLICE: "SLICE", _B.SPLIT: "SPLIT",
    _B.SPLIT_V: "SPLIT_V", _B.UNPACK: "UNPACK", _B.TRANSPOSE: "TRANSPOSE", _B.TILE: "TILE",
    _B.SQUEEZE: "SQUEEZE", _B.EXPAND_DIMS: "EXPAND_DIMS", _B.SHAPE: "SHAPE",
    _B.RESIZE_NEAREST_NEIGHBOR: "RESIZE_NEAREST_NEIGHBOR", _B.GATHER: "GATHER",
    _B.RESIZE_BILINEAR: "RESIZE_BILINEAR",
}
# IR ops these become (for the reader's list of what it supports).
LAYOUT_IR_OPS = ("PAD", "CONCATENATION", "STRIDED_SLICE", "TRANSPOSE", "TILE", "GATHER",
                 "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR")
# TFLite operator -> the IR op it is read as.
IR_OP_OF_LAYOUT = {
    "PAD": "PAD", "PADV2": "PAD", "CONCATENATION": "CONCATENATION", "PACK": "CONCATENATION",
    "STRIDED_SLICE": "STRIDED_SLICE", "SLICE": "STRIDED_SLICE", "SPLIT": "STRIDED_SLICE",
    "SPLIT_V": "STRIDED_SLICE", "UNPACK": "STRIDED_SLICE", "TRANSPOSE": "TRANSPOSE",
    "TILE": "TILE", "SQUEEZE": "RESHAPE", "EXPAND_DIMS": "RESHAPE",
    "SHAPE": "(folded: a constant)", "RESIZE_NEAREST_NEIGHBOR": "RESIZE_NEAREST_NEIGHBOR",
    "GATHER": "GATHER", "RESIZE_BILINEAR": "RESIZE_BILINEAR",
}


class LayoutReader:
    """Turns one layout operator of a file into IR nodes, through the _Reader's checks."""

    def __init__(self, reader) -> None:
        self.r = reader

    def nodes(self, code: int, op, in_idx: list[int], out_idx: list[int],
              where: str) -> list[Node]:
        """The operator's IR nodes; none when its data are constants (shape arithmetic:
        SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE's shape), which are computed here."""
        nodes = self._nodes(code, op, in_idx, out_idx, where)
        tensor = self.r._by_name
        if not all(tensor(n).is_constant for node in nodes for n in node.inputs):
            return nodes
        from edgekd.registry import op_spec  # the reference computes the folded values

        for node in nodes:
            out = tensor(node.outputs[0])
            self._fold(out, op_spec(node.op).evaluate(
                dict(node.attrs), [tensor(n).data for n in node.inputs], out.shape))
        return []

    @staticmethod
    def _fold(out: Tensor, values: np.ndarray) -> list[Node]:
        """Make ``out`` a constant holding ``values``; no node computes it."""
        out.data = np.asarray(values, dtype=out.dtype).reshape(out.shape)
        return []

    def _nodes(self, code: int, op, in_idx: list[int], out_idx: list[int],
               where: str) -> list[Node]:
        name = LAYOUT_BUILTINS[code]
        here = f"{self.r.label}: {where}"
        if not in_idx or not out_idx or -1 in in_idx:
            raise ModelFormatError(f"{here}{len(in_idx)} inputs and {len(out_idx)} outputs")
        outs = [self.r.tensor(i, where) for i in out_idx]
        data_at = {"SPLIT": 1}.get(name, 0)
        if name in ("CONCATENATION", "PACK"):
            data = [self.r.tensor(i, where) for i in in_idx]
        else:
            data = [self.r.tensor(in_idx[data_at], where)]
        if name == "SHAPE":  # known offline: a constant
            return self._fold(outs[0], np.array(data[0].shape))
        folding = all(t.is_constant for t in data)
        for t in (*data, *outs) if not folding else ():
            if t.dtype != "int8":
                raise UnsupportedError(f"{here}tensor {t.name!r} is {t.dtype}; {name} is "
                                       "supported on int8 tensors")
        x, y = data[0], outs[0]
        rank = len(x.shape)

        def ints(k: int, what: str) -> np.ndarray:
            if len(in_idx) <= k:
                raise ModelFormatError(f"{here}missing its {what} input")
            return self._constant_ints(in_idx[k], what, where)

        def node(op_name: str, inputs, output: Tensor, **attrs) -> Node:
            return Node(op_name, "", [t.name for t in inputs], [output.name], attrs)

        if name in ("PAD", "PADV2"):
            paddings = ints(1, "paddings").reshape(-1, 2)
            value = y.quant.scalar_zero_point if y.quant is not None else 0
            if name == "PADV2" and len(in_idx) > 2:
                constant = self.r.tensor(in_idx[2], where)
                if not constant.is_constant or constant.size != 1:
                    raise UnsupportedError(f"{here}the pad value must be one constant")
                value = int(constant.data.reshape(-1)[0])
            return [node("PAD", [x], y, paddings=tuple(map(tuple, paddings.tolist())),
                         pad_value=value)]
        if name in ("CONCATENATION", "PACK"):
            if name == "CONCATENATION":
                o = self.r._options(op, _O.ConcatenationOptions, tflite.ConcatenationOptions,
                                    where, True)
                if o.FusedActivationFunction() != tflite.ActivationFunctionType.NONE:
                    raise UnsupportedError(f"{here}a fused activation on CONCATENATION")
                axis = o.Axis()
            else:
                o = self.r._options(op, _O.PackOptions, tflite.PackOptions, where, True)
                axis = o.Axis()
            return [node("CONCATENATION", data, y, axis=axis % len(y.shape))]
        if name == "TRANSPOSE":
            return [node("TRANSPOSE", [x], y, perm=tuple(ints(1, "perm").tolist()))]
        if name == "TILE":
            return [node("TILE", [x], y, multiples=tuple(ints(1, "multiples").tolist()))]
        if name == "GATHER":
            o = self.r._options(op, _O.GatherOptions, tflite.GatherOptions, where, False)
            if o is not None and o.BatchDims() != 0:
                raise UnsupportedError(f"{here}batch_dims {o.BatchDims()} (only 0)")
            axis = (o.Axis() if o is not None else 0) % rank
            indices = ints(1, "indices").reshape(-1)
            indices = np.where(indices < 0, indices + x.shape[axis], indices)
            return [node("GATHER", [x], y, axis=axis, indices=tuple(indices.tolist()))]
        if name in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"):
            o = (self.r._options(op, _O.ResizeNearestNeighborOptions,
                                 tflite.ResizeNearestNeighborOptions, where, False)
                 if name == "RESIZE_NEAREST_NEIGHBOR" else
                 self.r._options(op, _O.ResizeBilinearOptions, tflite.ResizeBilinearOptions,
                                 where, False))
            size = ints(1, "size").tolist()
            if len(y.shape) != 4 or size != list(y.shape[1:3]):
                raise ModelFormatError(f"{here}size {size} is not the output's H and W")
            return [node(name, [x], y,
                         align_corners=bool(o and o.AlignCorners()),
                         half_pixel_centers=bool(o and o.HalfPixelCenters()))]
        if name in ("SQUEEZE", "EXPAND_DIMS"):
            return [node("RESHAPE", [x], y)]
        if name == "STRIDED_SLICE":
            begin, size, strides = self._strided_slice(op, x.shape, ints(1, "begin"),
                                                       ints(2, "end"), ints(3, "strides"),
                                                       where)
            return [node("STRIDED_SLICE", [x], y, begin=begin, strides=strides, size=size)]
        if name == "SLICE":
            begin, size = ints(1, "begin").tolist(), ints(2, "size").tolist()
            size = [d - b if s == -1 else s for b, s, d in zip(begin, size, x.shape)]
            return [node("STRIDED_SLICE", [x], y, begin=tuple(begin), strides=(1,) * rank,
                         size=tuple(size))]
        # SPLIT, SPLIT_V, UNPACK: one slice per output along an axis.
        if name == "UNPACK":
            o = self.r._options(op, _O.UnpackOptions, tflite.UnpackOptions, where, True)
            axis, extents = o.Axis() % rank, [1] * len(outs)
        else:
            axis_input = ints(0 if name == "SPLIT" else 2, "axis").reshape(-1)
            axis = int(axis_input[0]) % rank
            if name == "SPLIT":
                extents = [x.shape[axis] // len(outs)] * len(outs)
            else:
                extents = ints(1, "size_splits").tolist()
                if extents.count(-1) == 1:
                    extents[extents.index(-1)] = x.shape[axis] - (sum(extents) + 1)
        if sum(extents) != x.shape[axis] or len(extents) != len(outs):
            raise ModelFormatError(f"{here}{len(outs)} outputs of {extents} do not split "
                                   f"axis {axis} of {list(x.shape)}")
        nodes, start = [], 0
        for out, extent in zip(outs, extents):
            begin = tuple(start if i == axis else 0 for i in range(rank))
            size = tuple(extent if i == axis else d for i, d in enumerate(x.shape))
            nodes.append(node("STRIDED_SLICE", [x], out, begin=begin, strides=(1,) * rank,
                              size=size))
            start += extent
        return nodes

    def _constant_ints(self, index: int, what: str, where: str) -> np.ndarray:
        """An int32 or int64 constant operand's values."""
        r = self.r
        if not 0 <= index < r.num_tensors:
            raise ModelFormatError(f"{r.label}: {where}tensor index {index} out of range")
        t = r.subgraph.Tensors(index)
        dtype = {tflite.TensorType.INT32: "int32", tflite.TensorType.INT64: "int64"}.get(t.Type())
        here = f"{where}{what} (tensor {index}): "
        if dtype is None:
            raise UnsupportedError(f"{r.label}: {here}must be int32 or int64")
        shape = tuple(r._int_vector(t, "Shape", here))
        data = r._constant_data(t, shape, dtype, here)
        if data is None:
            raise UnsupportedError(f"{r.label}: {here}computed at run time; edgekd needs it "
                                   "constant")
        return np.asarray(data, dtype=np.int64)

    def _strided_slice(self, op, shape, begin, end, strides, where: str):
        o = self.r._options(op, _O.StridedSliceOptions, tflite.StridedSliceOptions, where,
                            False)
        masks = (0, 0, 0, 0, False) if o is None else (
            o.BeginMask(), o.EndMask(), o.EllipsisMask() | o.NewAxisMask(),
            o.ShrinkAxisMask(), bool(o.Offset()))
        begin_mask, end_mask, unsupported, shrink_mask, offset = masks
        if unsupported:
            raise UnsupportedError(f"{self.r.label}: {where}ellipsis and new-axis masks are "
                                   "not supported")
        starts, counts = [], []
        for i, dim in enumerate(shape):
            b = int(begin[i]) if i < len(begin) else 0
            e = int(end[i]) if i < len(end) else dim
            s = int(strides[i]) if i < len(strides) else 1
            if s == 0:
                raise ModelFormatError(f"{self.r.label}: {where}stride 0 on axis {i}")
            if offset:
                e += b
            lo, hi = (0, dim) if s > 0 else (-1, dim - 1)
            if begin_mask >> i & 1:
                b = 0 if s > 0 else dim - 1
            else:
                b = min(max(b + dim if b < 0 else b, lo), hi)
            if shrink_mask >> i & 1:
                e = b + 1
            elif end_mask >> i & 1:
                e = dim if s > 0 else -1
            else:
                e = min(max(e + dim if e < 0 else e, lo), hi)
            starts.append(b)
            counts.append(max(0, math.ceil((e - b) / s)))
        return tuple(starts), tuple(counts), tuple(
            int(strides[i]) if i < len(strides) else 1 for i in range(len(shape)))


# ----------------------------------------------------------------------------- writing


def layout_builtin(graph: Graph, node: Node) -> int:
    """The builtin code a layout node is written as."""
    if node.op == "PAD":
        zero_point = graph.tensor(node.outputs[0]).quant.scalar_zero_point
        return _B.PAD if node.attrs["pad_value"] == zero_point else _B.PADV2
    if node.op == "CONCATENATION":
        y = graph.tensor(node.outputs[0])
        ranks = {len(graph.tensor(n).shape) for n in node.inputs}
        if ranks == {len(y.shape) - 1}:
            return _B.PACK
        if ranks != {len(y.shape)}:
            raise GraphError(f"node {node.name!r}: CONCATENATION of mixed ranks has no "
                             "TFLite operator")
        return _B.CONCATENATION
    return {"STRIDED_SLICE": _B.STRIDED_SLICE, "TRANSPOSE": _B.TRANSPOSE,
            "TILE": _B.TILE, "RESIZE_NEAREST_NEIGHBOR": _B.RESIZE_NEAREST_NEIGHBOR,
            "GATHER": _B.GATHER, "RESIZE_BILINEAR": _B.RESIZE_BILINEAR}[node.op]


def layout_operands(graph: Graph, node: Node, fresh) -> list[Tensor]:
    """The constant operands the file's operator takes after the data (``fresh(base)``
    gives an unused tensor name)."""
    a = node.attrs
    out = node.outputs[0]

    def ints(what: str, values, shape=None) -> Tensor:
        data = np.asarray(values, dtype=np.int32)
        data = data.reshape(shape if shape is not None else data.shape)
        return Tensor(fresh(f"{out}/{what}"), data.shape, "int32", data=data)

    if node.op == "PAD":
        operands = [ints("paddings", a["paddings"], (len(a["paddings"]), 2))]
        if layout_builtin(graph, node) == _B.PADV2:
            y = graph.tensor(out)
            operands.append(Tensor(fresh(f"{out}/pad_value"), (1,), "int8", y.quant,
                                   np.array([a["pad_value"]], dtype=np.int8)))
        return operands
    if node.op == "STRIDED_SLICE":
        end_mask, shrink = slice_masks(graph, node)
        strides = [1 if shrink >> i & 1 else s for i, s in enumerate(a["strides"])]
        end = [0 if end_mask >> i & 1 else b + s * n
               for i, (b, s, n) in enumerate(zip(a["begin"], strides, a["size"]))]
        return [ints("begin", a["begin"]), ints("end", end), ints("strides", strides)]
    if node.op == "TRANSPOSE":
        return [ints("perm", a["perm"])]
    if node.op == "TILE":
        return [ints("multiples", a["multiples"])]
    if node.op in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"):
        return [ints("size", graph.tensor(out).shape[1:3])]
    if node.op == "GATHER":
        x, y = graph.tensor(node.inputs[0]), graph.tensor(out)
        axis = a["axis"]
        # The indices' shape: what the output has in place of the gathered axis.
        shape = y.shape[axis:len(y.shape) - (len(x.shape) - axis - 1)]
        return [ints("indices", a["indices"], shape)]
    return []


def slice_masks(graph: Graph, node: Node) -> tuple[int, int]:
    """(end_mask, shrink_axis_mask) of a STRIDED_SLICE as written: the end mask where a
    negative step runs past index 0 (a negative end would count from the back), the
    shrink mask on the axes of extent 1 the output shape drops."""
    a = node.attrs
    want, shrink, j = graph.tensor(node.outputs[0]).shape, 0, 0
    for i, n in enumerate(a["size"]):
        if j < len(want) and want[j] == n:
            j += 1
        elif n == 1:
            shrink |= 1 << i
        else:
            raise GraphError(f"node {node.name!r}: STRIDED_SLICE output shape {want} is not "
                             f"its slice {tuple(a['size'])} with axes of extent 1 dropped")
    if j != len(want):
        raise GraphError(f"node {node.name!r}: STRIDED_SLICE output shape {want} is not its "
                         f"slice {tuple(a['size'])}")
    end_mask = sum(1 << i for i, (b, s, n) in enumerate(zip(a["begin"], a["strides"], a["size"]))
                   if b + s * n < 0 and not shrink >> i & 1)
    return end_mask, shrink


def layout_options(graph: Graph, node: Node):
    """(BuiltinOptions type, builder callback) of a layout node."""
    code = layout_builtin(graph, node)
    if code == _B.CONCATENATION:
        def concatenation(b):
            tflite.ConcatenationOptionsStart(b)
            tflite.ConcatenationOptionsAddAxis(b, node.attrs["axis"])
            return tflite.ConcatenationOptionsEnd(b)
        return _O.ConcatenationOptions, concatenation
    if code == _B.PACK:
        def pack(b):
            tflite.PackOptionsStart(b)
            tflite.PackOptionsAddValuesCount(b, len(node.inputs))
            tflite.PackOptionsAddAxis(b, node.attrs["axis"])
            return tflite.PackOptionsEnd(b)
        return _O.PackOptions, pack
    if code == _B.STRIDED_SLICE:
        end_mask, shrink = slice_masks(graph, node)

        def strided_slice(b):
            tflite.StridedSliceOptionsStart(b)
            tflite.StridedSliceOptionsAddEndMask(b, end_mask)
            tflite.StridedSliceOptionsAddShrinkAxisMask(b, shrink)
            return tflite.StridedSliceOptionsEnd(b)
        return _O.StridedSliceOptions, strided_slice
    if code == _B.GATHER:
        def gather(b):
            tflite.GatherOptionsStart(b)
            tflite.GatherOptionsAddAxis(b, node.attrs["axis"])
            return tflite.GatherOptionsEnd(b)
        return _O.GatherOptions, gather
    if code == _B.RESIZE_BILINEAR:
        def bilinear(b):
            tflite.ResizeBilinearOptionsStart(b)
            tflite.ResizeBilinearOptionsAddAlignCorners(b, node.attrs["align_corners"])
            tflite.ResizeBilinearOptionsAddHalfPixelCenters(b, node.attrs["half_pixel_centers"])
            return tflite.ResizeBilinearOptionsEnd(b)
        return _O.ResizeBilinearOptions, bilinear
    if code == _B.RESIZE_NEAREST_NEIGHBOR:
        def resize(b):
            tflite.ResizeNearestNeighborOptionsStart(b)
            tflite.ResizeNearestNeighborOptionsAddAlignCorners(b, node.attrs["align_corners"])
            tflite.ResizeNearestNeighborOptionsAddHalfPixelCenters(
                b, node.attrs["half_pixel_centers"])
            return tflite.ResizeNearestNeighborOptionsEnd(b)
        return _O.ResizeNearestNeighborOptions, resize
    return 0, None  # PAD, PADV2, TRANSPOSE, TILE: no options needed
