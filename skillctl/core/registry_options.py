"""How to reach registries (TLS, CA directory, auth file, one deadline): a small value every floor that talks to
registries passes down, kept apart from the backends so that commands can build it without loading them."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from skillctl.core.deadline import Deadline


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach registries: TLS, CA directory, auth file, timeout.

    ``cert_dir`` applies to every registry; without it each registry's certs.d directory is used
    (see ``skillctl.core.certs``): ask ``cert_dir_for(registry)``, never read ``cert_dir`` directly.
    ``deadline`` bounds everything done with these options (a command's ``--timeout``); without one,
    each operation gets ``timeout`` seconds. ``max_file_bytes`` caps the size of any one file a tool
    writes (set for downloads, from the sizes the manifest declares); backends pass it to ``proc.run``.
    """

    tls_verify: bool = True
    cert_dir: Path | None = None
    authfile: Path | None = None
    timeout: float = 600.0
    env: Mapping[str, str] | None = field(default=None, compare=False)
    deadline: Deadline | None = field(default=None, compare=False)
    max_file_bytes: int | None = field(default=None, compare=False)

    def started(self) -> RegistryOptions:
        """These options with a deadline running from now, unless one runs already."""
        return self if self.deadline is not None else dataclasses.replace(self, deadline=Deadline(self.timeout))

    def time_left(self, what: str = "the operation") -> float:
        """Seconds a request or tool run may take now: what is left of the deadline, else ``timeout``.

        Raises:
            DeadlineExceeded: the deadline has passed.
        """
        return self.deadline.remaining(what) if self.deadline is not None else self.timeout

    def environ(self) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        env["LC_ALL"] = "C"
        return env

    def cert_dir_for(self, registry: str | None) -> Path | None:
        """The CA and client-key directory for ``registry``: ``cert_dir`` when given, else its certs.d directory."""
        if self.cert_dir:
            return Path(self.cert_dir)
        from skillctl.core.certs import cert_dir_for

        return cert_dir_for(registry, self.env)
