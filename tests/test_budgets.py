"""Budgets before allocation (edgekd/budgets.py): inputs that claim huge sizes are
refused with one line naming the file, the claim and the limit."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from edgekd.arrays import load_array
from edgekd.budgets import TENSOR, BudgetError
from edgekd.data import load_dataset
from edgekd.errors import EdgeKDError


def npy_claiming(shape, dtype="<f4", data=b"") -> bytes:
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data


def test_a_npy_header_claiming_a_huge_shape_is_refused_before_allocation(tmp_path):
    path = tmp_path / "bomb.npy"
    path.write_bytes(npy_claiming((1 << 20, 1 << 20)))
    with pytest.raises(BudgetError) as error:
        load_array(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: an array float32 ")
    assert "EDGEKD_MAX_TENSOR_BYTES" in message


def test_the_limit_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((64, 64), np.float32))
    assert load_array(path).shape == (64, 64)
    monkeypatch.setenv("EDGEKD_MAX_TENSOR_BYTES", "1024")
    with pytest.raises(BudgetError, match="above the 1.0 KiB limit"):
        load_array(path)
    monkeypatch.setenv("EDGEKD_MAX_TENSOR_BYTES", "lots")
    with pytest.raises(BudgetError, match="not a number of bytes"):
        TENSOR.limit


def test_a_header_longer_than_its_file_is_refused(tmp_path):
    path = tmp_path / "short.npy"
    path.write_bytes(npy_claiming((1000,), data=b"\0" * 40))
    with pytest.raises(EdgeKDError, match=r"claims float32 \[1000\] \(4000 bytes\), the file holds 40"):
        load_array(path)


def test_a_npz_member_claiming_a_huge_shape_is_refused(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", npy_claiming((1 << 40,)))
    with pytest.raises(BudgetError, match=r"bomb.npz: array 'x': an array float32"):
        load_dataset(str(path))


def test_a_graph_declaring_a_huge_tensor_is_refused_by_validation():
    """Shapes are all a small model file needs to declare a 4 GiB activation; every
    importer validates its graph, so this is refused before verify allocates it."""
    from edgekd.ir import Tensor
    from tests.codegen.graphs import GraphBuilder

    g = GraphBuilder("bomb", (1, 8, 8, 4), 0)
    y = g.pool(g.input, "MAX_POOL_2D", (1, 1))
    graph = g.build(y)
    for name in (graph.inputs[0], y):
        t = graph.tensors[name]
        graph.tensors[name] = Tensor(name, (1, 65536, 65536, 1), t.dtype, t.quant)
    with pytest.raises(BudgetError, match=r"tensor 'input': int8 \[1, 65536, 65536, 1\] "
                                          r"needs 4\.0 GiB, above the 1\.0 GiB limit"):
        graph.validate()


def test_verify_refuses_a_batch_above_the_budget(monkeypatch):
    from edgekd.verify.host import random_inputs
    from tests.codegen.graphs import small_cnn

    monkeypatch.setenv("EDGEKD_MAX_BATCH_BYTES", str(1 << 20))
    with pytest.raises(BudgetError, match=r"graph 'small_cnn': 100000 inputs needs"):
        random_inputs(small_cnn(), 100_000)
