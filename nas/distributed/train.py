"""Data-parallel SPOS supernet training on Ray Train (`TorchTrainer`; gloo on CPU, NCCL on GPU).

Every rank builds the same supernet from the same init seed and trains the same path at each step:
`path_for_step(space, seed, step)` is a pure function, so ranks agree without talking. Each rank
takes its slice of the global batch (`TrainLoader(rank=, world_size=)`). Agreement is checked, not
assumed: every step the ranks all-gather a digest of their path and stop on a mismatch; rank 0 logs
the path hash per step to `paths.jsonl`.

Gradients are averaged by one all-reduce of the parameters that have a gradient, instead of DDP.
Only the sampled path gets gradients; DDP would need `find_unused_parameters=True`, which walks the
autograd graph every step to find the (many) unused candidates and reduces fixed buckets that mix
used and unused parameters. Here the set of parameters with a gradient is the same on every rank
(same path), so the ranks flatten the same list in the same order: one collective per step, and
off-path candidates keep `grad=None`, so SGD skips them exactly as in single-process training (no
momentum or weight-decay drift).

Checkpoints: rank 0 writes the single-process `supernet.pt` into the run directory (the format
`load_supernet_run` reads) and hands Ray Train the same file via `ray.train.report`; a rerun with
the same run directory resumes from Ray Train's latest checkpoint, or else from `supernet.pt`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from nas_common.errors import UserError
from nas.supernet.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from nas.data import DataConfig, data_config_from_dict
from nas.supernet.backbone import load_backbone
from nas.supernet.loading import make_space
from nas.tasks import get_task
from nas.supernet.pipeline import open_supernet_run, supernet_run_config
from nas.supernet.train import SupernetTrainer, TrainConfig, path_for_step

PATH_LOG = "paths.jsonl"


def path_digest(arch_hash: str) -> float:
    """The first 52 bits of an arch hash: exact in a float64, so it rides in one tensor with the loss."""
    return float(int(arch_hash[:13], 16))


def average_gradients(model: torch.nn.Module, world_size: int) -> None:
    """Mean of the gradients over ranks, one flat all-reduce of the parameters that have one."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads or world_size == 1:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


class RankTrainer(SupernetTrainer):
    """The supernet trainer on one Ray Train rank: same loop, resume and log as one process; the
    checkpoint comes from Ray Train when it has one, each step's path digest and metrics are
    all-gathered (ranks that disagree on the path stop), and rank 0 saves and reports."""

    def saved_state(self) -> dict[str, Any] | None:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            return super().saved_state()
        with checkpoint.as_directory() as folder:
            return load_checkpoint(Path(folder) / CHECKPOINT_NAME)

    def combine(self, step: int, metrics: dict[str, float]) -> dict[str, float]:
        arch_hash = path_for_step(self.space, self.cfg.seed, step, self.pool).hash
        names = list(metrics)
        local = torch.tensor([path_digest(arch_hash), *(metrics[k] for k in names)], dtype=torch.float64)
        gathered = [torch.zeros_like(local) for _ in range(self.world_size)]
        dist.all_gather(gathered, local)
        digests = {float(t[0]) for t in gathered}
        if len(digests) != 1:
            raise RuntimeError(f"ranks trained different paths at step {step}: {sorted(digests)}")
        mean = {k: float(np.mean([float(t[1 + i]) for t in gathered])) for i, k in enumerate(names)}
        if self.rank == 0:
            with open(self.out_dir / PATH_LOG, "a") as f:
                f.write(json.dumps({"step": step, "path_hash": arch_hash, "ranks": self.world_size,
                                    "ranks_agree": True, "loss": mean["loss"]}) + "\n")
        return mean

    def checkpoint(self, summary: dict[str, float], epoch_end: bool) -> None:
        """Every rank calls this (it is a barrier); rank 0 saves and attaches the checkpoint."""
        import ray.train

        last_path = path_for_step(self.space, self.cfg.seed, self.step - 1, self.pool)
        metrics = {**summary, "path_hash": last_path.hash}
        if self.rank != 0:
            ray.train.report(metrics)
            return
        state = self.state_dict()
        save_checkpoint(state, self.checkpoint_path)
        with tempfile.TemporaryDirectory() as folder:
            torch.save(state, Path(folder) / CHECKPOINT_NAME)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


def train_loop(config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device() if config["use_gpu"] else torch.device("cpu")
    if device.type == "cpu":
        torch.set_num_threads(config["threads_per_worker"])
    cfg = TrainConfig(**config["train"])
    data_config = data_config_from_dict(config["data"])
    task = get_task(data_config.task)
    data = data_config.load()
    space = make_space(config["space"], data, config["space_options"], task)
    supernet = space.supernet(torch.Generator().manual_seed(cfg.seed))  # same init on every rank
    if cfg.backbone:
        load_backbone(supernet, cfg.backbone, space)
    if config["sync_bn"]:
        supernet = torch.nn.SyncBatchNorm.convert_sync_batchnorm(supernet)
    trainer = RankTrainer(space, supernet, data, cfg, Path(config["out"]), device, rank=rank, world_size=world,
                          task=task)
    trainer.after_backward = lambda: average_gradients(trainer.supernet, world)
    trainer.run()


def train_distributed(out: Path, space_name: str, space_opts: dict, data_cfg: DataConfig, train_cfg: TrainConfig,
                      workers: int, *, use_gpu: bool = False, sync_bn: bool = False) -> dict[str, Any]:
    """Train (or resume) a supernet in `out` on `workers` Ray Train workers; needs a connected Ray.
    Returns the last reported metrics."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if workers < 1:
        raise UserError(f"--workers must be positive, got {workers}")
    if train_cfg.batch_size % workers:
        raise UserError(f"--batch-size {train_cfg.batch_size} is not divisible by --workers {workers}; "
                        "the global batch is split evenly across workers")
    if sync_bn and not use_gpu:
        raise UserError("--sync-bn needs GPU workers (torch's SyncBatchNorm has no CPU kernel); drop it on CPU")
    out = Path(out).resolve()
    data = data_cfg.load()
    space = make_space(space_name, data, space_opts, get_task(data_cfg.task))
    config = supernet_run_config(space_name, space.config(), data_cfg, train_cfg)
    config["distributed"] = {"workers": workers, "sync_bn": sync_bn}
    open_supernet_run(out, config, hint=", --workers included,")
    finished = _finished(out)
    if finished is not None:  # resuming a finished training: nothing to do, no workers to start
        return finished
    loop_config = {"out": str(out), "train": asdict(train_cfg), "data": asdict(data_cfg), "space": space_name,
                   "space_options": space_opts, "use_gpu": use_gpu, "sync_bn": sync_bn, "threads_per_worker": 1}
    trainer = TorchTrainer(
        train_loop, train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": 1}),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(name="supernet", storage_path=str(out / "ray_train")))
    result = trainer.fit()
    return dict(result.metrics or {})


def _finished(out: Path) -> dict[str, Any] | None:
    """The last epoch's metrics when the run's checkpoint has reached its last step, else None."""
    from nas.supernet.checkpoint import CHECKPOINT_NAME, load_checkpoint
    from nas.supernet.train import read_training_log

    if not (out / CHECKPOINT_NAME).is_file():
        return None
    state = load_checkpoint(out / CHECKPOINT_NAME)
    if int(state.get("step", 0)) < int(state.get("total_steps", 1 << 62)):
        return None
    log = out / "training.jsonl"
    return read_training_log(log)[-1] if log.is_file() else {}
