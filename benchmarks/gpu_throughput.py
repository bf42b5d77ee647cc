"""GPU throughput: the ceiling next to our loop, per (method, backbone), in one process on one device.

    python -m benchmarks.gpu_throughput [--device cuda] [--methods tcgl,vcop] [--backbones r3d_18,r2plus1d_18]
        [--batch 32] [--warmup 3] [--steps 10] [--workers 12] [--data data] [--frame-cache DIR|none]
        [--decode-end-to-end] [--budget-s 330] [--phase-cap-s 10] [--smoke]

Rows per (method, backbone), all on the shapes the method itself gives (``train_shapes``):
- ``train ceiling fp32/tf32`` and ``train ceiling bf16+CL``: bare steps (forward, backward, SGD step) of a fresh
  backbone on random clips already on the device, heads excluded, one backbone call per shape (VCOP: K clips;
  TCGL: K snippets and K x S frame-sets). bf16+CL goes through ``engine.place_model`` / ``engine.autocast`` with
  channels_last_3d inputs.
- ``train ours, one batch resident``: the real method (heads, STKD, losses) built as ``experiment/app.py`` builds it,
  each step ``engine.train_step`` on one uint8 batch kept in pinned memory (copy to the device, the colour stage on
  the GPU, forward, backward, SGD) with pretraining's loss bookkeeping (``pretrain.LossWatch``): the loop without
  its loader.
- ``train ours end to end``: the same, fed by ``engine.make_loader`` over the embedded ``bench`` videos (320x240,
  120 frames; generated into ``--data`` when missing), decoding the videos, or reading the decoded-frame cache
  (``paths.frame_cache``, built first and timed as its own row; decoding only with ``--decode-end-to-end`` or
  ``--frame-cache none``). Timed in steady state (see ``ours_train``).
- ``loader alone``: the training loader's batches/s with nothing consuming them, per method (decoding, cache).
- ``infer ceiling bf16+CL`` / ``features ours``: ``forward_features`` under no_grad on ``eval.batch_size`` videos x 10
  clips, against ``protocols.features.extract`` (loader, STKD, pooling, copies back to the host).
- then ``protocols.retrieval.topk_retrieval`` over a 9,500-video gallery and 3,800 queries on the device (d=512 and
  the backbone's real retrieval dimension), where ``experiment/app.py`` runs it, and on the CPU (runs without a GPU).

samples/s: tuples (train) or videos (features) per second; clips/s counts the K 16-frame clips of a sample (as
pretraining's log) or the 10 clips of a video. Loops stop after their steps or ``--phase-cap-s``; a row that would
start after ``--budget-s`` is skipped. TFLOP/s: FLOPs per sample counted once per shape, on the meta device (shapes
only: the counts equal those on real tensors, benchmarks/test_gpu_throughput.py), with
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products, forward and backward; batch norm,
activations and the optimiser are not counted; ours counts the whole method) times samples/s. The ratio is samples/s
over the bf16+CL ceiling's. Peak memory: ``torch.cuda.max_memory_allocated``, reset per row.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from datasets.clips import collate_clips
from datasets.frame_cache import build_all
from experiment import data
from experiment.app import method_from_config
from experiment.compose import compose
from methods.backbones import build_backbone
from protocols.features import extract, uniform_sampler
from protocols.pretrain import CUDA_READ_EVERY, LossWatch
from protocols.retrieval import topk_retrieval
from results.provenance import device_info, git_info
from runtime import engine

REPO = Path(__file__).resolve().parents[1]
CEILING = "train ceiling bf16+CL"
META = torch.device("meta")  # FLOPs are counted on shapes alone: no cuDNN tuning or memory for one-off shapes
WARM_CAP_S = 6.0  # the end-to-end warm-up's limit when the loader never makes the step wait (see ours_train)
INFER_CEILING = "infer ceiling bf16+CL"


@dataclass
class Row:
    config: str
    what: str
    samples_s: float | None = None
    clips_s: float | None = None
    ms_step: float | None = None
    tflops: float | None = None
    ratio: float | None = None
    peak_gb: float | None = None
    row_s: float = 0.0
    note: str = ""


# ----------------------------------------------------------------------------------------------- shapes and FLOPs
def train_shapes(method, batch: int, crop: int, channels: int = 3) -> list[tuple[int, ...]]:
    """Input shapes of the backbone calls in one training forward of ``method`` on ``batch`` samples: the K clips
    in one call, and (TCGL) the K x S frame-sets of ``clip_len / S`` frames in a second; each tiled to the
    backbone's ``min_frames`` by the backbone's own ``fit_time``."""
    if not (hasattr(method, "num_clips") and hasattr(method, "clip_len")):
        raise ValueError(f"{type(method).__name__} has no num_clips/clip_len: its backbone shapes are not known here")
    k, t = int(method.num_clips), int(method.clip_len)

    def fitted(n: int, frames: int) -> tuple[int, ...]:
        meta = torch.empty(1, channels, frames, 1, 1, device="meta")
        return (n, channels, int(method.encoder.fit_time(meta).shape[2]), crop, crop)

    shapes = [fitted(batch * k, t)]
    s = int(getattr(method, "num_framesets", 0) or 0)
    if s:
        shapes.append(fitted(batch * k * s, t // s))
    return shapes


def count_flops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def ceiling_flops_per_sample(make_backbone, method, crop: int, device) -> float:
    net = make_backbone().to(device)
    xs = [torch.randn(s, device=device) for s in train_shapes(method, 1, crop)]
    return count_flops(lambda: sum(net(x).mean() for x in xs).backward())


def infer_flops_per_video(make_backbone, clip: tuple[int, ...], device) -> float:
    net = make_backbone().to(device).eval()
    x = torch.randn(clip, device=device)
    with torch.no_grad():
        return count_flops(lambda: net.forward_features(x))


def method_flops_per_sample(method, crop: int, device) -> float:
    k, t = int(method.num_clips), int(method.clip_len)
    batch = {"clips": torch.randn(2, k, 3, t, crop, crop, device=device)}
    flops = count_flops(lambda: method(batch).loss.backward())
    method.zero_grad(set_to_none=True)
    return flops / 2


# ----------------------------------------------------------------------------------------------- timing helpers
def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_steps(step, warmup: int, steps: int, cap_s: float, device) -> tuple[int, float]:
    """(steps timed, seconds) of ``step`` after ``warmup`` untimed calls; stops early after ``cap_s`` seconds."""
    for _ in range(warmup):
        step()
    sync(device)
    t0, n = time.perf_counter(), 0
    while n < steps:
        step()
        n += 1
        if n >= 2 and time.perf_counter() - t0 > cap_s:
            break
    sync(device)
    return n, time.perf_counter() - t0


@contextlib.contextmanager
def call_times(obj, name: str):
    """Host time stamps of every call of ``obj.<name>`` (an instance attribute shadows the method meanwhile)."""
    times, original = [], getattr(obj, name)

    def stamped(*args, **kwargs):
        times.append(time.perf_counter())
        return original(*args, **kwargs)

    setattr(obj, name, stamped)
    try:
        yield times
    finally:
        delattr(obj, name)


def repeated(entries: list, n: int) -> list:
    return [entries[i % len(entries)] for i in range(n)]


def watch_for(device) -> LossWatch:
    """Pretraining's loss bookkeeping (protocols/pretrain.py): read every CUDA_READ_EVERY steps on CUDA."""
    return LossWatch(device, 1 if device.type == "cpu" else CUDA_READ_EVERY, 0, {"method": "bench"}, Path("."))


