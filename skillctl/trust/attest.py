"""Attestations: in-toto statements in signed DSSE envelopes, attached to an image digest as ``cosign attest``
attaches them, in either of cosign's layouts.

``legacy``: each envelope is a layer (``application/vnd.dsse.envelope.v1+json``, annotated with its
``predicateType``) of an image tagged ``sha256-<digest>.att`` (cosign v2, and v3 with the legacy flags).
``bundle``: a Sigstore bundle v0.3 holding the envelope, as an OCI 1.1 referrer annotated
``dev.sigstore.bundle.predicateType`` (cosign v3's default). cosign v3 stops reading ``.att`` once an image has any
bundle, so an attestation follows the image's signature format unless told otherwise.

A statement counts only for the digests its subject names, and only when its envelope's signature verifies with a
trusted key (``evidence.KeyTrust``, ``evidence.KeylessTrust``): a forged, unsigned or moved attestation never does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import NotFoundError, SkillctlError, UsageError
from skillctl.core.refs import Reference, parse_reference
from skillctl.registry.client import read_manifest
from skillctl.registry.selection import capable, select
from skillctl.trust import bundle as bundles
from skillctl.trust import evidence as ev
from skillctl.trust import referrers, simplesigning
from skillctl.trust.keys import key_id, sign_bytes

DSSE_MEDIA_TYPE: Final = "application/vnd.dsse.envelope.v1+json"
PREDICATE_TYPE_ANNOTATION: Final = "predicateType"
MAX_PREDICATE: Final = 1024 * 1024
"""The largest predicate skillctl attests or reads: evidence is a summary (a score, a verdict, a list of findings)."""
MAX_ENVELOPE: Final = 2 * MAX_PREDICATE  # base64 and the statement around the predicate
MAX_ATTESTATIONS: Final = 256
FORMATS: Final = ("legacy", "bundle", "both")


class AttestationError(SkillctlError):
    """An attestation that cannot be made (a predicate too large or not a JSON object)."""


def attestation_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".att"


def statement(digest: str, predicate_type: str, predicate: Mapping[str, Any], *, name: str = "") -> bytes:
    """An in-toto Statement v1 about one image digest (the subject also names the repository, as cosign's do)."""
    algorithm, _, value = digest.partition(":")
    subject: dict[str, Any] = {"name": name, "digest": {algorithm: value}} if name else {"digest": {algorithm: value}}
    body = {
        "_type": bundles.STATEMENT_V1,
        "subject": [subject],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=False).encode()


def envelope(payload: bytes, signature: bytes, payload_type: str = bundles.INTOTO_PAYLOAD) -> bytes:
    """A DSSE envelope as cosign writes one into a ``.att`` layer."""
    return json.dumps(
        {
            "payloadType": payload_type,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
        },
        separators=(",", ":"),
    ).encode()


@dataclass
class Attestation:
    """One attestation as found, readable or not; ``evidence`` is its signature, for a ``Trust`` to judge."""

    format: str  # legacy (.att layer) or bundle (referrer)
    where: str
    predicate_type: str
    subjects: list[str]
    predicate: Any
    evidence: ev.Evidence

    @property
    def problem(self) -> str | None:
        return self.evidence.problem

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format, "where": self.where, "predicateType": self.predicate_type,
            "subjects": self.subjects, "problem": self.problem,
        }  # fmt: skip


def _statement_into(att: Attestation, payload_type: str, payload: bytes, digest: str) -> None:
    if payload_type != bundles.INTOTO_PAYLOAD:
        att.evidence.problem = f"the envelope holds {payload_type!r}, not an in-toto statement"
        return
    try:
        found = bundles.parse_statement(payload, att.where)
    except bundles.BundleError as exc:
        att.evidence.problem = exc.message
        return
    att.predicate_type, att.subjects, att.predicate = found.predicate_type, found.subject_digests, found.predicate
    # The evidence names the digest it is about: this one when the subject lists it, else what it does list.
    att.evidence.digest = digest if digest in found.subject_digests else next(iter(found.subject_digests), None)


