from __future__ import annotations

import skillctl


def test_pack_example(hello, store):
    result = skillctl.pack(hello, store=store)
    assert result.ref == "examples/hello-world:1.0.0-draft"
