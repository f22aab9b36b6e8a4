"""Mode `btrfs` of the fsrvp helper: snapshot create/delete, the read-only flag and nested
subvolumes, by ioctl (src/storage/btrfs-ioctl.ts is the caller)."""
import errno
import os
import stat
import struct
import sys

from fsrvp_helper_base import OpError, absolute_path, os_error


# From linux/btrfs.h (UAPI): ioctl magic 0x94. _IOW(t, nr, size) = 1 << 30 | size << 16 | t << 8 | nr,
# _IOR(...) = 2 << 30 | ...; both argument structures are 4096 bytes.
#   BTRFS_IOC_SNAP_DESTROY    = _IOW(0x94, 15, struct btrfs_ioctl_vol_args)    = 0x5000940f
#   BTRFS_IOC_SNAP_CREATE_V2  = _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2) = 0x50009417
#   BTRFS_IOC_SUBVOL_GETFLAGS = _IOR(0x94, 25, __u64)                          = 0x80089419
#   BTRFS_IOC_SUBVOL_SETFLAGS = _IOW(0x94, 26, __u64)                          = 0x4008941a
# struct btrfs_ioctl_vol_args    { __s64 fd; char name[4088]; }
# struct btrfs_ioctl_vol_args_v2 { __s64 fd; __u64 transid; __u64 flags; 32 bytes (size and
#                                  qgroup_inherit pointer, or unused[4]); char name[4040]; }
IOC_SNAP_DESTROY = 0x5000940f
IOC_SNAP_CREATE_V2 = 0x50009417
IOC_SUBVOL_GETFLAGS = 0x80089419
IOC_SUBVOL_SETFLAGS = 0x4008941a
SUBVOL_RDONLY = 1 << 1
VOL_ARGS = struct.Struct('=q4088s')
VOL_ARGS_V2 = struct.Struct('=qQQ32s4040s')
SUBVOL_NAME_MAX = 4039
FLAGS = struct.Struct('=Q')
SUBVOLUME_INO = 256


def _ioc(nr, size, write, read):
    return (write and 1 << 30 or 0) | (read and 2 << 30 or 0) | size << 16 | 0x94 << 8 | nr


# The numbers above, computed again from the layouts: a wrong constant must never reach the kernel.
assert VOL_ARGS.size == 4096 and VOL_ARGS_V2.size == 4096 and FLAGS.size == 8
assert IOC_SNAP_DESTROY == _ioc(15, VOL_ARGS.size, True, False)
assert IOC_SNAP_CREATE_V2 == _ioc(23, VOL_ARGS_V2.size, True, False)
assert IOC_SUBVOL_GETFLAGS == _ioc(25, FLAGS.size, False, True)
assert IOC_SUBVOL_SETFLAGS == _ioc(26, FLAGS.size, True, False)

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _entry_name(path):
    """The last component of an absolute path, as bytes, checked for a subvolume name."""
    parent, name = os.path.split(absolute_path(path).rstrip('/') or '/')
    raw = os.fsencode(name)
    if not raw or raw in (b'.', b'..') or b'\0' in raw:
        raise OpError('EINVAL', 'not a subvolume name: %r' % (name,), errno.EINVAL)
    if len(raw) > SUBVOL_NAME_MAX:
        raise OpError('ENAMETOOLONG', 'name longer than %d bytes: %r' % (SUBVOL_NAME_MAX, name), errno.ENAMETOOLONG)
    return parent, raw


def _open_dir(path):
    try:
        return os.open(path, DIR_FLAGS)
    except OSError as e:
        raise os_error(e, 'open %s' % path)


# libc's ioctl(2) through ctypes, resolved on first use: (ctypes, function), or False without
# ctypes. fcntl.ioctl keeps the interpreter lock through the system call when it is given a
# buffer, so the worker threads' snapshot ioctls ran one after another and each paid a btrfs
# transaction commit of its own; through ctypes the lock is released during the call and
# snapshots issued at once share commits (8 snapshots: 14 ms → about 5 ms on a loop device).
_LIBC_IOCTL = None


def _libc_ioctl():
    global _LIBC_IOCTL
    if _LIBC_IOCTL is None:
        try:
            import ctypes
            fn = ctypes.CDLL(None, use_errno=True).ioctl
            fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
            fn.restype = ctypes.c_int
            _LIBC_IOCTL = (ctypes, fn)
        except (ImportError, OSError, AttributeError):
            _LIBC_IOCTL = False
    return _LIBC_IOCTL or None


