/* tandemctl: the operator's command line; dispatches to the command groups. */
#include "tandemctl.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A command: the words that name it (a word in capitals takes any value: `request ACTION`),
 * its arguments, and what it does (may be empty). */
typedef struct ctl_cmd {
	const char *words;
	const char *args;
	const char *what;
} ctl_cmd_t;

/*
 * Every command tandemctl runs, in --help's order. main() hands on only a command named
 * here, so --help cannot miss one the groups accept; integration/test_config.sh runs every
 * line of --help to see that a group takes it. The groups' own usage gives every option.
 */
static const ctl_cmd_t ctl_cmds[] = {
    {"status", "[--json] [--no-keysets]", "members, zones, leases, keys"},
    {"switchover", "--zone Z --to NODE [--wait S]", "planned hand-over of a zone"},
    {"takeover", "--site S --force", "site S takes all; fences the others"},
    {"drain", "NODE", "hand a node's zones over"},
    {"undrain", "NODE", "take it back"},
    {"node remove", "NODE", "forget a member (holding no lease)"},
    {"site suspend", "S", "a lost site out of key acks and leases"},
    {"site resume", "S", "it rejoins them"},
    {"zone add", "Z [--serial N] [--no-compare-digests] [--policy NAME]", "add a zone"},
    {"zone remove", "Z", "remove a zone"},
    {"zone policy", "Z NAME|-", "the zone's signing policy (docs/policy.md)"},
    {"zone accept-input", "Z SERIAL", "accept an input that removes many delegations"},
    {"zone approve", "Z SERIAL", "sign a version a review hook rejected"},
    {"zone reject", "Z SERIAL", "keep it held until a new input"},
    {"policy put", "NAME FILE", "check a policy and store it in the cluster"},
    {"policy list", "", "the cluster's policies, digests and zones"},
    {"policy show", "NAME", "one policy's text"},
    {"cluster production", "[on|off]", "the cluster's production flag (docs/drills.md)"},
    {"cluster params", "--lease-ms MS --margin-ms MS", "the cluster's lease and margin"},
    /* the drills (docs/drills.md), each named: an unknown scenario is an unknown command */
    {"drill switchover-roundtrip", "[--zone Z] [--report DIR] [--really] [--hooks FILE]",
     "drills: to the other site and back"},
    {"drill site-loss", "[options as above]", "every process of the active site stopped"},
    {"drill coordinator-loss", "[options as above]", "the active site's coordinator stopped"},
    {"drill etcd-leader-loss", "[options as above]", "etcd's leader stopped"},
    {"drill partition", "[options as above]", "the active site cut off (--netns)"},
    {"drill hsm-loss", "[options as above]", "the active node's token unavailable"},
    {"drill archive-restore", "[options as above]", "a node rebuilt from the archive"},
    {"drill list", "[--report DIR]", "the reports of past drills"},
    {"net keygen", "--public FILE --secret FILE", "a CURVE key pair"},
    {"audit show", "[--since T] [--type T] [--zone Z] [--json]", "the audit log (docs/audit.md)"},
    {"audit verify", "[--file F] [--against F]", "check the hash chain"},
    {"audit export", "[--since T]", "the log as JSON lines"},
    {"audit keygen", "--secret FILE --public FILE", "an audit anchor key pair"},
    {"audit import-ceremony", "RECORD", "= operator record-import"},
    {"audit verify-ceremony", "RECORD [--offline]", "= operator record-verify"},
    {"audit import-offline", "FILE", "offline commands' entries into the chain"},
    {"operator keygen", "--secret FILE --public FILE | NAME --pkcs11 URI --public FILE",
     "an operator's key pair (in a file or on a token)"},
    {"operator bootstrap", "FILE", "the first role table (docs/approvals.md)"},
    {"operator list", "[--json]", "the operators and their roles"},
    {"operator rules", "", "who approves what"},
    {"operator record-verify", "FILE [--offline]", "check a signed ceremony record"},
    {"operator record-import", "FILE", "check it and write it to the audit log"},
    {"request ACTION", "K=V... [--ttl S]", "ask for an action that needs approvals"},
    {"request list", "[--json]", "the open requests"},
    {"request show", "ID [--json]", "one request"},
    {"request cancel", "ID", "withdraw it"},
    {"approve", "ID --key SECRET|pkcs11:URI [--sign-only] | ID --signature HEX --public FILE", ""},
    {"keys list", "--state DIR [--zone Z]", "keys, states, next transition times"},
    {"keys generate", "--state DIR --zone Z [-p POLICY --token URI]", "keys it asks for"},
    {"keys ds", "--state DIR --zone Z", "DS records (SHA-256) for the parent"},
    {"keys ds-seen", "--state DIR --zone Z --key ID", "the parent serves the DS"},
    {"keys ds-gone", "--state DIR --zone Z --key ID", "the parent no longer serves it"},
    {"keys rollover", "--state DIR --zone Z --role ksk|zsk", "manual rollover"},
    {"keys emergency", "--state DIR --zone Z --key ID", "compromised key"},
    {"keys simulate", "-p POLICY [--years N] [--emergency-zsk D] [--emergency-ksk D]",
     "rollovers on a fake clock"},
    {"keys ksk-import", "--state DIR --zone Z FILE", "record offline KSKs (their DNSKEYs)"},
    {"keys ksr", "--state DIR --zone Z --out FILE", "key signing request for a period"},
    {"keys skr-import", "--state DIR SKR", "check and store a signed key response"},
    {"keys archive-export", "--token URI --out FILE", "tandem keys wrapped under the SMK"},
    {"keys archive-import", "--token URI FILE", "(all or nothing)"},
};

