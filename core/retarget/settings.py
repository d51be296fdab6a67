"""The user's retargeting controls, as plain data the add-on fills from its panel."""

from __future__ import annotations

import dataclasses

from ..errors import ConductorError


@dataclasses.dataclass
class RetargetSettings:
    """How the keypoints become a pose.

    Attributes
    ----------
    amplitude : float >= 0
        Gesture size around the piece's median pose: 1 as generated, above 1 exaggerated,
        below 1 calmer, 0 frozen in the median pose.
    smoothing : float in [0, 1]
        Low-pass strength: a Gaussian over time with sigma ``smoothing * 0.12`` seconds.
    mirror : bool
        Swap left and right (a left-handed conductor).
    baton_hand : str
        "right", "left" or "none": which hand holds the baton (its frame drives the baton bone).
    hip_sway : float in [0, 1]
        0 keeps the hips still; up to 1 lets them follow the keypoints' pelvis, limited to a
        slight sway (at most 5 cm and 15 degrees of turn).
    mode : str
        "FK": rotations only. "IK": also the locations of the mapping's IK controls.
    image_aspect : float > 0
        Width / height of the image the keypoints were normalised by (1 for square).
    """

    amplitude: float = 1.0
    smoothing: float = 0.5
    mirror: bool = False
    baton_hand: str = "right"
    hip_sway: float = 0.0
    mode: str = "FK"
    image_aspect: float = 1.0

    def __post_init__(self) -> None:
        if not (self.amplitude >= 0 and self.amplitude < 100):
            raise ConductorError(f"Amplitude must be between 0 and 100, got {self.amplitude!r}.")
        if not 0 <= self.smoothing <= 1:
            raise ConductorError(f"Smoothing must be between 0 and 1, got {self.smoothing!r}.")
        if not 0 <= self.hip_sway <= 1:
            raise ConductorError(f"Hip sway must be between 0 and 1, got {self.hip_sway!r}.")
        if self.baton_hand not in ("right", "left", "none"):
            raise ConductorError(
                f"Baton hand must be 'right', 'left' or 'none', got {self.baton_hand!r}."
            )
        if self.mode not in ("FK", "IK"):
            raise ConductorError(f"Mode must be 'FK' or 'IK', got {self.mode!r}.")
        if not self.image_aspect > 0:
            raise ConductorError(f"Image aspect must be positive, got {self.image_aspect!r}.")
