"""Operating-system errors in the words an office clerk reads (the CLI prints these)."""

from __future__ import annotations

import errno
import zipfile

_REASONS = {
    errno.ENOENT: "文件或文件夹不存在",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.ENOSPC: "磁盘空间不足",
    errno.EDQUOT: "磁盘配额已用完",
    errno.EROFS: "磁盘为只读",
    errno.EISDIR: "这是一个文件夹，不是文件",
    errno.ENOTDIR: "路径中有一段不是文件夹",
    errno.EEXIST: "文件已存在",
    errno.EMFILE: "打开的文件过多",
    errno.EIO: "磁盘读写出错",
}


def describe(exc: OSError | zipfile.BadZipFile) -> str:
    """Why a file could not be read or written, in Chinese, with the path when known."""
    if isinstance(exc, zipfile.BadZipFile):
        return "不是有效的 zip 文件，或文件已损坏"
    reason = _REASONS.get(exc.errno or 0, f"系统错误（代码 {exc.errno}）" if exc.errno else
                          "系统错误")
    return f"{reason}（{exc.filename}）" if exc.filename else reason
