"""The optimized kernels on emulated boards, against the numpy reference.

One firmware per board and hypothesis example holds many random cases (fast_cases.py:
shapes, strides, dilations, padding, zero points, clamps, requantization and biases up to
the accumulator limit) for each optimized convolution, plus a sweep of the fast
requantization's operands; it runs each kernel and prints the output bytes, which the host
compares with the reference. On the Cortex-M4 and M7 boards this is the Arm DSP path
(SXTB16/SMLAD/SMMLAR), which the host cannot run; on the Cortex-M3 and RV32 boards the
portable C path as the cross compilers build it.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edgekd.codegen.optimized import winograd_scratch_bytes
from edgekd.reference import requantize
from edgekd.reference.add import add
from edgekd.verify.boards import load_board
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, runtime_sources
from edgekd.verify.firmware import build_firmware
from edgekd.verify.qemu import run_firmware

from .fast_cases import (
    KERNELS, LAYER_SHAPES, FastCase, fast_cases, layer_case, mat_mult_block_bytes,
)
from .test_add_fast_s8 import add_fast_accepts, loop_cases
from .test_add_s8 import add_cases
from .test_requantize import fast_operands

BOARDS = ["mps2-an386", "mps2-an500", "mps2-an385", "rv32"]
CASES_PER_KERNEL = 10
REQUANTIZE_SAMPLES = 3000

PRELUDE = """\
#include <stdint.h>
#include "edgekd/ekd.h"
#include "ekd_board.h"

typedef ekd_status (*conv_kernel)(const ekd_context *, const ekd_conv_params *,
                                  const ekd_per_channel_quant *, const ekd_dims *,
                                  const int8_t *, const ekd_dims *, const int8_t *,
                                  const int32_t *, const ekd_dims *, int8_t *);
typedef struct {
    conv_kernel kernel;
    ekd_conv_params params;
    ekd_per_channel_quant quant;
    ekd_dims input_dims, filter_dims, output_dims;
    const int8_t *input, *filter;
    const int32_t *bias;
    uint32_t output_bytes;
} test_case;

typedef struct {
    ekd_add_params params;
    const int8_t *input1, *input2;
    int32_t size;
} add_case;

"""

MAIN = """\
static uint32_t scratch[{scratch_words}];
static int8_t output[{output_bytes}];
static int32_t requantized[{requantize_count}];

int main(void)
{{
    uint32_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {{
        const test_case *t = &cases[i];
        const ekd_context ctx = {{ scratch, (int32_t)sizeof scratch }};
        int status = t->kernel(&ctx, &t->params, &t->quant, &t->input_dims, t->input,
                               &t->filter_dims, t->filter, t->bias, &t->output_dims, output);
        ekd_print("ekd:case index=");
        ekd_print_u32(i);
        ekd_print(status < 0 ? " status=-" : " status=");
        ekd_print_u32(status < 0 ? 0u - (uint32_t)status : (uint32_t)status);
        ekd_print(" output=");
        ekd_print_hex_bytes(output, t->output_bytes);
        ekd_print("\\n");
    }}
    for (i = 0; i < {add_count}u; i++) {{
        const add_case *t = &add_cases[i];
        int status = ekd_add_fast_s8(&t->params, t->size, t->input1, t->input2, output);
        ekd_print("ekd:add index=");
        ekd_print_u32(i);
        ekd_print(status < 0 ? " status=-" : " status=");
        ekd_print_u32(status < 0 ? 0u - (uint32_t)status : (uint32_t)status);
        ekd_print(" output=");
        ekd_print_hex_bytes(output, (uint32_t)t->size);
        ekd_print("\\n");
    }}
    for (i = 0; i < {requantize_count}u; i++) {{
        requantized[i] = ekd_requantize_fast_probe(requantize_acc[i], requantize_multiplier[i],
                                                  requantize_shift[i]);
    }}
    ekd_print("ekd:requantize output=");
    ekd_print_hex_bytes(requantized, sizeof requantized);
    ekd_print("\\nekd:end\\n");
    return EKD_EXIT_PASS;
}}
"""

PROBE = """\
#include "ekd_requantize.h"
/* The static inline fast requantization, callable from the test. */
static int32_t ekd_requantize_fast_probe(int32_t acc, int32_t multiplier, int32_t shift)
{
    const ekd_per_channel_quant q = { &multiplier, &shift };
    const ekd_requant_channel r = ekd_requant_channel_at(&q, 0);
    return ekd_requantize_fast(acc, r.multiplier, r.right_shift, r.half);
}
"""


def c_array(ctype: str, name: str, values: np.ndarray) -> str:
    """A static const array, 16-byte aligned like the generator's weight arrays."""
    numbers = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    if ctype == "int32_t":
        numbers = [f"{n}" if int(n) != -(1 << 31) else "(-2147483647 - 1)" for n in numbers]
    body = ",\n    ".join(", ".join(numbers[i:i + 20]) for i in range(0, len(numbers), 20))
    return (f"static const {ctype} {name}[{max(len(numbers), 1)}] "
            f"__attribute__((aligned(16))) = {{\n    {body or '0'}\n}};\n")


