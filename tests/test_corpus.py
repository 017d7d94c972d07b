"""The public corpus (../shared/models/corpus/, README there): every model edgekd takes
verifies bit-exact on the host against TFLM (LiteRT for legacy uint8 graphs) on 50
inputs; every other one is refused with the message recorded here. A model that starts
to run (or a refusal that changes) fails this test until the table says so, so progress
is visible."""
from __future__ import annotations

import pytest

from edgekd.errors import UnsupportedError
from edgekd.frontends import load_model
from edgekd.verify.host import verify_host
from tests.conftest import SHARED

CORPUS = SHARED / "models" / "corpus"

# Model -> None (runs) or the start of its refusal (after "<path>: ").
EXPECTED = {
    "audio_preprocessor_int8": "operator 0 (CUSTOM 'SignalWindow'): unsupported op",
    "dtln_noise_suppression": None,  # the integer LSTM
    "hello_world_float": "operator 0 (FULLY_CONNECTED): tensor 'serving_default_dense_input:0' "
                         "is float32: float32 model is not supported",
    "hello_world_int8": None,
    "keras_lstm_mnist_uint8": None,  # the integer LSTM
    "keyword_scrambled_8bit": "operator 0 (QUANTIZE): tensor 52 ('tensor_52'): int16",
    "magic_wand": None,  # MEAN since the arithmetic ops
    "micro_speech_lstm": None,  # the integer LSTM
    "micro_speech_quantized": None,
    "mnist_lstm_int8": None,  # the integer LSTM
    "mobilenet_v1_0.25_128_uint8": "legacy uint8 graph: CONV_2D "
                                   "'MobilenetV1/MobilenetV1/Conv2d_0/Relu6' has weights",
    "person_detect": None,
    "resnet_large_int8": None,
    "simple_add_model": None,
    "split_concat_uint8": None,
    "toycar_hybrid": "operator 0 (FULLY_CONNECTED): tensor 'input_1' is float32: hybrid model",
}


def _corpus_models() -> list:
    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"{CORPUS} not found: the corpus lives in ../shared beside the checkout "
                   "(set EDGEKD_SHARED to point elsewhere)"))]
    return [pytest.param(path, id=path.stem) for path in sorted(CORPUS.glob("*.tflite"))]


@pytest.mark.slow
@pytest.mark.parametrize("path", _corpus_models())
def test_corpus_model_verifies_or_is_refused_as_recorded(path):
    assert path.stem in EXPECTED, f"{path.name}: new corpus model, add it to EXPECTED"
    expected = EXPECTED[path.stem]
    if expected is not None:
        with pytest.raises(UnsupportedError) as info:
            load_model(path)
        assert str(info.value).startswith(f"{path}: {expected}"), str(info.value)
        return
    result = verify_host(path, inputs=50)
    assert result.bit_exact, result.summary()
    assert any(c.startswith(("tflm", "litert")) for c in result.compared), result.compared
