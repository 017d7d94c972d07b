"""Teachers: frozen torch modules and ONNX files behind one interface; loader errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from edgekd.distill.teachers import OnnxTeacher, TorchTeacher, load_module, load_teacher
from edgekd.errors import EdgeKDError
from edgekd.zoo import DigitsCNN


def trained_looking_cnn(seed: int = 0) -> DigitsCNN:
    """A small CNN whose BatchNorm statistics differ from the defaults, so that train and
    eval mode give different outputs."""
    torch.manual_seed(seed)
    model = DigitsCNN(width=4)
    model.train()
    with torch.no_grad():
        model(torch.rand(16, 1, 8, 8) * 3)
    return model.eval()


def export_onnx(model: torch.nn.Module, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False,
                          input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})


def test_torch_teacher_is_frozen_in_eval_mode():
    model = trained_looking_cnn()
    teacher = TorchTeacher(model)
    x = torch.rand(4, 1, 8, 8)
    expected = model.eval()(x).detach()
    model.train()  # someone flips it back: the teacher still runs in eval mode
    logits = teacher(x)
    assert torch.equal(logits, expected)
    assert not logits.requires_grad
    assert all(not p.requires_grad for p in model.parameters())
    assert teacher.parameter_count == sum(p.numel() for p in model.parameters())


def test_onnx_teacher_gives_the_torch_logits(tmp_path):
    model = trained_looking_cnn()
    path = tmp_path / "teacher.onnx"
    export_onnx(model, path)
    teacher = load_teacher(str(path))
    assert isinstance(teacher, OnnxTeacher)
    x = torch.rand(5, 1, 8, 8)
    logits = teacher(x)
    # float kernels differ between runtimes: a tolerance, and the same decisions
    np.testing.assert_allclose(logits.numpy(), model(x).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert torch.equal(logits.argmax(1), model(x).argmax(1))
    # the exporter folds BatchNorm into the convolutions, so the counts differ a little
    assert 0.5 < teacher.parameter_count / sum(p.numel() for p in model.parameters()) < 1.5


def test_load_teacher_from_factory_and_weights(tmp_path):
    source = load_module("edgekd.zoo:digits_student")
    weights = tmp_path / "w.pt"
    torch.save(source.state_dict(), weights)
    teacher = load_teacher("edgekd.zoo:digits_student", weights)
    assert isinstance(teacher, TorchTeacher)
    for name, tensor in source.state_dict().items():
        assert torch.equal(teacher.module.state_dict()[name], tensor)


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz:factory", r"no_such_module_xyz:factory: cannot import no_such_module_xyz"),
    ("edgekd.zoo:no_such_factory", r"edgekd.zoo has no attribute 'no_such_factory'"),
    ("edgekd.zoo", r"expected pkg.module:factory or a path to an .onnx file"),
    ("edgekd.data:digits", r"edgekd.data:digits: returned Dataset, not a torch.nn.Module"),
    ("edgekd.zoo:DigitsCNN.forward.__name__", r"not callable"),
    ("missing.onnx", r"missing.onnx: no such file"),
])
def test_bad_teacher_spec_is_one_line_error(spec, message):
    with pytest.raises(EdgeKDError, match=message) as info:
        load_teacher(spec)
    assert "\n" not in str(info.value)


def test_corrupt_onnx_file_is_one_line_error(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"this is not a protobuf")
    with pytest.raises(EdgeKDError, match=r"broken.onnx: onnxruntime cannot load it") as info:
        load_teacher(str(path))
    assert "\n" not in str(info.value)


def test_weights_that_do_not_fit_are_one_line_error(tmp_path):
    weights = tmp_path / "teacher.pt"
    torch.save(DigitsCNN(width=4).state_dict(), weights)
    with pytest.raises(EdgeKDError, match=r"teacher.pt: does not fit the teacher") as info:
        load_teacher("edgekd.zoo:digits_teacher", weights)
    assert "\n" not in str(info.value)


class Payload:
    """Not a tensor: torch.load(weights_only=True) must refuse to unpickle it."""


def test_weights_are_loaded_without_running_pickled_code(tmp_path):
    weights = tmp_path / "evil.pt"
    torch.save({"features.0.weight": Payload()}, weights)
    with pytest.raises(EdgeKDError, match=r"evil.pt: not a torch state dict loadable with "
                                          r"weights_only=True"):
        load_teacher("edgekd.zoo:digits_teacher", weights)


def test_onnx_teacher_refuses_a_weights_file(tmp_path):
    path = tmp_path / "t.onnx"
    export_onnx(trained_looking_cnn(), path)
    with pytest.raises(EdgeKDError, match="carries its weights"):
        load_teacher(str(path), tmp_path / "w.pt")
