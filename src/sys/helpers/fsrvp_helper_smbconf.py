"""Mode `smbconf` of the fsrvp helper: Samba registry shares (samba.samba3.smbconf, registry
backend), the share security descriptors in share_info.tdb, and smbd's close-share message
(src/shares/samba-helper.ts is the caller)."""
import errno
import os

from fsrvp_helper_base import OpError, os_error


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
