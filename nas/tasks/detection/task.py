"""Object detection (RetinaNet-style): images with boxes, focal + box loss, COCO mAP as objective.

The model returns a `DetectorOutput` (class logits and box deltas for every anchor, and the
anchors themselves, which depend on the input size); targets are one dict per image with "boxes"
(x1, y1, x2, y2 in input pixels) and "labels". Both training loss and evaluation work on those,
so the trainer, the supernet evaluator and recalibration need nothing detection-specific.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from nas.data.detection.data import DetectionData
from nas.data.detection.batches import DetectionLoader
from nas_common.errors import UserError
from nas.tasks.base import Forward, TrainingLoss
from nas.tasks.detection.coco_bootstrap import BOOTSTRAP_DRAWS
from nas.tasks.detection.coco_eval import coco_metrics_with_bootstrap
from nas.tasks.uncertainty import PER_IMAGE, pack_values
from nas.tasks.detection.loss import IGNORED, match_anchors, sigmoid_focal_loss
from nas_common.objective import Objective
from nas_common.registry import TASKS
from search_spaces.detection.boxes import encode
from search_spaces.detection.heads import DetectorOutput, InferenceConfig, detect


def _to_device(targets: list[dict[str, torch.Tensor]], device: torch.device) -> list[dict[str, torch.Tensor]]:
    return [{k: v.to(device) for k, v in t.items()} for t in targets]


def anchor_scale_for(data: DetectionData, quantile: float = 10.0) -> float:
    """Anchors fitted to the training boxes: the smallest anchor (`scale` x stride 8) at the
    `quantile`-th percentile of the boxes' sizes (sqrt(w h)) as the network sees them (letterboxed to
    `image_size`), never larger than RetinaNet's 4 strides and never below 1, in quarter steps.

    RetinaNet's 32-pixel smallest anchor suits COCO at 800 pixels; on small inputs with small
    objects most boxes match no anchor at IoU 0.5 and train only through their single best one
    (measured on the synthetic small-object set at 128 px: median random-backbone mAP 28.3 with 4
    strides, 50.2 with 2). Raccoon's boxes (10th percentile 87 px at 256) keep RetinaNet's 4."""
    sizes = [np.sqrt(np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)) * data.image_size
             / max(image.shape[:2]) for image, b in zip(data.train.images, data.train.boxes) if len(b)]
    if not sizes:
        return 4.0
    small = float(np.percentile(np.concatenate(sizes), quantile))
    return float(np.clip(np.floor(small / 8 * 4) / 4, 1.0, 4.0))


@TASKS.register("detection")
class Detection:
    name = "detection"
    backbone_prefix = "backbone."  # the detector holds the backbone supernet as `backbone`
    objective = Objective("val_mAP", "max", scale=100.0, unit="")

    def __init__(self, inference: InferenceConfig = InferenceConfig(), box_beta: float = 0.1) -> None:
        self.inference, self.box_beta = inference, box_beta

    def load_data(self, data_config: Any):
        return data_config.load()

    def space_options(self, data: DetectionData) -> dict[str, Any]:
        return {"num_classes": data.num_classes, "input_size": data.image_size, "anchor_scale": anchor_scale_for(data)}

    def train_loader(self, data: DetectionData, batch_size: int, seed: int, *, augment: bool = True, rank: int = 0,
                     world_size: int = 1, device: torch.device = torch.device("cpu")) -> DetectionLoader:
        return DetectionLoader(data, data.train, batch_size, seed, data.image_size, augment, rank, world_size)

    def eval_batches(self, data: DetectionData, split: str, batch_size: int, limit: int | None = None,
                     start: int = 0) -> Iterator[tuple[torch.Tensor, list[dict[str, torch.Tensor]]]]:
        part = getattr(data, split)
        end = len(part) if limit is None else min(len(part), start + limit)
        if start > 0 or end < len(part):
            part = type(part)(*(getattr(part, f)[start:end] for f in ("images", "boxes", "labels", "ids")))
        if not len(part):
            return iter(())
        return DetectionLoader(data, part, min(batch_size, len(part)), 0, data.image_size, augment=False).eval_batches()

    def split_size(self, data: DetectionData, split: str) -> int:
        """Images in a split; detection data keep no spare training images (0)."""
        return len(getattr(data, split, ()))

    def calibration_images(self, data: DetectionData, count: int, seed: int) -> torch.Tensor:
        """A fixed seeded subset of `count` training images, letterboxed, unaugmented."""
        n = len(data.train)
        if not 1 <= count <= n:
            raise UserError(f"calibration count {count} must be in [1, {n}] (the training images of {data.name})")
        idx = np.sort(np.random.default_rng([seed, 0xCA1B]).choice(n, size=count, replace=False))
        return DetectionLoader(data, data.train, 1, seed, data.image_size, augment=False).images(idx)

    def to_device(self, batch, device: torch.device):
        x, targets = batch
        return x.to(device, non_blocking=True), _to_device(targets, device)

    def training_loss(self, label_smoothing: float = 0.0) -> TrainingLoss:
        """Focal loss over the anchors that are not ignored plus smooth-L1 on the foreground
        anchors' box deltas, both divided by the number of foreground anchors (RetinaNet)."""

        def loss(out: DetectorOutput, targets: list[dict[str, torch.Tensor]]):
            cls_logits, box_deltas = out.cls_logits.float(), out.box_deltas.float()
            cls_total = box_total = cls_logits.new_zeros(())
            foreground = 0
            for logits, deltas, target in zip(cls_logits, box_deltas, targets):
                matched = match_anchors(out.anchors, target["boxes"])
                fg = matched >= 0
                valid = matched != IGNORED
                onehot = torch.zeros_like(logits)
                onehot[fg, target["labels"][matched[fg]]] = 1.0
                cls_total = cls_total + sigmoid_focal_loss(logits[valid], onehot[valid])
                if fg.any():
                    goal = encode(out.anchors[fg], target["boxes"][matched[fg]])
                    box_total = box_total + torch.nn.functional.smooth_l1_loss(
                        deltas[fg], goal, beta=self.box_beta, reduction="sum")
                foreground += int(fg.sum())
            norm = max(1, foreground)
            return (cls_total + box_total) / norm, {"cls": cls_total.detach() / norm, "box": box_total.detach() / norm}

        return loss

    @torch.no_grad()
    def evaluate(self, forward: Forward, batches: Iterable, device: torch.device, split: str = "val",
                 per_image: bool = False) -> dict[str, float]:
        """COCO metrics (percent) of the detections on every image of `batches`:
        {"<split>_mAP", "<split>_AP50", "<split>_AP75", "<split>_AP_small", ...}, and "<split>_mAP_se",
        the mAP's bootstrap standard error over the images (`nas.tasks.detection.coco_bootstrap`); `per_image`:
        also the resampled mAPs, which pair up between architectures scored on the same images."""
        images, truth, found = [], [], []
        for x, targets in batches:
            x = x.to(device)
            out = forward(x)
            sizes = [tuple(x.shape[-2:])] * len(x)
            for result, target in zip(detect(out.cls_logits, out.box_deltas, out.anchors, sizes, self.inference),
                                      targets):
                image_id = len(images) + 1
                images.append({"id": image_id, "width": int(x.shape[-1]), "height": int(x.shape[-2])})
                truth += [{"image_id": image_id, "category_id": int(c) + 1, "bbox": b.tolist()}
                          for b, c in zip(target["boxes"], target["labels"])]
                found += [{"image_id": image_id, "category_id": int(c) + 1, "bbox": b.tolist(), "score": float(s)}
                          for b, c, s in zip(result["boxes"].cpu(), result["labels"].cpu(), result["scores"].cpu())]
        categories = sorted({t["category_id"] for t in truth} | {d["category_id"] for d in found}) or [1]
        # pycocotools has no AP for an area range without objects (NaN): such figures are left out.
        metrics, resampled = coco_metrics_with_bootstrap(images, truth, found, categories, draws=BOOTSTRAP_DRAWS)
        result: dict[str, Any] = {f"{split}_{k}": v for k, v in metrics.items() if not (math.isnan(v) and k != "mAP")}
        finite = resampled[np.isfinite(resampled)] if resampled is not None else np.array([])
        result[f"{split}_mAP_se"] = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
        if per_image and len(finite) > 1:
            result[PER_IMAGE] = {f"{split}_mAP_boot": pack_values(resampled), "images": len(images)}
        return result

    def preprocessing(self, data: DetectionData) -> dict[str, Any]:
        """Saved with an exported detector: how to turn an image into its input, and the classes."""
        return {"input_size": data.image_size, "channels": 3,
                "resize": "letterbox: longer side to input_size, pad bottom/right (nas.data.detection.batches)",
                "scale": "pixels / 255, then (x - mean) / std per channel, NCHW; padding 0 after normalising",
                "mean": list(data.mean), "std": list(data.std), "classes": list(data.category_names),
                "category_ids": list(data.category_ids),
                "outputs": "DetectorOutput; boxes via search_spaces.detection.heads.detect, in input pixels",
                "inference": {k: getattr(self.inference, k) for k in self.inference.__dataclass_fields__}}

    def images_outside_test(self, data: Any) -> int:
        return len(data.train) + len(data.val)

    def chance(self, data: Any) -> float | None:
        """What an untrained detector scores: no box is found, mAP 0 (the trust check then asks the
        random architectures for a median of at least 5 mAP before a search ranks them)."""
        return 0.0
