"""Atomic file writes: temp file in the same folder, fsync, rename, fsync the folder."""

import os
import tempfile
from typing import Union

from acme_aliyun import killpoint


def atomic_write(path: str, data: Union[str, bytes], mode: int = 0o644) -> None:
    """Write bytes or text to path so that a reader (or a crash) sees old or new, never half."""
    killpoint.reached("file-write")        # test-only, inert unless ACME_ALIYUN_TEST_KILL_AT is set
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)


def fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_dirs(path: str, mode: int) -> str:
    """Create path and its missing parents, each with exactly `mode` whatever the umask
    (os.makedirs gives parents 0777 minus the umask: 0777 under umask 000). Existing folders
    are left as they are. Returns path."""
    path = os.path.abspath(os.fspath(path))
    missing = []
    head = path
    while head and not os.path.isdir(head):
        missing.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            continue
        os.chmod(folder, mode)
    return path


def ensure_private_dir(path: str) -> str:
    """Create a folder readable by its owner only (0700), parents too, tightening an existing one."""
    make_dirs(path, 0o700)
    if (os.stat(path).st_mode & 0o777) != 0o700:
        os.chmod(path, 0o700)
    return path
