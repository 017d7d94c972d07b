"""The geometry structs of the reductions and the broadcasting binary ops
(``ekd_reduce_shape``, ``ekd_broadcast_shape`` in runtime_c/include/edgekd/ekd.h).

Both describe a loop nest of at most four dims over strided inputs. Dims of 1 are
dropped and adjacent dims merged where their strides let one index walk both, so a
global average pool over [1, H, W, C] becomes kept [C] x reduced [H * W] and a
squeeze-excite MUL of [1, H, W, C] by [1, 1, 1, C] becomes [H * W, C] with input 2's
stride 0 along H * W.
"""
from __future__ import annotations

from edgekd.errors import UnsupportedError

RANK = 4


def _strides(shape: tuple[int, ...]) -> list[int]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return strides[::-1]


def _merged(dims: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """(size, stride, ...) rows without size-1 rows, adjacent rows merged where every
    stride of the outer equals the inner's stride times the inner's size."""
    rows: list[tuple[int, ...]] = []
    for row in dims:
        if row[0] == 1:
            continue
        if rows and all(outer == inner * row[0] for outer, inner in zip(rows[-1][1:], row[1:])):
            rows[-1] = (rows[-1][0] * row[0], *row[1:])
        else:
            rows.append(row)
    return rows


def _padded(rows: list[tuple[int, ...]], width: int, what: str) -> list[tuple[int, ...]]:
    if len(rows) > RANK:
        raise UnsupportedError(f"{what} needs {len(rows)} loop dims after merging; the C "
                               f"kernels take {RANK}")
    return [(1,) + (0,) * (width - 1)] * (RANK - len(rows)) + rows


def reduce_shape(shape: tuple[int, ...], axis: tuple[int, ...]) -> dict[str, list[int]]:
    """ekd_reduce_shape of reducing ``shape`` over ``axis`` (kept dims in output order).
    A single reduced dim (ARG_MAX/ARG_MIN) lands in reduced[3]."""
    strides = _strides(shape)
    kept = _merged([(n, s) for d, (n, s) in enumerate(zip(shape, strides)) if d not in axis])
    reduced = _merged([(n, s) for d, (n, s) in enumerate(zip(shape, strides)) if d in axis])
    kept = _padded(kept, 2, f"reducing {shape} over {axis}")
    reduced = _padded(reduced, 2, f"reducing {shape} over {axis}")
    return {"kept": [r[0] for r in kept], "kept_stride": [r[1] for r in kept],
            "reduced": [r[0] for r in reduced], "reduced_stride": [r[1] for r in reduced]}


def broadcast_shape(shape1: tuple[int, ...], shape2: tuple[int, ...],
                    out_shape: tuple[int, ...]) -> dict[str, list[int]]:
    """ekd_broadcast_shape of a binary op from its input and output shapes."""
    rank = len(out_shape)

    def strides(shape):
        shape = (1,) * (rank - len(shape)) + tuple(shape)
        return [0 if n == 1 else s for n, s in zip(shape, _strides(shape))]

    rows = _merged(list(zip(out_shape, strides(shape1), strides(shape2))))
    rows = _padded(rows, 3, f"broadcasting {shape1} with {shape2}")
    return {"dims": [r[0] for r in rows], "stride1": [r[1] for r in rows],
            "stride2": [r[2] for r in rows]}
