"""Host verification: compile the generated C with the runtime, run it, compare bytes.

``verify_host`` generates a model's sources, builds them with the runtime into a Python
extension (cffi), runs seeded random (or given) inputs and compares every tensor the C
writes (captured through the ``EKD_TAP`` hook) with the numpy reference, and, for
``.tflite`` files, with TensorFlow Lite Micro, the oracle. The arena is poisoned
(``EKD_POISON``) so that a memory plan that frees a tensor too early shows as a wrong
output, and followed by guard bytes that must survive every call. Where the plan keeps
places for the input and output inside the arena, every other sample runs with them
there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.codegen import default_model_name
from edgekd.codegen.planner import INPUT, OUTPUT
from edgekd.codegen.render import GeneratedModel, generate_model, model_identifier, write_files
from edgekd.budgets import BATCH
from edgekd.errors import EdgeKDError, VerificationError
from edgekd.ir import Graph
from edgekd.verify.tflm import NOT_INSTALLED as TFLM_NOT_INSTALLED, tflm_installed
from edgekd.verify.cffi_build import (
    RUNTIME_HEADER, RUNTIME_INCLUDE, compile_archive, compile_module, header_cdef,
    runtime_sources,
)

GUARD_BYTES = 64  # after the arena: written by nothing, checked after every inference
GUARD_VALUE = 0x5A
# Ops TFLite Micro has no kernel for (it dropped hybrid FULLY_CONNECTED): models with them
# are compared with the reference only.
TFLM_LACKS = ("DYNAMIC_FULLY_CONNECTED",)


@dataclass(frozen=True)
class Mismatch:
    """The first differing byte: which sample, which layer's tensor, against which oracle."""

    sample: int
    layer: int | None  # the layer that wrote the tensor (None: a graph input)
    tensor: str
    against: str  # "reference" or "tflm"
    index: int  # flat element index in the tensor
    expected: int | float
    got: int | float

    def describe(self) -> str:
        where = f"layer {self.layer}" if self.layer is not None else "input"
        return (f"sample {self.sample}, {where} tensor {self.tensor!r} element {self.index}: "
                f"{self.against} has {self.expected}, C has {self.got}")


@dataclass
class VerifyResult:
    """What ``verify_host`` compared and found. ``mismatches`` counts samples with any
    differing byte; ``bit_exact`` is True only when it is 0."""

    model: str
    target: str
    inputs: int
    mismatches: int
    bit_exact: bool
    arena_bytes: int
    weights_bytes: int
    compared: list[str]  # the oracles and tensors compared, e.g. "tflm: every tensor"
    tflm_arena_bytes: int | None = None
    first_mismatch: Mismatch | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        verdict = "bit-exact" if self.bit_exact else f"{self.mismatches} mismatching"
        text = (f"{self.model} on {self.target}: {verdict} on {self.inputs} inputs "
                f"({'; '.join(self.compared)}); arena {self.arena_bytes} bytes")
        if self.tflm_arena_bytes is not None:
            text += f" (TFLM: {self.tflm_arena_bytes})"
        text += f", weights {self.weights_bytes} bytes"
        if self.first_mismatch is not None:
            text += f"\nfirst mismatch: {self.first_mismatch.describe()}"
        return text


def load_graph(model: str | os.PathLike | Graph) -> tuple[Graph, Path | None]:
    """The graph of a model file (or a Graph as is) and the .tflite path TFLM can run."""
    if isinstance(model, Graph):
        return model, None
    from edgekd.frontends import load_model

    path = Path(model)
    return load_model(path), (path if path.suffix.lower() == ".tflite" else None)


def random_inputs(graph: Graph, count: int, seed: int = 0) -> np.ndarray:
    """``count`` inputs for the graph's input tensor, uniformly over its int8 range (or,
    for a float input, over the range its quantization can represent), seeded."""
    if count < 1:
        raise EdgeKDError(f"graph {graph.name!r}: need at least one input, got {count}")
    tensor = graph.tensor(graph.inputs[0])
    BATCH.check(f"graph {graph.name!r}", count * tensor.nbytes, f"{count} inputs")
    rng = np.random.default_rng(seed)
    shape = (count, *tensor.shape)
    if tensor.dtype == "int8":
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    if tensor.dtype == "float32":
        consumer = next(n for n in graph.nodes if tensor.name in n.inputs)
        q = graph.tensor(consumer.outputs[0]).quant if consumer.op == "QUANTIZE" else None
        low, high = ((-128 - q.scalar_zero_point) * q.scalar_scale,
                     (127 - q.scalar_zero_point) * q.scalar_scale) if q else (-1.0, 1.0)
        return rng.uniform(low, high, size=shape).astype(np.float32)
    raise EdgeKDError(f"graph {graph.name!r}: input {tensor.name!r} is {tensor.dtype}; "
                      "verification feeds int8 or float32 inputs")


