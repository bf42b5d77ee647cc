"""A torch Dataset of sampled, decoded and augmented clips, and its skip-aware collate function.

Randomness is a pure function of ``(seed, epoch, index)``: the same sample comes out whatever the number of
workers, and a resumed run sees exactly the batches an uninterrupted one would. Each item also carries
``sample_seed``, an int64 seed derived from the same ``(seed, epoch, index)`` (independent of the augmentation's
draws): methods draw their per-sample randomness in the forward pass from it (``methods.ordering.sample_uniform``:
TCGL's and VCOP's permutations, TCGL's graph views), so a sample gets the same draws in whatever batch, rank or
number of ranks it lands.

Policy for broken videos (documented, counted, never substituted):
- ``on_corrupt="skip"`` (training): the item is ``None``; :func:`collate_clips` drops it and counts it in
  ``batch["n_skipped"]``. Another video is never put in its place.
- ``on_corrupt="error"`` (evaluation, the default): the decode error propagates, naming the file.
Short videos are handled by the sampler's policy and counted in ``batch["n_short"]``.

With a transform whose colour stage is deferred (``ClipTransform.defer_colour``, CUDA runs) an item's ``clips`` are
uint8 and it also holds their ``colour`` parameters; ``engine.to_device(batch, device, dataset.finish)`` completes
the batch on the device.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from datasets.entries import VideoEntry
from datasets.errors import VideoDecodeError
from datasets.transforms import ClipTransform
from datasets.video_io import VideoDecoder, get_decoder

log = logging.getLogger(__name__)
_SAMPLE_SEED_SALT = 0x5EED  # ``sample_seed`` is drawn from (seed, epoch, index, salt): not the augmentation's stream


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The per-sample seed of item ``index`` at ``epoch`` (``item["sample_seed"]``): an integer in [0, 2**63)."""
    state = np.random.SeedSequence([seed, epoch, index, _SAMPLE_SEED_SALT]).generate_state(2)  # two uint32
    return (int(state[0]) << 31) ^ int(state[1])


class ClipDataset(Dataset):
    def __init__(
        self,
        entries: list[VideoEntry],
        sampler,
        transform: ClipTransform,
        seed: int = 0,
        on_corrupt: str = "error",
        shared_params: bool = False,
        decoder: VideoDecoder | str | None = None,
    ):
        """``shared_params``: draw one set of augmentation parameters for all K clips of a sample (e.g. SpeedNet's
        normal and sped-up versions of one clip); otherwise each clip draws its own, as VCOP/TCGL do."""
        if on_corrupt not in ("error", "skip"):
            raise ValueError(f"on_corrupt must be 'error' or 'skip', got {on_corrupt!r}")
        self.entries, self.sampler, self.transform = list(entries), sampler, transform
        self.seed, self.epoch, self.on_corrupt, self.shared_params = int(seed), 0, on_corrupt, bool(shared_params)
        self._decoder_spec = decoder
        self._decoder: VideoDecoder | None = decoder if decoder is not None and not isinstance(decoder, str) else None
        self._frames: dict[int, int] = {}

    @property
    def decoder(self) -> VideoDecoder:
        if self._decoder is None:  # created lazily, once per worker process
            self._decoder = get_decoder(self._decoder_spec if isinstance(self._decoder_spec, str) else None)
        return self._decoder

    def __getstate__(self):  # decoders hold library handles: workers make their own
        state = dict(self.__dict__)
        if isinstance(self._decoder_spec, str) or self._decoder_spec is None:
            state["_decoder"] = None
        return state

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.entries)

    def _load(self, index: int, rng: np.random.Generator):
        entry = self.entries[index]
        if index not in self._frames:
            self._frames[index] = self.decoder.num_frames(entry.path)
        picked = self.sampler.sample(self._frames[index], rng)
        if picked is None:
            return None
        unique = picked.unique
        frames = self.decoder.read(entry.path, unique)
        return picked, frames, unique

    def __getitem__(self, key: int | tuple[int, int]):
        """Item ``index`` of the current epoch, or ``(epoch, index)``: the epoch travels with the index to loader
        workers that outlive an epoch (``runtime.engine.EpochLoader``)."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        entry = self.entries[index]
        rng = np.random.default_rng([self.seed, epoch, index])
        try:
            loaded = self._load(index, rng)
        except VideoDecodeError as e:
            if self.on_corrupt == "error":
                raise VideoDecodeError(f"{e} (listed at {entry.source})") from e
            log.warning("skipping undecodable video (on_corrupt=skip): %s", e)
            return None
        if loaded is None:  # short video under the sampler's skip policy
            return None
        picked, frames, unique = loaded
        shared = self.transform.draw(rng) if self.shared_params else None
        clips, colour = [], []
        for idx in picked.clips:
            params = shared if shared is not None else self.transform.draw(rng)
            rows = torch.from_numpy(np.searchsorted(unique, idx))  # position of each frame in the decoded set
            clips.append(self.transform.geometry(frames.index_select(0, rows), params))
            colour.append(self.transform.colour_params(params))
        clips, colour = torch.stack(clips), torch.stack(colour)
        item = {
            "meta": torch.from_numpy(picked.meta),
            "label": torch.tensor(entry.label, dtype=torch.long),
            "index": torch.tensor(index, dtype=torch.long),
            "sample_seed": torch.tensor(sample_seed(self.seed, epoch, index), dtype=torch.long),
            "short": torch.tensor(picked.short),
        }
        if self.transform.defer_colour:  # uint8 clips; finish() runs on the whole batch (engine.to_device)
            item.update(clips=clips, colour=colour)
        else:
            item["clips"] = self.transform.finish(clips, colour)
        return item

    def finish(self, clips: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        """The deferred colour stage of a batch of this dataset (``datasets.transforms.ClipTransform.finish``)."""
        return self.transform.finish(clips, colour)


def collate_clips(items: list[dict | None]) -> dict:
    """Collate, dropping skipped (``None``) items and counting them; an all-skipped batch has ``clips=None``."""
    kept = [it for it in items if it is not None]
    n_skipped = len(items) - len(kept)
    if not kept:
        return {"clips": None, "n_skipped": n_skipped, "n_short": 0}
    batch = default_collate(kept)
    batch["n_skipped"] = n_skipped
    batch["n_short"] = int(batch.pop("short").sum())
    return batch
