"""Screen geometry: how many pixels one degree of visual angle spans at the viewing distance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Screen:
    width_px: int
    height_px: int
    width_cm: float
    distance_cm: float

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "Screen":
        return cls(params["screen_width_px"], params["screen_height_px"], params["screen_width_cm"],
                   params["viewing_distance_cm"])

    @property
    def height_cm(self) -> float:
        return self.width_cm * self.height_px / self.width_px  # square pixels

    @property
    def px_per_deg(self) -> float:
        """Pixels spanned by 1° centred on the line of sight: 2 d tan(0.5°) cm, times px per cm."""
        return 2 * self.distance_cm * math.tan(math.radians(0.5)) * self.width_px / self.width_cm