def verify_host(model: str | os.PathLike | Graph, inputs: int | np.ndarray = 200,
                name: str | None = None, seed: int = 0, poison: bool = True,
                tflm: bool = True, generated: GeneratedModel | None = None) -> VerifyResult:
    """Build the generated C of ``model`` for the host and check it computes, byte for
    byte, every tensor the numpy reference computes and, for a .tflite file (unless
    ``tflm`` is False), every tensor TFLM computes.

    ``inputs``: a number of seeded random inputs, or an array ``[N, *input_shape]`` (or
    one ``input_shape`` sample). ``generated`` replaces the code generator's output (tests
    use it to check that a wrong memory plan is caught).
    """
    graph, tflite_path = load_graph(model)
    name = model_identifier(name) if name else default_model_name(model)
    if generated is None:
        generated = generate_model(graph, name)
    samples = _input_batch(graph, inputs, seed)
    # Every tensor of every sample is kept, by the C's taps and by the reference.
    BATCH.check(str(model) if tflite_path else f"graph {graph.name!r}",
                2 * len(samples) * sum(p.nbytes for p in generated.plan.tensors.values()),
                f"{len(samples)} samples of every tensor")
    harness = build_host_harness(generated, poison=poison)
    c_tensors = harness.run(samples)

    from edgekd.interpreter import run_all

    reference = [run_all(graph, sample) for sample in samples]
    oracles = {"reference": {t: np.stack([r[t] for r in reference]) for t in c_tensors}}
    compared = ["reference: every tensor"]
    tflm_arena = None
    if tflite_path is not None and tflm and not tflm_can_run(graph):
        compared.append("tflm: not run (no kernel for "
                        f"{', '.join(sorted({n.op for n in graph.nodes} & set(TFLM_LACKS)))})")
    elif tflite_path is not None and tflm and not tflm_installed():
        compared.append(TFLM_NOT_INSTALLED)
    elif tflite_path is not None and tflm:
        from edgekd.verify.isolated import OracleCrashed
        from edgekd.verify.tflm import tflm_oracle

        try:
            tflm_tensors, tflm_arena = tflm_oracle(tflite_path, samples, every_tensor=True)
        except OracleCrashed as crash:
            compared.append(f"tflm: not compared, {crash.args[0].split(': ', 1)[-1]}")
        else:
            oracles["tflm"] = {t: v for t, v in tflm_tensors.items() if t in c_tensors}
            missing = [t for t in (*graph.outputs, *_pre_softmax(graph))
                       if t not in oracles["tflm"]]
            if missing:
                raise VerificationError(f"{tflite_path}: TFLM reports no tensor {missing[0]!r}")
            compared.append(f"tflm: {len(oracles['tflm'])} tensors incl. outputs"
                            + (" and pre-softmax logits" if _pre_softmax(graph) else ""))

    bad_samples, first = _compare(generated, c_tensors, oracles)
    return VerifyResult(
        model=str(model) if not isinstance(model, Graph) else graph.name,
        target="host", inputs=len(samples), mismatches=len(bad_samples),
        bit_exact=not bad_samples, arena_bytes=generated.portable_arena_bytes,
        weights_bytes=generated.weights_bytes, compared=compared,
        tflm_arena_bytes=tflm_arena, first_mismatch=first,
    )


def tflm_can_run(graph: Graph) -> bool:
    """Whether TFLite Micro has a kernel for every op of the graph."""
    return not any(node.op in TFLM_LACKS for node in graph.nodes)


def _input_batch(graph: Graph, inputs: int | np.ndarray, seed: int) -> np.ndarray:
    if isinstance(inputs, (int, np.integer)):
        return random_inputs(graph, int(inputs), seed)
    tensor = graph.tensor(graph.inputs[0])
    batch = np.asarray(inputs)
    if batch.shape == tensor.shape:
        batch = batch[None]
    if batch.shape[1:] != tensor.shape or batch.dtype != np.dtype(tensor.dtype):
        raise EdgeKDError(f"graph {graph.name!r}: inputs must be {tensor.dtype} "
                          f"[N, {', '.join(map(str, tensor.shape))}], got {batch.dtype} "
                          f"{list(batch.shape)}")
    if len(batch) == 0:
        raise EdgeKDError(f"graph {graph.name!r}: no inputs given")
    return np.ascontiguousarray(batch)


