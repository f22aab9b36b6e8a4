#!/usr/bin/python3
"""Long-lived helper of the fsrvp agent (see src/sys/helper-process.ts for the protocol).

Modes (first argument):
  btrfs              btrfs snapshot create/delete and the read-only flag, by ioctl
  smbconf [SMB.CONF] Samba registry shares (samba.samba3.smbconf, registry backend) and the
                     share security descriptors stored in share_info.tdb
  files              for the copy backend: extended attributes copied between trees, and the
                     inode immutable flag of a tree, by ioctl
  passdb [SMB.CONF]  NT hash and SIDs of a local Samba account (samba.samba3.passdb), for NTLM
  ping               only the common operations (for tests)

One JSON object per line on stdin: {"id": n, "op": "...", "args": {...}}; one reply per line:
{"id": n, "ok": true, "result": ...} or {"id": n, "ok": false, "error": {"code", "message", "errno"?}}.
The first line written says whether the mode can work here ({"ready": true, "info": {...}} or
{"ready": false, "error": "..."}). End of stdin: finish the requests in progress, then exit.

The protocol has its own copy of stdout; file descriptor 1 is pointed at stderr so that nothing a
C library prints can corrupt it.
"""
import errno
import json
import os
import queue
import stat
import struct
import sys
import threading

PROTOCOL = 1


