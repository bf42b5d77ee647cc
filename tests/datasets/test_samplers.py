import numpy as np
import pytest

from datasets.samplers import ClipTuple, FrameTuple, SingleClip, SpeedClips, UniformClips

rng = np.random.default_rng(0)


def test_clip_tuple_matches_vcop_geometry():
    s = ClipTuple(3, 16, 8)
    assert s.span == 64
    for _ in range(50):
        c = s.sample(100, rng)
        assert len(c.clips) == 3 and not c.short
        start = c.clips[0][0]
        assert 0 <= start <= 36
        assert [int(x[0]) - start for x in c.clips] == [0, 24, 48]
        assert all(np.array_equal(np.diff(x), np.ones(15)) for x in c.clips)


def test_uniform_clips_are_the_vcop_test_starts():
    c = UniformClips(10, 16).sample(100)
    starts = [int(x[0]) for x in c.clips]
    assert starts == list(np.linspace(0, 84, 10).round().astype(int))
    assert starts[0] == 0 and c.clips[-1][-1] == 99


def test_speed_clips_share_start_and_report_rates():
    c = SpeedClips(16, (1, 2, 4, 8)).sample(200, rng)
    assert list(c.meta) == [1, 2, 4, 8]
    assert len({int(x[0]) for x in c.clips}) == 1
    assert [int(x[1] - x[0]) for x in c.clips] == [1, 2, 4, 8]


def test_frame_tuple_spacing():
    c = FrameTuple(4, 1, 5).sample(60, rng)
    assert [int(x[0]) for x in c.clips] == [int(c.clips[0][0]) + 5 * i for i in range(4)]


@pytest.mark.parametrize("policy", ["clamp", "loop"])
def test_short_videos_follow_policy_and_are_flagged(policy):
    c = ClipTuple(3, 16, 8, short=policy).sample(30, rng)
    assert c.short
    allidx = np.concatenate(c.clips)
    assert allidx.max() <= 29 and allidx.min() >= 0
    if policy == "clamp":
        assert (c.clips[-1] == 29).all()
    else:
        assert c.clips[-1][0] == 48 % 30


def test_skip_policy_returns_none_and_eval_cannot_skip():
    assert SingleClip(16, short="skip").sample(10, rng) is None
    with pytest.raises(ValueError, match="never skips"):
        UniformClips(short="skip")
    assert UniformClips(10, 16).sample(5).short
