"""Project repositories kept in the database (GIT_STORAGE=database), through pygit2.

libgit2 lets a repository use custom object and reference databases: here a
`pygit2.Repository()` with no directory gets an object backend that reads and writes
`GitObject` rows and a reference backend on `GitRef` rows. Everything `projects.git.repository`
does (commits, revwalk, diffs) then works unchanged, and the database is the only copy:
any process on any machine sees the same repository.

A branch moves by compare-and-swap (`UPDATE ... WHERE target = <old>`), run on the
calling thread's database connection, so inside the caller's transaction: the commit's
objects, its ref move and the project's row are saved together or not at all.

Only `projects.git.repository` uses this module.
"""

import zlib
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from threading import Lock

import pygit2
from django.db import IntegrityError, transaction

from projects.models import GitObject, GitRef

HEAD = "HEAD"


class RefMoved(pygit2.GitError):
    """The ref is not at the value the update was based on."""


class _ObjectCache:
    """Objects read from the database, per process: an object never changes once written.

    Only reads fill it, and `exists` never consults it: an object written inside a
    transaction that was then rolled back may sit here, but libgit2 never skips writing
    an object because of it.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[tuple[str, str], tuple[int, bytes]] = OrderedDict()
        self.lock = Lock()

    def get(self, key: tuple[str, str]) -> tuple[int, bytes] | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], value: tuple[int, bytes]) -> None:
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.size += len(value[1])
            while self.size > self.max_bytes and self.items:
                _, (_, data) = self.items.popitem(last=False)
                self.size -= len(data)

    def forget(self, repository: str) -> None:
        with self.lock:
            for key in [k for k in self.items if k[0] == repository]:
                self.size -= len(self.items.pop(key)[1])


_cache = _ObjectCache(max_bytes=32 * 1024 * 1024)


# Commits read at once when a walk first misses the cache: the newest stored ones,
# which a history page reads.
COMMITS_PREFETCHED = 1000


class DatabaseObjects(pygit2.OdbBackend):
    """libgit2's object database for one repository, on `GitObject` rows.

    One instance serves one `projects.git.repository` call. Objects it writes are kept in
    `pending` (served to its own reads) and inserted in one statement by `flush`,
    which the ref backend calls before it moves a branch: the objects and the ref
    move are in the same transaction. `absent` remembers the ids this instance found
    missing, as libgit2 asks more than once before writing one.
    """

    def __init__(self, repository: str, use_cache: bool = True) -> None:
        super().__init__()
        self.repository = repository
        self.use_cache = use_cache
        self.pending: dict[str, tuple[int, bytes]] = {}
        self.absent: set[str] = set()
        self.prefetched = False

    def _load(self, oid: str) -> tuple[int, bytes]:
        if oid in self.pending:
            return self.pending[oid]
        key = (self.repository, oid)
        found = _cache.get(key) if self.use_cache else None
        if found is None:
            row = (
                GitObject.objects.filter(repository=self.repository, oid=oid)
                .values_list("type", "data")
                .first()
            )
            if row is None:
                raise KeyError(oid)
            found = (row[0], zlib.decompress(bytes(row[1])))
            if self.use_cache:
                _cache.put(key, found)
                if found[0] == pygit2.enums.ObjectType.COMMIT and not self.prefetched:
                    self._prefetch_commits()
        return found

    def _prefetch_commits(self) -> None:
        """The newest stored commits into the cache in one query: a walk reads them next."""
        self.prefetched = True
        rows = (
            GitObject.objects.filter(
                repository=self.repository, type=pygit2.enums.ObjectType.COMMIT
            )
            .order_by("-id")
            .values_list("oid", "data")[:COMMITS_PREFETCHED]
        )
        for oid, data in rows:
            _cache.put(
                (self.repository, oid),
                (pygit2.enums.ObjectType.COMMIT, zlib.decompress(bytes(data))),
            )

    def flush(self) -> None:
        """Insert the objects written so far (ids already stored are left as they are)."""
        if not self.pending:
            return
        GitObject.objects.bulk_create(
            [
                GitObject(
                    repository=self.repository,
                    oid=oid,
                    type=int(object_type),
                    data=zlib.compress(data),
                )
                for oid, (object_type, data) in self.pending.items()
            ],
            ignore_conflicts=True,
        )
        if self.use_cache:
            # Safe even if the transaction then rolls back: an object's id is its content,
            # and `exists` never answers from the cache.
            for oid, found in self.pending.items():
                _cache.put((self.repository, oid), found)
        self.pending.clear()

    def _full_oid(self, prefix: str) -> str:
        matches = list(
            GitObject.objects.filter(
                repository=self.repository, oid__startswith=prefix
            ).values_list("oid", flat=True)[:2]
        )
        if len(matches) != 1:
            raise KeyError(prefix)  # none, or ambiguous
        return matches[0]

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        return self._load(str(oid))

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        object_type, data = self._load(str(oid))
        return object_type, len(data)

    def read_prefix_cb(self, oid: pygit2.Oid) -> tuple[int, bytes, pygit2.Oid]:
        full = self._full_oid(str(oid).rstrip("0") or "0")
        object_type, data = self._load(full)
        return object_type, data, pygit2.Oid(hex=full)

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        key = str(oid)
        if key in self.pending:
            return True
        if key in self.absent:
            return False
        found = GitObject.objects.filter(repository=self.repository, oid=key).exists()
        if not found:
            self.absent.add(key)
        return found

    def exists_prefix_cb(self, oid: pygit2.Oid) -> pygit2.Oid:
        return pygit2.Oid(hex=self._full_oid(str(oid).rstrip("0") or "0"))

    def write_cb(self, oid: pygit2.Oid, data: bytes, object_type: int) -> None:
        self.pending[str(oid)] = (int(object_type), bytes(data))

    def refresh_cb(self) -> None:
        pass

    def __iter__(self) -> Iterator[pygit2.Oid]:
        oids = GitObject.objects.filter(repository=self.repository).values_list("oid", flat=True)
        return iter([pygit2.Oid(hex=oid) for oid in oids])


class DatabaseRefs(pygit2.RefdbBackend):
    """libgit2's reference database for one repository, on `GitRef` rows.

    HEAD is always the symbolic ref to the one branch (`projects.git.repository.BRANCH_REF`);
    reflogs are not kept (git's own record is the commits, and the rows record who
    committed what).
    """

    def __init__(
        self, repository: str, branch_ref: str, objects: DatabaseObjects, branch: str | None
    ) -> None:
        super().__init__()
        self.repository = repository
        self.branch_ref = branch_ref
        self.objects = objects
        # The branch as read when the repository was opened: one call of `projects.git.repository`
        # reads it once (a move is a compare-and-swap, so a stale value only fails it).
        self.known = {branch_ref: branch}
        self._iterator: Iterator[pygit2.Reference] = iter([])

    def exists(self, ref: str) -> bool:
        if ref == HEAD:
            return True
        return GitRef.objects.filter(repository=self.repository, name=ref).exists()

    def lookup(self, ref: str) -> pygit2.Reference | None:  # type: ignore[override]  # libgit2 takes None as "no such ref"
        if ref == HEAD:
            return pygit2.Reference(HEAD, self.branch_ref)
        target = self.known[ref] if ref in self.known else read_ref(self.repository, ref)
        return None if target is None else pygit2.Reference(ref, target, None)

    def write(
        self,
        ref: pygit2.Reference,
        force: bool,
        who: pygit2.Signature,
        message: str | None,
        old: pygit2.Oid | str | None,
        old_target: str | None,
    ) -> None:
        if ref.name == HEAD:
            raise pygit2.GitError("HEAD always names the branch in the database store.")
        new = str(ref.target)
        self.objects.flush()
        self.known.pop(ref.name, None)
        if old is not None:
            move_ref(self.repository, ref.name, str(old), new)
        elif force:
            GitRef.objects.update_or_create(
                repository=self.repository, name=ref.name, defaults={"target": new}
            )
        else:
            create_ref(self.repository, ref.name, new)

    def rename(
        self, old_name: str, new_name: str, force: bool, who: pygit2.Signature, message: str | None
    ) -> pygit2.Reference:
        raise pygit2.GitError("Refs are not renamed in the database store.")

    def delete(self, ref_name: str, old_id: pygit2.Oid | str, old_target: str | None) -> None:
        deleted, _ = GitRef.objects.filter(
            repository=self.repository, name=ref_name, target=str(old_id)
        ).delete()
        if not deleted:
            raise RefMoved(f"{ref_name} is not at {old_id}.")

    def compress(self) -> None:
        pass

    def has_log(self, ref_name: str) -> bool:
        return False

    def ensure_log(self, ref_name: str) -> bool:
        return False

    def __iter__(self) -> "DatabaseRefs":
        rows = GitRef.objects.filter(repository=self.repository).values_list("name", "target")
        self._iterator = iter([pygit2.Reference(name, target, None) for name, target in rows])
        return self

    def __next__(self) -> pygit2.Reference:
        return next(self._iterator)


def read_ref(repository: str, name: str) -> str | None:
    return (
        GitRef.objects.filter(repository=repository, name=name)
        .values_list("target", flat=True)
        .first()
    )


def create_ref(repository: str, name: str, target: str) -> None:
    """A new ref; RefMoved if it exists (IntegrityError is kept out of the caller's transaction)."""
    try:
        with transaction.atomic():
            GitRef.objects.create(repository=repository, name=name, target=target)
    except IntegrityError as exc:
        raise RefMoved(f"{name} already exists.") from exc


def move_ref(repository: str, name: str, old: str, new: str) -> None:
    """Compare-and-swap: `name` goes from `old` to `new`, or RefMoved and nothing changes."""
    updated = GitRef.objects.filter(repository=repository, name=name, target=old).update(target=new)
    if not updated:
        raise RefMoved(f"{name} is not at {old[:12]}.")


def open_repository(
    repository: str, branch_ref: str, use_cache: bool = True
) -> pygit2.Repository | None:
    """The repository as libgit2 sees it, with the database as its only store.

    None when the repository has no branch (it does not exist). Without `use_cache`
    every object is read from the database (to verify a copy).
    """
    branch = read_ref(repository, branch_ref)
    if branch is None:
        return None
    objects = DatabaseObjects(repository, use_cache)
    odb = pygit2.Odb()
    odb.add_backend(objects, 1)
    repo = pygit2.Repository()
    repo.set_odb(odb)
    refdb = pygit2.Refdb.new(repo)
    refdb.set_backend(DatabaseRefs(repository, branch_ref, objects, branch))
    repo.set_refdb(refdb)
    return repo


def repository_exists(repository: str) -> bool:
    return GitRef.objects.filter(repository=repository).exists()


def store_repository(repository: str, source: Path, branch_ref: str, create: bool = False) -> int:
    """Copy every object of the repository at `source` and its branch into the database.

    Objects already stored are kept (they are the same bytes, by their id); the branch is
    created (RefMoved if `create` and it exists), or moved to `source`'s tip. Returns
    how many objects were written.
    """
    disk = pygit2.Repository(str(source))
    stored = set(GitObject.objects.filter(repository=repository).values_list("oid", flat=True))
    batch: list[GitObject] = []
    written = 0
    for oid in disk.odb:
        if str(oid) in stored:
            continue
        object_type, data = disk.odb.read(oid)
        batch.append(
            GitObject(
                repository=repository,
                oid=str(oid),
                type=int(object_type),
                data=zlib.compress(data),
            )
        )
        if len(batch) >= 500:
            written += len(GitObject.objects.bulk_create(batch, ignore_conflicts=True))
            batch = []
    written += len(GitObject.objects.bulk_create(batch, ignore_conflicts=True))
    tip = str(disk.references[branch_ref].target)
    if create:
        create_ref(repository, branch_ref, tip)
        return written
    GitRef.objects.update_or_create(
        repository=repository, name=branch_ref, defaults={"target": tip}
    )
    return written


def write_to_directory(repository: str, target: Path, branch_ref: str) -> None:
    """A bare repository at `target` holding every stored object and ref (for export)."""
    disk = pygit2.init_repository(str(target), bare=True, initial_head=branch_ref.split("/")[-1])
    rows = GitObject.objects.filter(repository=repository).values_list("type", "data")
    for object_type, data in rows.iterator(chunk_size=500):
        disk.odb.write(object_type, zlib.decompress(bytes(data)))
    for name, ref_target in GitRef.objects.filter(repository=repository).values_list(
        "name", "target"
    ):
        disk.references.create(name, pygit2.Oid(hex=ref_target), force=True)


def delete_repository(repository: str) -> None:
    GitRef.objects.filter(repository=repository).delete()
    GitObject.objects.filter(repository=repository).delete()
    _cache.forget(repository)
