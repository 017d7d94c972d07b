"""A residual ADD fused into its convolution (codegen/fusion.py): the record a fused
layer carries in ``attrs["residual"]``, and how to reach the nodes it replaced."""
from __future__ import annotations

from dataclasses import dataclass

from edgekd.ir import Node


@dataclass(frozen=True)
class ResidualAdd:
    """A fused ADD: the original ``conv`` and ``add`` nodes, and which of the ADD's two
    inputs (0 or 1) the convolution computes."""

    conv: Node
    add: Node
    conv_operand: int

    @property
    def skip(self) -> str:
        """The ADD's other input: the residual the fused layer reads."""
        return self.add.inputs[1 - self.conv_operand]


def residual_of(node: Node) -> ResidualAdd | None:
    return node.attrs.get("residual")


def conv_of(node: Node) -> Node:
    """The convolution a layer computes: the original CONV_2D of a fused layer (whose
    output tensor, scale and zero point its parameters come from), else the node."""
    residual = residual_of(node)
    return residual.conv if residual is not None else node
