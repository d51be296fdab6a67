"""The user's retargeting controls, as plain data the add-on fills from its panel."""

from __future__ import annotations

import dataclasses

from ..errors import ConductorError
from ..options import check, option


@dataclasses.dataclass
class RetargetSettings:
    """How the keypoints become a pose.

    Attributes (each but ``image_aspect`` a setting of the CLIs and the add-on, see core.options)
    ----------
    amplitude : float in [0, 5]
        Gesture size around the piece's median pose: 1 as generated, above 1 exaggerated,
        below 1 calmer, 0 frozen in the median pose.
    smoothing : float in [0, 1]
        Low-pass strength against a network's jitter: a Gaussian over time with sigma
        ``smoothing * 0.12`` seconds (a motion drawn without jitter, the procedural conductor's,
        is lifted as drawn).
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

    amplitude: float = option(
        1.0, "gesture size around the median pose: 1 as generated, 0 still", minimum=0.0, maximum=5.0
    )
    smoothing: float = option(
        0.5,
        "temporal smoothing of a network's jitter, 0 to 1 (the procedural conductor has none)",
        minimum=0.0,
        maximum=1.0,
    )
    mirror: bool = option(False, "mirror the motion (a left-handed conductor)")
    baton_hand: str = option(
        "right", "the hand holding the baton; a created conductor gets it there", choices=("right", "left", "none")
    )
    hip_sway: float = option(
        0.0, "how far the hips follow the motion: 0 still, 1 a slight sway", minimum=0.0, maximum=1.0
    )
    mode: str = option("FK", "key FK rotations, or IK controls too", choices=("FK", "IK"))
    image_aspect: float = 1.0

    def __post_init__(self) -> None:
        check(self)
        if not self.image_aspect > 0:
            raise ConductorError(f"Image aspect must be positive, got {self.image_aspect!r}.")
