"""Labels that tell the variants of one table row apart.

Records of one (method, weights, backbone, pretraining data) can come from several configs: a sweep over a method
parameter, a longer schedule. Each config is a variant (``variant_hash``) and gets its own table row, labelled with
the config values in which it differs from the other variants of that row (``method.params.negatives=graph``); a row
with a single variant has no label. Checkpoints evaluated with ``pretrained=PATH`` under the same config are told
apart by their sha256.
"""

from __future__ import annotations

import json

GROUP = ("method", "weights", "backbone", "pretrain_data")


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """``{'a': {'b': 1}, 'c': [1, 2]}`` -> ``{'a.b': '1', 'c': '[1,2]'}`` (values as compact JSON text)."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return out


def variant_labels(records: list[dict]) -> dict[str, str]:
    """``variant_hash`` -> label, for result records (dicts with the fields of results.records)."""
    groups: dict[tuple, dict[str, dict]] = {}
    for r in records:
        key = tuple(
            r["method"] if k == "method" else (r.get("extra") or {}).get(k, "") if k == "pretrain_data" else r[k]
            for k in GROUP
        )
        groups.setdefault(key, {})[r["variant_hash"]] = r
    labels = {}
    for variants in groups.values():
        if len(variants) == 1:
            labels.update({v: labels.get(v, "") for v in variants})
            continue
        flat = {v: {k: x for k, x in flatten(r["config"]).items() if k != "seed"} for v, r in variants.items()}
        keys = sorted({k for f in flat.values() for k in f})
        differ = [k for k in keys if len({f.get(k, "<unset>") for f in flat.values()}) > 1]
        for v, f in flat.items():
            parts = [f"{k}={f.get(k, '<unset>')}" for k in differ]
            if not parts:  # same config: checkpoints given with pretrained=PATH
                parts = [f"checkpoint={(variants[v]['checkpoint_sha256'] or 'none')[:8]}"]
            label = " ".join(parts)
            if labels.get(v, label) != label:  # one variant in two rows: keep the longer, more specific label
                label = max(labels[v], label, key=len)
            labels[v] = label
    return labels
