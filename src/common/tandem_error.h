/* tandem's single error enum: OK = 0, negative codes, one range per module. */
#ifndef TANDEM_ERROR_H
#define TANDEM_ERROR_H

/*
 * Foreign errors (CK_RV, OpenSSL, ldns_status, errno) are translated once, in
 * the module that calls the foreign library, into one of these codes; the
 * detail (file, line, owner name, PKCS#11 return value) goes into a
 * tandem_diag_t, never into the code.
 */
typedef enum {
	TANDEM_OK = 0,

	/* common: -1 .. -99 */
	TANDEM_ENOMEM = -1,
	TANDEM_EINVAL = -2,
	TANDEM_EIO = -3,
	TANDEM_ENOENT = -4,
	TANDEM_EEXIST = -5,
	TANDEM_ERANGE = -6,
	TANDEM_EPERM = -7,
	TANDEM_ESYNTAX = -8,
	TANDEM_EINTERNAL = -9,

	/* crypto: -100 .. -199 */
	TANDEM_CRYPTO_EALG = -100,    /* unsupported DNSSEC algorithm */
	TANDEM_CRYPTO_EKEY = -101,    /* malformed public key */
	TANDEM_CRYPTO_EVERIFY = -102, /* signature does not verify */
	TANDEM_CRYPTO_ELIB = -103,    /* OpenSSL failure */

	/* hsm: -200 .. -299 */
	TANDEM_HSM_EMODULE = -200,  /* PKCS#11 module cannot be loaded */
	TANDEM_HSM_EURI = -201,     /* malformed PKCS#11 URI */
	TANDEM_HSM_ETOKEN = -202,   /* no token matches */
	TANDEM_HSM_EPIN = -203,     /* PIN missing or refused */
	TANDEM_HSM_EKEY = -204,     /* no such key, or an ambiguous match */
	TANDEM_HSM_ESIGN = -205,    /* signing failed */
	TANDEM_HSM_EGEN = -206,     /* key generation failed */
	TANDEM_HSM_EP11 = -207,     /* other PKCS#11 failure */
	TANDEM_HSM_ESESSION = -208, /* session pool exhausted or closed */
	TANDEM_HSM_EGONE = -209,    /* the token, its session or its login is gone (removed,
				       not present, logged out): reopen it (hsm_token_reopen) */

	/* dns: -300 .. -399 */
	TANDEM_DNS_EPARSE = -300,  /* zone file syntax or RDATA error */
	TANDEM_DNS_ESOA = -301,    /* missing or duplicate SOA */
	TANDEM_DNS_EZONE = -302,   /* out-of-zone data */
	TANDEM_DNS_ECNAME = -303,  /* CNAME beside other data, CNAME/DNAME at apex */
	TANDEM_DNS_ENAME = -304,   /* malformed domain name */
	TANDEM_DNS_ETOOBIG = -305, /* RRset or RDATA larger than DNS allows */

	/* signer: -400 .. -499 */
	TANDEM_SIGNER_ENOKEY = -400,  /* no usable KSK or ZSK */
	TANDEM_SIGNER_ESERIAL = -401, /* serial cannot advance (RFC 1982) */
	TANDEM_SIGNER_ECONF = -402,   /* inconsistent signing configuration */

	/* verify: -500 .. -599 */
	TANDEM_VERIFY_EFAIL = -500, /* the zone failed the publish gate */

	/* kasp: -600 .. -699 */
	TANDEM_KASP_EPOLICY = -600,  /* invalid policy */
	TANDEM_KASP_ESTATE = -601,   /* key-state file truncated, altered, not ours or impossible */
	TANDEM_KASP_EVERSION = -602, /* key-state file written by a newer format */
	TANDEM_KASP_EFACT = -603,    /* a fact or request the key-state machine refuses */
	TANDEM_KASP_ENOKEY = -604,   /* no such key in the key state */

	/* archive (SMK ceremony, wrapped-key archive): -700 .. -799 */
	TANDEM_ARCHIVE_EPASS = -700,     /* a card does not open (wrong passphrase, altered) or
					    the cards do not combine to the ceremony's SMK */
	TANDEM_ARCHIVE_ECARDS = -701,    /* card set wrong: too few or many, mixed, repeated */
	TANDEM_ARCHIVE_ETAMPER = -702,   /* archive altered, from another SMK, or a key that
					    fails its proof */
	TANDEM_ARCHIVE_EFORMAT = -703,   /* card or archive malformed or truncated */
	TANDEM_ARCHIVE_EVERSION = -704,  /* card or archive of an unsupported format version */
	TANDEM_ARCHIVE_ECONFLICT = -705, /* the token holds a different key under a label or id */

	/* coord: -800 .. -899 */
	TANDEM_COORD_EUNAVAIL = -800,  /* no etcd endpoint answered */
	TANDEM_COORD_ENOQUORUM = -801, /* etcd answered but its cluster has no quorum */
	TANDEM_COORD_ECONFLICT = -802, /* transaction compare failed: the state moved on */
	TANDEM_COORD_EPROTO = -803,    /* malformed or oversized etcd reply */
	TANDEM_COORD_ELEASE = -804,    /* lease expired or unknown */
	TANDEM_COORD_EREFUSED = -805,  /* etcd refused the request (detail in diag) */
	TANDEM_COORD_ESTATE = -850,    /* malformed or incoherent cluster state */
	TANDEM_COORD_EVERSION = -851,  /* cluster state of another format version */

	/* net: -900 .. -999 */
	TANDEM_NET_EAUTH = -900,    /* peer not allow-listed, revoked, or without CURVE */
	TANDEM_NET_ETIMEOUT = -901, /* no reply within the timeout and retries */
	TANDEM_NET_EPROTO = -902,   /* malformed message or envelope */
	TANDEM_NET_EVERSION = -903, /* unsupported envelope version */
	TANDEM_NET_EREPLAY = -904,  /* request id reused with a different request */
	TANDEM_NET_ESTALE = -905,   /* message outside the time window */
	TANDEM_NET_EKEY = -906,     /* malformed CURVE key or key file */
	TANDEM_NET_EALLOW = -907,   /* invalid allow-list */
	TANDEM_NET_EZMQ = -908,     /* ZeroMQ failure */
	TANDEM_NET_ECURVE = -909,   /* libzmq built without CURVE */

	/* journal: -1000 .. -1099 */
	TANDEM_JOURNAL_ECORRUPT = -1000, /* a journal entry fails its checksum or is malformed */
	TANDEM_JOURNAL_EVERSION = -1001, /* a journal file of another format or version */
	TANDEM_JOURNAL_ESEQ = -1002,     /* a changeset that does not start at the newest serial */
} tandem_err_t;

/* A static, human-readable description of an error code; never NULL. */
const char *tandem_strerror(int code);

#endif
