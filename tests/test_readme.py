"""The README's quickstart runs as written on every backend and prints what it says."""

import re

from tests.conftest import ROOT


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_readme_quickstart_learns_and_prints_its_comment(capsys):
    blocks = _python_blocks(ROOT / "README.md")
    assert blocks, "README.md has no python quickstart block"
    quickstart = blocks[0]
    # The block ends with `print(...)` followed by `# <expected output>: <prose>`.
    expected = re.search(r"^# (\[.*\]):", quickstart, re.M).group(1)
    namespace = {}
    exec(compile(quickstart, "README.md:quickstart", "exec"), namespace)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == expected == "[(0, 2, 3), (1, 7, 7)]"
    # Each entity decodes with a clear margin, not at the threshold.
    assert all(score > 1.0 for *_, score in namespace["spans"][0])