def with_cache(cfg, cache: str | None):
    """A copy of ``cfg`` whose datasets read frames from the decoded-frame cache ``cache`` (None: decode videos)."""
    out = cfg.copy()
    out.paths.frame_cache = cache
    return out


# ----------------------------------------------------------------------------------------------- measurements
def ceiling_train(make_backbone, shapes, cfg, device, fast: bool, args) -> tuple[int, float]:
    net = make_backbone()
    if fast:
        engine.place_model(net, device)
    else:
        net.to(device)
    fmt = torch.channels_last_3d if fast and device.type == "cuda" else torch.contiguous_format
    xs = [torch.randn(s, device=device).contiguous(memory_format=fmt) for s in shapes]
    opt = engine.optimizer_from_config(net, cfg.method.optim)
    amp = engine.autocast(device) if fast else contextlib.nullcontext()

    def step():  # forward_features: Backbone.forward would make the fp32 row's input channels_last
        with amp:
            loss = sum(net.forward_features(x).float().mean() for x in xs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed_steps(step, args.warmup, args.steps, args.phase_cap_s, device)


def ceiling_infer(make_backbone, shape, device, args) -> tuple[int, float]:
    net = engine.place_model(make_backbone(), device).eval()
    fmt = torch.channels_last_3d if device.type == "cuda" else torch.contiguous_format
    x = torch.randn(shape, device=device).contiguous(memory_format=fmt)

    @torch.no_grad()
    def step():
        with engine.autocast(device):
            net.forward_features(x)

    return timed_steps(step, args.warmup, args.steps, args.phase_cap_s, device)


def loop_steps(args, timed_factor: int) -> tuple[int, int]:
    """Warm-up and timed steps of a loop fed by the real loader. Each worker makes whole batches, so after start-up
    the batches come in bursts of about ``workers``: the warm-up lets the first burst pass, and the timed window
    spans ``timed_factor`` bursts (when the GPU is the bottleneck the queue is simply full)."""
    return max(1, args.warmup + args.workers), max(args.steps, timed_factor * args.workers)


def train_dataset(method, cfg, pre, n_samples: int):
    return data.clip_dataset(
        data.ClipSettings.from_config(cfg, cfg.dataset.pretrain_on),
        repeated(pre.train, n_samples),
        method.sampler(),
        True,
        int(cfg.seed),
        cfg.pretrain.on_corrupt,
        method.augmentation(),
    )


def ours_train(method, cfg, pre, device, args) -> tuple[int, float, float]:
    """(samples, seconds, ms per step) of the real pretraining step fed by the real loader.

    Steady state only: while cuDNN tunes its first steps the workers fill the loader's queue (``workers`` x 4
    batches), and a window that drains that surplus would credit the loader with batches it made beforehand. So the
    warm-up goes on until a ``next()`` had to wait for a batch (the queue is empty: loader-bound from then on) or
    for ``WARM_CAP_S`` seconds (a queue still full: the GPU is the bottleneck, no surplus to drain)."""
    warmup, steps = loop_steps(args, 4)
    batch, seed = int(cfg.pretrain.batch_size), int(cfg.seed)
    ds = train_dataset(method, cfg, pre, (warmup + steps + 400) * batch)
    engine.place_model(method, device)
    opt = engine.optimizer_from_config(method, cfg.method.optim)
    method.train()
    watch = watch_for(device)
    loader = iter(engine.make_loader(ds, batch, True, seed, 0, int(cfg.pretrain.num_workers), device))
    t_start, t0, samples, n = time.perf_counter(), None, 0, 0
    for step in range(len(ds) // batch):
        before = time.perf_counter()
        batch_ = next(loader)
        waited = time.perf_counter() - before
        if batch_["clips"] is None:
            raise RuntimeError("a whole batch of bench videos was skipped")
        if t0 is None and step >= warmup and (waited > 2e-3 or before - t_start > WARM_CAP_S):
            sync(device)
            t0 = time.perf_counter()
        out = engine.train_step(
            method, batch_, opt, device, check_loss=lambda loss, step=step: watch.on_loss(loss, step), finish=ds.finish
        )
        watch.add(out.loss, out.accuracy, batch_["clips"].shape[0])
        if (step + 1) % watch.every == 0:
            watch.sums.tolist()  # pretraining's progress-bar read
        if t0 is not None:
            samples, n = samples + batch_["clips"].shape[0], n + 1
            if n >= steps or (n >= 2 and time.perf_counter() - t0 > args.phase_cap_s):
                break
    sync(device)
    secs = time.perf_counter() - t0
    del loader  # stops the workers
    method.zero_grad(set_to_none=True)
    return samples, secs, 1e3 * secs / n


def ours_resident(method, cfg, pre, device, args) -> tuple[int, float, float]:
    """The same step on one batch kept in pinned host memory (no loader): what the loop costs on the GPU alone, the
    copy to the device and the colour stage included."""
    batch = int(cfg.pretrain.batch_size)
    ds = train_dataset(method, cfg, pre, batch)
    one = collate_clips([ds[i] for i in range(batch)])
    one = {k: v.pin_memory() if torch.is_tensor(v) and device.type == "cuda" else v for k, v in one.items()}
    engine.place_model(method, device)
    opt = engine.optimizer_from_config(method, cfg.method.optim)
    method.train()
    watch, count = watch_for(device), [0]

    def step():
        i = count[0]
        out = engine.train_step(
            method, one, opt, device, check_loss=lambda loss: watch.on_loss(loss, i), finish=ds.finish
        )
        watch.add(out.loss, out.accuracy, batch)
        count[0] += 1

    n, secs = timed_steps(step, args.warmup, args.steps, args.phase_cap_s, device)
    method.zero_grad(set_to_none=True)
    return n * batch, secs, 1e3 * secs / n


def loader_alone(method, cfg, pre, device, args) -> tuple[int, float, float]:
    """Batches/s of the training loader with nothing else running: decoding (or the frame cache), the geometry
    stage, collation and pinning, in ``pretrain.num_workers`` processes."""
    warmup, steps = loop_steps(args, 3)
    batch = int(cfg.pretrain.batch_size)
    ds = train_dataset(method, cfg, pre, (warmup + steps) * batch)
    loader = iter(engine.make_loader(ds, batch, True, int(cfg.seed), 0, int(cfg.pretrain.num_workers), device))
    stamps, sizes = [], []
    for b in loader:
        stamps.append(time.perf_counter())
        sizes.append(0 if b["clips"] is None else b["clips"].shape[0])
        n = len(stamps) - warmup
        if n >= steps or (n >= 2 and stamps[-1] - stamps[warmup - 1] > args.phase_cap_s):
            break
    del loader
    secs = stamps[-1] - stamps[warmup - 1]
    return sum(sizes[warmup:]), secs, 1e3 * secs / (len(stamps) - warmup)


def ours_features(method, cfg, pre, device, args) -> tuple[int, float, float]:
    """(videos, seconds, ms per batch) of ``protocols.features.extract``, timed between its backbone calls after
    the warm-up batches."""
    warmup, steps = loop_steps(args, 1)
    bs = int(cfg.eval.batch_size)
    entries = repeated(pre.index.train + pre.index.test, (warmup + steps + 1) * bs)
    ds = data.clip_dataset(
        data.ClipSettings.from_config(cfg, cfg.dataset.pretrain_on),
        entries,
        uniform_sampler(cfg, cfg.protocol.retrieval.clip_len),
        False,
        int(cfg.seed),
        "error",
    )
    with call_times(method.encoder, "forward_features") as stamps:
        extract(method, ds, bs, int(cfg.eval.num_workers), device, cfg.protocol.retrieval.pool)
    n, secs = len(stamps) - 1 - warmup, stamps[-1] - stamps[warmup]
    return n * bs, secs, 1e3 * secs / n


def retrieval_seconds(n_gallery: int, n_query: int, dim: int, classes: int, ks, chunk: int, device) -> float:
    g = torch.Generator(device=device).manual_seed(0)
    gallery = torch.randn(n_gallery, dim, device=device, generator=g)
    query = torch.randn(n_query, dim, device=device, generator=g)
    g_labels = torch.randint(0, classes, (n_gallery,), device=device, generator=g)
    q_labels = torch.randint(0, classes, (n_query,), device=device, generator=g)
    topk_retrieval(query[:64], q_labels[:64], gallery, g_labels, ks, chunk)  # warm-up (library start-up)
    sync(device)
    t0 = time.perf_counter()
    topk_retrieval(query, q_labels, gallery, g_labels, ks, chunk)
    sync(device)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------------------------- driver
class Bench:
    def __init__(self, args):
        self.args, self.t0, self.rows = args, time.perf_counter(), []
        self.device = engine.pick_device(args.device)
        self.cache = None if args.frame_cache in ("", "none") else str(Path(args.frame_cache).resolve())
        self.loaders_done: set[str] = set()

    def over_budget(self) -> bool:
        return time.perf_counter() - self.t0 > self.args.budget_s

    def row(
        self,
        config: str,
        what: str,
        measure,
        clips_per_sample: int | None = None,
        flops: float | None = None,
        ceiling: float | None = None,
    ) -> Row:
        """Run ``measure() -> (samples, seconds, ms per step or None)`` as one table row."""
        dev, t = self.device, time.perf_counter()
        r = Row(config, what)
        if self.over_budget():
            r.note = "skipped (time budget)"
        else:
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            try:
                samples, secs, r.ms_step = measure()
                r.samples_s = samples / secs
                r.clips_s = r.samples_s * clips_per_sample if clips_per_sample else None
                r.tflops = flops * r.samples_s / 1e12 if flops else None
                r.ratio = r.samples_s / ceiling if ceiling else None
            except torch.cuda.OutOfMemoryError:
                r.note = "out of memory"
            if dev.type == "cuda":
                r.peak_gb = torch.cuda.max_memory_allocated(dev) / 2**30
            gc.collect()
            if dev.type == "cuda":
                torch.cuda.empty_cache()
        r.row_s = time.perf_counter() - t
        self.rows.append(r)
        shown = f"{r.samples_s:.1f} samples/s" if r.samples_s else r.note
        print(f"  [{time.perf_counter() - self.t0:6.1f} s] {config} | {what}: {shown} ({r.row_s:.1f} s)", flush=True)
        return r

    def build_cache(self, method_name: str, backbone_name: str) -> None:
        """Generate the embedded videos when missing and build the decoded-frame cache of every listed video,
        timed as a row (videos/s with every CPU core)."""
        a = self.args
        cfg = compose(overrides(a, method_name, backbone_name))
        s = cfg.dataset.sets[cfg.dataset.pretrain_on]
        data.ensure_embedded(
            Path(s.root), s.layout, cfg.dataset.size, int(cfg.dataset.data_seed), workers=os.cpu_count() or 1
        )  # every core, not the default 8
        pre = data.eval_set(cfg, cfg.dataset.pretrain_on, int(cfg.seed))
        if not self.cache:
            return
        paths = sorted({e.path for e in pre.index.train + pre.index.test})
        workers = max(1, os.cpu_count() or 1)

        built = []

        def measure():
            t0 = time.perf_counter()
            built.append(build_all(self.cache, tuple(cfg.input.resize), paths, workers))
            return len(paths), time.perf_counter() - t0, None

        r = self.row(f"{len(paths)} videos", f"frame cache build ({workers} processes)", measure)
        r.note = r.note or f"{built[0]} built, {len(paths) - built[0]} already there (samples/s: videos/s)"

    def config(self, method_name: str, backbone_name: str) -> None:
        """The rows of one (method, backbone)."""
        args, dev, name = self.args, self.device, f"{method_name} / {backbone_name}"
        if self.over_budget():
            self.row(name, "all", None)
            return
        cfg = compose(overrides(args, method_name, backbone_name))
        seed, crop = int(cfg.seed), int(cfg.input.crop)
        pre = data.eval_set(cfg, cfg.dataset.pretrain_on, seed)  # generates the embedded videos when missing
        engine.seed_everything(seed)  # then the method, as experiment/app.py builds it
        method = method_from_config(cfg, pre.index.num_classes)
        bb = {"name": cfg.backbone.name, **OmegaConf.to_container(cfg.backbone.params, resolve=True)}

        def make_backbone():
            kw = dict(bb)
            return build_backbone(kw.pop("name"), **kw)

        batch, k = int(cfg.pretrain.batch_size), int(method.num_clips)
        shapes = train_shapes(method, batch, crop)
        f_ceiling = ceiling_flops_per_sample(make_backbone, method, crop, META)

        def ceiling(fast: bool):
            def measure():
                n, secs = ceiling_train(make_backbone, shapes, cfg, dev, fast, args)
                return n * batch, secs, 1e3 * secs / n

            return measure

        slow = self.row(name, "train ceiling fp32/tf32", ceiling(False), k, f_ceiling)
        fast = self.row(name, CEILING, ceiling(True), k, f_ceiling)
        top = relative_to(fast, slow)
        f_method = method_flops_per_sample(copy.deepcopy(method).to(META), crop, META)
        cached = with_cache(cfg, self.cache)
        self.row(
            name,
            "train ours, one batch resident (no loader)",
            lambda: ours_resident(method, cached, pre, dev, args),
            k,
            f_method,
            top,
        )
        if self.args.decode_end_to_end or not self.cache:  # the loader-alone rows show whether decoding keeps up
            self.row(
                name,
                "train ours end to end, decoding videos",
                lambda: ours_train(method, cfg, pre, dev, args),
                k,
                f_method,
                top,
            )
        if self.cache:
            self.row(
                name,
                "train ours end to end, frame cache",
                lambda: ours_train(method, cached, pre, dev, args),
                k,
                f_method,
                top,
            )
        if method_name not in self.loaders_done:  # the loader does not depend on the backbone
            self.loaders_done.add(method_name)
            for label, c in (("decoding videos", cfg), ("frame cache", cached if self.cache else None)):
                if c is not None:
                    self.row(
                        f"{method_name} / loader",
                        f"loader alone, {label} ({args.workers} workers)",
                        lambda c=c: loader_alone(method, c, pre, dev, args),
                        k,
                    )

        n_clips, bs = int(cfg.eval.clips_per_video), int(cfg.eval.batch_size)
        clip = (n_clips, 3, int(cfg.protocol.retrieval.clip_len), crop, crop)
        f_infer = infer_flops_per_video(make_backbone, clip, META)

        def infer():
            n, secs = ceiling_infer(make_backbone, (bs * n_clips, *clip[1:]), dev, args)
            return n * bs, secs, 1e3 * secs / n

        top = relative_to(self.row(name, INFER_CEILING, infer, n_clips, f_infer))
        self.row(
            name,
            f"features ours ({n_clips} clips/video{', frame cache' if self.cache else ''})",
            lambda: ours_features(method, cached, pre, dev, args),
            n_clips,
            f_infer,
            top,
        )

    def retrieval(self, backbones: list[str], method_name: str) -> None:
        """topk_retrieval on the device (d=--retrieval-dim and the backbones' real retrieval sizes, e.g. 9,216 for
        r3d_18 at 16x112x112), where experiment/app.py runs it, and on the CPU with the real sizes (runs without a
        GPU). Measured first: it is short and must not fall to the time budget."""
        a, real = self.args, set()
        for name in backbones:
            cfg = compose(overrides(a, method_name, name))
            crop = int(cfg.input.crop)
            net = build_backbone(cfg.backbone.name, **OmegaConf.to_container(cfg.backbone.params, resolve=True))
            with torch.no_grad():
                clip = torch.zeros(1, 3, int(cfg.protocol.retrieval.clip_len), crop, crop)
                real.add(int(net.retrieval_features(clip).shape[1]))
        plan = [(self.device, d) for d in sorted({a.retrieval_dim} | real)]
        if self.device.type != "cpu":
            plan += [(torch.device("cpu"), d) for d in sorted(real)]
        for dev, dim in plan:

            def measure(dim=dim, dev=dev):
                secs = retrieval_seconds(a.gallery, a.queries, dim, 101, (1, 5, 10, 20, 50), 4096, dev)
                return a.queries, secs, 1e3 * secs

            self.row(
                f"{a.gallery} x {a.queries}",
                f"retrieval top-k d={dim} on {dev.type}",
                measure,
                flops=2.0 * a.gallery * dim,
            )


def relative_to(ceiling: Row, *others: Row) -> float | None:
    """Fill in the ratio column of a ceiling row (1) and of ``others`` against it; returns its samples/s."""
    if ceiling.samples_s:
        for r in (ceiling, *others):
            r.ratio = r.samples_s / ceiling.samples_s if r.samples_s else None
    return ceiling.samples_s


def overrides(args, method: str, backbone: str) -> list[str]:
    o = [
        "preset=smoke" if args.smoke else "preset=paper",
        f"method={method}",
        f"backbone={backbone}",
        f"dataset.size={'tiny' if args.smoke else 'bench'}",
        f"paths.data={args.data}",
        f"pretrain.batch_size={args.batch}",
        f"pretrain.num_workers={args.workers}",
        f"eval.num_workers={args.workers}",
        "eval.clips_per_video=10",
    ]
    return o + (["eval.batch_size=2"] if args.smoke else [])


def fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def table(rows: list[Row]) -> str:
    head = (
        "| config | measurement | samples/s | clips/s | ms/step | TFLOP/s | ratio to bf16+CL ceiling | "
        "peak GPU GiB | row s | note |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r.config} | {r.what} | {fmt(r.samples_s, '.1f')} | {fmt(r.clips_s, '.1f')} | "
            f"{fmt(r.ms_step, '.1f')} | {fmt(r.tflops, '.2f')} | {fmt(r.ratio, '.2f')} | "
            f"{fmt(r.peak_gb, '.2f')} | {r.row_s:.1f} | {r.note} |"
        )
    return "\n".join(lines)


def header(device, sha: str | None) -> str:
    git = git_info(REPO)
    if sha:  # a copy of the tree without .git (the GPU machine): the sha the caller names
        git = {"sha": f"{sha} (given)", "dirty": False}
    return (
        f"torch {torch.__version__} | device {device_info(device)} | git {git['sha']}"
        f"{' (dirty)' if git['dirty'] else ''} | {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
    )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="default: cuda when available (cpu with --smoke)")
    p.add_argument("--methods", default="tcgl,vcop")
    p.add_argument("--backbones", default="r3d_18,r2plus1d_18")
    p.add_argument("--batch", type=int, default=None, help="samples per training step (default 32; smoke 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed ceiling steps (default 3; smoke 1)")
    p.add_argument("--steps", type=int, default=None, help="timed ceiling steps (default 10; smoke 2)")
    p.add_argument("--workers", type=int, default=None, help="loader workers (default 12; smoke 0)")
    p.add_argument("--data", default="data", help="paths.data: embedded videos are generated here when missing")
    p.add_argument("--budget-s", type=float, default=330.0, help="no row starts after this many seconds")
    p.add_argument("--phase-cap-s", type=float, default=10.0, help="a timed loop stops after this many seconds")
    p.add_argument(
        "--decode-end-to-end",
        action="store_true",
        help="also time the loop end to end decoding the videos (default: through the frame cache only, "
        "with the loader-alone rows of both); ~20 s per configuration",
    )
    p.add_argument("--gallery", type=int, default=None, help="retrieval gallery videos (default 9500)")
    p.add_argument("--queries", type=int, default=None, help="retrieval queries (default 3800)")
    p.add_argument("--retrieval-dim", type=int, default=None, help="feature dimension (default 512)")
    p.add_argument(
        "--frame-cache",
        default=None,
        help="decoded-frame cache folder (default <data>/frame_cache; 'none': decode videos only)",
    )
    p.add_argument("--git-sha", default=None, help="the commit to print where the checkout has no .git")
    p.add_argument("--smoke", action="store_true", help="tiny backbone and data, batch 2, 2 steps: a CPU check")
    args = p.parse_args(argv)
    smoke = args.smoke
    for key, full, small in (
        ("device", "auto", "cpu"),
        ("batch", 32, 2),
        ("warmup", 3, 1),
        ("steps", 10, 2),
        ("workers", 12, 0),
        ("gallery", 9500, 950),
        ("queries", 3800, 380),
        ("retrieval_dim", 512, 64),
    ):
        if getattr(args, key) is None:
            setattr(args, key, small if smoke else full)
    if smoke:
        args.backbones = "tiny"
    if args.frame_cache is None:
        args.frame_cache = str(Path(args.data) / "frame_cache")
    return args


def main(argv=None) -> list[Row]:
    args = parse_args(argv)
    bench = Bench(args)
    engine.setup_determinism(bench.device)  # cudnn.benchmark and TF32 on CUDA, as experiment/app.py
    print(header(bench.device, args.git_sha))
    print("command: python -m benchmarks.gpu_throughput " + " ".join(sys.argv[1:] if argv is None else argv))
    if bench.device.type == "cpu":
        print("CPU: engine.autocast and channels_last_3d apply on CUDA only, so every row runs fp32 and contiguous")
    methods, backbones = args.methods.split(","), args.backbones.split(",")
    bench.build_cache(methods[0], backbones[0])
    bench.retrieval(backbones, methods[0])
    for m in methods:
        for b in backbones:
            bench.config(m, b)
    rows = sorted(bench.rows, key=lambda r: r.what.startswith("retrieval"))  # stable: the configs' rows first
    print(table(rows))
    print(f"total {time.perf_counter() - bench.t0:.1f} s")
    return rows


if __name__ == "__main__":
    main()