def render_firmware(cases: list[FastCase], adds: list, acc: np.ndarray, mult: np.ndarray,
                    shift: np.ndarray) -> str:
    parts = [PRELUDE, PROBE]
    entries = []
    for i, case in enumerate(cases):
        p = case.params
        parts.append(c_array("int8_t", f"x{i}", case.x))
        filter_type = "int16_t" if case.c_filter.dtype == np.int16 else "int8_t"
        parts.append(c_array(filter_type, f"w{i}", case.c_filter))
        parts.append(c_array("int32_t", f"m{i}", p.multiplier))
        parts.append(c_array("int32_t", f"s{i}", p.shift))
        bias = "NULL"
        if case.c_bias is not None:
            parts.append(c_array("int32_t", f"b{i}", case.c_bias))
            bias = f"b{i}"
        fields = ", ".join(str(int(getattr(p, f))) for f in (
            "input_offset", "output_offset", "stride_h", "stride_w", "dilation_h",
            "dilation_w", "pad_h", "pad_w", "depth_multiplier", "activation_min",
            "activation_max"))
        dims = ", ".join("{" + ", ".join(map(str, shape)) + "}"
                         for shape in (case.x.shape, case.w.shape, case.out_shape))
        size = int(np.prod(case.out_shape))
        entries.append(f"    {{ {case.kernel}, {{ {fields} }}, {{ m{i}, s{i} }}, {dims}, "
                       f"x{i}, (const int8_t *)w{i}, {bias}, {size}u }},")
    parts.append("static const test_case cases[] = {\n" + "\n".join(entries) + "\n};\n")
    entries = []
    for i, (p, x1, x2) in enumerate(adds):
        parts.append(c_array("int8_t", f"a{i}", x1))
        parts.append(c_array("int8_t", f"c{i}", x2))
        fields = ", ".join(str(int(v)) for v in dataclasses.astuple(p))
        entries.append(f"    {{ {{ {fields} }}, a{i}, c{i}, {x1.size} }},")
    entries = entries or ["    { { 0 }, NULL, NULL, 0 },"]  # C has no empty arrays
    parts.append("static const add_case add_cases[] = {\n" + "\n".join(entries) + "\n};\n")
    parts.append(c_array("int32_t", "requantize_acc", acc))
    parts.append(c_array("int32_t", "requantize_multiplier", mult))
    parts.append(c_array("int32_t", "requantize_shift", shift))
    scratch = max(max(mat_mult_block_bytes(c.w.shape[1] * c.w.shape[2] * c.w.shape[3]),
                      winograd_scratch_bytes(c.x.shape[3])) for c in cases)
    parts.append(MAIN.format(scratch_words=scratch // 4 + 1,
                             output_bytes=max([int(np.prod(c.out_shape)) for c in cases]
                                              + [x1.size for _, x1, _ in adds]),
                             requantize_count=len(acc), add_count=len(adds)))
    return "".join(parts)


