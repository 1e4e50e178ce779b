"""The mirror's rules (``skillctl.airgap.reconcile``) on hand-made repository states.

The integration tests run the same rules on two real registries; these pin each rule on its own.
"""

from __future__ import annotations

import hashlib

from skillctl.airgap.reconcile import Decision, Tagged, plan, plan_latest, planned_view
from skillctl.core import oci
from skillctl.core.states import with_status


def manifest(version: str, state: str, content: str = "a") -> oci.Manifest:
    layer = oci.Descriptor(oci.LAYER_TAR_GZIP, "sha256:" + hashlib.sha256(content.encode()).hexdigest(), 10)
    config = oci.Descriptor(oci.CONFIG_V1, "sha256:" + hashlib.sha256(b"c" + content.encode()).hexdigest(), 5)
    annotations = {oci.VERSION: version, oci.STATUS: "draft"}
    draft = oci.Manifest.parse(oci.build_manifest(config, [layer], annotations))
    return with_status(draft, state)


def tagged(m: oci.Manifest) -> Tagged:
    return Tagged(m.digest, m.raw, m)


def signature(*layers: str) -> Tagged:
    raw = (
        '{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:'
        + "0" * 64
        + '","size":1},"layers":['
        + ",".join(
            '{"mediaType":"s","digest":"sha256:' + "1" * 64 + f'","size":1,"annotations":{{"sig":"{x}"}}}}'
            for x in layers
        )
        + "]}"
    ).encode()
    return Tagged(oci.sha256_digest(raw), raw, oci.Manifest.parse(raw))


def holds(*manifests: oci.Manifest):
    digests = {m.digest for m in manifests}
    return lambda digest: digest in digests


def by_tag(decisions: list[Decision]) -> dict[str | None, tuple[str, str]]:
    return {d.tag: (d.action, d.digest) for d in decisions}


NOTHING = holds()


def test_tags_the_source_holds_are_copied_and_equal_ones_skipped() -> None:
    draft, pub = manifest("1.0.0", "draft"), manifest("1.0.0", "published")
    src = {"1.0.0-draft": tagged(draft), "1.0.0": tagged(pub), "latest": tagged(pub)}
    dst = {"1.0.0-draft": tagged(draft)}
    got = by_tag(plan(src, dst, src_has=NOTHING, dst_has=NOTHING))
    assert got == {"1.0.0-draft": ("skip", draft.digest), "1.0.0": ("copy", pub.digest)}  # latest: plan_latest


def test_a_later_state_on_the_destination_is_kept_unless_forced() -> None:
    pub, dep = manifest("1.0.0", "published"), manifest("1.0.0", "deprecated")
    src = {"1.0.0": tagged(pub)}
    dst = {"1.0.0": tagged(dep)}
    [decision] = plan(src, dst, src_has=NOTHING, dst_has=NOTHING)
    assert (decision.action, decision.digest) == ("keep", dep.digest)
    assert "deprecated" in decision.detail and "--force" in decision.detail
    [forced] = plan(src, dst, src_has=NOTHING, dst_has=NOTHING, force=True)
    assert (forced.action, forced.digest) == ("copy", pub.digest)
    # Archived on the destination (the tag is gone, the archived manifest exists by digest): not re-created.
    archived = manifest("1.0.0", "archived")
    [gone] = plan(src, {}, src_has=NOTHING, dst_has=holds(archived))
    assert gone.action == "keep" and "archived" in gone.detail


def test_a_later_state_at_the_source_is_copied() -> None:
    pub, dep = manifest("1.0.0", "published"), manifest("1.0.0", "deprecated")
    [decision] = plan({"1.0.0": tagged(dep)}, {"1.0.0": tagged(pub)}, src_has=NOTHING, dst_has=NOTHING)
    assert (decision.action, decision.digest) == ("copy", dep.digest)


def test_draft_tags_are_copied_whatever_the_release_became() -> None:
    draft = manifest("1.0.0", "draft")
    [decision] = plan({"1.0.0-draft": tagged(draft)}, {}, src_has=NOTHING, dst_has=holds(manifest("1.0.0", "archived")))
    assert decision.action == "copy"


