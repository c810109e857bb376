"""The training videos: every clip of a folder, decoded once and kept as uint8 frames at the training size, and
random (source, driving) frame pairs from one clip at a time, as the reference's FramesDataset samples them."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from pipeline.errors import UsageError
from pipeline.video import CLIP_SUFFIXES, FRAME_SUFFIXES, read_clip


def clip_paths(folder: Path) -> list[Path]:
    """Video files and folders of frames directly inside `folder`, sorted."""
    if not Path(folder).is_dir():
        raise UsageError(f"--videos {folder} is not a folder")
    paths = [p for p in sorted(Path(folder).iterdir())
             if (p.is_file() and p.suffix.lower() in CLIP_SUFFIXES + (".webp",))
             or (p.is_dir() and any(f.suffix.lower() in FRAME_SUFFIXES for f in p.iterdir()))]
    if not paths:
        raise UsageError(f"--videos {folder} holds no clips ({', '.join(CLIP_SUFFIXES)} or folders of frames)")
    return paths


def _square(frame: np.ndarray, side: int) -> np.ndarray:
    interpolation = cv2.INTER_AREA if min(frame.shape[:2]) > side else cv2.INTER_CUBIC
    return cv2.resize(frame, (side, side), interpolation=interpolation)


def _to_tensor(frames_u8: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames_u8).astype(np.float32) / 255).permute(0, 3, 1, 2)


class ClipSet:
    def __init__(self, folder: Path, side: int):
        self.paths = clip_paths(folder)
        self.clips: list[np.ndarray] = []
        for path in self.paths:
            frames, _ = read_clip(path)
            if len(frames) < 2:
                raise UsageError(f"training clip {path} has fewer than 2 frames")
            self.clips.append(np.stack([_square(frame[..., :3], side) for frame in frames]))

    def __len__(self) -> int:
        return len(self.clips)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(source, driving) float batches (B, 3, side, side) in [0, 1]: two different frames of a random clip
        each, the pair mirrored left-right half of the time."""
        sources, drivings = [], []
        for clip in (self.clips[i] for i in rng.integers(0, len(self.clips), batch)):
            first, second = rng.choice(len(clip), 2, replace=False)
            pair = clip[[first, second]]
            if rng.random() < 0.5:
                pair = pair[:, :, ::-1]
            sources.append(pair[0])
            drivings.append(pair[1])
        return _to_tensor(sources), _to_tensor(drivings)
