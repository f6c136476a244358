"""docs/ner.md's blocks print the right entities on every backend.

tests/test_docs.py runs every docs block once, on JAX, in a fresh process; the
NER page's blocks train small taggers and print what they find, so here they
run on the suite's other backends too (in-process, seeded by the blocks
themselves) and their output must equal the `# -> ...` comments.
"""

import keras
import pytest

from tests.conftest import ROOT
from tests.test_docs import collect
from tests.test_docs import expected_output
from tests.test_docs import marker
from tests.test_docs import output_matches

pytestmark = pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="tests/test_docs.py runs these blocks on JAX and checks their output",
)

BLOCKS = [
    (name, code)
    for name, code in collect([ROOT / "docs" / "ner.md"])
    if marker(code) is None and expected_output(code)
]


def test_the_page_has_printing_blocks():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", [c for _, c in BLOCKS], ids=[n for n, _ in BLOCKS])
def test_block_prints_its_comments(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    exec(compile(code, "docs/ner.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert output_matches(expected_output(code), out), out
    for ents, text in [("ents", "张三在北京"), ("bi_ents", "张三在北京")]:
        for ent in namespace.get(ents, []):
            assert text[ent["start"] : ent["end"]] == ent["text"]
