"""Instructions per layer of a model on an emulated board (QEMU -icount).

    .venv/bin/python benchmarks/profile_layers.py MODEL.tflite [--target mps2-an386]

Builds the model's generated C with ``EKD_TAP`` defined to read the board's counter after
each layer, runs one inference and prints a markdown table: layer (of the generated code:
a residual ADD fused into its convolution is part of that layer), op, kernels (the
``#if`` chain's, target-specific ones first, then the one every other target runs), MACs,
instructions and instructions per MAC. The sum differs from
``edgekd bench`` by the counter reads (a few instructions per layer) and one tick of
resolution per layer.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgekd.codegen.render import generate_model  # noqa: E402
from edgekd.verify.boards import load_board  # noqa: E402
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, runtime_sources  # noqa: E402
from edgekd.verify.firmware import build_firmware  # noqa: E402
from edgekd.verify.qemu import run_firmware  # noqa: E402
from edgekd.verify.target import prepared_model  # noqa: E402

_HARNESS = """\
#include <stdint.h>
#include "ekd_board.h"
#include "{name}.h"

#define NUM_LAYERS {layers}
uint32_t ekd_profile_ticks[NUM_LAYERS + 1];
static {name}_input_t input;
static {name}_output_t output;
static uint8_t arena[{NAME}_ARENA_SIZE > 0 ? {NAME}_ARENA_SIZE : 1]
    __attribute__((aligned({NAME}_ARENA_ALIGN)));

void ekd_profile_mark(int layer)
{{
    ekd_profile_ticks[layer + 1] = ekd_counter_read();
}}

int main(void)
{{
    int i;
    for (i = 0; i < (int)sizeof input.data; ++i) {{
        ((uint8_t *)input.data)[i] = (uint8_t)(i * 37u + 11u);
    }}
    ekd_counter_start();
    ekd_profile_ticks[0] = ekd_counter_read();
    i = {name}_invoke(&input, &output, arena);
    for (int l = 0; l < NUM_LAYERS; ++l) {{
        ekd_print("ekd:layer index=");
        ekd_print_u32((uint32_t)l);
        ekd_print(" ticks=");
        ekd_print_u32(ekd_profile_ticks[l + 1] - ekd_profile_ticks[l]);
        ekd_print("\\n");
    }}
    return i == 0 ? EKD_EXIT_PASS : EKD_EXIT_FAIL;
}}
"""

_TAP = """\
void ekd_profile_mark(int layer);
#define EKD_TAP(layer, tensor_id, pointer, bytes) ekd_profile_mark(layer)
"""


def profile(model: str, target: str) -> list[dict]:
    board = load_board(target)
    with prepared_model(model, inputs=1, tflm=False) as prepared, \
            tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        name = prepared.name
        source = (prepared.directory / f"{name}.c").read_text()
        (work / f"{name}.c").write_text(_TAP + source)
        # The generated code's layers: a residual ADD fused into its convolution is one.
        generated = generate_model(prepared.graph, name)
        layers = len(generated.layers)
        (work / "harness.c").write_text(_HARNESS.format(name=name, NAME=name.upper(),
                                                        layers=layers))
        sources = [work / "harness.c", work / f"{name}.c",
                   prepared.directory / f"{name}_weights.c"]
        firmware = build_firmware(board, sources, [prepared.directory, RUNTIME_INCLUDE],
                                  work, library_sources=runtime_sources(),
                                  library_include_dirs=[RUNTIME_INCLUDE], progress=None)
        run = run_firmware(firmware, 600, progress=None)
        rows = []
        ticks = {int(r["index"]): int(r["ticks"]) for r in run.records("layer")}
        for layer in generated.layers:
            names = [c.kernel for c in layer.calls] or [layer.kernel]
            instructions = round(ticks.get(layer.index, 0) * board.instructions_per_tick)
            rows.append({"layer": layer.index, "op": layer.op,
                         "kernel": " / ".join(n for n in names if n) or "-",
                         "macs": layer.macs, "instructions": instructions})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--target", default="mps2-an386")
    args = parser.parse_args()
    rows = profile(args.model, args.target)
    print("| layer | op | kernel | MACs | instructions | per MAC |")
    print("|---:|---|---|---:|---:|---:|")
    for r in rows:
        per_mac = f"{r['instructions'] / r['macs']:.2f}" if r["macs"] else "-"
        print(f"| {r['layer']} | {r['op']} | {r['kernel']} | {r['macs']:,} | "
              f"{r['instructions']:,} | {per_mac} |")
    total = sum(r["instructions"] for r in rows)
    print(f"| | total | | {sum(r['macs'] for r in rows):,} | {total:,} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
