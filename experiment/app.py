"""What ``protocols/run.py`` does: pretrain one method, then evaluate its encoder with every protocol on every
evaluation dataset, writing one result record per (protocol, dataset).

What is evaluated (a record's ``weights``): the encoder this config pretrains (``pretrained``), the same encoder
untrained, from the same seed, through the same evaluation pipeline (``untrained``: ``control=untrained``, or a
method that does not pretrain, such as ``random``), or a checkpoint given with ``pretrained=PATH``
(``checkpoint``). A checkpoint of another method is evaluated through this method's pipeline: its encoder weights
only (``method=tcgl pretrained=<supervised final.pt>`` evaluates supervised weights with TCGL's STKD).

A job with several processes (several submitit tasks, or torchrun; see runtime/distributed.py) runs this on every
rank: pretraining, feature extraction and fine-tuning are shared between the ranks, the linear probe and retrieval
run on rank 0 on the gathered features, and rank 0 alone writes the run folder and the records."""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from experiment import console, data
from experiment.checks import check_values
from methods.backbones.base import init_pytorch_default
from methods.registry import build_method, get_method_class
from protocols.features import FeatureSettings, cached_features, uniform_sampler
from protocols.pretrain import FORMAT as PRETRAIN_FORMAT
from protocols.pretrain import pretrain, pretraining_curve
from protocols.registry import EvalInputs, get_protocol
from results.atomic import atomic_write
from results.identity import curve_filename, record_filename, run_folder_name
from results.provenance import PRETRAIN_CODE, code_hash, config_hash, device_info, git_info, package_versions, utc_now
from results.records import FORMAT, RecordError, read_record, write_record
from runtime import distributed as dist
from runtime import engine, recipes
from runtime.checkpoint import CheckpointError, file_sha256, load_checkpoint, load_state_strict
from runtime.preemption import ignore_requeue_signal

log = logging.getLogger("vssl")
_RUNTIME_KEYS = ("paths", "device", "stage", "protocols", "pretrained")  # do not change what a result means
# where data is: the fingerprint says what it is
_LOCATION_KEYS = ("root", "video_dir", "split_dir", "ucf101_root", "hmdb51_root", "k400_root", "ssv2_root")


def _plain(node) -> dict:
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


def method_from_config(cfg: DictConfig, num_classes: int):
    """The method ``cfg`` selects, on the backbone it selects (seed the RNGs first: this initialises the weights),
    built as the recipe says: its initialisation (``recipe.init``), backbone calls (``recipe.backbone_calls``) and
    the release's per-backbone settings (``recipe.method_settings``)."""
    method = build_method(
        cfg.method.name,
        _plain(cfg.backbone.params) | {"name": cfg.backbone.name},
        num_classes=num_classes,
        **recipes.method_params(cfg),
    )
    if cfg.recipe.init == "pytorch":
        init_pytorch_default(method)
    method.backbone_calls = str(cfg.recipe.backbone_calls)
    return method


def weights_of(cfg: DictConfig) -> str:
    """The record's ``weights``: ``checkpoint`` (``pretrained=PATH``), ``untrained`` (``control=untrained``, or a
    method with nothing to pretrain) or ``pretrained``."""
    if cfg.pretrained:
        return "checkpoint"
    if cfg.control == "untrained" or not get_method_class(cfg.method.name).pretrains:
        return "untrained"
    return "pretrained"


def pretrain_identity(cfg: DictConfig, fingerprint: str) -> dict:
    """Everything that determines the pretrained weights (and nothing that does not, such as worker counts): the
    config, the data, whether the encoder is trained at all, and the content of the code that trains it."""
    p = _plain(cfg.pretrain)
    p.pop("num_workers", None)
    if not p.get("sync_bn"):
        p.pop("sync_bn", None)  # the default: identities (and run folders) from before the key existed stay valid
    return {
        "method": _plain(cfg.method),
        "backbone": _plain(cfg.backbone),
        "input": _plain(cfg.input),
        "pretrain": p,
        "data": cfg.dataset.sets[cfg.dataset.pretrain_on].label,
        "fingerprint": fingerprint,
        "split": int(cfg.split),
        "seed": int(cfg.seed),
        "weights": weights_of(cfg),
        "recipe": recipes.effective(cfg),
        "code": code_hash(PRETRAIN_CODE),
    }


