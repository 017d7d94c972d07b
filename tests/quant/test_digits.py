"""End to end on digits with zoo.DigitsCNN (slow: trains a float model, then QAT).

- PTQ: every method's int8 accuracy (numpy reference, test split) is printed; the best is
  within 1.0 pp of float.
- QAT: int8 accuracy within 0.3 pp of float.
- Fidelity: the QAT model in eval mode and the converted int8 model run by the reference.
- TFLM: the exported .tflite gives the reference's bytes.
- PyTorch's own static quantization (torch.ao FX, x86 and qnnpack) on the same model.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd.frontends.tflite import write_tflite
from edgekd.quant import prepare_qat, quantize, train_qat, convert
from edgekd.quant.evaluate import (
    dequantize_output,
    int8_accuracy,
    quantize_inputs,
    run_reference,
    torch_accuracy,
)
from edgekd.verify.tflm import run_tflm

pytestmark = pytest.mark.slow

QAT_EPOCHS = 3


@pytest.fixture(scope="module")
def qat_result(digits, digits_weights):
    from edgekd.zoo import DigitsCNN

    model = DigitsCNN()
    model.load_state_dict(torch.load(digits_weights, weights_only=True))
    model.eval()
    qat_model = prepare_qat(model, digits.train.x[:2], calib_data=digits.train.x)
    train_qat(qat_model, digits.train.x, digits.train.y, epochs=QAT_EPOCHS,
              val=(digits.val.x, digits.val.y), progress=print)
    return model, qat_model, convert(qat_model)


def test_ptq_accuracy_within_one_point_of_float(digits, digits_cnn):
    float_accuracy = torch_accuracy(digits_cnn, digits.test.x, digits.test.y)
    results = {}
    for method in ("minmax", "percentile", "mse"):
        graph = quantize(digits_cnn, digits.train.x, method)
        results[method] = int8_accuracy(graph, digits.test.x, digits.test.y)
    print(f"\nfloat {float_accuracy:.2%}; int8 PTQ: "
          + ", ".join(f"{m} {a:.2%}" for m, a in results.items()))
    assert max(results.values()) >= float_accuracy - 0.010


def test_qat_accuracy_within_a_third_of_a_point(digits, qat_result):
    model, _, graph = qat_result
    float_accuracy = torch_accuracy(model, digits.test.x, digits.test.y)
    int8 = int8_accuracy(graph, digits.test.x, digits.test.y)
    print(f"\nfloat {float_accuracy:.2%}; int8 QAT ({QAT_EPOCHS} epochs) {int8:.2%}")
    assert int8 >= float_accuracy - 0.003


def test_qat_model_and_int8_model_agree(digits, qat_result):
    _, qat_model, graph = qat_result
    with torch.no_grad():
        qat_logits = qat_model(torch.from_numpy(digits.test.x)).numpy()
    int8_logits = dequantize_output(graph, run_reference(graph, digits.test.x)[0])
    step = graph.tensor(graph.outputs[0]).quant.scalar_scale
    argmax = float((qat_logits.argmax(1) == int8_logits.argmax(1)).mean())
    within_one = float((np.abs(qat_logits - int8_logits) <= step * 1.0001).mean())
    exact = float((qat_logits == int8_logits).mean())
    print(f"\nargmax agreement {argmax:.2%}, logits within 1 LSB {within_one:.2%}, "
          f"identical {exact:.2%}")
    assert argmax >= 0.995 and within_one >= 0.99
    # The QAT forward pass runs the integer path itself, so nothing should differ at all.
    assert exact == 1.0


def test_exported_model_runs_in_tflm_byte_identical(digits, qat_result):
    _, _, graph = qat_result
    x = digits.test.x[:64]
    codes = quantize_inputs(graph, x)
    tflm = run_tflm(write_tflite(graph), codes[:, None])[0]
    reference = run_reference(graph, x)[0]
    assert tflm.dtype == np.int8
    np.testing.assert_array_equal(tflm.reshape(reference.shape), reference)


def torch_ao_accuracy(model, digits, backend: str) -> float:
    """PyTorch's FX graph mode static quantization (int8, calibrated on the train split)."""
    import copy
    import warnings

    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated for torchao
        prepared = prepare_fx(copy.deepcopy(model).eval(), get_default_qconfig_mapping(backend),
                              (torch.from_numpy(digits.train.x[:1]),))
        with torch.no_grad():
            prepared(torch.from_numpy(digits.train.x))
        quantized = convert_fx(prepared)
    return torch_accuracy(quantized, digits.test.x, digits.test.y)


def test_side_by_side_with_torch_ao(digits, digits_cnn):
    float_accuracy = torch_accuracy(digits_cnn, digits.test.x, digits.test.y)
    edgekd = int8_accuracy(quantize(digits_cnn, digits.train.x, "minmax"), digits.test.x,
                           digits.test.y)
    ao = {backend: torch_ao_accuracy(digits_cnn, digits, backend)
          for backend in ("x86", "qnnpack")}
    print(f"\nfloat {float_accuracy:.2%}; edgekd minmax {edgekd:.2%}; torch.ao "
          + ", ".join(f"{b} {a:.2%}" for b, a in ao.items()))
    assert all(a > 0.9 for a in ao.values())  # both ran a real int8 model
