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
C library prints can corrupt it. Each mode is a module beside this file (fsrvp_helper_<mode>.py;
fsrvp_helper_base.py holds the error type they share).
"""
import errno
import importlib
import json
import os
import queue
import sys
import threading

PROTOCOL = 1

# The modes live beside this file (fsrvp_helper_<mode>.py). Python runs with -I, which leaves
# this directory off sys.path; it is appended, so no module here can shadow a standard one.
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from fsrvp_helper_base import OpError  # noqa: E402


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


def common_ops(mode):
    def ping(args):
        return {'pid': os.getpid(), 'mode': mode, 'echo': args.get('echo')}
    return {'ping': ping}


def _mode(module, function):
    def start(argv):
        return getattr(importlib.import_module(module), function)(argv)
    return start


# Each mode's module is imported when that mode starts: a helper loads only what it runs.
MODES = {
    'passdb': _mode('fsrvp_helper_passdb', 'passdb_mode'),
    'btrfs': _mode('fsrvp_helper_btrfs', 'btrfs_mode'),
    'smbconf': _mode('fsrvp_helper_smbconf', 'smbconf_mode'),
    'files': _mode('fsrvp_helper_files', 'files_mode'),
    'ping': lambda _argv: ({}, {}, 1),
}


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