def run_on_board(board_name: str, cases: list[FastCase], adds: list, requantize_seed: int,
                 tmp_path):
    board = load_board(board_name)
    if board.missing_tools():
        pytest.skip(f"{board_name}: {', '.join(board.missing_tools())} not installed")
    acc, mult, shift = fast_operands(np.random.default_rng(requantize_seed), REQUANTIZE_SAMPLES)
    source = tmp_path / "kernel_cases.c"
    source.write_text(render_firmware(cases, adds, acc, mult, shift))
    includes = [RUNTIME_INCLUDE, RUNTIME_INCLUDE.parent / "src"]  # ekd_requantize.h
    firmware = build_firmware(board, [source], includes, tmp_path,
                              library_sources=runtime_sources(),
                              library_include_dirs=[RUNTIME_INCLUDE], what="kernel cases",
                              progress=None)
    run = run_firmware(firmware, timeout_s=120, what="kernel cases", progress=None)
    (tmp_path / "console.txt").write_text(run.console)
    records = run.records("case")
    assert len(records) == len(cases) and run.records("end"), \
        f"{len(records)} of {len(cases)} cases reported; console in {tmp_path / 'console.txt'}"
    for record, case in zip(records, cases):
        where = f"{board_name} case {record['index']} ({case.kernel}, x {case.x.shape}, " \
                f"w {case.w.shape}, out {case.out_shape})"
        assert record["status"] == "0", where
        got = np.frombuffer(bytes.fromhex(record["output"]), dtype=np.int8)
        expected = case.expected.reshape(-1)
        mismatch = np.flatnonzero(got != expected)
        assert mismatch.size == 0, f"{where}: {mismatch.size} bytes differ, first at " \
                                   f"{mismatch[0]}: got {got[mismatch[0]]}, expected " \
                                   f"{expected[mismatch[0]]}"
    for record, (p, x1, x2) in zip(run.records("add"), adds):
        assert record["status"] == "0", f"{board_name} add case {record['index']}"
        got = np.frombuffer(bytes.fromhex(record["output"]), dtype=np.int8)
        assert np.array_equal(got, add(p, x1, x2).reshape(-1)), \
            f"{board_name} add case {record['index']}"
    assert len(run.records("add")) == len(adds)
    got = np.frombuffer(bytes.fromhex(run.records("requantize")[0]["output"]), dtype="<i4")
    expected = requantize.multiply_by_quantized_multiplier(acc, mult, shift)
    assert np.array_equal(got, expected)


@pytest.mark.slow
@pytest.mark.parametrize("board_name", BOARDS)
@settings(max_examples=3, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fast_kernels_bit_exact_on_board(board_name, data, tmp_path_factory):
    cases = [layer_case(kernel, in_c, out_c, size, stride, seed=i)
             for kernel in KERNELS
             for i, (in_c, out_c, size, stride) in enumerate(LAYER_SHAPES)]
    for kernel in KERNELS:
        cases += data.draw(st.lists(fast_cases(kernel, max_channels=16),
                                    min_size=CASES_PER_KERNEL, max_size=CASES_PER_KERNEL))
    adds = [case for case in data.draw(st.lists(add_cases(), min_size=CASES_PER_KERNEL,
                                                max_size=CASES_PER_KERNEL))
            if add_fast_accepts(case[0])]
    # Every loop of ekd_add_run (the half form's SMMLAR/SSAT on the DSP boards), over 1,075
    # of the input pairs each (every 61st: every value of each input).
    adds += [(p, x1[::61], x2[::61]) for _, p, x1, x2 in loop_cases()]
    seed = data.draw(st.integers(0, 2**32 - 1))
    run_on_board(board_name, cases, adds, seed, tmp_path_factory.mktemp(board_name))