def _ioctl(fd, request, buf, what):
    """ioctl(fd, request, buf) on a bytearray the kernel may read and fill, other threads running meanwhile."""
    lib = _libc_ioctl()
    if lib is None:
        import fcntl
        try:
            fcntl.ioctl(fd, request, buf, True)
        except OSError as e:
            raise os_error(e, what)
        return
    ctypes, fn = lib
    view = (ctypes.c_char * len(buf)).from_buffer(buf)
    try:
        if fn(fd, request, ctypes.addressof(view)) < 0:
            err = ctypes.get_errno()
            raise os_error(OSError(err, os.strerror(err)), what)
    finally:
        del view


def _check_subvolume(path):
    try:
        st = os.lstat(path)
    except OSError as e:
        raise os_error(e, 'lstat %s' % path)
    if not stat.S_ISDIR(st.st_mode) or st.st_ino != SUBVOLUME_INO:
        raise OpError('ENOTSUBVOL', '%s is not a btrfs subvolume' % path)


def btrfs_snapshot(args):
    source, dest, readonly = absolute_path(args.get('source')), args.get('dest'), bool(args.get('readonly'))
    parent, name = _entry_name(dest)
    src = _open_dir(source)
    try:
        dst = _open_dir(parent)
        try:
            buf = bytearray(VOL_ARGS_V2.pack(src, 0, SUBVOL_RDONLY if readonly else 0, b'', name))
            _ioctl(dst, IOC_SNAP_CREATE_V2, buf, 'snapshot %s -> %s' % (source, dest))
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return {}


def btrfs_destroy(args):
    path = args.get('path')
    parent, name = _entry_name(path)
    _check_subvolume(path)
    fd = _open_dir(parent)
    try:
        buf = bytearray(VOL_ARGS.pack(0, name))
        _ioctl(fd, IOC_SNAP_DESTROY, buf, 'delete subvolume %s' % path)
    finally:
        os.close(fd)
    return {}


def _get_flags(fd, path):
    buf = bytearray(FLAGS.size)
    _ioctl(fd, IOC_SUBVOL_GETFLAGS, buf, 'get subvolume flags of %s' % path)
    return FLAGS.unpack(buf)[0]


def btrfs_get_flags(args):
    path = args.get('path')
    _check_subvolume(path)
    fd = _open_dir(path)
    try:
        return {'readonly': bool(_get_flags(fd, path) & SUBVOL_RDONLY)}
    finally:
        os.close(fd)


def btrfs_set_readonly(args):
    path = args.get('path')
    want = bool(args.get('readonly', True))
    _check_subvolume(path)
    fd = _open_dir(path)
    try:
        flags = _get_flags(fd, path)
        new = flags | SUBVOL_RDONLY if want else flags & ~SUBVOL_RDONLY
        if new == flags:
            return {'changed': False}
        buf = bytearray(FLAGS.pack(new))
        _ioctl(fd, IOC_SUBVOL_SETFLAGS, buf, 'set subvolume flags of %s' % path)
        return {'changed': True}
    finally:
        os.close(fd)


# Nested subvolumes without a `btrfs subvolume list` process (the same kernel facts it reads):
#   BTRFS_IOC_TREE_SEARCH = _IOWR(0x94, 17, struct btrfs_ioctl_search_args) = 0xd0009411
#     struct btrfs_ioctl_search_key { __u64 tree_id, min_objectid, max_objectid, min_offset,
#       max_offset, min_transid, max_transid; __u32 min_type, max_type, nr_items, unused;
#       __u64 unused1..4; } (104 bytes), then char buf[4096 - 104] of items, each a
#     struct btrfs_ioctl_search_header { __u64 transid, objectid, offset; __u32 type, len; }
#     followed by `len` bytes of item.
#   BTRFS_IOC_INO_LOOKUP = _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args) = 0xd0009412
#     { __u64 treeid; __u64 objectid; char name[4080]; }: treeid 0 and objectid 256 give the id
#     of the subvolume holding the fd; otherwise name is the path of inode objectid inside
#     subvolume treeid, from its root, with a trailing '/' ('' for the root itself).
#   In the tree of tree roots (tree 1), a BTRFS_ROOT_REF_KEY (156) item keyed (parent id, 156,
#   child id) is a btrfs_root_ref { __le64 dirid; __le64 sequence; __le16 name_len; } and the
#   child's name: the child subvolume sits in directory `dirid` of the parent.
IOC_TREE_SEARCH = 0xd0009411
IOC_INO_LOOKUP = 0xd0009412
SEARCH_KEY = struct.Struct('=7Q4I4Q')
SEARCH_HEADER = struct.Struct('=3Q2I')
INO_LOOKUP = struct.Struct('=QQ4080s')
ROOT_REF = struct.Struct('<QQH')
ROOT_TREE_OBJECTID = 1
ROOT_REF_KEY = 156
U64_MAX = (1 << 64) - 1
assert SEARCH_KEY.size == 104 and SEARCH_HEADER.size == 32 and INO_LOOKUP.size == 4096 and ROOT_REF.size == 18
assert IOC_TREE_SEARCH == _ioc(17, 4096, True, True)
assert IOC_INO_LOOKUP == _ioc(18, INO_LOOKUP.size, True, True)