def from_envelope(data: bytes, where: str, digest: str, fmt: str = "legacy") -> list[Attestation]:
    """The attestations of a ``.att`` layer: one per signature of its DSSE envelope."""
    blank = ev.Evidence(fmt, where, b"", b"", b"", None)
    try:
        doc = json.loads(data)
        payload_type = str(doc["payloadType"])
        payload = base64.b64decode(doc["payload"], validate=True)
        signatures = [base64.b64decode(s["sig"], validate=True) for s in doc["signatures"]]
    except (ValueError, KeyError, TypeError):
        blank.problem = "not a DSSE envelope"
        return [Attestation(fmt, where, "", [], None, blank)]
    if not signatures:
        signatures = [b""]  # an unsigned envelope: reported, never accepted
    found = []
    for signature in signatures:
        evidence = ev.Evidence(fmt, where, bundles.pae(payload_type, payload), signature, payload, None)
        if not signature:
            evidence.problem = "the envelope is not signed"
        att = Attestation(fmt, where, "", [], None, evidence)
        problem = evidence.problem
        _statement_into(att, payload_type, payload, digest)
        evidence.problem = problem or evidence.problem
        found.append(att)
    return found


def from_bundle(data: bytes, where: str, digest: str) -> Attestation:
    """The attestation a Sigstore bundle holds (a DSSE envelope around an in-toto statement)."""
    evidence = ev.Evidence("bundle", where, b"", b"", b"", None)
    att = Attestation("bundle", where, "", [], None, evidence)
    try:
        bundle = bundles.parse(data, where)
    except bundles.BundleError as exc:
        evidence.problem = exc.message
        return att
    evidence.signature, evidence.payload = bundle.signature, bundle.payload
    evidence.certificates, evidence.tlog = bundle.certificates, bundle.tlog_entries
    if not bundle.is_dsse:
        evidence.problem = "a message signature, not an attestation"
        return att
    evidence.signed = bundle.signed_bytes
    _statement_into(att, bundle.payload_type, bundle.payload, digest)
    return att


def _legacy(repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions) -> list[Attestation]:
    tag = attestation_tag(digest)
    image = simplesigning.fetch_tag(Reference(repo.repository, tag), backend=backend, opts=opts, max_layer=MAX_ENVELOPE)
    found: list[Attestation] = []
    for i, (meta, data) in enumerate(image.layers[:MAX_ATTESTATIONS]):
        if meta.get("mediaType") != DSSE_MEDIA_TYPE:
            continue
        for att in from_envelope(data, f"{tag} layer {i + 1}", digest):
            ev.add_layer_material(att.evidence, meta.get("annotations") or {})
            found.append(att)
    return found


def _predicate_of(annotations: Mapping[str, str]) -> str | None:
    return annotations.get(bundles.PREDICATE_ANNOTATION)


def _bundles(
    repo: Reference, digest: str, *, predicate_type: str | None, backend: str | None, opts: RegistryOptions
) -> list[Attestation]:
    listed = referrers.list_referrers(repo, digest, backend=backend, opts=opts, artifact_type=bundles.BUNDLE_V03)
    found: list[Attestation] = []
    for desc in listed.descriptors[:MAX_ATTESTATIONS]:
        known = _predicate_of(desc.get("annotations") or {})
        if known == bundles.COSIGN_SIGN_PREDICATE or (known and predicate_type and known != predicate_type):
            continue  # a signature, or another kind of evidence: not downloaded
        where = f"referrer {desc['digest']}"
        try:
            manifest, blobs = referrers.fetch_artifact(
                repo, desc["digest"], backend=backend, opts=opts, max_blob=bundles.MAX_BUNDLE
            )
        except SkillctlError as exc:
            found.append(Attestation("bundle", where, "", [], None, ev.Evidence("bundle", where, b"", b"", b"", None,
                                                                                 problem=exc.message)))  # fmt: skip
            continue
        subject = (manifest.get("subject") or {}).get("digest")
        for layer in manifest.get("layers") or []:
            if layer.get("mediaType") not in bundles.BUNDLE_TYPES:
                continue
            att = from_bundle(blobs[layer["digest"]], where, digest)
            if att.predicate_type == bundles.COSIGN_SIGN_PREDICATE:
                continue
            if subject != digest and att.problem is None:
                att.evidence.problem = f"the referrer's subject is {subject}"
            found.append(att)
    return found


