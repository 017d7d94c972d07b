"""The `edgekd` command: one thin function per subcommand over the public API.

Every failure is one line on stderr and an exit status (docs/cli.md): 0 ok, 1 verification
found a mismatch, 2 usage or input error, 3 missing tool or dependency, 4 internal error. A
traceback appears only with --debug.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from edgekd import __version__
from edgekd.errors import (
    EXIT_INTERNAL, EXIT_USAGE, EdgeKDError, UnsupportedError, missing_dependency,
)
from edgekd.resources import check_installation


class OneLineParser(argparse.ArgumentParser):
    """argparse with a usage error on one line (the usage itself is in --help)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def count(minimum: int):
    """An argparse type: an integer >= minimum."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value
    return parse


def seed(text: str) -> int:
    """An argparse type: a seed numpy and torch both take (0 to 2**32 - 1)."""
    value = count(0)(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"{value} is not below 2**32")
    return value


def real(minimum: float = float("-inf"), maximum: float = float("inf"), positive: bool = False):
    """An argparse type: a finite float in [minimum, maximum] (> 0 when positive)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0")
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{text} is outside [{minimum:g}, {maximum:g}]")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="edgekd",
        description="Distill, quantize to int8, generate C and verify it bit-exact. Exit "
                    "status: 0 ok, 1 verification found a mismatch, 2 usage or input error, "
                    "3 missing tool or dependency, 4 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"edgekd {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    distill = sub.add_parser(
        "distill", help="train a small student from a teacher (knowledge distillation)",
        description="Distill a student from a teacher on a dataset. Writes OUT/student.pt, "
                    "OUT/metrics.json, OUT/checkpoint.pt (and OUT/model.tflite with --qat). "
                    "Runs under `torchrun --nproc_per_node=N -m edgekd.cli distill ...` too.")
    distill.add_argument("--teacher", help="pkg.module:factory or model.onnx (not needed for --loss ce)")
    distill.add_argument("--teacher-weights", metavar="W.pt", help="state dict for a factory teacher")
    distill.add_argument("--student", required=True, help="pkg.module:factory")
    distill.add_argument("--student-weights", metavar="W.pt", help="state dict to start the student from")
    distill.add_argument("--data", required=True, help="digits, a .npz file or pkg.module:function")
    distill.add_argument("--loss", default="ced", choices=["soft", "hard", "ced", "hint", "ce"],
                         help="soft: KL at temperature T; hard: CE on the teacher's top-1; "
                              "ced: alpha*soft + (1-alpha)*CE on labels; hint: ced plus feature "
                              "hints; ce: labels only, no teacher (default: ced)")
    distill.add_argument("--temperature", type=real(positive=True), default=4.0,
                         help="softening T (default: 4)")
    distill.add_argument("--alpha", type=real(0.0, 1.0), default=0.9,
                         help="weight of the soft loss (default: 0.9)")
    distill.add_argument("--hint", action="append", default=[], metavar="TEACHER_LAYER:STUDENT_LAYER",
                         help="feature hint between qualified module names (repeatable)")
    distill.add_argument("--hint-weight", type=real(0.0), default=1.0,
                         help="weight of the hint MSE")
    distill.add_argument("--epochs", type=count(1), default=30)
    distill.add_argument("--batch-size", type=count(1), default=64,
                         help="per process (default: 64)")
    distill.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    distill.add_argument("--lr", type=real(positive=True), default=3e-3,
                         help="peak learning rate, decayed along a cosine (default: 3e-3; "
                              "about 1e-3 to fine-tune with --qat from --student-weights)")
    distill.add_argument("--patience", type=count(0), default=10,
                         help="stop after this many epochs without a better val score; 0: never")
    distill.add_argument("--shift", type=count(0), default=None, metavar="PIXELS",
                         help="random-shift augmentation (default: 1 for digits, else 0)")
    distill.add_argument("--seed", type=seed, default=0)
    distill.add_argument("--qat", action="store_true",
                         help="train quantization-aware and write OUT/model.tflite (int8)")
    distill.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint.pt")
    distill.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    distill.add_argument("-o", "--output", required=True, metavar="OUT_DIR")
    distill.set_defaults(func=cmd_distill)
    quantize = sub.add_parser(
        "quantize", help="quantize a torch model to an int8 .tflite (PTQ or QAT)",
        description="Quantize a torch model to TFLite's int8 scheme by calibration on the "
                    "training split (minmax, percentile, mse) or by quantization-aware "
                    "training (qat, needs labels), and print float and int8 test accuracy.")
    quantize.add_argument("--model", required=True, help="pkg.module:factory")
    quantize.add_argument("--weights", metavar="W.pt",
                          help="state dict (loaded with torch.load(weights_only=True))")
    quantize.add_argument("--data", required=True,
                          help="digits, a .npz file or pkg.module:function")
    quantize.add_argument("--method", default="minmax",
                          choices=["minmax", "percentile", "mse", "qat", "dynamic"],
                          help="activation ranges by calibration, or QAT (default: minmax); "
                               "dynamic: int8 weights, float32 activations quantized per "
                               "inference (Linear/flatten models, for cores with an FPU)")
    quantize.add_argument("--epochs", type=count(1), default=3, help="QAT epochs (default: 3)")
    quantize.add_argument("--lr", type=real(positive=True), default=1e-4,
                          help="QAT learning rate (default: 1e-4)")
    quantize.add_argument("--float-io", action="store_true",
                          help="float32 input/output with QUANTIZE/DEQUANTIZE (default: int8)")
    quantize.add_argument("-o", "--output", required=True, metavar="MODEL.tflite")
    quantize.set_defaults(func=cmd_quantize)
    inspect = sub.add_parser(
        "inspect", help="print a model's layers, shapes, MACs, parameters and quantization",
        description="Print the layer table of a model (index, op, name, shapes, MACs, "
                    "params, fused activation, quantization) and its totals.")
    inspect.add_argument("model", metavar="MODEL", help="model file (.tflite, .onnx)")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_model_options(inspect)
    inspect.set_defaults(func=cmd_inspect)
    ops = sub.add_parser("ops", help="print the supported ops (from the op registry)",
                         description="Print every IR op edgekd runs, its C kernel and the "
                                     "TFLite operators read as it.")
    ops.add_argument("--markdown", action="store_true",
                     help="print docs/supported.md (ops and boards, Markdown) instead")
    ops.set_defaults(func=cmd_ops)
    run = sub.add_parser(
        "run", help="run a model through the numpy integer reference",
        description="Run MODEL on the arrays in --input files (one .npy per model input: one "
                    "sample of the input's shape, or a batch [N, ...]) with the numpy "
                    "integer reference.")
    run.add_argument("model", metavar="MODEL", help="model file (.tflite, .onnx)")
    run.add_argument("--input", "-i", action="append", required=True, metavar="IN.npy",
                     help="input array (repeat once per model input, in order)")
    run.add_argument("--output", "-o", metavar="OUT.npy",
                     help="where to write the output (.npz for several outputs); "
                          "default: print it")
    add_model_options(run)
    run.set_defaults(func=cmd_run)
    compile_ = sub.add_parser(
        "compile", help="generate C sources for a model",
        description="Generate the model's C sources into DIR: NAME.h (API, arena size, I/O "
                    "macros), NAME.c (one runtime call per layer), NAME_weights.c and "
                    "NAME.cmake. Prints the arena plan and the files written.")
    compile_.add_argument("model", metavar="MODEL", help="model file (.tflite, .onnx)")
    compile_.add_argument("-o", "--output", required=True, metavar="DIR",
                          help="folder for the sources (created; our files in it replaced)")
    compile_.add_argument("--name", help="C name prefix (default: the file stem, sanitized)")
    compile_.add_argument("--plan", action="store_true",
                          help="print the whole arena plan, one line per tensor")
    compile_.add_argument("--with-runtime", action="store_true",
                          help="also write the runtime sources the model needs (DIR/runtime/), "
                               "a CMakeLists.txt (target edgekd::NAME) and a Make fragment "
                               "model.mk: a folder that builds without edgekd")
    add_model_options(compile_)
    compile_.set_defaults(func=cmd_compile)
    verify = sub.add_parser(
        "verify", help="check the generated C is bit-exact with the reference and TFLM",
        description="Generate, compile and run the model's C on the host and compare every "
                    "tensor byte for byte with the numpy reference and, for .tflite files, "
                    "with TFLite Micro. Exit 0 when all equal, 1 on a mismatch.")
    verify.add_argument("model", metavar="MODEL", help="model file (.tflite, .onnx)")
    verify.add_argument("--inputs", type=count(1), default=None, metavar="N",
                        help="number of seeded random inputs (default: 200 on the host, "
                             "20 on a --target board)")
    verify.add_argument("--input", metavar="IN.npy",
                        help="inputs to use instead: one sample or a batch [N, ...]")
    verify.add_argument("--seed", type=seed, default=0, help="seed of the random inputs")
    verify.add_argument("--name", help="C name prefix (default: the file stem, sanitized)")
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.add_argument("--target", metavar="BOARD",
                        help="run on an emulated board (see `edgekd boards`) instead of the "
                             "host and compare the outputs; JSON adds instructions, "
                             "flash_bytes and ram_bytes")
    verify.add_argument("--timeout", type=real(positive=True), metavar="SECONDS",
                        help="with --target: seconds before the run counts as a hang "
                             "(default: from the model's MACs)")
    add_model_options(verify)
    verify.set_defaults(func=cmd_verify)
    analyze = sub.add_parser(
        "analyze", help="per layer: MACs, weight bytes, live arena bytes, kernel, instructions",
        description="Per layer of the generated code: MACs, bytes of constants it reads "
                    "(flash), arena bytes live while it runs (RAM), the kernel that runs and, "
                    "with --target, the instructions it takes on that emulated board "
                    "(measured under QEMU -icount) and an energy ESTIMATE where the board has "
                    "a per-cycle figure (docs/boards.md).")
    analyze.add_argument("model", metavar="MODEL", help="model file (.tflite, .onnx)")
    analyze.add_argument("--target", metavar="BOARD",
                         help="measure on this board (see `edgekd boards`); default: the "
                              "portable kernels, nothing measured")
    analyze.add_argument("--name", help="C name prefix (default: the file stem, sanitized)")
    analyze.add_argument("--json", action="store_true", help="print one JSON object")
    analyze.add_argument("--error-inputs", type=count(0), default=10, metavar="N",
                         help="seeded random inputs for each op's int8-vs-float error "
                              "(SQNR, cosine, MSE; default: 10; 0: skip)")
    analyze.add_argument("--input", metavar="IN.npy",
                         help="measure the errors on these int8 inputs instead (a sample or a "
                              "batch [N, ...]): real data shows more than random inputs; "
                              "--calib DATA does the same with a dataset, for any model")
    analyze.add_argument("--seed", type=seed, default=0, help="seed of the random inputs")
    analyze.add_argument("--plot", metavar="FILE.png",
                         help="also draw instructions (or MACs) and bytes per layer "
                              "(needs matplotlib: pip install 'edgekd[train]')")
    add_model_options(analyze)
    analyze.set_defaults(func=cmd_analyze)
    export = sub.add_parser(
        "export", help="write a model as int8 .tflite or QDQ .onnx",
        description="Read MODEL (quantizing a float .onnx with --calib) and write it in the "
                    "format of OUT's suffix: .tflite (TFLite Micro runs it) or .onnx (QDQ; "
                    "onnxruntime runs it, rounding its own way: see docs/onnx.md).")
    export.add_argument("model", metavar="MODEL", help="model file (.tflite, .onnx)")
    export.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="OUT.tflite or OUT.onnx")
    add_model_options(export)
    export.set_defaults(func=cmd_export)
    boards = sub.add_parser(
        "boards", help="list the emulated boards and whether their tools are installed",
        description="List the boards in boards/ with core, flash and RAM limits, C library, "
                    "instruction counter and whether their cross compiler and QEMU are "
                    "installed.")
    boards.add_argument("--json", action="store_true", help="print JSON instead of a table")
    boards.set_defaults(func=cmd_boards)
    bench = sub.add_parser(
        "bench", help="instructions per inference, flash and RAM of a model on emulated boards",
        description="Generate the model's C, run it on each board under QEMU (outputs must "
                    "be bit-exact with the reference) and print instructions per inference "
                    "and per MAC, flash and RAM.")
    bench.add_argument("model", metavar="MODEL", help="model file (.tflite)")
    bench.add_argument("--targets", nargs="+", metavar="BOARD",
                       help="boards to run on (default: every board; see `edgekd boards`)")
    bench.add_argument("--inputs", type=count(1), default=5, metavar="N",
                       help="seeded random inputs per board (default: 5)")
    bench.add_argument("--seed", type=seed, default=0, help="seed of the random inputs")
    bench.add_argument("--name", help="C name prefix (default: the file stem, sanitized)")
    bench.add_argument("--timeout", type=real(positive=True), metavar="SECONDS",
                       help="seconds per board before a run counts as a hang")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.set_defaults(func=cmd_bench)
    demo = sub.add_parser(
        "demo", help="the whole pipeline on digits: teacher, students, int8, C, boards",
        description="Train (or reuse a cached) float teacher on digits, a student without "
                    "it and one with it (QAT+KD into int8), generate C, verify it bit-exact "
                    "on the host and on an emulated board, write a report and print one "
                    "table. Exit 0 when every check is bit-exact, 1 otherwise.")
    demo.add_argument("--out", default="out/demo", metavar="DIR",
                      help="run directory (default: out/demo; an earlier demo run there is "
                           "replaced)")
    demo.add_argument("--fresh", action="store_true",
                      help="retrain the teacher even when the cache has it")
    demo.add_argument("--quick", action="store_true",
                      help="a few epochs per stage: a smoke run (accuracy goal not expected)")
    demo.add_argument("--seed", type=seed, default=0, help="seed of every training run")
    demo.add_argument("--board", default="mps2-an386", help="emulated board (default: mps2-an386)")
    demo.set_defaults(func=cmd_demo)
    data = sub.add_parser("data", help="build a data set into the cache")
    data_sub = data.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    kws = data_sub.add_parser(
        "kws", help="the generated speech-commands set (espeak-ng words over noise)",
        description="Synthesize the 12-class keyword spotting set with espeak-ng: accents and "
                    "voice variants disjoint between train, val and test, mixed over white, "
                    "pink, brown and babble noise at -5..20 dB SNR. Reproducible from --seed; "
                    "a set already built is reused. Use it as --data kws (full) or kws-small.")
    kws.add_argument("--out", metavar="DIR",
                     help="where to write it (default: ~/.cache/edgekd/kws/SIZE-seedN)")
    kws.add_argument("--size", default="small", choices=["small", "full"],
                     help="small: 720 clips, about 10 s of CPU; full: 165,000 clips, 30,000 of them "
                          "test (default: small)")
    kws.add_argument("--seed", type=seed, default=0)
    kws.add_argument("--jobs", type=count(1), default=2, help="worker processes, run under nice (default: 2)")
    kws.add_argument("--wav", metavar="WAV_DIR",
                     help="also write the clips as 16 kHz WAV files in the Speech Commands layout")
    kws.set_defaults(func=cmd_data_kws)
    report = sub.add_parser(
        "report", help="report.md and plots for a run directory",
        description="Write RUN_DIR/report.md and RUN_DIR/plots/*.png (accuracy vs size, "
                    "arena usage per layer, MACs and instruction share per layer) from what "
                    "`edgekd demo` or `edgekd distill` wrote there (docs/rundir.md).")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.set_defaults(func=cmd_report)
    cmake_dir = sub.add_parser(
        "cmake-dir", help="print the folder of edgekd's CMake package (for find_package)",
        description="Print the folder holding edgekdConfig.cmake and the toolchain files "
                    "arm-none-eabi.cmake and riscv64-unknown-elf.cmake: "
                    "cmake -Dedgekd_DIR=$(edgekd cmake-dir) ...")
    cmake_dir.set_defaults(func=cmd_cmake_dir)
    return parser


