"""Int8 accuracy on digits of a network built from the arithmetic and activation layers.

    .venv/bin/python benchmarks/squeeze_excite_digits.py [--epochs 12] [--qat-epochs 2]

A small CNN with hard-swish, a squeeze-excite block (mean, 1x1 convs, hard-sigmoid, mul),
sigmoid gating, leaky ReLU and tanh, trained in float; then the test
accuracy (269 images) of the float model and of edgekd int8 by mse calibration and by
QAT, each run by the numpy integer reference (what the generated C computes), and the
int8 graph's op list.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from edgekd.data import load_dataset
from edgekd.quant import convert, prepare_qat, quantize, train_qat
from edgekd.quant.evaluate import int8_accuracy, torch_accuracy


class SqueezeExciteNet(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.reduce = nn.Conv2d(width, width // 4, 1)
        self.expand = nn.Conv2d(width // 4, width, 1)
        self.gate = nn.Conv2d(width, width, 1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(width * 16, 10)

    def forward(self, x):
        y = self.pool(F.hardswish(self.conv1(x)))
        y = F.leaky_relu(self.conv2(y), 0.1)
        excite = F.hardsigmoid(self.expand(F.relu(self.reduce(y.mean((2, 3), keepdim=True)))))
        y = y * excite
        y = torch.tanh(y) * torch.sigmoid(self.gate(y))
        return self.fc(y.flatten(1))


def train_float(model: nn.Module, x, y, epochs: int) -> None:
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            idx = order[start:start + 64]
            optimizer.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
    model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--qat-epochs", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = load_dataset("digits")
    x, y = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    model = SqueezeExciteNet()
    train_float(model, x, y, args.epochs)
    rows = [("float", torch_accuracy(model, data.test.x, data.test.y), "")]
    graph = quantize(model, data.train.x, "mse")
    rows.append(("int8 mse", int8_accuracy(graph, data.test.x, data.test.y),
                 " ".join(sorted({n.op for n in graph.nodes}))))
    qat = prepare_qat(model, data.train.x[:8], calib_data=data.train.x)
    train_qat(qat, x, y, epochs=args.qat_epochs, lr=1e-4)
    qat_graph = convert(qat.eval())
    rows.append(("int8 qat", int8_accuracy(qat_graph, data.test.x, data.test.y), ""))
    print(f"{'model':<10} {'accuracy':>9}  ops")
    for name, accuracy, ops in rows:
        print(f"{name:<10} {100 * accuracy:>8.2f}%  {ops}")


if __name__ == "__main__":
    main()
