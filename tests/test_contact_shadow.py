"""Contact shadows in fusion: the redrawn shadow follows the lowest points of each frame and fades as the product
lifts; a contact that never moves (a plinth) keeps its photographed shadow and gets no second one; `off` draws
none, `keep` puts the photographed shadow back; and on a ground-truth figure with its shadow the plate under the
feet is closer to the truth with redraw than with off."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from pipeline.contact_shadow import frame_plate, lowest_rows, setup_shadows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from shadow_bench import shadow_errors  # noqa: E402

SIZE = 160
GROUND = 130


def _figure(dx: int = 0, lift: int = 0, plinth: bool = False) -> np.ndarray:
    """A body on two legs (or on a wide plinth), shifted by dx and lifted by `lift` px."""
    alpha = np.zeros((SIZE, SIZE), np.float32)
    top = GROUND - 80 - lift
    alpha[top:top + 50, 50 + dx:110 + dx] = 1
    if plinth:
        alpha[GROUND - 30:GROUND + 1, 40:120] = 1
    else:
        for left in (55, 95):
            alpha[top + 50:GROUND + 1 - lift, left + dx:left + dx + 8] = 1
    return alpha


def _setup(frames: list[np.ndarray], plinth: bool = False):
    plate = np.full((SIZE, SIZE, 3), 180, np.uint8)
    photo = plate.copy()
    shadow = np.zeros((SIZE, SIZE), bool)
    shadow[GROUND - 4:GROUND + 8, 35:125] = True
    photo[shadow] = 110  # the photographed shadow
    matte = _figure(plinth=plinth)
    shadow &= matte < 0.5
    return setup_shadows(photo, plate, matte, shadow, [lowest_rows(f) for f in frames])


def _core_and_far(shadow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photographed shadow's inside, away from its feathered edge, and the floor well clear of it."""
    core = cv2.erode(shadow.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    far = ~cv2.dilate(shadow.astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    return core, far


def _darkness(setup, alpha: np.ndarray, mode: str = "redraw") -> np.ndarray:
    return 180.0 - frame_plate(setup, lowest_rows(alpha), mode).astype(np.float32).mean(axis=2)


def test_the_shadow_follows_the_feet_and_fades_as_they_lift() -> None:
    frames = [_figure(), _figure(dx=20), _figure(lift=8), _figure(lift=30)]
    setup = _setup(frames)
    standing, stepped = _darkness(setup, frames[0]), _darkness(setup, frames[1])
    # darkest under the feet, and 20 px to the right when they move there
    assert abs(int(np.argmax(standing[GROUND])) - 77) <= 20 and standing[GROUND].max() > 10
    centre = lambda row: float((row * np.arange(SIZE)).sum() / row.sum())  # noqa: E731
    assert abs(centre(stepped[GROUND]) - centre(standing[GROUND]) - 20) < 2
    lifted, high = _darkness(setup, frames[2]), _darkness(setup, frames[3])
    assert standing.max() > lifted.max() > high.max() and high.max() < 0.2 * standing.max()
    assert standing[:GROUND - 20].max() < 1  # nothing drawn above the floor


def test_a_plinth_keeps_its_photographed_shadow_and_gets_no_second() -> None:
    frames = [_figure(plinth=True), _figure(dx=10, plinth=True)]  # the figure moves, its plinth does not
    frames[1][GROUND - 30:GROUND + 1, 40:120] = 1
    setup = _setup(frames, plinth=True)
    assert setup.static[40:120].all()
    plate = frame_plate(setup, lowest_rows(frames[1]), "redraw")
    core, far = _core_and_far(setup.shadow)
    assert np.abs(plate[core].astype(int) - 110).max() <= 4  # as photographed
    assert (plate[far & ~setup.product] == 180).all()  # nothing redrawn on the open floor


def test_off_draws_no_shadow_and_keep_puts_the_photographed_one_back() -> None:
    frames = [_figure(), _figure(dx=20)]
    setup = _setup(frames)
    assert (frame_plate(setup, lowest_rows(frames[1]), "off") == 180).all()
    kept = frame_plate(setup, lowest_rows(frames[1]), "keep")
    core, far = _core_and_far(setup.shadow)
    assert np.abs(kept[core].astype(int) - 110).max() <= 4 and (kept[far] == 180).all()


def test_redraw_is_closer_to_a_true_shadow_than_none() -> None:
    for motion in ("horse_gallop", "bounce", "dino_walk"):
        errors = shadow_errors(motion, size=160, n_frames=8)
        assert errors["redraw"] < errors["off"]
