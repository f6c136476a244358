"""Every ```python block of docs/*.md runs on its own and prints what its comments say.

The rule for a block (test ids are `<file>:<block index>`, e.g. `spans.md:2`):

- It runs as is in a fresh Python process: its own imports, its own small data (real
  corpora through `keras_rdkl.datasets`), an empty temporary working directory,
  `KERAS_BACKEND` and `KERAS_RDKL_DATA` set, TensorFlow hidden (see `LAUNCH`). No
  literal `...` placeholders.
- Or its first line says what it needs, `# needs: <what>` (a released BERT checkpoint,
  bert4keras), or is `# sketch` (code deliberately not runnable). Such a block is run
  too and skipped only when it fails: one that runs must drop its marker.
- Printed output: a comment `# -> TEXT`, after the `print(...)` or on a line of its
  own, states what the block prints (a multi-line output takes one `# ->` comment per
  line). When a block has such comments, its stdout must equal their TEXTs in order,
  with any run of whitespace (newlines too) compared as one space; `...` in TEXT stands
  for any text.

The blocks run once, on JAX, to keep CI short (the library's own tests cover every
backend). `test_the_rule_itself` checks this harness on made-up blocks.
"""

import ast
import io
import os
import re
import subprocess
import sys
import tokenize

import keras
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="docs blocks run once, on JAX, to keep CI short",
)

FENCE = re.compile(r"^```python\n(.*?)^```[ \t]*$", re.S | re.M)
MARKERS = ("# needs:", "# sketch")
EXPECTED = "# ->"
TIMEOUT_S = 180


def collect(paths):
    """`[(id, code)]` for every ```python block of the given Markdown files."""
    blocks = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for i, code in enumerate(FENCE.findall(text)):
            blocks.append((f"{path.name}:{i}", code))
    return blocks


DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCKS = collect(DOCS)


def marker(code):
    """The block's `# needs: ...` / `# sketch` first line, or None."""
    first = code.split("\n", 1)[0].strip()
    return first if first.startswith(MARKERS) else None


def expected_output(code):
    """The TEXTs of the block's `# -> TEXT` comments, or None when it has none."""
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    texts = [
        tok.string[len(EXPECTED) :].strip()
        for tok in tokens
        if tok.type == tokenize.COMMENT and tok.string.startswith(EXPECTED)
    ]
    return texts or None


def output_matches(texts, stdout):
    want = " ".join(" ".join(texts).split())
    got = " ".join(stdout.split())
    pattern = ".*?".join(re.escape(part) for part in want.split("..."))
    return re.fullmatch(pattern, got, re.S) is not None


# TensorFlow is hidden from the blocks: a JAX run needs none of it, and
# `keras.utils.set_random_seed` would import it (2 s a block) to seed it.
LAUNCH = """import runpy, sys
sys.modules["tensorflow"] = None
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def run_block(code, cwd, name="block"):
    """Runs `code` as `<cwd>/<name>.py` in a fresh Python process, in `cwd`."""
    script = cwd / (re.sub(r"\W", "_", name) + ".py")
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ)
    env["KERAS_BACKEND"] = keras.backend.backend()
    env.setdefault("KERAS_RDKL_DATA", str(ROOT.parent / "shared" / "data"))
    env["KERAS_HOME"] = str(cwd / ".keras")  # no user keras.json, no dataset cache
    env["PYTHONIOENCODING"] = "utf-8"  # the NER guide prints Chinese text
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT_S,
    )


def verdict(code, result):
    """`("pass" | "skip" | "fail", message)` for a block and its finished process."""
    mark = marker(code)
    if mark is not None:
        if result.returncode == 0:
            return "fail", f"runs standalone: drop its first line {mark!r}"
        return "skip", mark
    if result.returncode != 0:
        return "fail", (
            f"exit code {result.returncode} (neither runs nor starts with "
            f"'# needs: ...' or '# sketch'):\n{result.stderr[-4000:]}"
        )
    texts = expected_output(code)
    if texts is not None and not output_matches(texts, result.stdout):
        return "fail", (
            "printed output differs from its '# ->' comments:\n"
            f"expected: {' '.join(texts)}\nprinted:\n{result.stdout}"
        )
    return "pass", ""


@pytest.mark.parametrize("name, code", BLOCKS, ids=[n for n, _ in BLOCKS])
def test_block_runs(name, code, tmp_path):
    status, message = verdict(code, run_block(code, tmp_path, name))
    if status == "skip":
        pytest.skip(message)
    assert status == "pass", message


def test_every_block_is_collected():
    assert BLOCKS, "docs/*.md hold no ```python block"
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        # A fence the pattern would miss (```py, ```Python, indented) goes untested.
        for indent, info in re.findall(r"^([ \t]*)```[ \t]*(\S*)", text, re.M):
            assert info.lower()[:2] != "py" or (info, indent) == ("python", ""), (
                f"{path.name}: open Python blocks with ```python at the line start, "
                f"not {indent + '```' + info!r}"
            )
    for name, code in BLOCKS:
        assert "\n```" not in "\n" + code, f"{name}: unclosed block"
        first = code.split("\n", 1)[0]
        if re.match(r"#\s*(needs?|sketch)\b", first, re.I):
            assert first == "# sketch" or re.fullmatch(r"# needs: \S.*", first), (
                f"{name}: write '# needs: <what>' or '# sketch', not {first!r}"
            )
        if marker(code) is None:  # a literal `...` never runs as meant
            tree = ast.parse(code, name)
            assert not [
                n
                for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and n.value is Ellipsis
            ], f"{name}: literal `...` in a block without a '# needs:' line"


@pytest.mark.parametrize(
    "code, status",
    [
        ("print(undefined_name)\n", "fail"),  # neither runs nor says what it needs
        ("# needs: a module\nimport no_such_module_here\n", "skip"),
        ("# sketch\nprint(1)\n", "fail"),  # runs: the marker must go
        ("print('a', 2)  # -> a ...\nprint([1,  2])\n# -> [1, 2]\n", "pass"),
        ("print(3)  # -> 4\n", "fail"),
        ("print(3)\nprint(4)  # -> 4\n", "fail"),  # undocumented output
    ],
    ids=["unmarked-fails", "needs", "sketch-runs", "output", "wrong", "extra"],
)
def test_the_rule_itself(code, status, tmp_path):
    assert verdict(code, run_block(code, tmp_path))[0] == status
