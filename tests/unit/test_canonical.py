"""The archive package's canonical JSON is RFC 8785 (JCS), from the `rfc8785` library: pinned
here to the RFC's own examples, and to the independent writer the archive test recomputes
the digest with."""

from __future__ import annotations

import json

from activities.package import canonical
from tests.workflows.test_archive import jcs

# RFC 8785 section 3.2.3: keys sorted by their UTF-16 code units.
SORTING = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\U0001f600": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
}
SORTED = (
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
    '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
    '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
)
# RFC 8785 section 3.2.2: numbers as ECMAScript writes them, strings minimally escaped.
INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
OUTPUT = (
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
)


def test_the_library_writes_the_rfcs_examples() -> None:
    assert canonical(SORTING).decode() == SORTED
    assert canonical(json.loads(INPUT)).decode() == OUTPUT


def test_the_independent_writer_sorts_and_escapes_as_the_rfc() -> None:
    assert jcs(SORTING) == SORTED
    data = {"b": [1, 2.0, None, True], "a": '引号"\\\n\u001f', "é": {"z": {}, "y": []}}
    assert jcs(data).encode() == canonical(data)
