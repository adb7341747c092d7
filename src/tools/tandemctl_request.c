/* tandemctl operator, request and approve: multi-person control (docs/approvals.md). */
#include "coord_approval.h"
#include "coordrpc.h"
#include "operator_key.h"
#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_file.h"
#include "tandemctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_REFUSED = 4, EXIT_COORD = 5 };
enum {
	OPT_COORD = 256,
	OPT_COORD_PUB,
	OPT_COORD_KEY,
	OPT_JSON,
	OPT_TTL,
	OPT_KEY,
	OPT_SECRET,
	OPT_PUBLIC,
	OPT_SIGN_ONLY,
	OPT_SIGNATURE,
	OPT_OFFLINE,
	OPT_PKCS11
};

static const char *const request_cmds[] = {"operator", "request", "approve"};

int tandemctl_request_has(const char *cmd)
{
	for (size_t i = 0; cmd != NULL && i < sizeof(request_cmds) / sizeof(request_cmds[0]); i++) {
		if (strcmp(cmd, request_cmds[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

static void usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandemctl operator keygen --secret FILE --public FILE\n"
	    "       tandemctl operator keygen [NAME] --pkcs11 URI --public FILE\n"
	    "                      (the key on a token; PIN from the URI's pin-source or "
	    "TANDEM_PIN)\n"
	    "       tandemctl operator bootstrap FILE        (lines NAME SA|SO|WI PUBLIC-FILE)\n"
	    "       tandemctl operator list [--json]\n"
	    "       tandemctl operator record-verify FILE [--offline] | record-import FILE\n"
	    "       tandemctl operator rules            who approves what (the cluster's, in "
	    "etcd)\n"
	    "                      (a ceremony record signed with tandem-ceremony record-sign)\n"
	    "       tandemctl request ACTION KEY=VALUE... [--ttl SECONDS]\n"
	    "       tandemctl request list [--json] | show ID [--json] | cancel ID\n"
	    "       tandemctl approve ID --key SECRET|pkcs11:URI [--sign-only]\n"
	    "       tandemctl approve ID --signature HEX --public FILE\n"
	    "  actions: takeover site=S, site-suspend site=S, params-set lease_ms=N margin_ms=N,\n"
	    "           operator-register name=N role=SA|SO|WI pub=HEX, operator-remove name=N,\n"
	    "           keys-emergency zone=Z key=ID, keygen zone=Z role=ksk|zsk,\n"
	    "           key-remove zone=Z key=ID|TAG, archive-distribute node=N [zone=Z],\n"
	    "           rules-set action=A slots=S\n"
	    "  coordinator: --coord EP[,EP..] --coord-pub FILE[,FILE..] --coord-key SECRET (or\n"
	    "  TANDEM_COORD, TANDEM_COORD_PUB, TANDEM_KEY); docs/approvals.md\n");
}

typedef struct req_opts {
	const char *coord, *coord_pub, *coord_key;
	const char *key, *secret, *public_file, *signature;
	const char *pkcs11; /* operator keygen on a token: its pkcs11: URI */
	bool json, sign_only, offline;
	uint64_t ttl_s;
} req_opts_t;

/* Parses the options; the positional arguments stay in argv[optind..]. */
static int opts_parse(int argc, char **argv, req_opts_t *o)
{
	static const struct option longopts[] = {
	    {"coord", required_argument, NULL, OPT_COORD},
	    {"coord-pub", required_argument, NULL, OPT_COORD_PUB},
	    {"coord-key", required_argument, NULL, OPT_COORD_KEY},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"ttl", required_argument, NULL, OPT_TTL},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"secret", required_argument, NULL, OPT_SECRET},
	    {"public", required_argument, NULL, OPT_PUBLIC},
	    {"sign-only", no_argument, NULL, OPT_SIGN_ONLY},
	    {"signature", required_argument, NULL, OPT_SIGNATURE},
	    {"offline", no_argument, NULL, OPT_OFFLINE},
	    {"pkcs11", required_argument, NULL, OPT_PKCS11},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int c;
	char *end = NULL;
	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_COORD: o->coord = optarg; break;
		case OPT_COORD_PUB: o->coord_pub = optarg; break;
		case OPT_COORD_KEY: o->coord_key = optarg; break;
		case OPT_JSON: o->json = true; break;
		case OPT_KEY: o->key = optarg; break;
		case OPT_SECRET: o->secret = optarg; break;
		case OPT_PUBLIC: o->public_file = optarg; break;
		case OPT_SIGN_ONLY: o->sign_only = true; break;
		case OPT_SIGNATURE: o->signature = optarg; break;
		case OPT_OFFLINE: o->offline = true; break;
		case OPT_PKCS11: o->pkcs11 = optarg; break;
		case OPT_TTL:
			errno = 0;
			o->ttl_s = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || o->ttl_s == 0 ||
			    o->ttl_s > 7u * 86400u) {
				fprintf(stderr, "%s: --ttl: seconds, 1 to 7 days\n", argv[0]);
				return EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	return EXIT_OK;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	}
}

/* Writes text to a new file (refused when it exists) with mode. */
static int file_create(const char *who, const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
		return EXIT_INPUT;
	}
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok) {
		fprintf(stderr, "%s: %s: write failed\n", who, path);
		unlink(path);
		return EXIT_INPUT;
	}
	return EXIT_OK;
}

