"""ekd_conv2d_direct_s8_mve (Helium, no scratch, optional fused residual ADD) against the
numpy reference, on the Cortex-M55 of mps3-an547 under QEMU.

One firmware runs a few hundred random cases, each in every way the generated code may
call it: with a separate output; in place over its own input, the output at the lead
the kernel's stated write order implies (RasterOrder(4, reads_first=False), through
edgekd.codegen.inplace.raster_lead); and, for cases with a residual, with the output
over the residual input (the layout the planner uses for ResNet's first block). The
expected bytes are edgekd.reference's conv2d, then its add for the residual; they never
enter the firmware. Argument errors must return EKD_ERROR_ARGUMENT.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pytest

from edgekd.codegen.inplace import RasterOrder, Window, raster_lead
from edgekd.codegen.kernels import folded_bias, tap_sums
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.reference.add import add
from edgekd.reference.conv import conv2d
from edgekd.reference.params import AddParams, ConvParams, prepare_add
from edgekd.shapes import conv_output_size, same_padding
from edgekd.verify.boards import load_board
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, runtime_sources
from edgekd.verify.firmware import build_firmware
from edgekd.verify.qemu import run_firmware

from .kernel_cases import activation_range, int8_array, requantization
from .test_mve_kernels import _array, _dims

BOARD = "mps3-an547"
ORDER = RasterOrder(4, reads_first=False)  # the header comment of the kernel
CASES = 260
ACC_LIMIT = 1 << 30


@dataclass
class DirectCase:
    params: ConvParams
    x: np.ndarray  # int8 NHWC
    w: np.ndarray  # int8 [out_c, kh, kw, in_c]
    bias: np.ndarray | None
    out_shape: tuple[int, int, int, int]
    add: AddParams | None = None
    residual: np.ndarray | None = None  # int8, the output's shape

    @property
    def conv_expected(self) -> np.ndarray:
        return conv2d(self.params, self.x, self.w, self.bias, self.out_shape)

    @property
    def expected(self) -> np.ndarray:
        y = self.conv_expected
        return y if self.add is None else add(self.add, y, self.residual)

    @property
    def window(self) -> Window:
        p = self.params
        return Window(self.x.shape, self.out_shape, (self.w.shape[1], self.w.shape[2]),
                      (p.stride_h, p.stride_w), (1, 1), (p.pad_h, p.pad_w))


def _axis(rng: np.random.Generator, kernel: int, stride: int) -> tuple[int, int, int]:
    """(input size, output size, leading pad): SAME, VALID, or an asymmetric padding of
    any leading and trailing amount below the kernel (now and then one whole kernel of
    leading padding: windows with no row or column inside)."""
    kind = rng.choice(["SAME", "SAME", "VALID", "asymmetric"])
    if kind == "asymmetric":
        size = int(rng.integers(1, 9))
        lead = int(rng.integers(0, kernel + (rng.integers(8) == 0)))
        trail = int(rng.integers(0, kernel))
        out = (size + lead + trail - kernel) // stride + 1
        if out < 1:
            return _axis(rng, kernel, stride)
        return size, out, lead
    size = int(rng.integers(kernel if kind == "VALID" else 1, kernel + 7))
    out = conv_output_size(size, kernel, stride, 1, str(kind))
    pad = same_padding(size, kernel, stride, 1, out) if kind == "SAME" else 0
    return size, out, pad


def _bias(rng: np.random.Generator, w: np.ndarray) -> np.ndarray | None:
    """None, typical, at the accumulator limit |bias| + 255 * sum |w| = 2^30 - 1 (the
    optimized kernels' bound), or any int32 (accumulators that wrap)."""
    out_c = w.shape[0]
    kind = rng.choice(["none", "typical", "limit", "limit", "full"])
    if kind == "none":
        return None
    if kind == "full":
        return rng.integers(-(1 << 31), 1 << 31, size=out_c, dtype=np.int64).astype(np.int32)
    room = ACC_LIMIT - 1 - 255 * np.abs(w.astype(np.int64)).reshape(out_c, -1).sum(axis=1)
    magnitude = room if kind == "limit" else np.minimum(room, rng.integers(0, 1 << 20, out_c))
    sign = np.where(rng.integers(0, 2, size=out_c) == 1, 1, -1)
    return (sign * magnitude).astype(np.int32)


def _add_params(rng: np.random.Generator, out_zero_point: int) -> AddParams:
    """TFLM's ADD preparation for (conv output, residual) -> output with random scales,
    input 1's zero point the convolution's output zero point; redrawn until it meets
    ekd_add_fast_valid (an output shift of -1 or below)."""
    while True:
        scales = 10.0 ** rng.uniform(-3.0, 0.0, size=3)
        if rng.integers(4) == 0:
            scales[1] = scales[0]  # equal input scales: both shifts 0
        quant = {"y1": QuantParams.per_tensor(float(scales[0]), out_zero_point),
                 "res": QuantParams.per_tensor(float(scales[1]), int(rng.integers(-128, 128))),
                 "out": QuantParams.per_tensor(float(scales[2]), int(rng.integers(-128, 128)))}
        graph = Graph("add", {n: Tensor(n, (1, 1, 1, 1), "int8", q) for n, q in quant.items()},
                      [], ["y1", "res"], ["out"])
        node = Node("ADD", "add", ["y1", "res"], ["out"],
                    {"activation": str(rng.choice(["NONE", "RELU", "RELU6"]))})
        try:
            p = prepare_add(graph, node)
        except Exception:  # an output scale too small for TFLite's ADD
            continue
        if p.output_shift <= -1:
            return p


def direct_case(rng: np.random.Generator, residual: bool) -> DirectCase:
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 6, size=2))
        if rng.integers(3) == 0:
            kernel = (3, 3)
        stride = tuple(int(s) for s in rng.choice([1, 1, 2, 2, 3], size=2))
        (in_h, out_h, pad_h), (in_w, out_w, pad_w) = (
            _axis(rng, k, s) for k, s in zip(kernel, stride))
        if rng.integers(8) == 0:  # 1xN and Nx1
            if rng.integers(2):
                in_h, out_h, pad_h, kernel = 1, 1, 0, (1, kernel[1])
            else:
                in_w, out_w, pad_w, kernel = 1, 1, 0, (kernel[0], 1)
        in_c = int(rng.choice([16, 16, 32, 32, 48, 64]))
        out_c = int(rng.integers(1, 21))
        batches = int(rng.integers(1, 3)) if rng.integers(4) == 0 else 1
        if (batches * in_h * in_w * in_c <= 1536 and out_c * kernel[0] * kernel[1] * in_c <= 2048
                and batches * out_h * out_w * out_c <= 1024):
            break
    x = int8_array(rng, (batches, in_h, in_w, in_c))
    w = int8_array(rng, (out_c, *kernel, in_c))
    multiplier, shift = requantization(rng, out_c)
    act_min, act_max = activation_range(rng)
    out_zp = int(rng.integers(-128, 128))
    p = ConvParams(
        input_offset=-int(rng.integers(-128, 128)), output_offset=out_zp,
        stride_h=stride[0], stride_w=stride[1], dilation_h=1, dilation_w=1,
        pad_h=pad_h, pad_w=pad_w, depth_multiplier=1, activation_min=act_min,
        activation_max=act_max, multiplier=multiplier, shift=shift)
    out_shape = (batches, out_h, out_w, out_c)
    case = DirectCase(p, x, w, _bias(rng, w), out_shape)
    if residual:
        case.add = _add_params(rng, out_zp)
        case.residual = int8_array(rng, out_shape)
    return case


