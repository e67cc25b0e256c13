"""COCO-format detection data: the bundled raccoon set, awkward inputs, malformed files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image

from nas.data import data_root
from nas.data.detection.data import load_detection
from nas_common.errors import UserError

RACCOON = data_root() / "raccoon" / "raccoon_coco.json"


@pytest.mark.skipif(not RACCOON.is_file(), reason="shared raccoon data not available")
def test_raccoon_splits_boxes_and_labels():
    data = load_detection(RACCOON, max_size=160, val_size=32, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (128, 32, 40)
    assert data.num_classes == 1 and data.category_names == ["raccoon"]
    for split in (data.train, data.val, data.test):
        for image, boxes, labels in zip(split.images, split.boxes, split.labels):
            h, w, c = image.shape
            assert c == 3 and max(h, w) <= 160
            assert len(boxes) == len(labels) >= 1 and (labels == 0).all()
            assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
            assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    again = load_detection(RACCOON, max_size=160, val_size=32, seed=0)
    assert again.val.ids == data.val.ids and set(data.val.ids).isdisjoint(data.train.ids)


def _write_set(folder, annotations, images=None, categories=None):
    images = images or [{"id": 7, "file_name": "a.png", "width": 40, "height": 30},
                        {"id": 9, "file_name": "sub/b.png", "width": 20, "height": 20},
                        {"id": 11, "file_name": "c.png", "width": 20, "height": 20}]
    (folder / "sub").mkdir(exist_ok=True)
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(folder / "a.png")
    Image.fromarray(np.full((20, 20), 90, np.uint8)).save(folder / "sub" / "b.png")  # grayscale
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(folder / "c.png")
    path = folder / "set.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": categories or [{"id": 42, "name": "cat"}, {"id": 5, "name": "dog"}]}))
    return path


def test_awkward_but_valid_input_is_handled(tmp_path):
    anns = [{"image_id": 7, "category_id": 42, "bbox": [30, 20, 20, 20]},   # runs off the image: clipped
            {"image_id": 7, "category_id": 5, "bbox": [5, 5, 0, 10]},       # degenerate: dropped
            {"image_id": 9, "category_id": 5, "bbox": [-4, 2, 10, 10]}]     # negative x: clipped
    path = _write_set(tmp_path, anns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_detection(path, val_size=1, seed=0)
    assert any("dropped 1 box" in str(w.message) for w in caught)
    assert data.category_ids == [5, 42] and data.category_names == ["dog", "cat"]
    everything = {i: (b, lab, im) for s in (data.train, data.val) for i, b, lab, im in zip(s.ids, s.boxes, s.labels, s.images)}
    boxes, labels, image = everything[7]
    np.testing.assert_array_equal(boxes, [[30, 20, 40, 30]]) and np.testing.assert_array_equal(labels, [1])
    boxes, labels, image = everything[9]
    assert image.shape == (20, 20, 3)  # grayscale -> RGB
    np.testing.assert_array_equal(boxes, [[0, 2, 6, 12]]) and np.testing.assert_array_equal(labels, [0])
    assert everything[11][0].shape == (0, 4)  # an image without boxes is kept


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a readable COCO json"),
    (json.dumps({"images": []}), "not COCO format"),
    (json.dumps({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1]}],
                 "categories": [{"id": 1}]}), "malformed COCO data: an entry lacks the key 'category_id'"),
    (json.dumps({"images": [{"id": 1, "file_name": "missing.png"}],
                 "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1], "category_id": 1}], "categories": [{"id": 1}]}),
     "not found"),
    # nonsense that used to be accepted (issue 25): each is one line naming what is wrong
    *[(json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1}]}), message)
      for images, annotations, message in [
          ([{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}], [], "image id 1 is listed twice"),
          ([{"id": 1}], [], "image 1 has no file_name"),
          ([{"id": 1, "file_name": "a.png"}], [], "has no annotations"),
          ([{"id": 1, "file_name": "a.png"}], [{"image_id": 1, "bbox": [0, 0, float("nan"), 5], "category_id": 1}],
           "four finite numbers"),
          ([{"id": 1, "file_name": "a.png"}], [{"image_id": 1, "bbox": "1234", "category_id": 1}], "four finite numbers"),
          ([{"id": 1, "file_name": "a.png"}], [{"image_id": 1, "bbox": [0, 0, 5], "category_id": 1}], "four finite numbers"),
          ([{"id": 1, "file_name": "a.png"}], [{"image_id": 1, "bbox": [0, 0, 5, 5], "category_id": 1.5}],
           "category_id must be an integer, got '1.5'"),
          ([{"id": 1, "file_name": "a.png"}], [{"image_id": 2, "bbox": [0, 0, 5, 5], "category_id": 1}],
           "refers to image 2, which is not listed"),
          ([{"id": 1, "file_name": "a.png"}], [{"image_id": 1, "bbox": [0, 0, 5, 5], "category_id": 7}],
           "has category 7, which is not listed"),
          ([{"id": True, "file_name": "a.png"}], [], "an image id must be an integer"),
      ]],
])
def test_malformed_input_is_one_user_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_detection(path)