def collect(
    repo: Reference,
    digest: str,
    *,
    predicate_type: str | None = None,
    backend: str | None,
    opts: RegistryOptions,
) -> list[Attestation]:
    """Every attestation attached to ``digest`` in either layout (of ``predicate_type`` when given), readable or
    not. Nothing here is verified: ``check`` does that."""
    found = _legacy(repo, digest, backend=backend, opts=opts) + _bundles(
        repo, digest, predicate_type=predicate_type, backend=backend, opts=opts
    )
    if predicate_type is not None:
        found = [a for a in found if a.predicate_type == predicate_type or (a.problem and not a.predicate_type)]
    return found


@dataclass
class Checked:
    """An attestation and the names of the trusted keys (or identities) whose signature on it verifies."""

    attestation: Attestation
    signers: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.attestation.to_json(), "signers": self.signers, "verified": bool(self.signers),
                "reasons": self.reasons}  # fmt: skip


def check(attestations: Sequence[Attestation], trusts: Mapping[str, ev.Trust], digest: str) -> list[Checked]:
    """Which named trusts accept each attestation as evidence about ``digest``; why the others do not."""
    out = []
    for att in attestations:
        checked = Checked(att)
        for name, trust in trusts.items():
            outcome = ev.check([att.evidence], trust, digest)
            if outcome.verified:
                checked.signers.append(name)
            else:
                checked.reasons.extend(why for _, why in outcome.rejected)
        checked.reasons = list(dict.fromkeys(checked.reasons))
        out.append(checked)
    return out


def listing(repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions) -> list[dict[str, str]]:
    """What is attested about ``digest`` (format, predicate type, where), from manifests alone: for ``inspect``."""
    reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
    found: list[dict[str, str]] = []
    tag = Reference(repo.repository, attestation_tag(digest))
    try:
        raw = json.loads(read_manifest(tag, reader.backend, opts))
        for i, layer in enumerate(raw.get("layers") or []):
            kind = (layer.get("annotations") or {}).get(PREDICATE_TYPE_ANNOTATION, "")
            found.append({"format": "legacy", "predicateType": kind, "where": f"{tag.tag} layer {i + 1}"})
    except (NotFoundError, ValueError, AttributeError):
        pass
    listed = referrers.list_referrers(repo, digest, backend=backend, opts=opts, artifact_type=bundles.BUNDLE_V03)
    for desc in listed.descriptors[:MAX_ATTESTATIONS]:
        kind = _predicate_of(desc.get("annotations") or {})
        if kind is None:
            try:
                one = json.loads(read_manifest(Reference(repo.repository, None, desc["digest"]), reader.backend, opts))
                kind = _predicate_of(one.get("annotations") or {}) or ""
            except (SkillctlError, ValueError, AttributeError):
                kind = ""
        if kind != bundles.COSIGN_SIGN_PREDICATE:
            found.append({"format": "bundle", "predicateType": kind, "where": f"referrer {desc['digest']}"})
    return found


# -- writing -------------------------------------------------------------------------------------------