class OpError(Exception):
    """A failure reported to the caller with a code (an errno name or a Samba error name)."""

    def __init__(self, code, message, err=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.errno = err


def os_error(e, what):
    code = errno.errorcode.get(e.errno, 'EIO') if e.errno is not None else 'EIO'
    return OpError(code, '%s: %s' % (what, e.strerror or str(e)), e.errno)


class Channel:
    """Writes replies, one JSON line each, from any thread."""

    def __init__(self):
        fd = os.dup(1)
        os.dup2(2, 1)
        self.out = os.fdopen(fd, 'w', encoding='utf-8')
        self.lock = threading.Lock()

    def send(self, obj):
        line = json.dumps(obj, separators=(',', ':'), ensure_ascii=True) + '\n'
        with self.lock:
            self.out.write(line)
            self.out.flush()


# ---------------------------------------------------------------- btrfs

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
    if not isinstance(path, str) or not path.startswith('/'):
        raise OpError('EINVAL', 'not an absolute path: %r' % (path,), errno.EINVAL)
    parent, name = os.path.split(path.rstrip('/') or '/')
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
    source, dest, readonly = args.get('source'), args.get('dest'), bool(args.get('readonly'))
    if not isinstance(source, str) or not source.startswith('/'):
        raise OpError('EINVAL', 'not an absolute path: %r' % (source,), errno.EINVAL)
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
    path = args.get('path')
    if not isinstance(path, str) or not path.startswith('/'):
        raise OpError('EINVAL', 'not an absolute path: %r' % (path,), errno.EINVAL)
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
    # ioctls release the interpreter lock: independent snapshots may run at once (all the volumes
    # of one Commit; snapshots made together can share one btrfs transaction commit).
    return ops, {}, 16


# ---------------------------------------------------------------- smbconf


class SmbConf:
    def __init__(self, config_file):
        import samba.samba3.param as s3param
        import samba.samba3.smbconf as s3smbconf
        import samba.smbconf
        import tdb
        from samba.dcerpc import security
        from samba.ndr import ndr_unpack
        self.tdb = tdb
        self.security = security
        self.ndr_unpack = ndr_unpack
        self.SMBConfError = samba.smbconf.SMBConfError
        lp = s3param.get_context()
        if config_file:
            lp.load(config_file)
        else:
            lp.load_default()
        self.config_file = lp.configfile
        self.share_info = lp.state_path('share_info.tdb')
        self.messaging_dirs = ('private dir', 'lock directory', 'state directory', 'cache directory', 'pid directory')
        self.dirs = {name: lp.get(name) for name in self.messaging_dirs}
        self.pid_file = os.path.join(self.dirs['pid directory'], 'smbd.pid')
        self.conf = s3smbconf.init_reg(None)
        self.messaging = None

    def info(self):
        return {'configfile': self.config_file, 'shareInfo': self.share_info, 'pidFile': self.pid_file}

    def ops(self):
        return {
            'share_get': self.guard(self.share_get),
            'shares_get': self.guard(self.shares_get),
            'share_list': self.guard(self.share_list),
            'share_create': self.guard(self.share_create),
            'shares_create': self.guard(self.shares_create),
            'share_update': self.guard(self.share_update),
            'share_delete': self.guard(self.share_delete),
            'sd_get': self.guard(self.sd_get),
            'sd_delete': self.guard(self.sd_delete),
            'close_share': self.guard(self.close_share),
        }

    def guard(self, fn):
        def run(args):
            try:
                return fn(args)
            except self.SMBConfError as e:
                raise self.sbc_error(e)
        return run

    def sbc_error(self, e):
        code = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], str) else 'SBC_ERR_UNKNOWN_FAILURE'
        return OpError(code, code)

    def _get(self, name):
        try:
            got = self.conf.get_share(name)
        except self.SMBConfError as e:
            if self.sbc_error(e).code == 'SBC_ERR_NO_SUCH_SERVICE':
                return None
            raise
        return {'name': got[0], 'params': [[k, v] for k, v in got[1]]}

    @staticmethod
    def _name(args, key='name'):
        name = args.get(key)
        if not isinstance(name, str) or not name or '\0' in name:
            raise OpError('EINVAL', 'bad share name %r' % (name,), errno.EINVAL)
        return name

    def share_get(self, args):
        return self._get(self._name(args))

    def shares_get(self, args):
        names = args.get('names')
        if not isinstance(names, list):
            raise OpError('EINVAL', 'names must be a list', errno.EINVAL)
        return [self._get(self._name({'name': n})) for n in names]

    def share_list(self, _args):
        return [n for n in self.conf.share_names() if n.lower() != 'global']

    @staticmethod
    def _params(value, what):
        if not isinstance(value, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in value):
            raise OpError('EINVAL', '%s must be a list of [name, value] pairs' % what, errno.EINVAL)
        return [(k, v) for k, v in value]

    def _transaction(self, fn):
        self.conf.transaction_start()
        try:
            result = fn()
        except BaseException:
            self.conf.transaction_cancel()
            raise
        self.conf.transaction_commit()
        return result

    def share_create(self, args):
        """Creates the share with exactly these parameters, replacing one of that name, in one transaction."""
        name = self._name(args)
        params = self._params(args.get('params'), 'params')
        replace = bool(args.get('replace', True))

        def work():
            existed = self._get(name) is not None
            if existed:
                if not replace:
                    raise OpError('SBC_ERR_FILE_EXISTS', 'share %s exists' % name)
                self.conf.delete_share(name)
            self.conf.create_set_share(name, params)
            return {'replaced': existed}
        return self._transaction(work)

    def shares_create(self, args):
        """Creates several shares (each replacing one of its name) in one transaction: all or none."""
        shares = args.get('shares')
        if not isinstance(shares, list) or not all(isinstance(x, dict) for x in shares):
            raise OpError('EINVAL', 'shares must be a list of {name, params}', errno.EINVAL)
        todo = [(self._name(x), self._params(x.get('params'), 'params')) for x in shares]
        if len(set(n.lower() for n, _ in todo)) != len(todo):
            raise OpError('EINVAL', 'a share name appears twice', errno.EINVAL)

        def work():
            replaced = []
            for name, params in todo:
                if self._get(name) is not None:
                    self.conf.delete_share(name)
                    replaced.append(name)
                self.conf.create_set_share(name, params)
            return {'replaced': replaced}
        return self._transaction(work)

    def share_update(self, args):
        """Sets and deletes parameters of an existing share in one transaction; nothing when it is missing."""
        name = self._name(args)
        sets = self._params(args.get('set', []), 'set')
        deletes = args.get('delete', [])
        if not isinstance(deletes, list) or not all(isinstance(d, str) for d in deletes):
            raise OpError('EINVAL', 'delete must be a list of names', errno.EINVAL)

        def work():
            if self._get(name) is None:
                return {'exists': False}
            for k, v in sets:
                self.conf.set_parameter(name, k, v)
            for k in deletes:
                try:
                    self.conf.delete_parameter(name, k)
                except self.SMBConfError as e:
                    if self.sbc_error(e).code not in ('SBC_ERR_INVALID_PARAM', 'SBC_ERR_NO_SUCH_SERVICE'):
                        raise
            return {'exists': True}
        return self._transaction(work)

    def share_delete(self, args):
        """Deletes the registry share (if any) and its stored security descriptor (if any)."""
        name = self._name(args)
        existed = True
        try:
            self.conf.delete_share(name)
        except self.SMBConfError as e:
            if self.sbc_error(e).code != 'SBC_ERR_NO_SUCH_SERVICE':
                raise
            existed = False
        sd = self.sd_delete({'name': name}) if args.get('sd', True) else {'deleted': False}
        return {'existed': existed, 'sdDeleted': sd['deleted']}

    # share_info.tdb: one record per share, key "SECDESC/<lower-case share name>" with its NUL,
    # value the NDR-encoded security descriptor. Only plain ASCII names are handled here: Samba's
    # own lower-casing of other characters is not Python's.
    def _sd_key(self, name):
        if any(not (0x20 <= ord(c) < 0x7f) for c in name):
            raise OpError('ENAME', 'share name %r is not plain ASCII' % name)
        return ('SECDESC/%s' % name.lower()).encode('ascii') + b'\0'

    def _open_share_info(self, flags):
        """share_info.tdb, or None when it does not exist (no descriptor was ever stored)."""
        try:
            return self.tdb.open(self.share_info, 0, self.tdb.DEFAULT, flags)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return None
            raise os_error(e, 'open %s' % self.share_info)
        except RuntimeError as e:
            raise OpError('EIO', 'cannot open %s: %s' % (self.share_info, e))

    def sd_get(self, args):
        key = self._sd_key(self._name(args))
        db = self._open_share_info(os.O_RDONLY)
        if db is None:
            return {'sddl': None}
        try:
            data = db.get(key)
        finally:
            db.close()
        if data is None:
            return {'sddl': None}
        try:
            sd = self.ndr_unpack(self.security.descriptor, data)
        except Exception as e:  # a damaged record: Samba would use its default
            raise OpError('EBADSD', 'cannot decode the stored security descriptor of %s: %s' % (args.get('name'), e))
        return {'sddl': sd.as_sddl()}

    def sd_delete(self, args):
        key = self._sd_key(self._name(args))
        db = self._open_share_info(os.O_RDWR)
        if db is None:
            return {'deleted': False}
        try:
            if db.get(key) is None:
                return {'deleted': False}
            db.delete(key)
            return {'deleted': True}
        finally:
            db.close()


    # Asking smbd to disconnect the clients of a share: message MSG_SMB_FORCE_TDIS, whose data is the
    # share name with its NUL, sent to the main smbd (its pid file), which passes it on to its
    # children. Messages go through Samba's messaging sockets in the lock directory.
    def _smbd_pid(self):
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def close_share(self, args):
        name = self._name(args)
        pid = self._smbd_pid()
        if pid is None:
            return {'sent': False, 'reason': 'smbd is not running (no live pid in %s)' % self.pid_file}
        from samba.dcerpc import server_id as server_id_mod
        from samba.dcerpc import messaging as msg_types
        if self.messaging is None:
            import samba.messaging
            import samba.param
            # The messaging sockets live in the directories of the configuration loaded above;
            # this other loadparm is given just those (it cannot read every smb.conf, e.g. one
            # with `include = registry`).
            lp4 = samba.param.LoadParm()
            for param in self.messaging_dirs:
                lp4.set(param, self.dirs[param])
            self.messaging = samba.messaging.Messaging(lp_ctx=lp4)
        target = server_id_mod.server_id()
        target.pid = pid
        target.task_id = 0
        target.vnn = 0xffffffff  # not clustered
        target.unique_id = 0xffffffffffffffff  # do not check the process's unique id
        try:
            self.messaging.send(target, msg_types.MSG_SMB_FORCE_TDIS, name.encode('utf-8') + b'\0')
        except Exception as e:
            raise OpError('ESEND', 'cannot send close-share to smbd (pid %d): %s' % (pid, e))
        return {'sent': True, 'pid': pid}


