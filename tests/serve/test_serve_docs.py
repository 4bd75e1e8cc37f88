"""docs/SERVING.md quotes the examples' code: every quoted block must still be in its file."""
import os
import re

from support.serve_util import ROOT

DOC = os.path.join(ROOT, "docs", "SERVING.md")
QUOTE = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)```", re.S)


def test_quoted_example_code_is_the_examples_code():
    with open(DOC) as f:
        quotes = QUOTE.findall(f.read())
    assert len(quotes) >= 5
    for path, code in quotes:
        with open(os.path.join(ROOT, path)) as f:
            assert code in f.read(), f"docs/SERVING.md quotes code that {path} no longer has:\n{code}"
