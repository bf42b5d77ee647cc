"""results.aggregate and results.tables on small synthetic record sets (no training)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from results import aggregate, tables
from results.identity import record_filename
from results.provenance import config_hash
from results.records import RecordError, write_record

from helpers import REPO, make_record

SEEDS, DATASETS, PROTOCOLS = [0, 1, 2], ["ucf101", "hmdb51"], ["linear", "finetune", "retrieval"]
# (method, weights) rows; tcgl's evaluation pipeline (STKD) is not random's, so it has its own untrained control
ROWS = [
    ("random", "untrained"),
    ("tcgl", "pretrained"),
    ("tcgl", "untrained"),
    ("vcop", "pretrained"),
    ("supervised", "pretrained"),
]
# per-row top-1 level under each protocol: the ranking of tcgl and vcop flips between linear and fine-tune
LEVEL = {
    "random": (0.10, 0.40, 0.12),
    "tcgl": (0.40, 0.20, 0.25),
    "tcgl-u": (0.30, 0.25, 0.20),
    "vcop": (0.11, 0.30, 0.18),
    "supervised": (0.50, 0.50, 0.40),
}
# per-seed noise: tcgl's gain over its control is the same 0.10 in every seed (significant); vcop's gain over random
# is +0.01 with noise of +-0.03 (not distinguishable with 3 seeds)
NOISE = {
    "random": (0.0, 0.01, 0.02),
    "tcgl": (0.0, 0.01, 0.02),
    "tcgl-u": (0.0, 0.01, 0.02),
    "vcop": (0.03, -0.02, 0.02),
    "supervised": (0.0, 0.0, 0.0),
}


def key(method, weights):
    return "tcgl-u" if (method, weights) == ("tcgl", "untrained") else method


def value(method, weights, protocol, seed, dataset):
    k = key(method, weights)
    return LEVEL[k][PROTOCOLS.index(protocol)] + NOISE[k][seed] + (0.02 if dataset == "hmdb51" else 0.0)


def config(method, weights, seed, **params):
    return {
        "method": {"name": method, "params": params},
        "control": "untrained" if weights == "untrained" and method != "random" else "none",
        "seed": seed,
    }


def record(method, weights, protocol, seed, dataset, fingerprint=None, **params):
    cfg = config(method, weights, seed, **params)
    v = value(method, weights, protocol, seed, dataset)
    metrics = (
        {f"top{k}": min(1.0, v * (1 + np.log(k))) for k in tables.KS}
        if protocol == "retrieval"
        else {"top1": v, "top5": min(1.0, 2 * v)}
    )
    return make_record(
        method=method,
        weights=weights,
        backbone="tiny",
        dataset=f"embedded-{dataset}",
        protocol=protocol,
        seed=seed,
        metrics=metrics,
        config=cfg,
        variant_hash=config_hash({k: x for k, x in cfg.items() if k != "seed"}),
        dataset_fingerprint=fingerprint or f"fp-{dataset}",
        extra={
            "pretrain_data": "embedded-ucf101" if weights == "pretrained" else "none",
            "eval_transform": {"stkd": "dc"} if method == "tcgl" else {},
        },
    )


def write_matrix(root, skip=(), fingerprint=None):
    """A pipeline-style records folder: every record of the matrix and its matrix.json, minus ``skip``."""
    cells = []
    for method, weights in ROWS:
        for seed in SEEDS:
            names = []
            for dataset in DATASETS:
                for protocol in PROTOCOLS:
                    rec = record(
                        method, weights, protocol, seed, dataset, fingerprint(method, seed) if fingerprint else None
                    )
                    names.append(record_filename(rec))
                    if names[-1] not in skip:
                        write_record(rec, root)
            cells.append(
                {
                    "method": method,
                    "backbone": "tiny",
                    "seed": seed,
                    "control": "none",
                    "name": "x",
                    "records": names,
                    "curve": None,
                }
            )
    (root / "matrix.json").write_text(json.dumps({"cells": cells}))
    return [n for c in cells for n in c["records"]]


def run_aggregate(tmp_path, **kw):
    names = write_matrix(tmp_path / "records", **kw)
    aggregate.main(["--records", str(tmp_path / "records"), "--out", str(tmp_path / "out")])
    return tmp_path / "out", names


def test_aggregate_long_format_with_provenance_and_no_wall_clock(tmp_path):
    out, _ = run_aggregate(tmp_path)
    df = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert len(df) == 5 * 3 * 2 * (2 + 2 + 5)  # rows x seeds x datasets x metrics per protocol
    assert list(df.columns) == aggregate.COLUMNS and "timestamp" not in df.columns
    for col in (
        "method",
        "weights",
        "variant_hash",
        "backbone",
        "pretrain_data",
        "dataset",
        "split",
        "protocol",
        "seed",
        "metric",
        "value",
        "git_sha",
        "git_dirty",
        "git_time",
        "code_hash",
        "config_hash",
        "dataset_fingerprint",
        "checkpoint_sha256",
    ):
        assert (df[col].astype(str) != "").all(), col
    assert (df.variant == "").all()  # one config per row: no label needed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["records"] == {"expected": 90, "missing": 0}
    assert metrics["linear"]["embedded-ucf101"]["tcgl-tiny"] == {"top1": 0.41, "seeds": 3}
    assert metrics["linear"]["embedded-ucf101"]["tcgl-untrained-tiny"] == {"top1": 0.31, "seeds": 3}
    assert (out / "missing_cells.txt").read_text() == ""
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    aggregate.main(["--records", str(tmp_path / "records"), "--out", str(out)])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the same bytes again


def test_partial_sweep_lists_missing_records(tmp_path, capsys):
    names = write_matrix(tmp_path / "probe")
    gone = {names[3], names[40]}
    out, _ = run_aggregate(tmp_path, skip=gone)
    assert set((out / "missing_cells.txt").read_text().split()) == gone
    assert json.loads((out / "metrics.json").read_text())["records"] == {"expected": 90, "missing": 2}
    assert "MISSING 2 record(s)" in capsys.readouterr().out


def test_inconsistent_fingerprints_are_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(RecordError, match=r"embedded-\w+ split 1 has 2 different fingerprints.*fp-changed"):
        run_aggregate(tmp_path, fingerprint=lambda m, s: "fp-changed" if (m, s) == ("vcop", 1) else None)
    assert not (tmp_path / "out").exists()


def test_two_records_of_one_cell_and_variant_are_refused_naming_both(tmp_path):
    flat = tmp_path / "runs"
    path = write_record(record("vcop", "pretrained", "linear", 0, "ucf101"), flat)
    (flat / "copy.json").write_bytes(path.read_bytes())
    with pytest.raises(RecordError, match="2 records describe the same cell and variant.*copy.json"):
        aggregate.collect_flat(flat)


def test_a_two_value_sweep_gives_two_records_and_two_labelled_rows(tmp_path):
    """`-m method.params.negatives=graph,batch` into one folder: nothing is overwritten, and each config is a row."""
    flat = tmp_path / "runs"
    for negatives in ("graph", "batch"):
        for seed in (0, 1):
            write_record(record("tcgl", "pretrained", "linear", seed, "ucf101", negatives=negatives, tau=0.5), flat)
            write_record(record("random", "untrained", "linear", seed, "ucf101"), flat)
    assert len(list(flat.glob("tcgl__*.json"))) == 4
    df = aggregate.collect_flat(flat)
    assert set(df[df.method == "tcgl"].variant) == {"method.params.negatives=graph", "method.params.negatives=batch"}
    assert set(df[df.method == "random"].variant) == {""}
    t = tables.top1_table(df, "linear", "linear_probe")
    labels = [r[0] for r in t.rows]
    assert labels == ["random", "tcgl [method.params.negatives=batch]", "tcgl [method.params.negatives=graph]"]


@pytest.fixture(scope="module")
def results_frame(tmp_path_factory):
    out, _ = run_aggregate(tmp_path_factory.mktemp("agg"))
    return tables.read_results(out / "results.csv")


def reference_frame():
    return tables.load_reference(REPO / "results" / "reference" / "reported.csv")


def _row(t, label):
    return next(r for r in t.rows if r[0] == label)


def test_top1_cells_are_mean_ci_over_seeds_with_controls_and_paired_gains(results_frame):
    t = tables.top1_table(results_frame, "linear", "linear_probe")
    assert [r[0] for r in t.rows] == ["random", "tcgl", "tcgl (untrained)", "vcop", "supervised"]
    tcgl = _row(t, "tcgl")
    vals = [value("tcgl", "pretrained", "linear", s, "ucf101") for s in SEEDS]
    mean = sum(vals) / 3
    sd = (sum((v - mean) ** 2 for v in vals) / 2) ** 0.5
    assert tcgl[3] == f"{100 * mean:.1f} ± {100 * 4.302652729911275 * sd / 3**0.5:.1f} (3)"
    # the control: tcgl's own untrained encoder; the gain is the same 0.10 in every seed: significant after Holm
    assert tcgl[4] == "+10.0 ± 0.0 (3)*" and tcgl[5] == "+30.0 ± 0.0 (3)*"
    # vcop's pipeline is random's: its control is random, one comparison shown in both columns, not significant
    vcop = _row(t, "vcop")
    assert vcop[4] == vcop[5] and not vcop[4].endswith("*") and vcop[4].startswith("+1.0 ± ")
    assert _row(t, "random")[4:6] == ["—", "—"] and _row(t, "tcgl (untrained)")[4] == "—"
    assert _row(t, "tcgl (untrained)")[5].startswith("+20.0")
    assert any("Holm-corrected over the" in n for n in t.notes)


def test_gains_use_a_paired_t_test_holm_corrected_over_the_table(results_frame):
    d = results_frame[(results_frame.protocol == "linear") & (results_frame.metric == "top1")]
    rows = tables.table_rows(d)
    g, n_tests = tables.gains(d, rows, tables.dataset_order(d.dataset))
    # per dataset: tcgl vs its control, tcgl vs random, tcgl (untrained) vs random, vcop vs random (its control),
    # supervised vs random
    assert n_tests == 5 * 2

    def raw(method, weights):
        a = [value(method, weights, "linear", s, "ucf101") for s in SEEDS]
        b = [value("random", "untrained", "linear", s, "ucf101") for s in SEEDS]
        return sps.ttest_rel(a, b).pvalue

    # six comparisons have the same difference in every seed (p = 0); the others, by hand with Holm's step-down:
    # sorted p: 6 x 0, p_sup, p_sup, p_vcop, p_vcop (m = 10)
    p_vcop, p_sup = raw("vcop", "pretrained"), raw("supervised", "pretrained")
    assert 0 < p_sup < p_vcop
    vcop_row = next(r for r in rows if r[0] == "vcop")
    sup_row = next(r for r in rows if r[0] == "supervised")
    diff, half, n, p_adj = g[(vcop_row, "embedded-ucf101", "control")]
    assert diff == pytest.approx(0.01) and n == 3
    assert p_adj == pytest.approx(min(1.0, max(4 * p_sup, 2 * p_vcop)), rel=1e-9)
    assert g[(sup_row, "embedded-hmdb51", "random")][3] == pytest.approx(min(1.0, 4 * p_sup), rel=1e-9)
    assert g[(vcop_row, "embedded-ucf101", "random")] == g[(vcop_row, "embedded-ucf101", "control")]


def test_protocol_sensitivity_excludes_references_and_controls_and_has_intervals(results_frame):
    t = tables.sensitivity_table(results_frame)
    ucf = {r[2]: r[3:] for r in t.rows if r[0] == "embedded-ucf101"}
    assert set(ucf) == {"random", "tcgl", "tcgl (untrained)", "vcop", "supervised"}
    assert ucf["supervised"][0].startswith("1 ")
    notes = " ".join(t.notes)
    assert "ρ(linear probe, fine-tune): pretext methods n/a (fewer than 3) over 2" in notes
    assert "all rows" in notes and "[" in notes


def test_reported_vs_reproduced_compares_like_with_like(results_frame):
    ref = reference_frame()
    assert ref.source.str.len().gt(0).all() and set(ref.split) <= {"1", "mean3", "val", "unstated"}
    assert set(ref[ref.split == "val"].dataset) <= {"kinetics400", "ssv2"}  # one-split datasets' validation set
    assert set(ref[ref.dataset.isin(["ucf101", "hmdb51"])].split) <= {"1", "mean3", "unstated"}
    assert ref[ref.method == "tcgl"].value.isna().all()  # TCGL's numbers: only from the paper PDF
    t = tables.reported_table(results_frame, ref)
    assert all(r[9] == "not run" or r[9] == "needs splits 1-3" for r in t.rows)  # embedded is never UCF101
    real = results_frame[results_frame.method == "vcop"].copy()
    real["dataset"] = real["dataset"].str.replace("embedded-", "")
    real["backbone"], real["pretrain_data"] = "r3d", "ucf101"
    ref1 = pd.DataFrame(
        [
            {
                "method": "vcop",
                "backbone": "r3d",
                "pretrain_data": "ucf101",
                "dataset": "ucf101",
                "protocol": "finetune",
                "metric": "top1",
                "split": s,
                "value": 64.9,
                "source": "x",
            }
            for s in ("1", "mean3", "unstated")
        ]
    )
    rows = tables.reported_table(real, ref1).rows
    ours = [value("vcop", "pretrained", "finetune", s, "ucf101") for s in SEEDS]
    assert (
        rows[0][9].startswith(f"{100 * np.mean(ours):.1f} ± ") and rows[0][10] == f"{100 * np.mean(ours) - 64.9:+.1f}"
    )
    assert rows[1][9] == "needs splits 1-3" and rows[1][10] == ""  # only split 1 was run
    assert rows[2][10] == ""  # an unstated convention is shown without a difference
    three = pd.concat([real.assign(split=k, value=real.value + 0.01 * k) for k in (1, 2, 3)])
    rows = tables.reported_table(three, ref1).rows
    assert rows[1][9] == f"{100 * (np.mean(ours) + 0.02):.1f} (splits 1-3)"


def test_write_tables_markdown_and_booktabs(results_frame, tmp_path):
    paths = tables.write_tables(tables.build_tables(results_frame, reference_frame()), tmp_path)
    names = {p.name for p in paths}
    for stem in (
        "action_recognition",
        "linear_probe",
        "retrieval_top1",
        "retrieval",
        "reported_vs_reproduced",
        "protocol_sensitivity",
    ):
        assert {f"{stem}.md", f"{stem}.tex"} <= names
    tex = (tmp_path / "linear_probe.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "$\\pm$" in tex and "$^{*}$" in tex
    assert tex.count("\\\\") == 1 + 5  # header and one row per table row
    md = (tmp_path / "retrieval.md").read_text()
    assert "| top-50 (%) |" in md and md.count("\n| embedded-") == 10
    assert not list(tmp_path.glob(".*"))  # no temp files left


@pytest.mark.parametrize(
    "line, message",
    [
        ("vcop,c3d,ucf101,ucf101,finetune,top1,1,65.6,\n", "rows \\[2\\] have no source"),
        ("vcop,c3d,ucf101,ucf101,finetune,top1,2,65.6,x\n", "split \\['2'\\]; valid: 1, mean3, val"),
    ],
)
def test_load_reference_requires_a_source_and_a_split_convention(tmp_path, line, message):
    bad = tmp_path / "ref.csv"
    bad.write_text("method,backbone,pretrain_data,dataset,protocol,metric,split,value,source\n" + line)
    with pytest.raises(ValueError, match=message):
        tables.load_reference(bad)


def test_a_crash_while_building_tables_leaves_the_old_ones_whole(results_frame, tmp_path, monkeypatch):
    tables.write_tables(tables.build_tables(results_frame, reference_frame()), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    changed = results_frame.assign(value=results_frame.value / 2)

    def boom(self):
        raise RuntimeError("disk full while rendering")

    monkeypatch.setattr(tables.Table, "latex", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        tables.write_tables(tables.build_tables(changed, reference_frame()), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing half-new, no temp files