def writable_output(path: str, directory: bool) -> str:
    """``path`` if an output (a folder when ``directory``, else a file) can be written there:
    one line naming the path otherwise, before any work is done."""
    if not path.strip():
        raise EdgeKDError("the output path is empty")
    target = Path(path)
    existing = next(p for p in (target, *target.parents) if p.exists() or p == Path(p.anchor))
    if existing != target and not existing.is_dir():
        raise EdgeKDError(f"{path}: {existing} is not a directory")
    if directory and target.exists() and not target.is_dir():
        raise EdgeKDError(f"{path}: exists and is not a directory")
    if not directory and target.is_dir():
        raise EdgeKDError(f"{path}: is a directory; give a file name")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=parent, prefix=f".{target.name}.", delete=True)
        probe.close()
    except OSError as error:
        raise EdgeKDError(f"{path}: cannot write there ({error.strerror or error})") from None
    return path


def cmd_distill(args: argparse.Namespace) -> int:
    from edgekd.distill.pipeline import distill
    from edgekd.distill.losses import parse_hint

    distill(args.teacher, args.student, args.data, writable_output(args.output, True),
            loss=args.loss,
            temperature=args.temperature, alpha=args.alpha,
            hints=[parse_hint(h) for h in args.hint], hint_weight=args.hint_weight,
            teacher_weights=args.teacher_weights, student_weights=args.student_weights,
            qat=args.qat, max_shift=args.shift, epochs=args.epochs, batch_size=args.batch_size,
            optimizer=args.optimizer, lr=args.lr, patience=args.patience, seed=args.seed,
            resume=args.resume, device=args.device)
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    if args.method == "dynamic":
        from edgekd.quant.dynamic import quantize_dynamic_to_file

        quantize_dynamic_to_file(args.model, args.weights, args.data,
                                 writable_output(args.output, False))
        return 0
    from edgekd.quant.pipeline import quantize_to_file

    quantize_to_file(args.model, args.weights, args.data, args.method,
                     writable_output(args.output, False),
                     epochs=args.epochs, lr=args.lr, float_io=args.float_io)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from edgekd.summary import format_summary, summarize

    try:
        graph = model_graph(args)
    except UnsupportedError as error:
        if not str(args.model).lower().endswith(".tflite"):
            raise
        # Show the whole model and every blocker, not only the first.
        from edgekd.frontends.tflite_survey import format_survey, survey_tflite

        survey = survey_tflite(args.model)
        print(json.dumps(survey, indent=2) if args.json else format_survey(survey))
        # The count first: the one-line error may be shortened at its end.
        raise UnsupportedError(f"{len(survey['blockers'])} blocker(s) in all, listed above "
                               f"(`edgekd ops` lists the supported ops); the first: {error}") from None
    summary = summarize(graph, source=args.model)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    from edgekd.supported import format_ops, supported_markdown

    sys.stdout.write(supported_markdown() if args.markdown else format_ops())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from edgekd.arrays import load_array, run_reference, save_arrays

    if args.output:
        writable_output(args.output, False)
    graph = model_graph(args)
    outputs = run_reference(graph, [load_array(p) for p in args.input], labels=args.input)
    if args.output:
        save_arrays(args.output, dict(zip(graph.outputs, outputs)))
    else:
        for name, array in zip(graph.outputs, outputs):
            print(f"{name}: {array.dtype} {list(array.shape)}\n{array}")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from edgekd.codegen import compile_model

    model = compile_model(model_argument(args), writable_output(args.output, True),
                          name=args.name)
    print(model.plan.table() if args.plan else f"{model.name}: {model.plan.summary()}")
    if model.portable_arena_bytes != model.plan.arena_bytes:
        print(f"cores without the Arm DSP extension: arena {model.portable_arena_bytes} bytes "
              "(faster kernels there, their scratch past the plan's end)")
    for filename in model.files:
        print(f"wrote {Path(args.output) / filename}")
    if args.with_runtime:
        from edgekd.standalone import write_runtime_bundle

        written = write_runtime_bundle(args.output, model.name, list(model.files))
        sources = sum(f.endswith(".c") for f in written)
        print(f"wrote {Path(args.output) / 'runtime'}/ ({sources} runtime sources), "
              f"{Path(args.output) / 'CMakeLists.txt'} (target edgekd::{model.name}), "
              f"{Path(args.output) / 'model.mk'}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from edgekd.arrays import load_array
    from edgekd.verify.host import verify_host

    if args.target:
        from edgekd.verify.target import verify_target

        inputs = load_array(args.input) if args.input else (args.inputs or 20)
        result = verify_target(model_argument(args), args.target, inputs=inputs, name=args.name,
                               seed=args.seed, timeout_s=args.timeout)
        return print_verify_result(result, args.json)
    inputs = load_array(args.input) if args.input else (args.inputs or 200)
    result = verify_host(model_argument(args), inputs=inputs, name=args.name, seed=args.seed)
    return print_verify_result(result, args.json)


def cmd_analyze(args: argparse.Namespace) -> int:
    import json

    from edgekd.analyze import analyze, format_analysis

    plot = writable_output(args.plot, False) if args.plot else None
    from edgekd.arrays import load_array

    error_inputs = (load_array(args.input) if args.input else args.calib if args.calib
                    else args.error_inputs)
    # --calib quantizes a float .onnx; for any model it is also the data the errors use.
    model = (model_argument(args) if Path(args.model).suffix.lower() == ".onnx"
             else args.model)
    result = analyze(model, args.target, name=args.name, error_inputs=error_inputs,
                     seed=args.seed)
    print(json.dumps(result.to_json(), indent=2) if args.json else format_analysis(result))
    if plot:
        from edgekd.report.plots import plot_analysis

        plot_analysis(result, Path(plot))
        if not args.json:
            print(f"wrote {plot}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from edgekd.frontends import save_model

    path = save_model(model_graph(args), writable_output(args.output, False))
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """How to read MODEL: the same options for every command that reads one."""
    group = parser.add_argument_group("reading a float ONNX model")
    group.add_argument("--calib", metavar="DATA",
                       help="calibration data to quantize a float .onnx model: digits, a .npz "
                            "file or pkg.module:function (its training split)")
    group.add_argument("--method", default="minmax", choices=["minmax", "percentile", "mse"],
                       help="activation ranges from --calib (default: minmax)")
    group.add_argument("--float-io", action="store_true",
                       help="read an .onnx model with float32 input/outputs through "
                            "QUANTIZE/DEQUANTIZE (default: int8)")


def model_argument(args: argparse.Namespace):
    """MODEL as given when no model option is set (a .tflite path keeps its TFLM check),
    else the graph read with the options."""
    options = {"calib": args.calib, "method": args.method} if args.calib else {}
    if args.float_io:
        options["float_io"] = True
    if not options:
        return args.model
    if Path(args.model).suffix.lower() != ".onnx":
        raise EdgeKDError(f"{args.model}: --calib and --float-io apply to .onnx models")
    from edgekd.frontends import load_model

    return load_model(args.model, **options)


def model_graph(args: argparse.Namespace):
    """The graph of MODEL, read with the model options."""
    from edgekd.frontends import load_model
    from edgekd.ir import Graph

    model = model_argument(args)
    return model if isinstance(model, Graph) else load_model(model)


def print_verify_result(result, as_json: bool) -> int:
    """Print a VerifyResult (one JSON object, or a summary); exit status 0 if bit-exact."""
    import json

    print(json.dumps(result.to_json()) if as_json else result.summary())
    return 0 if result.bit_exact else 1


def cmd_boards(args: argparse.Namespace) -> int:
    import json

    from edgekd.verify.boards import board_status, format_boards_table, list_boards

    statuses = [board_status(board) for board in list_boards()]
    print(json.dumps(statuses, indent=2) if args.json else format_boards_table(statuses))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from edgekd.verify.boards import board_names
    from edgekd.verify.target import bench, format_bench_table

    rows = bench(args.model, args.targets or board_names(), inputs=args.inputs,
                 name=args.name, seed=args.seed, timeout_s=args.timeout)
    print(json.dumps([row.to_json() for row in rows], indent=2) if args.json
          else format_bench_table(rows))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edgekd.demo import DemoConfig, quick_config, run_demo

    config = (quick_config(seed=args.seed, board=args.board) if args.quick
              else DemoConfig(seed=args.seed, board=args.board))
    run = run_demo(writable_output(args.out, True), fresh=args.fresh, config=config)
    return 0 if run["ok"] else 1


def cmd_cmake_dir(args: argparse.Namespace) -> int:
    from edgekd.resources import CMAKE_DIR

    print(CMAKE_DIR)
    return 0


def cmd_data_kws(args: argparse.Namespace) -> int:
    import json

    from edgekd.data.speech_synth import build

    out = build(args.out, size=args.size, seed=args.seed, jobs=args.jobs)
    stats = json.loads((out / "build.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    counts = ", ".join(f"{n} {s}" for s, n in manifest["clips"].items())
    print(f"{out}: {counts} clips; {stats['bytes'] / 1e6:.1f} MB; built at "
          f"{stats['clips_per_second']:.0f} clips/s with {stats['jobs']} process(es)")
    if args.wav:
        from edgekd.data.speech_synth import export_wavs

        print(f"wrote {export_wavs(out, args.wav)} (Speech Commands layout)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from edgekd.report import write_report

    path = write_report(args.run_dir)
    print(f"wrote {path} and {path.parent / 'plots'}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_installation()
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgekd: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `edgekd ... | head`: the reader left; silence the flush at exit as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as error:
        if args.debug:
            raise
        message, code = describe_failure(error, args.command)
        print(f"edgekd: {message}", file=sys.stderr)
        return code


def describe_failure(error: Exception, command: str) -> tuple[str, int]:
    """One line and the exit status for an exception that ended a command."""
    if isinstance(error, ModuleNotFoundError):
        error = missing_dependency(error, f"`edgekd {command}`") or error
    if isinstance(error, EdgeKDError):
        return f"error: {one_line(str(error))}", error.exit_code
    if isinstance(error, OSError) and error.filename is not None:
        # A path the user gave: unwritable output, a folder where a file belongs, a full disk.
        return f"error: {error.filename}: {error.strerror or error}", EXIT_USAGE
    if isinstance(error, MemoryError):
        return "error: out of memory (the model or data is too large)", EXIT_USAGE
    return (f"internal error: {type(error).__name__}: {one_line(str(error))} "
            "(rerun with --debug for the traceback, and please report it)"), EXIT_INTERNAL


def one_line(text: str, limit: int = 500) -> str:
    """A message squeezed onto one line."""
    squeezed = " ".join(text.split())
    return squeezed if len(squeezed) <= limit else squeezed[:limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
