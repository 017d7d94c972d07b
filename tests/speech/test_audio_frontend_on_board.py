"""The front end on emulated boards: the firmware computes features of random audio and
prints them; the host compares the bytes with the numpy spec. Also reports the
instructions one second of audio takes (counted by QEMU -icount)."""
from __future__ import annotations

import numpy as np
import pytest

from edgekd.audio import frontend
from edgekd.verify.boards import load_board
from edgekd.verify.cffi_build import RUNTIME_INCLUDE
from edgekd.verify.firmware import build_firmware
from edgekd.verify.qemu import run_firmware

from edgekd.verify.audio_frontend import SOURCE as FRONTEND_SOURCE

BOARDS = ["mps2-an386", "rv32"]

MAIN = """\
#include <stdint.h>
#include "edgekd/ekd_audio_frontend.h"
#include "ekd_board.h"

{arrays}
static const int16_t *const clips[] = {{ {names} }};
static const int32_t lengths[] = {{ {lengths} }};
static ekd_audio_scratch scratch;
static int8_t features[{max_features}];

int main(void)
{{
    uint32_t i;
    for (i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {{
        uint32_t ticks;
        int32_t frames;
        ekd_counter_start();
        frames = ekd_audio_features(clips[i], lengths[i], &scratch, features);
        ticks = ekd_counter_read();
        ekd_print("ekd:clip index=");
        ekd_print_u32(i);
        ekd_print(" ticks=");
        ekd_print_u32(ticks);
        ekd_print(" features=");
        ekd_print_hex_bytes(features, (uint32_t)frames * EKD_AUDIO_MEL_CHANNELS);
        ekd_print("\\n");
    }}
    ekd_print("ekd:end\\n");
    return EKD_EXIT_PASS;
}}
"""


def random_clips() -> list[np.ndarray]:
    """Noise from single-LSB to clipping level, a full-scale square wave, silence, a tone,
    and lengths that are not whole frames."""
    rng = np.random.default_rng(17)
    t = np.arange(16000)
    clips = [rng.standard_normal(16000) * level for level in (1, 300, 6000, 40000)]
    clips += [np.where((t // 7) % 2, 32767, -32768), np.zeros(16000),
              9000 * np.sin(2 * np.pi * 440 * t / 16000), rng.standard_normal(1234) * 2000]
    return [np.clip(np.rint(c), -32768, 32767).astype(np.int16) for c in clips]


def render(clips: list[np.ndarray]) -> str:
    arrays = []
    for i, clip in enumerate(clips):
        body = ", ".join(str(int(v)) for v in clip)
        arrays.append(f"static const int16_t clip{i}[{len(clip)}] = {{ {body} }};")
    return MAIN.format(arrays="\n".join(arrays), names=", ".join(f"clip{i}" for i in range(len(clips))),
                       lengths=", ".join(str(len(c)) for c in clips),
                       max_features=max(frontend.num_frames(len(c)) for c in clips) * frontend.MEL_CHANNELS)


@pytest.mark.slow
@pytest.mark.parametrize("board_name", BOARDS)
def test_frontend_on_board_equals_spec(board_name, tmp_path):
    board = load_board(board_name)
    if board.missing_tools():
        pytest.skip(f"{board_name}: {', '.join(board.missing_tools())} not installed")
    clips = random_clips()
    source = tmp_path / "frontend_cases.c"
    source.write_text(render(clips))
    firmware = build_firmware(board, [source], [RUNTIME_INCLUDE], tmp_path,
                              library_sources=[FRONTEND_SOURCE],
                              library_include_dirs=[RUNTIME_INCLUDE], what="front end cases",
                              progress=None)
    run = run_firmware(firmware, timeout_s=300, what="front end cases", progress=None)
    (tmp_path / "console.txt").write_text(run.console)
    records = run.records("clip")
    assert len(records) == len(clips) and run.records("end"), f"console in {tmp_path / 'console.txt'}"
    for record, clip in zip(records, clips):
        expected = frontend.features(clip)
        got = np.frombuffer(bytes.fromhex(record["features"]), np.int8).reshape(expected.shape)
        assert got.tobytes() == expected.tobytes(), \
            f"{board_name} clip {record['index']}: first mismatch at {np.argwhere(got != expected)[0]}"
    per_second = int(records[0]["ticks"]) * board.instructions_per_tick
    print(f"{board_name}: {per_second:,.0f} instructions per second of audio (49 frames)")