def _ino_lookup(fd, treeid, objectid, what):
    buf = bytearray(INO_LOOKUP.pack(treeid, objectid, b''))
    _ioctl(fd, IOC_INO_LOOKUP, buf, what)
    tree, _obj, name = INO_LOOKUP.unpack(buf)
    return tree, name.split(b'\0', 1)[0]


def _child_refs(fd, parent):
    """(dirid, name) of each subvolume whose parent is subvolume `parent`."""
    refs = []
    min_offset = 0
    for _round in range(1 << 16):  # bounded: each round moves min_offset past what it returned
        key = SEARCH_KEY.pack(ROOT_TREE_OBJECTID, parent, parent, min_offset, U64_MAX, 0, U64_MAX,
                              ROOT_REF_KEY, ROOT_REF_KEY, 4096, 0, 0, 0, 0, 0)
        buf = bytearray(key + bytes(4096 - SEARCH_KEY.size))
        _ioctl(fd, IOC_TREE_SEARCH, buf, 'tree search for the subvolumes below %d' % parent)
        count = SEARCH_KEY.unpack_from(buf, 0)[9]
        if count == 0:
            return refs
        pos = SEARCH_KEY.size
        last = None
        for _ in range(count):
            if pos + SEARCH_HEADER.size > len(buf):
                raise OpError('EPROTO', 'tree search answer overruns its buffer')
            _transid, objectid, offset, typ, length = SEARCH_HEADER.unpack_from(buf, pos)
            pos += SEARCH_HEADER.size
            item = bytes(buf[pos:pos + length])
            pos += length
            if len(item) != length:
                raise OpError('EPROTO', 'tree search item overruns its buffer')
            last = offset
            if objectid != parent or typ != ROOT_REF_KEY or length < ROOT_REF.size:
                continue
            dirid, _seq, name_len = ROOT_REF.unpack_from(item, 0)
            name = item[ROOT_REF.size:ROOT_REF.size + name_len]
            if len(name) == name_len and name:
                refs.append((dirid, name))
        if last is None or last >= U64_MAX:
            return refs
        min_offset = last + 1
    raise OpError('EPROTO', 'tree search did not end')


def btrfs_nested(args):
    """The subvolumes strictly below directory `path`, as absolute paths, sorted (direct
    children of the subvolume holding `path` that lie inside it; deeper ones are inside those)."""
    path = absolute_path(args.get('path'))
    fd = _open_dir(path)
    try:
        tree, _ = _ino_lookup(fd, 0, SUBVOLUME_INO, 'subvolume of %s' % path)
        ino = os.fstat(fd).st_ino
        here = b'' if ino == SUBVOLUME_INO else _ino_lookup(fd, tree, ino, 'place of %s in its subvolume' % path)[1]
        found = []
        for dirid, name in _child_refs(fd, tree):
            try:
                _, where = _ino_lookup(fd, tree, dirid, 'directory %d of subvolume %d' % (dirid, tree))
            except OpError as e:
                if e.code == 'ENOENT':
                    continue
                raise
            rel = where + name
            if here and not rel.startswith(here):
                continue
            found.append(os.path.join(path, os.fsdecode(rel[len(here):])))
        return {'subvolumes': sorted(found)}
    finally:
        os.close(fd)


def btrfs_mode(_argv):
    if not sys.platform.startswith('linux'):
        raise OpError('ENOSYS', 'btrfs ioctls need Linux')
    import fcntl  # noqa: F401  (fails early where there is no fcntl)
    ops = {
        'snapshot': btrfs_snapshot,
        'destroy': btrfs_destroy,
        'get_flags': btrfs_get_flags,
        'set_readonly': btrfs_set_readonly,
        'nested': btrfs_nested,
    }
    # _ioctl releases the interpreter lock: independent snapshots run at once (all the volumes of
    # one Commit; snapshots made together share btrfs transaction commits).
    return ops, {}, 16
