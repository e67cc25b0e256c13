"""`nas scale`: EfficientNet's compound scaling of a base architecture, trained on our data."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.config.request import data_config
from nas.cli.types import width_value
from nas.cli import options
from nas.cli.retrain import add_retrain_options, cluster_options, resumed, train_config
from nas_common.errors import UserError

EXAMPLES = ("examples: nas scale --arch best.arch.json --epochs 5 --max-candidates 4 --phi 2 --out runs/scale;  "
            "nas scale --run runs/RUN --epochs 10 --out runs/scale;  nas scale --resume runs/scale")


def coefficients(text: str) -> tuple[float, float, float]:
    """`ALPHA,BETA,GAMMA` (depth, width, resolution per phi)."""
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not ALPHA,BETA,GAMMA (e.g. 1.2,1.1,1.15)")
    return values  # type: ignore[return-value]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scale", help="compound scaling (EfficientNet) of an architecture, trained on Ray Tune",
                       description="Step 1: scale the base to phi = 1 with each (alpha, beta, gamma) of a small "
                                   "grid (alpha*beta^2*gamma^2 ~ 2), train each briefly from scratch, keep the "
                                   "best. Step 2: the family phi = 1..N (depth alpha^phi, width beta^phi, "
                                   "resolution gamma^phi), and depth, width and resolution scaled alone to the "
                                   "same FLOPs. Writes <out>/scale.json and scale.png.")
    base = p.add_argument_group("base architecture")
    base.add_argument("--arch", default=None, help="architecture JSON or file (mbconv, shufflenet)")
    base.add_argument("--run", type=Path, default=None, help="take the best architecture of this search run")
    base.add_argument("--space", default=None, help="refuse an --arch of another space")
    base.add_argument("--width", type=width_value, default=None, help="base width multiplier (--arch)")
    options.add_space_option_flag(p)
    grid = p.add_argument_group("grid (step 1)")
    grid.add_argument("--grid-step", type=options.positive_float, default=0.05,
                      help="spacing of alpha, beta, gamma on the grid (default: %(default)s)")
    grid.add_argument("--grid-tolerance", type=options.positive_float, default=0.05,
                      help="alpha*beta^2*gamma^2 within this fraction of 2 (default: %(default)s)")
    grid.add_argument("--max-candidates", type=options.positive_int, default=6,
                      help="candidates trained, spread over the grid (default: %(default)s)")
    grid.add_argument("--candidate", type=coefficients, action="append", default=[], metavar="A,B,G",
                      help="try exactly these candidates (repeatable) instead of the grid")
    fam = p.add_argument_group("family (step 2)")
    fam.add_argument("--phi", type=options.positive_int, default=3, help="family up to phi = N (default: %(default)s)")
    fam.add_argument("--no-ablation", action="store_true", help="skip depth/width/resolution scaled alone")
    options.add_data_options(p)
    add_retrain_options(p)
    p.add_argument("--out", type=Path, default=None, help="run directory of the scaling (required: a new run, or the run a bare --resume continues)")
    p.epilog = EXAMPLES
    p.set_defaults(handler=run)


def base_from_args(args: argparse.Namespace):
    """(space name, base space, base arch, data config, source) from --arch or --run."""
    from nas.archive import RunDir, ranked
    from nas.cli.arch_input import read_arch, space_named_by, space_options_carried_by
    from nas.data import data_config_from_dict
    from nas_common.registry import SPACES
    from nas.supernet.loading import space_on_data

    if args.arch is not None:
        name = space_named_by(args.arch)
        data_cfg = data_config(args, SPACES.get(name).task)
        opts = {**space_options_carried_by(args.arch), **options.space_options(args)}
        space = space_on_data(name, data_cfg, opts)
        return name, space, read_arch(args.arch, space), data_cfg, {"arch": args.arch}
    run = RunDir.open(args.run)
    config = run.read_config()
    if config.get("kind", "search") != "search":
        raise UserError(f"--run {args.run} is not a search run (kind {config.get('kind')!r}); pass a `nas search` run")
    if args.width is not None or args.space_option:
        raise UserError("--width/-S set the base of an --arch; with --run the run's space options are the base")
    best = ranked(run.read_records(), run.objective())[:1]
    if not best:
        raise UserError(f"--run {args.run} has no evaluated architecture yet")
    name = config["space"]
    data_cfg = data_config_from_dict(config["data"]) if config.get("data") else \
        data_config(args, SPACES.get(name).task)
    space = space_on_data(name, data_cfg, config.get("space_options") or {})
    return name, space, space.parse(best[0]["arch"]), data_cfg, {"run": str(args.run), "arch_hash": best[0]["arch_hash"]}


def job_from_args(args: argparse.Namespace):
    from nas.scaling.run import ScaleJob, check_candidates
    from nas.scaling.grid import compound_grid, space_multipliers, spread

    if (args.arch is None) == (args.run is None):
        raise UserError("give the base as --arch ARCH or --run RUN_DIR (its best architecture)")
    name, space, arch, data_cfg, source = base_from_args(args)
    if args.space is not None and args.space != name:
        raise UserError(f"the base architecture is of space {name!r}, not {args.space!r}")
    dims = space_multipliers(space)
    if not dims:
        raise UserError(f"space {name!r} has no width, depth or resolution multiplier to scale; "
                        "nas scale takes an architecture of mbconv or shufflenet")
    if args.candidate:
        candidates = list(dict.fromkeys(args.candidate))
        check_candidates(candidates, dims, tolerance=args.grid_tolerance)
    else:
        try:
            grid = compound_grid(args.grid_step, tolerance=args.grid_tolerance, dims=dims)
        except ValueError as err:
            raise UserError(f"--grid-step/--grid-tolerance: {err}") from None
        if not grid:
            raise UserError(f"no (alpha, beta, gamma) on a {args.grid_step:g} grid (each >= 1, only "
                            f"{', '.join(dims)} above 1) has alpha*beta^2*gamma^2 within {args.grid_tolerance:.0%} "
                            "of 2; widen --grid-tolerance or refine --grid-step")
        candidates = spread(grid, args.max_candidates)
    return ScaleJob(name, space.config(), arch, data_cfg, train_config(args, args.epochs, data_cfg), tuple(candidates),
                    args.phi, not args.no_ablation, test=args.test, source=source)


def run(args: argparse.Namespace) -> int:
    from nas.scaling.run import scale

    if resumed(args, "scale", "the scaling", "the saved base and grid"):
        job = None
    else:
        job = job_from_args(args)
    summary = scale(args.out, job, resume=args.resume, **cluster_options(args))
    print(format_summary(summary))
    print(f"scaled {summary['space']}: {args.out}/scale.json, {args.out}/scale.png")
    return 0


def format_summary(summary: dict) -> str:
    """The grid (step 1) and the family with the single-dimension scalings (step 2), as tables."""
    from nas.archive import format_table
    from nas.tasks import get_task

    objective = get_task(summary["task"]).objective
    metric = objective.metric
    test = "test_" + metric.removeprefix("val_")

    def shown(entry, dim):  # a multiplier moved off its nominal value to land on the FLOPs is starred
        value, nominal = entry["multipliers"].get(dim, 1.0), entry["nominal"].get(dim, 1.0)
        return f"{value:.3g}" + ("*" if abs(value - nominal) > 1e-9 else "")

    def rows(entries):
        out = []
        for e in entries:
            m = e["metrics"]
            size = e["options"].get("input_size")
            px = f"{round(size * e['options'].get('resolution', 1.0))}" if size else "-"
            out.append([e["name"], e["phi"], *(shown(e, d) for d in ("depth", "width", "resolution")),
                        px, f"{e['flops'] / 1e6:.1f}", f"{e['flops_vs_base']:.2f}", f"{e['params'] / 1e6:.3f}",
                        objective.format(m[metric]), objective.format(m[test]) if test in m else "-"])
        return out

    header = ["member", "phi", "depth", "width", "res", "px", "MFLOPs", "x base", "Mparams", metric, test]
    winner = summary["winner"]
    parts = ["step 1: grid at phi = 1 (alpha*beta^2*gamma^2 ~ 2)",
             format_table(header, rows([summary["base"], *summary["grid"]])),
             "winner: alpha={:g} beta={:g} gamma={:g}".format(*winner["coefficients"]) +
             f" (product {winner['product']:.3f})",
             "step 2: compound family and single-dimension scalings at the same FLOPs",
             format_table(header, rows(sorted(summary["family"] + summary["ablation"],
                                              key=lambda e: (e["phi"], e["kind"] != "compound", e["kind"])))),
             "* moved from its nominal value (alpha^phi, beta^phi, gamma^phi; alone: depth 2^phi, width or resolution "
             "2^(phi/2)) so "
             "the FLOPs land on 2^phi x base: channels round to 8, depths to blocks, inputs to pixels"]
    comparisons = summary.get("comparisons") or []
    if comparisons:
        parts.append(f"compound vs one dimension at the same FLOPs ({metric}, 95% interval of the difference):")
        parts += [f"  phi {c['phi']}: compound - {c['kind']} alone = {c['difference']:+.2f} ± {1.96 * c['se']:.2f}"
                  f"{objective.unit}: {c['verdict']}" for c in comparisons]
    return "\n".join(parts)
