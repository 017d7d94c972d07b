"""edgekd: make neural networks fit microcontrollers, and prove they still compute the same.

Distill a small student from a large teacher, quantize it to int8 (calibration or
quantization-aware training with the teacher), generate allocation-free C, and verify the C
bit-exact against the integer reference on the host and on emulated microcontrollers.
"""
from edgekd.errors import EdgeKDError
from edgekd.ir import Graph, Node, QuantParams, Tensor

__version__ = "0.1.0"


# The quantizer needs torch; importing it only when called keeps `import edgekd` light.
def quantize(model, calib_data, method: str = "minmax", **options) -> Graph:
    """int8 post-training quantization of a torch model; see edgekd.quant.ptq.quantize."""
    from edgekd.quant import quantize as run

    return run(model, calib_data, method, **options)


def quantize_dynamic(model, example_input) -> Graph:
    """Dynamic (weight-only) quantization of a Linear model: int8 weights, float32
    activations quantized per inference; see edgekd.quant.dynamic.quantize_dynamic."""
    from edgekd.quant.dynamic import quantize_dynamic as run

    return run(model, example_input)


def prepare_qat(model, example_input, **options):
    """A trainable copy of a torch model that computes the int8 path; see edgekd.quant.qat."""
    from edgekd.quant import prepare_qat as run

    return run(model, example_input, **options)


def convert(qat_model, **options) -> Graph:
    """The int8 graph of a QAT model, with exactly its integers; see edgekd.quant.convert."""
    from edgekd.quant import convert as run

    return run(qat_model, **options)


def distill_student(teacher, student, data, out_dir=None, **options) -> dict:
    """Distill a student from a teacher (optionally with QAT into int8) and write the run's
    files into out_dir; see edgekd.distill.pipeline.distill."""
    from edgekd.distill.pipeline import distill as run

    return run(teacher, student, data, out_dir, **options)


def compile_model(model, out_dir, name: str | None = None):
    """Write a model's C sources into out_dir; see edgekd.codegen.compile_model."""
    from edgekd.codegen import compile_model as run

    return run(model, out_dir, name)


def verify_host(model, inputs=200, **options):
    """Build the generated C on the host and compare it byte for byte with the reference
    (and TFLM for .tflite files); see edgekd.verify.host.verify_host."""
    from edgekd.verify.host import verify_host as run

    return run(model, inputs, **options)


__all__ = ["EdgeKDError", "distill_student", "Graph", "Node", "QuantParams", "Tensor", "__version__",
           "compile_model", "convert", "prepare_qat", "quantize", "quantize_dynamic",
           "verify_host"]
