"""``MetadataStore``: the SQLite table that maps index ids to training images.

One row per vector: id (the faiss id), uri, caption, sha256 and extra JSON. Rows are
inserted in bulk, one transaction per batch, and looked up by ids in chunks. The store is
shared by searching threads: one connection, one lock. Rows at or past the manifest's
count are leftovers of an interrupted add; ``delete_from`` removes them.

This module must never read images, touch the faiss index or decide ids: the caller does.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from swerve.errors import ConfigurationError
from swerve.index.training_image import TrainingImage

__all__ = ["MetadataStore"]

SCHEMA_VERSION = 1
_LOOKUP_CHUNK = 900  # under SQLite's default limit of 999 bound variables
_SCHEMA = """
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    uri TEXT NOT NULL,
    caption TEXT NOT NULL,
    sha256 TEXT,
    extra TEXT NOT NULL
);
CREATE INDEX images_sha256 ON images (sha256);
"""


class MetadataStore:
    """Training-image metadata by id, in one SQLite file.

    Args:
        path (`Path`): the SQLite file; it must exist (see ``MetadataStore.create``).
        read_only (`bool`, defaults to False): open with ``mode=ro`` (read-only mounts).

    Raises:
        ConfigurationError: the file is missing or is not a swerve metadata store.
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        if not path.is_file():
            raise ConfigurationError(f"metadata store not found at {path}")
        mode = "ro" if read_only else "rw"
        self._path = path
        self._read_only = read_only
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True,
                                           check_same_thread=False)
        version = self._connection.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            self._connection.close()
            raise ConfigurationError(f"{path} has metadata schema version {version}, expected {SCHEMA_VERSION}")

    @classmethod
    def create(cls, path: Path) -> MetadataStore:
        """Create an empty store at ``path``.

        Raises:
            ConfigurationError: ``path`` already exists.
        """
        if path.exists():
            raise ConfigurationError(f"metadata store {path} already exists")
        connection = sqlite3.connect(path)
        with connection:
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.close()
        return cls(path)

    def insert(self, first_id: int, images: Sequence[TrainingImage]) -> None:
        """Insert ``images`` with ids first_id, first_id+1, ... in one transaction.

        Raises:
            ConfigurationError: the store is read-only, or an id is already taken (the store and
                the index disagree).
        """
        self._check_writable()
        rows = [(first_id + offset, image.uri, image.caption, image.sha256, json.dumps(dict(image.extra),
                                                                                       sort_keys=True))
                for offset, image in enumerate(images)]
        with self._lock:
            try:
                with self._connection:
                    self._connection.executemany(
                        "INSERT INTO images (id, uri, caption, sha256, extra) VALUES (?, ?, ?, ?, ?)", rows)
            except sqlite3.IntegrityError as exc:
                raise ConfigurationError(
                    f"metadata store {self._path} already has ids in {first_id}..{first_id + len(rows) - 1}: {exc}"
                ) from exc

    def lookup(self, ids: Iterable[int]) -> dict[int, TrainingImage]:
        """The images with these ids (negative and unknown ids are absent from the result)."""
        wanted = sorted({int(i) for i in ids if i >= 0})
        found: dict[int, TrainingImage] = {}
        with self._lock:
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start:start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in self._connection.execute(
                        f"SELECT id, uri, caption, sha256, extra FROM images WHERE id IN ({marks})", chunk):
                    found[row[0]] = TrainingImage(uri=row[1], caption=row[2], sha256=row[3], extra=json.loads(row[4]))
        return found

    def ids_with_sha256(self, sha256: str) -> list[int]:
        """Ids of the images whose encoded bytes have this sha256 (exact duplicates)."""
        with self._lock:
            rows = self._connection.execute("SELECT id FROM images WHERE sha256 = ? ORDER BY id", (sha256,))
            return [row[0] for row in rows]

    def count(self) -> int:
        """Number of rows."""
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    def delete_from(self, first_id: int) -> int:
        """Delete rows with id >= ``first_id`` (leftovers of an interrupted add); return how many."""
        self._check_writable()
        with self._lock, self._connection:
            return self._connection.execute("DELETE FROM images WHERE id >= ?", (first_id,)).rowcount

    def _check_writable(self) -> None:
        if self._read_only:
            raise ConfigurationError(f"metadata store {self._path} was opened read-only")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()