/* operator keygen NAME --pkcs11 URI: the key pair made on the token, never leaving it. */
static int cmd_keygen_token(const char *who, const req_opts_t *o, const char *name)
{
	uint8_t pub[COORD_APPROVAL_PUB_LEN];
	char line[2 * COORD_APPROVAL_PUB_LEN + 2], token[33], object[65];
	if (o->secret != NULL || o->public_file == NULL) {
		fprintf(stderr, "%s: --pkcs11 URI needs --public FILE (and no --secret)\n", who);
		return EXIT_USAGE;
	}
	/* checked before the key is made, so that a refusal leaves nothing on the token */
	if (access(o->public_file, F_OK) == 0) {
		fprintf(stderr, "%s: %s: %s\n", who, o->public_file, strerror(EEXIST));
		return EXIT_INPUT;
	}
	int rc = opkey_token_keygen(who, o->pkcs11, name, pub, token, object);
	if (rc == EXIT_OK) {
		hex(pub, sizeof(pub), line);
		strcat(line, "\n");
		rc = file_create(who, o->public_file, line, 0644);
		/* the key stays on the token: a public file that cannot be written is said so */
		if (rc != EXIT_OK) {
			fprintf(stderr, "%s: the key is on token %s as %s; its public key: %s", who,
				token, object, line);
		}
	}
	if (rc == EXIT_OK) {
		hex(pub, sizeof(pub), line);
		printf("operator key %s (on token %s, object %s, not extractable)\n", line, token,
		       object);
	}
	return rc;
}

static int cmd_keygen(const char *who, const req_opts_t *o, const char *name)
{
	if (o->pkcs11 != NULL) {
		return cmd_keygen_token(who, o, name);
	}
	if (name != NULL) {
		fprintf(stderr, "%s: NAME labels a key on a token: it needs --pkcs11 URI\n", who);
		return EXIT_USAGE;
	}
	uint8_t priv[32], pub[COORD_APPROVAL_PUB_LEN];
	size_t plen = sizeof(priv), ulen = sizeof(pub);
	char line[2 * 32 + 2];
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	int rc = EXIT_INPUT;
	if (o->secret == NULL || o->public_file == NULL) {
		fprintf(stderr, "%s: needs --secret FILE --public FILE\n", who);
		EVP_PKEY_CTX_free(kctx);
		return EXIT_USAGE;
	}
	if (kctx == NULL || EVP_PKEY_keygen_init(kctx) != 1 || EVP_PKEY_keygen(kctx, &key) != 1 ||
	    EVP_PKEY_get_raw_private_key(key, priv, &plen) != 1 ||
	    EVP_PKEY_get_raw_public_key(key, pub, &ulen) != 1) {
		fprintf(stderr, "%s: Ed25519 key generation failed\n", who);
		goto out;
	}
	hex(priv, sizeof(priv), line);
	strcat(line, "\n");
	rc = file_create(who, o->secret, line, 0600);
	tandem_wipe(line, sizeof(line));
	if (rc == EXIT_OK) {
		hex(pub, sizeof(pub), line);
		strcat(line, "\n");
		rc = file_create(who, o->public_file, line, 0644);
	}
	if (rc == EXIT_OK) {
		hex(pub, sizeof(pub), line);
		printf("operator key %s (secret in %s)\n", line, o->secret);
	}
out:
	tandem_wipe(priv, sizeof(priv));
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(kctx);
	return rc;
}

