"""UNIDIRECTIONAL_SEQUENCE_LSTM (TFLM's integer form) against TFLM, byte for byte."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from edgekd.frontends.tflite import read_tflite
from edgekd.interpreter import run
from edgekd.reference.lstm import cell_scale_power, sigmoid_int16, tanh_int16
from edgekd.reference.lstm_tables import SIGMOID_TABLE_UINT16
from edgekd.verify.tflm import run_tflm
from tests.conftest import REPO, SHARED

CORPUS = SHARED / "models" / "corpus"
# Corpus models whose every op edgekd runs; dtln (LOGISTIC) and keras_lstm_mnist_uint8
# (uint8 QUANTIZE at the edges) wait for those ops.
LSTM_MODELS = ("mnist_lstm_int8", "micro_speech_lstm")


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
