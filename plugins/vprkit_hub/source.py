"""Where a hub model's code comes from: ``REPO:ENTRY`` parsed, the pinning rule, the GitHub fetch
(``torch.hub``'s own download, kept thin), a local folder's git commit and the licence heading.

``REPO`` is a GitHub ``owner/name[:ref]`` or a local folder holding a ``hubconf.py``; an existing
folder wins (write ``./owner/name`` to mean a folder that does not exist yet and get an error
saying so). A GitHub ref is *pinned* when it is a full 40-hex commit SHA: a branch, a tag, a short
SHA or no ref at all can point to other code tomorrow and is refused unless the user says
``--trust-latest``. Nothing here touches the network before that rule has been applied.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vprkit.errors import ConfigError, DataError

__all__ = [
    "HubSource",
    "fetch_github",
    "is_commit",
    "local_git_commit",
    "read_license",
    "require_pinned",
    "split_github",
]

_GITHUB = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]+)(?::(?P<ref>[^:\s]+))?$")
_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
_LOCAL_PREFIXES = (".", "/", "~")
LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "COPYING", "COPYING.md")
# (words in the first lines, SPDX id); checked in order, first match wins
_LICENSE_HEADINGS = (
    (("mit license",), "MIT"),
    (("apache license", "version 2.0"), "Apache-2.0"),
    (("gnu affero general public license", "version 3"), "AGPL-3.0"),
    (("gnu lesser general public license", "version 3"), "LGPL-3.0"),
    (("gnu general public license", "version 3"), "GPL-3.0"),
    (("gnu general public license", "version 2"), "GPL-2.0"),
    (("bsd 3-clause",), "BSD-3-Clause"),
    (("bsd 2-clause",), "BSD-2-Clause"),
    (("mozilla public license", "2.0"), "MPL-2.0"),
    (("attribution-noncommercial-sharealike 4.0",), "CC-BY-NC-SA-4.0"),
    (("attribution-noncommercial 4.0",), "CC-BY-NC-4.0"),
)


def is_commit(ref: str | None) -> bool:
    """Whether ``ref`` is a full 40-hex git commit SHA (a pinned ref)."""
    return bool(ref and _COMMIT.match(ref))


def split_github(text: str) -> tuple[str, str | None]:
    """``"owner/name[:ref]"`` → ``("owner/name", ref or None)``; a ConfigError if it is not one."""
    m = _GITHUB.match(text)
    if not m:
        raise ConfigError(f"{text!r} is not a GitHub repository 'owner/name[:ref]' nor an existing folder")
    return m.group("repo"), m.group("ref")


@dataclass(frozen=True)
class HubSource:
    """A parsed ``REPO:ENTRY``.

    Attributes:
        kind: ``"github"`` or ``"local"``.
        location: ``"owner/name"`` or the folder (absolute).
        ref: GitHub ref as given (lower-cased when it is a commit), None for a folder.
        entry: the ``hubconf.py`` entry point.
    """

    kind: Literal["github", "local"]
    location: str
    ref: str | None
    entry: str

    @property
    def pinned(self) -> bool:
        """A GitHub source at a full commit SHA (a local folder is pinned by its checksum)."""
        return self.kind == "local" or is_commit(self.ref)

    @property
    def label(self) -> str:
        """``owner/name@ref`` or the folder, for messages."""
        return f"{self.location}@{self.ref or 'default branch'}" if self.kind == "github" else self.location

    @classmethod
    def parse(cls, text: str) -> HubSource:
        """Parse ``REPO:ENTRY`` (see the module docstring)."""
        repo, sep, entry = text.rpartition(":")
        if not sep or not repo or not entry.isidentifier():
            raise ConfigError(
                f"{text!r}: expected REPO:ENTRY, e.g. gmberton/MegaLoc:<40-hex commit>:get_trained_model "
                "or ./my_models:tiny_vpr (ENTRY is a function of the repository's hubconf.py)"
            )
        folder = Path(repo).expanduser()
        if folder.is_dir():
            if not (folder / "hubconf.py").is_file():
                raise DataError(f"{str(folder)!r} has no hubconf.py (the file torch.hub entry points live in)")
            return cls("local", str(folder.resolve()), None, entry)
        if repo.startswith(_LOCAL_PREFIXES):
            raise DataError(f"{repo!r}: no such folder")
        location, ref = split_github(repo)
        return cls("github", location, ref.lower() if ref and is_commit(ref) else ref, entry)


def require_pinned(source: HubSource, trust_latest: bool) -> None:
    """Refuse a GitHub source that is not at a full commit SHA, unless ``trust_latest``."""
    if source.pinned or trust_latest:
        return
    what = f"ref {source.ref!r} is a branch, tag or short SHA" if source.ref else "no ref names the default branch"
    raise ConfigError(
        f"{source.location}: {what}, which can point to other code tomorrow; pin the code with a full "
        f"40-hex commit SHA ({source.location}:<commit>:{source.entry}), or pass --trust-latest to run "
        "whatever it points to today"
    )


def fetch_github(repo: str, ref: str | None, *, refresh: bool) -> Path:
    """The code of GitHub ``repo`` at ``ref``, as ``torch.hub`` downloads and caches it (its hub
    folder, ``$TORCH_HOME/hub``); ``refresh`` downloads again (an unpinned ref moves). Not used by
    the tests (no network); kept to torch.hub's own functions."""
    import urllib.error

    import torch.hub

    spec = f"{repo}:{ref}" if ref else repo
    try:
        # the function torch.hub.load itself uses to fetch a repository. Its validation (the ref
        # names a branch or tag of the repository, not of a fork) only knows branch and tag tips,
        # so a pinned commit skips it (docs/methods/hub.md says how to check a commit by hand)
        folder = torch.hub._get_cache_or_reload(
            spec, force_reload=refresh, trust_repo=True, verbose=False, skip_validation=is_commit(ref)
        )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"cannot fetch GitHub {spec} with torch.hub ({reason})") from exc
    return Path(folder)


def local_git_commit(folder: Path) -> tuple[str | None, bool | None]:
    """``(HEAD commit, has uncommitted changes under folder)`` when ``folder`` is in a git work
    tree, else ``(None, None)`` (also when git is not installed)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20, check=False
        )
        if head.returncode != 0 or not is_commit(head.stdout.strip()):
            return None, None
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head.stdout.strip().lower(), bool(status.stdout.strip()) if status.returncode == 0 else None


def read_license(folder: Path) -> tuple[str, str | None]:
    """``(licence, file name)`` from the first licence file at the top of ``folder``: the SPDX id
    of a heading vprkit recognises, else the file's first non-empty line; ``("", None)`` if none."""
    for name in LICENSE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:12]]
        lines = [line for line in lines if line]
        head = " ".join(lines).lower()
        for words, spdx in _LICENSE_HEADINGS:
            if all(w in head for w in words):
                return spdx, name
        return (lines[0][:120] if lines else ""), name
    return "", None
