"""Connections, migrations and named queries for the SQLite store.

Every connection runs in WAL mode with synchronous=FULL: a commit is on disk when it returns.
The schema version is SQLite's `user_version`; `sql/NNNN_*.sql` files are applied in order at start.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from importlib import resources
from pathlib import Path

from webhook_processor import errors

_SQL = resources.files("webhook_processor.adapters.sqlite") / "sql"


def named_queries(filename: str) -> dict[str, str]:
    """The `-- name: x` queries of one file in sql/, by name."""
    text = (_SQL / filename).read_text(encoding="utf-8")
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: sql.strip() for name, sql in zip(parts[1::2], parts[2::2], strict=True)}


QUERIES = named_queries("queries.sql")


def migrations() -> list[tuple[int, str]]:
    found = []
    for entry in _SQL.iterdir():
        match = re.match(r"^(\d{4})_\w+\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def connect(
    path: str,
    busy_timeout: float,
    *,
    readonly: bool = False,
    cached_statements: int = 128,
    checkpoints: bool = True,
) -> sqlite3.Connection:
    """Open the store (migrating it unless read-only); StoreUnavailable when that fails.

    `checkpoints=False`: this connection's commits never checkpoint the WAL, as SQLite's do by
    default once it holds 1,000 pages; in `whp serve` the store's checkpointer thread does it,
    and a checkpoint run by a commit on the writer thread would stall ingest behind it."""
    try:
        if readonly:
            if not Path(path).exists():
                raise errors.StoreUnavailable(f"no store at {path} (has `whp serve` run yet?)")
            conn = sqlite3.connect(
                f"file:{path}?mode=ro",
                uri=True,
                isolation_level=None,
                timeout=busy_timeout,
                check_same_thread=False,
            )
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                path,
                isolation_level=None,
                timeout=busy_timeout,
                check_same_thread=False,
                cached_statements=cached_statements,
            )
            _journal_in_wal(conn, busy_timeout)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        if not checkpoints:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        if not readonly:
            migrate(conn)
    except (sqlite3.Error, OSError) as exc:
        raise errors.StoreUnavailable(f"cannot open the store at {path}: {exc}") from None
    return conn


def connect_with_descriptor(
    path: str, busy_timeout: float
) -> tuple[sqlite3.Connection, int | None]:
    """A connection, and the descriptor SQLite opened for it on the database file, when it can
    be told apart from the process's others (None otherwise, or where the OS lists none).

    It is for syncing the file without opening it: closing any descriptor of a file cancels every
    POSIX lock the process holds on it, SQLite's included, so a file opened and closed beside
    SQLite breaks its locking. The descriptor belongs to the connection: use it only while the
    connection is open, never close it. If another thread opened and closed the file meanwhile,
    the wrong one may be taken; syncing it is then useless, never harmful."""
    before = _descriptors_of(path)
    conn = connect(path, busy_timeout)
    opened = _descriptors_of(path) - before
    return conn, (opened.pop() if len(opened) == 1 else None)


def _descriptors_of(path: str) -> set[int]:
    """This process's open descriptors of the file at `path`."""
    listing = next((d for d in ("/proc/self/fd", "/dev/fd") if os.path.isdir(d)), None)
    try:
        target = os.stat(path)
        names = os.listdir(listing) if listing else []
    except OSError:
        return set()
    found = set()
    for name in names:
        try:
            st = os.fstat(int(name))
        except (OSError, ValueError):  # closed meanwhile (the listing's own, for one)
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            found.add(int(name))
    return found


def _journal_in_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """PRAGMA journal_mode=WAL, tried again until the busy timeout: while another connection
    switches the journal mode (several processes opening a new or old store at once), SQLite
    answers "database is locked" at once, without waiting in its busy handler."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                return
            failure = "it stayed in another journal mode"
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            failure = str(exc)
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError(f"cannot switch to WAL: {failure}")
        time.sleep(0.01)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this store lacks, each in its own transaction. The version is read
    again under the write lock, so two processes opening an old store at once migrate it once.

    Foreign keys are off meanwhile, as SQLite's procedure for changing a table's definition asks
    (https://www.sqlite.org/lang_altertable.html#otheralter): dropping a table that is rebuilt
    would otherwise delete the rows that refer to it (ON DELETE CASCADE). Each migration is
    checked with foreign_key_check before it commits instead."""
    known = migrations()
    latest = known[-1][0] if known else 0
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > latest:
        raise errors.StoreUnavailable(
            f"the store is at schema version {current}, newer than this whp knows "
            f"({latest}); upgrade whp"
        )
    if current == latest:
        return
    enforced = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")  # outside a transaction: inside, it is a no-op
    try:
        for version, sql in known:
            if version > current:
                current = _apply(conn, version, sql)
    finally:
        conn.execute(f"PRAGMA foreign_keys = {enforced}")


def _apply(conn: sqlite3.Connection, version: int, sql: str) -> int:
    """Apply one migration unless another process did; the store's version after it."""
    conn.execute("BEGIN IMMEDIATE")
    current: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version <= current:  # another process migrated meanwhile
        conn.execute("ROLLBACK")
        return current
    try:
        for statement in _statements(sql):
            conn.execute(statement)
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise sqlite3.IntegrityError(
                f"migration {version:04d} leaves {len(broken)} rows whose foreign key refers "
                f"to no row (the first: {broken[0]})"
            )
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise
    return version


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit the open transaction)."""
    found, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in pending.splitlines()
    ):
        raise ValueError(f"migration ends with an incomplete statement: {pending.strip()[:80]}")
    return found
