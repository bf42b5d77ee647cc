"""The typed config schema (experiment/config.py): what it composes, what it refuses, and what it must not change.

resolved_configs.json holds resolved configs (``OmegaConf.to_container(cfg, resolve=True)``) composed by the code
before the schema existed, when every section was plain YAML: records keep the resolved config and its hash, so the
schema must give exactly the same values, value types (an int stays an int) and keys, for every method, preset,
recipe, dataset and backbone, the DVC pipeline's overrides and a few edits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from experiment import config as schema
from experiment.checks import ConfigValueError, check_overrides, check_values
from experiment.compose import CONFIG_DIR, compose
from protocols.registry import PROTOCOLS, Protocol, available_protocols

EXPECTED = json.loads((Path(__file__).parent / "resolved_configs.json").read_text())


def canonical(c) -> str:
    return json.dumps(c, sort_keys=True)  # 1 and 1.0 differ here, as they do in a record's config hash


# keys a dataset set gained after the pinned configs (#19), null by default: experiment.app.eval_config drops them
# when null, so the configs and hashes that records keep are unchanged
NEW_SET_KEYS = ("mirror_safe", "max_skipped")


def without_new_defaults(c: dict) -> dict:
    for s in c.get("dataset", {}).get("sets", {}).values():
        for k in NEW_SET_KEYS:
            if s.get(k, "") is None:
                del s[k]
    return c


@pytest.mark.parametrize("case", EXPECTED, ids=[" ".join(c["overrides"]) or "default" for c in EXPECTED])
def test_resolved_config_is_what_the_plain_yaml_gave(case):
    from experiment.app import eval_config

    cfg = compose(case["overrides"])
    check_values(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert canonical(without_new_defaults(resolved)) == canonical(case["config"])
    assert all(k not in s for s in eval_config(cfg)["dataset"]["sets"].values() for k in NEW_SET_KEYS)


def test_sections_are_typed_by_their_schema():
    cfg = compose(["method=vcop", "dataset=ucf101", "dataset.root=/u"])
    assert OmegaConf.get_type(cfg) is schema.RootConfig
    assert OmegaConf.get_type(cfg.method) is schema.ReleasedMethodConfig
    assert OmegaConf.get_type(cfg.method.optim) is schema.OptimConfig
    assert OmegaConf.get_type(cfg.dataset) is schema.RealDatasetConfig
    assert OmegaConf.get_type(cfg.dataset.sets.ucf101) is schema.DatasetSetConfig
    for name, section in schema.PROTOCOL_SCHEMAS.items():
        assert OmegaConf.get_type(cfg.protocol[name]) is section
    assert OmegaConf.get_type(compose(["method=opn"]).method) is schema.MethodConfig  # no `released` key
    assert "released" not in compose(["method=opn"]).method


@pytest.mark.parametrize("group", ["method", "backbone", "dataset", "recipe", "protocol"])
def test_every_group_option_names_its_schema_first(group):
    for path in sorted((CONFIG_DIR / group).glob("*.yaml")):
        first = yaml.safe_load(path.read_text())["defaults"][0]
        assert first.startswith("base_") and first in _stored(group), path


def _stored(group: str) -> set[str]:
    from hydra.core.config_store import ConfigStore

    return {name.removesuffix(".yaml") for name in ConfigStore.instance().list(group)}


def test_every_registered_protocol_has_its_yaml_and_its_section():
    names = available_protocols()
    assert set(names) >= {"linear", "finetune", "retrieval", "svm"}
    defaults = schema.protocol_defaults()
    assert defaults[0] == "_self_" and defaults[1:] == [{f"protocol@protocol.{n}": n} for n in names]
    cfg = compose([])
    for name in names:
        assert (CONFIG_DIR / "protocol" / f"{name}.yaml").is_file(), name
        assert name in cfg.protocol, name


def test_a_new_protocol_gets_its_defaults_entry_from_the_registry():
    @PROTOCOLS.register("toy_schema_protocol")
    class Toy(Protocol):
        pass

    try:
        assert {"protocol@protocol.toy_schema_protocol": "toy_schema_protocol"} in schema.protocol_defaults()
    finally:
        PROTOCOLS.unregister("toy_schema_protocol")
    assert all("toy" not in str(d) for d in schema.protocol_defaults())


def test_optimiser_defaults_are_shared_and_overridable():
    sgd = OmegaConf.to_container(compose(["method=opn", "preset=smoke"]).method.optim)
    assert sgd == {"name": "sgd", "lr": 1.0e-2, "momentum": 0.9, "weight_decay": 5.0e-4}
    adamw = OmegaConf.to_container(compose(["method=opn"]).method.optim)  # preset=default
    assert adamw == {"name": "adamw", "lr": 2.0e-3, "momentum": 0.9, "weight_decay": 5.0e-4}
    cfg = compose(["method=tcgl", "preset=smoke", "method.optim.lr=0.5", "method.optim.name=adamw"])
    assert OmegaConf.to_container(cfg.method.optim) == {
        "name": "adamw",
        "lr": 0.5,
        "momentum": 0.9,
        "weight_decay": 5.0e-4,
    }
    for path in (CONFIG_DIR / "method").glob("*.yaml"):  # one copy of the shared values: each method sets its lr
        assert set(yaml.safe_load(path.read_text())["optim"]) == {"lr"}, path


@pytest.mark.parametrize(
    "override, message",
    [
        ("seed=abc", "seed='abc': must be an integer, like the default 0"),
        ("pretrain.epochs=1.5", "pretrain.epochs=1.5: must be an integer"),
        ("input.crop=[1]", "input.crop=[1]: must be an integer"),
        ("split=true", "split=True: must be an integer"),
        ("protocols=linear", "protocols='linear': must be a list of strings"),
        ("input.resize=[a,b]", "input.resize=['a', 'b']: must be a list of integers, like the default [40, 40]"),
        ("input.jitter=abc", "input.jitter='abc': must be a list, like the default [0.4, 0.4, 0.4, 0.0]"),
        ("protocol.svm.C=abc", "protocol.svm.C='abc': must be a number"),
        ("dataset.data_seed=1.5", "dataset.data_seed=1.5: must be an integer or null"),
        ("paths.data=null", "paths.data=None: must be a string"),
        ("pretrain=3", "pretrain=3: must be a section"),
    ],
)
def test_a_wrong_type_is_refused_in_one_line_naming_the_key(override, message):
    with pytest.raises(ConfigValueError) as e:
        check_overrides([override])  # protocols/run.py, before Hydra composes its command line
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
    with pytest.raises(ConfigCompositionException) as e:  # composed without that check: Hydra's error, same key
        compose([override])
    assert override in str(e.value) and isinstance(e.value.__cause__, ValidationError)
    assert str(e.value.__cause__.full_key).startswith(override.split("=")[0])  # input.resize[0]: an element


@pytest.mark.parametrize(
    "override, message",
    [
        ("method.params.tau_typo=1", "method.params has no key 'tau_typo'; valid: num_clips, clip_len, gap,"),
        ("method.optim.lrr=1", "method.optim has no key 'lrr'; valid: name, lr, momentum, weight_decay"),
        ("pretrain.epocs=3", "pretrain has no key 'epocs'; valid: epochs, batch_size,"),
        ("protocol.linear.epochz=1", "protocol.linear has no key 'epochz'; valid: epochs, lr,"),
        ("protocol.bogus.x=1", "protocol has no key 'bogus'; valid: finetune, linear, retrieval, svm"),
        ("dataset.sets.ucf101.labl=x", "dataset.sets.ucf101 has no key 'labl'; valid: label, layout, root,"),
        ("backbone.params.x=1", "backbone.params has no key 'x' (backbone.params is empty)"),
        ("method.released.schedul=x", "method.released has no key 'schedul'; valid: schedule, plateau,"),
        ("sed=1", "the config has no key 'sed'; valid: stage, control,"),
    ],
)
def test_a_misspelled_key_is_an_error_listing_the_valid_keys(override, message):
    with pytest.raises(ConfigValueError) as e:
        check_overrides(["method=tcgl", override])  # protocols/run.py: one line
    assert str(e.value).startswith(f"{override}: {message}") and "\n" not in str(e.value)
    with pytest.raises(ConfigCompositionException, match=f"Could not override '{override.split('=')[0]}'"):
        compose(["method=tcgl", override])  # struct mode, also in the open sections (params, released)


def test_errors_of_bad_overrides_are_hydras_as_before():
    with pytest.raises(MissingConfigException, match="method/tcgll"):
        compose(["method=tcgll"])
    with pytest.raises(ConfigCompositionException, match="Could not override 'method.released.schedule'"):
        compose(["method=opn", "method.released.schedule=x"])  # only tcgl and vcop have released code
    with pytest.raises(
        ConfigValueError,
        match="method='tcgll': no such option of the config group method; valid: "
        "opn, random, sorder, speednet, supervised, tcgl, vcop$",
    ):
        check_overrides(["method=tcgll"])  # the schema nodes (base_method, ...) are not options


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["~seed"], "seed is required (was it removed with ~seed?)"),
        (["~method"], "method is required (was it removed with ~method?): choose one with method=NAME"),
        (["~input"], "input is required"),
        (["dataset=ucf101"], "dataset.root is required for dataset=ucf101"),
        (["protocol.svm.C=nan"], "protocol.svm.C=nan: must be a finite number"),
        (["input.mean=[0,inf,0]"], "input.mean[1]=inf: must be a finite number"),
        (["input.mean=[a,b,c]"], "input.mean=['a', 'b', 'c']: must be a list of 3 numbers"),  # Numbers: see below
        (["input.jitter=[true]"], "input.jitter=[True]: must be a list of numbers"),
        (["protocol.linear.weight_decays=[a]"], "protocol.linear.weight_decays=['a']: must be a list of numbers"),
        (["seed=${paths.data}"], "seed: While dereferencing interpolation"),
        (["method.optim.name=sgdd"], "method.optim.name='sgdd': valid: sgd, adamw"),
    ],
)
def test_removed_missing_and_out_of_range_values_are_checked(overrides, message):
    check_overrides(overrides)
    with pytest.raises(ConfigValueError) as e:
        check_values(compose(overrides))
    assert str(e.value).startswith(message)


def test_lists_of_numbers_hand_out_numbers_and_keep_ints():
    """experiment.config.Numbers: a list[int | float] would iterate as OmegaConf UnionNode objects (OmegaConf 2.3), and
    a list[float] would store input.jitter=[0,0,0,0] (BENCHMARKS.md) as floats, changing its config hash."""
    cfg = compose(["input.jitter=[0,0,0,0]", "protocol.linear.weight_decays=[0,0.5]"])
    check_values(cfg)
    assert canonical(list(cfg.input.jitter)) == "[0, 0, 0, 0]" and tuple(cfg.input.mean) == (0.43216, 0.394666, 0.37645)
    assert [type(w) for w in cfg.protocol.linear.weight_decays] == [int, float]
    for key in ("resize", "mean", "std", "jitter"):
        assert all(isinstance(x, (int, float)) for x in cfg.input[key]), key