#define CTL_NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static void usage(FILE *fp)
{
	fprintf(fp, "usage: tandemctl COMMAND [options]   (cluster commands: docs/cluster.md)\n"
		    "  --version  the version, then exit\n");
	for (size_t i = 0; i < CTL_NCMDS; i++) {
		const ctl_cmd_t *c = &ctl_cmds[i];
		int n = fprintf(fp, "  %s%s%s", c->words, c->args[0] != '\0' ? " " : "", c->args);
		if (c->what[0] != '\0') {
			/* the description after two spaces at least: the synopsis ends there */
			fprintf(fp, "%*s%s", n < 44 ? 46 - n : 2, "", c->what);
		}
		fputc('\n', fp);
	}
	fprintf(
	    fp,
	    "  (cluster commands take --coord EP[,EP..] --coord-pub FILE[,FILE..] --key SECRET,\n"
	    "   or TANDEM_COORD, TANDEM_COORD_PUB, TANDEM_KEY; keys commands take --cluster\n"
	    "   --zone Z instead of --state DIR: list|ds|ds-seen|ds-gone|rollover|emergency|\n"
	    "   ksk-import|ksr, and skr-import --cluster SKR)\n"
	    "Run 'tandemctl COMMAND --help' (or 'keys COMMAND --help') for its options.\n");
}

/* Whether word is the len-byte command word at name (a word in capitals: any value). */
static bool ctl_word_fits(const char *name, size_t len, const char *word)
{
	if (len > 0 && name[0] >= 'A' && name[0] <= 'Z') {
		return true; /* a value */
	}
	return strlen(word) == len && strncmp(name, word, len) == 0;
}

/*
 * Whether argv names a command of ctl_cmds: its first word, and its second when every
 * command of that group has one. A group given no second word, or an option first, is handed
 * on: it prints its own usage.
 */
static bool ctl_known(int argc, char **argv)
{
	for (size_t i = 0; i < CTL_NCMDS; i++) {
		const char *w = ctl_cmds[i].words;
		const char *sp = strchr(w, ' ');
		size_t len1 = sp != NULL ? (size_t)(sp - w) : strlen(w);
		if (!ctl_word_fits(w, len1, argv[1])) {
			continue;
		}
		if (sp == NULL) {
			return true;
		}
		if (argc < 3 || argv[2][0] == '-' ||
		    ctl_word_fits(sp + 1, strlen(sp + 1), argv[2])) {
			return true;
		}
	}
	return false;
}

int main(int argc, char **argv)
{
	if (tandem_proc_harden() != TANDEM_OK) {
		fprintf(stderr, "%s: cannot disable core dumps\n", argv[0]);
		return 1;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("tandemctl %s\n", TANDEM_VERSION);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && !ctl_known(argc, argv)) {
		fprintf(stderr, "tandemctl: unknown command '%s%s%s'\n", argv[1],
			argc >= 3 ? " " : "", argc >= 3 ? argv[2] : "");
		usage(stderr);
		return 1;
	}
	if (argc >= 2 && strcmp(argv[1], "drill") == 0) {
		static char drill_name[] = "tandemctl drill";
		argv[1] = drill_name;
		return tandemctl_drill(argc - 1, argv + 1);
	}
	if (argc >= 2 && strcmp(argv[1], "audit") == 0) {
		return tandemctl_audit(argc - 1, argv + 1);
	}
	if (argc >= 2 && tandemctl_request_has(argv[1])) {
		return tandemctl_request(argc - 1, argv + 1);
	}
	if (argc >= 2 && strcmp(argv[1], "policy") == 0) {
		return tandemctl_policy(argc - 1, argv + 1);
	}
	if (argc >= 2 && tandemctl_cluster_has(argv[1])) {
		return tandemctl_cluster(argc - 1, argv + 1);
	}
	if (argc < 3 || strcmp(argv[1], "keys") != 0) {
		usage(stderr);
		return 1;
	}
	const char *cmd = argv[2];
	char name[128];
	snprintf(name, sizeof(name), "tandemctl keys %s", cmd);
	argv[2] = name;
	if (tandemctl_keys_state_has(cmd)) {
		return tandemctl_keys_state(cmd, argc - 2, argv + 2);
	}
	if (tandemctl_keys_skr_has(cmd)) {
		return tandemctl_keys_skr(cmd, argc - 2, argv + 2);
	}
	if (tandemctl_keys_archive_has(cmd)) {
		return tandemctl_keys_archive(cmd, argc - 2, argv + 2);
	}
	fprintf(stderr, "tandemctl: unknown command 'keys %s'\n", cmd);
	usage(stderr);
	return 1;
}
