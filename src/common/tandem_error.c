/* Descriptions of tandem's error codes. */
#include "tandem_error.h"

const char *tandem_strerror(int code)
{
	switch ((tandem_err_t)code) {
	case TANDEM_OK: return "success";
	case TANDEM_ENOMEM: return "out of memory";
	case TANDEM_EINVAL: return "invalid argument";
	case TANDEM_EIO: return "input/output error";
	case TANDEM_ENOENT: return "not found";
	case TANDEM_EEXIST: return "already exists";
	case TANDEM_ERANGE: return "value out of range";
	case TANDEM_EPERM: return "permission denied";
	case TANDEM_ESYNTAX: return "syntax error";
	case TANDEM_EINTERNAL: return "internal error";
	case TANDEM_CRYPTO_EALG: return "unsupported DNSSEC algorithm";
	case TANDEM_CRYPTO_EKEY: return "malformed public key";
	case TANDEM_CRYPTO_EVERIFY: return "signature does not verify";
	case TANDEM_CRYPTO_ELIB: return "cryptographic library failure";
	case TANDEM_HSM_EMODULE: return "PKCS#11 module cannot be loaded";
	case TANDEM_HSM_EURI: return "malformed PKCS#11 URI";
	case TANDEM_HSM_ETOKEN: return "no matching PKCS#11 token";
	case TANDEM_HSM_EPIN: return "PIN missing or refused";
	case TANDEM_HSM_EKEY: return "no such key in the HSM";
	case TANDEM_HSM_ESIGN: return "HSM signing failed";
	case TANDEM_HSM_EGEN: return "HSM key generation failed";
	case TANDEM_HSM_EP11: return "PKCS#11 failure";
	case TANDEM_HSM_ESESSION: return "HSM session unavailable";
	case TANDEM_HSM_EGONE: return "the HSM token is gone (removed, not present or logged out)";
	case TANDEM_DNS_EPARSE: return "zone file error";
	case TANDEM_DNS_ESOA: return "missing or duplicate SOA";
	case TANDEM_DNS_EZONE: return "out-of-zone data";
	case TANDEM_DNS_ECNAME: return "CNAME or DNAME conflict";
	case TANDEM_DNS_ENAME: return "malformed domain name";
	case TANDEM_DNS_ETOOBIG: return "record too large";
	case TANDEM_SIGNER_ENOKEY: return "no usable signing key";
	case TANDEM_SIGNER_ESERIAL: return "SOA serial cannot advance";
	case TANDEM_SIGNER_ECONF: return "inconsistent signing configuration";
	case TANDEM_VERIFY_EFAIL: return "zone failed verification";
	case TANDEM_KASP_EPOLICY: return "invalid policy";
	case TANDEM_KASP_ESTATE: return "corrupt key-state file";
	case TANDEM_KASP_EVERSION: return "key-state file of a newer format";
	case TANDEM_KASP_EFACT: return "refused by the key-state machine";
	case TANDEM_KASP_ENOKEY: return "no such key in the key state";
	case TANDEM_ARCHIVE_EPASS: return "wrong passphrase, or an altered or forged card";
	case TANDEM_ARCHIVE_ECARDS: return "wrong set of cards";
	case TANDEM_ARCHIVE_ETAMPER: return "archive altered or made under another SMK";
	case TANDEM_ARCHIVE_EFORMAT: return "malformed or truncated card or archive";
	case TANDEM_ARCHIVE_EVERSION: return "card or archive of an unsupported version";
	case TANDEM_ARCHIVE_ECONFLICT: return "a different key holds that label or id";
	case TANDEM_COORD_EUNAVAIL: return "no etcd endpoint answered";
	case TANDEM_COORD_ENOQUORUM: return "etcd cluster has no quorum";
	case TANDEM_COORD_ECONFLICT: return "transaction compare failed";
	case TANDEM_COORD_EPROTO: return "malformed etcd reply";
	case TANDEM_COORD_ELEASE: return "lease expired or unknown";
	case TANDEM_COORD_EREFUSED: return "etcd refused the request";
	case TANDEM_COORD_ESTATE: return "malformed or incoherent cluster state";
	case TANDEM_COORD_EVERSION: return "cluster state of an unsupported version";
	case TANDEM_NET_EAUTH: return "peer not authorised";
	case TANDEM_NET_ETIMEOUT: return "no reply in time";
	case TANDEM_NET_EPROTO: return "malformed message";
	case TANDEM_NET_EVERSION: return "unsupported message version";
	case TANDEM_NET_EREPLAY: return "request id replayed with a different request";
	case TANDEM_NET_ESTALE: return "message outside the time window";
	case TANDEM_NET_EKEY: return "malformed CURVE key";
	case TANDEM_NET_EALLOW: return "invalid allow-list";
	case TANDEM_NET_EZMQ: return "ZeroMQ failure";
	case TANDEM_NET_ECURVE: return "ZeroMQ without CURVE support";
	case TANDEM_JOURNAL_ECORRUPT: return "journal entry corrupted";
	case TANDEM_JOURNAL_EVERSION: return "journal file of another format or version";
	case TANDEM_JOURNAL_ESEQ: return "changeset does not follow the journal's newest serial";
	}
	return "unknown error";
}
