"""Authoring prior versions: editable drafts, validation, and releases with an author, a parent and rationales.

The path from "I disagree with the baseline" to a citable prior set:

1. :func:`new_draft` writes ``priors/NAME/draft.toml``, a copy of a release to edit. Drafts are never registered and
   never cited; the registry ignores them.
2. :func:`validate_draft` checks a draft as a release would be checked (and says what changed against its parent).
3. :func:`release` assigns the next semantic version of the draft's name (1.0.0 for a new name), records ``author``,
   ``parent = NAME@VERSION sha256:HASH`` and the date, stores every elicited interval together with the parameters
   derived from it (so the file's hash pins the numbers), and writes the file atomically with its registry entry.
   Every parameter whose prior changed against the parent must carry a new rationale; the release is refused
   otherwise, naming the parameters. A release is never overwritten; a mistaken one can be deprecated and stays
   verifiable.

The explorer's "save" and the ``riskmodel priors new | validate | release | deprecate`` commands both use these
functions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

from riskmodel.data.priors import PARAMETERS, PriorSet, load_priors, parse_priors, prior_store
from riskmodel.data.registry import Release, atomic_write, check_name, data_root
from riskmodel.errors import PriorError, RegistryError

__all__ = ["DRAFT_NAME", "DraftCheck", "changed_parameters", "draft_path", "new_draft", "release", "validate_draft"]

#: File name of a draft inside ``priors/NAME/`` (never a semantic version, so never a release).
DRAFT_NAME = "draft.toml"


def changed_parameters(draft: PriorSet, parent: PriorSet) -> list[str]:
    """Parameters whose prior (family or numbers) differs between ``draft`` and ``parent``, in file order."""
    return [
        p for p in PARAMETERS if (draft[p].distribution, draft[p].params) != (parent[p].distribution, parent[p].params)
    ]


def stale_rationales(draft: PriorSet, parent: PriorSet) -> list[str]:
    """Changed parameters that still carry the parent's rationale (a release needs a new one for each)."""
    return [p for p in changed_parameters(draft, parent) if draft[p].rationale.strip() == parent[p].rationale.strip()]


def draft_path(name: str, root: Path | None = None) -> Path:
    """Where the draft of prior set ``name`` lives."""
    check_name(name, field="name")
    return (root or data_root()) / "priors" / name / DRAFT_NAME


def new_draft(name: str, source: str | PriorSet, *, root: Path | None = None, overwrite: bool = False) -> Path:
    """Write an editable draft ``priors/NAME/draft.toml`` from a released prior set; returns its path.

    The draft names its parent (the release it came from) and carries the parent's parameters with their intervals;
    an existing draft is kept unless ``overwrite``.
    """
    parent = load_priors(source, root=root)
    path = draft_path(name, root)
    if path.exists() and not overwrite:
        raise RegistryError("a draft already exists: edit it, release it, or pass --overwrite", file=str(path))
    draft = replace(parent, name=name, version="0.0.0", parent=_parent_ref(parent), author="")
    text = (
        f"# Draft of prior set {name!r}, from {parent.ref}. Edit the priors (with a new rationale for each change),\n"
        f"# then release it: riskmodel priors release {path} --author 'NAME' --changelog 'WHAT AND WHY'\n"
        + draft.to_toml()
    )
    try:
        atomic_write(path, text.encode(), exclusive=not overwrite)
    except FileExistsError:  # another process wrote a draft since the check above
        msg = "a draft already exists: edit it, release it, or pass --overwrite"
        raise RegistryError(msg, file=str(path)) from None
    except OSError as exc:  # a read-only folder or a full disk: one line, and atomic_write left nothing behind
        raise RegistryError(
            f"cannot write the draft ({exc.strerror or type(exc).__name__}); nothing was written", file=str(path)
        ) from None
    return path


def _parent_ref(ps: PriorSet) -> str:
    if not ps.released:
        raise PriorError("the parent of a draft must be a release", field="parent")
    return f"{ps.ref} sha256:{ps.sha256}"


@dataclass(frozen=True)
class DraftCheck:
    """What a draft is and what releasing it would do."""

    draft: PriorSet
    parent: PriorSet | None
    changed: tuple[str, ...]
    stale: tuple[str, ...]
    next_version: str


def _parent_of(draft: PriorSet, root: Path | None) -> PriorSet | None:
    if not draft.parent:
        return None
    ref, _, sha = draft.parent.partition(" sha256:")
    parent = load_priors(ref, root=root)
    if parent.sha256 != sha:
        raise PriorError(
            f"names parent {ref} sha256:{sha[:12]}, but that release is {parent.sha256[:12]}", field="parent"
        )
    return parent


def validate_draft(path: str | Path, *, root: Path | None = None) -> DraftCheck:
    """Check a draft as :func:`release` would (one-line errors), and say what releasing it would change."""
    text = _read(path)
    draft = parse_priors(text, file=str(path))
    parent = _parent_of(draft, root)
    changed = tuple(changed_parameters(draft, parent)) if parent else ()
    stale = tuple(stale_rationales(draft, parent)) if parent else ()
    latest = prior_store(root).latest_version(draft.name)
    nxt = "1.0.0" if latest is None else f"{latest[0]}.{latest[1] + 1}.0"
    return DraftCheck(draft, parent, changed, stale, nxt)


def _read(path: str | Path) -> bytes:
    from riskmodel.data.registry import read_file

    return read_file(Path(path), kind="priors")


def release(
    draft: PriorSet | str | Path,
    *,
    author: str,
    changelog: str,
    name: str | None = None,
    bump: str = "minor",
    root: Path | None = None,
) -> Release:
    """Release a draft as the next version of its name (or of ``name``; 1.0.0 for a new name); returns the release.

    ``draft`` is a draft file or a prior set (the explorer's edited assumptions, whose parent is the release it was
    edited from). Refused with one line (nothing written) when the author or changelog is empty, a changed parameter
    keeps its parent's rationale, or the draft does not validate.
    """
    if isinstance(draft, str | Path):
        draft = parse_priors(_read(draft), file=str(draft))
    for fld, value in (("author", author), ("changelog", changelog)):
        if not isinstance(value, str) or not value.strip() or len(value) > 8000:
            raise PriorError(f"a release needs a {fld} (at most 8000 characters)", field=fld)
    name = check_name(name or draft.name, field="name")
    parent = _parent_of(draft, root) if draft.parent else None
    if parent is None and draft.released:
        parent = draft
    if parent is not None:
        stale = stale_rationales(draft, parent)
        if stale:
            raise PriorError(
                f"{len(stale)} changed parameter(s) keep their parent's rationale: {', '.join(stale)}; say why each "
                "changed",
                field="rationale",
            )
    if (
        parent is not None
        and not changed_parameters(draft, parent)
        and (
            draft.critical,
            draft.elicitation,
            draft.training,
            draft.tail_df,
            draft.consistency,
        )
        == (parent.critical, parent.elicitation, parent.training, parent.tail_df, parent.consistency)
    ):
        raise PriorError(f"nothing changed against {parent.ref}: there is nothing to release", field="parameters")

    def render(version: str) -> bytes:
        new = replace(
            draft,
            name=name,
            version=version,
            date=dt.date.today().isoformat(),
            changelog=changelog.strip(),
            author=author.strip(),
            parent=_parent_ref(parent) if parent is not None else "",
        )
        text = new.to_toml()
        parse_priors(text, file=f"{name}/{version}.toml")  # refuse anything the loader would refuse
        return text.encode()

    return prior_store(root).release_next(name, render, bump=bump)
