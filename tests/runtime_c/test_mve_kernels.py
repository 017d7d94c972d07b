"""The Helium (MVE) kernels (runtime_c/src/*_mve.c) against the numpy reference, on the
Cortex-M55 of mps3-an547 under QEMU: one firmware runs a few hundred random cases of
every MVE kernel, each twice, once with separate buffers and once in place (the output
at the lead edgekd/codegen/inplace.py computes below the input, in one buffer), and
prints the outputs; the host compares them byte for byte. Expected outputs never enter
the firmware.
"""
from __future__ import annotations

import numpy as np
import pytest

from edgekd.codegen.inplace import RasterOrder, Window, raster_lead
from edgekd.codegen.kernels import folded_bias, packed_conv_filter, packed_depthwise_filter
from edgekd.verify.boards import load_board
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, runtime_sources
from edgekd.verify.firmware import build_firmware
from edgekd.verify.qemu import _c_initializer_lines, run_firmware

from .kernel_cases import (
    AddCase, ConvCase, PoolCase, add_case, average_pool_case, conv_case,
)

BOARD = "mps3-an547"
KINDS = {"conv1x1": 0, "conv": 1, "depthwise": 2, "add": 3, "avgpool": 4}
KERNELS = {"conv1x1": "ekd_conv2d_1x1_s8_mve", "conv": "ekd_conv2d_s8_mve",
           "depthwise": "ekd_depthwise_conv2d_s8_mve"}
COUNTS = {"conv1x1": 60, "conv": 90, "depthwise": 90, "add": 60, "avgpool": 40}


def pool_window(case: PoolCase) -> Window:
    p = case.params
    return Window(case.x.shape, case.expected.shape, (p.filter_h, p.filter_w),
                  (p.stride_h, p.stride_w), (1, 1), (p.pad_h, p.pad_w))


def mve_order(case: ConvCase) -> RasterOrder:
    """The write order the code generator states for the case's kernel."""
    if case.kind == "conv1x1":
        return RasterOrder(1, True) if case.x.shape[3] <= 64 else RasterOrder(4, True)
    return RasterOrder(4, True) if case.kind == "conv" else RasterOrder(1, False)


def _array(ctype: str, name: str, values: np.ndarray) -> str:
    lines = _c_initializer_lines(np.asarray(values).reshape(-1))
    body = "\n".join("    " + line for line in lines)
    return f"static const {ctype} {name}[] __attribute__((aligned(16))) = {{\n{body}\n}};\n"


def _dims(shape) -> str:
    return "{ " + ", ".join(str(int(v)) for v in shape) + " }"


