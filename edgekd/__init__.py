"""edgekd: make neural networks fit microcontrollers, and prove they still compute the same.

Distill a small student from a large teacher, quantize it to int8 (calibration or
quantization-aware training with the teacher), generate allocation-free C, and verify the C
bit-exact against the integer reference on the host and on emulated microcontrollers.
"""
from edgekd.errors import EdgeKDError
from edgekd.ir import Graph, Node, QuantParams, Tensor

__version__ = "0.1.0"

__all__ = ["EdgeKDError", "Graph", "Node", "QuantParams", "Tensor", "__version__"]
