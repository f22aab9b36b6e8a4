# Drives impacket's DCE/RPC client (Debian python3-impacket) against an FSRVP listener on
# loopback: bind with authentication, then raw FSRVP calls. Reads a JSON request on stdin, prints
# a JSON result. Only impacket's public API is used; the FSRVP stubs are NDR built here.
#
# Request keys: auth ('ntlm' | 'spnego'), level ('integrity' | 'privacy'), user, password, domain;
# port (ncacn_ip_tcp on 127.0.0.1) or pipe: true (ncacn_np \pipe\FssagentRpc on 127.0.0.1:445);
# host: the address to connect to instead of 127.0.0.1 (a domain member on 127.0.0.2);
# rpcPassword: the bind's NTLM uses this password, the SMB session the right one (ncacn_np);
# kerberos: {kdcHost, remoteName} (GSS_NEGOTIATE then carries impacket's Kerberos AP-REQ for
# host/<remoteName>, SMB's for cifs/<remoteName>; the tickets come from the ccache KRB5CCNAME
# names when it holds them: impacket 0.10's TGS-REQ has no authenticator checksum, which
# Samba 4.17's KDC refuses with KRB_AP_ERR_INAPP_CKSUM); setContexts, bigStub; cycle:
# {share} (a full shadow copy cycle on \\<remoteName>\<share>); replayBind: send the bind PDU of
# the session once more, byte for byte, on a new TCP connection (the result is the answer's PDU
# type, or 'closed'); skewSec: the bind's authenticator's ctime this many seconds off.
import datetime, json, socket, struct, sys, traceback, uuid
from impacket.dcerpc.v5 import rpcrt, transport
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_WINNT, RPC_C_AUTHN_GSS_NEGOTIATE,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY, DCERPCException)
from impacket.uuid import uuidtup_to_bin

# impacket 0.10 bug: MSRPCBind.getData() appends its context items to what an earlier call left,
# so the alter_context of its Kerberos third leg (built from the bind's getData() once more)
# says one context but carries two, 44 bytes before the sec_trailer that auth_pad_length does not
# cover: Samba's dcerpc_pull_auth_trailer refuses that as a protocol error, and so do we. Render
# the items afresh at every call.
_bind_get_data = rpcrt.MSRPCBind.getData
def _bind_get_data_once(self):
    self['ctx_items'] = b''
    return _bind_get_data(self)
rpcrt.MSRPCBind.getData = _bind_get_data_once

FSRVP = ('a8e0653c-2744-4389-a61d-7373df8b2292', '1.0')
req = json.load(sys.stdin)
out = {}


def guid(g):
    return uuid.UUID(g).bytes_le


def wstr(s):
    # [string] wchar_t*, top level (ref): max count, offset, actual count, UTF-16LE with NUL, pad 4.
    data = (s + '\0').encode('utf-16-le')
    n = len(data) // 2
    b = struct.pack('<III', n, 0, n) + data
    return b + b'\0' * ((-len(b)) % 4)


def read_wstr(b, off):
    off += (-off) % 4
    _, _, n = struct.unpack_from('<III', b, off)
    s = b[off + 12:off + 12 + 2 * n].decode('utf-16-le').rstrip('\0')
    return s, off + 12 + 2 * n


class Failed(Exception):
    pass


def call(dce, opnum, stub, name):
    dce.call(opnum, stub)
    r = dce.recv()
    code = struct.unpack('<I', r[-4:])[0]
    if code != 0:
        raise Failed('%s returned 0x%08x' % (name, code))
    return r