def smbconf_mode(argv):
    config_file = argv[0] if argv else None
    if config_file is not None and not os.path.isfile(config_file):
        raise OpError('ENOENT', 'no configuration file %s' % config_file)
    conf = SmbConf(config_file)
    # Samba's libraries are not thread-safe: one request at a time.
    return conf.ops(), conf.info(), 1


# ---------------------------------------------------------------- files
# For the copy backend: extended attributes copied from one tree to another, and the inode
# immutable flag on a whole tree (what `getfattr -R -d -m - | setfattr --restore` and
# `chattr -R +i` / `lsattr -d` do, without a process each).

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


def _abs_path(args, key):
    path = args.get(key)
    if not isinstance(path, str) or not path.startswith('/'):
        raise OpError('EINVAL', 'not an absolute path: %r' % (path,), errno.EINVAL)
    return path


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
    src, dst = _abs_path(args, 'src'), _abs_path(args, 'dst')
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
    root, on = _abs_path(args, 'path'), bool(args.get('on'))
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
    path = _abs_path(args, 'path')
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


# ---------------------------------------------------------------- main


def common_ops(mode):
    def ping(args):
        return {'pid': os.getpid(), 'mode': mode, 'echo': args.get('echo')}
    return {'ping': ping}


# --- passdb: NT hash and SIDs of a local Samba account, for NTLM checks without a password copy

