"""Builds Kerberos service tickets, AP-REQs and the initiator's side of an AP exchange with
impacket (impacket.krb5.asn1 types, impacket.krb5.crypto, impacket.krb5.pac NDR structures) for
the acceptor interop tests: a JSON list of operations on stdin, a JSON list of results on
stdout (bytes as hex). Times are Unix seconds (floats allowed for ctime)."""
import datetime
import json
import struct
import sys

from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from impacket.dcerpc.v5.dtypes import NULL, RPC_SID
from impacket.dcerpc.v5.nrpc import GROUP_MEMBERSHIP
from impacket.krb5 import constants
from impacket.krb5.asn1 import (AP_REP, AP_REQ, AD_IF_RELEVANT, AuthorizationData, Authenticator,
                                EncAPRepPart, EncTicketPart, Ticket, seq_set)
from impacket.krb5.crypto import Key, _checksum_table, _enctype_table
from impacket.krb5.gssapi import CheckSumField
from impacket.krb5.pac import (KERB_SID_AND_ATTRIBUTES, KERB_VALIDATION_INFO, PAC_CLIENT_INFO,
                               PAC_INFO_BUFFER, PAC_SIGNATURE_DATA, PACTYPE, UPN_DNS_INFO, VALIDATION_INFO)
from impacket.krb5.types import KerberosTime, Principal

H = bytes.fromhex
KRB5_OID_DER = H('06092a864886f712010202')
CKSUM_FOR_ETYPE = {17: 15, 18: 16, 23: -138}


def utc(t):
    return datetime.datetime.utcfromtimestamp(t)


def filetime(t):
    return int(t * 10000000) + 116444736000000000


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b


def gss_frame(tok_id, msg):
    body = KRB5_OID_DER + tok_id + msg
    return b'\x60' + der_len(len(body)) + body


def pad8(b):
    return b + b'\x00' * ((-len(b)) % 8)


def set_time(ft_field, value):
    ft_field['dwLowDateTime'] = value & 0xffffffff
    ft_field['dwHighDateTime'] = value >> 32


def logon_info(p, now):
    k = KERB_VALIDATION_INFO()
    for f in ('LogonTime', 'PasswordLastSet'):
        set_time(k[f], filetime(now))
    for f in ('LogoffTime', 'KickOffTime', 'PasswordMustChange'):
        set_time(k[f], 0x7fffffffffffffff)
    for f in ('PasswordCanChange', 'LastSuccessfulILogon', 'LastFailedILogon'):
        set_time(k[f], 0)
    k['EffectiveName'] = p['user']
    k['FullName'] = p.get('fullName', '')
    for f in ('LogonScript', 'ProfilePath', 'HomeDirectory', 'HomeDirectoryDrive', 'LogonServer'):
        k[f] = ''
    k['LogonCount'] = 7
    k['BadPasswordCount'] = 0
    k['UserId'] = p['rid']
    k['PrimaryGroupId'] = p.get('primaryGroup', 513)
    k['GroupCount'] = len(p['groups'])
    for rid in p['groups']:
        g = GROUP_MEMBERSHIP()
        g['RelativeId'] = rid
        g['Attributes'] = 7
        k['GroupIds'].append(g)
    flags = 0
    k['UserSessionKey'] = b'\x00' * 16
    k['LogonDomainName'] = p['domain']
    k['LogonDomainId'].fromCanonical(p['domainSid'])
    k['LMKey'] = b'\x00' * 8
    k['UserAccountControl'] = 0x210
    k['SubAuthStatus'] = 0
    k['FailedILogonCount'] = 0
    k['Reserved3'] = 0
    extra = p.get('extraSids', [])
    k['SidCount'] = len(extra)
    for s in extra:
        rec = KERB_SID_AND_ATTRIBUTES()
        sid = RPC_SID()
        sid.fromCanonical(s)
        rec['Sid'] = sid
        rec['Attributes'] = 7
        k['ExtraSids'].append(rec)
    if extra:
        flags |= 0x20
    else:
        k['ExtraSids'] = NULL
    res = p.get('resourceGroups')
    if res:
        sid = RPC_SID()
        sid.fromCanonical(res['domainSid'])
        k['ResourceGroupDomainSid'] = sid
        k['ResourceGroupCount'] = len(res['rids'])
        for rid in res['rids']:
            g = GROUP_MEMBERSHIP()
            g['RelativeId'] = rid
            g['Attributes'] = 7
            k['ResourceGroupIds'].append(g)
        flags |= 0x200
    else:
        k['ResourceGroupDomainSid'] = NULL
        k['ResourceGroupCount'] = 0
        k['ResourceGroupIds'] = NULL
    k['UserFlags'] = flags
    v = VALIDATION_INFO()
    v['Data'] = k
    return v.getData() + v.getDataReferents()


