"""Choosing the one object to animate: the detection of the product's category when a detector ran, else the
largest salient blob near the centre; and which blobs of a mask belong to it. Pure functions."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive

# Catalog category -> COCO classes that show such a product (YOLO's 80 classes); first match wins.
COCO_CLASSES_FOR_CATEGORY: dict[str, tuple[str, ...]] = {
    "horse": ("horse",), "pony": ("horse",), "dog": ("dog",), "puppy": ("dog",), "cat": ("cat",),
    "kitten": ("cat",), "bird": ("bird",), "sheep": ("sheep",), "cow": ("cow",), "elephant": ("elephant",),
    "bear": ("bear", "teddy bear"), "teddy": ("teddy bear",), "teddy bear": ("teddy bear",),
    "plush": ("teddy bear", "dog", "cat", "bear"), "doll": ("person", "teddy bear"), "figure": ("person",),
    "figurine": ("person",), "zebra": ("zebra",), "giraffe": ("giraffe",),
    "mug": ("cup",), "cup": ("cup",), "vase": ("vase",), "bottle": ("bottle",), "wine glass": ("wine glass",),
    "bowl": ("bowl",), "clock": ("clock",), "chair": ("chair",), "plant": ("potted plant",),
    "bicycle": ("bicycle",), "car": ("car",), "motorcycle": ("motorcycle",), "boat": ("boat",),
    "airplane": ("airplane",), "train": ("train",), "umbrella": ("umbrella",), "handbag": ("handbag",),
    "backpack": ("backpack",), "suitcase": ("suitcase",), "kite": ("kite",), "skateboard": ("skateboard",),
}


@dataclass(frozen=True)
class Detection:
    box: Box
    class_name: str
    score: float


@dataclass(frozen=True)
class Pick:
    mask: np.ndarray  # HxW bool: the blobs of the chosen object
    how: str  # "detector" | "largest-near-centre" | "none"
    note: str  # one line for the artifacts: which object was chosen and what was left out
    box: Box | None  # the detector's box for the chosen object, if one was used


def choose_detection(detections: list[Detection], category: str) -> Detection | None:
    """The most confident detection of a class that shows `category`; None when the category maps to no class
    or none was detected (then the classical choice applies)."""
    wanted = COCO_CLASSES_FOR_CATEGORY.get(category.strip().lower(), ())
    for class_name in wanted:
        matches = [d for d in detections if d.class_name == class_name]
        if matches:
            return max(matches, key=lambda d: d.score)
    return None


def pick_object(mask: np.ndarray, target: Detection | None = None) -> Pick:
    """Keep the blob that is the object (the one covering most of the detector's box, else the largest near the
    centre) plus the blobs that belong to it (inside its padded box)."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return Pick(mask, "none", "no foreground found", None)
    height, width = mask.shape
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    if target is not None:
        x0, y0, x1, y1 = target.box
        inside = np.bincount(labels[max(0, y0):y1, max(0, x0):x1].ravel(), minlength=count)[1:].astype(np.float64)
        main = int(np.argmax(inside)) + 1
        how = "detector"
        note = f"picked the detector's {target.class_name} ({target.score:.2f}) at {list(target.box)}"
    else:
        offsets = np.hypot(centroids[1:, 0] - width / 2, centroids[1:, 1] - height / 2) / np.hypot(height, width)
        main = int(np.argmax(areas * np.exp(-(offsets / 0.35) ** 2))) + 1
        how = "largest-near-centre"
        note = f"picked the largest blob near the centre ({int(areas[main - 1])} px)"
    x, y, w, h = stats[main, :4]
    pad = int(0.05 * max(w, h))
    keep = np.zeros(count, bool)
    keep[main] = True
    for index in range(1, count):
        cx, cy = centroids[index]
        belongs = x - pad <= cx <= x + w + pad and y - pad <= cy <= y + h + pad
        if belongs and stats[index, cv2.CC_STAT_AREA] >= 0.002 * areas.max():
            keep[index] = True
    others = int(count - 1 - keep[1:].sum())
    if others:
        note += f"; left out {others} other blob(s)"
    return Pick(keep[labels], how, note, target.box if target else None)
