"""Benchmark inputs: a large skill of mixed data and a store holding many images.

Everything is generated from a fixed seed, so two runs of the benchmark (or two
machines) pack exactly the same bytes and their numbers can be compared.
"""

from __future__ import annotations

import random
from pathlib import Path

SEED = 20240501
MiB = 1024 * 1024

SKILL_YAML = """\
apiVersion: skillimage.io/v1alpha1
kind: SkillCard
metadata:
  name: {name}
  namespace: bench
  version: 1.0.0
  description: A generated skill used by the skillctl benchmarks.
  license: Apache-2.0
  tags: [bench]
  authors:
    - name: skillctl benchmarks
spec:
  prompt: SKILL.md
"""

SKILL_MD = """\
---
name: {name}
description: A generated skill used by the skillctl benchmarks. Use it only to measure packing speed.
---

# {name}

This skill exists to be packed. Its references hold generated prose and its
assets hold random bytes, roughly half and half, so gzip has real work to do.
"""

# A small fixed vocabulary: the prose compresses like real Markdown (about 3.8x
# with gzip -6), not like a run of one repeated byte.
_VOCABULARY = """
the skill agent tool file image layer store digest manifest config tag version draft release when
you should must never always user prompt answer check run pack list inspect validate reference
example script asset output input error warning path name value field schema a an of to in for with
on by from as is are be this that it or and not if then else model context window token budget
policy review approve publish archive deprecate registry
"""
_WORDS = tuple(_VOCABULARY.split())


def _prose(rng: random.Random, size: int) -> bytes:
    """About ``size`` bytes of Markdown-like text (exactly ``size`` after truncation)."""
    out = bytearray()
    line = 0
    while len(out) < size:
        words = rng.choices(_WORDS, k=4096)
        chunk = []
        for i in range(0, len(words), 12):
            line += 1
            prefix = f"\n## Section {line}\n\n" if line % 40 == 0 else ""
            chunk.append(prefix + " ".join(words[i : i + 12]).capitalize() + ".\n")
        out += "".join(chunk).encode()
    return bytes(out[:size])


def make_big_skill(root: Path, total_bytes: int, *, name: str = "bench-big") -> dict[str, int]:
    """Write a valid skill of about ``total_bytes`` into ``root``; return bytes per kind of content.

    Half the bytes are prose in ``references/*.md``, half random bytes in
    ``assets/*.bin``, plus an executable script and a nested folder, in files of
    a few megabytes each (several files, so per-file costs are paid too).
    """
    rng = random.Random(SEED)
    root.mkdir(parents=True, exist_ok=True)
    (root / "skill.yaml").write_text(SKILL_YAML.format(name=name), encoding="utf-8")
    (root / "SKILL.md").write_text(SKILL_MD.format(name=name), encoding="utf-8")
    scripts = root / "scripts"
    scripts.mkdir(exist_ok=True)
    script = scripts / "run.sh"
    script.write_text("#!/bin/sh\necho packed\n", encoding="utf-8")
    script.chmod(0o755)

    half = total_bytes // 2
    per_file = max(1, min(8 * MiB, half // 6))
    written = {"text": 0, "random": 0}
    for kind, folder, suffix, budget in (
        ("text", root / "references", ".md", half),
        ("random", root / "assets" / "data", ".bin", total_bytes - half),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        index = 0
        while written[kind] < budget:
            size = min(per_file, budget - written[kind])
            data = _prose(rng, size) if kind == "text" else rng.randbytes(size)
            (folder / f"part-{index:03d}{suffix}").write_bytes(data)
            written[kind] += size
            index += 1
    return written


def make_small_skill(root: Path, *, name: str = "bench-small") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "skill.yaml").write_text(SKILL_YAML.format(name=name), encoding="utf-8")
    (root / "SKILL.md").write_text(SKILL_MD.format(name=name), encoding="utf-8")
    return root


def make_store_with_images(store_root: Path, skill: Path, count: int) -> None:
    """A store with ``count`` tagged images, each its own manifest blob.

    The skill is packed once; the other images reuse its config and layer with
    different annotations (name, version), so every tag has a distinct manifest
    that ``list`` must read and verify. ``index.json`` is written once.
    """
    from skillctl import Store, pack
    from skillctl.core import oci
    from skillctl.store.layout import IndexEntry

    store = Store(store_root)
    first = pack(skill, store=store)
    base = first.manifest
    new_entries = []
    with store.writing():
        for i in range(count):
            name, version = f"bench/skill-{i // 10:03d}", f"1.0.{i % 10}"
            annotations = {
                **base.annotations,
                oci.TITLE: name.rsplit("/", 1)[1],
                oci.VERSION: version,
            }
            raw = oci.build_manifest(base.config, list(base.layers), annotations)
            digest = store.put_blob(raw)
            descriptor = oci.Descriptor(oci.MANIFEST_V1, digest, len(raw))
            ref = f"{name}:{version}-draft"
            new_entries.append(IndexEntry(descriptor, {**annotations, oci.REF_NAME: ref}))

        def mutate(entries: list[IndexEntry]) -> list[IndexEntry]:
            keep = [e for e in entries if e.ref_name != first.ref]  # only the 1,000 generated tags
            return keep + new_entries

        store.update_index(mutate)
