"""Connecting to Ray: a local instance for this process, or an existing cluster at an address.

An unreachable address must fail in about a second with a message, never hang: `ray.init` on a dead
address retries for a long time, so the TCP reachability of host:port is checked first.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

from nas_common.errors import UserError

CONNECT_TIMEOUT_S = 2.0


def parse_workers(text: str) -> int | str:
    """`--workers` value: "auto" or a positive integer (argparse type)."""
    import argparse

    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is neither 'auto' nor an integer") from None
    if not 0 < value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be 'auto' or an integer in 1..{MAX_WORKERS:,}, got {text[:30]}")
    return value


MAX_WORKERS = 10_000  # Ray's largest clusters run a few thousand actors


def uses_ray(workers: int | str, address: str | None) -> bool:
    """Ray is used for more than one worker, for "auto", or whenever a cluster address is given."""
    return address is not None or workers == "auto" or int(workers) > 1


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) to probe, or None for addresses that are not host:port (e.g. "auto")."""
    bare = address.split("://", 1)[-1]
    host, sep, port = bare.rpartition(":")
    if not sep:
        return None
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise UserError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379 or "
                        "ray://10.0.0.5:10001)") from None


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except OSError as err:
        raise UserError(f"--address {address}: no Ray cluster reachable ({err.strerror or err}); start one "
                        "with `ray start --head` or drop --address to run locally") from None


def check_request(workers: int | str, gpus_per_worker: float | None, address: str | None) -> None:
    """Cheap checks before anything is created: negative values, an unreachable address, GPUs asked
    for on a machine without any (local runs only; a cluster is checked once connected)."""
    if workers != "auto" and int(workers) <= 0:
        raise UserError(f"--workers must be a positive integer or 'auto', got {workers}")
    if gpus_per_worker is not None and gpus_per_worker < 0:
        raise UserError(f"--gpus-per-worker must be >= 0, got {gpus_per_worker}")
    if address is not None:
        check_reachable(address)
    elif gpus_per_worker:
        import torch

        if torch.cuda.device_count() == 0:
            raise UserError(f"--gpus-per-worker {gpus_per_worker}: this machine has no GPU; "
                            "drop the option (or use --address to reach a cluster with GPUs)")


@contextlib.contextmanager
def connect(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Ray for the duration of the block. With `address`, join that cluster (left running at the end);
    without, start a local instance and shut it down at the end. Already connected: reuse it."""
    import ray

    if ray.is_initialized():
        yield
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local, private instance: no token files
    if address is not None:
        check_reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, RuntimeError, TimeoutError) as err:
            raise UserError(f"--address {address}: cannot join the Ray cluster ({err}); check the "
                            "address printed by `ray start --head`") from None
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def resolve_workers(workers: int | str, gpus_per_worker: float | None = None) -> tuple[int, float]:
    """(actors, GPUs per actor) on the connected cluster.

    `gpus_per_worker` None means one GPU per worker when the cluster has GPUs, else none; "auto"
    workers is one per GPU (GPUs / gpus_per_worker) when GPUs are used, else one per CPU core.
    """
    import ray

    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    if gpus_per_worker is None:
        gpus_per_worker = 1.0 if gpus > 0 else 0.0
    if gpus_per_worker < 0:
        raise UserError(f"--gpus-per-worker must be >= 0, got {gpus_per_worker}")
    if workers == "auto":
        count = int(gpus // gpus_per_worker) if gpus_per_worker else cpus
    else:
        count = int(workers)
    if count <= 0:
        raise UserError(f"--workers must be positive, got {workers}"
                        + (f" ({gpus:g} GPUs / {gpus_per_worker:g} per worker)" if workers == "auto" else ""))
    if count * gpus_per_worker > gpus:
        raise UserError(f"{count} workers x {gpus_per_worker:g} GPUs need {count * gpus_per_worker:g} GPUs; "
                        f"the cluster has {gpus:g}. Lower --workers or --gpus-per-worker")
    if count > cpus:
        raise UserError(f"{count} workers need {count} CPUs (one each); the cluster has {cpus}. "
                        "Lower --workers")
    return count, gpus_per_worker