def upn_dns(upn, dns):
    u = upn.encode('utf-16le')
    d = dns.encode('utf-16le')
    info = UPN_DNS_INFO()
    info['UpnLength'] = len(u)
    info['UpnOffset'] = 16
    info['DnsDomainNameLength'] = len(d)
    info['DnsDomainNameOffset'] = 16 + len(pad8(u))
    info['Flags'] = 0
    return info.getData() + b'\x00' * 4 + pad8(u) + d


def build_pac(op, service_key, authtime):
    p = op['pac']
    ci = PAC_CLIENT_INFO()
    ci['ClientId'] = filetime(authtime)
    name = p.get('clientName', op['cname'][0]).encode('utf-16le')
    ci['NameLength'] = len(name)
    ci['Name'] = name
    cksum_type = CKSUM_FOR_ETYPE[service_key.enctype]
    sig_len = 16 if cksum_type == -138 else 12
    srv = PAC_SIGNATURE_DATA()
    srv['SignatureType'] = cksum_type
    srv['Signature'] = b'\x00' * sig_len
    kdc = PAC_SIGNATURE_DATA()
    kdc['SignatureType'] = cksum_type
    kdc['Signature'] = b'\x00' * sig_len
    blobs = [(1, logon_info(p, authtime)), (10, ci.getData())]
    if 'upn' in p:
        blobs.append((12, upn_dns(p['upn'], p['dnsDomain'])))
    blobs += [(6, srv.getData()), (7, kdc.getData())]

    def assemble():
        offset = 8 + 16 * len(blobs)
        heads, tail, at = b'', b'', {}
        for t, b in blobs:
            ib = PAC_INFO_BUFFER()
            ib['ulType'] = t
            ib['cbBufferSize'] = len(b)
            ib['Offset'] = offset
            at[t] = offset
            heads += ib.getData()
            tail += pad8(b)
            offset += len(pad8(b))
        pt = PACTYPE()
        pt['cBuffers'] = len(blobs)
        pt['Version'] = 0
        pt['Buffers'] = heads + tail
        return pt.getData(), at

    unsigned, _ = assemble()
    sig = _checksum_table[cksum_type].checksum(service_key, 17, unsigned)
    srv['Signature'] = sig
    kdc['Signature'] = _checksum_table[cksum_type].checksum(service_key, 17, sig)  # stands in for krbtgt's
    blobs[-2] = (6, srv.getData())
    blobs[-1] = (7, kdc.getData())
    pac, at = assemble()
    if op.get('tamperPacSignature'):
        pac = bytearray(pac)
        pac[at[6] + 4] ^= 0x01
        pac = bytes(pac)
    if op.get('tamperPacLogonInfo'):
        pac = bytearray(pac)
        pac[at[1] + 60] ^= 0x01
        pac = bytes(pac)
    return pac


def fill_principal(comp, names, name_type=1):
    return Principal('/'.join(names), type=name_type).components_to_asn1(comp)


def make_ap_req(op):
    etype = op['etype']
    service_key = Key(etype, H(op['serviceKey']))
    sess_etype = op.get('sessionEtype', etype)
    session_key = Key(sess_etype, H(op['sessionKey']))
    authtime = op['authtime']
    etp = EncTicketPart()
    etp['flags'] = constants.encodeFlags([constants.TicketFlags.forwardable.value, constants.TicketFlags.pre_authent.value])
    etp['key'] = noValue
    etp['key']['keytype'] = sess_etype
    etp['key']['keyvalue'] = session_key.contents
    etp['crealm'] = op['crealm']
    seq_set(etp, 'cname', lambda c: fill_principal(c, op['cname']))
    etp['transited'] = noValue
    etp['transited']['tr-type'] = 0
    etp['transited']['contents'] = b''
    etp['authtime'] = KerberosTime.to_asn1(utc(authtime))
    etp['starttime'] = KerberosTime.to_asn1(utc(op.get('starttime', authtime)))
    etp['endtime'] = KerberosTime.to_asn1(utc(op['endtime']))
    if not op.get('noPac'):
        pac_ad = AuthorizationData()
        pac_ad[0] = noValue
        pac_ad[0]['ad-type'] = 128
        pac_ad[0]['ad-data'] = build_pac(op, service_key, authtime)
        etp['authorization-data'] = noValue
        etp['authorization-data'][0] = noValue
        etp['authorization-data'][0]['ad-type'] = 1
        etp['authorization-data'][0]['ad-data'] = encoder.encode(pac_ad)
    enc_ticket = _enctype_table[etype].encrypt(service_key, 2, encoder.encode(etp), None)

    def fill_ticket(t):
        t['tkt-vno'] = 5
        t['realm'] = op['realm']
        fill_principal(t.setComponentByName('sname').getComponentByName('sname'), op['sname'], 2)
        t['enc-part'] = noValue
        t['enc-part']['etype'] = etype
        t['enc-part']['kvno'] = op['kvno']
        t['enc-part']['cipher'] = enc_ticket
        return t

    ap = AP_REQ()
    ap['pvno'] = 5
    ap['msg-type'] = 14
    ap['ap-options'] = constants.encodeFlags([constants.APOptions.mutual_required.value] if op.get('mutual', True) else [])
    seq_set(ap, 'ticket', fill_ticket)
    a = Authenticator()
    a['authenticator-vno'] = 5
    a['crealm'] = op['authCrealm'] if 'authCrealm' in op else op['crealm']
    seq_set(a, 'cname', lambda c: fill_principal(c, op.get('authCname', op['cname'])))
    ctime = op['ctime']
    a['cusec'] = op['cusec']
    a['ctime'] = KerberosTime.to_asn1(utc(int(ctime)))
    if op.get('gssFlags') is not None:
        ck = CheckSumField()
        ck['Lgth'] = 16
        ck['Flags'] = op['gssFlags']
        a['cksum'] = noValue
        a['cksum']['cksumtype'] = 0x8003
        a['cksum']['checksum'] = ck.getData()
    if op.get('subkey'):
        a['subkey'] = noValue
        a['subkey']['keytype'] = sess_etype
        a['subkey']['keyvalue'] = H(op['subkey'])
    a['seq-number'] = op.get('seq', 0)
    enc_auth = _enctype_table[sess_etype].encrypt(session_key, 11, encoder.encode(a), None)
    ap['authenticator'] = noValue
    ap['authenticator']['etype'] = sess_etype
    ap['authenticator']['cipher'] = enc_auth
    raw = encoder.encode(ap)
    return (gss_frame(b'\x01\x00', raw) if op.get('framed', True) else raw).hex()


