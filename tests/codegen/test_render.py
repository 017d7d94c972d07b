"""Rendering the C sources (edgekd/codegen/render.py, layers.py, templates/)."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from edgekd.codegen import compile_model, generate, generate_model, write_sources
from edgekd.codegen.render import designated_initializers
from edgekd.errors import EdgeKDError, GraphError, UnsupportedError
from edgekd.ir import Tensor
from edgekd.verify.cffi_build import RUNTIME_INCLUDE
from edgekd.verify.host import verify_host

from .graphs import GraphBuilder, small_cnn

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-Wshadow",
          "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wcast-qual", "-Wcast-align"]

HOSTILE = ['*/ system("x"); /*', "a b", "a_b", "int", "9lives", "ñämé", "", "??/", "\\",
           "line\nbreak", "#define X", "a_b"]


def compile_objects(tmp_path, files: dict[str, str], compiler: str, *flags: str) -> None:
    """Compile every generated .c file to an object with strict warnings as errors."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for filename, text in files.items():
        (src / filename).write_text(text)
    for filename in files:
        if filename.endswith(".c"):
            result = subprocess.run(
                [compiler, *STRICT, *flags, f"-I{RUNTIME_INCLUDE}", f"-I{src}", "-c",
                 str(src / filename), "-o", str(tmp_path / (filename + ".o"))],
                capture_output=True, text=True)
            assert result.returncode == 0, result.stderr


def without_comments(filename: str, text: str) -> str:
    if filename.endswith(".cmake"):
        return re.sub(r"^#.*$", "", text, flags=re.M)
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def test_the_same_graph_gives_byte_identical_sources():
    first = generate(small_cnn(seed=3), "net")
    second = generate(small_cnn(seed=3), "net")
    assert first == second
    assert generate(small_cnn(seed=4), "net") != first  # the sources depend on the weights


def test_mlperf_sources_are_deterministic(mlperf_path):
    from edgekd.frontends import load_model

    assert generate(load_model(mlperf_path), "m") == generate(load_model(mlperf_path), "m")


def test_files_and_header_api():
    graph = small_cnn()
    generated = generate_model(graph, "net")
    files = generated.files
    assert sorted(files) == ["net.c", "net.cmake", "net.h", "net_weights.c"]
    header = files["net.h"]
    arena = f"#define NET_ARENA_SIZE {generated.plan.arena_bytes}"
    for line in ("#ifndef EDGEKD_MODEL_NET_H", arena, "#define NET_ARENA_ALIGN 16",
                 "#define NET_INPUT_SHAPE {1, 8, 6, 3}", "#define NET_INPUT_SIZE 144",
                 "#define NET_OUTPUT_ZERO_POINT (-128)", "#define NET_OUTPUT_SCALE 0.00390625f",
                 "} net_input_t;", "} net_output_t;",
                 "int net_invoke(const net_input_t *input, net_output_t *output,",
                 "int net_run(const net_input_t *input, net_output_t *output);"):
        assert line in header, line
    scale = graph.tensor(graph.inputs[0]).quant.scalar_scale
    literal = re.search(r"#define NET_INPUT_SCALE (\S+)f", header).group(1)
    assert np.float32(float(literal)) == np.float32(scale)  # the macro is the exact float
    cmake = files["net.cmake"]
    assert '"${CMAKE_CURRENT_LIST_DIR}/net.c"' in cmake
    assert '"${CMAKE_CURRENT_LIST_DIR}/net_weights.c"' in cmake


def test_every_layer_has_a_comment_block_and_a_tap():
    graph = small_cnn()
    generated = generate_model(graph, "net")
    text = generated.files["net.c"]
    layers = [(layer.index, layer.op, layer.name) for layer in generated.layers]
    assert (2, "CONV_2D + ADD", "conv_2d_2") in layers  # the ADD fused into it
    for index, node in enumerate(generated.graph.nodes):
        op = node.op + (" + ADD" if "residual" in node.attrs else "")
        assert f"* Layer {index}: {op}  {node.name}" in text
        assert re.search(rf"EKD_TAP\({index}, \d+, ", text)
    first = generated.plan.tensors[graph.nodes[0].outputs[0]]
    assert "MACs    " in text and f"arena[{first.offset} .. {first.offset + 384})" in text


