"""Static files in development, compressed as production serves them.

Production serves `collectstatic`'s output, where `CompressedManifestStaticFilesStorage`
wrote a gzip (and, with `brotli` installed, a Brotli) copy beside each file, and
WhiteNoise sends the one the browser accepts. With `DEBUG` on, WhiteNoise serves the
source files themselves (found afresh on each request, so an edit shows at once), which
have no such copies: the editor bundle went out whole on every review page. This
middleware makes the copies on the first request for a file, with WhiteNoise's own
`Compressor`, in a cache directory keyed by the file's path, size and modification time
(an edited file gets new ones), and hands them to WhiteNoise as the file's encodings.
The `ETag` and `Last-Modified` stay the source file's, so a reload revalidates (304).
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any
from wsgiref.headers import Headers

from django.conf import settings
from whitenoise.base import MissingFileError
from whitenoise.compress import Compressor
from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.responders import StaticFile

# Below this size compressing saves less than the headers it costs.
MIN_SIZE = 1024
# As `Compressor`: a copy not at least this much smaller is not worth sending.
WORTH_IT = 0.95


def _write(target: Path, data: bytes) -> None:
    # Written aside then renamed: a concurrent request never reads half a file.
    fd, temporary = tempfile.mkstemp(dir=target.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, target)


def compressed_copies(path: str, cache_dir: Path, compressor: Compressor) -> dict[str, str]:
    """{"br": …, "gzip": …}: the file's compressed copies, made when missing; an
    encoding that would not shrink the file is left out (and remembered so)."""
    stat = os.stat(path)
    if stat.st_size < MIN_SIZE or not compressor.should_compress(path):
        return {}
    key = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    folder = cache_dir / key
    folder.mkdir(parents=True, exist_ok=True)
    encodings = [("gzip", ".gz", compressor.compress_gzip)]
    if compressor.use_brotli:
        encodings.insert(0, ("br", ".br", compressor.compress_brotli))
    found: dict[str, str] = {}
    data: bytes | None = None
    for encoding, suffix, compress in encodings:
        target = folder / (Path(path).name + suffix)
        useless = target.with_name(target.name + ".useless")
        if useless.exists():
            continue
        if not target.exists():
            data = Path(path).read_bytes() if data is None else data
            packed = compress(data)
            if len(packed) > WORTH_IT * len(data):
                useless.touch()
                continue
            _write(target, packed)
        found[encoding] = str(target)
    return found


class DevStaticMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise with compressed copies of the source files (development only)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_dir = Path(settings.DEV_STATIC_CACHE_DIR)
        self.compressor = Compressor(quiet=True)

    def get_static_file(
        self, path: str, url: str, stat_cache: dict[str, Any] | None = None
    ) -> StaticFile:
        # A file scanned at start-up (`collectstatic`'s output) or one with its own
        # copies beside it is served as production serves it.
        if stat_cache is not None or os.path.exists(path + ".gz"):
            return super().get_static_file(path, url, stat_cache)
        if not os.path.exists(path):
            raise MissingFileError(path)
        encodings = compressed_copies(path, self.cache_dir, self.compressor)
        if not encodings:
            return super().get_static_file(path, url, stat_cache)
        # WhiteNoise's headers for the file (`WhiteNoise.get_static_file`), with the
        # copies in the cache as its encodings.
        headers = Headers([])
        self.add_mime_headers(headers, path, url)
        self.add_cache_headers(headers, path, url)
        if self.allow_all_origins:
            headers["Access-Control-Allow-Origin"] = "*"
        if self.add_headers_function is not None:
            self.add_headers_function(headers, path, url)
        return StaticFile(path, headers.items(), encodings=encodings)
