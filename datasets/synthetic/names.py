"""Class names of the kinetics400 and ssv2 layouts. Both render motions of the UCF catalogue
(``datasets.synthetic.motions``), so that pretraining on them transfers to the embedded ucf101 / hmdb51 sets; only the
names follow the official datasets' conventions.

kinetics400 (``kinetics_label``): the catalogue name in lower-case words (``Grow`` -> "grow", ``GrowMovingUp`` ->
"grow moving up"); a time reversal (``Motion.reverse_of``) with more than one word puts the words after the first in
parentheses, as Kinetics qualifies some labels (``ShrinkMovingDown`` -> "shrink (moving down)").

ssv2 (``SSV2_TEMPLATES``): (template, catalogue motion) pairs in the order the sizes take them (tiny the first 6, small
12, bench all 24). The class is the template without its square brackets (``ssv2_class``). The classes are
direction-dependent: a left/right class's horizontal mirror image (``mirror_name``: x -> -x, so Left <-> Right and
Clockwise <-> Counterclockwise) is the other class of its pair, so mirroring a video changes its class; up/down and
towards/away classes are their own mirror images.
"""

from __future__ import annotations

import re

from datasets.synthetic.motions import UCF_MOTIONS

_BY_NAME = {m.name: m for m in UCF_MOTIONS}

SSV2_TEMPLATES: tuple[tuple[str, str], ...] = (
    # tiny: two left/right mirror pairs (one with two placeholders) and towards / away from the camera
    ("Pushing [something] from left to right", "TranslateRight"),
    ("Pushing [something] from right to left", "TranslateLeft"),
    ("Rolling [something] on [something] from left to right", "RotateClockwiseMovingRight"),
    ("Rolling [something] on [something] from right to left", "RotateCounterclockwiseMovingLeft"),
    ("Moving [something] towards the camera", "Grow"),
    ("Moving [something] away from the camera", "Shrink"),
    # small
    ("Moving [something] up", "TranslateUp"),
    ("Moving [something] down", "TranslateDown"),
    ("Pulling [something] from left to right", "AccelerateRight"),
    ("Pulling [something] from right to left", "AccelerateLeft"),
    ("Lifting [something] up, then moving it to the right", "UpThenRight"),
    ("Lifting [something] up, then moving it to the left", "UpThenLeft"),
    # bench
    ("Letting [something] slide to a stop from left to right", "DecelerateRight"),
    ("Letting [something] slide to a stop from right to left", "DecelerateLeft"),
    ("Moving [something] towards the camera and to the right", "GrowMovingRight"),
    ("Moving [something] towards the camera and to the left", "GrowMovingLeft"),
    ("Moving [something] away from the camera and to the right", "ShrinkMovingRight"),
    ("Moving [something] away from the camera and to the left", "ShrinkMovingLeft"),
    ("Pushing [something] up and to the right", "TranslateUpRight"),
    ("Pushing [something] up and to the left", "TranslateUpLeft"),
    ("Turning [something] clockwise", "RotateClockwise"),
    ("Turning [something] counterclockwise", "RotateCounterclockwise"),
    ("Putting [something] down and pushing it to the right of [something]", "DownThenRight"),
    ("Putting [something] down and pushing it to the left of [something]", "DownThenLeft"),
)
SSV2_OBJECTS = (
    "pen",
    "cup",
    "book",
    "phone",
    "remote control",
    "bottle",
    "box",
    "spoon",
    "wallet",
    "marker",
    "coin",
    "paper",
    "glass",
    "toy car",
    "lighter",
    "matchbox",
)


def kinetics_label(name: str) -> str:
    """The kinetics400 label of the catalogue motion ``name`` (module docstring)."""
    words = [w.lower() for w in re.findall(r"[A-Z][a-z]*", name)]
    if _BY_NAME[name].reverse_of and len(words) > 1:
        return f"{words[0]} ({' '.join(words[1:])})"
    return " ".join(words)


def ssv2_class(template: str) -> str:
    """The ssv2 class of a template: the template without its square brackets."""
    return template.replace("[", "").replace("]", "")


def mirror_name(name: str) -> str:
    """The catalogue motion whose path is the horizontal mirror image of ``name``'s (x -> -x: Left <-> Right,
    Clockwise <-> Counterclockwise); ``name`` itself for a mirror-invariant motion (Grow, TranslateUp)."""
    swap = {"Left": "Right", "Right": "Left", "Clockwise": "Counterclockwise", "Counterclockwise": "Clockwise"}
    return re.sub("Counterclockwise|Clockwise|Left|Right", lambda m: swap[m[0]], name)
