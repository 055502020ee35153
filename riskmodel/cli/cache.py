"""The ``riskmodel cache`` subcommand: see, locate and empty the fit store (:mod:`riskmodel.results.store`).

- ``riskmodel cache path``: the folder that holds the stored fits.
- ``riskmodel cache list [--json]``: every stored fit, most recently used first: its key (the first 12 hex digits of
  the sha256 of everything that determines its draws; ``--json`` gives all 64), what it is a fit of, its size and
  when it was last used; plus the total and the size cap.
- ``riskmodel cache clear [--older-than DAYS]``: delete every stored fit, or those not used for DAYS days, and say
  what was removed. The next fit of a removed key samples again.

Every action takes ``--cache-dir`` (default ``$RISKMODEL_CACHE_DIR``, else the user cache directory). Only parsing and
printing live here (registered by :mod:`riskmodel.cli.main`); nothing imports PyMC, so these commands are quick.
Bad input raises :class:`~riskmodel.errors.InputError` before anything is deleted (one line, exit 2).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["add_cache_parser", "cmd_cache", "size_text"]

#: Key digits shown in the table (``--json`` gives the whole key).
KEY_DIGITS = 12


def size_text(n: int) -> str:
    """A byte count for people: B, KiB, MiB or GiB with three significant digits."""
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} GiB"


def _age_text(seconds: float) -> str:
    """How long ago, in the largest unit that keeps the number readable."""
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit} ago"
    return f"{seconds:.0f} s ago"


def _when(stamp: float) -> str:
    """A local date and time to the second."""
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _fits(n: int) -> str:
    return f"{n} stored fit" + ("" if n == 1 else "s")


def _cap_text(cap: int) -> str:
    return f"cap {size_text(cap)}, least recently used evicted beyond it; RISKMODEL_CACHE_MAX_MB sets it"


def cmd_cache(args: argparse.Namespace) -> int:
    """``cache path | list | clear``: print the store's folder, its entries, or delete entries and say which."""
    from riskmodel.results import store

    root = store.cache_dir(args.cache_dir)
    if args.action == "path":
        print(root)
        return 0
    if args.action == "list":
        cap = store.max_bytes()
        found = store.entries(args.cache_dir)
        total = sum(e.bytes for e in found)
        if args.json:
            doc: dict[str, Any] = {
                "path": str(root),
                "total_bytes": total,
                "max_bytes": cap,
                "entries": [
                    {
                        "key": e.key,
                        "label": e.label,
                        "bytes": e.bytes,
                        "last_used": datetime.fromtimestamp(e.last_used, UTC).isoformat(timespec="seconds"),
                        "file": str(e.path),
                    }
                    for e in found
                ],
            }
            print(json.dumps(doc, indent=2))
            return 0
        print(f"fit store {root}: {_fits(len(found))}, {size_text(total)} ({_cap_text(cap)})")
        if not found:
            return 0
        now = time.time()
        rows = [("key", "size", "last used", "fit of")]
        rows += [
            (
                e.key[:KEY_DIGITS],
                size_text(e.bytes),
                f"{_when(e.last_used)} ({_age_text(now - e.last_used)})",
                e.label or "(no label)",
            )
            for e in found
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        return 0
    gone = store.clear(args.cache_dir, older_than_days=args.older_than)
    kept = len(store.entries(args.cache_dir))
    which = "" if args.older_than is None else f" not used for {args.older_than:g} days"
    if not gone:
        print(f"no stored fits{which} in {root}: nothing removed ({kept} kept)")
        return 0
    size = size_text(sum(e.bytes for e in gone))
    print(f"removed {_fits(len(gone))}{which} ({size}) from {root}; {kept} kept")
    for e in gone:
        print(f"  {e.key[:KEY_DIGITS]}  {size_text(e.bytes)}  {e.label or '(no label)'}")
    return 0


def _days(text: str) -> float:
    """``--older-than``: a number of days >= 0 (the check itself is :func:`riskmodel.results.store.clear`'s)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of days, got {text!r}") from None


def add_cache_parser(sub: Any) -> None:
    """Register ``riskmodel cache`` on the main command's subparsers ``sub``."""
    p = sub.add_parser("cache", help="list, locate or clear the fit store (stored fits are read instead of refitting)")
    actions = p.add_subparsers(dest="action", required=True, parser_class=type(p))

    def with_dir(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.add_argument(
            "--cache-dir", default=None, help="fit store folder (default: $RISKMODEL_CACHE_DIR or the user cache)"
        )
        return q

    with_dir(actions.add_parser("path", help="print the folder that holds the stored fits"))
    q = with_dir(actions.add_parser("list", help="every stored fit: key, what it is a fit of, size, last used"))
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q = with_dir(actions.add_parser("clear", help="delete stored fits (all, or those not used for DAYS days)"))
    q.add_argument(
        "--older-than",
        type=_days,
        default=None,
        metavar="DAYS",
        help="delete only fits not used for this many days (default: delete all)",
    )
    p.set_defaults(func=cmd_cache)