def _pre_softmax(graph: Graph) -> list[str]:
    """The logits: input of a SOFTMAX that produces a graph output."""
    return [n.inputs[0] for n in graph.nodes
            if n.op == "SOFTMAX" and n.outputs[0] in graph.outputs]


def _compare(generated: GeneratedModel, c_tensors: dict[str, np.ndarray],
             oracles: dict[str, dict[str, np.ndarray]]) -> tuple[set[int], Mismatch | None]:
    """Samples with a differing byte, and the first difference in (sample, layer) order;
    layers are the generated code's (a fused residual ADD is part of its convolution)."""
    writer = {out: i for i, node in enumerate(generated.graph.nodes) for out in node.outputs}
    order = sorted(c_tensors, key=lambda t: generated.plan.tensors[t].tensor_id)
    bad: set[int] = set()
    candidates: list[Mismatch] = []
    for against, tensors in oracles.items():
        for tensor in order:
            if tensor not in tensors:
                continue
            got, expected = c_tensors[tensor], tensors[tensor].reshape(c_tensors[tensor].shape)
            if got.dtype != expected.dtype:
                raise VerificationError(f"tensor {tensor!r}: {against} gives {expected.dtype}, "
                                        f"C gives {got.dtype}")
            # Bytes compared: a float reference tensor may be a strided view.
            got, expected = np.ascontiguousarray(got), np.ascontiguousarray(expected)
            differs = (got.view(np.uint8) != expected.view(np.uint8)).reshape(len(got), -1)
            rows = np.flatnonzero(differs.any(axis=1))
            bad.update(int(r) for r in rows)
            if rows.size:
                sample = int(rows[0])
                index = int(np.flatnonzero(differs[sample])[0]) // got.itemsize
                candidates.append(Mismatch(
                    sample=sample, layer=writer.get(tensor), tensor=tensor, against=against,
                    index=index, expected=expected[sample].reshape(-1)[index].item(),
                    got=got[sample].reshape(-1)[index].item()))
    first = min(candidates, key=lambda m: (m.sample, -1 if m.layer is None else m.layer,
                                           m.against), default=None)
    return bad, first


