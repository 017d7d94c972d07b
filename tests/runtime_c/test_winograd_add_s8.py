"""ekd_conv2d_winograd_add_s8 (runtime_c/src/ekd_conv2d_winograd_s8.c): Winograd F(2x2, 3x3)
with the residual ADD that follows it fused into its output, portable C path on the host,
against the numpy reference byte for byte: edgekd.reference.conv.conv2d, then
edgekd.reference.add.add with the convolution as input 1. Random layers (fast_cases'
Winograd draws: SAME/VALID, 1xN strips, any channel counts, zero points, clamps, biases
up to the accumulator limit) with random valid fast-ADD parameters, the residual into a
separate output and into its own buffer (output == residual), widths whose last pass
holds one tile (the kernel repeats it and must not add the residual twice), the layer in
place over its input at Winograd's lead, and the arguments it refuses. The Arm DSP path
(Cortex-M4) and the portable one on a Cortex-M3 and RV32 run batches of random cases on
emulated boards (slow tests at the end)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from edgekd.codegen.inplace import Window, raster_lead
from edgekd.codegen.kernel_table import row
from edgekd.reference.add import add
from edgekd.reference.params import AddParams

from . import test_conv_direct_s8 as direct
from .ekd_runtime import EKD_ERROR_ARGUMENT
from .ekd_strategies import int8_arrays, kernel_settings
from .fast_cases import (
    LAYER_SHAPES, RESNET8_DIRECT_SHAPES, FastCase, fast_cases, layer_case,
    residual_add_params,
)
from .test_conv_direct_s8 import BoardCase, HostIO, expected_with_residual, resnet_add

WINO = "ekd_conv2d_winograd_s8"
WINO_ADD = "ekd_conv2d_winograd_add_s8"
EKD_ERROR_SCRATCH = -2

# Stride-1 layers: fast_cases' layer shapes and ResNet-8's, and widths that leave a
# single tile in a row's last pass (out_w % 4 in (1, 2)) as well as two.
SHAPES = [s for s in LAYER_SHAPES + RESNET8_DIRECT_SHAPES if s[3] == 1] + [
    (8, 8, (6, 6), 1), (4, 12, (5, 9), 1), (12, 5, (3, 10), 1), (3, 6, (7, 1), 1)]


def run_wino(runtime, case: FastCase, add_params: AddParams | None = None,
             residual: np.ndarray | None = None, alias_residual: bool = False,
             lead: int | None = None, raw_residual: object = None,
             kernel: str = WINO_ADD, scratch_bytes: int | None = None
             ) -> tuple[int, np.ndarray]:
    """(status, output) of ``kernel`` (the fused one by default; with ``add_params`` its
    residual, ``residual`` the ADD's second input, ``alias_residual``: the output is the
    residual's own buffer; ``raw_residual``: the ekd_residual pointer as given, e.g.
    NULL). With ``lead``, in place over its input: the output at byte 0 of one buffer, the
    input ``lead`` bytes on. The scratch is what the scratch-size function asks for unless
    ``scratch_bytes``. Untouched output bytes read 0x5A."""
    ffi, lib = runtime.ffi, runtime.lib
    p = case.params
    w = np.ascontiguousarray(case.c_filter).view(np.int8)  # int16 Winograd weights
    b = np.ascontiguousarray(case.c_bias, dtype=np.int32)
    io = HostIO(runtime, case, add_params, residual, alias_residual, lead, raw_residual)
    dims = [runtime.dims(*case.x.shape), runtime.dims(*case.w.shape),
            runtime.dims(*case.out_shape)]
    need = lib.ekd_conv2d_winograd_s8_scratch_size(*dims)
    size = need if scratch_bytes is None else scratch_bytes
    scratch = np.zeros(size // 4 + 1, dtype=np.uint32)  # 4-byte aligned
    ctx = ffi.new("ekd_context *")
    ctx.buf = ffi.cast("void *", ffi.from_buffer(scratch))
    ctx.size = size
    quant, keep_q = runtime.quant(p.multiplier, p.shift)
    args = (ctx, runtime.conv_params(p), quant, dims[0], io.x_ptr, dims[1],
            runtime.ptr("int8_t", w), runtime.ptr("int32_t", b), dims[2], io.out_ptr)
    if kernel == WINO_ADD:
        status = lib.ekd_conv2d_winograd_add_s8(*args, io.res_ptr)
    else:
        assert add_params is None and raw_residual is None
        status = getattr(lib, kernel)(*args)
    del keep_q
    return status, io.output()


def wino_case(shape, seed: int) -> FastCase:
    in_c, out_c, size, stride = shape
    assert stride == 1
    return layer_case(WINO, in_c, out_c, size, 1, seed)


# -- fused residual ADD ----------------------------------------------------------------

@kernel_settings(250)
@given(case=fast_cases(WINO), data=st.data())
def test_winograd_add_matches_conv_then_add(runtime, case, data):
    p = data.draw(residual_add_params(case.params.output_offset))
    assume(p is not None)
    residual = data.draw(int8_arrays(case.out_shape))
    alias = data.draw(st.booleans())
    status, out = run_wino(runtime, case, p, residual, alias_residual=alias)
    assert status == 0
    assert np.array_equal(out, expected_with_residual(case, p, residual))


@pytest.mark.parametrize("alias", [False, True], ids=["separate", "over-residual"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_winograd_add_on_layer_shapes(runtime, shape, alias):
    case = wino_case(shape, seed=5 * shape[1] + shape[2][1])
    p, residual = resnet_add(case, seed=shape[0])
    status, out = run_wino(runtime, case, p, residual, alias_residual=alias)
    assert status == 0
    assert np.array_equal(out, expected_with_residual(case, p, residual))


def test_residual_changes_the_output(runtime):
    """The residual is really added, and the plain kernel still gives the conv alone."""
    case = wino_case((16, 16, (9, 9), 1), seed=11)
    p, residual = resnet_add(case, seed=5)
    status, plain = run_wino(runtime, case, kernel=WINO)
    assert status == 0 and np.array_equal(plain, case.expected)
    fused = run_wino(runtime, case, p, residual)[1]
    assert not np.array_equal(plain, fused)
    assert np.array_equal(fused, expected_with_residual(case, p, residual))


@pytest.mark.parametrize("out_w", [1, 2, 5, 6, 9, 10])
def test_single_tile_last_pass_adds_the_residual_once(runtime, out_w):
    """out_w % 4 in (1, 2): the last pass of each tile row repeats its one tile. Over the
    residual's own buffer a second store would add the residual again; these layers
    (a near-identity ADD, so a double add shows) catch it."""
    case = wino_case((8, 8, (6, out_w), 1), seed=out_w)
    p, _ = resnet_add(case, seed=out_w)
    rng = np.random.default_rng(out_w)
    residual = rng.integers(-100, 100, size=case.out_shape, dtype=np.int8)
    expected = expected_with_residual(case, p, residual)
    status, out = run_wino(runtime, case, p, residual, alias_residual=True)
    assert status == 0
    assert np.array_equal(out, expected)
    # Added twice, these bytes would differ: the test can tell.
    twice = add(p, case.expected, expected)
    assert not np.array_equal(expected, twice)


# -- in place over the convolution's input ------------------------------------------------

def in_place_lead(case: FastCase) -> int:
    """The planner's lead for Winograd (its kernel_table row), as test_conv_fast_s8."""
    p = case.params
    window = Window(tuple(case.x.shape), tuple(case.out_shape), tuple(case.w.shape[1:3]),
                    (1, 1), (1, 1), (p.pad_h, p.pad_w))
    return max(0, raster_lead(window, row(WINO).order(SimpleNamespace(out_w=case.out_shape[2]))))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_winograd_add_runs_in_place_at_its_lead(runtime, shape):
    """Output over the conv's input at the plain kernel's lead, residual separate: the
    epilogue adds no constraint."""
    case = wino_case(shape, seed=3 * shape[0] + shape[2][0])
    p, residual = resnet_add(case, seed=7)
    status, out = run_wino(runtime, case, p, residual, lead=in_place_lead(case))
    assert status == 0
    assert np.array_equal(out, expected_with_residual(case, p, residual))


