"""What every mode of the fsrvp helper shares (fsrvp_helper.py): the failure type it reports, and
the check of a path argument."""
import errno


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


def absolute_path(path):
    """`path` when it is an absolute path (a str starting with '/'); an EINVAL OpError otherwise."""
    if not isinstance(path, str) or not path.startswith('/'):
        raise OpError('EINVAL', 'not an absolute path: %r' % (path,), errno.EINVAL)
    return path
