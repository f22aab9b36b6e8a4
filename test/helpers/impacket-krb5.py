"""Runs impacket's Kerberos crypto and GSSAPI code (and MIT krb5's iov encryption through
ctypes) for the interop tests: a JSON list of
operations on stdin, a JSON list of results on stdout (bytes as hex)."""
import ctypes
import json
import sys

from impacket.krb5 import crypto, gssapi

class PaddableBytes(bytes):
    """impacket 0.10's GSSAPI_AES.GSS_GetMIC appends a str pad to the data (a Python 3 slip that
    fails even for an empty pad); this bytes accepts that str as Latin-1."""
    def __add__(self, other):
        return PaddableBytes(bytes(self) + (other.encode('latin-1') if isinstance(other, str) else other))

class KrbData(ctypes.Structure):
    _fields_ = [('magic', ctypes.c_int32), ('length', ctypes.c_uint), ('data', ctypes.c_void_p)]

class KrbCryptoIov(ctypes.Structure):
    _fields_ = [('flags', ctypes.c_int32), ('data', KrbData)]

class KrbKeyblock(ctypes.Structure):
    _fields_ = [('magic', ctypes.c_int32), ('enctype', ctypes.c_int32), ('length', ctypes.c_uint), ('contents', ctypes.c_void_p)]

def mit_iov(op, encrypt):
    """MIT krb5's krb5_c_encrypt_iov / krb5_c_decrypt_iov (libkrb5.so.3) over typed buffers:
    [[type, hex], ...] with 1 HEADER, 2 DATA, 3 SIGN_ONLY, 5 TRAILER; returns the buffers after."""
    lib = ctypes.CDLL('libkrb5.so.3')
    ctx = ctypes.c_void_p()
    if lib.krb5_init_context(ctypes.byref(ctx)) != 0:
        raise RuntimeError('krb5_init_context failed')
    raw = bytes.fromhex(op['key'])
    keybuf = ctypes.create_string_buffer(raw, len(raw))
    kb = KrbKeyblock(0, op['etype'], len(raw), ctypes.cast(keybuf, ctypes.c_void_p))
    bufs = [ctypes.create_string_buffer(bytes.fromhex(h), max(1, len(h) // 2)) for _, h in op['parts']]
    iov = (KrbCryptoIov * len(bufs))()
    for i, (kind, h) in enumerate(op['parts']):
        iov[i].flags = kind
        iov[i].data = KrbData(0, len(h) // 2, ctypes.cast(bufs[i], ctypes.c_void_p))
    fn = lib.krb5_c_encrypt_iov if encrypt else lib.krb5_c_decrypt_iov
    ret = fn(ctx, ctypes.byref(kb), op['usage'], None, iov, len(bufs))
    lib.krb5_free_context(ctx)
    if ret != 0:
        return 'error %d' % ret
    return [bufs[i].raw[:len(h) // 2].hex() for i, (_, h) in enumerate(op['parts'])]

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
    if kind in ('mit_encrypt_iov', 'mit_decrypt_iov'):
        return mit_iov(op, kind == 'mit_encrypt_iov')
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
