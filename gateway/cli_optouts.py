"""`gateway optouts export|import FILE --account AC…`: opt-out lists as CSV, for compliance staff.

State is per account, so both actions name the account.  Import reports each bad row on stderr
as `FILE:LINE: message`, skips it and goes on.  It counts the rows that changed consent
(imported) apart from those that did not (unchanged: already in that state, or older than it),
which record nothing.  It exits 0 when no row was skipped, 1 when some were and 2 when it could
not start (unknown account or service, bad header).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from gateway.settings import Settings

_PROGRESS_STEP = 1 << 20  # characters between progress bar updates


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `optouts export` and `optouts import` to the `gateway` command."""
    actions = commands.add_parser("optouts", help="export and import opt-out lists (CSV)").add_subparsers(
        required=True, metavar="ACTION"
    )
    export = actions.add_parser("export", help="write the account's opt-outs as CSV")
    export.add_argument("file", metavar="FILE", help="where to write; - for stdout")
    export.add_argument("--account", required=True, metavar="AC…", help="the account whose opt-outs to export")
    export.set_defaults(handler=export_optouts)
    load = actions.add_parser("import", help="import opt-outs from CSV (phone_number,scope,channel,state,time,source)")
    load.add_argument("file", metavar="FILE", help="the CSV to read; - for stdin")
    load.add_argument("--account", required=True, metavar="AC…", help="the account the rows belong to")
    load.add_argument("--service", metavar="MG…", help="scope of rows whose scope cell is empty (default: account)")
    load.set_defaults(handler=import_optouts)


def export_optouts(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.store.db import make_engine, migrate
    from gateway.transfer import TransferError, check_account, csv_chunks

    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            check_account(connection, args.account)
        with ExitStack() as stack:
            out: TextIO = (
                sys.stdout
                if args.file == "-"
                else stack.enter_context(open(args.file, "w", encoding="utf-8", newline=""))
            )
            rows = -1  # the header
            for chunk in csv_chunks(engine, args.account):
                out.write(chunk)
                rows += chunk.count("\n")
    except (TransferError, OSError) as exc:
        print(f"gateway optouts export: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"exported {rows} opt-out rows of {args.account}", file=sys.stderr)
    return 0


def import_optouts(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.store.db import make_engine, migrate, utcnow
    from gateway.transfer import TransferError, import_csv

    name = "<stdin>" if args.file == "-" else args.file
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)

    def report(line: int, message: str) -> None:
        bar.write(f"{name}:{line}: {message}", file=sys.stderr)

    try:
        with ExitStack() as stack:
            source: TextIO = (
                sys.stdin
                if args.file == "-"
                else stack.enter_context(open(args.file, encoding="utf-8-sig", newline=""))
            )
            total = None if args.file == "-" else Path(args.file).stat().st_size
            bar = stack.enter_context(
                tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, disable=None, desc="importing")
            )
            result = import_csv(
                engine, args.account, _counted(source, bar), service_sid=args.service, now=utcnow(), report=report
            )
    except (TransferError, OSError) as exc:
        print(f"gateway optouts import: {name}: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"imported {result.imported}, unchanged {result.unchanged}, skipped {result.skipped}")
    return 1 if result.skipped else 0


def _counted(lines: Iterable[str], bar: tqdm[Any]) -> Iterator[str]:
    """The lines, advancing the progress bar by their length every megabyte or so."""
    pending = 0
    for line in lines:
        pending += len(line)
        if pending >= _PROGRESS_STEP:
            bar.update(pending)
            pending = 0
        yield line
    bar.update(pending)