def test_hostile_names_compile_and_inject_nothing(tmp_path):
    g = GraphBuilder(HOSTILE[0], (1, 4, 4, 2), input_name=HOSTILE[1])
    x = g.input
    for name in HOSTILE[2:-1]:
        x = g.conv(x, 2, kernel=(1, 1), name=name or None, out=f"{name}!{len(g.nodes)}")
    graph = g.build(g.conv(x, 2, name=HOSTILE[-1], out=HOSTILE[-1] + "?"))
    files = generate(graph, "evil")
    for filename, text in files.items():
        text.encode("ascii")  # nothing but ASCII reaches a file
        code = without_comments(filename, text)
        assert "system" not in re.findall(r"\b\w+\b", code)
        assert "??/" not in text and "\\" not in code.replace("\\\n", "")
        for literal in re.findall(r'"[^"]*"', code):  # the template's strings, no others
            assert re.fullmatch(r'"(C|edgekd/ekd\.h|evil\.h|\$\{CMAKE_CURRENT_LIST_DIR\}'
                                r'(/evil(\.c|_weights\.c|\.h))?)"', literal), literal
        for comment in re.findall(r"/\*.*?\*/", text, flags=re.S):
            assert "/*" not in comment[2:]
    assert 'system("x")' not in "".join(files.values())
    compile_objects(tmp_path, files, "gcc", "-DEKD_POISON", "-DEVIL_STATIC_ARENA")
    assert verify_host(graph, inputs=3, name="evil").bit_exact


@pytest.mark.parametrize("compiler, flags", [
    ("gcc", ()), ("clang", ()), ("arm-none-eabi-gcc", ("-mcpu=cortex-m4", "-mthumb")),
    ("riscv64-unknown-elf-gcc", ("-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs")),
])
def test_sources_compile_without_warnings(tmp_path, compiler, flags):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    files = generate(small_cnn(), "net")
    compile_objects(tmp_path, files, compiler, *flags)
    compile_objects(tmp_path, files, compiler, *flags, "-DEKD_POISON", "-DNET_STATIC_ARENA",
                    "-DEKD_TAP(l,i,p,b)=((void)(p))")


def test_one_input_and_one_output_only():
    graph = small_cnn()
    graph.outputs.append(graph.nodes[0].outputs[0])
    with pytest.raises(GraphError, match="one input and one output"):
        generate(graph, "net")


def test_unsupported_dtype_names_the_layer():
    graph = small_cnn()
    node = graph.nodes[-1]
    graph.tensors[node.outputs[0]] = Tensor(node.outputs[0], graph.tensor(node.outputs[0]).shape,
                                            "int32")
    with pytest.raises(UnsupportedError, match=r"layer \d+ \(SOFTMAX"):
        generate(graph, "net")


def test_constant_data_operands_are_refused():
    g = GraphBuilder("const_op", (1, 2, 2, 4))
    a = g.conv(g.input, 4)
    g._const("c", np.ones((1, 2, 2, 4), dtype=np.int8), g.tensors[a].quant)
    g.binary(a, "c", "ADD", activation="NONE")  # a binary op's constant operand is an array
    graph = g.build(g._node("RELU", "relu", ["c"], (1, 2, 2, 4), {}))
    with pytest.raises(UnsupportedError, match=r"layer 2 \(RELU 'relu'\): .*constant data"):
        generate(graph, "net")


def test_model_name_must_be_an_identifier():
    with pytest.raises(EdgeKDError, match="not a C identifier.*'my_net'"):
        generate(small_cnn(), "my net")


def test_write_sources_replaces_its_files_and_keeps_others(tmp_path):
    out = tmp_path / "gen"
    write_sources(small_cnn(seed=1), out, "net")
    (out / "notes.txt").write_text("mine")
    model = write_sources(small_cnn(seed=2), out, "net")
    assert (out / "notes.txt").read_text() == "mine"
    for filename, text in model.files.items():
        assert (out / filename).read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen"]  # no staging left behind


def test_write_sources_leaves_nothing_on_error(tmp_path):
    graph = small_cnn()
    graph.outputs.append(graph.nodes[0].outputs[0])
    with pytest.raises(GraphError):
        write_sources(graph, tmp_path / "gen", "net")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(EdgeKDError, match="not a directory"):
        write_sources(small_cnn(), tmp_path / "file", "net")


def test_compile_model_names_after_the_file(tmp_path, mlperf_path):
    model = compile_model(mlperf_path, tmp_path / "out")
    assert model.name == mlperf_path.stem.lower()
    assert (tmp_path / "out" / f"{model.name}.h").is_file()


def test_designated_initializers_pack_lines():
    lines = designated_initializers([("a", 1), ("bb", -2), ("c" * 70, 3)], width=20)
    assert lines == [".a = 1, .bb = -2,", "." + "c" * 70 + " = 3,"]


def test_graph_name_reaches_comments_only_sanitized():
    graph = small_cnn(name="*/ evil")
    text = generate(graph, "net")["net.c"]
    assert "from evil." in text