/* A public key file: one line of 64 hex digits. */
static int pub_read(const char *who, const char *path, uint8_t pub[COORD_APPROVAL_PUB_LEN])
{
	char *text = NULL;
	size_t len = 0;
	int ret = tandem_file_read(path, 1024, &text, &len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s\n", who, path, tandem_strerror(ret));
		return EXIT_INPUT;
	}
	text[strcspn(text, "\r\n")] = '\0';
	ret = tandem_hex_decode(text, pub, COORD_APPROVAL_PUB_LEN);
	free(text);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: not an operator public key (64 hex digits)\n", who, path);
		return EXIT_INPUT;
	}
	return EXIT_OK;
}

static int coord_open(const char *who, const req_opts_t *o, tandemctl_coord_t **c)
{
	return tandemctl_coord_open(who, o->coord, o->coord_pub, o->coord_key, c);
}

/* Sends req; a refusal prints its text and is 4. The decision stays in *dec. */
static int decide(const char *who, const req_opts_t *o, const coordrpc_request_t *req,
		  coordrpc_decision_t *dec)
{
	tandemctl_coord_t *c = NULL;
	int rc = coord_open(who, o, &c);
	if (rc == EXIT_OK) {
		rc = tandemctl_coord_decide(c, req, dec);
	}
	tandemctl_coord_close(c);
	if (rc == EXIT_OK && !dec->accepted) {
		fprintf(stderr, "%s: refused: %s\n", who, dec->text);
		rc = EXIT_REFUSED;
	}
	return rc;
}

static int cmd_bootstrap(const char *who, const req_opts_t *o, const char *path)
{
	char *text = NULL, why[200];
	size_t len = 0;
	coord_operators_t *ops = calloc(1, sizeof(*ops));
	coordrpc_request_t *req = calloc(1, sizeof(*req));
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	int rc = EXIT_INPUT;
	int ret = ops == NULL || req == NULL || dec == NULL
		      ? TANDEM_ENOMEM
		      : tandem_file_read(path, 64 * 1024, &text, &len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s\n", who, path, tandem_strerror(ret));
		goto out;
	}
	size_t lineno = 0;
	for (char *line = text, *next; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		lineno++;
		line[strcspn(line, "#\r")] = '\0';
		const char *w[4];
		size_t n = tandem_split(line, ' ', w, 3);
		if (n == 0) {
			continue;
		}
		coord_operator_t op;
		memset(&op, 0, sizeof(op));
		if (n != 3 || strlen(w[0]) >= sizeof(op.name) ||
		    coord_role_parse(w[1], &op.role) != TANDEM_OK) {
			fprintf(stderr, "%s: %s:%zu: want NAME SA|SO|WI PUBLIC-FILE\n", who, path,
				lineno);
			goto out;
		}
		memcpy(op.name, w[0], strlen(w[0]) + 1);
		if (pub_read(who, w[2], op.pub) != EXIT_OK) {
			goto out;
		}
		if (!coord_operators_add(ops, &op, why, sizeof(why))) {
			fprintf(stderr, "%s: %s:%zu: %s\n", who, path, lineno, why);
			goto out;
		}
	}
	char *doc = NULL;
	if (coord_operators_pack(ops, &doc) != TANDEM_OK) {
		fprintf(stderr, "%s: out of memory\n", who);
		goto out;
	}
	req->kind = COORDRPC_OPERATORS_BOOTSTRAP;
	req->doc = (uint8_t *)doc;
	req->doc_len = strlen(doc);
	rc = decide(who, o, req, dec);
	if (rc == EXIT_OK) {
		printf("%s\n", dec->text);
	}
	coordrpc_request_deinit(req);
out:
	coordrpc_decision_deinit(dec);
	free(text);
	free(ops);
	free(req);
	free(dec);
	return rc;
}

/* A get (operators or requests) whose doc is printed as JSON or through show. */
static int get_doc(const char *who, const req_opts_t *o, coordrpc_kind_t kind, const char *id,
		   coordrpc_decision_t *dec)
{
	coordrpc_request_t req;
	memset(&req, 0, sizeof(req));
	req.kind = kind;
	if (id != NULL && strlen(id) >= sizeof(req.req_id)) {
		fprintf(stderr, "%s: %s: not a request id\n", who, id);
		return EXIT_INPUT;
	}
	snprintf(req.req_id, sizeof(req.req_id), "%s", id != NULL ? id : "");
	int rc = decide(who, o, &req, dec);
	if (rc == EXIT_OK && dec->doc == NULL) {
		fprintf(stderr, "%s: the coordinator sent no document\n", who);
		rc = EXIT_COORD;
	}
	return rc;
}

