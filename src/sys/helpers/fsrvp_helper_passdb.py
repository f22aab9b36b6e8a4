"""Mode `passdb` of the fsrvp helper: the NT hash and SIDs of a local Samba account
(samba.samba3.passdb), for NTLM checks without a copy of the password."""
from fsrvp_helper_base import OpError


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
