"""ekd_conv2d_direct_s8 (runtime_c/src/ekd_conv2d_direct_s8.c), portable C path on the
host, against the numpy reference byte for byte: edgekd.reference.conv.conv2d, followed by
edgekd.reference.add.add for the fused residual. Random layers (fast_cases.direct_cases:
kernels 1..5, strides 1..3, SAME/VALID and asymmetric padding, 1xN strips, zero points,
clamps, biases up to the accumulator limit), ResNet-8's 3x3 layers, the residual into a
separate output and into its own input, the layer in place over its input at the lead
its write order gives (and one alignment step less failing), and the arguments it
refuses. The Arm DSP path runs the same kind of cases on emulated boards, in place too
(slow tests at the end)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from edgekd.codegen.inplace import RasterOrder, Window, raster_lead
from edgekd.codegen.kernels import tap_sums
from edgekd.codegen.optimized import direct_block_bytes
from edgekd.reference.add import add
from edgekd.reference.params import AddParams

from .ekd_runtime import EKD_ERROR_ARGUMENT
from .ekd_strategies import int8_arrays, kernel_settings
from .fast_cases import (
    DIRECT_KERNEL, RESNET8_DIRECT_SHAPES, FastCase, direct_add_params, direct_cases,
    layer_case, residual_add_params,
)

# The kernel's write order (its header comment): groups of 4 pixels, channel pairs
# written while the group's windows are still read.
DIRECT_ORDER = RasterOrder(group=4, reads_first=False)
ALIGN = 16  # the planner places an in-place output at input - align16(lead)


# The scratch a call is given (the kernel's scratch is optional, the bytes the same):
# "none" an ekd_context {NULL, 0}, "null" no context at all, "exact" the bytes
# ekd_conv2d_direct_s8_scratch_size asks for, "short" one byte less (the scratch-free path).
SCRATCH_MODES = ("none", "exact")
SCRATCH_POISON = 0xA5


def scratch_need(runtime, case: FastCase) -> int:
    return runtime.lib.ekd_conv2d_direct_s8_scratch_size(
        runtime.dims(*case.x.shape), runtime.dims(*case.w.shape),
        runtime.dims(*case.out_shape))


class HostIO:
    """A conv kernel's input, output and residual for a call on the host (this file's
    run_direct, test_winograd_add_s8's run_wino): the output filled with 0x5A (bytes the
    call leaves untouched read so); with ``lead``, in place: one buffer, the output at its
    byte 0, the input copied ``lead`` bytes on; with ``add_params`` an ekd_residual over a
    copy of ``residual`` (``alias_residual``: that copy is the output too), or
    ``raw_residual`` passed as it is (e.g. NULL). ``x_ptr``, ``out_ptr`` and ``res_ptr``
    are the call's arguments, alive as long as this object; ``output()`` the output bytes
    after the call."""

    def __init__(self, runtime, case: FastCase, add_params: AddParams | None = None,
                 residual: np.ndarray | None = None, alias_residual: bool = False,
                 lead: int | None = None, raw_residual: object = None):
        ffi = runtime.ffi
        x = np.ascontiguousarray(case.x, dtype=np.int8)
        self._shape = tuple(case.out_shape)
        self._out = np.full(self._shape, 0x5A, dtype=np.int8)
        self._buffer = None
        self.x_ptr, self.out_ptr = runtime.ptr("int8_t", x), runtime.ptr("int8_t", self._out)
        self._keep: list = [x]
        if lead is not None:
            self._buffer = np.full(max(self._out.size, lead + x.size), 0x5A, dtype=np.int8)
            self._buffer[lead:lead + x.size] = x.reshape(-1)
            self.x_ptr = ffi.from_buffer("int8_t[]", self._buffer[lead:])
            self.out_ptr = ffi.from_buffer("int8_t[]", self._buffer)
        self.res_ptr = ffi.NULL
        if raw_residual is not None:
            self.res_ptr = raw_residual
        elif add_params is not None:
            r = np.ascontiguousarray(residual, dtype=np.int8).copy()
            assert r.shape == self._shape
            if alias_residual:
                assert lead is None
                self._out = r
                self.out_ptr = runtime.ptr("int8_t", r)
            self.res_ptr = ffi.new("ekd_residual *")
            a = runtime.add_params(add_params)
            self.res_ptr.params = a
            self.res_ptr.input = runtime.ptr("int8_t", r)
            self._keep += [a, r]

    def output(self) -> np.ndarray:
        if self._buffer is not None:
            return self._buffer[:self._out.size].reshape(self._shape).copy()
        return self._out


def run_direct(runtime, case: FastCase, add_params: AddParams | None = None,
               residual: np.ndarray | None = None, alias_residual: bool = False,
               lead: int | None = None, tap: np.ndarray | None = None,
               raw_residual: object = None, scratch: str = "none") -> tuple[int, np.ndarray]:
    """(status, output) of ekd_conv2d_direct_s8. With ``add_params`` the residual ADD is
    fused (``residual`` its second input; ``alias_residual``: the output is the residual's
    own buffer); with ``lead``, in place: the output at byte 0 of one buffer, the input
    ``lead`` bytes on; ``scratch`` one of the modes above. Untouched output bytes read
    0x5A."""
    status, out, _ = run_direct_scratch(runtime, case, add_params, residual, alias_residual,
                                        lead, tap, raw_residual, scratch)
    return status, out


def run_direct_scratch(runtime, case: FastCase, add_params: AddParams | None = None,
                       residual: np.ndarray | None = None, alias_residual: bool = False,
                       lead: int | None = None, tap: np.ndarray | None = None,
                       raw_residual: object = None, scratch: str = "none"
                       ) -> tuple[int, np.ndarray, bool]:
    """run_direct, and whether the call wrote its scratch (given poisoned, with 64 bytes
    past the size it is told, which must stay untouched too)."""
    ffi, lib = runtime.ffi, runtime.lib
    p = case.params
    filt = np.ascontiguousarray(case.c_filter, dtype=np.int8)
    bias = np.ascontiguousarray(case.c_bias, dtype=np.int32)
    sums = np.ascontiguousarray(tap_sums(case.w) if tap is None else tap, dtype=np.int32)
    io = HostIO(runtime, case, add_params, residual, alias_residual, lead, raw_residual)
    quant, keep_q = runtime.quant(p.multiplier, p.shift)
    need = scratch_need(runtime, case)
    size = {"none": 0, "null": 0, "exact": need, "short": max(need - 1, 0)}[scratch]
    pool = np.full(size // 4 + 17, SCRATCH_POISON * 0x01010101, dtype=np.uint32)  # aligned
    ctx = ffi.NULL if scratch == "null" else ffi.new("ekd_context *")  # {NULL, 0}
    if scratch in ("exact", "short"):
        ctx.buf = ffi.cast("void *", ffi.from_buffer(pool))
        ctx.size = size
    status = lib.ekd_conv2d_direct_s8(
        ctx, runtime.conv_params(p), quant, runtime.dims(*case.x.shape), io.x_ptr,
        runtime.dims(*case.w.shape), runtime.ptr("int8_t", filt), runtime.ptr("int32_t", bias),
        runtime.ptr("int32_t", sums), runtime.dims(*case.out_shape), io.out_ptr, io.res_ptr)
    del keep_q
    touched = bool(np.any(pool != SCRATCH_POISON * 0x01010101))
    return status, io.output(), touched


def expected_with_residual(case: FastCase, add_params: AddParams,
                           residual: np.ndarray) -> np.ndarray:
    return add(add_params, case.expected, residual)


def in_place_lead(case: FastCase) -> int:
    """The planner's lead for the layer under DIRECT_ORDER (inplace.raster_lead)."""
    p = case.params
    window = Window(tuple(case.x.shape), tuple(case.out_shape), tuple(case.w.shape[1:3]),
                    (p.stride_h, p.stride_w), (1, 1), (p.pad_h, p.pad_w))
    return raster_lead(window, DIRECT_ORDER)