def eval_config(cfg: DictConfig) -> dict:
    """The configuration values that can change a result: ``cfg`` without where things are (``paths``, dataset
    roots: a record's dataset fingerprint identifies its data), how they run (device, worker counts, the stage, which
    protocols and datasets are evaluated) and the checkpoint path."""
    c = _plain(cfg)
    for k in _RUNTIME_KEYS:
        c.pop(k, None)
    for section in ("pretrain", "eval"):
        c.get(section, {}).pop("num_workers", None)
    if not c.get("pretrain", {}).get("sync_bn"):
        c.get("pretrain", {}).pop("sync_bn", None)  # the default: record hashes from before the key stay valid
    c.get("eval", {}).pop("features_from_cache_only", None)  # where features come from, not what they are
    dataset = c.get("dataset", {})
    dataset.pop("eval_on", None)  # each record names its dataset
    for part in (dataset, *dataset.get("sets", {}).values()):
        for k in _LOCATION_KEYS:
            part.pop(k, None)
    for s in dataset.get("sets", {}).values():
        s.pop("max_skipped", None)  # how many absent videos a run accepts; the fingerprint says which were
        if s.get("mirror_safe", "") is None:
            s.pop("mirror_safe")  # the default (the dataset's): record hashes from before the key stay valid
    return c


def eval_config_hash(cfg: DictConfig) -> str:
    return config_hash(eval_config(cfg))


def variant_hash(cfg: DictConfig, checkpoint_sha: str | None = None) -> str:
    """The record's variant: :func:`eval_config` without the seed, and the checkpoint of ``pretrained=PATH``. Runs of
    one cell differ in it exactly when their configs do, so they write different records."""
    c = eval_config(cfg)
    c.pop("seed", None)
    return config_hash({"config": c, "checkpoint": checkpoint_sha if cfg.pretrained else None})


def record_base(cfg: DictConfig, dataset_label: str, checkpoint_sha: str | None = None) -> dict:
    """The identity fields of the records of ``cfg`` on one dataset (add ``protocol`` for a file name)."""
    return {
        "record_format": FORMAT,
        "method": cfg.method.name,
        "weights": weights_of(cfg),
        "backbone": cfg.backbone.name,
        "dataset": dataset_label,
        "split": int(cfg.split),
        "seed": int(cfg.seed),
        "variant_hash": variant_hash(cfg, checkpoint_sha),
    }


def record_names(cfg: DictConfig, checkpoint_sha: str | None = None) -> dict[str, str]:
    """``{file name: dataset key}`` of every record a run of ``cfg`` writes (one per evaluation set and protocol)."""
    return {
        record_filename(record_base(cfg, cfg.dataset.sets[key].label, checkpoint_sha) | {"protocol": p}): key
        for key in cfg.dataset.eval_on
        for p in cfg.protocols
    }


check_config = check_values  # the pipeline checks each cell's config before anything runs


def load_pretrained(method, path: Path, cfg) -> tuple[str, dict | None]:
    """Load a checkpoint into ``method`` strictly; returns its sha256 and what a checkpoint of ours says of itself
    (``method``, ``pretrain_data``; None for a checkpoint from elsewhere). Ours carry the whole method; one of another
    method gives its encoder only (evaluated through this method's pipeline); a checkpoint from elsewhere is taken as
    a state dict of the configured backbone."""
    if not path.exists():
        raise CheckpointError(f"pretrained={path}: no such file; give the path of a .pt checkpoint")
    fmt = str(cfg.get("pretrained_format", "ours"))
    if fmt != "ours":  # saved by the official code: its names mapped strictly onto ours, weights_only
        from methods.official_weights import load_official

        info = load_official(path, fmt, method, source=str(path))
        log.info("loaded %s as a checkpoint of the official %s code: %s", path, fmt, info)
        return file_sha256(path), {"method": f"official-{fmt}", "pretrain_data": "unknown", "format": fmt}
    payload = load_checkpoint(path)
    sha = file_sha256(path)
    if payload.get("format") == PRETRAIN_FORMAT:
        what = (
            f"{path} (trained as method={payload['method']} backbone={payload['backbone']}; this run builds "
            f"method={cfg.method.name} backbone={cfg.backbone.name})"
        )
        if payload["method"] == cfg.method.name:
            load_state_strict(method, payload["state_dict"], what)
        else:
            encoder = {k[len("encoder.") :]: v for k, v in payload["state_dict"].items() if k.startswith("encoder.")}
            load_state_strict(method.encoder, encoder, f"{what}, its encoder through {cfg.method.name}'s pipeline")
            log.info(
                "evaluating the encoder of %s (trained as %s) through %s's evaluation pipeline",
                path,
                payload["method"],
                cfg.method.name,
            )
        return sha, {
            "method": payload["method"],
            "pretrain_data": payload.get("pretrain_data", "unknown"),
            "pretrain_lists": payload.get("pretrain_lists"),
            **{k: payload[k] for k in ("pretrain_fingerprint", "pretrain_skipped") if k in payload},
        }
    else:
        state = payload.get("state_dict", payload)
        for prefix in ("base_network.", "backbone.", "encoder."):
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
        load_state_strict(method.encoder, state, f"{path} (as a {cfg.backbone.name} backbone)")
    return sha, None


