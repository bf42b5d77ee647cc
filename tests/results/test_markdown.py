"""results.markdown is the one Markdown table emitter: results.tables' .md files and results.summary's README block
are both written by it (no training)."""

from __future__ import annotations

import pandas as pd
import pytest

from results import markdown, summary, tables

SEEDS = (0, 1, 2)


def _results() -> pd.DataFrame:
    """A tiny results.csv: random, tcgl and its untrained control, linear and retrieval, one dataset, 3 seeds."""
    recs = []
    for method, weights, base in (
        ("random", "untrained", 0.10),
        ("tcgl", "pretrained", 0.40),
        ("tcgl", "untrained", 0.15),
    ):
        for protocol in ("linear", "retrieval"):
            for seed in SEEDS:
                recs.append(
                    {
                        "method": method,
                        "weights": weights,
                        "variant": "",
                        "variant_hash": f"h-{method}",
                        "backbone": "tiny",
                        "pretrain_data": "" if weights == "untrained" else "embedded-ucf101",
                        "eval_transform": "{}",
                        "dataset": "embedded-ucf101",
                        "split": 1,
                        "protocol": protocol,
                        "seed": seed,
                        "metric": "top1",
                        "value": base + 0.02 * seed,
                    }
                )
    return pd.DataFrame(recs)


def _table_blocks(text: str) -> list[list[str]]:
    """Each run of consecutive ``|``-lines of ``text``."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks + ([current] if current else [])


def _cells(line: str) -> list[str]:
    assert line.startswith("| ") and line.endswith(" |"), line
    return line[2:-2].split(" | ")


def _outputs() -> dict[str, str]:
    df = _results()
    built = tables.build_tables(
        df,
        pd.DataFrame(
            columns=["method", "backbone", "pretrain_data", "dataset", "protocol", "metric", "split", "value", "source"]
        ),
    )
    return {"README block": summary.readme_block(df)} | {f"{t.name}.md": t.markdown() for t in built}


def test_markdown_table_layout():
    assert markdown.markdown_table(["a", "b"], [["1", "2"], ["3", ""]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 |  |"
    assert markdown.markdown_table(["a", "b"], [], empty="(none)") == "| a | b |\n|---|---|\n| (none) |  |"
    assert (
        markdown.markdown_table(["a"], [], ["n1", "n2"], title="T", hard_breaks=True)
        == "### T\n\n| a |\n|---|\n\nn1  \nn2  "
    )
    assert markdown.markdown_table(["a"], [["1"]], []) == "| a |\n|---|\n| 1 |\n"  # notes given: a blank line


def test_every_table_of_the_readme_and_of_results_tables_is_the_shared_emitters():
    """Every Markdown table both modules write is exactly what markdown_table makes of its own cells: the same
    header, the same separator (one ``---`` per column) and the same padding."""
    outputs = _outputs()
    assert len(_table_blocks(outputs["README block"])) == 2  # the summary and the gains
    for name, text in outputs.items():
        blocks = _table_blocks(text)
        assert blocks, name
        for block in blocks:
            header, sep, *rows = block
            assert sep == markdown.separator_line(len(_cells(header))), name
            assert all(len(_cells(r)) == len(_cells(header)) for r in rows), name
            assert "\n".join(block) == markdown.markdown_table(_cells(header), [_cells(r) for r in rows]), name


@pytest.mark.parametrize("part", ["separator_line", "table_line"])
def test_changing_the_shared_emitter_changes_every_table(monkeypatch, part):
    """The README block and the tables' .md files go through results.markdown: a change there shows in all of
    them (a second, hand-written emitter would keep the old format)."""
    before = _outputs()
    if part == "separator_line":
        monkeypatch.setattr(markdown, "separator_line", lambda n: "|" + ":--|" * n)
        changed = lambda line: line.startswith("|:--|")
        want = lambda blocks: len(blocks)  # one separator per table
    else:
        original = markdown.table_line
        monkeypatch.setattr(markdown, "table_line", lambda cells: original(cells) + "<!-- row -->")
        changed = lambda line: line.endswith(" |<!-- row -->")
        want = lambda blocks: sum(len(b) - 1 for b in blocks)  # header and rows, not the separator
    after = _outputs()
    for name in before:
        blocks = _table_blocks(before[name])
        assert not any(changed(line) for line in before[name].splitlines()), name
        assert sum(changed(line) for line in after[name].splitlines()) == want(blocks), name
