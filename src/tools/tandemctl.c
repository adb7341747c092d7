/* tandemctl: the operator's command line; dispatches to the command groups. */
#include "tandemctl.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandemctl COMMAND [options]   (cluster commands: docs/cluster.md)\n"
	    "  --version                                 the version, then exit\n"
	    "  status [--json] [--no-keysets]            members, zones, leases, keys\n"
	    "  switchover --zone Z --to NODE [--wait S]  planned hand-over of a zone\n"
	    "  takeover --site S --force                 site S takes all; fences the others\n"
	    "  drain NODE | undrain NODE | node remove NODE\n"
	    "  site suspend S | site resume S            a lost site out of key acks and leases\n"
	    "  zone add Z [--serial N] [--no-compare-digests] | zone remove Z\n"
	    "  net keygen --public FILE --secret FILE    a CURVE key pair\n"
	    "  audit show|verify|export|keygen           the audit log (docs/audit.md)\n"
	    "  drill SCENARIO|list [--zone Z] [--report DIR] [--really] [--hooks FILE]\n"
	    "                                            disaster-recovery drills "
	    "(docs/drills.md)\n"
	    "  operator keygen|bootstrap|list, request ACTION K=V...|list|show ID|cancel ID,\n"
	    "  approve ID --key SECRET                   multi-person control (docs/approvals.md)\n"
	    "  (cluster commands take --coord EP[,EP..] --coord-pub FILE[,FILE..] --key SECRET,\n"
	    "   or TANDEM_COORD, TANDEM_COORD_PUB, TANDEM_KEY)\n"
	    "  keys list --state DIR [--zone Z]          keys, states, next transition times\n"
	    "  keys generate --state DIR --zone Z [-p POLICY --token URI]  keys it asks for\n"
	    "  keys ds --state DIR --zone Z              DS records (SHA-256) for the parent\n"
	    "  keys ds-seen | ds-gone --state DIR --zone Z --key ID   the parent's DS changed\n"
	    "  keys rollover --state DIR --zone Z --role ksk|zsk      manual rollover\n"
	    "  keys emergency --state DIR --zone Z --key ID           compromised key\n"
	    "  keys list|ds|ds-seen|ds-gone|rollover|emergency|ksk-import|ksr --cluster --zone Z\n"
	    "  keys skr-import --cluster SKR\n"
	    "                the zone's key set in the cluster instead of --state DIR\n"
	    "                (--coord, --coord-pub, --coord-key SECRET or TANDEM_COORD,\n"
	    "                TANDEM_COORD_PUB, TANDEM_KEY; -p POLICY else the key set's)\n"
	    "  keys simulate -p POLICY [--years N] [--emergency-zsk D] [--emergency-ksk D]\n"
	    "                [--algorithm-rollover D:ALG]   rollovers on a fake clock, checked\n"
	    "  keys ksk-import --state DIR --zone Z FILE  record offline KSKs (their DNSKEYs)\n"
	    "  keys ksr --state DIR --zone Z --out FILE   key signing request for a period\n"
	    "  keys skr-import --state DIR SKR            check and store a signed key response\n"
	    "  keys archive-export --token URI --out FILE  (tandem keys wrapped under the SMK)\n"
	    "  keys archive-import --token URI FILE        (all or nothing)\n"
	    "Run 'tandemctl COMMAND --help' (or 'keys COMMAND --help') for its options.\n");
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