def run(cfg: DictConfig, config_file: Path | None = None) -> list[Path]:
    """Returns the records written (by rank 0; other ranks return []). ``config_file``: where the caller saved the
    resolved config (the Hydra run folder's), named in the header."""
    device = dist.init(engine.pick_device(cfg.device))  # a process of a multi-process job joins its group here
    try:
        written = _run(cfg, device, config_file)
    except BaseException:
        dist.shutdown(wait=False)
        raise
    finally:
        # the outcome is final: a SLURM job must neither requeue nor die on a late time-limit signal
        ignore_requeue_signal()
    dist.shutdown()
    return written


def _run(cfg: DictConfig, device: torch.device, config_file: Path | None) -> list[Path]:
    t_start = time.time()
    git = git_info()
    check_values(cfg)
    engine.setup_determinism(device)
    seed = int(cfg.seed)
    weights = weights_of(cfg)

    pre = data.eval_set(cfg, cfg.dataset.pretrain_on, seed)  # loaded once; evaluation reuses it
    identity_hash = config_hash(pretrain_identity(cfg, pre.fingerprint))
    engine.seed_everything(seed)
    method = method_from_config(cfg, pre.index.num_classes)
    fallback = recipes.describe_fallback(cfg)
    if fallback and dist.is_main():
        print(fallback)
    if cfg.control == "untrained" and not method.eval_transform():
        if dist.is_main():
            print(
                f"method={cfg.method.name} evaluates an encoder exactly as method=random does (no evaluation-time "
                "transform), so its untrained control is the random row: run method=random (nothing to do here)"
            )
        return []
    work_dir = Path(cfg.paths.runs) / run_folder(cfg, pre.label, identity_hash, weights, method.pretrains)
    if dist.is_main():
        print(
            console.header(
                git,
                cfg.method.name,
                cfg.backbone.name,
                pre.label,
                device_info(device),
                work_dir,
                config_file
                or (work_dir / "config.yaml" if cfg.stage in ("pretrain", "all") and not cfg.pretrained else None),
                dist.world_size(),
            )
        )
    if cfg.pretrained:
        ckpt = Path(cfg.pretrained)
    elif cfg.stage in ("pretrain", "all"):
        # only the run that pretrains writes into its folder: stage=eval and stage=features only read it
        if dist.is_main():
            work_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(cfg, work_dir / "config.yaml", resolve=True)
        sampler, augment = method.sampler(), method.augmentation()
        train_list, val_list, lists = pre.train, pre.val, None
        if cfg.recipe.short_videos == "exclude" and weights == "pretrained":  # the released pretext lists
            (train_list, val_list), lists = data.exclude_short(cfg, [pre.train, pre.val], sampler.span)
            if not train_list:
                raise RuntimeError(
                    f"every training video of {pre.label} is shorter than the {sampler.span} frames "
                    f"a {cfg.method.name} sample spans (recipe.short_videos=exclude leaves none): "
                    "shorten the tuple (method.params) or use recipe.short_videos=pad"
                )
            if dist.is_main():
                print(
                    f"pretext lists without videos shorter than {sampler.span} frames (recipe.short_videos="
                    f"exclude): {lists['excluded_train']} of {len(pre.train)} training and "
                    f"{lists['excluded_val']} of {len(pre.val)} validation videos left out"
                )
        clips = data.ClipSettings.from_config(cfg, pre.key)
        train_ds = data.clip_dataset(clips, train_list, sampler, True, seed, cfg.pretrain.on_corrupt, augment)
        val_ds = data.clip_dataset(clips, val_list, sampler, True, seed + 1, cfg.pretrain.on_corrupt, augment)
        # the commit of the pretraining code, as the identity hash holds its content: a checkpoint reused after an
        # evaluation-only commit is then byte for byte the one a fresh clone pretrains
        meta = {
            "method": cfg.method.name,
            "backbone": cfg.backbone.name,
            "num_classes": pre.index.num_classes,
            "identity_hash": identity_hash,
            "git_sha": git_info(paths=PRETRAIN_CODE)["sha"],
            "weights": weights,
            "pretrain_data": pre.label if weights == "pretrained" else "none",
            "pretrain_lists": lists,
            **(pretrain_provenance(pre) if weights == "pretrained" else {}),
        }
        ckpt = pretrain(method, train_ds, val_ds, cfg, meta, work_dir, device, train=weights == "pretrained")
        if weights == "pretrained" and dist.is_main():
            write_curve(cfg, work_dir, method, variant_hash(cfg))
    else:
        ckpt = work_dir / "final.pt"
        if not ckpt.exists():
            raise CheckpointError(f"stage={cfg.stage} needs {ckpt}; run stage=pretrain first or pass pretrained=PATH")
    ckpt_sha, source = load_pretrained(method, ckpt, cfg)
    method.to(device)
    if dist.is_main():
        print(f"checkpoint {ckpt} sha256 {ckpt_sha[:16]}")
    if cfg.stage == "pretrain":
        return []
    if cfg.stage == "features":
        for key in cfg.dataset.eval_on:
            es = pre if key == pre.key else data.eval_set(cfg, key, seed)
            frozen_features(method, cfg, es, ckpt_sha, device)
        if dist.is_main():
            print(f"features cached in {cfg.paths.cache}; done in {time.time() - t_start:.1f}s")
        return []
    if weights == "checkpoint":
        pretrain_data = source.get("pretrain_data", "unknown") if source else "unknown"
    else:
        pretrain_data = pre.label if weights == "pretrained" else "none"
    return evaluate(
        method, cfg, ckpt_sha, git, device, t_start, loaded={pre.key: pre}, pretrain_data=pretrain_data, source=source
    )


