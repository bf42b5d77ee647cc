"""Motion classes of the synthetic datasets (see ``datasets.synthetic``).

A class is a *motion*: a function of normalised time ``tau`` in [0, 1] (first to last frame) returning the pose
offsets of the target object relative to its random start pose: ``(dx, dy)`` in pixels, ``dangle`` in radians and
``dlogscale`` (natural log of the size factor). Image coordinates: x to the right, y DOWN, so "up" is -y and a growing
angle turns the object CLOCKWISE on screen. The magnitudes (path length, turns, size factor, orbit radius, wiggle
amplitude) are drawn per video by the renderer (:class:`Amplitudes`), so speed is not a class property.

Time reversals are explicit: ``reverse(m)`` is ``m`` played backwards, ``pose(tau) = m.pose(1 - tau)`` (the start
pose is random, so a constant offset is irrelevant). E.g. ``TranslateRight = reverse(TranslateLeft)``,
``DecelerateLeft = reverse(AccelerateRight)``, ``DownThenRight = reverse(LeftThenUp)``,
``orbit_ccw = reverse(orbit_cw)``.

Two disjoint catalogues, built combinatorially (primitive x parameters) in a fixed order; a size takes the first N:

* UCF101 layout (CamelCase, 101+ entries): translate (8 directions), rotate cw/ccw, grow/shrink, accelerate and
  decelerate (8 directions each), two-leg paths ``<A>Then<B>`` (cardinal pairs, diagonal pairs), rotate while moving
  and grow/shrink while moving (8 directions each), rotate cw-then-ccw.
* HMDB51 layout (snake_case, 51 entries): orbit cw/ccw, zigzag, hop, stop-and-go, spin-up/spin-down (accelerating /
  decelerating rotation), spirals, waves, breathe, pulse, shake, curves (quarter-circle turns), figure eight,
  square paths.

Grow / Shrink change size MONOTONICALLY over the whole video, by the factor ``e^log_scale``, centred on the per-video
(random) object size; ``Shrink`` is the exact time reversal of ``Grow``, so the sizes seen over a video are identically
distributed for the two, and a single frame (whose time is unknown) does not tell them apart. The monotone profile
replaced a sawtooth (steady growth with one snap-back at a random time, ``Amplitudes.phase``) that made every frame's
size identically distributed but also made the clips of a video exchangeable, so clip ORDER was unidentifiable from
pooled clip features and the order pretext tasks stayed at chance (BENCHMARKS.md, "Pretext learnability").
``breathe`` and ``pulse`` (HMDB) stay periodic with a random phase.

No motion appears in both catalogues (e.g. UCF has constant-speed rotation, HMDB only accelerating/decelerating spins),
so the two layouts support a transfer evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Pose = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # dx, dy (px), dangle (rad), dlogscale

_S = 1 / math.sqrt(2)
# name -> unit vector in image coordinates (y down)
DIRECTIONS: dict[str, tuple[float, float]] = {
    "Left": (-1.0, 0.0),
    "Right": (1.0, 0.0),
    "Up": (0.0, -1.0),
    "Down": (0.0, 1.0),
    "UpLeft": (-_S, -_S),
    "UpRight": (_S, -_S),
    "DownLeft": (-_S, _S),
    "DownRight": (_S, _S),
}
OPPOSITE = {
    "Left": "Right",
    "Right": "Left",
    "Up": "Down",
    "Down": "Up",
    "UpLeft": "DownRight",
    "DownRight": "UpLeft",
    "UpRight": "DownLeft",
    "DownLeft": "UpRight",
}
CARDINAL = ("Left", "Right", "Up", "Down")
DIAGONAL = ("UpLeft", "UpRight", "DownLeft", "DownRight")


@dataclass(frozen=True)
class Amplitudes:
    """Per-video motion magnitudes, drawn by the renderer from the size spec."""

    travel: float  # path length of translations over the whole video, px
    turns: float  # rotation over the whole video, in turns
    log_scale: float  # log of the total grow/shrink factor
    radius: float  # orbit / spiral radius, px
    wiggle: float  # zigzag / wave / hop / shake amplitude, px
    phase: float = 0.0  # in [0, 1): phase of the cyclic log-size profiles


@dataclass(frozen=True)
class Motion:
    name: str
    description: str
    fn: Callable[[np.ndarray, Amplitudes], Pose]
    reverse_of: str | None = None
    catalogue: str | None = None  # kinetics400 / ssv2 classes: the catalogue motion they render (name is the class)

    def pose(self, tau: np.ndarray, amp: Amplitudes) -> Pose:
        tau = np.asarray(tau, dtype=np.float64)
        return tuple(np.broadcast_to(np.asarray(p, dtype=np.float64), tau.shape).copy() for p in self.fn(tau, amp))


def reverse(m: Motion, name: str, description: str) -> Motion:
    return Motion(name, description, lambda tau, a: m.fn(1.0 - tau, a), reverse_of=m.name)


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel).lstrip("_")


# ---------------------------------------------------------------------------------------------- primitives
def _move(d: str, profile: Callable[[np.ndarray], np.ndarray]):
    ux, uy = DIRECTIONS[d]
    return lambda tau, a: (ux * a.travel * profile(tau), uy * a.travel * profile(tau), 0.0, 0.0)


def _legs(*dirs: str):
    """Piecewise-linear path: equal-duration legs, the total length split equally."""
    n = len(dirs)

    def fn(tau, a):
        x = y = 0.0
        for i, d in enumerate(dirs):
            part = np.clip(n * tau - i, 0.0, 1.0) * a.travel / n
            x, y = x + DIRECTIONS[d][0] * part, y + DIRECTIONS[d][1] * part
        return x, y, 0.0, 0.0

    return fn


def _tri(s):
    """Triangle wave in [-1, 1], period 1, tri(0) = 0, rising first."""
    return 4.0 * np.abs((s - 0.25) % 1.0 - 0.5) - 1.0


def _perp_wave(d: str, wave: Callable[[np.ndarray], np.ndarray]):
    ux, uy = DIRECTIONS[d]
    px, py = -uy, ux

    def fn(tau, a):
        w = a.wiggle * wave(tau)
        return ux * a.travel * tau + px * w, uy * a.travel * tau + py * w, 0.0, 0.0

    return fn


def _hop(d: str, hops: int = 2):
    ux = DIRECTIONS[d][0]

    def fn(tau, a):
        s = (hops * tau) % 1.0
        return ux * a.travel * tau, -2.0 * a.wiggle * 4.0 * s * (1.0 - s), 0.0, 0.0

    return fn


def _stop_go(tau):
    return 0.5 * np.clip(3.0 * tau, 0.0, 1.0) + 0.5 * np.clip(3.0 * tau - 2.0, 0.0, 1.0)


def _orbit(sign: float, turns: float = 1.0):
    def fn(tau, a):
        th = sign * 2.0 * math.pi * turns * tau
        return a.radius * (np.cos(th) - 1.0), a.radius * np.sin(th), 0.0, 0.0

    return fn


def _spiral_out(sign: float, turns: float = 1.5):
    def fn(tau, a):
        th, r = sign * 2.0 * math.pi * turns * tau, a.radius * (0.15 + 0.85 * tau)
        return r * np.cos(th), r * np.sin(th), 0.0, 0.0

    return fn


def _curve(turn: str, d: str):
    """Constant-speed quarter-circle; turning left is counter-clockwise on screen (decreasing image angle)."""
    phi0 = math.atan2(DIRECTIONS[d][1], DIRECTIONS[d][0])
    k = (-1.0 if turn == "left" else 1.0) * math.pi / 2

    def fn(tau, a):
        phi = phi0 + k * tau
        return (a.travel / k * (np.sin(phi) - math.sin(phi0)), -a.travel / k * (np.cos(phi) - math.cos(phi0)), 0.0, 0.0)

    return fn


def _rotate(sign: float, profile=lambda t: t):
    return lambda tau, a: (0.0, 0.0, sign * 2.0 * math.pi * a.turns * profile(tau), 0.0)


def _combine(*fns):
    def fn(tau, a):
        parts = [f(tau, a) for f in fns]
        return tuple(sum(p[i] for p in parts) for i in range(4))

    return fn


def _scale(profile):
    """Log-size profile ``profile(tau, phase)`` (the phase is used by the periodic profiles, breathe and pulse)."""
    return lambda tau, a: (0.0, 0.0, 0.0, a.log_scale * profile(tau, a.phase))


def _ramp(t, p):
    """Monotone growth over the whole video, centred on the per-video start size: -0.5 at tau = 0, 0.5 at tau = 1."""
    return t - 0.5


# ---------------------------------------------------------------------------------------------- catalogues
class _Catalogue(list):
    """An ordered list of motions with helpers to add one, or a motion and its time reversal."""

    def add(self, m: Motion) -> Motion:
        self.append(m)
        return m

    def pair(self, name, desc, fn, rname, rdesc) -> None:
        self.add(reverse(self.add(Motion(name, desc, fn)), rname, rdesc))


def _ucf_catalogue() -> list[Motion]:
    out = _Catalogue()
    add, pair = out.add, out.pair

    # the 12 classes of `small` (the first 8 are `tiny`): 6 time-reversal pairs
    pair(
        "TranslateLeft",
        "constant-speed translation to the left",
        _move("Left", lambda t: t),
        "TranslateRight",
        "constant-speed translation to the right",
    )
    pair(
        "TranslateUp",
        "constant-speed translation upwards",
        _move("Up", lambda t: t),
        "TranslateDown",
        "constant-speed translation downwards",
    )
    pair(
        "RotateClockwise",
        "in-place rotation, clockwise on screen",
        _rotate(1.0),
        "RotateCounterclockwise",
        "in-place rotation, counter-clockwise on screen",
    )
    pair(
        "Grow",
        "in-place steady growth by e^log_scale over the whole video",
        _scale(_ramp),
        "Shrink",
        "in-place shrinking",
    )
    pair(
        "AccelerateRight",
        "moves right, speeding up from rest",
        _move("Right", lambda t: t * t),
        "DecelerateLeft",
        "moves left, slowing down to rest",
    )
    pair(
        "LeftThenUp",
        "half the time left, then up",
        _legs("Left", "Up"),
        "DownThenRight",
        "half the time down, then right",
    )
    # bench extension
    for d in DIAGONAL[::2]:
        pair(
            f"Translate{d}",
            f"constant-speed translation {d}",
            _move(d, lambda t: t),
            f"Translate{OPPOSITE[d]}",
            f"constant-speed translation {OPPOSITE[d]}",
        )
    for d in ("Left", "Up", "Down", *DIAGONAL):
        pair(
            f"Accelerate{d}",
            f"moves {d}, speeding up from rest",
            _move(d, lambda t: t * t),
            f"Decelerate{OPPOSITE[d]}",
            f"moves {OPPOSITE[d]}, slowing down to rest",
        )
    done = {"LeftThenUp", "DownThenRight"}
    for group in (CARDINAL, DIAGONAL):
        for a in group:
            for b in group:
                name = f"{a}Then{b}"
                if a == b or name in done:
                    continue
                rname = f"{OPPOSITE[b]}Then{OPPOSITE[a]}"
                if rname == name:  # A then -A is its own time reversal
                    add(Motion(name, f"half the time {a}, then {b} (palindromic)", _legs(a, b)))
                else:
                    pair(
                        name,
                        f"half the time {a}, then {b}",
                        _legs(a, b),
                        rname,
                        f"half the time {OPPOSITE[b]}, then {OPPOSITE[a]}",
                    )
                done |= {name, rname}
    for d in DIRECTIONS:  # every direction: X+d pairs with its reversal X'+opposite(d)
        o = OPPOSITE[d]
        pair(
            f"RotateClockwiseMoving{d}",
            f"rotates clockwise while translating {d}",
            _combine(_rotate(1.0), _move(d, lambda t: t)),
            f"RotateCounterclockwiseMoving{o}",
            f"rotates counter-clockwise while translating {o}",
        )
    for d in DIRECTIONS:
        o = OPPOSITE[d]
        pair(
            f"GrowMoving{d}",
            f"grows while translating {d}",
            _combine(_scale(_ramp), _move(d, lambda t: t)),
            f"ShrinkMoving{o}",
            f"shrinks while translating {o}",
        )
    add(
        Motion(
            "RotateClockwiseThenCounterclockwise",
            "rotates clockwise, then back (palindromic)",
            _rotate(1.0, lambda t: 0.5 - np.abs(t - 0.5)),
        )
    )
    add(
        Motion(
            "RotateCounterclockwiseThenClockwise",
            "rotates counter-clockwise, then back (palindromic)",
            _rotate(-1.0, lambda t: 0.5 - np.abs(t - 0.5)),
        )
    )
    for a in CARDINAL:  # 45-degree turns; the catalogue is longer than 101, `bench` takes the first 101
        for b in DIAGONAL:
            pair(
                f"{a}Then{b}",
                f"half the time {a}, then {b}",
                _legs(a, b),
                f"{OPPOSITE[b]}Then{OPPOSITE[a]}",
                f"half the time {OPPOSITE[b]}, then {OPPOSITE[a]}",
            )
    return list(out)


def _hmdb_catalogue() -> list[Motion]:
    out = _Catalogue()
    add, pair = out.add, out.pair

    s = _snake
    # the 10 classes of `small` (the first 6 are `tiny`): 5 time-reversal pairs
    pair(
        "orbit_cw",
        "centre moves on a circle, clockwise",
        _orbit(1.0),
        "orbit_ccw",
        "centre moves on a circle, counter-clockwise",
    )
    pair(
        "zigzag_right",
        "moves right on a triangle-wave path",
        _perp_wave("Right", lambda t: _tri(3.0 * t)),
        "zigzag_left",
        "moves left on a triangle-wave path",
    )
    pair("hop_right", "two parabolic hops to the right", _hop("Right"), "hop_left", "two parabolic hops to the left")
    pair(
        "stop_go_up",
        "moves up, pauses for the middle third, moves up again",
        _move("Up", _stop_go),
        "stop_go_down",
        "moves down, pauses, moves down again",
    )
    pair(
        "spin_speedup_cw",
        "clockwise rotation speeding up from rest",
        _rotate(1.0, lambda t: t * t),
        "spin_slowdown_ccw",
        "counter-clockwise rotation slowing down to rest",
    )
    # bench extension
    for d in ("Up", "UpLeft", "UpRight"):
        pair(
            f"zigzag_{s(d)}",
            f"moves {d} on a triangle-wave path",
            _perp_wave(d, lambda t: _tri(3.0 * t)),
            f"zigzag_{s(OPPOSITE[d])}",
            f"moves {OPPOSITE[d]} on a triangle-wave path",
        )
    for d in ("Left", "UpLeft", "UpRight"):
        pair(
            f"stop_go_{s(d)}",
            f"moves {d}, pauses, moves {d} again",
            _move(d, _stop_go),
            f"stop_go_{s(OPPOSITE[d])}",
            f"moves {OPPOSITE[d]}, pauses, moves {OPPOSITE[d]} again",
        )
    pair(
        "spin_speedup_ccw",
        "counter-clockwise rotation speeding up from rest",
        _rotate(-1.0, lambda t: t * t),
        "spin_slowdown_cw",
        "clockwise rotation slowing down to rest",
    )
    pair(
        "spiral_out_cw",
        "spirals outwards, clockwise",
        _spiral_out(1.0),
        "spiral_in_ccw",
        "spirals inwards, counter-clockwise",
    )
    pair(
        "spiral_out_ccw",
        "spirals outwards, counter-clockwise",
        _spiral_out(-1.0),
        "spiral_in_cw",
        "spirals inwards, clockwise",
    )
    for d in ("Right", "Up", "UpLeft", "UpRight"):
        pair(
            f"wave_{s(d)}",
            f"moves {d} on a sine-wave path",
            _perp_wave(d, lambda t: np.sin(4.0 * math.pi * t)),
            f"wave_{s(OPPOSITE[d])}",
            f"moves {OPPOSITE[d]} on a sine-wave path",
        )
    add(
        Motion(
            "breathe",
            "size grows and shrinks linearly, one period",
            _scale(lambda t, p: 0.25 - np.abs((t + p) % 1.0 - 0.5)),
        )
    )
    add(
        Motion(
            "pulse",
            "size oscillates, three sine periods",
            _scale(lambda t, p: 0.4 * np.sin(2.0 * math.pi * (3.0 * t + p))),
        )
    )
    add(
        Motion(
            "shake_horizontal",
            "oscillates left-right in place, four periods",
            lambda t, a: (1.5 * a.wiggle * np.sin(8.0 * math.pi * t), 0.0, 0.0, 0.0),
        )
    )
    add(
        Motion(
            "shake_vertical",
            "oscillates up-down in place, four periods",
            lambda t, a: (0.0, 1.5 * a.wiggle * np.sin(8.0 * math.pi * t), 0.0, 0.0),
        )
    )
    for d in CARDINAL:
        for turn in ("left", "right"):
            add(Motion(f"curve_{turn}_heading_{s(d)}", f"starts heading {d}, turns 90 degrees {turn}", _curve(turn, d)))
    add(
        Motion(
            "figure_eight",
            "centre traces a horizontal figure eight",
            lambda t, a: (a.radius * np.sin(2.0 * math.pi * t), 0.5 * a.radius * np.sin(4.0 * math.pi * t), 0.0, 0.0),
        )
    )
    pair(
        "square_cw",
        "square path right, down, left, up (clockwise)",
        _legs("Right", "Down", "Left", "Up"),
        "square_ccw",
        "square path down, right, up, left (counter-clockwise)",
    )
    return list(out)


UCF_MOTIONS: list[Motion] = _ucf_catalogue()
HMDB_MOTIONS: list[Motion] = _hmdb_catalogue()
