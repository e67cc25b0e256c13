"""How well does the demo's ShuffleNet supernet rank architectures? Against stand-alone training.

The supernet is the one `make demo` trains (archived in runs/archived/shufflenet-cifar10-evolution:
ShuffleNetV2 choice blocks at width 0.25, 2 blocks per stage, 6 epochs on 20,000 CIFAR-10 training
images). `--archs` (default 16) architectures are drawn at evenly spaced FLOPs quantiles of 4x as
many random ones (no supernet score chooses them), scored on the supernet with BN recalibrated per
path (what the search uses) and with its inherited statistics, then each is trained stand-alone at
the demo's scale (`--epochs`, default 6, on the same 20,000 images) through `nas rank-check`.
Reported: Kendall tau with its 95% bootstrap interval over the architectures, Spearman rho, and the
parameter count's tau on the same architectures.

The check's directory is kept (default $NAS_CACHE_DIR/rank-check/shufflenet-demo): a killed run
goes on with the same command, finished trainings kept. `--write-known JSON` records the figure
that shufflenet searches' summaries quote (nas/evaluate/known_rankings.json).
Headline: `shufflenet_supernet_kendall_tau=<tau>`.
Run: python bench/supernet_ranking_shufflenet.py [--archs 16] [--epochs 6] [--workers 2] [--write-known JSON]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import nas  # noqa: E402  (the command as a user types it)

ROOT = Path(__file__).resolve().parents[1]
DEMO_RUN = ROOT / "runs" / "archived" / "shufflenet-cifar10-evolution"


def default_out() -> Path:
    return Path(os.environ.get("NAS_CACHE_DIR", Path.home() / ".cache" / "nas")) / "rank-check" / "shufflenet-demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=DEMO_RUN, help="the search run whose supernet is checked")
    parser.add_argument("--archs", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--write-known", type=Path, default=None, metavar="JSON",
                        help="record the figure for search summaries (nas/evaluate/known_rankings.json)")
    args = parser.parse_args()
    out = args.out or default_out() / f"{args.archs}-archs-{args.epochs}-epochs"
    started = time.perf_counter()
    resume = (out / "config.json").exists()  # a check begun before: go on with it
    argv = ["rank-check", "--run", str(args.run), "--count", str(args.archs), "--spread", "flops",
            "--epochs", str(args.epochs), "--workers", str(args.workers), "--device", "cpu", "--out", str(out)]
    if resume:
        argv = ["rank-check", "--run", str(args.run), "--resume", str(out), "--workers", str(args.workers),
                "--device", "cpu"]
    print("nas " + " ".join(argv), flush=True)
    code = nas(argv, capture=False).returncode
    if code:
        raise SystemExit(code)
    result = json.loads((out / "rank_check.json").read_text())
    corr = result["correlations"]
    ours, params = corr["recalibrated_vs_standalone"], corr["params_vs_standalone"]
    inherited = corr["inherited_vs_standalone"]
    flops = sorted(a["flops"] for a in result["archs"])
    print(f"\n{len(result['archs'])} architectures, {flops[0] / 1e6:.1f}-{flops[-1] / 1e6:.1f} MFLOPs, stand-alone "
          f"{args.epochs} epochs; {time.perf_counter() - started:.0f} s")
    for label, c in (("supernet, recalibrated BN", ours), ("supernet, inherited BN", inherited),
                     ("parameter count", params)):
        interval = ("" if c["kendall_tau_low"] is None else
                    f" (95% CI {c['kendall_tau_low']:+.2f} to {c['kendall_tau_high']:+.2f})")
        print(f"  {label:<27} Kendall tau {c['kendall_tau']:+.3f}{interval}, Spearman {c['spearman_rho']:+.3f}")
    if args.write_known is not None:
        known = json.loads(args.write_known.read_text()) if args.write_known.exists() else {}
        known.setdefault("shufflenet", {})["supernet"] = {
            "kendall_tau": round(ours["kendall_tau"], 3), "spearman_rho": round(ours["spearman_rho"], 3),
            "kendall_tau_interval": [round(ours["kendall_tau_low"], 3), round(ours["kendall_tau_high"], 3)],
            "params_kendall_tau": round(params["kendall_tau"], 3), "archs": len(result["archs"]),
            "truth": f"stand-alone validation accuracy after {args.epochs} epochs",
            "source": (f"bench/supernet_ranking_shufflenet.py, the demo's supernet (width 0.25, 6 epochs), "
                       f"{datetime.date.today().isoformat()}")}
        args.write_known.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
        print(f"recorded in {args.write_known}")
    print(f"shufflenet_supernet_kendall_tau={ours['kendall_tau']:.3f}")


if __name__ == "__main__":
    sys.exit(main())