def pretrain_provenance(pre) -> dict:
    """What a pretraining set was: its fingerprint (of the videos present) and the listed videos it skipped."""
    return {
        "pretrain_fingerprint": pre.fingerprint,
        "pretrain_skipped": {"missing": len(pre.index.missing), "undecodable": len(pre.index.undecodable)},
    }


def run_folder(cfg: DictConfig, data_label: str, identity_hash: str, weights: str, pretrains: bool) -> str:
    """The pretraining run's folder name (results.identity.run_folder_name) for ``cfg``."""
    return run_folder_name(
        cfg.method.name,
        cfg.backbone.name,
        data_label,
        cfg.split,
        cfg.seed,
        identity_hash,
        untrained=weights == "untrained" and pretrains,
    )


def write_curve(cfg: DictConfig, work_dir: Path, method, variant: str) -> Path:
    """The pretraining run's per-epoch losses and pretext accuracies (no timings), with its identity and the pretext
    task's chance level, as ``<paths.records>/pretraining/<run folder name>.csv``: the curves the pipeline aggregates
    and plots. Rewritten only when its content changes."""
    rows = pretraining_curve(work_dir)
    head = {
        "method": cfg.method.name,
        "backbone": cfg.backbone.name,
        "seed": int(cfg.seed),
        "variant_hash": variant,
        "chance": method.pretext_chance(),
    }
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*head, *(rows[0] if rows else {})], lineterminator="\n")
    writer.writeheader()
    writer.writerows(head | r for r in rows)
    path = Path(cfg.paths.records) / "pretraining" / curve_filename(work_dir.name)
    blob = buf.getvalue().encode()
    if not (path.exists() and path.read_bytes() == blob):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(blob))
    return path


def record_is_current(path: Path, expect: dict) -> bool:
    """Whether the record at ``path`` exists and has every value of ``expect`` (config and code hashes, git sha and
    dirty flag, dataset fingerprint, checkpoint): then its cell is done and is not computed again. A record that
    does not read is not current (the rerun supersedes it)."""
    if not path.exists():
        return False
    try:
        old = read_record(path)
    except RecordError as e:
        log.warning("%s; computing it again", e)
        return False
    return all(old.get(k) == v for k, v in expect.items())


def frozen_features(method, cfg, es, ckpt_sha: str, device) -> dict:
    """Frozen-encoder features of the train, val and test videos of ``es`` (cached, see protocols/features.py); on
    ranks other than 0 the parts read from the cache are None."""
    key_parts = {
        "checkpoint": ckpt_sha,
        "fingerprint": es.fingerprint,
        "split": int(cfg.split),
        "method": cfg.method.name,
        "preprocess": _plain(cfg.method.params),
    }
    sampler = uniform_sampler(cfg, cfg.protocol.retrieval.clip_len)
    clips, settings = data.ClipSettings.from_config(cfg, es.key), FeatureSettings.from_config(cfg)
    return {
        part: cached_features(
            method,
            data.clip_dataset(clips, entries, sampler, False, int(cfg.seed), "error"),
            settings,
            device,
            key_parts | {"part": part},
            Path(cfg.paths.cache),
        )
        for part, entries in (("train", es.train), ("val", es.val), ("test", es.test))
    }