def layer_case(rng: np.random.Generator, in_c: int, out_c: int, size: int, stride: int,
               residual: bool) -> DirectCase:
    """A 3x3 SAME layer of a realistic shape, ResNet-like quantization."""
    out = conv_output_size(size, 3, stride, 1, "SAME")
    pad = same_padding(size, 3, stride, 1, out)
    from edgekd.reference.requantize import quantize_multiplier
    pairs = [quantize_multiplier(float(r)) for r in rng.uniform(1e-4, 0.01, out_c)]
    p = ConvParams(input_offset=128, output_offset=-128, stride_h=stride, stride_w=stride,
                   dilation_h=1, dilation_w=1, pad_h=pad, pad_w=pad, depth_multiplier=1,
                   activation_min=-128, activation_max=127,
                   multiplier=np.array([m for m, _ in pairs], dtype=np.int32),
                   shift=np.array([s for _, s in pairs], dtype=np.int32))
    x = rng.integers(-128, 128, size=(1, size, size, in_c), dtype=np.int8)
    w = rng.integers(-127, 128, size=(out_c, 3, 3, in_c), dtype=np.int8)
    bias = rng.integers(-(1 << 16), 1 << 16, size=out_c).astype(np.int32)
    case = DirectCase(p, x, w, bias, (1, out, out, out_c))
    if residual:
        case.add = _add_params(rng, -128)
        case.residual = rng.integers(-128, 128, size=case.out_shape, dtype=np.int8)
    return case


