"""The lifecycle state machine, the tag of each state, re-annotation and release versions."""

from __future__ import annotations

import itertools
import json

import pytest
import semver

from skillctl.core import oci
from skillctl.core.errors import ExitCode, LifecycleError, UsageError
from skillctl.core.states import NEXT, STATES, check_transition, parse_state, release_version, tag_for_state
from skillctl.lifecycle.promote import with_status

ORDER = ["draft", "testing", "published", "deprecated", "archived"]
ALL_PAIRS = list(itertools.product(ORDER, ORDER))


def test_states_are_the_five_in_order():
    assert list(STATES) == ORDER
    assert NEXT == {"draft": "testing", "testing": "published", "published": "deprecated", "deprecated": "archived"}


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_transition_table(current, target):
    i, j = ORDER.index(current), ORDER.index(target)
    if j == i + 1:
        assert check_transition(current, target) is True
    elif i == j:
        assert check_transition(current, target) is False  # already there: a no-op, never an error
    else:
        with pytest.raises(LifecycleError) as info:
            check_transition(current, target, ref="ns/x:1.0.0")
        error = info.value
        assert error.exit_code == ExitCode.LIFECYCLE == 5
        message = str(error)
        assert message.startswith("ns/x:1.0.0: ")
        if current == "archived":
            assert "nothing follows archived" in message
        else:
            # The message names the one allowed next state.
            assert f"the next state is {ORDER[i + 1]}" in message
            assert f"from {current} to {target}" in message


def test_exactly_four_transitions_are_allowed():
    allowed = []
    for a, b in ALL_PAIRS:
        try:
            if check_transition(a, b):
                allowed.append((a, b))
        except LifecycleError:
            pass
    assert allowed == list(itertools.pairwise(ORDER))


@pytest.mark.parametrize("target", ORDER)
def test_nothing_leaves_archived_except_the_no_op(target):
    if target == "archived":
        assert check_transition("archived", "archived") is False
        return
    with pytest.raises(LifecycleError, match="archived"):
        check_transition("archived", target)


@pytest.mark.parametrize("current", ["", "released", "Draft", "PUBLISHED"])
def test_a_manifest_without_a_valid_status_cannot_be_promoted(current):
    with pytest.raises(LifecycleError, match=r"io\.skillimage\.status"):
        check_transition(current, "testing")


@pytest.mark.parametrize("target", ["", "release", "Testing", "rc", "draft "])
def test_unknown_target_state_is_a_usage_error(target):
    with pytest.raises(UsageError) as info:
        check_transition("draft", target)
    assert info.value.exit_code == ExitCode.USAGE
    assert "invalid lifecycle state" in str(info.value)
    assert "draft, testing, published, deprecated, archived" in (info.value.hint or "")


@pytest.mark.parametrize("state", ORDER)
def test_parse_state_accepts_exact_names(state):
    assert parse_state(state) == state


@pytest.mark.parametrize(
    ("version", "state", "tag"),
    [
        ("1.2.0", "draft", "1.2.0-draft"),
        ("1.2.0", "testing", "1.2.0-testing"),
        ("1.2.0", "published", "1.2.0"),
        ("1.2.0", "deprecated", "1.2.0"),
        ("1.2.0", "archived", None),
        ("1.0.0-rc.1", "testing", "1.0.0-rc.1-testing"),
        ("1.0.0-rc.1", "published", "1.0.0-rc.1"),
        ("1.0.0+build.5", "published", "1.0.0_build.5"),
        ("1.0.0+build.5", "draft", "1.0.0_build.5-draft"),
        ("1.0.0+build.5", "archived", None),
    ],
)
def test_tag_for_state(version, state, tag):
    assert tag_for_state(version, state) == tag


def test_published_and_deprecated_share_the_version_tag():
    assert tag_for_state("3.1.4", "published") == tag_for_state("3.1.4", "deprecated") == "3.1.4"


def test_tag_for_state_rejects_a_version_that_is_no_tag():
    with pytest.raises(UsageError):
        tag_for_state("1.0.0 beta", "published")


