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
    assert use_flip(cfg, cfg.dataset.pretrain_on) is expected
    draws = [
        transform(ClipSettings.from_config(cfg, cfg.dataset.pretrain_on), True).draw(np.random.default_rng(s)).flip
        for s in range(40)
    ]
    assert any(draws) is expected and all(
        not d
        for d in [
            transform(ClipSettings.from_config(cfg, cfg.dataset.pretrain_on), False).draw(np.random.default_rng(0)).flip
        ]
    )


def test_flip_value_outside_auto_true_false_is_an_error():
    with pytest.raises(ConfigValueError, match=r"input.flip='sometimes': valid: auto, true, false"):
        check_values(compose_cfg("input.flip=sometimes"))


K400_REAL = ("dataset=k400_ucf101_hmdb51", "dataset.k400_root=/k", "dataset.ucf101_root=/u", "dataset.hmdb51_root=/h")


def _mirrors(cfg, key) -> bool:
    """Whether the training transform of set ``key`` mirrors any of 60 draws (the protocols' and a method's)."""
    s = ClipSettings.from_config(cfg, key)
    draws = [transform(s, True).draw(np.random.default_rng(i)).flip for i in range(60)]
    return any(draws)


@pytest.mark.parametrize(
    "overrides",
    [
        ("dataset=embedded_k400",),
        ("dataset=ssv2", "dataset.root=/s"),
        (*K400_REAL, "dataset.eval_on=[ucf101,hmdb51,ssv2]", "dataset.ssv2_root=/s"),
        # a set's own mirror_safe cannot switch mirroring on for SSv2
        (*K400_REAL, "dataset.eval_on=[ssv2]", "dataset.ssv2_root=/s", "dataset.sets.ssv2.mirror_safe=true"),
    ],
)
def test_ssv2_is_never_mirrored(overrides):
    """SSv2's classes name left and right ("Pushing something from left to right"): a mirrored training clip would
    carry the label of its mirror class. This fails if anything turns mirroring on for SSv2."""
    cfg = compose_cfg(*overrides)
    check_values(cfg)
    assert use_flip(cfg, "ssv2") is False and not _mirrors(cfg, "ssv2")


def test_per_set_mirroring_in_one_run():
    """Kinetics, UCF101 and HMDB51 mirror under input.flip=auto in the same run in which SSv2 does not."""
    cfg = compose_cfg(*K400_REAL, "dataset.eval_on=[ucf101,hmdb51,ssv2]", "dataset.ssv2_root=/s")
    check_values(cfg)
    assert [_mirrors(cfg, k) for k in ("kinetics400", "ucf101", "hmdb51", "ssv2")] == [True, True, True, False]


def test_explicit_flip_is_refused_for_ssv2():
    with pytest.raises(ConfigValueError, match=r"input.flip=True: the ssv2 set is Something-Something V2"):
        check_values(compose_cfg("dataset=embedded_k400", "input.flip=true"))
    check_values(compose_cfg(*K400_REAL, "input.flip=true"))  # no SSv2 in the run: an explicit choice stands
