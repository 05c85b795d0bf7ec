"""Just enough of the .deb format to take a kernel and its vfio modules out of a package.

A .deb is an ar archive whose `data.tar.*` member holds the files.  Reading
it here means the host needs neither dpkg nor root.
"""

from __future__ import annotations

import io
import lzma
import tarfile
from typing import Callable, Iterator

AR_MAGIC = b"!<arch>\n"


class DebError(Exception):
    pass


def ar_members(blob: bytes) -> Iterator[tuple[str, bytes]]:
    if not blob.startswith(AR_MAGIC):
        raise DebError("not an ar archive")
    offset = len(AR_MAGIC)
    while offset + 60 <= len(blob):
        header = blob[offset:offset + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise DebError(f"bad ar header at byte {offset}") from None
        offset += 60
        yield name, blob[offset:offset + size]
        offset += size + (size & 1)


def data_files(deb: bytes, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """The regular files of the package's data archive whose path (no leading ./) is wanted."""
    for name, member in ar_members(deb):
        if name.startswith("data.tar"):
            return _tar_files(member, wanted)
    raise DebError("no data.tar member")


def _tar_files(member: bytes, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    found = {}
    with tarfile.open(fileobj=io.BytesIO(member), mode="r:*") as tar:
        for info in tar:
            path = info.name.removeprefix("./")
            if info.isfile() and wanted(path):
                data = _member_bytes(tar, info)
                found[path.removesuffix(".xz")] = lzma.decompress(data) if path.endswith(".xz") else data
    return found


def _member_bytes(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    stream = tar.extractfile(info)
    if stream is None:
        raise DebError(f"{info.name}: not a regular file in the package")
    return stream.read()