def cycle(dce, unc):
    """SetContext, Start, Add, Prepare, Commit, Expose, GetShareMapping, RecoveryComplete, Delete."""
    steps = []
    call(dce, 1, struct.pack('<I', 0), 'SetContext')  # FSRVP_CTX_BACKUP
    steps.append('SetContext')
    r = call(dce, 2, guid(str(uuid.uuid4())), 'StartShadowCopySet')
    set_id = str(uuid.UUID(bytes_le=r[:16]))
    steps.append('StartShadowCopySet')
    r = call(dce, 3, guid(str(uuid.uuid4())) + guid(set_id) + wstr(unc), 'AddToShadowCopySet')
    copy_id = str(uuid.UUID(bytes_le=r[:16]))
    steps.append('AddToShadowCopySet')
    for op, name in ((12, 'PrepareShadowCopySet'), (4, 'CommitShadowCopySet'), (5, 'ExposeShadowCopySet')):
        call(dce, op, guid(set_id) + struct.pack('<I', 60000), name)
        steps.append(name)
    r = call(dce, 10, guid(copy_id) + guid(set_id) + wstr(unc) + struct.pack('<I', 1), 'GetShareMapping')
    # level (union tag), referent of the level-1 struct, then the struct: two GUIDs, two string
    # pointers, the NTTIME (8-aligned), then the strings.
    off = 8 + 32 + 8
    off += (-off) % 8
    unc_out, off = read_wstr(r, off + 8)
    shadow_share, off = read_wstr(r, off)
    steps.append('GetShareMapping')
    call(dce, 6, guid(set_id), 'RecoveryCompleteShadowCopySet')
    steps.append('RecoveryCompleteShadowCopySet')
    call(dce, 11, guid(set_id) + guid(copy_id) + wstr(unc), 'DeleteShareMapping')
    steps.append('DeleteShareMapping')
    return {'steps': steps, 'setId': set_id, 'copyId': copy_id, 'shareNameUNC': unc_out, 'shadowCopyShareName': shadow_share}


class Shifted(object):
    """Stands in for the datetime module in impacket.krb5.kerberosv5: utcnow() is off by skewSec."""
    def __init__(self, skew):
        real = datetime.datetime
        class Dt(real):
            @classmethod
            def utcnow(cls):
                return real.utcnow() + datetime.timedelta(seconds=skew)
        self.datetime = Dt
        self.timedelta = datetime.timedelta


sent = []
HOST = req.get('host', '127.0.0.1')
try:
    k = req.get('kerberos')
    if req.get('pipe'):
        t = transport.DCERPCTransportFactory('ncacn_np:%s[\\pipe\\FssagentRpc]' % (k['remoteName'] if k else HOST))
    else:
        t = transport.DCERPCTransportFactory('ncacn_ip_tcp:%s[%d]' % (k['remoteName'] if k else HOST, req['port']))
    t.setRemoteHost(HOST)
    t.set_credentials(req['user'], req['password'], req['domain'])
    if k:
        t.set_kerberos(True, k['kdcHost'])
    if req.get('replayBind') or req.get('dumpSent'):
        inner = t.send
        def keep(data, *a, **kw):
            sent.append(bytes(data))
            return inner(data, *a, **kw)
        t.send = keep
    dce = t.get_dce_rpc()
    if req.get('rpcPassword'):
        dce.set_credentials(req['user'], req['rpcPassword'], req['domain'])
    dce.set_auth_type({'ntlm': RPC_C_AUTHN_WINNT, 'spnego': RPC_C_AUTHN_GSS_NEGOTIATE}[req['auth']])
    dce.set_auth_level({'integrity': RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, 'privacy': RPC_C_AUTHN_LEVEL_PKT_PRIVACY}[req['level']])
    dce.connect()
    if req.get('skewSec'):
        import impacket.krb5.kerberosv5 as kv5
        kv5.datetime = Shifted(req['skewSec'])
    dce.bind(uuidtup_to_bin(FSRVP))
    if req.get('replayBind'):
        s = socket.create_connection((HOST, req['port']), timeout=10)
        s.sendall(sent[0])
        answer = s.recv(65536)
        out['replay'] = answer[2] if len(answer) > 2 else 'closed'
        s.close()
    dce.call(0, b'')  # GetSupportedVersion
    r = dce.recv()
    out['version'] = list(struct.unpack('<III', r[:12]))
    results = []
    for i in range(req.get('setContexts', 1)):
        dce.call(1, struct.pack('<I', 0))  # SetContext(BACKUP)
        results.append(struct.unpack('<I', dce.recv()[:4])[0])
    out['setContext'] = results
    big = req.get('bigStub', 0)
    if big:
        # A large request: impacket fragments it at its max_xmit_frag, each fragment protected.
        dce.call(1, struct.pack('<I', 0) + b'\0' * big)
        out['big'] = struct.unpack('<I', dce.recv()[:4])[0]
    if req.get('cycle'):
        out['cycle'] = cycle(dce, '\\\\%s\\%s\\' % (k['remoteName'] if k else HOST, req['cycle']['share']))
    dce.disconnect()
    out['ok'] = True

except (DCERPCException, Failed) as e:
    out['ok'] = False
    out['error'] = str(e)
except Exception as e:
    out['ok'] = False
    out['error'] = '%s: %s' % (type(e).__name__, e)
    out['trace'] = traceback.format_exc()

if req.get('dumpSent'):
    out['sent'] = [p.hex() for p in sent]
print(json.dumps(out))
