"""The 13 upper-body keypoints that M2S-GAN generates, in COCO order, and their bones.

Image coordinates: x and y in [0, 1], y pointing down, the camera facing the conductor, so the
conductor's left side appears on the image's right (larger x).
"""

JOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
)
JOINT_COUNT = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

# Skeleton edges used by M2S-Net's ST-GCN graph (self loops are added there).
EDGES: tuple[tuple[int, int], ...] = (
    (0, 1),
    (0, 2),  # nose - eyes
    (1, 3),
    (2, 4),  # eyes - ears
    (0, 5),
    (0, 6),  # nose - shoulders
    (5, 6),  # shoulder - shoulder
    (5, 7),
    (7, 9),  # left arm
    (6, 8),
    (8, 10),  # right arm
    (11, 12),  # hip - hip
    (5, 11),
    (6, 12),  # shoulders - hips
)

# Index of each joint's mirror image (left <-> right), for a left-handed conductor.
MIRROR_INDEX: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11)

# The hands beyond the wrist keypoints, optional in a Motion (``Motion.hands``, shape (T, 2, 4)):
# per frame, for the left then the right hand,
# - flex: radians, bending the hand toward its palm (+, into the ictus) or back (-, the rebound);
# - turn: radians about the forearm: 0 palm down, pi/2 palm toward the body's midline, pi palm up;
# - curl: 0 open and flat to 1 a closed fist (the baton hand: how firmly it grips the baton);
# - point: 0 to 1, the index finger straightening out of the curl (a cue).
HAND_SIDES: tuple[str, ...] = ("left", "right")
HAND_CHANNELS: tuple[str, ...] = ("flex", "turn", "curl", "point")