def test_tags_the_source_removed_are_removed_with_a_fallback() -> None:
    dep, archived = manifest("1.0.0", "deprecated"), manifest("1.0.0", "archived")
    draft = manifest("1.0.0", "draft")
    src = {"1.0.0-draft": tagged(draft)}  # 1.0.0 archived at the source: only by digest
    dst = {"1.0.0-draft": tagged(draft), "1.0.0": tagged(dep)}
    decisions = plan(src, dst, src_has=holds(archived), dst_has=NOTHING)
    removal = next(d for d in decisions if d.tag == "1.0.0")
    assert (removal.action, removal.digest, removal.fallback) == ("remove", dep.digest, archived.digest)


def test_destination_only_content_is_left_alone_and_its_later_states_kept() -> None:
    mine = manifest("9.0.0", "published", content="far-only")
    pub, dep = manifest("1.0.0", "published"), manifest("1.0.0", "deprecated")
    src = {"1.0.0-draft": tagged(manifest("1.0.0", "draft"))}  # the source holds 1.0.0 only as a draft
    dst = {"9.0.0": tagged(mine), "1.0.0": tagged(dep)}
    got = {d.tag: d.action for d in plan(src, dst, src_has=holds(pub), dst_has=NOTHING)}
    assert got["9.0.0"] == "skip"
    assert got["1.0.0"] == "keep"  # deprecated here, only published at the source


def test_signatures_of_deleted_manifests_are_skipped_and_richer_ones_kept() -> None:
    pub = manifest("1.0.0", "published")
    gone = manifest("1.0.0", "testing")
    sig_pub, sig_gone = pub.digest.replace(":", "-") + ".sig", gone.digest.replace(":", "-") + ".sig"
    src = {"1.0.0": tagged(pub), sig_pub: signature("near"), sig_gone: signature("near")}
    dst = {"1.0.0": tagged(pub), sig_pub: signature("near", "far")}
    got = {d.tag: d for d in plan(src, dst, src_has=NOTHING, dst_has=NOTHING)}
    assert got[sig_gone].action == "skip" and "deleted" in got[sig_gone].detail
    assert got[sig_pub].action == "keep" and "signatures the source lacks" in got[sig_pub].detail
    # The source added a signature the destination lacks: copied.
    dst = {"1.0.0": tagged(pub), sig_pub: signature("near")}
    src[sig_pub] = signature("near", "second")
    got = {d.tag: d for d in plan(src, dst, src_has=NOTHING, dst_has=NOTHING)}
    assert got[sig_pub].action == "copy"
    # Destination-only signatures are never removed.
    assert all(
        d.tag != "sha256-" + "2" * 64 + ".sig"
        for d in plan({}, {"sha256-" + "2" * 64 + ".sig": signature("x")}, src_has=NOTHING, dst_has=NOTHING)
    )


def test_latest_is_the_highest_published_release_of_the_destination() -> None:
    v1, v2 = manifest("1.0.0", "published", "one"), manifest("2.0.0", "published", "two")
    dep2 = manifest("2.0.0", "deprecated", "two")
    view = {"1.0.0": tagged(v1), "2.0.0": tagged(v2)}
    assert plan_latest(view, None) == Decision("latest", "copy", v2.digest, "the highest published release, 2.0.0")
    assert plan_latest(view, tagged(v2)).action == "skip"
    # 2.0.0 kept deprecated on the destination: latest moves to 1.0.0 although the source's latest is 2.0.0.
    src = {"1.0.0": tagged(v1), "2.0.0": tagged(v2), "latest": tagged(v2)}
    dst = {"1.0.0": tagged(v1), "2.0.0": tagged(dep2), "latest": tagged(v2)}
    decisions = plan(src, dst, src_has=NOTHING, dst_has=NOTHING)
    assert by_tag(decisions)["2.0.0"][0] == "keep"
    latest = plan_latest(planned_view(dst, src, []), dst["latest"])
    assert latest is not None and (latest.action, latest.digest) == ("copy", v1.digest)
    # Nothing published: removed.
    assert plan_latest({"2.0.0": tagged(dep2)}, tagged(v2)) == Decision(
        "latest", "remove", v2.digest, "no published release is left"
    )
    assert plan_latest({}, None) is None


def test_repositories_without_lifecycle_annotations_copy_latest_like_any_tag() -> None:
    raw = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:'
        + b"3" * 64
        + b'","size":1},"layers":[]}'
    )
    plain = Tagged(oci.sha256_digest(raw), raw, oci.Manifest.parse(raw))
    assert by_tag(plan({"latest": plain}, {}, src_has=NOTHING, dst_has=NOTHING)) == {"latest": ("copy", plain.digest)}
