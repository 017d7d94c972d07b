"""C code generation: plan the arena, render the templates, write the sources.

``compile_model(model, out_dir)`` is the whole step for a model file; ``generate`` and
``write_sources`` work on a Graph; ``plan_arena`` is the memory planner alone.
"""
from __future__ import annotations

import os
from pathlib import Path

from edgekd.codegen.identifiers import c_identifier
from edgekd.codegen.planner import ArenaPlan, plan_arena
from edgekd.codegen.render import (
    GeneratedModel, generate, generate_model, model_identifier, write_sources,
)
from edgekd.ir import Graph


def default_model_name(model: str | os.PathLike | Graph) -> str:
    """The C name of a model: its file stem (or graph name), lower case, sanitized."""
    stem = model.name if isinstance(model, Graph) else Path(model).stem
    return c_identifier(stem.lower(), fallback="model")


def compile_model(model: str | os.PathLike | Graph, out_dir: str | os.PathLike,
                  name: str | None = None) -> GeneratedModel:
    """Read a model file (or take a Graph) and write its C sources into ``out_dir``."""
    from edgekd.frontends import load_model

    graph = model if isinstance(model, Graph) else load_model(model)
    name = model_identifier(name) if name else default_model_name(model)
    return write_sources(graph, out_dir, name)


__all__ = ["ArenaPlan", "GeneratedModel", "compile_model", "default_model_name", "generate",
           "generate_model", "plan_arena", "write_sources"]
