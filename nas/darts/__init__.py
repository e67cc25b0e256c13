"""DARTS (Liu et al., ICLR 2019): differentiable architecture search on a space's mixed forward.

`config` holds the options (light: no torch), `trainer` the bilevel training loop (the supernet
trainer in "mixed" mode), `alphas` the saved trajectory and its plot. `nas search --strategy darts`
trains the mixed supernet into the run's `supernet/` folder, then the `darts` strategy proposes the
discretised architecture, which the run's evaluator scores like any other.
"""