def evaluate(
    method,
    cfg,
    ckpt_sha: str,
    git: dict,
    device,
    t_start: float,
    loaded=None,
    pretrain_data: str = "",
    source: dict | None = None,
) -> list[Path]:
    """``loaded``: evaluation sets already read (the pretraining set), by key, so they are not read twice.
    ``source``: what a checkpoint of ours says of itself (method, pretraining data), for ``weights=checkpoint``."""
    seed = int(cfg.seed)
    config, chash, code = eval_config(cfg), eval_config_hash(cfg), code_hash()
    written = []
    for key in cfg.dataset.eval_on:
        es = (loaded or {}).get(key) or data.eval_set(cfg, key, seed)
        base = record_base(cfg, es.label, ckpt_sha)
        expect = {
            "config_hash": chash,
            "code_hash": code,
            "git_sha": git["sha"],
            "git_dirty": git["dirty"],
            "dataset_fingerprint": es.fingerprint,
            "checkpoint_sha256": ckpt_sha,
        }
        todo = []
        for proto in cfg.protocols if dist.is_main() else ():
            path = Path(cfg.paths.records) / record_filename(base | {"protocol": proto})
            if record_is_current(path, expect):
                log.info("already done, kept: %s", path)
                print(f"[{es.label}] {proto}: already done ({path})")
                continue
            todo.append(proto)
        todo = dist.broadcast(todo)  # rank 0 reads the records; every rank does the same protocols
        if not todo:
            continue

        clips = data.ClipSettings.from_config(cfg, es.key)

        def make(entries, sampler, train, augment=None):
            return data.clip_dataset(clips, entries, sampler, train, seed, "error", augment)

        chosen = {name: get_protocol(name) for name in todo}
        feats = (
            frozen_features(method, cfg, es, ckpt_sha, device)
            if any(P.uses_features for P in chosen.values())
            else None
        )
        for proto, P in chosen.items():
            if not (P.all_ranks or dist.is_main()):
                continue  # the linear probe and retrieval run on rank 0, on the features gathered from all ranks
            t0 = time.time()
            inputs = EvalInputs(
                method=method,
                evalset=es,
                settings=P.settings(cfg),
                device=device,
                seed=seed,
                features=feats if P.uses_features else None,
                make_dataset=make,
            )
            outcome = P().run(inputs)
            if not dist.is_main():
                continue
            metrics = outcome.metrics
            extra = {
                "n_train": len(es.train),
                "n_val": len(es.val),
                "n_test": len(es.test),
                "pretrain_data": pretrain_data,
                "world_size": dist.world_size(),
                "eval_transform": method.eval_transform(),
                "recipe": recipes.effective(cfg),
                "input_scale": data.input_scale(cfg),
            }
            if source:
                extra["checkpoint_method"] = source["method"]
                if source.get("format"):
                    extra["checkpoint_format"] = source["format"]
                if source.get("pretrain_lists"):
                    extra["pretrain_lists"] = source["pretrain_lists"]
                # the pretraining set (a checkpoint of ours says): its fingerprint and the videos it skipped
                extra |= {k: source[k] for k in ("pretrain_fingerprint", "pretrain_skipped") if k in source}
            if es.index.skipped:  # listed videos left out of this set (also counted in n_skipped)
                extra["skipped"] = {"missing": len(es.index.missing), "undecodable": len(es.index.undecodable)}
            extra |= outcome.extra
            record = base | {
                "protocol": proto,
                "metrics": metrics,
                "n_videos": outcome.n_videos,
                "n_skipped": es.index.skipped + int(metrics.pop("train_skipped", 0)),
                "git_sha": git["sha"],
                "git_dirty": git["dirty"],
                "git_time": git["time"],
                "code_hash": code,
                "config_hash": chash,
                "config": config,
                "dataset_fingerprint": es.fingerprint,
                "checkpoint_sha256": ckpt_sha,
                "packages": package_versions(),
                "device": device_info(device),
                "extra": extra,
            }
            timing = {"timestamp": utc_now(), "wall_time_s": round(time.time() - t0, 3)}
            path = write_record(record, cfg.paths.records, timing)
            written.append(path)
            shown = " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if k.startswith(("top", "clip")))
            print(f"[{es.label}] {proto}: {shown}  -> {path}")
    if dist.is_main():
        print(console.summary(written))
        print(f"done in {time.time() - t_start:.1f}s")
    return written