# -- with_status --------------------------------------------------------------------------------
def _manifest(annotations: dict[str, str], *, layers: int = 2) -> oci.Manifest:
    config = oci.build_config("sha256:" + "d" * 64, created="2024-01-01T00:00:00Z")
    config_desc = oci.Descriptor(oci.CONFIG_V1, oci.sha256_digest(config), len(config))
    layer_descs = [
        oci.Descriptor(oci.LAYER_TAR_GZIP, oci.sha256_digest(f"layer {i}".encode()), 1000 + i) for i in range(layers)
    ]
    return oci.Manifest.parse(oci.build_manifest(config_desc, layer_descs, annotations))


BASE_ANNOTATIONS = {
    oci.STATUS: "draft",
    oci.VERSION: "1.0.0",
    oci.TITLE: "Demo <&> skill",
    oci.DESCRIPTION: "desc",
    oci.CREATED: "2024-01-01T00:00:00Z",
}


@pytest.mark.parametrize("state", ORDER)
def test_with_status_changes_only_the_status_annotation(state):
    before = _manifest(BASE_ANNOTATIONS)
    after = with_status(before, state)
    assert after.annotations == {**BASE_ANNOTATIONS, oci.STATUS: state}
    assert after.config == before.config
    assert after.layers == before.layers
    assert after.media_type == before.media_type
    old, new = json.loads(before.raw), json.loads(after.raw)
    assert {k: v for k, v in old.items() if k != "annotations"} == {k: v for k, v in new.items() if k != "annotations"}
    assert list(new) == list(old)  # field order kept
    assert after.digest == oci.sha256_digest(after.raw)
    if state == "draft":
        assert after.raw == before.raw and after.digest == before.digest
    else:
        assert after.digest != before.digest


def test_with_status_keeps_the_canonical_byte_form():
    # Written as pack writes a manifest with the new status: byte for byte the same.
    before = _manifest(BASE_ANNOTATIONS)
    expected = oci.build_manifest(before.config, list(before.layers), {**BASE_ANNOTATIONS, oci.STATUS: "testing"})
    assert with_status(before, "testing").raw == expected


def test_with_status_adds_a_missing_status_and_sorts_annotations():
    before = _manifest({"z.last": "1", oci.VERSION: "2.0.0", "a.first": "2"})
    after = with_status(before, "testing")
    assert after.annotations[oci.STATUS] == "testing"
    assert list(json.loads(after.raw)["annotations"]) == sorted(after.annotations)
    assert after.layers == before.layers and after.config == before.config


def test_with_status_round_trips():
    before = _manifest(BASE_ANNOTATIONS)
    there = with_status(before, "published")
    back = with_status(there, "draft")
    assert back.raw == before.raw
    assert with_status(there, "published").digest == there.digest  # idempotent


def test_with_status_keeps_fields_it_does_not_know():
    before = _manifest(BASE_ANNOTATIONS, layers=1)
    data = json.loads(before.raw)
    data["layers"][0]["annotations"] = {"org.opencontainers.image.title": "skill.tar.gz"}
    data["subject"] = {"mediaType": oci.MANIFEST_V1, "digest": "sha256:" + "e" * 64, "size": 7}
    odd = oci.Manifest.parse(oci.go_json(data))
    after = with_status(odd, "testing")
    new = json.loads(after.raw)
    assert new["layers"] == data["layers"]
    assert new["subject"] == data["subject"]
    assert new["config"] == data["config"]


# -- release_version ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("1.0.0", semver.Version(1, 0, 0)),
        ("2.10.3", semver.Version(2, 10, 3)),
        ("1.2.0_build.7", semver.Version(1, 2, 0, build="build.7")),
        ("1.0.0-rc.1", None),
        ("1.0.0-alpha", None),
        ("1.0.0-draft", None),
        ("1.0.0-testing", None),
        ("1.0.0-rc.1_build.2", None),
        ("latest", None),
        ("1.0", None),
        ("v1.0.0", None),
        ("", None),
    ],
)
def test_release_version(tag, version):
    assert release_version(tag) == version


def test_release_versions_order_by_semver_not_by_text():
    tags = ["1.10.0", "1.9.0", "1.2.0", "10.0.0", "2.0.0", "2.0.0-rc.1", "9.9.9-draft"]
    releases = sorted((v, t) for t in tags if (v := release_version(t)) is not None)
    assert [t for _, t in releases] == ["1.2.0", "1.9.0", "1.10.0", "2.0.0", "10.0.0"]
