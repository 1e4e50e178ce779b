"""``containers-policy.json(5)``, the signature policy podman, skopeo and CRI-O apply, applied by skillctl.

Read as podman reads it (``--signature-policy FILE``, else ``$HOME/.config/containers/policy.json``, else
``/etc/containers/policy.json``), for the ``docker`` transport (registries): the most specific scope that
names the image (``host/ns/repo:tag`` or ``@digest``, the repository, each namespace, the host, ``*.domain``
wildcards, the transport's ``""``), else ``default``. Every requirement of that scope must hold:
``insecureAcceptAnything``, ``reject``, ``sigstoreSigned`` (``keyPath(s)``/``keyData(s)`` or ``fulcio``
with ``caPath``/``caData``, ``oidcIssuer``, ``subjectEmail``; ``rekorPublicKeyPath(s)``/``Data(s)``;
``signedIdentity``). Beyond podman: a ``sigstoreSigned`` requirement is met by a ``.sig`` signature or a
Sigstore bundle referrer (bundles sign a digest, not a repository, so ``signedIdentity`` applies to ``.sig``
payloads only), and it works where the containers tools are built without sigstore (Debian 12).
Not enforced: ``signedBy`` (GPG simple signing), ``sigstoreSigned`` with ``pki``: an image under such a
scope is refused, saying so.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.core.errors import IntegrityError, SkillctlError, UsageError
from skillctl.core.refs import Reference, parse_reference
from skillctl.trust import evidence as ev
from skillctl.trust import keyless, trustroot
from skillctl.trust.keys import parse_public_key
from skillctl.trust.transparency import LogKey

SYSTEM_POLICY: Final = Path("/etc/containers/policy.json")
KNOWN: Final = frozenset({"insecureAcceptAnything", "reject", "signedBy", "sigstoreSigned"})


class PolicyError(IntegrityError):
    """A policy file that cannot be applied (unreadable, an unknown requirement type, a bad field)."""


class PolicyRejected(ev.SignatureError):
    """The policy does not accept the image."""


def default_path(env: Mapping[str, str] | None = None, system: Path | None = None) -> Path | None:
    """The policy podman would read: the user's, else the system's; None when neither exists.

    ``$SKILLCTL_SYSTEM_POLICY`` stands for the system's file (tests, and hosts that keep it elsewhere).
    """
    env = os.environ if env is None else env
    system = system or Path(env.get("SKILLCTL_SYSTEM_POLICY") or SYSTEM_POLICY)
    home = env.get("HOME")
    if home and (Path(home) / ".config/containers/policy.json").is_file():
        return Path(home) / ".config/containers/policy.json"
    return system if system.is_file() else None


@dataclass
class Requirement:
    kind: str
    where: str  # "scope X, requirement N" for messages
    trust: ev.Trust | None = None
    label: str = ""
    identity: dict[str, Any] = field(default_factory=dict)
    unsupported: str | None = None


def _read(base: Path, value: Any, where: str) -> bytes:
    path = Path(str(value))
    path = path if path.is_absolute() else base / path
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{where}: cannot read {path} ({exc.strerror})") from None


def _data(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        raise PolicyError(f"{where}: not base64") from None


def _one_of(spec: dict[str, Any], names: tuple[str, ...], where: str, *, required: bool) -> tuple[str, Any] | None:
    given = [(n, spec[n]) for n in names if n in spec]
    if len(given) > 1 or (required and not given):
        raise PolicyError(f"{where}: exactly one of {', '.join(names)} is needed")
    return given[0] if given else None


def _keys(base: Path, spec: dict[str, Any], names: tuple[str, str, str, str], where: str, required: bool) -> list[Any]:
    chosen = _one_of(spec, names, where, required=required)
    if chosen is None:
        return []
    name, value = chosen
    values = value if name.endswith("s") else [value]
    if not isinstance(values, list) or not values:
        raise PolicyError(f"{where}: {name} must name at least one key")
    out = []
    for v in values:
        data = _read(base, v, f"{where}: {name}") if "Path" in name else _data(v, f"{where}: {name}")
        try:
            out.append(parse_public_key(data, f"{where}: {name}"))
        except UsageError:
            raise PolicyError(f"{where}: {name} is not a PEM public key") from None
    return out


def _sigstore(base: Path, spec: dict[str, Any], where: str) -> Requirement:
    from cryptography import x509

    req = Requirement("sigstoreSigned", where, identity=spec.get("signedIdentity") or {})
    if "pki" in spec:
        req.unsupported = "sigstoreSigned with pki (X.509 without Fulcio) is not enforced by skillctl"
        return req
    logs = [
        LogKey.of(k)
        for k in _keys(
            base,
            spec,
            ("rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas"),
            where,
            False,
        )
    ]
    if "fulcio" in spec:
        if any(n in spec for n in ("keyPath", "keyPaths", "keyData", "keyDatas")):
            raise PolicyError(f"{where}: fulcio and a key are exclusive")
        fulcio = spec["fulcio"] if isinstance(spec["fulcio"], dict) else {}
        name, value = _one_of(fulcio, ("caPath", "caData"), f"{where}: fulcio", required=True) or ("", "")
        pem = _read(base, value, f"{where}: fulcio.caPath") if name == "caPath" else _data(value, f"{where}: fulcio")
        try:
            certs = tuple(x509.load_pem_x509_certificates(pem))
        except ValueError:
            raise PolicyError(f"{where}: fulcio.{name} holds no PEM certificate") from None
        issuer, email = fulcio.get("oidcIssuer"), fulcio.get("subjectEmail")
        if not issuer or not email:
            raise PolicyError(f"{where}: fulcio needs oidcIssuer and subjectEmail")
        if not logs:
            raise PolicyError(f"{where}: fulcio needs rekorPublicKeyPath or rekorPublicKeyData")
        identity = keyless.Identity(subject=str(email), issuer=str(issuer))
        req.trust = ev.KeylessTrust([trustroot.Authority(certs)], logs, identity)
        req.label = f"a Fulcio certificate for {email} from {issuer}"
        return req
    keys = _keys(base, spec, ("keyPath", "keyPaths", "keyData", "keyDatas"), where, True)
    label = str(spec.get("keyPath") or spec.get("keyPaths") or "the policy's keyData")
    req.trust = ev.KeyTrust(keys, label, logs, require_log=bool(logs))
    req.label = f"key {label}" + (" with a Rekor entry" if logs else "")
    return req


def _requirement(base: Path, spec: Any, where: str) -> Requirement:
    if not isinstance(spec, dict) or "type" not in spec:
        raise PolicyError(f"{where}: a requirement is an object with a type")
    kind = spec["type"]
    if kind not in KNOWN:
        raise PolicyError(
            f"{where}: unknown requirement type {kind!r}", hint=f"known types: {', '.join(sorted(KNOWN))}"
        )
    if kind == "sigstoreSigned":
        return _sigstore(base, spec, where)
    if kind == "signedBy":
        return Requirement(kind, where, unsupported="signedBy (GPG simple signing) is not enforced by skillctl")
    return Requirement(kind, where)


@dataclass
class Policy:
    default: list[Requirement]
    scopes: dict[str, list[Requirement]]  # the docker transport's
    source: str

    def scope_for(self, ref: Reference) -> tuple[str, list[Requirement]]:
        """The most specific scope naming ``ref``, and its requirements."""
        for scope in _candidates(ref):
            if scope in self.scopes:
                return scope, self.scopes[scope]
        return "default", self.default


def _normalised(ref: Reference) -> Reference:
    host, _, path = ref.repository.partition("/")
    if host in ("docker.io", "index.docker.io") and "/" not in path:
        return Reference(f"docker.io/library/{path}", ref.tag, ref.digest)
    return Reference("docker.io/" + path, ref.tag, ref.digest) if host == "index.docker.io" else ref


def _candidates(ref: Reference) -> list[str]:
    ref = _normalised(ref)
    out = []
    if ref.digest:
        out.append(f"{ref.repository}@{ref.digest}")
    if ref.tag:
        out.append(f"{ref.repository}:{ref.tag}")
    parts = ref.repository.split("/")
    out += ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    host = parts[0].split(":")[0]
    labels = host.split(".")
    out += ["*." + ".".join(labels[i:]) for i in range(1, len(labels))]
    out.append("")
    return out


def parse(data: bytes, source: str, base: Path | None = None) -> Policy:
    """Read a policy; relative key paths are relative to ``base`` (the file's directory).

    Raises:
        PolicyError: not a policy skillctl can apply; the message names the scope and the requirement.
    """
    base = base or Path(".")
    try:
        doc = json.loads(data)
    except ValueError:
        raise PolicyError(f"{source}: not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("default"), list) or not doc["default"]:
        raise PolicyError(f"{source}: a policy needs a non-empty default list of requirements")
    default = [_requirement(base, r, f"{source}: default[{i}]") for i, r in enumerate(doc["default"])]
    scopes: dict[str, list[Requirement]] = {}
    for transport, entries in (doc.get("transports") or {}).items():
        if not isinstance(entries, dict):
            raise PolicyError(f"{source}: transports.{transport} is not an object")
        for scope, requirements in entries.items():
            where = f'{source}: transports.{transport}["{scope}"]'
            if not isinstance(requirements, list) or not requirements:
                raise PolicyError(f"{where}: a scope needs a non-empty list of requirements")
            parsed = [_requirement(base, r, f"{where}[{i}]") for i, r in enumerate(requirements)]
            if transport == "docker":
                scopes[scope] = parsed
    return Policy(default, scopes, source)


def load(path: str | Path) -> Policy:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{p}: cannot read the signature policy ({exc.strerror})") from None
    return parse(data, str(p), p.parent)


# -- signedIdentity ------------------------------------------------------------------------------
def _identity_ok(identity: dict[str, Any], image: Reference, signed: str | None) -> bool:
    """Whether a .sig payload's docker-reference satisfies ``signedIdentity`` for ``image`` (as c/image does)."""
    if signed is None:
        return True  # a bundle: it names no repository
    try:
        claimed = _normalised(parse_reference(signed))
    except SkillctlError:
        return False  # an unparsable claim matches nothing
    image = _normalised(image)
    kind = identity.get("type", "matchRepoDigestOrExact")
    if kind == "remapIdentity":
        prefix, signed_prefix = str(identity.get("prefix", "")), str(identity.get("signedPrefix", ""))
        text = str(image)
        if prefix and (text == prefix or text.startswith(prefix.rstrip("/") + "/") or text.startswith(prefix + ":")):
            image = _normalised(parse_reference(signed_prefix + text[len(prefix) :]))
        kind = "matchRepoDigestOrExact"
    if kind == "matchExact":
        return image.digest is None and str(claimed) == str(image)
    if kind == "matchRepoDigestOrExact":
        if image.digest:
            return claimed.repository == image.repository
        return str(claimed) == str(image)
    if kind == "matchRepository":
        return claimed.repository == image.repository
    if kind == "exactReference":
        return str(claimed) == str(_normalised(parse_reference(str(identity.get("dockerReference", "")))))
    if kind == "exactRepository":
        return claimed.repository == _normalised(parse_reference(str(identity.get("dockerRepository", "")))).repository
    return False


@dataclass
class _IdentityTrust:
    inner: ev.Trust
    identity: dict[str, Any]
    image: Reference

    def accept(self, evidence: ev.Evidence) -> str:
        if not _identity_ok(self.identity, self.image, evidence.docker_reference):
            kind = self.identity.get("type", "matchRepoDigestOrExact")
            raise ev.Rejected(f"signs {evidence.docker_reference}, which {kind} does not accept for {self.image}")
        return self.inner.accept(evidence)


def check(policy: Policy, ref: str, digest: str, evidence: list[ev.Evidence] | None, fetch: Any) -> str:
    """Apply ``policy`` to ``ref`` (manifest ``digest``); ``fetch()`` reads the image's signatures when needed.

    Returns who signed (empty when the scope requires no signature).
    Raises PolicyRejected (exit 10) naming the scope and the requirement.
    """
    image = parse_reference(ref)
    scope, requirements = policy.scope_for(image)
    named = f'scope "{scope}" of {policy.source}' if scope != "default" else f"the default of {policy.source}"
    accepted: list[str] = []
    checked = False
    for req in requirements:
        if req.kind == "insecureAcceptAnything":
            continue
        elif req.kind == "reject":
            raise PolicyRejected(f"{ref}: rejected by {named}", hint="the signature policy refuses this registry")
        elif req.unsupported:
            raise PolicyRejected(f"{ref}: {named} requires {req.unsupported}")
        else:
            assert req.trust is not None
            evidence = evidence if evidence is not None else fetch()
            if not evidence:
                raise PolicyRejected(f"{ref}: {named} requires a signature ({req.label}); {digest} has none")
            outcome = ev.check(evidence, _IdentityTrust(req.trust, req.identity, image), digest)
            if not outcome.verified:
                raise PolicyRejected(
                    f"{ref}: {named} requires {req.label}; none of {outcome.total} signature(s) on {digest} "
                    f"qualifies ({ev.reasons(outcome)})"
                )
            accepted.append(", ".join(sorted({who for _, who in outcome.verified})))
            checked = True
    # Nothing checked (insecureAcceptAnything alone): nothing to report as verified.
    return f"{'; '.join(accepted)} ({named})" if checked else ""
