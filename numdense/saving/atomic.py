"""Atomic file writes: build the new file beside the target, then swap it in."""

import contextlib
import os
import tempfile


def check_overwrite(filepath, overwrite):
    """Raises if ``filepath`` exists and ``overwrite`` is false (numdense never prompts).

    Args:
        filepath: the target path.
        overwrite: whether an existing file may be replaced.
    """
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(
            f"File {filepath} already exists; pass overwrite=True to replace it."
        )


@contextlib.contextmanager
def atomic_path(filepath, overwrite=True):
    """Yields a temporary path in the target's directory; on success it replaces ``filepath``.

    The temporary file is flushed to disk before ``os.replace``, so a crash at any point leaves
    either the old file or the complete new one. On an exception the temporary file is removed
    and the old file is untouched.

    Args:
        filepath: the final path.
        overwrite: whether an existing file may be replaced.
    """
    filepath = os.fspath(filepath)
    check_overwrite(filepath, overwrite)
    directory = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(filepath) + ".", suffix=".tmp",
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory):
    # Makes the rename itself durable; not possible on every platform, hence best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
