"""Binary cells against float cells of the same size, on CPU.

1. `nas search --space binary --strategy darts` finds a binary cell pair on a small supernet
   (the DARTS recipe, few epochs, a CIFAR-10 subset).
2. The found cells are trained stand-alone with one recipe (SGD, cosine, label smoothing), and so
   is the float twin: the same cells, channels and depth with each binary op replaced by its float
   counterpart (bin_conv_k -> sep_conv_k, bin_dil_conv_k -> dil_conv_k, zeroise/pools kept) in
   the `darts` space.
3. Report test accuracy, float FLOPs, BOPs, FLOPs + BOPs/64 and params of both.

Reference (full scale, 600 epochs, 20 cells, 36 channels): BNAS-A 92.70% CIFAR-10 with binary
weights and activations; float DARTS cells reach ~97%. Here the setting is tiny, so the figures
say how this platform's binary cells train, not what the paper's do.
Headline: binary_minus_float_test_acc (negative: the price of 1-bit ops at this size).
Run: python bench/binary_cells.py [--channels 8] [--layers 5] [--epochs 5] [--train-limit 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from nas.data import DataConfig
from nas.training.standalone import StandaloneTrainer
from nas.supernet.loading import make_space
from nas.supernet.train import TrainConfig
from search_spaces.arch import Arch

FLOAT_TWIN = {"bin_conv_3x3": "sep_conv_3x3", "bin_conv_5x5": "sep_conv_5x5", "bin_dil_conv_3x3": "dil_conv_3x3",
              "bin_dil_conv_5x5": "dil_conv_5x5"}


def train(space, arch: Arch, data, epochs: int, seed: int) -> dict:
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, weight_decay=3e-4, seed=seed)
    trainer = StandaloneTrainer(space, arch, data, cfg, torch.device("cpu"))
    start = time.perf_counter()
    while trainer.epoch < cfg.epochs:
        trainer.train_epoch()
    return {**trainer.accuracy("val"), **trainer.accuracy("test"), "seconds": time.perf_counter() - start}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--search-epochs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train-limit", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(2)
    out = Path(tempfile.mkdtemp(prefix="nas-binary-bench-")) / "search"
    cmd = [sys.executable, "-m", "nas", "search", "--space", "binary", "--strategy", "darts", "-S",
           f"channels={args.channels // 2}", "-S", f"layers={args.layers}", "--data", "cifar10", "--train-limit",
           str(args.train_limit), "--epochs", str(args.search_epochs), "--force", "--random-baseline", "0",
           "--quiet", "--seed", str(args.seed), "--out", str(out)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"search failed: {done.stderr.strip().splitlines()[-1:]}")
    record = [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()][-1]
    data_cfg = DataConfig("cifar10", val_size=1000, train_limit=args.train_limit)
    data = data_cfg.load()
    options = {"channels": args.channels, "layers": args.layers}
    binary = make_space("binary", data, options)
    floats = make_space("darts", data, options)
    arch = binary.parse(record["arch"])
    genotype = str(binary.to_genotype(arch))
    twin_text = genotype
    for b, f in FLOAT_TWIN.items():
        twin_text = twin_text.replace(f"'{b}'", f"'{f}'")
    twin = floats.from_genotype(twin_text.replace("'zeroise'", "'none'"))
    print(f"binary cells: {genotype}")
    rows = []
    for name, space, a in (("binary", binary, arch), ("float twin", floats, twin)):
        result = train(space, a, data, args.epochs, args.seed)
        bops = space.bops(a) if hasattr(space, "bops") else 0
        float_flops = space.float_flops(a) if hasattr(space, "float_flops") else space.flops(a)
        rows.append((name, result, float_flops, bops, space.flops(a), space.params(a)))
        print(f"{name:>10}: test {result['test_acc']:.2f}%  val {result['val_acc']:.2f}%  float {float_flops / 1e6:.1f} "
              f"MFLOPs  {bops / 1e6:.1f} MBOPs  FLOPs+BOPs/64 {space.flops(a) / 1e6:.1f}M  params "
              f"{space.params(a) / 1e6:.3f}M  {result['seconds'] / 60:.1f} min", flush=True)
    print(f"binary_minus_float_test_acc={rows[0][1]['test_acc'] - rows[1][1]['test_acc']:.2f}")


if __name__ == "__main__":
    main()
