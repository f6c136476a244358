"""The README's quickstart runs as written on every backend."""

import re

from tests.conftest import ROOT


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_readme_quickstart_runs(capsys):
    blocks = _python_blocks(ROOT / "README.md")
    assert blocks, "README.md has no python quickstart block"
    namespace = {}
    exec(compile(blocks[0], "README.md:quickstart", "exec"), namespace)
    spans = namespace["spans"]
    assert len(spans) == 2
    for span in spans[0]:
        t, start, end, score = span
        assert 0 <= t < namespace["num_types"] and start <= end and score > 0
    assert "[" in capsys.readouterr().out
