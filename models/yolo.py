"""YOLO object detection from an exported ONNX file (YOLOv8/11 layout: output [1, 4 + classes, anchors] with
cx, cy, w, h in input pixels then one score per class), run with onnxruntime: letterbox, decode, NMS, undo."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import UsageError
from pipeline.object_pick import Detection

COCO_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
LETTERBOX_GREY = 114


def letterbox(rgb_u8: np.ndarray, side: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping the aspect ratio into a side x side grey square; returns it, the scale and (left, top)."""
    height, width = rgb_u8.shape[:2]
    scale = min(side / height, side / width)
    new_w, new_h = round(width * scale), round(height * scale)
    left, top = (side - new_w) // 2, (side - new_h) // 2
    square = np.full((side, side, 3), LETTERBOX_GREY, np.uint8)
    square[top:top + new_h, left:left + new_w] = cv2.resize(rgb_u8, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return square, scale, (left, top)


def decode(output: np.ndarray, scale: float, offset: tuple[int, int], image_shape: tuple[int, int],
           score_min: float = 0.25, iou_max: float = 0.45) -> list[Detection]:
    """[1, 4 + classes, anchors] raw output -> detections in the original image's pixels (class-wise NMS)."""
    predictions = output[0].T  # anchors x (4 + classes)
    class_ids = predictions[:, 4:].argmax(axis=1)
    scores = predictions[np.arange(len(predictions)), 4 + class_ids]
    keep = scores >= score_min
    boxes, scores, class_ids = predictions[keep, :4], scores[keep], class_ids[keep]
    if not len(scores):
        return []
    left, top = offset
    x0 = (boxes[:, 0] - boxes[:, 2] / 2 - left) / scale
    y0 = (boxes[:, 1] - boxes[:, 3] / 2 - top) / scale
    widths, heights = boxes[:, 2] / scale, boxes[:, 3] / scale
    chosen = cv2.dnn.NMSBoxesBatched(np.stack([x0, y0, widths, heights], 1).tolist(), scores.tolist(),
                                     class_ids.tolist(), score_min, iou_max)
    height, width = image_shape
    detections = []
    for index in np.asarray(chosen).reshape(-1):
        box = (int(max(0, x0[index])), int(max(0, y0[index])), int(min(width, x0[index] + widths[index])),
               int(min(height, y0[index] + heights[index])))
        name = COCO_NAMES[class_ids[index]] if class_ids[index] < len(COCO_NAMES) else str(class_ids[index])
        detections.append(Detection(box, name, float(scores[index])))
    return sorted(detections, key=lambda d: -d.score)


class YoloDetector:
    """An onnxruntime session on a YOLO export, reused for every image; `__call__(rgb_u8)` lists detections."""

    def __init__(self, session: object):
        self.session = session
        shape = session.get_inputs()[0].shape
        self.side = shape[2] if isinstance(shape[2], int) else 640  # dynamic exports: the usual 640
        self.input_name = session.get_inputs()[0].name

    def __call__(self, rgb_u8: np.ndarray) -> list[Detection]:
        square, scale, offset = letterbox(rgb_u8, self.side)
        batch = (square.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        output = self.session.run(None, {self.input_name: batch})[0]
        return decode(output, scale, offset, rgb_u8.shape[:2])


@lru_cache(maxsize=2)
def load_yolo(path: Path) -> YoloDetector:
    """Open the ONNX file once per process (call models.weights.require first for a clear error)."""
    try:
        import onnxruntime
    except ImportError:
        raise UsageError("--detector yolo needs onnxruntime: pip install 'animate-products[yolo]'") from None
    return YoloDetector(onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]))
