"""PASCAL VOC annotations (one XML file per image) read as the COCO dict `nas.data.detection.data` loads.

A VOC set is a folder (or a ZIP) holding the XML files, directly or under `Annotations/` or
`annotations/`, and the images under `JPEGImages/`, `images/` or next to the XML files (looked up
in that order, by the XML's `<filename>`). Boxes become COCO's [x, y, w, h] with x = xmin and
w = xmax - xmin (the convention of the bundled raccoon json, so both files of that set load the
same boxes). Category ids are 1..K in the sorted order of the class names. Images listed in
`ImageSets/Main/test.txt` form the test split. Objects marked `difficult` are kept (COCO has no
such flag).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from nas_common.errors import UserError

_IMAGE_FOLDERS = ("JPEGImages", "images", "")


class _Files:
    """Relative names and bytes of a folder's files, or of a ZIP's members."""

    def __init__(self, root: Path) -> None:
        self.root = root
        if root.is_file():
            try:
                self._zip: zipfile.ZipFile | None = zipfile.ZipFile(root)
            except zipfile.BadZipFile:
                raise UserError(f"{root} is neither a COCO json nor a ZIP of a VOC set") from None
            self.names = [n for n in self._zip.namelist() if not n.endswith("/")]
        else:
            self._zip = None
            self.names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        self._known = set(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self._known

    def read(self, name: str) -> bytes:
        return self._zip.read(name) if self._zip is not None else (self.root / name).read_bytes()


def _text(node: ElementTree.Element, path: str, where: str) -> str:
    found = node.find(path)
    if found is None or found.text is None:
        raise UserError(f"{where}: VOC annotation lacks <{path}>")
    return found.text.strip()


def read_voc(root: str | Path) -> tuple[dict[str, Any], "_Files"]:
    """(COCO dict with `images`, `annotations`, `categories`, each image's `split`; the files to
    read the images from)."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"VOC data {root} not found")
    files = _Files(root)
    xmls = sorted(n for n in files.names if n.lower().endswith(".xml"))
    if not xmls:
        raise UserError(f"{root} holds no VOC XML annotations (expected Annotations/*.xml)")
    test_names = set()
    for name in files.names:
        if PurePosixPath(name).parts[-3:] == ("ImageSets", "Main", "test.txt"):
            try:
                test_names |= set(files.read(name).decode("utf-8").split())
            except UnicodeDecodeError:
                raise UserError(f"{root}/{name} is not a text file (not UTF-8): it should list one image "
                                "name per line") from None
    records, class_names = [], set()
    for name in xmls:
        try:
            tree = ElementTree.fromstring(files.read(name))
        except ElementTree.ParseError as err:
            raise UserError(f"{root}/{name} is not valid XML ({err})") from None
        filename = _text(tree, "filename", name)
        folder = PurePosixPath(name).parent
        base = folder.parent if folder.name.lower() == "annotations" else folder
        candidates = [str(base / sub / filename) if sub else str(folder / filename) for sub in _IMAGE_FOLDERS]
        image = next((c.removeprefix("./") for c in candidates if c.removeprefix("./") in files), None)
        if image is None:
            raise UserError(f"{root}/{name}: image {filename!r} not found under JPEGImages/, images/ or beside it")
        objects = []
        for obj in tree.findall("object"):
            label = _text(obj, "name", name)
            try:
                x1, y1, x2, y2 = (float(_text(obj, f"bndbox/{k}", name)) for k in ("xmin", "ymin", "xmax", "ymax"))
            except ValueError as err:
                raise UserError(f"{root}/{name}: box coordinate is not a number ({err})") from None
            objects.append((label, [x1, y1, x2 - x1, y2 - y1]))
            class_names.add(label)
        records.append((image, PurePosixPath(filename).stem in test_names, objects))
    category_id = {c: k + 1 for k, c in enumerate(sorted(class_names))}
    coco: dict[str, Any] = {"images": [], "annotations": [],
                            "categories": [{"id": i, "name": c} for c, i in category_id.items()]}
    for image_id, (image, is_test, objects) in enumerate(records, start=1):
        coco["images"].append({"id": image_id, "file_name": image, "split": "test" if is_test else "train"})
        coco["annotations"] += [{"id": len(coco["annotations"]) + 1, "image_id": image_id,
                                 "category_id": category_id[label], "bbox": bbox} for label, bbox in objects]
    return coco, files
