"""The typed schema of the run configuration: Hydra structured configs, registered in Hydra's ConfigStore.

Importing this module registers the nodes below (protocols/run.py imports it; experiment/compose.py calls
:func:`register` before each compose). Each YAML file names its schema first in its defaults list (Hydra's "schema"
pattern), so the types and the section defaults come from the dataclasses, and OmegaConf refuses a value of the wrong
type as it is set, naming the key (``seed=abc``, ``pretrain.epochs=1.5``, ``input.crop=[1]``). Struct mode stays
on: a misspelled key is an error, also in the open sections ``method.params``, ``method.released`` and
``backbone.params``, whose keys are those the chosen method's or backbone's YAML file lists (their values are not
typed: the YAML file is their reference).

    node                              dataclass              YAML files that name it
    base_config                       RootConfig             config.yaml (its defaults list starts with it)
    method/base_method                MethodConfig           method/{opn,random,sorder,speednet,supervised}.yaml
    method/base_released_method       ReleasedMethodConfig   method/{tcgl,vcop}.yaml (methods with released code)
    backbone/base_backbone            BackboneConfig         backbone/*.yaml
    dataset/base_dataset              DatasetConfig          dataset/{embedded,embedded_k400}.yaml
    dataset/base_real_dataset         RealDatasetConfig      dataset/{ucf101,hmdb51,kinetics400,ssv2}.yaml
    dataset/base_transfer_dataset     TransferDatasetConfig  dataset/ucf101_hmdb51.yaml
    dataset/base_kinetics_transfer_dataset
                                      KineticsTransferDatasetConfig  dataset/k400_ucf101_hmdb51.yaml
    recipe/base_recipe                RecipeConfig           recipe/*.yaml
    protocol/base_<name>              PROTOCOL_SCHEMAS       protocol/<name>.yaml

The root's own defaults list (:func:`protocol_defaults`) adds ``protocol@protocol.<name>: <name>`` for every protocol
registered in protocols/registry.py, so a new protocol is one module plus ``protocols/conf/protocol/<name>.yaml``
(typed when that file names a schema here, as ``defaults: [base_<name>, _self_]``; a plain section otherwise).

The optimiser: :class:`OptimConfig` (``method.optim``) holds the defaults every method shares (SGD with momentum 0.9
and weight decay 5e-4); a method's YAML sets only its ``lr``, and preset=default switches every method to AdamW.

Numbers are :data:`Number` (``int | float``): a value keeps the type it was given, as it did before the schema
(``protocol.svm.C=1`` stays ``1``), so resolved configs, and the hashes records keep of them, do not change (lists of
numbers are :data:`Numbers`, see there). Choices
(``stage``, ``recipe.init``, ...) stay strings, checked by experiment/checks.py with the ranges and the cross-field
rules: an Enum would put Enum members, not the strings the run compares and records, in the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

Number = int | float  # an int stays an int, a float a float; bool and str are refused
# A list of numbers. Not list[Number]: OmegaConf 2.3 hands out its UnionNode objects, not the numbers, when such a list
# is iterated (tuple(cfg.input.mean)); nor list[float], which turns input.jitter=[0,0,0,0] into floats and so changes
# the config's hash. experiment/checks.py checks that every element is a finite number.
Numbers = list[Any]


@dataclass
class InputConfig:
    """``input``: clip geometry shared by pretraining and every protocol."""

    resize: list[int] = field(default_factory=lambda: [128, 171])
    crop: int = 112
    mean: Numbers = field(default_factory=lambda: [0.43216, 0.394666, 0.37645])
    std: Numbers = field(default_factory=lambda: [0.22803, 0.22145, 0.216989])
    # brightness, contrast, saturation, hue (hue off: it costs 3x the rest on CPU)
    jitter: Numbers = field(default_factory=lambda: [0.4, 0.4, 0.4, 0.0])
    jitter_p: Number = 0.8
    # auto: mirror training clips only where the dataset says a mirror keeps every label (dataset.mirror_safe: real
    # UCF101/HMDB51 yes; the embedded sets no, their classes include left/right and clockwise/counter-clockwise
    # pairs that a mirror swaps) | true | false
    flip: bool | str = "auto"
    # where uint8 clips become normalised floats (colour jitter, normalisation): worker (the loader's CPU processes)
    # | device (the batch on the GPU: 1/4 of the bytes through shared memory and PCIe) | auto (device on CUDA,
    # worker on CPU)
    colour_on: str = "auto"


@dataclass
class PretrainConfig:
    """``pretrain``: the pretext training. In a multi-process job ``batch_size`` is the global batch."""

    epochs: int = 300
    batch_size: int = 8
    warmup_epochs: int = 5
    val_fraction: Number = 0.1  # carved from the train list, group-aware; pretext accuracy is logged on it
    num_workers: int = 2
    max_steps_per_epoch: int | None = None  # cap for quick runs; null = the whole train list
    on_missing: str = "error"  # error | skip (skipped videos are counted in every record)
    on_corrupt: str = "skip"  # training skips undecodable videos and counts them (evaluation always fails on them)
    sync_bn: bool = False  # multi-process jobs: BatchNorm statistics over the global batch, not each process's share


@dataclass
class EvalConfig:
    """``eval``: feature extraction and testing (``batch_size`` is per process)."""

    num_workers: int = 2
    batch_size: int = 16
    clips_per_video: int = 10
    features_from_cache_only: bool = False  # true: a missing feature cache is an error (the DVC evaluate stages)


@dataclass
class PathsConfig:
    """``paths``: where things are read and written."""

    data: str = "data"  # embedded datasets are generated here when missing
    runs: str = "runs"  # checkpoints and logs, one folder per pretraining run
    cache: str = "runs/cache"  # cached features, keyed by checkpoint hash and transform
    records: str = "results/runs"  # one JSON result record per (run, protocol, dataset, split, seed)
    # a folder: read frames from a decoded-frame cache there (built as videos are first read, or ahead with
    # python -m datasets.frame_cache) instead of decoding the videos; same clips bit for bit, ~65.7 KB per frame on
    # disk (datasets/frame_cache.py)
    frame_cache: str | None = None


@dataclass
class OptimConfig:
    """``method.optim``: the pretraining optimiser of ``recipe.optimizer=suite``, shared by every method; a method's
    YAML sets its ``lr`` (its paper's solver) and anything else it does differently."""

    name: str = "sgd"  # sgd (Nesterov momentum) | adamw (momentum unused); the default preset sets adamw
    lr: Number = MISSING
    momentum: Number = 0.9
    weight_decay: Number = 5.0e-4


@dataclass
class MethodConfig:
    """``method``: a pretext method (methods/registry.py); ``params`` are its constructor's keyword arguments, and
    the method's YAML file is their reference (a key it does not list is an error)."""

    name: str = MISSING
    optim: OptimConfig = field(default_factory=OptimConfig)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReleasedMethodConfig(MethodConfig):
    """A method with released code (tcgl, vcop): ``released`` is what its scripts do (recipe=released,
    methods/RECIPES.md), listed in the method's YAML file."""

    released: dict[str, Any] = field(default_factory=dict)


@dataclass
class BackboneConfig:
    """``backbone``: the encoder (methods/backbones); ``params`` are its constructor's keyword arguments."""

    name: str = MISSING
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetSetConfig:
    """``dataset.sets.<key>``: one set the run pretrains or evaluates on."""

    label: str = MISSING  # the dataset name records carry
    layout: str = MISSING  # ucf101 | hmdb51 | kinetics400 | ssv2: the official folder and annotation layout
    root: str | None = MISSING  # null: a set the dataset config offers but the run does not use (checks.py)
    video_dir: str | None = None
    split_dir: str | None = None
    synthetic: bool = False
    # this set's own answer to "does a horizontal flip keep every class?"; null: the dataset's mirror_safe. SSv2 is
    # never mirrored (its classes name left and right), whatever this says
    mirror_safe: bool | None = None
    # kinetics400: the fraction of listed videos that may be missing or undecodable (skipped and counted); more stops
    # the run. null: 0.1. The other layouts follow pretrain.on_missing
    max_skipped: float | None = None


@dataclass
class DatasetConfig:
    """``dataset``: the sets, and which one pretrains (``pretrain_on``) and which are evaluated (``eval_on``)."""

    name: str = MISSING
    size: str | None = None  # embedded sets: tiny | small | bench (datasets/synthetic/spec.py)
    data_seed: int | None = None  # embedded sets: the generator's seed
    mirror_safe: bool = MISSING  # a horizontal flip keeps every class (input.flip=auto mirrors only then)
    pretrain_on: str = MISSING
    eval_on: list[str] = MISSING
    sets: dict[str, DatasetSetConfig] = MISSING


@dataclass
class RealDatasetConfig(DatasetConfig):
    """A real dataset in one folder (ucf101, hmdb51, kinetics400, ssv2): ``root``, or ``video_dir`` and
    ``split_dir`` separately."""

    root: str = MISSING
    video_dir: str | None = None
    split_dir: str | None = None


@dataclass
class TransferDatasetConfig(DatasetConfig):
    """Pretrain on real UCF101, evaluate on UCF101 and HMDB51 (ucf101_hmdb51)."""

    ucf101_root: str = MISSING
    hmdb51_root: str = MISSING


@dataclass
class KineticsTransferDatasetConfig(DatasetConfig):
    """Pretrain on real Kinetics-400, evaluate on UCF101 and HMDB51, and on SSv2 or Kinetics-400 where
    ``dataset.eval_on`` adds them (k400_ucf101_hmdb51): a root is needed for every set the run uses."""

    k400_root: str | None = None
    ucf101_root: str | None = None
    hmdb51_root: str | None = None
    ssv2_root: str | None = None


@dataclass
class RecipeConfig:
    """``recipe``: the training and evaluation recipe; recipe/suite.yaml explains each key, experiment/checks.py
    lists the valid values."""

    name: str = MISSING
    optimizer: str = MISSING
    init: str = MISSING
    short_videos: str = MISSING
    backbone_calls: str = MISSING
    input_scale: str = MISSING
    method_settings: str = MISSING
    finetune: str = MISSING
    eval_precision: str = MISSING
    test_clip_starts: str = MISSING
    centre_crop: str = MISSING


@dataclass
class LinearConfig:
    """``protocol.linear`` (protocols/linear.py)."""

    epochs: int = 100
    lr: Number = 0.1
    momentum: Number = 0.9
    batch_size: int = 256
    weight_decays: Numbers = field(default_factory=lambda: [0.0, 1.0e-4, 1.0e-3])  # selected on val
    eval_every: int = 5


@dataclass
class FinetuneConfig:
    """``protocol.finetune`` (protocols/finetune.py); ``batch_size`` is the global batch of a multi-process job."""

    epochs: int = 150
    lr: Number = 1.0e-3
    momentum: Number = 0.9
    weight_decay: Number = 5.0e-4
    batch_size: int = 16
    warmup_epochs: int = 0
    val_clips: int = 3  # clips per validation video for model selection (the test always uses eval.clips_per_video)
    clip_len: int = 16


@dataclass
class RetrievalConfig:
    """``protocol.retrieval`` (protocols/retrieval.py)."""

    pool: str = "max"  # max (VCOP) | avg
    # pooling kernel (t, h, w) on the conv5 map: VCOP's 1x2x2 (C3D at 112 px: 9,216-d)
    kernel: list[int] = field(default_factory=lambda: [1, 2, 2])
    ks: list[int] = field(default_factory=lambda: [1, 5, 10, 20, 50])
    chunk: int = 4096  # queries per similarity block, so a 13k x 13k search fits in memory
    clip_len: int = 16


@dataclass
class SvmConfig:
    """``protocol.svm`` (protocols/svm.py; liblinear ``-s 2 -c 100`` as TCGL's release)."""

    C: Number = 100.0  # the release's --cost default
    bias: bool = False  # liblinear's default -B -1 (no bias), as the release; true adds liblinear's -B 1 feature
    tol: Number = 0.01  # liblinear's -e default for -s 2, as the release (relative gradient-norm stopping criterion)
    max_iter: int = 1000  # liblinear's Newton-iteration limit; a fit that hits it is recorded as converged=0


# protocol name -> its section's schema, stored as protocol/base_<name> (a protocol without one is an untyped section)
PROTOCOL_SCHEMAS: dict[str, type] = {
    "linear": LinearConfig,
    "finetune": FinetuneConfig,
    "retrieval": RetrievalConfig,
    "svm": SvmConfig,
}


def protocol_defaults() -> list[Any]:
    """The root's defaults list: itself, then ``protocol@protocol.<name>: <name>`` for every registered protocol."""
    from protocols.registry import available_protocols

    return ["_self_", *({f"protocol@protocol.{name}": name} for name in available_protocols())]


@dataclass
class RootConfig:
    """The whole run configuration (protocols/conf/config.yaml)."""

    defaults: list[Any] = field(default_factory=protocol_defaults)
    stage: str = "all"  # pretrain | features | eval | all (features: cache the frozen features and stop)
    # none | untrained: evaluate the method's untrained encoder (same seed, same evaluation pipeline: its
    # preprocessing, e.g. TCGL's STKD) instead of pretraining it, the control its gain is measured against; a method
    # that evaluates like `random` has random as control
    control: str = "none"
    protocols: list[str] = field(default_factory=lambda: ["linear", "finetune", "retrieval"])  # svm is opt-in
    pretrained: str | None = None  # a checkpoint to evaluate (ours, or a backbone state dict trained elsewhere)
    # ours (a checkpoint of this suite, or a plain state dict of the backbone) | vcop | tcgl: a checkpoint saved by
    # the official VCOP / TCGL code, mapped name by name (strictly) onto this method's model
    # (methods/official_weights.py), and evaluated on [0, 1] inputs without mean/std normalisation, as the official
    # code feeds its models
    pretrained_format: str = "ours"
    seed: int = 0
    split: int = 1  # official split 1, 2 or 3
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    input: InputConfig = field(default_factory=InputConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    method: MethodConfig = MISSING  # the config groups: config.yaml chooses their defaults
    backbone: BackboneConfig = MISSING
    dataset: DatasetConfig = MISSING
    recipe: RecipeConfig = MISSING
    protocol: dict[str, Any] = field(default_factory=dict)  # protocol.<name>: one section per registered protocol


def register() -> None:
    """Store every schema node in Hydra's ConfigStore; a later call replaces them (the root's defaults list then
    names every protocol registered by that time)."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=RootConfig)
    cs.store(group="method", name="base_method", node=MethodConfig)
    cs.store(group="method", name="base_released_method", node=ReleasedMethodConfig)
    cs.store(group="backbone", name="base_backbone", node=BackboneConfig)
    cs.store(group="dataset", name="base_dataset", node=DatasetConfig)
    cs.store(group="dataset", name="base_real_dataset", node=RealDatasetConfig)
    cs.store(group="dataset", name="base_transfer_dataset", node=TransferDatasetConfig)
    cs.store(group="dataset", name="base_kinetics_transfer_dataset", node=KineticsTransferDatasetConfig)
    cs.store(group="recipe", name="base_recipe", node=RecipeConfig)
    for name, schema in PROTOCOL_SCHEMAS.items():
        cs.store(group="protocol", name=f"base_{name}", node=schema)


register()

__all__ = [
    "PROTOCOL_SCHEMAS",
    "BackboneConfig",
    "DatasetConfig",
    "DatasetSetConfig",
    "EvalConfig",
    "FinetuneConfig",
    "InputConfig",
    "KineticsTransferDatasetConfig",
    "LinearConfig",
    "MethodConfig",
    "Number",
    "Numbers",
    "OptimConfig",
    "PathsConfig",
    "PretrainConfig",
    "RealDatasetConfig",
    "RecipeConfig",
    "ReleasedMethodConfig",
    "RetrievalConfig",
    "RootConfig",
    "SvmConfig",
    "TransferDatasetConfig",
    "protocol_defaults",
    "register",
]
