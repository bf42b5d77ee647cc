"""results.aggregate, results.tables and results.plots on small synthetic record sets (no training)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import make_record
from protocols.pipeline import cell_name
from results import aggregate, plots, tables
from results.records import RecordError, write_record
from results.stats import mean_ci

METHODS, SEEDS, DATASETS = ["random", "tcgl", "vcop"], [0, 1, 2], ["ucf101", "hmdb51"]
PROTOCOLS = ["linear", "finetune", "retrieval"]
# per-method top-1 level under each protocol: the ranking flips between linear and fine-tune
LEVEL = {("random", "linear"): 0.10, ("tcgl", "linear"): 0.30, ("vcop", "linear"): 0.20,
         ("random", "finetune"): 0.40, ("tcgl", "finetune"): 0.20, ("vcop", "finetune"): 0.30,
         ("random", "retrieval"): 0.12, ("tcgl", "retrieval"): 0.25, ("vcop", "retrieval"): 0.18}


def value(method, protocol, seed, dataset):
    return LEVEL[method, protocol] + 0.01 * seed + (0.02 if dataset == "hmdb51" else 0.0)


def write_matrix(root, params_path, skip=(), fingerprint=lambda cell: f"fp-{cell['dataset']}"):
    matrix = {"methods": METHODS, "backbones": ["tiny"], "seeds": SEEDS, "protocols": PROTOCOLS,
              "datasets": DATASETS}
    params_path.write_text(yaml.safe_dump({"matrix": matrix, "run": {"preset": "smoke"}, "launcher": "local"}))
    for cell in aggregate.expected_cells(matrix):
        if cell_name(**cell) in skip:
            continue
        v = value(cell["method"], cell["protocol"], cell["seed"], cell["dataset"])
        metrics = ({f"top{k}": min(1.0, v * (1 + np.log(k))) for k in tables.KS} if cell["protocol"] == "retrieval"
                   else {"top1": v, "top5": min(1.0, 2 * v)})
        rec = make_record(method=cell["method"], backbone="tiny", dataset=f"embedded-{cell['dataset']}",
                          protocol=cell["protocol"], seed=cell["seed"], metrics=metrics,
                          dataset_fingerprint=fingerprint(cell),
                          extra={"pretrain_data": "none" if cell["method"] == "random" else "embedded-ucf101"})
        write_record(rec, root / cell_name(**cell))
    return matrix


def run_aggregate(tmp_path, **kw):
    params = tmp_path / "params.yaml"
    write_matrix(tmp_path / "records", params, **kw)
    aggregate.main(["--params", str(params), "--records", str(tmp_path / "records"),
                    "--pretrain", str(tmp_path / "pretrain"), "--out", str(tmp_path / "out")])
    return tmp_path / "out"


def test_aggregate_long_format_with_provenance(tmp_path):
    out = run_aggregate(tmp_path)
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 3 * 3 * 2 * (2 + 2 + 5)  # methods x seeds x datasets x metrics per protocol
    for col in ("method", "backbone", "pretrain_data", "dataset", "split", "protocol", "seed", "metric", "value",
                "git_sha", "git_dirty", "config_hash", "dataset_fingerprint", "checkpoint_sha256", "timestamp"):
        assert df[col].notna().all(), col
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cells"] == {"expected": 54, "missing": 0}
    assert metrics["linear"]["embedded-ucf101"]["tcgl-tiny"] == {"top1": 0.31, "seeds": 3}
    assert (out / "missing_cells.txt").read_text() == ""


def test_partial_sweep_lists_missing_cells(tmp_path, capsys):
    gone = {cell_name("vcop", "tiny", 2, "hmdb51", "finetune"), cell_name("tcgl", "tiny", 0, "ucf101", "linear")}
    out = run_aggregate(tmp_path, skip=gone)
    assert set((out / "missing_cells.txt").read_text().split()) == gone
    assert json.loads((out / "metrics.json").read_text())["cells"] == {"expected": 54, "missing": 2}
    assert "MISSING 2 cell(s)" in capsys.readouterr().out
    df = pd.read_csv(out / "results.csv")
    assert len(df[(df.method == "vcop") & (df.protocol == "finetune")].groupby(["seed", "dataset"])) == 5


def test_inconsistent_fingerprints_are_refused_and_nothing_is_written(tmp_path):
    def fp(cell):
        return "fp-changed" if (cell["method"], cell["seed"]) == ("vcop", 1) else f"fp-{cell['dataset']}"

    with pytest.raises(RecordError, match=r"embedded-\w+ split 1 has 2 different fingerprints.*fp-changed"):
        run_aggregate(tmp_path, fingerprint=fp)
    assert not (tmp_path / "out").exists()


def test_duplicate_and_misplaced_records_are_refused(tmp_path):
    params = tmp_path / "params.yaml"
    write_matrix(tmp_path / "records", params)
    folder = tmp_path / "records" / cell_name("tcgl", "tiny", 0, "ucf101", "linear")
    write_record(make_record(method="tcgl", backbone="tiny", dataset="embedded-ucf101", seed=0, split=2), folder)
    args = ["--params", str(params), "--records", str(tmp_path / "records"), "--out", str(tmp_path / "out")]
    with pytest.raises(RecordError, match="2 records for one cell"):
        aggregate.main(args)
    for f in folder.glob("*split2*"):
        f.unlink()
    wrong = tmp_path / "records" / cell_name("vcop", "tiny", 0, "ucf101", "linear")
    for f in wrong.glob("*.json"):
        f.unlink()
    write_record(make_record(method="tcgl", backbone="tiny", dataset="embedded-ucf101", seed=0), wrong)
    with pytest.raises(RecordError, match="method='tcgl' but the record sits in the folder of method='vcop'"):
        aggregate.main(args)


@pytest.fixture(scope="module")
def results_frame(tmp_path_factory):
    out = run_aggregate(tmp_path_factory.mktemp("agg"))
    return pd.read_csv(out / "results.csv", dtype={"pretrain_data": str}, keep_default_na=False)


def reference_frame():
    return tables.load_reference(tables.Path(__file__).parents[2] / "results" / "reference" / "reported.csv")


def test_tables_cells_are_mean_ci_over_seeds_and_paired_differences(results_frame):
    t = tables.top1_table(results_frame, "linear", "linear_probe")
    row = next(r for r in t.rows if r[0] == "tcgl")
    vals = [value("tcgl", "linear", s, "ucf101") for s in SEEDS]
    m, h, n = mean_ci(vals)
    assert row[3] == f"{100 * m:.1f} ± {100 * h:.1f} (3)"
    # tcgl - random is the same 0.20 for every seed: paired, the interval is zero
    assert row[4] == "+20.0 ± 0.0 (3)"
    assert [r[0] for r in t.rows] == ["random", "tcgl", "vcop"] and t.rows[0][4] == "—"
    assert t.rows[0][2] == "none" and row[2] == "embedded-ucf101"


def test_protocol_sensitivity_ranks_and_spearman(results_frame):
    t = tables.sensitivity_table(results_frame)
    ucf = {r[2]: r[3:] for r in t.rows if r[0] == "embedded-ucf101"}
    assert ucf["tcgl"][0].startswith("1 ") and ucf["tcgl"][1].startswith("3 ")  # best on linear, worst fine-tuned
    assert any("ρ(linear probe, fine-tune) = -1.00 over 3 methods" in n for n in t.notes)
    assert any("ρ(linear probe, retrieval) = +1.00" in n for n in t.notes)


def test_reported_vs_reproduced_matches_only_the_same_dataset(results_frame):
    ref = reference_frame()
    assert ref.source.str.len().gt(0).all()
    assert ref[ref.method == "tcgl"].value.isna().all()  # TCGL's numbers: only from the paper PDF
    t = tables.reported_table(results_frame, ref)
    assert all(r[8] == "not run" for r in t.rows)  # embedded runs are never matched to UCF101/HMDB51
    assert any("embedded-ucf101" in n for n in t.notes)
    real = results_frame.copy()
    real["dataset"] = real["dataset"].str.replace("embedded-", "")
    real["backbone"], real["pretrain_data"] = "r3d", real["pretrain_data"].str.replace("embedded-", "")
    t = tables.reported_table(real, ref)
    row = next(r for r in t.rows if r[:6] == ["vcop", "r3d", "ucf101", "ucf101", "finetune", "top1"])
    assert row[6] == "64.9" and row[8].startswith("31.0 ± ") and row[9] == f"{31.0 - 64.9:+.1f}"


def test_write_tables_markdown_and_booktabs(results_frame, tmp_path):
    paths = tables.write_tables(tables.build_tables(results_frame, reference_frame()), tmp_path)
    names = {p.name for p in paths}
    for stem in ("action_recognition", "linear_probe", "retrieval", "reported_vs_reproduced", "protocol_sensitivity"):
        assert {f"{stem}.md", f"{stem}.tex"} <= names
    tex = (tmp_path / "linear_probe.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "$\\pm$" in tex and "embedded-ucf101" in tex
    assert tex.count("\\\\") == 1 + 3  # header and one row per method
    md = (tmp_path / "retrieval.md").read_text()
    assert "| top-50 (%) |" in md and md.count("\n| embedded-") == 6
    assert not list(tmp_path.glob(".*"))  # no temp files left


def test_load_reference_requires_a_source(tmp_path):
    bad = tmp_path / "ref.csv"
    bad.write_text("method,backbone,pretrain_data,dataset,protocol,metric,value,source\n"
                   "vcop,c3d,ucf101,ucf101,finetune,top1,65.6,\n")
    with pytest.raises(ValueError, match="rows \\[2\\] have no source"):
        tables.load_reference(bad)


def test_every_plot_renders_to_png_and_svg(results_frame, tmp_path):
    curves = pd.DataFrame([{"method": m, "backbone": "tiny", "seed": s, "epoch": e, "train_loss": 2.0 / (e + 1),
                            "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.2 + 0.05 * e}
                           for m in ("tcgl", "vcop") for s in SEEDS for e in range(4)])
    figs = plots.render_all(results_frame, curves)
    assert set(figs) == set(plots.PLOTS)
    ax = figs["top1_linear"].axes[0]
    assert ax.get_ylabel() == "top-1 accuracy (%)" and ax.get_legend() is not None
    assert "(%)" in figs["pretraining"].axes[1].get_ylabel() and figs["pretraining"].axes[0].get_xlabel() == "epoch"
    assert [t.get_text() for t in figs["rank_flip"].axes[0].get_xticklabels()] == ["linear probe", "fine-tune",
                                                                                    "retrieval"]
    paths = plots.save_all(figs, tmp_path)
    assert len(paths) == 2 * len(plots.PLOTS)
    for p in paths:
        blob = p.read_bytes()
        assert len(blob) > 5000, p
        if p.suffix == ".png":
            assert blob[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert ET.fromstring(blob).tag.endswith("svg")


def test_plots_without_data_still_write_every_file(tmp_path):
    empty = pd.DataFrame(columns=aggregate.COLUMNS)
    curves = pd.DataFrame(columns=["method", "backbone", "seed", "epoch", "train_loss", "val_acc"])
    paths = plots.save_all(plots.render_all(empty, curves), tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{n}.{e}" for n in plots.PLOTS for e in ("png", "svg"))


def test_flat_folder_of_a_sweep_aggregates_into_the_same_tables(tmp_path):
    flat = tmp_path / "runs"
    for method in ("random", "tcgl"):
        for seed in (0, 1):
            write_record(make_record(method=method, backbone="tiny", dataset="embedded-ucf101", seed=seed,
                                     metrics={"top1": 0.1 + 0.2 * (method == "tcgl") + 0.01 * seed},
                                     extra={"pretrain_data": "embedded-ucf101"}), flat)
    aggregate.main(["--flat", "--records", str(flat), "--out", str(tmp_path / "out")])
    df = pd.read_csv(tmp_path / "out" / "results.csv", dtype={"pretrain_data": str}, keep_default_na=False)
    assert len(df) == 4 and set(df.columns) == set(aggregate.COLUMNS)
    row = next(r for r in tables.top1_table(df, "linear", "t").rows if r[0] == "tcgl")
    assert row[4] == "+20.0 ± 0.0 (2)"


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
