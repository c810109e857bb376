"""rembg matting sessions (u2net, isnet-general-use, birefnet-*, ...) from ONNX files in the weights folder.
rembg reads its model folder from $U2NET_HOME when a session is created and downloads any file it does not find
there, so the file is checked first and the variable is set only around session creation."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from models.weights import WeightSpec, require
from pipeline.errors import UsageError


@contextmanager
def _rembg_home(folder: Path) -> Iterator[None]:
    """rembg has no argument for its model folder; U2NET_HOME wins over REMBG_HOME and XDG_DATA_HOME."""
    previous = os.environ.get("U2NET_HOME")
    os.environ["U2NET_HOME"] = str(Path(folder).resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("U2NET_HOME", None)
        else:
            os.environ["U2NET_HOME"] = previous


class RembgMatting:
    """One rembg session, reused for every image: `predict(rgb_u8)` gives the saliency map (HxW float in [0,1])."""

    def __init__(self, session: object, name: str):
        self.session, self.name = session, name

    def predict(self, rgb_u8: np.ndarray) -> np.ndarray:
        from PIL import Image

        mask = self.session.predict(Image.fromarray(rgb_u8))[0]
        return np.asarray(mask, np.float32) / 255.0


def load_rembg_session(spec: WeightSpec, weights_dir: Path) -> RembgMatting:
    """The session for `spec` (family rembg; options.session is rembg's model name), built once per process.
    MissingFileError (exit 78) when the ONNX file is not in `weights_dir`; nothing is downloaded."""
    require(spec, weights_dir)  # before rembg sees the name: it would download a missing file
    return _session(spec.options["session"], Path(weights_dir).resolve())


@lru_cache(maxsize=4)
def _session(name: str, weights_dir: Path) -> RembgMatting:
    try:
        from rembg import new_session
    except ImportError:
        raise UsageError(f"--matting rembg:{name} needs the rembg extra: pip install 'animate-products[rembg]'") \
            from None
    with _rembg_home(weights_dir):
        session = new_session(name, providers=["CPUExecutionProvider"])
    return RembgMatting(session, name)
