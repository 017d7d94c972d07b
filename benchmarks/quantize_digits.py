"""Int8 accuracy on digits: edgekd's PTQ methods and QAT beside PyTorch's own quantization.

    .venv/bin/python benchmarks/quantize_digits.py [--weights W.pt] [--epochs 12] [--qat-epochs 3]

Trains zoo.DigitsCNN in float (unless --weights gives a state dict), then prints the test
accuracy (269 images) of: the float model; edgekd int8 by minmax, percentile and mse
calibration and by QAT, each run by the numpy integer reference (what the generated C
computes); and torch.ao FX static quantization with the x86 and qnnpack backends.
"""
from __future__ import annotations

import argparse
import copy
import time
import warnings

import torch
import torch.nn.functional as F

from edgekd.data import Dataset, load_dataset
from edgekd.quant import convert, prepare_qat, quantize, train_qat
from edgekd.quant.evaluate import int8_accuracy, torch_accuracy
from edgekd.zoo import DigitsCNN


def train_float(model: torch.nn.Module, dataset: Dataset, epochs: int) -> None:
    generator = torch.Generator().manual_seed(0)
    x, y = torch.from_numpy(dataset.train.x), torch.from_numpy(dataset.train.y)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * ((len(x) + 63) // 64))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            idx = order[start:start + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()


def torch_ao_accuracy(model: torch.nn.Module, dataset: Dataset, backend: str) -> float:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated for torchao
        prepared = prepare_fx(copy.deepcopy(model).eval(), get_default_qconfig_mapping(backend),
                              (torch.from_numpy(dataset.train.x[:1]),))
        with torch.no_grad():
            prepared(torch.from_numpy(dataset.train.x))
        quantized = convert_fx(prepared)
    return torch_accuracy(quantized, dataset.test.x, dataset.test.y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="state dict of zoo.DigitsCNN (default: train one)")
    parser.add_argument("--epochs", type=int, default=12, help="float training epochs")
    parser.add_argument("--qat-epochs", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    dataset = load_dataset("digits")
    model = DigitsCNN()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, weights_only=True))
    else:
        train_float(model, dataset, args.epochs)
    model.eval()
    test = dataset.test
    rows = [("float32 (torch)", torch_accuracy(model, test.x, test.y), 0.0)]
    for method in ("minmax", "percentile", "mse"):
        started = time.perf_counter()
        graph = quantize(model, dataset.train.x, method)
        seconds = time.perf_counter() - started
        rows.append((f"edgekd int8 PTQ {method}", int8_accuracy(graph, test.x, test.y), seconds))
    started = time.perf_counter()
    qat_model = prepare_qat(model, dataset.train.x[:2], calib_data=dataset.train.x)
    train_qat(qat_model, dataset.train.x, dataset.train.y, epochs=args.qat_epochs)
    graph = convert(qat_model)
    rows.append((f"edgekd int8 QAT ({args.qat_epochs} epochs)",
                 int8_accuracy(graph, test.x, test.y), time.perf_counter() - started))
    for backend in ("x86", "qnnpack"):
        started = time.perf_counter()
        accuracy = torch_ao_accuracy(model, dataset, backend)
        rows.append((f"torch.ao FX int8 {backend}", accuracy, time.perf_counter() - started))

    print(f"digits test split: {len(test)} images (1 image = {100 / len(test):.2f} pp)")
    print(f"{'model':<32} {'accuracy':>9} {'seconds':>8}")
    for name, accuracy, seconds in rows:
        print(f"{name:<32} {accuracy:>9.2%} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