static void request_print(const coord_request_t *r)
{
	char c[32], e[32];
	printf("request %s: %s %s\n  state %s%s%s\n  requested by %s at %s, expires %s\n", r->id,
	       r->action, r->args, coord_req_state_str(r->state), r->outcome[0] ? ": " : "",
	       r->outcome, r->requester, tandem_utc_ms(r->created_ms, c, sizeof(c)),
	       tandem_utc_ms(r->expiry_ms, e, sizeof(e)));
	for (size_t i = 0; i < r->napprovals; i++) {
		printf("  approved by %s (%s) at %s\n", r->approvals[i].name,
		       coord_role_str(r->approvals[i].role),
		       tandem_utc_ms(r->approvals[i].at_ms, c, sizeof(c)));
	}
}

static int cmd_show(const char *who, const req_opts_t *o, coordrpc_kind_t kind, const char *id)
{
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	char why[200];
	int rc = dec == NULL ? EXIT_COORD : get_doc(who, o, kind, id, dec);
	if (rc != EXIT_OK) {
		goto out;
	}
	const char *doc = (const char *)dec->doc;
	if (o->json || (kind == COORDRPC_OPERATORS_GET && id != NULL)) {
		printf("%.*s%s", (int)dec->doc_len, doc, o->json ? "\n" : ""); /* rules: text */
	} else if (kind == COORDRPC_OPERATORS_GET) {
		coord_operators_t *ops = calloc(1, sizeof(*ops));
		rc = ops != NULL && coord_operators_unpack(doc, dec->doc_len, ops, why,
							   sizeof(why)) == TANDEM_OK
			 ? EXIT_OK
			 : EXIT_COORD;
		for (size_t i = 0; rc == EXIT_OK && i < ops->n; i++) {
			char h[2 * COORD_APPROVAL_PUB_LEN + 1];
			hex(ops->ops[i].pub, COORD_APPROVAL_PUB_LEN, h);
			printf("%-16s %s %s\n", ops->ops[i].name, coord_role_str(ops->ops[i].role),
			       h);
		}
		free(ops);
	} else if (id != NULL) {
		coord_request_t r;
		rc = coord_request_unpack(doc, dec->doc_len, &r, why, sizeof(why)) == TANDEM_OK
			 ? EXIT_OK
			 : EXIT_COORD;
		if (rc == EXIT_OK) {
			request_print(&r);
		}
	} else {
		coord_requests_t *reqs = calloc(1, sizeof(*reqs));
		rc = reqs != NULL && coord_requests_unpack(doc, dec->doc_len, reqs, why,
							   sizeof(why)) == TANDEM_OK
			 ? EXIT_OK
			 : EXIT_COORD;
		for (size_t i = 0; rc == EXIT_OK && i < reqs->n; i++) {
			const coord_request_t *r = &reqs->reqs[i];
			printf("%s %-9s %s %s (%zu approval%s)\n", r->id,
			       coord_req_state_str(r->state), r->action, r->args, r->napprovals,
			       r->napprovals == 1 ? "" : "s");
		}
		free(reqs);
	}
	if (rc == EXIT_COORD) {
		fprintf(stderr, "%s: the coordinator's document is unreadable\n", who);
	}
out:
	coordrpc_decision_deinit(dec);
	free(dec);
	return rc;
}

