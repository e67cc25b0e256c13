"""The detection task in one place: RetinaNet's loss (`loss`), COCO mAP with per-image bootstrap
uncertainty (`coco_eval`, `coco_bootstrap`), and the task itself (`task`, registered as "detection").
Its data lives in `nas.data.detection`, its networks in `search_spaces.detection`."""

from nas.tasks.detection import task  # noqa: F401  (registers "detection")
