"""The DARTS bilevel loop: the supernet trainer (`nas.supernet.train`) driven in "mixed" mode.

Each step first updates the architecture logits (alphas) by Adam on a batch of the validation
split, then the weights by the trainer's own SGD step on a training batch, both through the
supernet's `forward_mixed(x, softmax(alphas))`. The alphas, their optimizer and their per-epoch
trajectory live in the trainer's checkpoint, so a killed run resumes exactly where it stopped.

Second order (DARTS eq. 7-8): the validation loss is taken at the weights after one virtual SGD
step, w' = w - xi * grad_w L_train(w, a) (xi = the current weight learning rate; weight decay
included, momentum left out), and the implicit term is the finite difference
(grad_a L_train(w+, a) - grad_a L_train(w-, a)) / 2 eps with w+- = w +- eps * grad_w' L_val, eps = 0.01 / ||grad_w' L_val||.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from nas.archive.atomic import write_json_atomic
from nas.darts.alphas import ALPHAS_NAME
from nas.darts.config import DartsConfig, early_stop
from nas.supernet.train import SupernetTrainer, cosine_lr, sgd_step, to_device
from search_spaces.protocol import MixedForward
from search_spaces.weight_sharing import freeze_affine_norms


@dataclass
class DartsTrainer(SupernetTrainer):
    darts: DartsConfig = field(default_factory=DartsConfig)

    def __post_init__(self) -> None:
        if not self.darts.affine:
            fix_cell_norms(self.supernet)
        super().__post_init__()
        shape = tuple(self.space.alpha_shape)
        generator = torch.Generator().manual_seed(self.cfg.seed + 0xDA)
        init = self.darts.init_scale * torch.randn(shape, generator=generator)
        self.alphas = init.to(self.device).requires_grad_(True)
        self.arch_optimizer = torch.optim.Adam([self.alphas], lr=self.darts.arch_lr,
                                               betas=(self.darts.arch_beta1, self.darts.arch_beta2),
                                               weight_decay=self.darts.arch_weight_decay)
        # The alphas' batches: the validation split, its own seeded order (DARTS: the other half of train).
        held_out = dataclasses.replace(self.data, x_train=self.data.x_val, y_train=self.data.y_val)
        self.val_loader = self.task.train_loader(held_out, self.cfg.batch_size, self.cfg.seed + 1,
                                                 augment=self.cfg.augment, device=self.device)
        self.history: list[dict[str, Any]] = []  # per epoch: step, logits, softmax weights, aux skip weight
        self.stopped_early = False

    # ---- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "alphas": self.alphas.detach().cpu(),
                "arch_optimizer": self.arch_optimizer.state_dict(), "alpha_history": self.history,
                "darts": asdict(self.darts), "stopped_early": self.stopped_early}

    def resume(self) -> bool:
        state = self.saved_state()
        if state is None:
            return False
        if "alphas" not in state:
            from nas_common.errors import UserError

            raise UserError(f"{self.checkpoint_path} is a single-path supernet's checkpoint, not a DARTS one; "
                            "choose another --out")
        if "affine" not in state.get("darts", {}) and not self.darts.affine:
            # Started before cell BNs were affine-free by default: finish it as it began.
            for p in self.supernet.parameters():
                p.requires_grad_(True)
        self.supernet.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        with torch.no_grad():
            self.alphas.copy_(state["alphas"].to(self.device))
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.history = list(state.get("alpha_history") or [])
        self.step = int(state["step"])
        if state.get("stopped_early"):
            self.total_steps = self.step  # RobustDARTS stopped it: nothing left to train
        return True

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.alphas, dim=-1)

    # ---- one step -----------------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        lr = cosine_lr(self.cfg.lr, step, self.total_steps, self.warmup_steps)
        skip = self.darts.aux_skip_at(step, self.total_steps)
        train_batch = self.loader.batch(step)
        held_out = self.arch_step(self.val_loader.batch(step), train_batch, lr, skip)
        weights = self.weights().detach()
        metrics = sgd_step(self.supernet, lambda x: self.supernet.forward_mixed(x, weights, skip), self.optimizer,
                           self.loss_fn, train_batch, lr, self.device, self.after_backward, self.cfg.grad_clip)
        metrics["aux_skip"] = skip
        return {**metrics, **held_out}

    def _loss_and_metrics(self, batch: tuple[torch.Tensor, Any], weights: torch.Tensor, skip: float):
        x, y = batch
        x, y = x.to(self.device, non_blocking=True), to_device(y, self.device)
        return self.loss_fn(self.supernet.forward_mixed(x, weights, skip), y)

    def _loss(self, batch: tuple[torch.Tensor, Any], weights: torch.Tensor, skip: float) -> torch.Tensor:
        x, y = batch
        x, y = x.to(self.device, non_blocking=True), to_device(y, self.device)
        return self.loss_fn(self.supernet.forward_mixed(x, weights, skip), y)[0]

    def arch_step(self, val_batch, train_batch, lr: float, skip: float) -> dict[str, float]:
        """One Adam step of the alphas on the validation loss (first or second order). Returns the
        mixed forward's loss and metrics on that batch (first order), prefixed "val_": images the
        weights never train on, so the epoch means say whether the supernet as DARTS uses it (its
        mixed forward) learned."""
        self.supernet.train()
        self.arch_optimizer.zero_grad(set_to_none=True)
        held_out: dict[str, float] = {}
        if self.darts.order == 1:
            loss, metrics = self._loss_and_metrics(val_batch, self.weights(), skip)
            grad, = torch.autograd.grad(loss, [self.alphas])
            held_out = {"val_loss": float(loss.detach()), **{f"val_{k}": float(v) for k, v in metrics.items()}}
        else:
            grad = self.unrolled_gradient(val_batch, train_batch, lr, skip)
        self.alphas.grad = grad
        self.arch_optimizer.step()
        return held_out

    def unrolled_gradient(self, val_batch, train_batch, xi: float, skip: float) -> torch.Tensor:
        params = [p for p in self.supernet.parameters() if p.requires_grad]
        decay = self.cfg.weight_decay

        def grads(loss: torch.Tensor, wrt: list[torch.Tensor]) -> list[torch.Tensor]:
            out = torch.autograd.grad(loss, wrt, allow_unused=True)
            return [torch.zeros_like(t) if g is None else g for g, t in zip(out, wrt)]

        backup = [p.detach().clone() for p in params]
        g_train = grads(self._loss(train_batch, self.weights().detach(), skip), params)
        with torch.no_grad():  # w' = w - xi * (grad + weight decay): one virtual SGD step
            for p, g in zip(params, g_train):
                p.sub_(xi * (g + decay * p))
        val_grads = grads(self._loss(val_batch, self.weights(), skip), [self.alphas, *params])
        d_alpha, d_w = val_grads[0], val_grads[1:]
        with torch.no_grad():
            for p, b in zip(params, backup):
                p.copy_(b)
        norm = torch.sqrt(sum((g * g).sum() for g in d_w))
        if float(norm) == 0.0:
            return d_alpha
        eps = 0.01 / norm

        def alpha_grad_at(sign: float) -> torch.Tensor:
            with torch.no_grad():
                for p, b, g in zip(params, backup, d_w):
                    p.copy_(b + sign * eps * g)
            return grads(self._loss(train_batch, self.weights(), skip), [self.alphas])[0]

        hessian_vector = (alpha_grad_at(1.0) - alpha_grad_at(-1.0)) / (2 * eps)
        with torch.no_grad():
            for p, b in zip(params, backup):
                p.copy_(b)
        return d_alpha - xi * hessian_vector

    # ---- RobustDARTS ---------------------------------------------------------------------------------
    def dominant_eigenvalue(self, iterations: int = 20) -> float:
        """Largest-magnitude eigenvalue of the Hessian of the validation loss w.r.t. the alphas, on
        the validation split's first batch (fixed, so epochs compare), by power iteration on
        Hessian-vector products (double backward)."""
        self.supernet.train()
        loss = self._loss(self.val_loader.batch(0), self.weights(), 0.0)
        grad, = torch.autograd.grad(loss, [self.alphas], create_graph=True)
        vector = torch.randn(self.alphas.shape, generator=torch.Generator().manual_seed(0)).to(self.device)
        vector = vector / vector.norm()
        value = 0.0
        for i in range(iterations):
            product, = torch.autograd.grad(grad, [self.alphas], grad_outputs=vector, retain_graph=i < iterations - 1)
            value = float((product * vector).sum())
            norm = product.norm()
            if float(norm) == 0.0:
                return 0.0
            vector = product / norm
        return value

    def stop_early(self) -> None:
        """Stop now and keep the alphas of `es_window` epochs ago (before the curvature grew)."""
        kept = self.history[-1 - self.darts.es_window]
        with torch.no_grad():
            self.alphas.copy_(torch.tensor(kept["logits"], device=self.device))
        self.history[-1]["early_stop"] = {"kept_epoch": kept["epoch"]}
        self.stopped_early = True
        self.total_steps = self.step

    # ---- epoch ends: the trajectory -----------------------------------------------------------------
    def checkpoint(self, summary: dict[str, float], epoch_end: bool) -> None:
        if epoch_end and (not self.history or self.history[-1]["step"] != self.step):
            entry = {"epoch": int(summary["epoch"]), "step": self.step,
                     "aux_skip": self.darts.aux_skip_at(self.step, self.total_steps),
                     "logits": self.alphas.detach().cpu().tolist(), "weights": self.weights().detach().cpu().tolist()}
            if self.darts.guard == "robust":
                entry["hessian_eigenvalue"] = self.dominant_eigenvalue()
                summary["hessian_eigenvalue"] = entry["hessian_eigenvalue"]
            self.history.append(entry)
            if self.darts.guard == "robust" and self.step < self.total_steps and early_stop(
                    [e["hessian_eigenvalue"] for e in self.history], self.darts.es_window, self.darts.es_factor):
                self.stop_early()
        super().checkpoint(summary, epoch_end)
        if epoch_end and self.rank == 0:
            write_alphas(self.out_dir / ALPHAS_NAME, self.space, self.alphas, self.history)


def fix_cell_norms(supernet: torch.nn.Module) -> None:
    """DARTS's affine-free search cells on any supernet: every BatchNorm inside a search cell (a
    module with `forward_mixed` below the supernet itself) gets scale 1 and shift 0, frozen."""
    freeze_affine_norms(m for m in supernet.modules() if m is not supernet and isinstance(m, MixedForward))


def write_alphas(path, space, alphas: torch.Tensor, history: list[dict[str, Any]]) -> None:
    """alphas.json (`nas.darts.alphas`): the logits now, the options along the last axis, and the
    per-epoch softmax weights."""
    write_json_atomic(path, {"ops": list(space.alpha_ops), "shape": list(space.alpha_shape),
                             "logits": alphas.detach().cpu().tolist(), "epochs": history})


def darts_training(darts: DartsConfig) -> dict[str, Any]:
    """`nas.supernet.pipeline.train_into` keywords that train the supernet by DARTS."""
    return {"trainer": functools.partial(DartsTrainer, darts=darts), "extra": {"darts": asdict(darts)},
            "label": "darts"}