def read_ap_rep(op):
    """The initiator's krb5_rd_rep: decrypt with the session key, check the ctime/cusec echo."""
    tok = H(op['token'])
    if tok[:1] == b'\x60':
        at = tok.index(KRB5_OID_DER) + len(KRB5_OID_DER)
        if tok[at:at + 2] != b'\x02\x00':
            return {'error': 'TOK_ID ' + tok[at:at + 2].hex()}
        tok = tok[at + 2:]
    rep = decoder.decode(tok, asn1Spec=AP_REP())[0]
    key = Key(op['sessionEtype'], H(op['sessionKey']))
    plain = _enctype_table[op['sessionEtype']].decrypt(key, 12, bytes(rep['enc-part']['cipher']))
    part = decoder.decode(plain, asn1Spec=EncAPRepPart())[0]
    out = {
        'ctime': str(part['ctime']), 'cusec': int(part['cusec']), 'seq': int(part['seq-number']),
        'expectedCtime': KerberosTime.to_asn1(utc(int(op['ctime']))),
    }
    if part['subkey'].hasValue():
        out['subkeyEtype'] = int(part['subkey']['keytype'])
        out['subkey'] = bytes(part['subkey']['keyvalue']).hex()
    return out


def make_dce_ap_rep(op):
    """The initiator's third leg in DCE style, as impacket builds it: EncAPRepPart with its own
    time and the acceptor's sequence number, under the ticket session key, no GSS framing."""
    key = Key(op['sessionEtype'], H(op['sessionKey']))
    part = EncAPRepPart()
    now = utc(op['now'])
    part['ctime'] = KerberosTime.to_asn1(now)
    part['cusec'] = now.microsecond
    part['seq-number'] = op['seq']
    rep = AP_REP()
    rep['pvno'] = 5
    rep['msg-type'] = 15
    rep['enc-part'] = noValue
    rep['enc-part']['etype'] = op['sessionEtype']
    rep['enc-part']['cipher'] = _enctype_table[op['sessionEtype']].encrypt(key, 12, encoder.encode(part), None)
    return encoder.encode(rep).hex()


def spnego_init(op):
    from impacket.spnego import SPNEGO_NegTokenInit, TypesMech
    t = SPNEGO_NegTokenInit()
    t['MechTypes'] = [TypesMech['MS KRB5 - Microsoft Kerberos 5'], TypesMech['NTLMSSP - Microsoft NTLM Security Support Provider']]
    t['MechToken'] = H(op['token'])
    return t.getData().hex()


def spnego_resp(op):
    from impacket.spnego import SPNEGO_NegTokenResp
    r = SPNEGO_NegTokenResp()
    r['ResponseToken'] = H(op['token'])
    return r.getData().hex()


def spnego_parse(op):
    from impacket.spnego import SPNEGO_NegTokenResp
    r = SPNEGO_NegTokenResp(H(op['token']))
    return {k: r.fields[k].hex() for k in ('NegState', 'SupportedMech', 'ResponseToken') if k in r.fields}


OPS = {'make_ap_req': make_ap_req, 'read_ap_rep': read_ap_rep, 'make_dce_ap_rep': make_dce_ap_rep,
       'spnego_init': spnego_init, 'spnego_resp': spnego_resp, 'spnego_parse': spnego_parse}
print(json.dumps([OPS[o['op']](o) for o in json.load(sys.stdin)]))
