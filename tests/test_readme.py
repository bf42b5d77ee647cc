"""The README's 'Adding a method' example really works: it registers, builds, and trains one step."""

import re

import torch

from helpers import REPO


def readme_blocks(lang):
    text = (REPO / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_readme_opens_with_the_two_commands():
    first = readme_blocks("bash")[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in first] == ["make demo", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_adding_a_method_example():
    from methods import registry

    registry.available_methods()  # discover the real methods first
    code = next(b for b in readme_blocks("python") if '@register("arrow")' in b)
    assert len(code.strip().splitlines()) <= 35
    try:
        exec(compile(code, "README-example", "exec"), {})
        method = registry.build_method("arrow", "tiny", clip_len=8)
        batch = {"clips": torch.randn(4, 1, 3, 8, 28, 28), "meta": torch.ones(4, 1), "label": torch.zeros(4).long()}
        out = method(batch)
        out.loss.backward()
        assert torch.isfinite(out.loss) and 0 <= float(out.accuracy) <= 1
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.encoder.parameters())
    finally:
        registry.METHODS.unregister("arrow")  # the example registers for this test only
    config = next(b for b in readme_blocks("yaml") if "name: arrow" in b)
    assert config.splitlines()[1] == "# @package method"


def test_the_readme_results_block_is_generated_from_the_committed_results():
    """The embedded results in README.md are exactly what `python -m results.summary --readme` makes of the
    committed results/results.csv; a README edited by hand, or results changed without regenerating, fail here."""
    from results import summary, tables

    text = (REPO / "README.md").read_text()
    df = tables.read_results(REPO / "results" / "results.csv")
    assert summary.replace_block(text, summary.readme_block(df), "README.md") == text
    block = text.split(summary.BEGIN)[1].split(summary.END)[0]
    assert "| tcgl (untrained) |" in block and "Holm-corrected" in block
