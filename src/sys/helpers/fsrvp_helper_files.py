"""Mode `files` of the fsrvp helper, for the copy backend (src/storage/file-ops.ts is the caller):
extended attributes copied from one tree to another, and the inode immutable flag on a whole tree
(what `getfattr -R -d -m - | setfattr --restore` and `chattr -R +i` / `lsattr -d` do, without a
process each)."""
import errno
import os
import stat
import struct
import sys

from fsrvp_helper_base import OpError, absolute_path, os_error


def _iocf(nr, size, write, read):
    return (write and 1 << 30 or 0) | (read and 2 << 30 or 0) | size << 16 | ord('f') << 8 | nr


# linux/fs.h: FS_IOC_GETFLAGS _IOR('f', 1, long), FS_IOC_SETFLAGS _IOW('f', 2, long); the kernel
# reads and writes an int through them, whatever the declared size.
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x00000010
FS_FLAGS = struct.Struct('=I4x')
assert FS_IOC_GETFLAGS == _iocf(1, 8, False, True) and FS_IOC_SETFLAGS == _iocf(2, 8, True, False)
# The flags cannot be read or set on this filesystem (chattr says "Operation not supported").
FLAGS_UNSUPPORTED = (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)
MAX_REPORTED = 5


def _walk(root):
    """(path, lstat) of `root` and everything below it; symbolic links are not followed."""
    stack = [root]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue  # removed meanwhile
        yield path, st
        if stat.S_ISDIR(st.st_mode):
            with os.scandir(path) as entries:
                stack.extend(e.path for e in entries)


def files_xattr_copy(args):
    """Copies every extended attribute of every entry below `src` to the same path below `dst`."""
    src, dst = absolute_path(args.get('src')), absolute_path(args.get('dst'))
    copied, failed, errors = 0, 0, []
    for path, _st in _walk(src):
        target = os.path.join(dst, os.path.relpath(path, src))
        try:
            names = os.listxattr(path, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENOTSUP, errno.ENOENT):
                continue
            failed += 1
            if len(errors) < MAX_REPORTED:
                errors.append('list %s: %s' % (path, e.strerror))
            continue
        if not names or not os.path.lexists(target):
            continue  # nothing to copy, or an entry the copy skipped
        for name in names:
            try:
                os.setxattr(target, name, os.getxattr(path, name, follow_symlinks=False), follow_symlinks=False)
                copied += 1
            except OSError as e:
                failed += 1
                if len(errors) < MAX_REPORTED:
                    errors.append('%s on %s: %s' % (name, target, e.strerror))
    return {'copied': copied, 'failed': failed, 'errors': errors}


def _flags(fd, path):
    import fcntl
    buf = bytearray(FS_FLAGS.size)
    fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
    return FS_FLAGS.unpack(buf)[0]


def files_set_immutable(args):
    """Sets (on) or clears the immutable flag of every directory and regular file of a tree."""
    import fcntl
    root, on = absolute_path(args.get('path')), bool(args.get('on'))
    changed, failed, errors, root_flag = 0, 0, [], None
    for path, st in _walk(root):
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            failed += 1
            if len(errors) < MAX_REPORTED:
                errors.append('open %s: %s' % (path, e.strerror))
            continue
        try:
            flags = _flags(fd, path)
            new = flags | FS_IMMUTABLE_FL if on else flags & ~FS_IMMUTABLE_FL
            if new != flags:
                fcntl.ioctl(fd, FS_IOC_SETFLAGS, bytearray(FS_FLAGS.pack(new)), True)
                changed += 1
            if path == root:
                root_flag = bool(new & FS_IMMUTABLE_FL)
        except OSError as e:
            if path == root and e.errno in FLAGS_UNSUPPORTED:
                raise OpError('EOPNOTSUPP', 'inode flags are not supported on %s: %s' % (root, e.strerror), e.errno)
            failed += 1
            if len(errors) < MAX_REPORTED:
                errors.append('%s: %s' % (path, e.strerror))
        finally:
            os.close(fd)
    return {'changed': changed, 'failed': failed, 'errors': errors, 'immutable': root_flag}


def files_get_immutable(args):
    path = absolute_path(args.get('path'))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise os_error(e, 'open %s' % path)
    try:
        return {'immutable': bool(_flags(fd, path) & FS_IMMUTABLE_FL)}
    except OSError as e:
        if e.errno in FLAGS_UNSUPPORTED:
            raise OpError('EOPNOTSUPP', 'inode flags are not supported on %s: %s' % (path, e.strerror), e.errno)
        raise os_error(e, 'get inode flags of %s' % path)
    finally:
        os.close(fd)


def files_mode(_argv):
    if not sys.platform.startswith('linux'):
        raise OpError('ENOSYS', 'inode flags need Linux')
    import fcntl  # noqa: F401  (fails early where there is no fcntl)
    ops = {'xattr_copy': files_xattr_copy, 'set_immutable': files_set_immutable, 'get_immutable': files_get_immutable}
    # Different trees may be worked on at once (copies of several volumes in one Commit).
    return ops, {}, 4