static int cmd_create(const char *who, const req_opts_t *o, int nargs, char **args)
{
	coordrpc_request_t req;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	size_t used = 0;
	memset(&req, 0, sizeof(req));
	req.kind = COORDRPC_REQUEST_CREATE;
	if (dec == NULL || strlen(args[0]) >= sizeof(req.action)) {
		fprintf(stderr, "%s: bad action '%s'\n", who, args[0]);
		free(dec);
		return EXIT_INPUT;
	}
	memcpy(req.action, args[0], strlen(args[0]) + 1);
	for (int i = 1; i < nargs; i++) {
		size_t n = strlen(args[i]);
		if (used + n + 2 > sizeof(req.args) || n == 0 || strchr(args[i], ' ') != NULL) {
			fprintf(stderr, "%s: arguments: KEY=VALUE words, %zu bytes at most\n", who,
				sizeof(req.args) - 1);
			free(dec);
			return EXIT_INPUT;
		}
		used += (size_t)snprintf(req.args + used, sizeof(req.args) - used, "%s%s",
					 used ? " " : "", args[i]);
	}
	req.ttl_ms = o->ttl_s * 1000u;
	int rc = decide(who, o, &req, dec);
	if (rc == EXIT_OK && dec->doc != NULL) {
		/* the exact text each approver signs; its last line is "request ID" */
		fwrite(dec->doc, 1, dec->doc_len, stdout);
	} else if (rc == EXIT_OK) {
		printf("%s\n", dec->text);
	}
	coordrpc_decision_deinit(dec);
	free(dec);
	return rc;
}

static int cmd_approve(const char *who, const req_opts_t *o, const char *id)
{
	coordrpc_request_t req;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	opkey_t *key = NULL;
	char why[200];
	int rc = EXIT_USAGE;
	memset(&req, 0, sizeof(req));
	if (dec == NULL) {
		return EXIT_COORD;
	}
	if ((o->key == NULL) == (o->signature == NULL) ||
	    (o->signature != NULL && o->public_file == NULL) || strlen(id) >= sizeof(req.req_id)) {
		fprintf(stderr,
			"%s: approve ID --key SECRET|pkcs11:URI, or ID --signature HEX --public "
			"FILE\n",
			who);
		goto out;
	}
	req.kind = COORDRPC_REQUEST_APPROVE;
	memcpy(req.req_id, id, strlen(id) + 1);
	req.has_sig = true;
	if (o->signature != NULL) {
		rc = pub_read(who, o->public_file, req.pub);
		if (rc == EXIT_OK &&
		    tandem_hex_decode(o->signature, req.sig, sizeof(req.sig)) != TANDEM_OK) {
			fprintf(stderr, "%s: --signature: 128 hex digits\n", who);
			rc = EXIT_INPUT;
		}
	} else {
		/* sign the request as the coordinator holds it: print what is signed */
		rc = opkey_open(who, o->key, &key, req.pub);
		if (rc == EXIT_OK) {
			rc = get_doc(who, o, COORDRPC_REQUEST_GET, id, dec);
		}
		coord_request_t r;
		if (rc == EXIT_OK && coord_request_unpack((const char *)dec->doc, dec->doc_len, &r,
							  why, sizeof(why)) != TANDEM_OK) {
			fprintf(stderr, "%s: the coordinator's request is unreadable\n", who);
			rc = EXIT_COORD;
		}
		if (rc == EXIT_OK) {
			char text[COORD_REQUEST_TEXT_MAX];
			size_t len = coord_request_text(&r, text);
			printf("%s", text);
			rc = opkey_sign(who, key, (const uint8_t *)text, len, req.sig);
		}
		coordrpc_decision_deinit(dec);
	}
	if (rc == EXIT_OK && o->sign_only) {
		char h[2 * COORD_APPROVAL_SIG_LEN + 1];
		hex(req.sig, sizeof(req.sig), h);
		printf("signature %s\n", h);
		goto out;
	}
	if (rc == EXIT_OK) {
		memset(dec, 0, sizeof(*dec));
		rc = decide(who, o, &req, dec);
	}
	if (rc == EXIT_OK) {
		printf("%s\n", dec->text);
		for (size_t i = 0; i < dec->neffects && i < COORDRPC_EFFECTS_MAX; i++) {
			printf("  effect: %s\n", dec->effects[i]);
		}
	}
out:
	coordrpc_decision_deinit(dec);
	free(dec);
	opkey_free(key);
	return rc;
}

/*
 * A ceremony record: verified here (its signatures; with the cluster's role table unless
 * offline) or imported (the coordinator checks it against the role table and audits it).
 */
