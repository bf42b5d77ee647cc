"""Fuzzing the Hydra command line of protocols/run.py with hypothesis.

Contract (experiment/checks.py): overrides either compose into a configuration that passes
``check_values`` and ``experiment.app.check_config`` and whose values have the types the run reads, or raise one of
the documented errors: a Hydra error (parse, composition, unknown group option), an OmegaConf error (an
interpolation that does not resolve), or ``ConfigValueError`` (wrong type for the schema of experiment/config.py or
out of range, naming the key; or a config-group override whose value is not a name, ``dataset=5``, on which Hydra
itself crashes: ``check_overrides`` catches those and the wrong types first, as protocols/run.py does). Nothing else
escapes.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hydra.errors import HydraException
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from experiment import app
from experiment.checks import PROTOCOLS, STAGES, ConfigValueError, check_overrides, check_values
from protocols.registry import available_protocols

from helpers import REPO, compose_cfg

DOCUMENTED = (HydraException, OmegaConfBaseException, ConfigValueError)


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}{k}.")
        yield prefix.rstrip(".")
    else:
        yield prefix.rstrip(".")


DEFAULT = OmegaConf.to_container(compose_cfg(), resolve=False)
KEYS = sorted(k for k in set(_leaves(DEFAULT)) if k) + ["preset", "hydra.run.dir", "hydra.job.chdir", "nope.x"]
VALUES = [
    "0",
    "1",
    "2",
    "3",
    "-1",
    "7",
    "1.5",
    "1e400",
    "nan",
    "-inf",
    "99999999999999999999",
    "true",
    "false",
    "null",
    "abc",
    "''",
    "' '",
    '"x y"',
    "[]",
    "[1]",
    "[a,b]",
    "[linear,foo]",
    "[[1]]",
    "{}",
    "{a:1}",
    "${seed}",
    "${nope}",
    "${oc.env:NOPE_NOT_SET}",
    "${oc.env:HOME}",
    "a,b",
    "range(1,3)",
    "choice(a,b)",
    "int(3)",
    "str(1)",
    "é",
    "\\",
    "'",
    "=",
    "vcop",
    "tcgl",
    "tiny",
    "ucf101",
    "hmdb51",
    "linear",
    "retrieval",
    "pretrain",
    "eval",
    "cpu",
    "cuda:0",
    "auto",
    "smoke",
    "max",
    "avg",
    "skip",
    "error",
    "/tmp/x",
    "x" * 200,
]


def _mutate(key: str, how: int) -> str:
    if how == 1 and len(key) > 2:
        return key[:-1]  # a typo: last letter missing
    if how == 2:
        return key.replace(".", "..", 1) if "." in key else key + "."
    if how == 3:
        return key.upper()
    return key


@st.composite
def override(draw) -> str:
    key = _mutate(draw(st.sampled_from(KEYS)), draw(st.integers(0, 6)))
    prefix = draw(st.sampled_from(["", "", "", "+", "++", "~"]))
    if prefix == "~" and draw(st.booleans()):
        return f"~{key}"
    value = draw(st.sampled_from(VALUES) if draw(st.integers(0, 3)) else st.text(max_size=12))  # 3/4 known
    return f"{prefix}{key}={value}"


def _check(overrides: list[str]) -> str:
    """Compose and check; returns the outcome's class name ('ok' when it passed)."""
    try:
        check_overrides(overrides)  # as protocols/run.py does before Hydra sees the command line
        cfg = compose_cfg(*overrides)
        check_values(cfg)
    except DOCUMENTED as e:
        assert str(e).strip(), f"{type(e).__name__} without a message"
        return type(e).__name__
    app.check_config(cfg)  # must agree: never raises after check_values
    # the values the run reads with int()/float()/iteration are what they claim to be
    assert cfg.stage in STAGES and set(cfg.protocols) <= set(PROTOCOLS) and cfg.split in (1, 2, 3)
    for key in ("seed", "pretrain.epochs", "pretrain.batch_size", "eval.batch_size", "eval.clips_per_video"):
        value = OmegaConf.select(cfg, key)
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 0, (key, value)
    assert math.isfinite(float(cfg.method.optim.lr)) and int(cfg.input.crop) <= min(cfg.input.resize)
    return "ok"


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=st.lists(override(), min_size=1, max_size=3))
@example(overrides=["split=1.5"])  # int(1.5) == 1 would silently run split 1
@example(overrides=["protocols=linear"])  # a string, iterated letter by letter
@example(overrides=["seed=abc"])
@example(overrides=["~method"])
@example(overrides=["pretrain=3"])
@example(overrides=["dataset=5"])
@example(overrides=["~backbone=0"])  # found by a 1500-example run: Hydra's ValueError for a group deletion value
@example(overrides=["backbone=[[1]]"])  # found by a 1500-example run: Hydra's TypeError from deep inside
@example(overrides=["dataset=ucf101"])  # dataset.root is mandatory
@example(overrides=["seed=${oc.env:NOPE_NOT_SET}"])
@example(overrides=["input.crop=500"])
@example(overrides=["method=vcop", "split=2", "protocols=[linear]", "seed=3"])
def test_fuzzed_overrides_parse_or_give_a_documented_error(overrides):
    _check(overrides)


