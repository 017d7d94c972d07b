"""The generated code and the runtime under AddressSanitizer and UndefinedBehaviorSanitizer.

A plain executable (no Python in the process) runs random inputs read from a file through
the model with exact-size heap buffers for the arena, input and output, so any read or
write outside them, any signed overflow or misaligned access, aborts the run. Its outputs
must still be the reference's bytes.
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess

import numpy as np
import pytest

from edgekd.codegen import write_sources
from edgekd.codegen.choice import generator_graph, plan_for
from edgekd.interpreter import run
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, runtime_sources

from .graphs import small_cnn

SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer", "-g", "-O1"]

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

/* argv[1]: inputs, model_input_t after model_input_t; argv[2]: outputs, the same way. */
int main(int argc, char **argv)
{
    FILE *in, *out;
    uint8_t *arena = aligned_alloc(MODEL_ARENA_ALIGN, MODEL_ARENA_SIZE);
    model_input_t *input = malloc(sizeof *input);
    model_output_t *output = malloc(sizeof *output);
    int count = 0;

    if (argc != 3 || !(in = fopen(argv[1], "rb")) || !(out = fopen(argv[2], "wb"))) {
        return 2;
    }
    while (fread(input, sizeof *input, 1, in) == 1) {
        int status = model_invoke(input, output, arena);
        if (status != EKD_OK) {
            fprintf(stderr, "model_invoke: %d on input %d\n", status, count);
            return 3;
        }
        fwrite(output, sizeof *output, 1, out);
        ++count;
    }
    fclose(in);
    fclose(out);
    free(arena);
    free(input);
    free(output);
    printf("%d inputs\n", count);
    return 0;
}
"""


def run_sanitized(tmp_path, graph, samples: int, seed: int,
                  plan=None) -> tuple[subprocess.CompletedProcess, np.ndarray]:
    """Build the sanitized executable, run ``samples`` seeded inputs; (process, inputs)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / "model"
    write_sources(graph, src, "model", plan=plan)
    (tmp_path / "main.c").write_text(HARNESS)
    exe = tmp_path / "model_asan"
    build = subprocess.run(
        ["gcc", "-std=c11", "-Wall", "-Wextra", *SANITIZE, "-DEKD_POISON",
         f"-I{RUNTIME_INCLUDE}", f"-I{src}", str(tmp_path / "main.c"), str(src / "model.c"),
         str(src / "model_weights.c"), *map(str, runtime_sources()), "-o", str(exe)],
        capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    tensor = graph.tensor(graph.inputs[0])
    inputs = np.random.default_rng(seed).integers(-128, 128, (samples, *tensor.shape),
                                                  dtype=np.int8)
    # The extremes saturate every accumulator and requantization path.
    inputs[0], inputs[1] = -128, 127
    inputs.tofile(tmp_path / "inputs.bin")
    result = subprocess.run([str(exe), str(tmp_path / "inputs.bin"), str(tmp_path / "out.bin")],
                            capture_output=True, text=True, timeout=600,
                            env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                                 "UBSAN_OPTIONS": "print_stacktrace=1"})
    return result, inputs


def assert_clean_and_exact(tmp_path, graph, samples: int, seed: int) -> None:
    result, inputs = run_sanitized(tmp_path, graph, samples, seed)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "", result.stderr[-3000:]  # no sanitizer report at all
    assert result.stdout.strip() == f"{samples} inputs"
    out_tensor = graph.tensor(graph.outputs[0])
    got = np.fromfile(tmp_path / "out.bin", dtype=out_tensor.dtype).reshape(
        samples, *out_tensor.shape)
    expected = np.stack([run(graph, x)[0] for x in inputs])
    assert np.array_equal(got.view(np.uint8), expected.view(np.uint8))


def test_small_cnn_under_sanitizers(tmp_path):
    assert_clean_and_exact(tmp_path, small_cnn(), samples=50, seed=0)


def test_an_arena_too_small_is_reported(tmp_path):
    graph = small_cnn()
    plan = plan_for(generator_graph(graph))
    short = dataclasses.replace(plan, arena_bytes=plan.arena_bytes - 16)
    result, _ = run_sanitized(tmp_path, graph, samples=2, seed=0, plan=short)
    assert result.returncode != 0
    assert "heap-buffer-overflow" in result.stderr


@pytest.mark.slow
def test_mlperf_under_sanitizers(tmp_path, mlperf_path):
    from edgekd.frontends import load_model

    assert_clean_and_exact(tmp_path, load_model(mlperf_path), samples=40, seed=1)