def direct_cases(seed: int = 16) -> list[DirectCase]:
    rng = np.random.default_rng(seed)
    cases = [layer_case(rng, 16, 16, 12, 1, True), layer_case(rng, 16, 16, 9, 1, False),
             layer_case(rng, 32, 32, 7, 1, True), layer_case(rng, 16, 32, 10, 2, False),
             layer_case(rng, 32, 8, 9, 2, True), layer_case(rng, 64, 4, 6, 1, True)]
    while len(cases) < CASES:
        cases.append(direct_case(rng, residual=bool(rng.integers(2))))
    return cases


def _fields(p) -> str:
    return ", ".join(f".{f.name} = {int(getattr(p, f.name))}" for f in fields(p)
                     if f.name not in ("multiplier", "shift"))


def render_firmware(cases: list[DirectCase]) -> tuple[str, list[int]]:
    """The harness C text, and the in-place lead of each case."""
    parts = ['#include <stdint.h>', '#include <string.h>', '#include "ekd_board.h"',
             '#include "edgekd/ekd.h"', '']
    rows, leads = [], []
    work = 16
    for i, case in enumerate(cases):
        p, x, w = case.params, case.x, case.w
        parts.append(f"static const ekd_conv_params c{i}_conv = {{ {_fields(p)} }};")
        parts.append(_array("int8_t", f"c{i}_x", x))
        parts.append(_array("int8_t", f"c{i}_w", w))
        parts.append(_array("int32_t", f"c{i}_b", folded_bias(w, case.bias, p.input_offset)))
        parts.append(_array("int32_t", f"c{i}_t", tap_sums(w)))
        parts.append(_array("int32_t", f"c{i}_m", p.multiplier))
        parts.append(_array("int32_t", f"c{i}_s", p.shift))
        if case.add is not None:
            parts.append(f"static const ekd_add_params c{i}_add = {{ {_fields(case.add)} }};")
            parts.append(_array("int8_t", f"c{i}_r", case.residual))
            add, res = f"&c{i}_add", f"c{i}_r"
        else:
            add, res = "0", "0"
        lead = max(0, raster_lead(case.window, ORDER))
        leads.append(lead)
        out_bytes = int(np.prod(case.out_shape))
        rows.append(f"{{ &c{i}_conv, {add}, {_dims(x.shape)}, {_dims(w.shape)}, "
                    f"{_dims(case.out_shape)}, c{i}_x, c{i}_w, {res}, c{i}_b, c{i}_t, "
                    f"c{i}_m, c{i}_s, {x.size}, {out_bytes}, {lead} }}")
        work = max(work, lead + x.size, out_bytes)
    parts.append(HARNESS_HEAD.format(work=(work + 15) // 16 * 16, count=len(cases)))
    parts.append("static const test_case cases[] = {\n    " + ",\n    ".join(rows) + "\n};")
    parts.append(HARNESS_MAIN)
    return "\n".join(parts), leads


HARNESS_HEAD = """
#define WORK_BYTES {work}
#define NUM_CASES {count}

typedef struct {{
    const ekd_conv_params *conv;
    const ekd_add_params *add; /* NULL: no residual */
    ekd_dims in, filter, out;
    const int8_t *input, *filter_data, *residual;
    const int32_t *bias, *tap_sums, *multiplier, *shift;
    int32_t in_bytes, out_bytes, lead;
}} test_case;

static int8_t work[WORK_BYTES] __attribute__((aligned(16)));
"""

HARNESS_MAIN = """
static int run(const test_case *t, const ekd_conv_params *conv, const ekd_dims *in,
               const int8_t *input, const int32_t *tap_sums, const int8_t *residual,
               int8_t *output)
{
    ekd_per_channel_quant quant;
    ekd_residual r;
    quant.multiplier = t->multiplier;
    quant.shift = t->shift;
    r.params = t->add;
    r.input = residual;
    return ekd_conv2d_direct_s8_mve(0, conv, &quant, in, input, &t->filter, t->filter_data,
                                    t->bias, tap_sums, &t->out, output,
                                    t->add != 0 ? &r : 0);
}

static void report(int index, const char *mode, int status, const int8_t *output, int32_t n)
{
    ekd_print("ekd:case index=");
    ekd_print_u32((uint32_t)index);
    ekd_print(" mode=");
    ekd_print(mode);
    ekd_print(status < 0 ? " status=-" : " status=");
    ekd_print_u32(status < 0 ? 0u - (uint32_t)status : (uint32_t)status);
    ekd_print(" output=");
    ekd_print_hex_bytes(output, (size_t)n);
    ekd_print("\\n");
}

static void report_error(const char *what, int status)
{
    ekd_print("ekd:error what=");
    ekd_print(what);
    ekd_print(status < 0 ? " status=-" : " status=");
    ekd_print_u32(status < 0 ? 0u - (uint32_t)status : (uint32_t)status);
    ekd_print("\\n");
}

int main(void)
{
    int i;
    for (i = 0; i < NUM_CASES; ++i) {
        const test_case *t = &cases[i];
        int status;
        memset(work, 0xA5, sizeof work);
        status = run(t, t->conv, &t->in, t->input, t->tap_sums, t->residual, work);
        report(i, "separate", status, work, t->out_bytes);

        /* In place over the conv's input, the output `lead` bytes below it. */
        memset(work, 0xA5, sizeof work);
        memcpy(work + t->lead, t->input, (size_t)t->in_bytes);
        status = run(t, t->conv, &t->in, work + t->lead, t->tap_sums, t->residual, work);
        report(i, "inplace", status, work, t->out_bytes);

        if (t->add != 0) { /* the output over the residual input */
            memset(work, 0xA5, sizeof work);
            memcpy(work, t->residual, (size_t)t->out_bytes);
            status = run(t, t->conv, &t->in, t->input, t->tap_sums, work, work);
            report(i, "residual", status, work, t->out_bytes);
        }
    }
    {
        /* Argument errors, each on an otherwise valid case with a residual. */
        const test_case *t = &cases[0];
        ekd_conv_params dilated = *t->conv;
        ekd_add_params bad_add = *t->add;
        ekd_dims in8 = t->in, filter8 = t->filter;
        ekd_per_channel_quant quant;
        ekd_residual r;
        in8.c = 8;
        filter8.c = 8;
        quant.multiplier = t->multiplier;
        quant.shift = t->shift;
        memset(work, 0xA5, sizeof work);
        report_error("in_c8", ekd_conv2d_direct_s8_mve(0, t->conv, &quant, &in8, t->input,
                                                       &filter8, t->filter_data, t->bias,
                                                       t->tap_sums, &t->out, work, 0));
        dilated.dilation_w = 2;
        report_error("dilation2", run(t, &dilated, &t->in, t->input, t->tap_sums,
                                      t->residual, work));
        dilated = *t->conv;
        dilated.dilation_h = 2;
        report_error("dilation2h", run(t, &dilated, &t->in, t->input, t->tap_sums,
                                       t->residual, work));
        report_error("tap_sums", run(t, t->conv, &t->in, t->input, 0, t->residual, work));
        report_error("residual_input", run(t, t->conv, &t->in, t->input, t->tap_sums, 0,
                                           work));
        bad_add.output_shift = 0; /* outside ekd_add_fast_s8's conditions */
        r.params = &bad_add;
        r.input = t->residual;
        report_error("add_params", ekd_conv2d_direct_s8_mve(0, t->conv, &quant, &t->in,
                                                            t->input, &t->filter,
                                                            t->filter_data, t->bias,
                                                            t->tap_sums, &t->out, work, &r));
        r.params = 0;
        report_error("add_null", ekd_conv2d_direct_s8_mve(0, t->conv, &quant, &t->in,
                                                          t->input, &t->filter,
                                                          t->filter_data, t->bias,
                                                          t->tap_sums, &t->out, work, &r));
        /* Nothing written before an argument error. */
        for (i = 0; i < WORK_BYTES && work[i] == (int8_t)0xA5; ++i) {
        }
        report_error("untouched", i == WORK_BYTES ? 0 : 1);
    }
    return EKD_EXIT_PASS;
}
"""

ERRORS = ("in_c8", "dilation2", "dilation2h", "tap_sums", "residual_input", "add_params",
          "add_null")


@pytest.mark.slow
def test_conv_direct_mve_bit_exact_on_cortex_m55(tmp_path):
    board = load_board(BOARD)
    if not (board.toolchain_installed() and board.emulator_installed()):
        pytest.skip(f"{BOARD}: cross compiler or QEMU not installed")
    cases = direct_cases()
    assert cases[0].add is not None  # the argument errors below start from it
    source, leads = render_firmware(cases)
    harness = tmp_path / "conv_direct_mve.c"
    harness.write_text(source)
    # The whole runtime as a library: the link takes the kernel and what it calls.
    firmware = build_firmware(board, [harness], [RUNTIME_INCLUDE], tmp_path,
                              library_sources=runtime_sources(),
                              library_include_dirs=[RUNTIME_INCLUDE],
                              what="direct conv MVE tests", progress=None)
    run = run_firmware(firmware, 300, what="direct conv MVE tests", progress=None)

    records = run.records("case")
    with_residual = sum(case.add is not None for case in cases)
    assert len(records) == 2 * len(cases) + with_residual
    failures = []
    for record in records:
        index = int(record["index"])
        case = cases[index]
        expected = case.expected.reshape(-1).view(np.uint8).tobytes().hex()
        if record["status"] != "0" or record["output"] != expected:
            got = bytes.fromhex(record["output"])
            first = next((j for j, (a, b) in enumerate(zip(got, bytes.fromhex(expected)))
                          if a != b), None)
            failures.append(
                f"case {index} ({record['mode']}, x {case.x.shape}, w {case.w.shape}, "
                f"stride {case.params.stride_h}x{case.params.stride_w}, pad "
                f"{case.params.pad_h},{case.params.pad_w}, lead {leads[index]}): "
                f"status {record['status']}, first differing byte {first}")
    assert not failures, f"{len(failures)} of {len(records)} runs differ:\n" + \
        "\n".join(failures[:20])

    errors = {r["what"]: r["status"] for r in run.records("error")}
    assert {k: errors.get(k) for k in ERRORS} == {k: "-1" for k in ERRORS}
    assert errors.get("untouched") == "0"


def test_cases_cover_the_contract():
    """The draws reach what the brief asks for: every kernel size 1..5, strides 1 and 2,
    1xN, padding on every side, windows with no tap inside, wrapping and limit
    accumulators, residual ADDs, and the fast-path window spacings (16, 32, 64 bytes)."""
    cases = direct_cases()
    kernels = {k for c in cases for k in c.w.shape[1:3]}
    assert kernels == {1, 2, 3, 4, 5}
    strides = {c.params.stride_w for c in cases}
    assert {1, 2} <= strides
    assert any(1 in c.x.shape[1:3] for c in cases)
    spacings = {c.params.stride_w * c.x.shape[3] for c in cases}
    assert {16, 32, 64} <= spacings and spacings - {16, 32, 64}
    assert sum(c.add is not None for c in cases) > len(cases) // 3
    # Leading padding of a whole kernel: a window row or column entirely in the padding.
    assert any(c.params.pad_h >= c.w.shape[1] or c.params.pad_w >= c.w.shape[2]
               for c in cases)
    # Some output (batch) widths leave 1, 2 and 3 pixels for the last block of a row.
    assert {c.out_shape[2] % 4 for c in cases} == {0, 1, 2, 3}
