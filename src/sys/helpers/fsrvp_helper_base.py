"""The failure type every mode of the fsrvp helper reports (fsrvp_helper.py)."""
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
