"""The numpy integer reference: one function per op, bit-exact with TFLM's reference kernels.

``edgekd.interpreter.run(graph, inputs)`` evaluates a graph with them (through
edgekd.registry, which sits above this package); ``run_all`` also returns every
intermediate; ``run_all_batch`` does that for many samples at once.
"""
