"""Video and animation encoding/decoding: the only module that talks to PyAV and Pillow's animation writers."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from pipeline.atomic import atomic_path

CLIP_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 with yuv420p needs even dimensions; round down, never below 2."""
    return max(2, width - width % 2), max(2, height - height % 2)


def encode_mp4(frames_rgb_u8: Sequence[np.ndarray], path: Path, fps: int, crf: int = 20) -> Path:
    """Write H.264 (yuv420p, profile main, +faststart) atomically. Odd sizes are cropped by one pixel."""
    import av

    height, width = frames_rgb_u8[0].shape[:2]
    width_even, height_even = even_size(width, height)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = width_even, height_even
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "profile": "main", "preset": "medium"}
            # x264's bitstream depends on its thread count, which it would take from the machine: a fixed count
            # makes equal frames give equal files on any machine, worker or engine
            stream.codec_context.thread_type = "FRAME"
            stream.codec_context.thread_count = 4
            for frame_rgb in frames_rgb_u8:
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(frame_rgb[:height_even, :width_even, :3]), format="rgb24"
                )
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path


def encode_animated_image(frames_rgb_u8: Sequence[np.ndarray], path: Path, fps: int) -> Path:
    """WebP or GIF (by suffix), looping forever. GIF delays are in 1/100 s, so its fps is rounded to 20 or 25."""
    from PIL import Image

    images = [Image.fromarray(np.ascontiguousarray(f[..., :3])) for f in frames_rgb_u8]
    suffix = path.suffix.lower()
    if suffix == ".gif":
        gif_fps = 25 if fps >= 23 else 20
        duration_ms = 1000 // gif_fps
        kwargs = dict(format="GIF", save_all=True, append_images=images[1:], loop=0, duration=duration_ms, optimize=False)
    elif suffix == ".webp":
        kwargs = dict(format="WEBP", save_all=True, append_images=images[1:], loop=0,
                      duration=round(1000 / fps), quality=80, method=4)
    else:
        raise ValueError(f"unsupported animation format {suffix!r}; use .gif or .webp")
    with atomic_path(path) as tmp:
        images[0].save(tmp, **kwargs)
    return path


def _read_frame_folder(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise ValueError(f"no image frames ({', '.join(FRAME_SUFFIXES)}) in folder {folder}")
    return [np.asarray(Image.open(p).convert("RGB")) for p in files]


def _read_animated_image(path: Path, max_frames: int | None) -> tuple[list[np.ndarray], float]:
    from PIL import Image, ImageSequence

    frames: list[np.ndarray] = []
    durations_ms: list[float] = []
    with Image.open(path) as image:
        for frame in ImageSequence.Iterator(image):
            frames.append(np.asarray(frame.convert("RGB")))
            durations_ms.append(float(frame.info.get("duration") or 0))
            if max_frames and len(frames) >= max_frames:
                break
    mean_ms = float(np.mean(durations_ms)) if durations_ms else 0.0
    return frames, (1000.0 / mean_ms if mean_ms > 0 else 0.0)


def read_clip(path: Path, max_frames: int | None = None) -> tuple[list[np.ndarray], float]:
    """Decode a driving clip (video file, GIF or a folder of frames) to RGB uint8 frames and its fps."""
    path = Path(path)
    if path.is_dir():
        frames = _read_frame_folder(path)
        return frames[:max_frames] if max_frames else frames, 0.0
    if path.suffix.lower() in (".gif", ".webp"):
        return _read_animated_image(path, max_frames)
    import av

    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError(f"clip {path} has no decodable video frames")
    return frames, fps


def probe_video(path: Path) -> tuple[int, int, int]:
    """(frame count, width, height), counted by decoding, for tests and reports."""
    frames, _ = read_clip(path)
    height, width = frames[0].shape[:2]
    return len(frames), width, height


def is_clip_path(text: str) -> bool:
    """A --motion value names a user clip (rather than a library motion) when it looks like a path."""
    return os.sep in text or text.lower().endswith(CLIP_SUFFIXES + (".webp",)) or Path(text).is_dir()


def iter_rgb(frames: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    for frame in frames:
        yield frame[..., :3]
