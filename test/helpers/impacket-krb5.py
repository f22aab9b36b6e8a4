"""Runs impacket's Kerberos crypto and GSSAPI code for the interop tests: a JSON list of
operations on stdin, a JSON list of results on stdout (bytes as hex)."""
import json
import sys

from impacket.krb5 import crypto, gssapi

class PaddableBytes(bytes):
    """impacket 0.10's GSSAPI_AES.GSS_GetMIC appends a str pad to the data (a Python 3 slip that
    fails even for an empty pad); this bytes accepts that str as Latin-1."""
    def __add__(self, other):
        return PaddableBytes(bytes(self) + (other.encode('latin-1') if isinstance(other, str) else other))

def key(op):
    return crypto.Key(op['etype'], bytes.fromhex(op['key']))

def run(op):
    kind = op['op']
    h = lambda name: bytes.fromhex(op[name])
    if kind == 'string_to_key':
        # rc4-hmac wants text (it encodes UTF-16LE itself); the AES PBKDF2 wants UTF-8 bytes.
        password = op['password'] if op['etype'] == 23 else op['password'].encode('utf-8')
        return crypto._enctype_table[op['etype']].string_to_key(password, op['salt'].encode('utf-8'), None).contents.hex()
    if kind == 'encrypt':
        # The enctype profile picks a random confounder when given none (crypto.encrypt cannot).
        return crypto._enctype_table[op['etype']].encrypt(key(op), op['usage'], h('plain'), h('conf') if 'conf' in op else None).hex()
    if kind == 'decrypt':
        try:
            return crypto.decrypt(key(op), op['usage'], h('cipher')).hex()
        except crypto.InvalidChecksum:
            return 'InvalidChecksum'
    if kind == 'checksum':
        return crypto.make_checksum(op['cksumtype'], key(op), op['usage'], h('data')).hex()
    g = gssapi.GSSAPI(key(op))
    if kind == 'gss_getmic':
        return g.GSS_GetMIC(key(op), PaddableBytes(h('data')), op['seq'], op.get('direction', 'init')).hex()
    if kind == 'gss_wrap':
        sealed, token = g.GSS_Wrap(key(op), h('data'), op['seq'])
        return {'sealed': sealed.hex(), 'token': token.hex()}
    if kind == 'gss_unwrap':
        # authData is what impacket's rpcrt hands over: the sec_trailer followed by the token.
        plain, _ = g.GSS_Unwrap(key(op), h('sealed'), op['seq'], 'init', True, h('sec_trailer') + h('token'))
        return plain.hex()
    if kind == 'aes_checksum':
        profile = crypto._SHA1AES256 if op['etype'] == 18 else crypto._SHA1AES128
        return profile.checksum(key(op), op['usage'], h('data')).hex()
    raise ValueError('unknown op ' + kind)

print(json.dumps([run(op) for op in json.load(sys.stdin)]))