@dataclass
class HostHarness:
    """A generated model built for the host, callable on a batch of inputs."""

    generated: GeneratedModel
    ffi: Any
    lib: Any

    def run(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        """Run each sample; every activation tensor the C writes (and the input) as
        ``[N, *shape]`` arrays keyed by tensor name."""
        plan = self.generated.plan
        placements = plan.tensors
        captured = {name: np.zeros((len(samples), p.nbytes), dtype=np.uint8)
                    for name, p in placements.items()}
        arena_bytes = self.generated.portable_arena_bytes  # the host has no Arm DSP
        raw = np.zeros(arena_bytes + GUARD_BYTES + plan.alignment, dtype=np.uint8)
        start = (-raw.ctypes.data) % plan.alignment
        arena = raw[start:start + arena_bytes + GUARD_BYTES]
        arena[:] = GUARD_VALUE
        output_name = self._io("output")
        input_name = self._io("input")
        output_bytes = placements[output_name].nbytes
        output = np.zeros(output_bytes + GUARD_BYTES, dtype=np.uint8)
        io = plan.io_offsets
        for n, sample in enumerate(samples):
            for name, p in placements.items():
                self.lib.ekd_host_set_tap(p.tensor_id, self.ffi.from_buffer(captured[name][n]))
            arena[arena_bytes:] = GUARD_VALUE
            output[:] = GUARD_VALUE
            data = np.ascontiguousarray(sample)
            in_buffer, out_buffer = data, output
            if io and n % 2:  # every other sample: input and output in their arena places
                in_buffer = arena[io[INPUT]:io[INPUT] + data.nbytes]
                in_buffer[:] = data.view(np.uint8).reshape(-1)
                out_buffer = arena[io[OUTPUT]:]
            status = self.lib.ekd_host_invoke(self.ffi.from_buffer(in_buffer),
                                              self.ffi.from_buffer(out_buffer),
                                              self.ffi.from_buffer(arena))
            if out_buffer is not output:
                output[:output_bytes] = out_buffer[:output_bytes]
            if status != 0:
                raise VerificationError(f"{self.generated.name}_invoke returned {status} "
                                        f"on sample {n}")
            if (arena[arena_bytes:] != GUARD_VALUE).any():
                raise VerificationError(f"{self.generated.name}: sample {n} wrote past the "
                                        f"{arena_bytes}-byte arena")
            if (output[output_bytes:] != GUARD_VALUE).any():
                raise VerificationError(f"{self.generated.name}: sample {n} wrote past the "
                                        "output buffer")
            captured[input_name][n] = data.view(np.uint8).reshape(-1)
            if not np.array_equal(output[:output_bytes], captured[output_name][n]):
                raise VerificationError(f"{self.generated.name}: the output buffer differs "
                                        f"from the tapped output on sample {n}")
        return {name: bytes_.view(self.generated.tensor_dtypes[name]).reshape(
                    len(samples), *self.generated.tensor_shapes[name])
                for name, bytes_ in captured.items()}

    def _io(self, which: str) -> str:
        """The tensor whose storage is the caller's input or output buffer."""
        return next(p.name for p in self.generated.plan.tensors.values()
                    if p.location == which and p.alias_of is None)


def build_host_harness(generated: GeneratedModel, poison: bool = True,
                       extra_compile_args: tuple[str, ...] = ()) -> HostHarness:
    """Compile ``generated`` and the runtime into a cffi module; check kernel scratch."""
    source_dir = _write_cached_sources(generated)
    name = generated.name
    cdef = header_cdef(RUNTIME_HEADER) + """
        void ekd_host_set_tap(int tensor_id, uint8_t *destination);
        int ekd_host_invoke(const uint8_t *input, uint8_t *output, uint8_t *arena);
    """
    preamble = f"""
        #include <string.h>
        #include <stdint.h>
        static uint8_t *ekd_host_taps[{max(len(generated.plan.tensors), 1)}];
        #define EKD_TAP(layer, tensor_id, pointer, bytes) \\
            do {{ if (ekd_host_taps[tensor_id]) \\
                memcpy(ekd_host_taps[tensor_id], (pointer), (bytes)); }} while (0)
        #include "{name}.c"
        static void ekd_host_set_tap(int tensor_id, uint8_t *destination)
        {{
            ekd_host_taps[tensor_id] = destination;
        }}
        static int ekd_host_invoke(const uint8_t *input, uint8_t *output, uint8_t *arena)
        {{
            return {name}_invoke((const {name}_input_t *)(const void *)input,
                                 ({name}_output_t *)(void *)output, arena);
        }}
    """
    # The runtime is compiled once (per flags) for every model: a model's build compiles
    # its own two files only.
    runtime = compile_archive("ekd_runtime", runtime_sources(), [RUNTIME_INCLUDE],
                              extra_compile_args=extra_compile_args)
    ffi, lib = compile_module(
        f"ekd_host_{name}", cdef, [source_dir / f"{name}_weights.c"],
        [source_dir, RUNTIME_INCLUDE], extra_compile_args=extra_compile_args,
        define_macros=[("EKD_POISON", None)] if poison else [], preamble=preamble,
        extra_objects=[runtime])
    _check_scratch(generated, ffi, lib)
    return HostHarness(generated, ffi, lib)


def _check_scratch(generated: GeneratedModel, ffi: Any, lib: Any) -> None:
    """The planner's scratch (codegen.layers.scratch_bytes, or past the plan's end for a
    kernel only builds without DSP call) must cover what each kernel the host runs asks
    for through ekd_*_scratch_size."""
    for layer in generated.layers:
        if layer.template not in ("conv", "dynamic_fully_connected"):
            continue
        dims = {role: ffi.new("ekd_dims *", list(d)) for role, d in layer.dims.items()}
        # A fused-ADD entry point (ekd_conv2d_winograd_add_s8) shares its kernel's scratch.
        base = layer.kernel.replace("_add_s8", "_s8")
        sizer = getattr(lib, f"{base}_scratch_size", None)  # none: needs none
        needed = sizer(dims["input"], dims["filter"], dims["output"]) if sizer else 0
        neutral = next((c for c in layer.calls if c.guard is None), None)
        placed = neutral.past_scratch if neutral and neutral.past_scratch else layer.scratch
        planned = placed[1] if placed else 0
        if needed > planned:
            raise VerificationError(f"{generated.name}: layer {layer.index} ({layer.op}): "
                                    f"{layer.kernel} needs {needed} bytes of scratch, "
                                    f"the plan gives {planned}")


def _write_cached_sources(generated: GeneratedModel) -> Path:
    """Write the sources under a folder named by their hash, so that the extension
    module built from them (cached by cffi_build, keyed by paths and contents) is reused."""
    digest = hashlib.sha256()
    for filename in sorted(generated.files):
        digest.update(filename.encode() + b"\0" + generated.files[filename].encode() + b"\0")
    root = os.environ.get("EDGEKD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"), "edgekd")
    folder = Path(root) / "generated" / f"{generated.name}-{digest.hexdigest()[:16]}"
    if not folder.is_dir():
        try:
            write_files(generated, folder)
        except OSError:
            if not folder.is_dir():  # else another process wrote the same files first
                raise
    return folder