@kernel_settings(60)
@given(case=fast_cases(WINO), data=st.data())
def test_winograd_add_runs_in_place_on_random_layers(runtime, case, data):
    lead = in_place_lead(case)
    assume(lead < 1 << 20)  # raster_lead's "nothing read" sentinel
    p = data.draw(residual_add_params(case.params.output_offset))
    assume(p is not None)
    residual = data.draw(int8_arrays(case.out_shape))
    status, out = run_wino(runtime, case, p, residual, lead=lead)
    assert status == 0
    assert np.array_equal(out, expected_with_residual(case, p, residual))


def test_in_place_closer_than_the_lead_fails(runtime):
    """At least one of these layers breaks with the output 16 bytes closer than its lead
    (the in-place tests above can fail)."""
    broken = 0
    for shape in SHAPES[:6]:
        case = wino_case(shape, seed=3 * shape[0] + shape[2][0])
        p, residual = resnet_add(case, seed=7)
        lead = in_place_lead(case)
        if lead >= 16:
            out = run_wino(runtime, case, p, residual, lead=lead - 16)[1]
            broken += not np.array_equal(out, expected_with_residual(case, p, residual))
    assert broken >= 1


# -- arguments -------------------------------------------------------------------------

def small_case() -> FastCase:
    return wino_case((8, 6, (5, 5), 1), seed=4)


def assert_refused(runtime, case: FastCase, status_wanted: int = EKD_ERROR_ARGUMENT,
                   **kwargs):
    status, out = run_wino(runtime, case, **kwargs)
    assert status == status_wanted
    if not kwargs.get("alias_residual"):
        assert np.all(out == 0x5A)  # untouched


