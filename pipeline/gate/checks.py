"""The gate's checks: each measurement against its threshold from the config. A measurement that is missing (an
older or neural motion stage writes no deformation facts, a plate without a visible-band estimate) makes its
check "not measured": it neither passes nor fails."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig

LOW_QUALITY = "low"  # inpaint.json's flag for a plate a classical fill can only approximate


@dataclass(frozen=True)
class Rule:
    name: str
    setting: str  # the PipelineConfig field (and job-spec `gate:` key without the prefix) holding the threshold
    meaning: str  # what the value is, for the report and docs


# every rule passes when value <= threshold
RULES: tuple[Rule, ...] = (
    Rule("motion_stretch", "gate_max_stretch",
         "worst frame's triangle stretch max(s1, 1/s2) of the puppet mesh: the stretch 99 % of the mesh's area "
         "stays within (motion.json stretch_p99; max_stretch where that is absent)"),
    Rule("motion_flipped_triangles", "gate_flipped_triangles",
         "most flipped (folded-over) mesh triangles in any frame (motion.json)"),
    Rule("rigid_unexplained", "gate_rigid_unexplained",
         "rigid-kind motions: worst share of a frame's change no single homography explains"),
    Rule("plate_band_error", "gate_plate_error",
         "estimated mean abs error (0-255) of the plate where some frame uncovers the hole (inpaint.json)"),
    Rule("background_flicker", "gate_background_flicker",
         "largest change (0-255) of any pixel outside the crop across the animation's frames"),
    Rule("alpha_coverage", "gate_alpha_coverage",
         "worst frame's object area against the source's, max(r, 1/r): limbs vanishing or doubling"),
    Rule("detached_pieces", "gate_detached_pieces",
         "most pieces of the object (each 0.5-15 % of its area) in any frame beyond the source's: limbs or "
         "fragments breaking off"),
    Rule("loop_seam", "gate_loop_seam",
         "the jump from the last frame to the first over the median frame-to-frame change"),
)
PLATE_QUALITY = Rule("plate_quality", "", "inpaint.json's quality flag: 'low' fails where some frame uncovers "
                                          "the hole (visible_band_px > 0, or not known)")


@dataclass(frozen=True)
class Check:
    name: str
    value: float | str | None  # None: not measured
    threshold: float | str
    passed: bool | None  # None: not measured
    frame: int | None = None  # the worst frame, where the value is one frame's
    note: str = ""  # why it was not measured, or what decided it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed(self) -> bool:
        return self.passed is False

    def describe(self) -> str:
        """`name=value>threshold` (frame N), as in the report's CSV and on the card."""
        shown = f"{self.value:.3g}" if isinstance(self.value, float) else str(self.value)
        limit = f"{self.threshold:g}" if isinstance(self.threshold, (int, float)) else str(self.threshold)
        where = f" (frame {self.frame})" if self.frame is not None else ""
        return f"{self.name}={shown}>{limit}{where}" if self.failed else f"{self.name}={shown}{where}"


def not_measured(reason: str) -> dict[str, Any]:
    """A measurement entry for a fact that is not there."""
    return {"value": None, "frame": None, "note": reason}


def measured(value: float, frame: int | None = None) -> dict[str, Any]:
    return {"value": round(float(value), 4), "frame": frame, "note": ""}


def _plate_quality(entry: Mapping[str, Any]) -> Check:
    quality, band = entry.get("value"), entry.get("visible_band_px")
    if quality is None:
        return Check(PLATE_QUALITY.name, None, "not low", None, note=entry.get("note", ""))
    if quality != LOW_QUALITY:
        return Check(PLATE_QUALITY.name, quality, "not low", True)
    if band is not None and band <= 0:
        return Check(PLATE_QUALITY.name, quality, "not low", True, note="no frame uncovers the hole")
    note = f"{band} px of the hole show" if band is not None else "visible band not known"
    return Check(PLATE_QUALITY.name, quality, "not low", False, note=note)


def evaluate(measurements: Mapping[str, Mapping[str, Any]], config: PipelineConfig) -> list[Check]:
    """The checks, in RULES order then plate_quality, from measurements keyed by check name."""
    checks = []
    for rule in RULES:
        entry = measurements.get(rule.name) or not_measured("not measured")
        threshold = getattr(config, rule.setting)
        value = entry.get("value")
        passed = None if value is None else bool(value <= threshold)
        checks.append(Check(rule.name, value, threshold, passed, entry.get("frame"), entry.get("note", "")))
    checks.append(_plate_quality(measurements.get(PLATE_QUALITY.name) or not_measured("not measured")))
    return checks


def failed_checks(checks: list[Check]) -> list[Check]:
    return [check for check in checks if check.failed]