@pytest.mark.parametrize(
    "overrides, outcome, message",
    [
        (["split=1.5"], "ConfigValueError", "split=1.5: must be an integer"),
        (["split=7"], "ConfigValueError", "split=7: the official splits are 1, 2 and 3"),
        (["protocols=linear"], "ConfigValueError", "protocols='linear': must be a list"),
        (["protocols=[linear,foo]"], "ConfigValueError", "unknown protocol(s) ['foo']"),
        (["stage=bogus"], "ConfigValueError", "stage='bogus': valid: pretrain, features, eval, all"),
        (["pretrain.epochs=abc"], "ConfigValueError", "pretrain.epochs='abc': must be an integer"),
        (["seed=abc"], "ConfigValueError", "seed='abc': must be an integer"),
        (["pretrain.epochs=1.5"], "ConfigValueError", "pretrain.epochs=1.5: must be an integer"),
        (["input.crop=[1]"], "ConfigValueError", "input.crop=[1]: must be an integer"),
        (["pretrain=3"], "ConfigValueError", "pretrain=3: must be a section"),
        (["~method"], "ConfigValueError", "method is required (was it removed with ~method?)"),
        (["protocol.svm.C=nan"], "ConfigValueError", "protocol.svm.C=nan: must be a finite number"),
        (["~seed"], "ConfigValueError", "seed is required"),
        (["dataset=ucf101"], "ConfigValueError", "dataset.root is required for dataset=ucf101"),
        (["dataset.eval_on=[foo]"], "ConfigValueError", "dataset.eval_on=['foo']: must be a list of the sets"),
        (["input.crop=500"], "ConfigValueError", "1 <= crop <= min(resize)"),
        (["input.colour_on=gpu"], "ConfigValueError", "input.colour_on='gpu': valid: auto, worker, device"),
        (["pretrain.epocs=3"], "ConfigValueError", "pretrain.epocs=3: pretrain has no key 'epocs'; valid: epochs,"),
        (["method.params.tau_typo=1"], "ConfigValueError", "method.params has no key 'tau_typo'; valid: num_clips,"),
        (["method.optim.lrr=1"], "ConfigValueError", "method.optim has no key 'lrr'; valid: name, lr, momentum,"),
        (
            ["method=tcgll"],
            "ConfigValueError",
            "method='tcgll': no such option of the config group method; valid: opn,",
        ),
        (["a=b=c"], "OverrideParseException", "mismatched input"),
        (["seed=${oc.env:NOPE_NOT_SET}"], "InterpolationResolutionError", "NOPE_NOT_SET"),
        (
            ["dataset=5"],
            "ConfigValueError",
            "dataset=5: dataset is a config group: give one of embedded, embedded_k400, hmdb51",
        ),
        (["backbone=[[1]]"], "ConfigValueError", "backbone is a config group"),
        (["~backbone=0"], "ConfigValueError", "~backbone=0: backbone is a config group"),
    ],
)
def test_documented_errors_name_the_key(overrides, outcome, message):
    try:
        check_overrides(overrides)
        cfg = compose_cfg(*overrides)
        check_values(cfg)
    except Exception as e:
        assert (type(e).__name__, message in str(e)) == (outcome, True), str(e)
    else:
        pytest.fail(f"{overrides} passed")


def test_protocol_names_come_from_the_registry_and_the_app_checks_with_check_values():
    assert PROTOCOLS == tuple(available_protocols()) and app.check_config is check_values


def test_every_method_backbone_and_dataset_passes():
    for method in ("opn", "random", "sorder", "speednet", "supervised", "tcgl", "vcop"):
        assert _check([f"method={method}"]) == "ok"
    for backbone in ("c3d", "r21d", "r2plus1d_18", "r3d", "r3d_18", "tiny"):
        assert _check([f"backbone={backbone}"]) == "ok"
    for dataset in ("ucf101", "hmdb51"):
        assert _check([f"dataset={dataset}", "dataset.root=/data/x"]) == "ok"
    assert _check(["dataset=ucf101_hmdb51", "dataset.ucf101_root=/u", "dataset.hmdb51_root=/h"]) == "ok"
    with pytest.raises(ConfigValueError, match="dataset.hmdb51_root is required for dataset=ucf101_hmdb51"):
        check_values(compose_cfg("dataset=ucf101_hmdb51", "dataset.ucf101_root=/u"))
    for preset in ("default", "paper", "smoke"):
        assert _check([f"preset={preset}"]) == "ok"


@pytest.mark.parametrize(
    "override, message",
    [
        ("split=1.5", "split=1.5: must be an integer"),  # the schema's type: checked before Hydra composes
        ("stage=bogus", "stage='bogus': valid: pretrain, features, eval, all"),  # checked in main(), once composed
        ("backbone=[[1]]", "backbone=[[1]]: backbone is a config group"),  # checked before Hydra parses it
        ("method.optim.lrr=1", "method.optim.lrr=1: method.optim has no key 'lrr'"),  # a typo: before Hydra composes
    ],
)
def test_command_line_reports_a_bad_value_in_one_line_without_a_traceback(tmp_path, override, message):
    r = subprocess.run(
        [sys.executable, str(REPO / "protocols" / "run.py"), override, f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert (r.returncode, r.stdout) == (2, ""), r.stderr
    assert f"vssl-bench: invalid configuration: {message}" in r.stderr and "Traceback" not in r.stderr