def test_winograd_add_rejects_missing_or_invalid_residual(runtime):
    case = small_case()
    p, residual = resnet_add(case, seed=9)
    status, out = run_wino(runtime, case, p, residual)
    assert status == 0 and np.array_equal(out, expected_with_residual(case, p, residual))
    ffi = runtime.ffi
    # residual NULL: this entry point always adds
    assert_refused(runtime, case, raw_residual=ffi.NULL)
    for change in ({"left_shift": 21}, {"output_shift": 0}, {"input2_shift": 1},
                   {"input1_shift": 1}, {"input1_multiplier": -1},
                   {"output_multiplier": -1}, {"input1_offset": 256},
                   {"output_offset": -256}, {"activation_min": 5, "activation_max": 4}):
        assert_refused(runtime, case, add_params=dataclasses.replace(p, **change),
                       residual=residual)
    # a residual with no input array, or no parameters
    res = ffi.new("ekd_residual *")
    a = runtime.add_params(p)
    r = np.ascontiguousarray(residual)
    res.params = a
    res.input = ffi.NULL
    assert_refused(runtime, case, raw_residual=res)
    res.params = ffi.NULL
    res.input = runtime.ptr("int8_t", r)
    assert_refused(runtime, case, raw_residual=res)


def test_winograd_add_rejects_what_winograd_cannot_compute(runtime):
    case = small_case()
    p, residual = resnet_add(case, seed=2)
    fused = {"add_params": p, "residual": residual}
    strided = dataclasses.replace(case, params=dataclasses.replace(case.params, stride_w=2))
    assert_refused(runtime, strided, **fused)
    dilated = dataclasses.replace(case, params=dataclasses.replace(case.params, dilation_h=2))
    assert_refused(runtime, dilated, **fused)
    left = dataclasses.replace(case, params=dataclasses.replace(
        case.params, shift=np.full(6, 1, dtype=np.int32)))
    assert_refused(runtime, left, **fused)
    # scratch: too small is a scratch error, as for the plain kernel
    need = runtime.lib.ekd_conv2d_winograd_s8_scratch_size(
        runtime.dims(*case.x.shape), runtime.dims(*case.w.shape),
        runtime.dims(*case.out_shape))
    assert need > 0
    assert_refused(runtime, case, EKD_ERROR_SCRATCH, scratch_bytes=need - 4, **fused)
    assert_refused(runtime, case, EKD_ERROR_SCRATCH, scratch_bytes=need - 4, kernel=WINO)
    # the residual is checked before the scratch
    assert_refused(runtime, case, scratch_bytes=0, raw_residual=runtime.ffi.NULL)


# -- on emulated boards ----------------------------------------------------------------


def run_wino_cases(board_name: str, cases: list[BoardCase], workdir) -> list[dict]:
    """test_conv_direct_s8.run_board_cases (build, run, check every output against the
    reference): its harness passes a case's residual to whichever kernel the case names."""
    return direct.run_board_cases(board_name, cases, workdir)


WINO_BOARDS = ["mps2-an386", "mps2-an385", "rv32"]  # M4 DSP path; M3 and RV32 portable


@pytest.mark.slow
@pytest.mark.parametrize("board_name", WINO_BOARDS)
def test_winograd_add_bit_exact_on_board(board_name, tmp_path):
    """Random layers (hypothesis' generator, seeded so a failure reproduces) through the
    fused kernel, residual separate or aliased, some through the plain kernel too; and
    ResNet-like layers, with widths whose last pass holds one tile."""
    from hypothesis import HealthCheck, Phase, seed, settings

    cases: list[BoardCase] = []

    # One case per example: a single example would be hypothesis' simplest (1x1x1 and no
    # residual every time).
    @seed(WINO_BOARDS.index(board_name))
    @settings(max_examples=48, deadline=None, phases=[Phase.generate], database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=fast_cases(WINO, max_channels=16), data=st.data())
    def draw(case, data):
        p = data.draw(residual_add_params(case.params.output_offset))
        if p is None or data.draw(st.integers(0, 3)) == 0:
            cases.append(BoardCase(case, kernel=WINO))
        else:
            cases.append(BoardCase(case, p, data.draw(int8_arrays(case.out_shape)),
                                   alias=data.draw(st.booleans()), kernel=WINO_ADD))

    draw()
    fused = [bc for bc in cases if bc.kernel == WINO_ADD]
    assert len(fused) >= 8 and any(bc.alias for bc in fused) and \
        len({bc.case.x.shape for bc in cases}) >= 8, "too few distinct random cases"
    for i, shape in enumerate([(16, 16, (8, 8), 1), (8, 12, (6, 9), 1), (32, 8, (5, 6), 1),
                               (5, 7, (7, 5), 1)]):
        case = wino_case(shape, seed=40 + i)
        p, residual = resnet_add(case, seed=i)
        cases += [BoardCase(case, kernel=WINO),
                  BoardCase(case, p, residual, alias=bool(i % 2), kernel=WINO_ADD),
                  BoardCase(case, p, residual, alias=not i % 2, kernel=WINO_ADD)]
    run_wino_cases(board_name, cases, tmp_path)
