"""How `compile`'s time grows with the number of layers: a table, not a test.

    python benchmarks/compile_time.py [--layers 500 3000] [--kind chain residual]

Two graph families on small tensors (so that time is the generator's, not the
arithmetic's): "chain", convolutions and depthwise layers one after another, and
"residual", blocks x + depthwise(conv(x)) whose ADDs the generator may fuse. For each
size: seconds for generate_model (plan, choice of kernels and fusions, the plan's
proof, rendering) and seconds per layer; linear growth keeps the last column flat.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgekd.codegen import generate_model  # noqa: E402
from tests.codegen.graphs import GraphBuilder  # noqa: E402


def graph_of(kind: str, layers: int):
    g = GraphBuilder(f"{kind}_{layers}", (1, 4, 4, 4), 0)
    x = g.input
    while len(g.nodes) < layers:
        if kind == "chain":
            x = g.depthwise(g.conv(x, 4, kernel=(1, 1)))
        else:
            x = g.add(x, g.depthwise(g.conv(x, 4, kernel=(1, 1))))
    return g.build(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[500, 3000])
    parser.add_argument("--kind", nargs="+", default=["chain", "residual"])
    args = parser.parse_args()
    print("| graph | layers | seconds | ms per layer |\n|---|---:|---:|---:|")
    for kind in args.kind:
        for layers in args.layers:
            graph = graph_of(kind, layers)
            start = time.perf_counter()
            generate_model(graph, "m")
            seconds = time.perf_counter() - start
            print(f"| {kind} | {len(graph.nodes)} | {seconds:.1f} | "
                  f"{1000 * seconds / len(graph.nodes):.1f} |", flush=True)


if __name__ == "__main__":
    main()
