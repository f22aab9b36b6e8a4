# Drives impacket's DCE/RPC client (Debian python3-impacket) against an FSRVP listener on
# loopback: bind with authentication, then raw FSRVP calls. Reads a JSON request on stdin, prints
# a JSON result. Only impacket's public API is used.
import sys, json, struct
from impacket.dcerpc.v5 import transport
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_WINNT, RPC_C_AUTHN_GSS_NEGOTIATE,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY, DCERPCException)
from impacket.uuid import uuidtup_to_bin

req = json.load(sys.stdin)
out = {}
try:
    t = transport.DCERPCTransportFactory('ncacn_ip_tcp:127.0.0.1[%d]' % req['port'])
    t.set_credentials(req['user'], req['password'], req['domain'])
    dce = t.get_dce_rpc()
    dce.set_auth_type({'ntlm': RPC_C_AUTHN_WINNT, 'spnego': RPC_C_AUTHN_GSS_NEGOTIATE}[req['auth']])
    dce.set_auth_level({'integrity': RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, 'privacy': RPC_C_AUTHN_LEVEL_PKT_PRIVACY}[req['level']])
    dce.connect()
    dce.bind(uuidtup_to_bin(('a8e0653c-2744-4389-a61d-7373df8b2292', '1.0')))
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
    dce.disconnect()
    out['ok'] = True
except DCERPCException as e:
    out['ok'] = False
    out['error'] = str(e)
except Exception as e:
    out['ok'] = False
    out['error'] = '%s: %s' % (type(e).__name__, e)
print(json.dumps(out))
