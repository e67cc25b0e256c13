"""`nas lut build` and `nas lut check`: latency lookup tables of this machine (`nas.constraints.latency`)."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from nas.cli.options import space_option
from nas.cli.types import non_negative_int, positive_int, seed_value, width_value
from nas_common.errors import UserError
from search_spaces.protocol import LatencyParts


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lut", help="build and check latency lookup tables of this machine",
                       description="Time every part of a space's networks on this machine (eval, no gradients, "
                                   "fixed threads, median of repeats after warm-up) into a table that predicts an "
                                   "architecture's latency for --max-latency; check it against whole networks.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="measure the table",
                               epilog="example: nas lut build --space mbconv -S input_size=32 -S num_classes=10 "
                                      "--out lut.json")
    build.add_argument("--space", default="mbconv", help="space (default: %(default)s; tables exist for mbconv)")
    build.add_argument("--width", type=width_value, default=None, help="width multiplier of the space")
    build.add_argument("-S", "--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE",
                       help="space option, repeatable; the table is only valid for these options")
    build.add_argument("--batch-size", type=positive_int, default=1, help="images per forward (default: %(default)s)")
    build.add_argument("--threads", type=positive_int, default=1, help="torch threads (default: %(default)s)")
    build.add_argument("--warmup", type=positive_int, default=5, help="untimed runs per part (default: %(default)s)")
    build.add_argument("--repeats", type=positive_int, default=20, help="timed runs per part, median (default: %(default)s)")
    build.add_argument("--calibration", type=non_negative_int, default=5,
                       help="whole random networks timed to correct the sum of parts (default: %(default)s; 0: none)")
    build.add_argument("--out", type=Path, required=True, help="table file to write (JSON)")
    build.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    build.set_defaults(handler=run_build)
    check = actions.add_parser("check", help="predicted vs measured latency of random architectures",
                               epilog="example: nas lut check --lut lut.json --count 20")
    check.add_argument("--lut", type=Path, required=True, help="a table written by `nas lut build`")
    check.add_argument("--count", "--archs", dest="archs", type=positive_int, default=20,
                       help="how many random architectures (default: %(default)s; --archs is the old name)")
    check.add_argument("--seed", type=seed_value, default=0, help="default: %(default)s")
    check.set_defaults(handler=run_check)


def _space(name: str, options: dict):
    from nas_common.registry import SPACES

    try:
        return SPACES.get(name)(**options)
    except (TypeError, ValueError) as err:
        raise UserError(f"space {name!r}: {err}") from None


def run_build(args: argparse.Namespace) -> int:
    from nas_common.progress import progress

    from nas.archive.atomic import check_output_file
    from nas.constraints.latency import build_table

    check_output_file(args.out, args.overwrite)
    options = dict(args.space_option)  # parsed by argparse: a malformed -S is a usage error
    if args.width is not None:
        options["width"] = args.width
    space = _space(args.space, options)
    if not isinstance(space, LatencyParts):
        raise UserError(f"space {args.space!r} has no latency parts; latency tables exist for: mbconv")
    fixed, rows = space.parts(1)
    with progress(total=len(fixed) + sum(len(r) for r in rows), desc="lut", unit="part", file=sys.stderr,
                  dynamic_ncols=True) as bar:
        table = build_table(space, batch_size=args.batch_size, threads=args.threads, warmup=args.warmup,
                            repeats=args.repeats, calibration=args.calibration, on_part=lambda: bar.update(1))
    table.save(args.out)
    smallest = table.fixed_us + sum(min(r) for r in table.options_us)
    print(f"wrote {args.out}: {len(table.options_us)} positions x {len(table.options_us[0])} options; fixed parts "
          f"{table.fixed_us / 1000:.2f} ms; {args.threads} thread(s), batch {args.batch_size}")
    print(f"every block at its fastest option: {smallest / 1000:.2f} ms (blocks beyond a stage's depth cost nothing); "
          f"whole networks take {table.correction:.3f} x the sum of their parts (predictions are scaled by it)")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from nas.constraints.latency import LatencyTable, check_table

    table = LatencyTable.load(args.lut)
    space = _space(table.space, table.space_config)

    def show(row) -> None:
        arch, predicted, measured = row
        print(f"{arch.hash}  predicted {predicted / 1000:7.2f} ms  measured {measured / 1000:7.2f} ms  "
              f"error {100 * (predicted - measured) / measured:+6.1f}%", flush=True)

    rows = check_table(space, table, args.archs, args.seed, on_arch=show)
    errors = [abs(p - m) / m for _, p, m in rows]
    print(f"mean absolute error {100 * statistics.mean(errors):.1f}% over {len(rows)} architectures "
          f"(target <= 10%: {'met' if statistics.mean(errors) <= 0.10 else 'MISSED'})")
    return 0