def render_firmware(cases: list[tuple[str, ConvCase | AddCase | PoolCase]]
                    ) -> tuple[str, list[int]]:
    """The harness C text, and the in-place lead used for each case."""
    parts = ['#include <stdint.h>', '#include <string.h>', '#include "ekd_board.h"',
             '#include "edgekd/ekd.h"', '']
    rows, leads = [], []
    work = scratch = 16
    for i, (kind, case) in enumerate(cases):
        if kind == "add":
            p = case.params
            fields = ", ".join(f".{name} = {int(getattr(p, name))}"
                               for name in p.__dataclass_fields__)
            parts.append(f"static const ekd_add_params c{i}_add = {{ {fields} }};")
            parts.append(_array("int8_t", f"c{i}_x1", case.x1))
            parts.append(_array("int8_t", f"c{i}_x2", case.x2))
            size = case.x1.size
            rows.append(f"{{ {KINDS[kind]}, 0, &c{i}_add, 0, {{0,0,0,0}}, {{0,0,0,0}}, "
                        f"{{0,0,0,0}}, "
                        f"c{i}_x1, c{i}_x2, 0, 0, 0, 0, {size}, {size}, 0, 0 }}")
            leads.append(0)
            work = max(work, size)
            continue
        if kind == "avgpool":
            p, x = case.params, case.x
            fields = ", ".join(f".{name} = {int(getattr(p, name))}"
                               for name in p.__dataclass_fields__)
            parts.append(f"static const ekd_pool_params c{i}_pool = {{ {fields} }};")
            parts.append(_array("int8_t", f"c{i}_x", x))
            lead = max(0, raster_lead(pool_window(case), RasterOrder(1, False)))
            leads.append(lead)
            rows.append(f"{{ {KINDS[kind]}, 0, 0, &c{i}_pool, {_dims(x.shape)}, {{0,0,0,0}}, "
                        f"{_dims(case.expected.shape)}, c{i}_x, 0, 0, 0, 0, 0, "
                        f"{x.size}, {case.expected.size}, {lead}, 0 }}")
            work = max(work, lead + x.size, case.expected.size)
            continue
        p, x, w = case.params, case.x, case.w
        fields = ", ".join(f".{name} = {int(getattr(p, name))}"
                           for name in p.__dataclass_fields__
                           if name not in ("multiplier", "shift"))
        parts.append(f"static const ekd_conv_params c{i}_conv = {{ {fields} }};")
        parts.append(_array("int8_t", f"c{i}_x", x))
        filt = packed_depthwise_filter(w) if kind == "depthwise" else packed_conv_filter(w)
        parts.append(_array("int8_t", f"c{i}_w", filt))
        parts.append(_array("int32_t", f"c{i}_b",
                            folded_bias(w, case.bias, p.input_offset, kind == "depthwise")))
        parts.append(_array("int32_t", f"c{i}_m", p.multiplier))
        parts.append(_array("int32_t", f"c{i}_s", p.shift))
        lead = max(0, raster_lead(case.window, mve_order(case)))
        leads.append(lead)
        depth16 = (w.shape[1] * w.shape[2] * x.shape[3] + 15) // 16 * 16
        if kind == "depthwise":
            window = (x.shape[3] + 15) // 16 * 16  # a row of zero points
        elif kind == "conv":  # four windows, one more for rows not whole vectors
            window = (4 + ((w.shape[2] * x.shape[3]) % 16 != 0)) * depth16
        else:
            window = 0 if x.shape[3] <= 64 else 4 * depth16
        out_bytes = case.expected.size
        rows.append(f"{{ {KINDS[kind]}, &c{i}_conv, 0, 0, {_dims(x.shape)}, {_dims(w.shape)}, "
                    f"{_dims(case.expected.shape)}, c{i}_x, 0, c{i}_w, c{i}_b, c{i}_m, c{i}_s, "
                    f"{x.size}, {out_bytes}, {lead}, {window} }}")
        work = max(work, lead + x.size, out_bytes)
        scratch = max(scratch, window)
    parts.append(HARNESS_HEAD.format(work=(work + 15) // 16 * 16,
                                     scratch=(scratch + 15) // 16 * 16, count=len(cases)))
    parts.append("static const test_case cases[] = {\n    " + ",\n    ".join(rows) + "\n};")
    parts.append(HARNESS_MAIN)
    return "\n".join(parts), leads


HARNESS_HEAD = """
#define WORK_BYTES {work}
#define SCRATCH_BYTES {scratch}
#define NUM_CASES {count}

typedef struct {{
    int kind; /* 0 conv 1x1, 1 conv, 2 depthwise, 3 add, 4 average pool */
    const ekd_conv_params *conv;
    const ekd_add_params *add;
    const ekd_pool_params *pool;
    ekd_dims in, filter, out;
    const int8_t *input, *input2, *filter_data;
    const int32_t *bias, *multiplier, *shift;
    int32_t in_bytes, out_bytes, lead, scratch;
}} test_case;

static int8_t work[WORK_BYTES] __attribute__((aligned(16)));
static int8_t scratch[SCRATCH_BYTES] __attribute__((aligned(16)));
"""

HARNESS_MAIN = """
static int run(const test_case *t, const int8_t *input, const int8_t *input2, int8_t *output)
{
    ekd_per_channel_quant quant;
    ekd_context ctx;
    quant.multiplier = t->multiplier;
    quant.shift = t->shift;
    ctx.buf = scratch;
    ctx.size = t->scratch;
    switch (t->kind) {
    case 0:
        return ekd_conv2d_1x1_s8_mve(&ctx, t->conv, &quant, &t->in, input, &t->filter,
                                     t->filter_data, t->bias, &t->out, output);
    case 1:
        return ekd_conv2d_s8_mve(&ctx, t->conv, &quant, &t->in, input, &t->filter,
                                 t->filter_data, t->bias, &t->out, output);
    case 2:
        return ekd_depthwise_conv2d_s8_mve(&ctx, t->conv, &quant, &t->in, input, &t->filter,
                                           t->filter_data, t->bias, &t->out, output);
    case 3:
        return ekd_add_s8_mve(t->add, t->in_bytes, input, input2, output);
    default:
        return ekd_avgpool_s8_mve(t->pool, &t->in, input, &t->out, output);
    }
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

int main(void)
{
    int i;
    for (i = 0; i < NUM_CASES; ++i) {
        const test_case *t = &cases[i];
        int status;
        memset(work, 0xA5, sizeof work);
        memset(scratch, 0x5A, sizeof scratch);
        status = run(t, t->input, t->input2, work);
        report(i, "separate", status, work, t->out_bytes);

        memset(work, 0xA5, sizeof work);
        memset(scratch, 0x5A, sizeof scratch);
        if (t->kind == 3 && (i & 1)) { /* ADD: the output over the second input */
            memcpy(work, t->input2, (size_t)t->in_bytes);
            status = run(t, t->input, work, work);
        } else {
            memcpy(work + t->lead, t->input, (size_t)t->in_bytes);
            status = run(t, work + t->lead, t->input2, work);
        }
        report(i, "inplace", status, work, t->out_bytes);
    }
    {
        ekd_dims in = { 1, 5, 6, 8 }, filter = { 3, 2, 4, 8 }, out = { 1, 5, 6, 3 };
        ekd_print("ekd:scratch bytes=");
        ekd_print_u32((uint32_t)ekd_conv2d_s8_mve_scratch_size(&in, &filter, &out));
        ekd_print("\\n");
    }
    return EKD_EXIT_PASS;
}
"""


def kernel_cases(seed: int = 8) -> list[tuple[str, ConvCase | AddCase | PoolCase]]:
    rng = np.random.default_rng(seed)
    cases: list[tuple[str, ConvCase | AddCase | PoolCase]] = []
    for kind, count in COUNTS.items():
        for _ in range(count):
            if kind == "add":
                cases.append((kind, add_case(rng)))
            elif kind == "avgpool":
                cases.append((kind, average_pool_case(rng)))
            else:
                cases.append((kind, conv_case(rng, kind)))
    return cases


@pytest.mark.slow
def test_mve_kernels_bit_exact_on_cortex_m55(tmp_path):
    board = load_board(BOARD)
    if not (board.toolchain_installed() and board.emulator_installed()):
        pytest.skip(f"{BOARD}: cross compiler or QEMU not installed")
    cases = kernel_cases()
    source, leads = render_firmware(cases)
    harness = tmp_path / "mve_kernels.c"
    harness.write_text(source)
    # The whole runtime as a library: the link takes the Helium kernels and what they call.
    firmware = build_firmware(board, [harness], [RUNTIME_INCLUDE], tmp_path,
                              library_sources=runtime_sources(),
                              library_include_dirs=[RUNTIME_INCLUDE], what="MVE kernel tests",
                              progress=None)
    run = run_firmware(firmware, 300, what="MVE kernel tests", progress=None)
    records = run.records("case")
    assert len(records) == 2 * len(cases)
    failures = []
    for record in records:
        index = int(record["index"])
        kind, case = cases[index]
        expected = case.expected.reshape(-1).view(np.uint8).tobytes().hex()
        if record["status"] != "0" or record["output"] != expected:
            got = bytes.fromhex(record["output"])
            first = next((j for j, (a, b) in enumerate(zip(got, bytes.fromhex(expected)))
                          if a != b), None)
            failures.append(f"case {index} ({kind}, {record['mode']}, lead {leads[index]}): "
                            f"status {record['status']}, first differing byte {first}")
    assert not failures, f"{len(failures)} of {len(records)} runs differ:\n" + \
        "\n".join(failures[:20])
    # The scratch the kernel asks for is what edgekd/codegen/kernels.py plans: four
    # windows padded to whole vectors.
    assert run.records("scratch")[0]["bytes"] == str(4 * 2 * 4 * 8)
