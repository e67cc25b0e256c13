"""What recording per-image results costs: evaluation time and bytes per record.

Classification: a ShuffleNet path (width 0.25) scored on 1,000 CIFAR-10 validation images, with and
without `per_image` (the correctness of each image, packed as bits, base64: `nas.tasks.uncertainty`).
Detection: a DetNAS detector (cpu layout, width 0.25) on the synthetic small-shapes set's validation
images: the COCO evaluation alone against the COCO evaluation plus the 200-resample bootstrap whose
resampled mAPs are what a detection record keeps (float16, base64) to pair architectures.
Baseline in the same run: the evaluation without per-image results, timed interleaved (median).
Targets: <= 5% time and <= 1 KB a record for 1,000 validation images.

Run: python bench/per_image_overhead.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved_medians  # noqa: E402

from nas.data import DetectionDataConfig, load_data  # noqa: E402
from nas.data.detection.shapes import write_shapes_coco  # noqa: E402
from nas.evaluate.supernet_evaluator import split_batches  # noqa: E402
from nas.supernet.loading import make_space  # noqa: E402
from nas.tasks import get_task  # noqa: E402
from nas.tasks.uncertainty import PER_IMAGE  # noqa: E402


def record_bytes(metrics: dict) -> int:
    return len(json.dumps(metrics.get(PER_IMAGE, {}), separators=(",", ":")))


def classification() -> tuple[float, int]:
    task = get_task("classification")
    data = load_data("cifar10-subset", val_size=1000, train_limit=256)
    space = make_space("shufflenet", data, {"width": 0.25})
    net = space.build(space.sample(np.random.default_rng(0)), torch.Generator().manual_seed(0)).eval()
    x = (torch.from_numpy(data.x_val).permute(0, 3, 1, 2).float() / 255 - torch.tensor(data.mean).view(1, 3, 1, 1)) \
        / torch.tensor(data.std).view(1, 3, 1, 1)
    batches = split_batches(x, torch.from_numpy(data.y_val).long(), 250)
    cpu = torch.device("cpu")

    def run(per_image: bool):
        with torch.no_grad():
            return task.evaluate(net, batches, cpu, per_image=per_image)

    times = interleaved_medians({"plain": lambda: run(False), "per_image": lambda: run(True)}, repeats=7)
    size = record_bytes(run(True))
    overhead = times["per_image"] / times["plain"] - 1
    print(f"classification, {len(x)} images: {times['plain'] * 1e3:.0f} ms plain, {times['per_image'] * 1e3:.0f} ms "
          f"with per-image outcomes ({100 * overhead:+.1f}%); {size} bytes a record")
    return overhead, size


def detection(folder: Path) -> tuple[float, int]:
    config = DetectionDataConfig(str(write_shapes_coco(folder, 400, test=50)), image_size=128)
    data = config.load()
    task = get_task("detection")
    space = make_space("detnas", data, {"layout": "cpu", "width": 0.25, "head_norm": "gn"}, task)
    net = space.build(space.sample(np.random.default_rng(0)), torch.Generator().manual_seed(0)).eval()
    with torch.no_grad():  # a trained head would score boxes; an untrained one needs a bias to detect any
        net.head.head.cls_out.bias.fill_(-1.0)
    batches = list(task.eval_batches(data, "val", 16))
    cpu = torch.device("cpu")

    def run(per_image: bool):
        with torch.no_grad():
            if per_image:
                return task.evaluate(net, batches, cpu, per_image=True)
            return _no_bootstrap(task, net, batches, cpu)

    times = interleaved_medians({"plain": lambda: run(False), "per_image": lambda: run(True)}, repeats=5)
    size = record_bytes(run(True))
    overhead = times["per_image"] / times["plain"] - 1
    images = len(data.val)
    print(f"detection, {images} images: {times['plain'] * 1e3:.0f} ms plain (COCO evaluation, no bootstrap), "
          f"{times['per_image'] * 1e3:.0f} ms with the bootstrap and per-image results ({100 * overhead:+.1f}%); "
          f"{size} bytes a record, whatever the number of images")
    return overhead, size


def _no_bootstrap(task, net, batches, device):
    import nas.tasks.detection.task as detection_module

    original = detection_module.BOOTSTRAP_DRAWS
    detection_module.BOOTSTRAP_DRAWS = 0
    try:
        return task.evaluate(net, batches, device)
    finally:
        detection_module.BOOTSTRAP_DRAWS = original


def main() -> None:
    torch.set_num_threads(2)
    cls_overhead, cls_bytes = classification()
    with tempfile.TemporaryDirectory() as tmp:
        det_overhead, det_bytes = detection(Path(tmp) / "shapes")
    print(f"targets: <= 5% time, <= 1024 bytes; classification {'met' if cls_overhead <= 0.05 and cls_bytes <= 1024 else 'MISSED'}, "
          f"detection {'met' if det_overhead <= 0.05 and det_bytes <= 1024 else 'MISSED'}")
    print(f"per_image_overhead_pct={100 * max(cls_overhead, det_overhead):.1f}")


if __name__ == "__main__":
    main()
