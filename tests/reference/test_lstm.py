"""UNIDIRECTIONAL_SEQUENCE_LSTM (TFLM's integer form) against TFLM, byte for byte."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.errors import UnsupportedError
from edgekd.frontends.tflite import read_tflite
from edgekd.interpreter import run
from edgekd.reference.lstm import cell_scale_power, sigmoid_int16, tanh_int16
from edgekd.reference.lstm_tables import SIGMOID_TABLE_UINT16
from edgekd.verify.tflm import run_tflm
from tests.conftest import REPO, SHARED
from tests.reference.lstm_model import LstmCase, lstm_model
from tests.reference.strategies import quants, seeds

CORPUS = SHARED / "models" / "corpus"
# Corpus models whose every op edgekd runs; keras_lstm_mnist_uint8 (uint8 QUANTIZE at
# the edges) waits for uint8 edges.
LSTM_MODELS = ("mnist_lstm_int8", "micro_speech_lstm", "dtln_noise_suppression")


def _corpus(name: str):
    path = CORPUS / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found: the corpus lives in ../shared beside the checkout")
    return path


@pytest.mark.parametrize("name", LSTM_MODELS)
def test_corpus_lstm_model_matches_tflm(name):
    path = _corpus(name)
    graph = read_tflite(path)
    shape = graph.tensor(graph.inputs[0]).shape
    # Several invokes on one interpreter: state must not leak from one sample to the next.
    x = np.random.default_rng(7).integers(-128, 128, size=(12, *shape), dtype=np.int8)
    want = run_tflm(path, x)[0]
    got = np.stack([run(graph, [sample])[0] for sample in x])
    np.testing.assert_array_equal(got, want)


def test_sigmoid_table_is_what_tflm_computes():
    """The committed table equals a fresh measurement of TFLM's int16 TANH."""
    spec = importlib.util.spec_from_file_location(
        "probe_sigmoid_table", REPO / "scripts" / "probe_sigmoid_table.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    assert tuple(probe.measure_table()) == SIGMOID_TABLE_UINT16


def test_activations_cover_the_int16_range():
    x = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)
    s = sigmoid_int16(x).astype(np.int64)
    assert s.min() >= 0 and s.max() <= 32767 and np.all(np.diff(s) >= 0)
    for multiplier, shift in ((3, 0), (6, 0), (3, 3)):
        t = tanh_int16(x, multiplier, shift).astype(np.int64)
        assert np.all(np.diff(t) >= 0) and t.min() >= -32767 and t.max() <= 32767


def test_cell_scale_must_be_a_power_of_two():
    assert cell_scale_power(2.0 ** -11) == -11
    with pytest.raises(ValueError):
        cell_scale_power(0.0003)



def test_c_kernel_holds_the_same_table():
    source = (REPO / "runtime_c" / "src" / "ekd_lstm_s8.c").read_text()
    body = source.split("ekd_sigmoid_table[256] = {", 1)[1].split("};", 1)[0]
    assert tuple(int(v.strip().rstrip("u")) for v in body.split(",") if v.strip()) == \
        SIGMOID_TABLE_UINT16


@st.composite
def lstm_cases(draw) -> LstmCase:
    batch, steps = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    size, units = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(seeds))
    in_q, hidden_q = draw(quants), draw(quants)
    # Weight scales that put a typical gate product near Q3.12's range: from mostly zero
    # to mostly saturated gates.
    weight_scales = [float(np.float32(2.0 ** draw(st.floats(-14.0, 0.0)) / max(in_q[0], 1e-5)))
                     for _ in range(8)]
    bias_bits = draw(st.integers(0, 20))
    return LstmCase(
        batch=batch, time_steps=steps, input_size=size, units=units,
        time_major=draw(st.booleans()), input_q=in_q, hidden_q=hidden_q,
        cell_scale=2.0 ** draw(st.integers(-15, -8)),
        input_weights=[rng.integers(-127, 128, (units, size), dtype=np.int8) for _ in range(4)],
        recurrent_weights=[rng.integers(-127, 128, (units, units), dtype=np.int8)
                           for _ in range(4)],
        weight_scales=weight_scales,
        biases=[rng.integers(-2**bias_bits, 2**bias_bits + 1, units).astype(np.int32)
                for _ in range(4)],
        # 1e-6: positive but below one cell step, which TFLM clamps the cell to 0 with.
        cell_clip=draw(st.sampled_from([0.0, 1e-6, 0.5, 3.0, 10.0])))


@settings(max_examples=40)
@given(case=lstm_cases(), seed=seeds)
def test_one_lstm_matches_tflm(case, seed):
    model = lstm_model(case)
    graph = read_tflite(model)
    x = np.random.default_rng(seed).integers(-128, 128, size=(3, *case.input_shape),
                                             dtype=np.int8)
    want = run_tflm(model, x)[0]
    got = np.stack([run(graph, [sample])[0] for sample in x])
    np.testing.assert_array_equal(got, want)


def _case(seed: int, batch: int, steps: int, size: int, units: int, time_major: bool,
          cell_power: int, cell_clip: float) -> LstmCase:
    rng = np.random.default_rng(seed)
    return LstmCase(
        batch=batch, time_steps=steps, input_size=size, units=units, time_major=time_major,
        input_q=(0.05, -3), hidden_q=(1 / 128, 5), cell_scale=2.0 ** cell_power,
        input_weights=[rng.integers(-127, 128, (units, size), dtype=np.int8) for _ in range(4)],
        recurrent_weights=[rng.integers(-127, 128, (units, units), dtype=np.int8)
                           for _ in range(4)],
        weight_scales=[float(np.float32(s)) for s in 10.0 ** rng.uniform(-3.5, -2, 8)],
        biases=[rng.integers(-3000, 3000, units).astype(np.int32) for _ in range(4)],
        cell_clip=cell_clip)


@pytest.mark.parametrize("batch, steps, size, units, time_major, cell_power, clip", [
    (2, 4, 7, 5, True, -11, 0.0),   # time-major batches; tanh(cell) shifts left
    (3, 3, 9, 1, False, -15, 0.5),  # batch-major, one unit, tanh(cell) shifts right, clip
    (1, 6, 33, 40, False, -12, 10.0),
    (1, 2, 4, 3, True, -10, 1e-6),  # a clip below one cell step: the cell stays 0
])
def test_generated_c_matches_tflm(tmp_path, batch, steps, size, units, time_major,
                                  cell_power, clip):
    from edgekd.verify.host import verify_host

    path = tmp_path / "lstm.tflite"
    path.write_bytes(lstm_model(_case(batch * 100 + units, batch, steps, size, units,
                                      time_major, cell_power, clip)))
    result = verify_host(path, 20)
    assert result.bit_exact, result.summary()


def test_cell_state_off_a_power_of_two_is_refused_naming_the_node():
    case = _case(1, 1, 2, 3, 4, False, -12, 0.0)
    case.cell_scale = 0.0003
    with pytest.raises(UnsupportedError, match=r"operator 0 .*cell state scale"):
        read_tflite(lstm_model(case))


def test_cli_refuses_it_in_one_line(tmp_path, capsys):
    from edgekd.cli import main

    case = _case(1, 1, 2, 3, 4, False, -12, 0.0)
    case.cell_scale = 0.0003
    path = tmp_path / "bad.tflite"
    path.write_bytes(lstm_model(case))
    assert main(["inspect", str(path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cell state scale" in err