def aligned(lead: int) -> int:
    return max(0, -(-lead // ALIGN) * ALIGN)


def resnet_case(shape, seed: int) -> FastCase:
    in_c, out_c, size, stride = shape
    return dataclasses.replace(layer_case("ekd_conv2d_im2col_s8", in_c, out_c, size, stride,
                                          seed), kernel=DIRECT_KERNEL)


def resnet_add(case: FastCase, seed: int) -> tuple[AddParams, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = direct_add_params(case.params.output_offset, (0.05, 0.04, 0.07),
                          int(rng.integers(-128, 128)), int(rng.integers(-128, 128)), "RELU")
    residual = rng.integers(-128, 128, size=case.out_shape, dtype=np.int8)
    return p, residual


# -- without residual ------------------------------------------------------------------

def check_scratch_modes(runtime, case: FastCase, expected: np.ndarray, **kwargs):
    """The call with each scratch mode gives the reference's bytes; on the host (portable
    C: no block path, scratch size 0) no scratch byte is ever written."""
    for scratch in SCRATCH_MODES:
        status, out, touched = run_direct_scratch(runtime, case, scratch=scratch, **kwargs)
        assert status == 0, scratch
        assert np.array_equal(out, expected), scratch
        assert not touched, scratch


@kernel_settings(300)
@given(case=direct_cases())
def test_direct_matches_reference_bytes(runtime, case):
    check_scratch_modes(runtime, case, case.expected)


@pytest.mark.parametrize("shape", RESNET8_DIRECT_SHAPES, ids=str)
def test_direct_on_resnet8_shapes(runtime, shape):
    case = resnet_case(shape, seed=shape[0] + shape[2][0])
    check_scratch_modes(runtime, case, case.expected)
    status, out = run_direct(runtime, case, scratch="null")  # ctx NULL: no scratch either
    assert status == 0 and np.array_equal(out, case.expected)


def test_scratch_size(runtime):
    """0 on the host (portable C has no block path; Arm DSP boards: the on-board tests);
    0 too for dimensions the kernel refuses, and for NULL."""
    case = resnet_case(RESNET8_DIRECT_SHAPES[0], seed=1)
    assert scratch_need(runtime, case) == 0
    lib, ffi = runtime.lib, runtime.ffi
    dims = runtime.dims
    assert lib.ekd_conv2d_direct_s8_scratch_size(ffi.NULL, ffi.NULL, ffi.NULL) == 0
    assert lib.ekd_conv2d_direct_s8_scratch_size(dims(1, 8, 8, 6), dims(4, 3, 3, 6),
                                                 dims(1, 8, 8, 4)) == 0


def test_portable_path_ignores_scratch(runtime):
    """Given plenty of scratch, the portable build still writes none of it (its path has
    no use for scratch), and the bytes stay the reference's."""
    ffi, lib = runtime.ffi, runtime.lib
    case = resnet_case(RESNET8_DIRECT_SHAPES[0], seed=2)
    p = case.params
    pool = np.full(4096, SCRATCH_POISON * 0x01010101, dtype=np.uint32)
    ctx = ffi.new("ekd_context *")
    ctx.buf = ffi.cast("void *", ffi.from_buffer(pool))
    ctx.size = pool.nbytes
    out = np.zeros(case.out_shape, dtype=np.int8)
    quant, keep = runtime.quant(p.multiplier, p.shift)
    x = np.ascontiguousarray(case.x)
    filt = np.ascontiguousarray(case.c_filter)
    bias = np.ascontiguousarray(case.c_bias)
    sums = np.ascontiguousarray(tap_sums(case.w))
    status = lib.ekd_conv2d_direct_s8(
        ctx, runtime.conv_params(p), quant, runtime.dims(*x.shape), runtime.ptr("int8_t", x),
        runtime.dims(*case.w.shape), runtime.ptr("int8_t", filt),
        runtime.ptr("int32_t", bias), runtime.ptr("int32_t", sums),
        runtime.dims(*case.out_shape), runtime.ptr("int8_t", out), ffi.NULL)
    del keep
    assert status == 0 and np.array_equal(out, case.expected)
    assert np.all(pool == SCRATCH_POISON * 0x01010101)


# -- fused residual ADD ----------------------------------------------------------------

@kernel_settings(200)
@given(case=direct_cases(), data=st.data())
def test_direct_with_residual_matches_conv_then_add(runtime, case, data):
    p = data.draw(residual_add_params(case.params.output_offset))
    assume(p is not None)
    residual = data.draw(int8_arrays(case.out_shape))
    expected = expected_with_residual(case, p, residual)
    alias = data.draw(st.booleans())
    check_scratch_modes(runtime, case, expected, add_params=p, residual=residual,
                        alias_residual=alias)


@pytest.mark.parametrize("alias", [False, True], ids=["separate", "over-residual"])
@pytest.mark.parametrize("shape", RESNET8_DIRECT_SHAPES, ids=str)
def test_direct_residual_on_resnet8_shapes(runtime, shape, alias):
    case = resnet_case(shape, seed=3 * shape[1] + shape[2][1])
    p, residual = resnet_add(case, seed=shape[1])
    check_scratch_modes(runtime, case, expected_with_residual(case, p, residual),
                        add_params=p, residual=residual, alias_residual=alias)


def test_residual_changes_the_output(runtime):
    """The residual is really added (a kernel ignoring it would fail the tests above only
    by luck of the draw)."""
    case = resnet_case(RESNET8_DIRECT_SHAPES[0], seed=11)
    p, residual = resnet_add(case, seed=5)
    plain = run_direct(runtime, case)[1]
    fused = run_direct(runtime, case, p, residual)[1]
    assert not np.array_equal(plain, fused)
    assert np.array_equal(fused, expected_with_residual(case, p, residual))


# -- in place over the convolution's input ------------------------------------------------

IN_PLACE_SHAPES = RESNET8_DIRECT_SHAPES + [(16, 8, (9, 7), 1), (8, 24, (5, 11), 2)]


@pytest.mark.parametrize("shape", IN_PLACE_SHAPES, ids=str)
def test_direct_runs_in_place_at_its_lead(runtime, shape):
    case = resnet_case(shape, seed=7 * shape[0] + shape[2][1])
    exact = in_place_lead(case)
    lead = aligned(exact)
    status, out = run_direct(runtime, case, lead=lead)
    assert status == 0
    assert np.array_equal(out, case.expected)
    if exact == lead and lead >= ALIGN and case.out_shape[-1] >= 3:
        # Where alignment leaves no slack the write order is tight: one step closer, a
        # later channel pair re-reads an input byte the first pair has overwritten.
        status, out = run_direct(runtime, case, lead=lead - ALIGN)
        assert status == 0
        assert not np.array_equal(out, case.expected)


def test_in_place_one_step_less_fails(runtime):
    """At least one of the layers above breaks one alignment step below its lead (so the
    test above can fail, and DIRECT_ORDER is not stated more generously than needed)."""
    broken = 0
    for shape in IN_PLACE_SHAPES:
        case = resnet_case(shape, seed=7 * shape[0] + shape[2][1])
        lead = aligned(in_place_lead(case))
        if lead >= ALIGN:
            broken += not np.array_equal(run_direct(runtime, case, lead=lead - ALIGN)[1],
                                         case.expected)
    assert broken >= 1


@kernel_settings(100)
@given(case=direct_cases())
def test_direct_runs_in_place_on_random_layers(runtime, case):
    lead = in_place_lead(case)
    assume(lead < 1 << 20)  # raster_lead's "nothing read" sentinel
    status, out = run_direct(runtime, case, lead=aligned(lead))
    assert status == 0
    assert np.array_equal(out, case.expected)


def test_in_place_one_step_less_fails_with_residual_too(runtime):
    """In place over the conv input with a fused residual in a separate buffer: the lead
    holds, and one alignment step less breaks at least one of these layers."""
    broken = 0
    for shape in RESNET8_DIRECT_SHAPES[:3]:
        case = resnet_case(shape, seed=shape[2][0])
        p, residual = resnet_add(case, seed=2)
        expected = expected_with_residual(case, p, residual)
        lead = aligned(in_place_lead(case))
        assert np.array_equal(run_direct(runtime, case, p, residual, lead=lead)[1], expected)
        broken += not np.array_equal(
            run_direct(runtime, case, p, residual, lead=lead - ALIGN)[1], expected)
    assert broken >= 1


# -- arguments -------------------------------------------------------------------------

def small_case(in_c: int = 8) -> FastCase:
    case = resnet_case((in_c, 6, (5, 5), 1), seed=4)
    return case


def assert_refused(runtime, case: FastCase, **kwargs):
    status, out = run_direct(runtime, case, **kwargs)
    assert status == EKD_ERROR_ARGUMENT
    alias = kwargs.get("alias_residual")
    if not alias:
        assert np.all(out == 0x5A)  # untouched


def test_direct_rejects_what_it_cannot_compute(runtime):
    case = small_case()
    assert run_direct(runtime, case)[0] == 0
    # in_c not a multiple of 4
    assert_refused(runtime, small_case(in_c=6))
    # dilation 2 (the reference could compute it; this kernel reads taps contiguously)
    dilated = dataclasses.replace(case, params=dataclasses.replace(case.params, dilation_w=2))
    assert_refused(runtime, dilated)
    dilated_h = dataclasses.replace(case, params=dataclasses.replace(case.params, dilation_h=2))
    assert_refused(runtime, dilated_h)
    # the fast requantization's preconditions (ekd_validate_conv_fast)
    left = dataclasses.replace(case, params=dataclasses.replace(
        case.params, shift=np.full(6, 1, dtype=np.int32)))
    assert_refused(runtime, left)


def test_direct_rejects_null_tap_sums(runtime):
    case = small_case()
    ffi, lib = runtime.ffi, runtime.lib
    x = np.ascontiguousarray(case.x)
    filt = np.ascontiguousarray(case.c_filter)
    bias = np.ascontiguousarray(case.c_bias)
    out = np.full(case.out_shape, 0x5A, dtype=np.int8)
    quant, keep = runtime.quant(case.params.multiplier, case.params.shift)
    args = (ffi.NULL, runtime.conv_params(case.params), quant, runtime.dims(*x.shape),
            runtime.ptr("int8_t", x), runtime.dims(*case.w.shape), runtime.ptr("int8_t", filt))
    tail = (runtime.dims(*case.out_shape), runtime.ptr("int8_t", out), ffi.NULL)
    assert lib.ekd_conv2d_direct_s8(*args, runtime.ptr("int32_t", bias), ffi.NULL,
                                    *tail) == EKD_ERROR_ARGUMENT
    assert lib.ekd_conv2d_direct_s8(*args, ffi.NULL, runtime.ptr("int32_t", bias),
                                    *tail) == EKD_ERROR_ARGUMENT
    assert np.all(out == 0x5A)
    del keep


def test_direct_rejects_residual_the_fast_add_rejects(runtime):
    case = small_case()
    p, residual = resnet_add(case, seed=9)
    status, out = run_direct(runtime, case, p, residual)
    assert status == 0 and np.array_equal(out, expected_with_residual(case, p, residual))
    for change in ({"left_shift": 21}, {"output_shift": 0}, {"input2_shift": 1},
                   {"input1_multiplier": -1}, {"input1_offset": 256},
                   {"activation_min": 5, "activation_max": 4}):
        assert_refused(runtime, case, add_params=dataclasses.replace(p, **change),
                       residual=residual)
    # a residual with no input array
    ffi = runtime.ffi
    res = ffi.new("ekd_residual *")
    a = runtime.add_params(p)
    res.params = a
    res.input = ffi.NULL
    assert_refused(runtime, case, raw_residual=res)
    res.params = ffi.NULL
    res.input = runtime.ptr("int8_t", np.ascontiguousarray(residual))
    assert_refused(runtime, case, raw_residual=res)


# -- on emulated boards ----------------------------------------------------------------
# One firmware per board: every case is one straight-line call; a layer's constant arrays
# are emitted once however many cases call it (the same FastCase object, e.g. with and
# without scratch). The board prints status and output bytes, the counter ticks the call
# took (benchmarks read them), the stack it used, the scratch size the kernel asked for
# and whether it wrote its poisoned scratch; the host compares the bytes with the
# reference and checks the scratch contract.

BOARD_PRELUDE = """\
#include <stdint.h>
#include <string.h>
#include "edgekd/ekd.h"
#include "ekd_board.h"

static void report(uint32_t index, int status, const int8_t *output, uint32_t bytes,
                   uint32_t ticks, uint32_t stack, int32_t need, int touched)
{
    ekd_print("ekd:case index=");
    ekd_print_u32(index);
    ekd_print(status < 0 ? " status=-" : " status=");
    ekd_print_u32(status < 0 ? 0u - (uint32_t)status : (uint32_t)status);
    ekd_print(" ticks=");
    ekd_print_u32(ticks);
    ekd_print(" stack=");
    ekd_print_u32(stack);
    ekd_print(" need=");
    ekd_print_u32((uint32_t)need);
    ekd_print(" touched=");
    ekd_print_u32((uint32_t)touched);
    ekd_print(" output=");
    ekd_print_hex_bytes(output, bytes);
    ekd_print("\\n");
}

/* Stack a call uses: the words below `top` (a local of main) are painted first, the
 * deepest one overwritten after the call is how far it went. STACK_PROBE bytes below
 * main's frame are inside every board's stack. */
#define STACK_PROBE 4096u

static __attribute__((noinline)) void stack_paint(uintptr_t top)
{
    volatile uint32_t here = 0;
    uint32_t *word = (uint32_t *)(top - STACK_PROBE);
    /* Up to this function's own frame, with a margin. */
    while ((uintptr_t)word < (uintptr_t)&here - 64u) {
        *word++ = EKD_STACK_PAINT;
    }
    (void)here;
}

static __attribute__((noinline)) uint32_t stack_depth(uintptr_t top)
{
    const volatile uint32_t *word = (const uint32_t *)(top - STACK_PROBE);
    while ((uintptr_t)word < top && *word == EKD_STACK_PAINT) {
        ++word;
    }
    return (uint32_t)(top - (uintptr_t)word);
}

#define SCRATCH_POISON 0xA5

static int scratch_touched(const uint8_t *scratch, uint32_t bytes)
{
    uint32_t i;
    for (i = 0; i < bytes; ++i) {
        if (scratch[i] != SCRATCH_POISON) {
            return 1;
        }
    }
    return 0;
}
"""

# BoardCase.scratch for ekd_conv2d_direct_s8: "full" the harness's whole scratch (the
# other kernels always get it), "none" ctx {NULL, 0}, "exact" the bytes
# ekd_conv2d_direct_s8_scratch_size returns on the board, "short" one byte less.
BOARD_SCRATCH_MODES = ("full", "none", "exact", "short")
HARNESS_SCRATCH = 8192  # bytes, at least; more where a case's block needs it
DSP_BOARDS = {"mps2-an386", "mps2-an500", "mps3-an547"}  # EKD_HAVE_DSP builds


@dataclasses.dataclass(frozen=True)
class BoardCase:
    case: FastCase
    add_params: AddParams | None = None
    residual: np.ndarray | None = None
    alias: bool = False  # the output is the residual's buffer
    kernel: str = DIRECT_KERNEL  # or ekd_conv2d_winograd_s8 / ekd_conv2d_im2col_s8 (bench)
    print_output: bool = True
    scratch: str = "full"  # BOARD_SCRATCH_MODES (the direct kernel's)
    # In place: one buffer (the harness's `out`), the output at its byte 0, the input
    # copied `lead` bytes on before the call (the planner's placement, inplace.py).
    lead: int | None = None
    # False: run_board_cases checks status and scratch but leaves the output to the
    # caller (a case placed closer than its lead, which may or may not break).
    checked: bool = True

    @property
    def expected(self) -> np.ndarray:
        if self.add_params is None:
            return self.case.expected
        return expected_with_residual(self.case, self.add_params, self.residual)


def block_bytes(case: FastCase) -> int:
    """ekd_conv2d_direct_s8_scratch_size on a DSP build as the code generator plans it
    (the board tests compare it with what the kernel reports)."""
    return direct_block_bytes(int(np.prod(case.w.shape[1:])))


def with_scratch(cases: list[BoardCase], modes=("none", "exact")) -> list[BoardCase]:
    """Each case once per scratch mode (sharing its arrays in the firmware)."""
    return [dataclasses.replace(bc, scratch=m) for bc in cases for m in modes]


def _c_array(ctype: str, name: str, values: np.ndarray, const: bool = True) -> str:
    numbers = [str(int(v)) if int(v) != -(1 << 31) else "(-2147483647 - 1)"
               for v in np.asarray(values).reshape(-1)]
    body = ",\n    ".join(", ".join(numbers[i:i + 24]) for i in range(0, len(numbers), 24))
    qualifier = "static const" if const else "static"
    return (f"{qualifier} {ctype} {name}[{max(len(numbers), 1)}] "
            f"__attribute__((aligned(16))) = {{\n    {body or '0'}\n}};\n")


def render_board_cases(cases: list[BoardCase]) -> str:
    """The firmware's C text: each case's constants and one call, output in `out`. Every
    kernel whose case has a residual gets it as its last argument (the direct kernel
    always takes one, NULL without)."""
    from edgekd.codegen.optimized import winograd_filter

    parts = [BOARD_PRELUDE]
    calls = []
    out_bytes = max(max(int(np.prod(bc.case.out_shape)),
                        0 if bc.lead is None else bc.lead + bc.case.x.size) for bc in cases)
    scratch_bytes = max([HARNESS_SCRATCH] + [block_bytes(bc.case) for bc in cases
                                             if bc.kernel == DIRECT_KERNEL])
    arrays: dict[tuple[int, str], int] = {}  # (id of the layer, kernel) -> its arrays' index
    residuals: dict[int, int] = {}  # id of a residual array -> its index
    for i, bc in enumerate(cases):
        case, p = bc.case, bc.case.params
        assert bc.scratch in BOARD_SCRATCH_MODES, bc.scratch
        key = (id(case), "winograd" if "winograd" in bc.kernel else bc.kernel)
        if key not in arrays:
            arrays[key] = a = i
            filt = winograd_filter(case.w) if "winograd" in bc.kernel else case.c_filter
            ftype = "int16_t" if filt.dtype == np.int16 else "int8_t"
            parts += [_c_array("int8_t", f"x{a}", case.x), _c_array(ftype, f"w{a}", filt),
                      _c_array("int32_t", f"b{a}", case.c_bias),
                      _c_array("int32_t", f"m{a}", p.multiplier),
                      _c_array("int32_t", f"s{a}", p.shift)]
            if bc.kernel == DIRECT_KERNEL:
                parts.append(_c_array("int32_t", f"t{a}", tap_sums(case.w)))
        a = arrays[key]
        assert bc.lead is None or (bc.lead >= 0 and not bc.alias), "in place: residual separate"
        source_x = f"x{a}" if bc.lead is None else f"out + {bc.lead}"
        fields = ", ".join(str(int(getattr(p, f))) for f in (
            "input_offset", "output_offset", "stride_h", "stride_w", "dilation_h",
            "dilation_w", "pad_h", "pad_w", "depth_multiplier", "activation_min",
            "activation_max"))
        dims = [", ".join(map(str, s)) for s in (case.x.shape, case.w.shape, case.out_shape)]
        size = int(np.prod(case.out_shape))
        lines = [f"    {{ /* case {i} */",
                 f"        static const ekd_conv_params params = {{ {fields} }};",
                 f"        static const ekd_per_channel_quant quant = {{ m{a}, s{a} }};",
                 f"        static const ekd_dims in_dims = {{ {dims[0]} }};",
                 f"        static const ekd_dims w_dims = {{ {dims[1]} }};",
                 f"        static const ekd_dims out_dims = {{ {dims[2]} }};",
                 "        const ekd_residual *residual = NULL;",
                 "        ekd_context ctx = full;",
                 "        int32_t need = 0;",
                 "        uint32_t tick0, tick1, stack;",
                 "        int status, touched = 0;"]
        if bc.add_params is not None:
            r = residuals.setdefault(id(bc.residual), i)
            if r == i:
                parts.append(_c_array("int8_t", f"r{r}", bc.residual))
            add_fields = ", ".join(str(int(v)) for v in dataclasses.astuple(bc.add_params))
            source = "out" if bc.alias else f"r{r}"
            lines += [f"        static const ekd_add_params add = {{ {add_fields} }};",
                      "        ekd_residual res;",
                      "        res.params = &add;",
                      f"        res.input = {source};",
                      "        residual = &res;"]
            if bc.alias:
                lines.append(f"        memcpy(out, r{r}, {size});")
        if bc.lead is not None:
            # The bytes below the input and past it as a stale arena would hold them.
            lines += ["        memset(out, 0x5A, sizeof out);",
                      f"        memcpy(out + {bc.lead}, x{a}, {case.x.size});"]
        if bc.kernel == DIRECT_KERNEL:
            lines.append("        need = ekd_conv2d_direct_s8_scratch_size(&in_dims, &w_dims, "
                         "&out_dims);")
            if bc.scratch != "full":
                size_c = {"none": "0", "exact": "need", "short": "need > 0 ? need - 1 : 0"}
                lines += ["        memset(scratch, SCRATCH_POISON, sizeof scratch);",
                          f"        ctx.size = {size_c[bc.scratch]};"]
                if bc.scratch == "none":
                    lines.append("        ctx.buf = NULL;")
            call = (f"ekd_conv2d_direct_s8(&ctx, &params, &quant, &in_dims, {source_x}, "
                    f"&w_dims, (const int8_t *)w{a}, b{a}, t{a}, &out_dims, out, residual)")
        else:
            tail = ", residual" if bc.add_params is not None else ""
            call = (f"{bc.kernel}(&ctx, &params, &quant, &in_dims, {source_x}, &w_dims, "
                    f"(const int8_t *)w{a}, b{a}, &out_dims, out{tail})")
        lines += ["        stack_paint(top);",
                  "        tick0 = ekd_counter_read();",
                  f"        status = {call};",
                  "        tick1 = ekd_counter_read();",
                  "        stack = stack_depth(top);"]
        if bc.kernel == DIRECT_KERNEL and bc.scratch != "full":
            lines.append("        touched = scratch_touched((const uint8_t *)scratch, "
                         "sizeof scratch);")
        lines += [f"        report({i}u, status, out, {size if bc.print_output else 0}u, "
                  "tick1 - tick0, stack, need, touched);",
                  "    }"]
        calls.append("\n".join(lines))
    parts.append(f"static int8_t out[{out_bytes}] __attribute__((aligned(16)));\n"
                 f"static uint32_t scratch[{-(-scratch_bytes // 4)}];\n")
    parts.append("int main(void)\n{\n"
                 "    const ekd_context full = { scratch, (int32_t)sizeof scratch };\n"
                 "    volatile uint32_t mark = 0;\n"
                 "    const uintptr_t top = (uintptr_t)&mark;\n"
                 "    ekd_counter_start();\n" + "\n".join(calls) +
                 '\n    (void)mark;\n    ekd_print("ekd:end\\n");\n'
                 "    return EKD_EXIT_PASS;\n}\n")
    return "".join(parts)


def check_scratch_record(board_name: str, bc: BoardCase, record: dict, where: str):
    """The direct kernel's scratch contract on the board: the size it asks for (8 bytes
    per window value where the DSP block path exists, else 0), no scratch written with
    none or one byte too few, and (DSP) the block path taken with exactly enough, unless
    the tensor has fewer than four pixels (no block)."""
    need, touched = int(record["need"]), int(record["touched"])
    assert need == (block_bytes(bc.case) if board_name in DSP_BOARDS else 0), where
    if bc.scratch in ("none", "short"):
        assert touched == 0, f"{where}: scratch written with {bc.scratch}"
    elif bc.scratch == "exact":
        pixels = int(np.prod(bc.case.out_shape[:3]))
        assert touched == (need > 0 and pixels >= 4), f"{where}: block path not as expected"


def run_board_cases(board_name: str, cases: list[BoardCase], workdir) -> list[dict]:
    """Build and run the firmware; returns the case records (index, status, ticks, stack,
    need, touched, output) after checking every printed output against the reference and
    the direct kernel's scratch contract."""
    from edgekd.verify.boards import load_board
    from edgekd.verify.cffi_build import RUNTIME_INCLUDE, runtime_sources
    from edgekd.verify.firmware import build_firmware
    from edgekd.verify.qemu import run_firmware

    board = load_board(board_name)
    if board.missing_tools():
        pytest.skip(f"{board_name}: {', '.join(board.missing_tools())} not installed")
    source = workdir / "direct_cases.c"
    source.write_text(render_board_cases(cases))
    firmware = build_firmware(board, [source], [RUNTIME_INCLUDE], workdir,
                              library_sources=runtime_sources(),
                              library_include_dirs=[RUNTIME_INCLUDE], what="direct cases",
                              progress=None)
    run = run_firmware(firmware, timeout_s=120, what="direct cases", progress=None)
    (workdir / "console.txt").write_text(run.console)
    records = run.records("case")
    assert len(records) == len(cases) and run.records("end"), \
        f"{len(records)} of {len(cases)} cases reported; console in {workdir}/console.txt"
    for record, bc in zip(records, cases):
        case = bc.case
        where = (f"{board_name} case {record['index']} ({bc.kernel}, x {case.x.shape}, "
                 f"w {case.w.shape}, out {case.out_shape}, residual "
                 f"{'aliased' if bc.alias else bc.add_params is not None}, "
                 f"scratch {bc.scratch}"
                 f"{'' if bc.lead is None else f', in place at lead {bc.lead}'})")
        assert record["status"] == "0", where
        if bc.print_output and bc.checked:
            got = np.frombuffer(bytes.fromhex(record["output"]), dtype=np.int8)
            expected = bc.expected.reshape(-1)
            mismatch = np.flatnonzero(got != expected)
            assert mismatch.size == 0, f"{where}: {mismatch.size} bytes differ, first at " \
                                       f"{mismatch[0]}"
        if bc.kernel == DIRECT_KERNEL:
            check_scratch_record(board_name, bc, record, where)
    return records


BOARDS = ["mps2-an386", "mps2-an500", "mps2-an385", "rv32"]
# The kernel's stack on the M4 (measured: its frame and its callees', the call's
# arguments): 672 to 792 bytes today (most with a residual and no scratch: the pass's
# 64-byte chunk array and the ADD's frame), spilled locals of the register-heavy pass and
# block path; no buffer the size of a window (the block lives in the caller's scratch). A
# guard against regressions (it was 1088 while the block path called the tail's passes
# from its own frame).
DIRECT_STACK_LIMIT = 896


@pytest.mark.slow
@pytest.mark.parametrize("board_name", BOARDS)
def test_direct_bit_exact_on_board(board_name, tmp_path):
    """Random layers (hypothesis' generator, seeded per board so a failure reproduces; one
    case per example, with the variety asserted), with and without residual (separate and
    aliased), and three small ResNet-like layers; each with no scratch and with exactly
    what the kernel asks for, some with one byte less."""
    from hypothesis import HealthCheck, Phase, seed, settings

    drawn: list[BoardCase] = []

    # One case per example: drawn inside a single example, hypothesis may hand back its
    # simplest case (1x1x1, no residual) every time.
    @seed(BOARDS.index(board_name))
    @settings(max_examples=24, deadline=None, phases=[Phase.generate], database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=direct_cases(max_groups=4), data=st.data())
    def draw(case, data):
        p = data.draw(residual_add_params(case.params.output_offset))
        if p is None or data.draw(st.integers(0, 2)) == 0:
            drawn.append(BoardCase(case))
        else:
            drawn.append(BoardCase(case, p, data.draw(int8_arrays(case.out_shape)),
                                   alias=data.draw(st.booleans())))

    draw()
    fused = [bc for bc in drawn if bc.add_params is not None]
    assert len(drawn) == 24
    assert len({(bc.case.x.shape, bc.case.w.shape) for bc in drawn}) >= 12, \
        "too few distinct random shapes"
    assert len(fused) >= 6 and 1 <= sum(bc.alias for bc in fused) < len(fused), \
        "too few random residual cases, aliased and separate"
    assert sum(int(np.prod(bc.case.out_shape[:3])) >= 4 for bc in drawn) >= 12, \
        "too few random layers with a block of four pixels"
    cases = list(drawn)
    for i, shape in enumerate([(16, 16, (8, 8), 1), (16, 32, (9, 9), 2),
                               (32, 8, (4, 6), 1)]):
        case = resnet_case(shape, seed=20 + i)
        p, residual = resnet_add(case, seed=i)
        cases += [BoardCase(case), BoardCase(case, p, residual, alias=bool(i % 2))]
    cases = with_scratch(cases) + with_scratch(cases[::4], ("short",))
    run_board_cases(board_name, cases, tmp_path)


@pytest.mark.slow
def test_direct_stack_on_board(tmp_path):
    """The kernel's stack on the M4 (measured by the harness: its frames and its callees',
    plain, with the residual, with and without scratch) stays within DIRECT_STACK_LIMIT:
    the residual's chunk array and a few registers' worth, no block."""
    cases = []
    for i, shape in enumerate([(16, 16, (8, 8), 1), (32, 32, (6, 6), 1), (16, 32, (9, 9), 2)]):
        case = resnet_case(shape, seed=30 + i)
        p, residual = resnet_add(case, seed=i)
        cases += [BoardCase(case), BoardCase(case, p, residual, alias=True)]
    records = run_board_cases("mps2-an386", with_scratch(cases), tmp_path)
    assert max(int(r["stack"]) for r in records) <= DIRECT_STACK_LIMIT


# -- the Arm DSP block path ------------------------------------------------------------
# On DSP cores given scratch (ekd_conv2d_direct_s8_scratch_size bytes, any window
# length), a layer goes through blocks of four output pixels unpacked into the scratch,
# the padding's taps holding the zero point, the last 1-3 pixels of the tensor through
# the scratch-free path; without scratch (or one byte short) the scratch-free path takes
# all of it: pixels in pairs where they share their window's clipping (interior, left
# and right border columns of the top, middle and bottom rows), single pixels otherwise.
# Either way a residual ADD runs in its own loop over chunks of DIRECT_ADD_CHUNK
# channels, specialized where input 1 (the convolution) has the larger scale (multiplier
# 2^30, shift 0), input 2 rounds, the left shift is 20, the output right shift is <= 22
# and activation_max is 127. These cases reach each of those branches, each with no
# scratch, exactly enough and one byte less; the portable builds (host, M3, RV32)
# compute the same cases by their own path, so they run everywhere.

OLD_BLOCK_DEPTH = 144  # the block's limit while it lived on the stack
DIRECT_ADD_CHUNK = 32  # EKD_DIRECT_ADD_CHUNK


def block_case(in_c: int, out_c: int, size: tuple[int, int], kernel: tuple[int, int],
               stride: tuple[int, int], padding: str, seed: int, batches: int = 1,
               activation: tuple[int, int] | None = None) -> FastCase:
    """A layer of the given geometry with random data, per-channel requantization and
    (unless given) a ReLU-like clamp on every third seed."""
    from edgekd.reference.params import ConvParams
    from edgekd.reference.requantize import quantize_multiplier
    from edgekd.shapes import conv_output_size, same_padding

    rng = np.random.default_rng(seed)
    out_hw, pads = [], []
    for extent, k, s in zip(size, kernel, stride):
        o = conv_output_size(extent, k, s, 1, padding)
        out_hw.append(o)
        pads.append(same_padding(extent, k, s, 1, o) if padding == "SAME" else 0)
    pairs = [quantize_multiplier(float(r)) for r in rng.uniform(1e-4, 0.01, out_c)]
    output_offset = int(rng.integers(-128, 128))
    lo, hi = activation if activation is not None else (
        (output_offset, 127) if seed % 3 == 0 else (-128, 127))
    p = ConvParams(input_offset=int(rng.integers(-127, 129)), output_offset=output_offset,
                   stride_h=stride[0], stride_w=stride[1], dilation_h=1, dilation_w=1,
                   pad_h=pads[0], pad_w=pads[1], depth_multiplier=1, activation_min=lo,
                   activation_max=hi, multiplier=np.array([m for m, _ in pairs], np.int32),
                   shift=np.array([s for _, s in pairs], np.int32))
    x = rng.integers(-128, 128, size=(batches, *size, in_c), dtype=np.int8)
    w = rng.integers(-127, 128, size=(out_c, *kernel, in_c), dtype=np.int8)
    bias = rng.integers(-(1 << 16), 1 << 16, size=out_c).astype(np.int32)
    return FastCase(DIRECT_KERNEL, p, x, w, bias, (batches, *out_hw, out_c))


def add_is_half(p: AddParams) -> bool:
    """The C's ekd_direct_add_half_valid: the residual ADD's specialized loop."""
    return (p.input1_multiplier == 1 << 30 and p.input1_shift == 0 and p.left_shift == 20
            and p.input2_shift <= -1 and -p.output_shift <= 22 and p.activation_max == 127)


# (name, in_c, out_c, size, kernel, stride, padding, batches): every border of a 3x3 SAME
# window (rows, columns, corners) at strides 1 and 2, asymmetric SAME padding, 5x5 and 1xN
# kernels, VALID, 1x1 at stride 2 (ResNet-8's shortcuts), pixel counts that leave 1, 2, 3
# and 0 pixels after the last block (blocks spanning rows and images), out_c not a
# multiple of 4 and above one ADD chunk, windows past the old stack block's 144 values
# (now the block path too, given the scratch), a 5x5 stride-2 window clipped two columns
# deep, and a one-pixel-wide image (every window clipped on both sides).
BLOCK_SHAPES = [
    ("3x3-s1-resnet", 16, 16, (8, 8), (3, 3), (1, 1), "SAME", 1),
    ("3x3-s1-tail1", 8, 6, (3, 3), (3, 3), (1, 1), "SAME", 1),
    ("3x3-s1-tail2", 4, 5, (2, 3), (3, 3), (1, 1), "SAME", 2),
    ("3x3-s1-tail3", 12, 7, (5, 3), (3, 3), (1, 1), "SAME", 1),
    ("3x3-s2-even", 16, 32, (8, 8), (3, 3), (2, 2), "SAME", 1),
    ("3x3-s2-odd", 8, 9, (7, 9), (3, 3), (2, 2), "SAME", 2),
    ("4x4-asymmetric", 4, 8, (7, 6), (4, 4), (1, 1), "SAME", 1),
    ("5x5-wide", 4, 3, (6, 7), (5, 5), (1, 1), "SAME", 1),
    ("1x5-strip", 8, 4, (1, 9), (1, 5), (1, 2), "SAME", 1),
    ("3x1-valid", 12, 8, (6, 5), (3, 1), (1, 1), "VALID", 1),
    ("3x3-valid-s3", 8, 12, (10, 8), (3, 3), (3, 3), "VALID", 1),
    ("1x1-s2-shortcut", 16, 32, (16, 16), (1, 1), (2, 2), "VALID", 1),
    ("1x1-s2-chunks", 32, 70, (8, 7), (1, 1), (2, 2), "VALID", 1),
    ("1x1-deep", 144, 9, (3, 5), (1, 1), (1, 1), "VALID", 1),
    ("3x3-40-channels", 16, 40, (5, 6), (3, 3), (1, 1), "SAME", 1),
    ("3x3-depth-180", 20, 6, (5, 6), (3, 3), (1, 1), "SAME", 1),
    ("3x3-depth-576", 64, 10, (4, 5), (3, 3), (1, 1), "SAME", 1),
    ("5x5-s2-odd-width", 8, 5, (9, 11), (5, 5), (2, 2), "SAME", 1),
    ("3x3-1-wide", 8, 6, (5, 1), (3, 3), (1, 1), "SAME", 1),
]

# (conv, residual, output) scales and ADD activation: input 1 the larger scale (the
# specialized loop, with and without ReLU), input 2 the larger, equal scales (input 2
# does not round), an output right shift past 22, and RELU6 (activation_max below 127).
BLOCK_ADDS = [
    ((0.05, 0.04, 0.07), "RELU"),
    ((0.05, 0.02, 0.03), "NONE"),
    ((0.03, 0.05, 0.07), "RELU"),
    ((0.05, 0.05, 0.07), "NONE"),
    ((0.001, 0.0008, 1.0), "NONE"),
    ((0.05, 0.04, 0.02), "RELU6"),
]


def block_shape_cases(i: int) -> list[BoardCase]:
    """BLOCK_SHAPES[i] plain and with two of BLOCK_ADDS (one over its own residual)."""
    name, in_c, out_c, size, kernel, stride, padding, batches = BLOCK_SHAPES[i]
    case = block_case(in_c, out_c, size, kernel, stride, padding, seed=100 + i,
                      batches=batches)
    cases = [BoardCase(case)]
    rng = np.random.default_rng(200 + i)
    for j in (i % len(BLOCK_ADDS), (i + 3) % len(BLOCK_ADDS)):
        scales, activation = BLOCK_ADDS[j]
        p = direct_add_params(case.params.output_offset, scales,
                              int(rng.integers(-128, 128)), int(rng.integers(-128, 128)),
                              activation)
        assert p is not None
        residual = rng.integers(-128, 128, size=case.out_shape, dtype=np.int8)
        cases.append(BoardCase(case, p, residual, alias=bool(j % 2)))
    return cases


def block_board_cases() -> list[BoardCase]:
    cases = [bc for i in range(len(BLOCK_SHAPES)) for bc in block_shape_cases(i)]
    # A narrow clamp on a block-path layer (the clamp rather than SSAT).
    cases.append(BoardCase(block_case(16, 16, (6, 6), (3, 3), (1, 1), "SAME", seed=1,
                                      activation=(-20, 35))))
    return cases


def test_block_cases_cover_every_branch():
    """The cases above reach each branch of the DSP block path they are meant for (checked
    in Python from the same conditions, so a change of the cases cannot silently drop one)."""
    cases = block_board_cases()
    depths = {int(np.prod(bc.case.w.shape[1:])) for bc in cases}
    assert OLD_BLOCK_DEPTH in depths and max(depths) >= 4 * OLD_BLOCK_DEPTH
    pixels = {int(np.prod(bc.case.out_shape[:3])) % 4 for bc in cases}
    assert pixels == {0, 1, 2, 3}
    adds = [bc for bc in cases if bc.add_params is not None]
    assert {add_is_half(bc.add_params) for bc in adds} == {True, False}
    assert {bc.alias for bc in adds if add_is_half(bc.add_params)} == {True, False}
    assert any(bc.case.out_shape[-1] > DIRECT_ADD_CHUNK for bc in adds)
    assert any(bc.add_params.activation_min > -128 for bc in adds if add_is_half(bc.add_params))
    assert any(bc.case.params.activation_max < 127 for bc in cases)


@pytest.mark.parametrize("index", range(len(BLOCK_SHAPES)),
                         ids=[s[0] for s in BLOCK_SHAPES])
def test_block_shapes_on_host(runtime, index):
    """The same cases through the portable path on the host."""
    for bc in block_shape_cases(index):
        check_scratch_modes(runtime, bc.case, bc.expected, add_params=bc.add_params,
                            residual=bc.residual, alias_residual=bc.alias)


@pytest.mark.slow
@pytest.mark.parametrize("board_name", BOARDS)
def test_direct_block_paths_on_board(board_name, tmp_path):
    """Every border, tail and residual branch of the DSP block path and of the scratch-free
    path, byte for byte against the reference (on the M3 and RV32, the portable path on
    the same cases), each case with no scratch, exactly enough, and one byte less."""
    cases = with_scratch(block_board_cases(), ("none", "exact", "short"))
    run_board_cases(board_name, cases, tmp_path)


# -- in place on the boards ------------------------------------------------------------
# The host runs the portable C in place (above); the DSP build writes inside the same
# DIRECT_ORDER by other paths: its scratch-free passes (two pixels per pass, a channel's
# value for the second pixel stored before the first's) and, given the scratch, its
# block path (four windows read whole, then written; the last 1-3 pixels one at a time).
# These cases run every build's paths in place as the planner places them: random
# layers (strides 1-2, kernels 1..5 per axis, SAME/VALID, a residual in a separate buffer
# on every other one), each with no scratch and with exactly what the kernel asks for,
# the output align16(raster_lead) bytes below the input in one buffer. The same layers
# 16 bytes closer, where the exact lead is a multiple of 16 (no slack from the alignment)
# and that is still >= 0, show the comparison can fail: some of them must break.

# Layers whose exact lead has slack below its alignment, and tight ones (drawn until there
# are this many of each).
IN_PLACE_LOOSE, IN_PLACE_TIGHT = 24, 12

# Tight layers where the block path breaks 16 bytes closer too. Random tight layers
# rarely do: a block reads its four windows whole before it writes, so its writes need
# some 4 * out_c bytes less than DIRECT_ORDER's lead, and only outputs of 1 to 3 channels
# come within 16 bytes of it; even then the overwritten input byte must change an output
# (these seeds' data does, at a pixel of a block, not of the tail).
# (in_c, out_c, (h, w), kernel, stride, padding, batches, seed).
IN_PLACE_BLOCK_TIGHT = [
    (4, 1, (11, 11), (5, 4), (2, 1), "SAME", 1, 416),
    (4, 2, (6, 4), (5, 3), (1, 2), "SAME", 1, 751),
    (4, 2, (4, 8), (3, 2), (1, 2), "SAME", 2, 815),
    (12, 3, (5, 10), (3, 5), (1, 1), "SAME", 1, 849),
]


def block_pixels(case: FastCase) -> int:
    """The pixels the DSP block path writes given the scratch (the rest: the tail)."""
    pixels = int(np.prod(case.out_shape[:3]))
    return pixels - pixels % 4


def tight_lead(case: FastCase) -> bool:
    """The exact lead is a multiple of 16 and at least 16: 16 bytes closer is below it."""
    exact = in_place_lead(case)
    return exact == aligned(exact) and exact >= ALIGN


def in_place_board_layers(seed: int = 0) -> list[BoardCase]:
    """The in-place board cases' layers: random ones (numpy's generator, fixed seed: a
    failure reproduces), IN_PLACE_LOOSE with slack and IN_PLACE_TIGHT tight in the order
    drawn, half of them 1 to 4 output channels (where the write order's group, not a
    pass's two pixels or a block's four, sets what the kernel needs), a residual ADD
    (BLOCK_ADDS' scales in turn) on every other one of each kind; then
    IN_PLACE_BLOCK_TIGHT's."""
    rng = np.random.default_rng(seed)
    layers: list[BoardCase] = []
    kept = {False: 0, True: 0}  # by tight_lead
    want = {False: IN_PLACE_LOOSE, True: IN_PLACE_TIGHT}
    for i in range(1000):
        kernel = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = ("SAME", "VALID")[int(rng.integers(0, 2))]
        size = tuple(int(rng.integers(k if padding == "VALID" else 1, k + 8)) for k in kernel)
        out_c = int(rng.integers(1, 5 if rng.integers(0, 2) else 25))
        case = block_case(4 * int(rng.integers(1, 5)), out_c, size, kernel, stride, padding,
                          seed=300 + i, batches=int(rng.integers(1, 3)))
        tight = tight_lead(case)
        if kept[tight] == want[tight]:
            if kept == want:
                break
            continue
        kept[tight] += 1
        if kept[tight] % 2:
            layers.append(BoardCase(case))
            continue
        scales, activation = BLOCK_ADDS[i % len(BLOCK_ADDS)]
        p = direct_add_params(case.params.output_offset, scales, int(rng.integers(-128, 128)),
                              int(rng.integers(-128, 128)), activation)
        assert p is not None
        residual = rng.integers(-128, 128, size=case.out_shape, dtype=np.int8)
        layers.append(BoardCase(case, p, residual))
    assert kept == want
    for in_c, out_c, size, kernel, stride, padding, batches, seed in IN_PLACE_BLOCK_TIGHT:
        layers.append(BoardCase(block_case(in_c, out_c, size, kernel, stride, padding, seed,
                                           batches)))
    return layers


def in_place_board_cases() -> tuple[list[BoardCase], list[BoardCase]]:
    """(at the lead, closer): every layer at align16 of its lead, with no scratch and with
    exactly enough; the tight ones 16 bytes closer too, unchecked."""
    at_lead, closer = [], []
    for bc in in_place_board_layers():
        lead = aligned(in_place_lead(bc.case))
        at_lead += with_scratch([dataclasses.replace(bc, lead=lead)])
        if tight_lead(bc.case):
            closer += with_scratch([dataclasses.replace(bc, lead=lead - ALIGN, checked=False)])
    return at_lead, closer


def test_in_place_board_cases_vary():
    """The random layers cover what they are meant to (checked in Python, so a change of
    seed or generator cannot silently narrow them)."""
    layers = in_place_board_layers()
    kernels = {k for bc in layers for k in bc.case.w.shape[1:3]}
    strides = {(bc.case.params.stride_h, bc.case.params.stride_w) for bc in layers}
    assert kernels == {1, 2, 3, 4, 5} and {s for pair in strides for s in pair} == {1, 2}
    assert any(bc.case.params.pad_h or bc.case.params.pad_w for bc in layers)  # SAME
    assert any(not (bc.case.params.pad_h or bc.case.params.pad_w) for bc in layers)
    assert sum(bc.add_params is not None for bc in layers) == \
        (IN_PLACE_LOOSE + IN_PLACE_TIGHT) // 2
    assert sum(block_pixels(bc.case) > 0 for bc in layers) >= 30  # the block path runs
    assert sum(int(np.prod(bc.case.out_shape[:3])) % 4 != 0 for bc in layers) >= 4  # tails
    assert sum(tight_lead(bc.case) for bc in layers) == \
        IN_PLACE_TIGHT + len(IN_PLACE_BLOCK_TIGHT)
    assert any(bc.add_params is not None and tight_lead(bc.case) for bc in layers)


@pytest.mark.parametrize("with_residual", [False, True], ids=["plain", "residual"])
def test_in_place_board_cases_on_host(runtime, with_residual):
    """The same layers through the portable C on the host, at the lead."""
    for bc in in_place_board_layers():
        if (bc.add_params is not None) == with_residual:
            status, out = run_direct(runtime, bc.case, bc.add_params, bc.residual,
                                     lead=aligned(in_place_lead(bc.case)))
            assert status == 0 and np.array_equal(out, bc.expected)


@pytest.mark.slow
@pytest.mark.parametrize("board_name", BOARDS)
def test_direct_in_place_on_board(board_name, tmp_path):
    """Each layer in place at its aligned lead gives the reference's bytes on every board
    (on the DSP boards through the scratch-free passes and, given the scratch, the block
    path); some of the tight layers placed 16 bytes closer break on every board, and on
    the DSP boards both with no scratch and with it at a pixel of a block (the comparison
    can fail on each path)."""
    at_lead, closer = in_place_board_cases()
    records = run_board_cases(board_name, at_lead + closer, tmp_path)
    broken = {"none": [], "exact": []}  # (case, first differing output byte)
    for bc, record in zip(closer, records[len(at_lead):]):
        got = np.frombuffer(bytes.fromhex(record["output"]), dtype=np.int8)
        differ = np.flatnonzero(got != bc.expected.reshape(-1))
        if differ.size:
            broken[bc.scratch].append((bc, int(differ[0])))
    summary = {mode: [(bc.case.x.shape, bc.case.out_shape, bc.lead, first)
                      for bc, first in cases] for mode, cases in broken.items()}
    print(f"{board_name}: of {len(closer)} cases 16 bytes closer, broken (x, out, lead, "
          f"first differing byte): {summary}")
    assert broken["none"] or broken["exact"], \
        f"{board_name}: no layer broke 16 bytes closer than its lead"
    if board_name in DSP_BOARDS:
        assert broken["none"], f"{board_name}: the scratch-free path never broke closer"
        assert any(first < block_pixels(bc.case) * bc.case.out_shape[-1]
                   for bc, first in broken["exact"]), \
            f"{board_name}: the block path never broke closer"


# -- code size ---------------------------------------------------------------------------
# A model's code (runtime and generated code, weights excluded) must fit 16 KB on the M4;
# this kernel's share is 6,000 bytes of text and read-only data (the flags firmware builds
# use at -O2: one function per section, so the linker keeps what a model calls).

DIRECT_CODE_LIMIT = 6000
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2",
            "-ffunction-sections"]


def test_direct_code_size_on_m4(tmp_path):
    """The kernel's object for the Cortex-M4 (the DSP build: the block path and the
    scratch-free path) stays within DIRECT_CODE_LIMIT bytes."""
    import shutil
    import subprocess

    from edgekd.verify.cffi_build import RUNTIME_INCLUDE, RUNTIME_SRC

    gcc, size = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-size")
    if gcc is None or size is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    obj = tmp_path / "direct.o"
    subprocess.run([gcc, *M4_FLAGS, "-I", str(RUNTIME_INCLUDE), "-I", str(RUNTIME_SRC), "-c",
                    str(RUNTIME_SRC / "ekd_conv2d_direct_s8.c"), "-o", str(obj)], check=True)
    dsp = subprocess.run([gcc, *M4_FLAGS, "-dM", "-E", "-x", "c", "-"], input="",
                         capture_output=True, text=True, check=True).stdout
    assert "__ARM_FEATURE_DSP 1" in dsp  # the build measured is the DSP one
    # Berkeley format: text (code and read-only data), data, bss, ...
    fields = subprocess.run([size, str(obj)], capture_output=True, text=True,
                            check=True).stdout.splitlines()[1].split()
    text, data = int(fields[0]), int(fields[1])
    assert text + data <= DIRECT_CODE_LIMIT, f"{text} + {data} bytes"
