"""input.flip=auto mirrors training clips only for datasets whose labels a mirror keeps (dataset.mirror_safe).

The embedded sets are defined by motion direction: a mirror turns TranslateLeft into TranslateRight and clockwise
into counter-clockwise, so mirroring them would corrupt supervised labels and teach self-supervised methods to
ignore the very cue some classes are defined by.
"""

import numpy as np
import pytest

from experiment.checks import ConfigValueError, check_values
from experiment.data import ClipSettings, transform, use_flip

from helpers import compose_cfg


@pytest.mark.parametrize(
    "overrides,expected",
    [
        ((), False),  # embedded default
        (("input.flip=true",), True),  # an explicit choice wins
        (("dataset=ucf101", "dataset.root=/data/UCF101"), True),
        (("dataset=hmdb51", "dataset.root=/data/hmdb51"), True),
        (("dataset=ucf101_hmdb51", "dataset.ucf101_root=/a", "dataset.hmdb51_root=/b"), True),
        (("dataset=ucf101", "dataset.root=/data/UCF101", "input.flip=false"), False),
    ],
)
def test_auto_flip_follows_the_dataset(overrides, expected):
    cfg = compose_cfg(*overrides)
    check_values(cfg)
    assert use_flip(cfg) is expected
    draws = [transform(ClipSettings.from_config(cfg), True).draw(np.random.default_rng(s)).flip for s in range(40)]
    assert any(draws) is expected and all(
        not d for d in [transform(ClipSettings.from_config(cfg), False).draw(np.random.default_rng(0)).flip]
    )


def test_flip_value_outside_auto_true_false_is_an_error():
    with pytest.raises(ConfigValueError, match=r"input.flip='sometimes': valid: auto, true, false"):
        check_values(compose_cfg("input.flip=sometimes"))