def read_predicate(path: str | Path) -> dict[str, Any]:
    """A predicate file: a JSON object of at most ``MAX_PREDICATE`` bytes."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_PREDICATE:
            raise AttestationError(
                f"{p}: the predicate is {size} bytes; at most {MAX_PREDICATE} are attested",
                hint="attest a summary (scores, verdicts) and keep the full report elsewhere, named by its digest",
            )
        data = json.loads(p.read_bytes())
    except OSError as exc:
        raise NotFoundError(f"{p}: cannot read the predicate ({exc.strerror})") from None
    except ValueError as exc:
        raise AttestationError(f"{p}: the predicate is not JSON ({exc})") from None
    return check_predicate(data, str(p))


def check_predicate(data: Any, source: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise AttestationError(f"{source}: a predicate is a JSON object, not {type(data).__name__}")
    size = len(json.dumps(data, separators=(",", ":")).encode())
    if size > MAX_PREDICATE:
        raise AttestationError(f"{source}: the predicate is {size} bytes; at most {MAX_PREDICATE} are attested")
    return data


@dataclass
class AttestResult:
    ref: str
    digest: str
    predicate_type: str
    formats: list[str]
    attestation_ref: str | None = None
    bundle_ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref, "digest": self.digest, "predicateType": self.predicate_type, "formats": self.formats,
            "attestation": self.attestation_ref, "bundle": self.bundle_ref,
        }  # fmt: skip


def choose_formats(
    choice: str | None, ref: Reference, digest: str, *, backend: str | None, opts: RegistryOptions
) -> tuple[str, ...]:
    """The layouts to write: as asked, else the image's signature family (bundle when it has bundle signatures,
    both when it has both, else legacy), so that each cosign reads the attestation next to the signature."""
    if choice is not None:
        if choice not in FORMATS:
            raise UsageError(f"{choice}: not an attestation format (choose one of {', '.join(FORMATS)})")
        return ("legacy", "bundle") if choice == "both" else (choice,)
    from skillctl.trust.signing import formats_present

    present = formats_present(str(ref), digest, backend=backend, opts=opts)
    return tuple(present) if "bundle" in present else ("legacy",)


def attest(
    ref: str,
    key: Any,
    predicate_type: str,
    predicate: Mapping[str, Any],
    *,
    attestation_format: str | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> AttestResult:
    """Sign ``predicate`` about the manifest ``ref`` points at (by digest) and attach it.

    ``key`` is a loaded private key (``trust.keys.load_private_key``). Attestations already there are kept.
    """
    opts = opts or RegistryOptions()
    parsed = parse_reference(ref)
    if not parsed.is_remote:
        raise UsageError(f"{ref}: attest a registry reference (push it first)")
    if not predicate_type or any(c.isspace() for c in predicate_type):
        raise UsageError(f"{predicate_type!r}: a predicate type is a URI such as https://example.com/eval/v1")
    check_predicate(dict(predicate), "the predicate")
    reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
    manifest = oci.Manifest.parse(read_manifest(parsed, reader.backend, opts), digest=parsed.digest, source=str(parsed))
    digest = manifest.digest
    formats = choose_formats(attestation_format, parsed, digest, backend=backend, opts=opts)
    payload = statement(digest, predicate_type, predicate, name=parsed.repository)
    signature = sign_bytes(key, bundles.pae(bundles.INTOTO_PAYLOAD, payload))
    result = AttestResult(str(parsed), digest, predicate_type, list(formats))
    if "legacy" in formats:
        data = envelope(payload, signature)
        layer = {
            "mediaType": DSSE_MEDIA_TYPE,
            "digest": oci.sha256_digest(data),
            "size": len(data),
            "annotations": {simplesigning.SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type},
        }
        tag = Reference(parsed.repository, attestation_tag(digest))
        existing = simplesigning.fetch_tag(tag, backend=backend, opts=opts)
        layers = [*((m, b) for m, b in existing.layers if m["digest"] != layer["digest"]), (layer, data)]
        simplesigning.push_image(tag, layers, backend=backend, opts=opts)
        result.attestation_ref = str(tag)
    if "bundle" in formats:
        hint = base64.b64encode(key_id(key.public_key())).decode()
        bundle = bundles.Bundle(
            signature, payload_type=bundles.INTOTO_PAYLOAD, payload=payload, public_key_hint=hint
        ).to_json()
        annotations = {
            "org.opencontainers.image.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dev.sigstore.bundle.content": "dsse-envelope",
            bundles.PREDICATE_ANNOTATION: predicate_type,
        }
        artifact, blobs = referrers.artifact_manifest(
            manifest.descriptor, bundles.BUNDLE_V03, [(bundles.BUNDLE_V03, bundle)], annotations
        )
        where = referrers.attach(parsed, digest, artifact, blobs, backend=backend, opts=opts)
        result.bundle_ref = str(where)
    return result
