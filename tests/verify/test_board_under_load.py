"""The board harness under load: a board run beside CPU hogs still delivers every record.

Boards with Arm semihosting write their console to a file that is read after QEMU exits
(boards/common/cortexm_semihosting.c, edgekd/verify/qemu.py): on a busy machine QEMU's
console output to a pipe once lost its final records."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from edgekd.verify.target import verify_target
from tests.codegen.graphs import small_cnn

from .test_target import installed_board


@pytest.mark.slow
@pytest.mark.parametrize("board_name", ["mps2-an386", "microbit"])
def test_a_board_run_beside_cpu_hogs_keeps_every_record(board_name):
    board = installed_board(board_name)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(2 * (os.cpu_count() or 1))]
    try:
        for seed in range(3):
            result = verify_target(small_cnn(seed), board, inputs=30, seed=seed,
                                   progress=None)
            assert result.bit_exact and result.inputs == 30, result.summary()
    finally:
        for hog in hogs:
            hog.send_signal(signal.SIGKILL)
            hog.wait()


@pytest.mark.slow
def test_the_console_file_holds_the_records():
    """On a semihosting board the records come from the console file, whole."""
    from edgekd.verify.boards import COMMON_DIR
    from edgekd.verify.qemu import CONSOLE_FILE

    source = (COMMON_DIR / "cortexm_semihosting.c").read_text()
    assert f'#define EKD_CONSOLE_FILE "{CONSOLE_FILE}"' in source
    board = installed_board("mps2-an385")
    result = verify_target(small_cnn(), board, inputs=5, progress=None)
    assert result.bit_exact