def passdb_mode(argv):
    from samba.samba3 import param as s3param
    from samba.samba3 import passdb
    lp = s3param.get_context()
    if argv:
        lp.load(argv[0])
    else:
        lp.load_default()
    passdb.set_smb_config(lp.configfile)
    pdb = passdb.PDB(lp.get('passdb backend'))
    domain_sid = str(passdb.get_global_sam_sid())
    builtin_sid = 'S-1-5-32'

    def lookup(args):
        user = args.get('user')
        if not isinstance(user, str) or not user or '/' in user or '\\' in user:
            raise OpError('EINVAL', 'user must be an account name')
        try:
            sam = pdb.getsampwnam(user)
        except Exception as e:
            raise OpError('NO_SUCH_USER', 'no passdb account %r: %s' % (user, e))
        acb = sam.acct_ctrl
        # ACB_DISABLED 0x1, ACB_PWNOTREQ 0x4, ACB_NORMAL 0x10, ACB_AUTOLOCK 0x400
        if acb & 0x1 or acb & 0x400 or not acb & 0x10:
            raise OpError('ACCOUNT_DISABLED', 'account %r is disabled, locked or not a user' % user)
        nt = sam.nt_passwd
        if not nt:
            raise OpError('NO_NT_HASH', 'account %r has no NT hash' % user)
        user_sid = str(sam.user_sid)
        group_sid = str(sam.group_sid)
        sids = [user_sid, group_sid]
        try:
            from samba.dcerpc import security
            rids = pdb.enum_alias_memberships(security.dom_sid(builtin_sid), [sam.user_sid, sam.group_sid])
        except Exception:
            rids = []  # no group mapping for BUILTIN: the account is in none of its aliases
        for rid in rids or []:
            sids.append('%s-%d' % (builtin_sid, rid))
        return {'user': sam.username, 'domain': sam.domain or lp.get('workgroup'), 'ntHash': bytes(nt).hex(),
                'sids': list(dict.fromkeys(sids)), 'domainSid': domain_sid}

    return {'lookup': lookup}, {'domainSid': domain_sid, 'backend': lp.get('passdb backend')}, 1


MODES = {'passdb': passdb_mode, 'btrfs': btrfs_mode, 'smbconf': smbconf_mode, 'files': files_mode, 'ping': lambda _argv: ({}, {}, 1)}


def handle(ops, channel, line):
    rid = None
    try:
        try:
            msg = json.loads(line)
        except ValueError:
            raise OpError('EPROTO', 'request is not JSON')
        if not isinstance(msg, dict):
            raise OpError('EPROTO', 'request is not an object')
        rid = msg.get('id')
        op = ops.get(msg.get('op'))
        if op is None:
            raise OpError('ENOSYS', 'unknown operation %r' % (msg.get('op'),), errno.ENOSYS)
        args = msg.get('args') or {}
        if not isinstance(args, dict):
            raise OpError('EINVAL', 'args must be an object', errno.EINVAL)
        channel.send({'id': rid, 'ok': True, 'result': op(args)})
    except OpError as e:
        err = {'code': e.code, 'message': e.message}
        if e.errno is not None:
            err['errno'] = e.errno
        channel.send({'id': rid, 'ok': False, 'error': err})
    except Exception as e:  # a bug here must not kill the helper
        channel.send({'id': rid, 'ok': False, 'error': {'code': 'EHELPER', 'message': '%s: %s' % (type(e).__name__, e)}})


def main(argv):
    channel = Channel()
    mode = argv[1] if len(argv) > 1 else ''
    if mode not in MODES:
        channel.send({'ready': False, 'error': 'unknown mode %r' % mode})
        return 2
    try:
        ops, info, workers = MODES[mode](argv[2:])
    except OpError as e:
        channel.send({'ready': False, 'error': e.message})
        return 3
    except ImportError as e:
        channel.send({'ready': False, 'error': 'a Python module is missing: %s' % e})
        return 3
    except Exception as e:
        channel.send({'ready': False, 'error': '%s: %s' % (type(e).__name__, e)})
        return 3
    ops = dict(ops)
    ops.update(common_ops(mode))
    channel.send({'ready': True, 'info': dict(info, pid=os.getpid(), mode=mode, protocol=PROTOCOL)})

    stdin = sys.stdin.buffer
    if workers == 1:
        for line in iter(stdin.readline, b''):
            if line.strip():
                handle(ops, channel, line)
        return 0
    # A fixed pool of worker threads fed through a queue: starting a thread per request made a
    # round trip cost about 300 us more (ping: 478 us against 115 us with the pool).
    requests = queue.SimpleQueue()

    def worker():
        while True:
            text = requests.get()
            if text is None:
                return
            handle(ops, channel, text)
    pool = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in pool:
        t.start()
    for line in iter(stdin.readline, b''):
        if line.strip():
            requests.put(line)
    for _ in pool:
        requests.put(None)
    for t in pool:
        t.join()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