static int cmd_record(const char *who, const req_opts_t *o, const char *path, bool import)
{
	char *text = NULL, sum[400], why[200];
	size_t len = 0;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	coord_operators_t *ops = calloc(1, sizeof(*ops));
	int rc = EXIT_INPUT;
	int ret = dec == NULL || ops == NULL ? TANDEM_ENOMEM
					     : tandem_file_read(path, 64 * 1024, &text, &len);
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: %s\n", who, path, tandem_strerror(ret));
		goto out;
	}
	if (import) {
		coordrpc_request_t req;
		memset(&req, 0, sizeof(req));
		req.kind = COORDRPC_CEREMONY_RECORD;
		req.doc = (uint8_t *)text; /* borrowed: req is not deinit'd */
		req.doc_len = len;
		rc = decide(who, o, &req, dec);
		if (rc == EXIT_OK) {
			printf("%s\n", dec->text);
		}
		goto out;
	}
	if (!o->offline) {
		rc = get_doc(who, o, COORDRPC_OPERATORS_GET, NULL, dec);
		if (rc != EXIT_OK) {
			goto out;
		}
		if (coord_operators_unpack((const char *)dec->doc, dec->doc_len, ops, why,
					   sizeof(why)) != TANDEM_OK) {
			fprintf(stderr, "%s: the coordinator's role table is unreadable\n", who);
			rc = EXIT_COORD;
			goto out;
		}
	}
	ret = coord_record_check(text, len, o->offline ? NULL : ops, sum, sizeof(sum), why,
				 sizeof(why));
	if (ret != TANDEM_OK) {
		fprintf(stderr, "%s: %s: refused: %s\n", who, path, why);
		rc = ret == TANDEM_EPERM ? EXIT_REFUSED : EXIT_INPUT;
		goto out;
	}
	printf("%s: good%s: %s\n", path, o->offline ? " (signatures only, offline)" : "", sum);
	rc = EXIT_OK;
out:
	coordrpc_decision_deinit(dec);
	free(dec);
	free(ops);
	free(text);
	return rc;
}

int tandemctl_request(int argc, char **argv)
{
	req_opts_t o;
	const char *cmd = argv[0];
	char who[64];
	snprintf(who, sizeof(who), "tandemctl %s", cmd);
	/* options anywhere (getopt permutes): the words stay in argv[optind..] */
	int rc = opts_parse(argc, argv, &o);
	if (rc != EXIT_OK) {
		return rc < 0 ? EXIT_OK : rc;
	}
	int n = argc - optind;
	char **w = argv + optind;
	const char *sub = n > 0 ? w[0] : "";
	if (strcmp(cmd, "approve") == 0 && n == 1) {
		return cmd_approve(who, &o, w[0]);
	}
	if (strcmp(cmd, "operator") == 0) {
		if (strcmp(sub, "keygen") == 0 && n <= 2) {
			return cmd_keygen(who, &o, n == 2 ? w[1] : NULL);
		}
		if (strcmp(sub, "bootstrap") == 0 && n == 2) {
			return cmd_bootstrap(who, &o, w[1]);
		}
		if (strcmp(sub, "list") == 0 && n == 1) {
			return cmd_show(who, &o, COORDRPC_OPERATORS_GET, NULL);
		}
		if (strcmp(sub, "rules") == 0 && n == 1) {
			return cmd_show(who, &o, COORDRPC_OPERATORS_GET, "rules");
		}
		if ((strcmp(sub, "record-verify") == 0 || strcmp(sub, "record-import") == 0) &&
		    n == 2) {
			return cmd_record(who, &o, w[1], sub[7] == 'i');
		}
	}
	if (strcmp(cmd, "request") == 0 && n >= 1) {
		if (strcmp(sub, "list") == 0 && n == 1) {
			return cmd_show(who, &o, COORDRPC_REQUEST_GET, NULL);
		}
		if (strcmp(sub, "show") == 0 && n == 2) {
			return cmd_show(who, &o, COORDRPC_REQUEST_GET, w[1]);
		}
		if (strcmp(sub, "cancel") == 0 && n == 2) {
			coordrpc_request_t req;
			coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
			memset(&req, 0, sizeof(req));
			req.kind = COORDRPC_REQUEST_CANCEL;
			snprintf(req.req_id, sizeof(req.req_id), "%.16s", w[1]);
			rc = dec == NULL ? EXIT_COORD : decide(who, &o, &req, dec);
			if (rc == EXIT_OK) {
				printf("%s\n", dec->text);
			}
			coordrpc_decision_deinit(dec);
			free(dec);
			return rc;
		}
		if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 &&
		    strcmp(sub, "cancel") != 0) {
			return cmd_create(who, &o, n, w);
		}
	}
	usage(stderr);
	return EXIT_USAGE;
}
