/* tandemd: the signing node; signs under a zone lease, commits through the coordinator, then
 * publishes. */
#include "conf.h"
#include "tandem_clock.h"
#include "coordrpc.h"
#include "crypto.h"
#include "hsm_smk.h"
#include "kasp_keystate.h"
#include "kasp_policy.h"
#include "kasp_policy_doc.h"
#include "kasp_skr.h"
#include "kasp_store.h"
#include "net_key.h"
#include "net_rpc.h"
#include "tandem_diag.h"
#include "tandem_encode.h"
#include "tandem_arena.h"
#include "tandem_error.h"
#include "tandem_fault.h"
#include "tandem_file.h"
#include "tandem_log.h"
#include "tandem_text.h"
#include "tandemd_alert.h"
#include "tandemd_dist.h"
#include "dns_zone_copy.h"
#include "tandemd_input.h"
#include "tandemd_keys.h"
#include "tandemd_lock.h"
#include "tandem_service.h"
#include "tandemd_metrics.h"
#include "tandemd_sign.h"
#include "tandemd_skr.h"
#include "tandemd_renew.h"
#include "tandemd_watch.h"
#include "tandemd_writer.h"
#include "node.h"
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <openssl/rand.h>

#define TDM_ZONES_MAX  COORD_ZONES_MAX
#define TDM_COORDS_MAX 4
/* How often the cluster state is read: switchovers and failovers are seen this soon. */
#define TDM_STATUS_MS 250u
/* Heartbeats, well inside the coordinator's node timeout. */
#define TDM_HEARTBEAT_MS 2000u
/* Lease requests for a free zone, at most this often. */
#define TDM_REQUEST_MS 250u
/* Lease requests for free zones in one batch, at most (renewals: all that are due). Free zones
 * are granted to whoever asks first: without a bound the node that starts first would take
 * every zone of a new cluster in its first batch, and make and sign for all of them alone. */
#define TDM_BATCH_REQUESTS_MAX 32u
/* Key import, generation and activation, at most this often while incomplete. */
#define TDM_KEYS_MS          1000u
#define TDM_KEYS_WITHHELD_MS 9000u  /* more between key fetches the archive was withheld from */
#define TDM_KEYGEN_TAKE_MS   10000u /* a made key waits this long for its zone's step */
/* The holder's key-state step reads the stored key set again this often (else it steps its
 * last copy): its own writes are conditional on the revision it read, a run reads the set
 * afresh before it signs, and this bounds how late an operator's change (ds-seen) is seen.
 * Reading it every TDM_KEYS_MS cost one coordinator call per held zone per second, which
 * with hundreds of zones kept the loop from its runs. */
#define TDM_KEYSET_REREAD_MS 10000u
/* ... and this often when the status says when each key set was last written
 * (zone.keyset_now): a later write than the node's copy makes it read at once, so the
 * periodic read is only a backstop (at 500 zones the reads every 10 s were some 40 % of a
 * node's coordinator calls). */
#define TDM_KEYSET_REREAD_SAID_MS 120000u
/* After a failed run, the next try (unless the input changes first). */
#define TDM_RETRY_MS 30000u
/* One RPC attempt per coordinator: the loop tries again soon anyway, and a node that
 * waits long on a dead coordinator notices its own lease running out late. */
#define TDM_RPC_TIMEOUT_MS 1000
/* An unanswered renewal is sent again this soon. */
#define TDM_RENEW_RETRY_MS   300u
#define TDM_RELEASE_RETRY_MS 2000u /* a release no coordinator answered, sent again */
/* An offline-KSK zone without a usable pre-signed DNSKEY RRset is looked at again this soon
 * (an operator's skr-import is picked up without waiting for the cycle). */
#define TDM_SKR_RETRY_MS 5000u
/* The default warning margin before the imported SKRs run out (tandem-signzone's). */
#define TDM_SKR_MARGIN_S (3u * 86400u)
#define TDM_CYCLE_S      900u /* the default re-sign cycle */
/* The input watch looks at every input this often (off the main thread). */
#define TDM_INPUT_LOOK_MS 100u
/* A look at an input that has not come back for this long: its file system hangs. */
#define TDM_INPUT_STALL_MS 10000u
/* The main loop's longest sleep; while a run or a key operation is going, its end is
 * looked for this often (with hundreds of small zones a run takes milliseconds). */
#define TDM_TICK_MS      50
#define TDM_TICK_BUSY_MS 5
/* While the HSM does not answer, it is opened again and probed this often. */
#define TDM_HSM_PROBE_MS 3000u
/* A publication that failed for lack of disk space is tried again this soon, then twice as
 * late each time, up to the cycle. */
#define TDM_DISK_RETRY_MS 1000u
/* A signed file that could not be written is tried again 1 s, 2 s, then every 4 s (at most):
 * once space is back the file follows within seconds. */
#define TDM_WRITE_RETRY_MAX_MS 4000u
/* SIGTERM waits this long for the signed files still being written (docs/node.md). */
#define TDM_WRITER_STOP_MS 30000u
/* SIGTERM waits this long for a running run to end, then leaves it (it is never joined). */
#define TDM_STOP_WAIT_MS 2000u
/* The lock files: one process per --work and per --out. */
#define TDM_LOCK_WORK "tandemd.lock"
#define TDM_LOCK_OUT  ".tandemd.lock"

/* --xfr-listen and --tsig-key, and --xfr-acl, at most */
#define TDM_XFR_MAX     8
#define TDM_XFR_ACL_MAX 64
/* --notify, at most */
#define TDM_NOTIFY_MAX 16
/* long options without a letter (input by transfer) */
#define TDM_OPT_PRIMARY     0x1001
#define TDM_OPT_PRIMARY_KEY 0x1002
#define TDM_OPT_NOTIFY_ACL  0x1003
#define TDM_OPT_REVIEW      0x1040 /* --review-listen */
#define TDM_OPT_LOG_LEVEL   0x1041 /* --log-level */
#define TDM_OPT_KEYGEN      0x1030 /* --keygen-workers */
/* Keys made in the HSM at once, each on a thread and session of its own (--keygen-workers). */
#define TDM_KEYGEN_DEFAULT 2u
#define TDM_KEYGEN_MAX     8u

/* The journal's default depth: a day of 15-minute cycles, and 256 MiB. */
#define TDM_JOURNAL_ENTRIES 100u
#define TDM_JOURNAL_BYTES   (256ull << 20)

typedef struct tdm_opts {
	const char *name, *site, *key, *module, *token, *policy, *out, *work, *pid_file;
	const char *smk_check; /* the ceremony's SMK check value, hex; NULL: not checked */
	const char *coord[TDM_COORDS_MAX], *coord_pub[TDM_COORDS_MAX];
	size_t ncoord, ncoord_pub;
	const char *zone[TDM_ZONES_MAX];
	size_t nzone;
	uint64_t cycle_s;
	size_t journal_max_entries; /* the journal's depth (0: no limit) */
	uint64_t journal_max_bytes;
	uint64_t skr_margin_s; /* offline KSK: stop signing this long before the SKRs end */
	unsigned threads;
	unsigned keygen_workers; /* keys made at once (--keygen-workers) */
	const char *metrics;     /* --metrics HOST:PORT, or NULL */
	/* the transfer server (docs/dist.md): --xfr-listen, --tsig-key, --xfr-acl */
	const char *xfr_listen[TDM_XFR_MAX], *tsig_key[TDM_XFR_MAX], *xfr_acl[TDM_XFR_ACL_MAX];
	size_t nxfr_listen, ntsig_key, nxfr_acl;
	const char *notify[TDM_NOTIFY_MAX]; /* --notify: secondaries told of each publication */
	size_t nnotify;
	/* input by transfer (docs/dist.md): --primary ZONE=ADDR:PORT, --primary-tsig-key,
	   --notify-in-acl */
	const char *primary[TDM_ZONES_MAX];
	size_t nprimary;
	const char *primary_key;
	const char *notify_acl[TDM_XFR_ACL_MAX];
	size_t nnotify_acl;
	double max_ixfr_ratio;          /* negative: unlimited */
	tandem_log_target_t log_target; /* --log-target stderr|syslog */
	tandem_log_level_t log_level;   /* --log-level info|notice|warning */
	const char *syslog_socket;      /* --syslog-socket PATH, or NULL: /dev/log */
	const char *review_listen;      /* --review-listen ADDR:PORT (loopback), or NULL */
} tdm_opts_t;

/* A key generation worker (tdm_keygen_ready). */
typedef struct tdm_kgw {
	tdm_keygen_t *g; /* the key being made (NULL: free) */
	char zone[COORD_ZONE_MAX];
	uint32_t id;
	bool failed;         /* ended in an error not yet told at its zone's step */
	uint64_t ended_mono; /* when (it waits this long for its zone) */
	int ret;
	char why[256];
} tdm_kgw_t;

typedef struct tdm_coord {
	const char *endpoint;
	char pub[NET_KEY_Z85_LEN + 1];
	net_rpc_client_t *cl;
} tdm_coord_t;

/* A committed serial held for the compare (NODE_RUN_COMPARE): what publishing it needs. */
typedef struct tdm_held {
	bool on;
	uint32_t serial;
	uint8_t digest[COORD_DIGEST_LEN];
	dns_zone_t *signed_zone;
	dns_digest_t *tree;
	bool journaled; /* its journal entry (journal_from -> serial), dropped if not published */
	uint32_t journal_from;
	bool has_expiry;
	uint32_t expiry_min;
	double seconds;
	uint64_t since_mono; /* held since */
	bool offered; /* a copy is offered to the standby's AXFR of the serial (tdm_dist_hold) */
} tdm_held_t;

typedef struct tdm_zone {
	char name[COORD_ZONE_MAX];
	char input[PATH_MAX];
	char out_path[PATH_MAX];
	char shadow_path[PATH_MAX];
	char journal_path[PATH_MAX];
	journal_t *journal;   /* open across runs (each run borrows it: tdm_sign_t.journal) */
	tdm_input_state_t in; /* the input as last looked at, and the last good copy */
	/* the lease, the run's stage, the timers, the committed and published serials: the
	 * node's state machine decides, this file performs (src/node, docs/node.md) */
	node_zone_t node;
	uint64_t disk_retry_ms;     /* the next wait after a publication that found no space */
	coord_reason_t key_refusal; /* of a key activation: logged once per change */
	double published_unix;      /* when it published last (UNIX seconds), 0: never */
	bool has_expiry;            /* what it published holds RRSIGs: */
	uint32_t expiry_min;        /* their earliest expiration (UNIX seconds) */
	uint64_t sigs[3]; /* RRSIGs of its runs (active and shadow): new, reused, refreshed */
	metrics_histogram_t runs; /* durations of its runs, for metrics */
	/* when a run of this node last passed the whole-zone gate (UNIX seconds; 0: not since
	 * it started): the gate checks the whole zone again when the policy's gate-full is due */
	uint64_t gate_full_unix;
	/* the zone's key state (kasp), as last read or written: the holder runs the machine */
	kasp_keyset_t *ks; /* on the heap */
	int64_t ks_rev;    /* its revision in etcd; 0: none stored */
	bool ks_valid;
	uint64_t ks_read_mono; /* when it was last read or written (TDM_KEYSET_REREAD_MS) */
	size_t status_hint;    /* its index in the last status read (checked before use) */
	uint32_t ds_told;      /* the last DS action logged: key id and kind */
	kasp_action_kind_t ds_told_kind;
	/* keys this node's HSM holds for the zone */
	size_t nkeys;
	tdm_key_t keys[COORD_KEYS_MAX];
	uint64_t next_keys_mono;
	bool keys_due; /* a key of its was made or imported: its key work is done before the pass
			  comes to it (tdm_keys_prompt) */
	uint64_t fetch_after_mono; /* no keys.get before this: one a second, or the archive was
				      withheld (TDM_KEYS_WITHHELD_MS) */
	/* offline KSK: the zone's SKR book as last read, and the last problem logged */
	kasp_skrbook_t book;
	int64_t book_rev;
	bool book_read; /* book is the stored one at book_rev, as read and checked */
	char skr_told[COORD_TEXT_MAX];
	/* the last signed version this node holds that is exactly a committed one (its own
	 * publication, or a shadow run whose digest was the committed digest): the next run
	 * reuses its signatures (docs/node.md, "Incremental signing"). NULL: none. */
	dns_zone_t *last;         /* borrowed from last_ver, which owns it */
	dist_version_t *last_ver; /* the version holding last (a reference) */
	dns_digest_t *last_tree;  /* its digest state (the next digest is updated from it) */
	dns_zone_t *peer_prev;    /* a standby of a zone compared without RRSIGs: the active's
				     version it last verified, the base of its next gate on the
				     active's version (incremental); read by the run */
	/* what the transfer server serves: this node's own last publication (a reference) */
	dist_version_t *served;
	/* its publication as loaded once at start (tdm_files_catch_up, a reference): served
	 * by the transfer server and offered to the zone's first run as its previous version
	 * (tdm_sign_t.boot), so that the file is not loaded again; dropped after that run */
	dist_version_t *boot;
	uint32_t last_serial;
	bool warned_unknown;
	/* taken out of the config on SIGHUP: never looked at, served or counted again. The slot
	 * stays as it is (the lease watch's thread names it, the writer may still write its
	 * last file) and is never reused: a zone added later takes a fresh slot. Its run, if
	 * one was going, is abandoned when it ends (tdm_job_abandon). */
	bool gone;
	/* a release of this epoch got no answer: sent again (tdm_release_retry) until a
	 * coordinator answers, while the node neither holds nor asks for the zone again; 0: none.
	 * Else the node lease it keeps renewing for its other zones keeps this one held too. */
	uint64_t release_owed;
	uint64_t release_next_mono;
	/* a committed serial held until a standby reports the same digest (compare before
	 * publish, docs/node.md): what its run made, taken from the job so that the one runner
	 * is free meanwhile (a standby of another zone may need it to shadow) */
	tdm_held_t held;
	/* the current cycle's timestamps (CLOCK_MONOTONIC ms; 0: not seen), for the line that
	 * says where a cycle's time went: the input's rename (its ctime, wall ms), the watch's
	 * first look at it, the run's start and end, the commit's answer */
	uint64_t cyc_ctime_wall;
	uint64_t cyc_seen_mono;
	uint64_t cyc_start_mono, cyc_end_mono, cyc_finish_mono, cyc_commit_mono;
	/* the signed file, written off the cycle (tdm_t.writer): the writer's results seen so
	 * far, where the last version kept goes, and when a failed write is tried again */
	uint64_t written_seen;
	char write_path[PATH_MAX];
	/* the unsigned zone as last loaded, kept unsigned (owned): an input whose bytes hash to
	 * input_hash is copied from it, not parsed again (docs/node.md) */
	dns_zone_t *input_cache;
	uint8_t input_hash[32];
	dns_signer_owned_t input_owned;
	bool has_input_good; /* input_good: the good copy written of input_cache's bytes */
	tdm_input_id_t input_good;
	bool has_input_id; /* the file input_cache's bytes were last read from */
	tdm_input_id_t input_id;
	int64_t input_ctime_s;
	long input_ctime_ns;
	/* an IXFR received by the transfers in (docs/node.md, "Input by IXFR"): the latest
	 * not yet handed to a run, and the one the current run was handed (both owned) */
	tdm_dist_ixfr_t ixfr, ixfr_run;
	uint64_t write_retry_mono; /* 0: none due */
	uint64_t write_backoff_ms; /* the wait before it, doubled up to TDM_WRITE_RETRY_MAX_MS */
	/* the policy the cluster names for the zone (docs/policy.md, "In a cluster"), as last
	 * fetched and checked (owned); NULL: none named, the node's own (--policy) */
	kasp_policy_t *pol;
	char pol_name[KASP_POLICY_NAME_MAX];
	uint8_t pol_digest[KASP_POLICY_DIGEST_LEN];
	char pol_told[COORD_TEXT_MAX]; /* the last problem logged about it */
} tdm_zone_t;

typedef struct tdm {
	const tdm_opts_t *opts;
	uint32_t site;
	void *zctx;
	net_key_t *key;
	tdm_coord_t coords[TDM_COORDS_MAX];
	size_t ncoords, cur;
	hsm_module_t *module;
	hsm_token_t *token;
	kasp_policy_t policy;
	tandem_diag_t *diag;
	coordrpc_status_t *status; /* the last status read */
	bool have_status;
	uint64_t next_status_mono;
	coordrpc_decision_t *dec;
	coordrpc_keys_t *keys;
	coordrpc_keyset_t *keyset; /* the last key state read */
	kasp_keyset_t *job_ks;     /* the key set of the running run (CDS), its own copy */
	tandem_arena_t *job_arena; /* what the running run's configuration points to */
	uint8_t job_skr_id[COORD_SKR_ID_LEN]; /* the SKR the running run uses (zeros: none) */
	/* the running run's cluster policy (its SHA-256; zeros: the node's own), which its
	 * commit names; a shadow run of a serial signed with another one is not compared */
	uint8_t job_policy[COORD_DIGEST_LEN];
	bool job_policy_differs;
	bool registered;
	uint64_t next_heartbeat_mono;
	uint64_t next_hygiene_mono; /* the next token hygiene check (0: at start) */
	bool has_smk_check;         /* --smk-check: the ceremony's SMK check value */
	uint8_t smk_check[HSM_SMK_CHECK_LEN];
	int last_rpc_error;  /* logged once per change */
	tdm_alerts_t alerts; /* what keeps the node or a zone from signing (status, heartbeat) */
	tdm_alerts_t alerts_sent;       /* as last sent: a change is sent at once */
	tdm_input_watch_t *input_watch; /* stat()s the inputs off this thread */
	tdm_writer_t *writer;           /* writes the signed files off this thread */
	uint64_t input_watch_start;     /* when it started */
	const char *input_paths[TDM_ZONES_MAX];
	tdm_zone_t zones[TDM_ZONES_MAX];
	size_t nzones;
	size_t pass_next; /* the zone the next pass's key work and runs start at */
	size_t keys_next; /* the zone tdm_keys_prompt looks at first */
	/* the one signing run at a time */
	tdm_sign_t job;
	tdm_zone_t *job_zone; /* NULL: idle */
	/* keys being made in the HSM off this thread, each on a session of its own (g NULL: a
	 * free worker); while any is, no run, import or destroy starts; each key joins the
	 * token's key list here, at its reap */
	tdm_kgw_t kgw[TDM_KEYGEN_MAX];
	tdm_keyimport_t *keyimport; /* the same for archived keys being imported (NULL: none) */
	tdm_zone_t *keyimport_zone;
	coordrpc_kind_t lease_kind; /* the lease request or renewal whose answer is being fed */
	const char *lease_text;     /* and the coordinator's text on it */
	/* the lease-first part of a pass gathers the requests and renewals it asks for here and
	 * sends them as one coord.lease.batch (docs/node.md, "Leases") */
	bool lease_batching;
	coordrpc_lease_item_t *batch; /* TDM_ZONES_MAX */
	uint32_t *batch_zone;         /* each item's zone (index in zones) */
	size_t nbatch;
	size_t nbatch_requests;   /* of them, requests for free zones */
	bool lease_feeding;       /* the batch's answers are being fed to the zones */
	uint64_t lease_sent_wall; /* when it was sent (UNIX ms): the watch's deadline */
	char publish_log[PATH_MAX];
	uint64_t job_started_mono; /* when the running run started */
	bool job_overran;          /* it took longer than the policy's max-run-time */
	tdm_watch_t *watch;        /* says "stop publishing" at each lease's deadline */
	tdm_renew_t *renew;        /* renews the held leases off this thread */
	char fault_loop[96];       /* the loop's fault point: "loop-NODE" (tests) */
	const char *renew_ep[TDM_COORDS_MAX], *renew_pub[TDM_COORDS_MAX];
	int lock_fd[2];                  /* --work's and --out's lock files (-1: not held) */
	char instance[TDM_INSTANCE_LEN]; /* this process's random id (coordinators) */
	uint64_t next_hsm_mono;          /* next reopen of a token that went away */
	coordrpc_status_t *status_read;  /* scratch: a status is kept only when fresh */
	tandem_service_t svc;            /* systemd: readiness, status, watchdog */
	metrics_server_t *metrics;       /* --metrics: the last render is served from there */
	tdm_dist_t *dist;                /* --xfr-listen: the transfer server, or NULL */
	tdm_review_srv_t *review;        /* --review-listen: the review port, or NULL */
	dist_xfrin_zone_t *primary;      /* --primary, parsed (npri), for tdm_dist */
	char (*primary_text)[2][PATH_MAX];
	size_t npri;
	uint64_t next_metrics_mono;
	uint64_t hsm_errors;             /* runs and checks that failed in the HSM (metrics) */
	metrics_histogram_t coord_calls; /* each coordinator call's time, for metrics */
	uint64_t runs_failed;            /* runs that failed (metrics) */
	char svc_status[128];            /* the STATUS line last sent */
} tdm_t;

static uint64_t tdm_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One log line (tandem_log: stderr with the UTC time and the node's name, or syslog).
 * Never given secrets. What came from outside (file names, coordinator texts) is escaped: a
 * newline cannot forge another line. */
/* (d unused: the sink knows the node's name, tandem_log_open in main) */
#define tdm_log(d, ...) ((void)(d), tandem_logf(__VA_ARGS__))
/* A routine line (a run's summary, a publication, a file written): level info. */
#define tdm_log_info(d, ...) ((void)(d), tandem_logf_info(__VA_ARGS__))

static void tdm_log_diag(tdm_t *d, const char *what, int rc)
{
	tdm_log(d, "%s: %s", what, tandem_strerror(rc));
	for (size_t i = 0; i < tandem_diag_kept(d->diag); i++) {
		tdm_log(d, "  %s", tandem_diag_msg(d->diag, i));
	}
	tandem_diag_clear(d->diag);
}

static void tdm_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	}
}

/* ---- the coordinators ---------------------------------------------------------------- */

static int tdm_coord_client(tdm_t *d, tdm_coord_t *c)
{
	if (c->cl != NULL) {
		return TANDEM_OK;
	}
	net_rpc_client_cfg_t cfg = {.endpoint = c->endpoint,
				    .server_public = c->pub,
				    .timeout_ms = TDM_RPC_TIMEOUT_MS,
				    .attempts = 1};
	return net_rpc_client_new(d->zctx, d->key, &cfg, &c->cl);
}

/* What tdm_rpc asks, and where the answer goes. */
typedef enum {
	TDM_RPC_DECISION, /* req -> d->dec */
	TDM_RPC_STATUS,   /* -> d->status */
	TDM_RPC_KEYS,     /* req->zone -> d->keys (the archive) */
	TDM_RPC_KEYSET,   /* req->zone -> d->keyset (the key state) */
	TDM_RPC_SKR,      /* req->zone -> d->keyset (the SKR book's bytes) */
} tdm_rpc_t;

/*
 * The node-wide "clock" alert: every coordinator refused this node's messages as sent
 * outside its time window (a clock stepped by more than the window, docs/net.md): the
 * node can reach none of them, so its leases lapse and another site signs. Not blocking
 * (the coordinators never hear of it: the status, metrics and log of this node say it);
 * cleared by the first answer. The offset is the server's "sent at S ms, now N ms".
 */
static void tdm_clock_note(tdm_t *d, bool refused)
{
	if (!refused) {
		if (tdm_alerts_clear(&d->alerts, "", "clock")) {
			tdm_log(d, "clock: the coordinators accept this node's messages again "
				   "(alert clock cleared)");
		}
		return;
	}
	long long off = 0;
	bool known = false;
	for (size_t i = 0; i < tandem_diag_kept(d->diag) && !known; i++) {
		unsigned long long sent, now;
		const char *m = strstr(tandem_diag_msg(d->diag, i), "sent at ");
		if (m != NULL && sscanf(m, "sent at %llu ms, now %llu ms", &sent, &now) == 2) {
			off = ((long long)sent - (long long)now) / 1000;
			known = true;
		}
	}
	char offset[48] = "";
	if (known) {
		snprintf(offset, sizeof(offset), " (this clock %+lld s off theirs)", off);
	}
	if (tdm_alerts_raise(&d->alerts, "", "clock", false,
			     "every coordinator refuses this node's messages as outside its time "
			     "window%s: is this host's clock (NTP) right?",
			     offset)) {
		tdm_log(d,
			"ALERT clock: every coordinator refuses this node's messages as outside "
			"its time window%s: is this host's clock (NTP) right? Its leases lapse; "
			"another site signs",
			offset);
	}
}

/*
 * Sends a request to the current coordinator; when it does not answer or cannot decide
 * (no etcd quorum on its side), to the next one. A refusal is an answer: *dec says it,
 * except a refusal for the coordinator's own clock (COORD_R_CLOCK_SKEW: ask another). A
 * stale status (the coordinator's last known state, not a fresh read) is no answer either:
 * d->status keeps the last fresh one.
 */
static int tdm_rpc_call(tdm_t *d, tdm_rpc_t what, const coordrpc_request_t *req)
{
	int ret = TANDEM_NET_ETIMEOUT;
	size_t stale = 0; /* coordinators that refused the message for its time */
	for (size_t n = 0; n < d->ncoords; n++) {
		tdm_coord_t *c = &d->coords[(d->cur + n) % d->ncoords];
		ret = tdm_coord_client(d, c);
		if (ret != TANDEM_OK) {
			continue;
		}
		switch (what) {
		case TDM_RPC_DECISION:
			coordrpc_decision_deinit(d->dec); /* a batch's results, a document */
			ret = coordrpc_call(c->cl, req, d->diag, d->dec);
			if (ret == TANDEM_OK && !d->dec->accepted &&
			    d->dec->reason == COORD_R_CLOCK_SKEW) {
				tandem_diag_add(d->diag, TANDEM_COORD_EUNAVAIL,
						"coordinator %s: its clock is off: %s", c->endpoint,
						d->dec->text);
				ret = TANDEM_COORD_EUNAVAIL;
			}
			break;
		case TDM_RPC_STATUS:
			ret = coordrpc_call_status(c->cl, d->diag, d->status_read);
			if (ret == TANDEM_OK && d->status_read->stale) {
				tandem_diag_add(d->diag, TANDEM_COORD_EUNAVAIL,
						"coordinator %s: its status is stale (%" PRIu64
						" ms old%s%s)",
						c->endpoint, d->status_read->state_age_ms,
						d->status_read->store_error[0] != '\0' ? ": " : "",
						d->status_read->store_error);
				ret = TANDEM_COORD_EUNAVAIL;
			} else if (ret == TANDEM_OK) {
				coordrpc_status_t *fresh = d->status_read;
				d->status_read = d->status;
				d->status = fresh;
			}
			break;
		case TDM_RPC_KEYS:
			coordrpc_keys_deinit(d->keys);
			ret = coordrpc_call_keys(c->cl, req->zone, d->diag, d->keys);
			break;
		case TDM_RPC_KEYSET:
		case TDM_RPC_SKR:
			coordrpc_keyset_deinit(d->keyset);
			ret = what == TDM_RPC_SKR
				  ? coordrpc_call_skr(c->cl, req->zone, d->diag, d->keyset)
				  : coordrpc_call_keyset(c->cl, req->zone, d->diag, d->keyset);
			break;
		}
		if (ret == TANDEM_OK) {
			if (n > 0 || d->last_rpc_error != TANDEM_OK) {
				tdm_log(d, "coordinator %s answers", c->endpoint);
			}
			d->cur = (d->cur + n) % d->ncoords;
			d->last_rpc_error = TANDEM_OK;
			tandem_diag_clear(d->diag);
			tdm_clock_note(d, false);
			return TANDEM_OK;
		}
		stale += ret == TANDEM_NET_ESTALE;
		/* A client whose request timed out is replaced: its socket may hold the old
		 * request. */
		if (ret == TANDEM_NET_ETIMEOUT) {
			net_rpc_client_free(c->cl);
			c->cl = NULL;
		}
	}
	if (stale > 0 && stale == d->ncoords) {
		tdm_clock_note(d, true); /* before the log below clears the diagnostics */
	}
	if (ret != d->last_rpc_error) {
		tdm_log_diag(d,
			     what == TDM_RPC_STATUS ? "status: no coordinator answered"
						    : "request: no coordinator answered",
			     ret);
		d->last_rpc_error = ret;
	}
	tandem_diag_clear(d->diag);
	return ret;
}

/* A coordinator call (tdm_rpc_call), timed for metrics. */
static int tdm_rpc(tdm_t *d, tdm_rpc_t what, const coordrpc_request_t *req)
{
	double start = tandem_mono_s();
	int ret = tdm_rpc_call(d, what, req);
	metrics_histogram_observe(&d->coord_calls, tandem_mono_s() - start);
	return ret;
}

static void tdm_instance_note(tdm_t *d, coordrpc_kind_t kind);

static int tdm_call(tdm_t *d, const coordrpc_request_t *req)
{
	int ret = tdm_rpc(d, TDM_RPC_DECISION, req);
	if (ret == TANDEM_OK) {
		tdm_instance_note(d, req->kind);
	}
	return ret;
}

static void tdm_req_init(const tdm_t *d, coordrpc_request_t *req, coordrpc_kind_t kind,
			 const tdm_zone_t *z)
{
	memset(req, 0, sizeof(*req));
	req->kind = kind;
	snprintf(req->node, sizeof(req->node), "%s", d->opts->name);
	snprintf(req->instance, sizeof(req->instance), "%s", d->instance);
	if (z != NULL) {
		snprintf(req->zone, sizeof(req->zone), "%s", z->name);
	}
}

/* The policy the zone signs with: the cluster's for it, else the node's own (--policy). */
static const kasp_policy_t *tdm_zpol(const tdm_t *d, const tdm_zone_t *z)
{
	return z != NULL && z->pol != NULL ? z->pol : &d->policy;
}

/* Logs a problem with the zone's cluster policy once (until another is logged). */
static void tdm_policy_tell(tdm_t *d, tdm_zone_t *z, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tdm_policy_tell(tdm_t *d, tdm_zone_t *z, const char *fmt, ...)
{
	char text[COORD_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (strcmp(text, z->pol_told) != 0) {
		tdm_log(d, "zone %s: %s", z->name, text);
		memcpy(z->pol_told, text, sizeof(text));
	}
	/* in status and metrics too; not blocking: the zone is signed with the policy it had */
	(void)tdm_alerts_raise(&d->alerts, z->name, "policy", false, "%s",
			       strncmp(text, "ALERT policy: ", 14) == 0 ? text + 14 : text);
}

/* Compare before publish (docs/node.md): the zone's policy, the cluster's when it names one,
 * else this node's own file; set at start and again whenever the zone's policy changes. */
static void tdm_zone_compare_conf(const tdm_t *d, tdm_zone_t *z)
{
	const kasp_policy_t *pol = tdm_zpol(d, z);
	node_conf_t *nc = &z->node.conf;
	nc->compare = pol->compare == KASP_COMPARE_OFF    ? NODE_COMPARE_OFF
		      : pol->compare == KASP_COMPARE_WAIT ? NODE_COMPARE_WAIT
							  : NODE_COMPARE_REQUIRE;
	nc->compare_timeout_ms = (uint64_t)pol->compare_timeout * 1000u;
}

/*
 * Asks the coordinator which policy the zone signs with (coord.policy.get) before a run:
 * a changed one is checked (its digest, then every rule of --check-config) and used from
 * this run on; one that fails a check, or no answer, keeps the policy the zone had, and
 * says so.
 */
static void tdm_policy_refresh(tdm_t *d, tdm_zone_t *z)
{
	coordrpc_request_t q;
	uint8_t digest[KASP_POLICY_DIGEST_LEN];
	char hex[KASP_POLICY_DIGEST_HEX], label[KASP_POLICY_NAME_MAX + 32];
	const char *text = NULL;
	size_t len = 0;
	tdm_req_init(d, &q, COORDRPC_POLICY_GET, z);
	if (tdm_rpc(d, TDM_RPC_DECISION, &q) != TANDEM_OK) {
		return; /* logged by tdm_rpc; the zone keeps its policy */
	}
	const coordrpc_decision_t *dec = d->dec;
	if (dec->text[0] == '\0') {
		if (z->pol != NULL) {
			tdm_log(d,
				"zone %s: the cluster names no policy for it any more: signs with "
				"this node's own (%s)",
				z->name,
				d->opts->policy != NULL ? d->opts->policy : "the DPS defaults");
			free(z->pol);
			z->pol = NULL;
			z->pol_name[0] = '\0';
			tdm_zone_compare_conf(d, z);
		}
		z->pol_told[0] = '\0';
		(void)tdm_alerts_clear(&d->alerts, z->name, "policy");
		return;
	}
	if (dec->doc == NULL ||
	    kasp_policy_doc_unpack(dec->doc, dec->doc_len, digest, &text, &len) != TANDEM_OK) {
		tdm_policy_tell(
		    d, z,
		    "ALERT policy: the cluster's policy %.64s is %s: keeps signing with "
		    "%s",
		    dec->text, dec->doc == NULL ? "not stored" : "altered (digest)",
		    z->pol != NULL ? z->pol_name : "this node's own");
		return;
	}
	if (z->pol != NULL && memcmp(digest, z->pol_digest, sizeof(digest)) == 0) {
		z->pol_told[0] = '\0';
		(void)tdm_alerts_clear(&d->alerts, z->name, "policy");
		return;
	}
	kasp_policy_t *pol = malloc(sizeof(*pol));
	if (pol == NULL) {
		return;
	}
	snprintf(label, sizeof(label), "cluster policy %.64s", dec->text);
	tandem_diag_clear(d->diag);
	int ret = kasp_policy_parse(label, text, len, d->diag, pol);
	if (ret != TANDEM_OK) {
		tdm_policy_tell(
		    d, z,
		    "ALERT policy: the cluster's policy %.64s sha256=%s is refused here "
		    "(%.80s): keeps signing with %s",
		    dec->text, kasp_policy_digest_hex(digest, hex),
		    tandem_diag_kept(d->diag) > 0 ? tandem_diag_msg(d->diag, 0)
						  : tandem_strerror(ret),
		    z->pol != NULL ? z->pol_name : "this node's own");
		tandem_diag_clear(d->diag);
		free(pol);
		return;
	}
	tandem_diag_clear(d->diag);
	tdm_log(d,
		"zone %s: signs with the cluster's policy %s sha256=%s from this run on (was %s)",
		z->name, dec->text, kasp_policy_digest_hex(digest, hex),
		z->pol != NULL ? z->pol_name : "this node's own");
	free(z->pol);
	z->pol = pol;
	tdm_zone_compare_conf(d, z);
	snprintf(z->pol_name, sizeof(z->pol_name), "%.63s", dec->text);
	memcpy(z->pol_digest, digest, sizeof(digest));
	z->pol_told[0] = '\0';
	(void)tdm_alerts_clear(&d->alerts, z->name, "policy");
}

/* The zone's entry in the last status, or NULL: at its index in the status before (the coordinator
 * lists the zones in one order), else looked for; a look at every zone stays linear, not quadratic,
 * in the number of zones. */
static const coordrpc_zone_status_t *tdm_zone_status(const tdm_t *d, tdm_zone_t *z)
{
	if (!d->have_status) {
		return NULL;
	}
	size_t n = d->status->nzones;
	if (z->status_hint < n && strcmp(d->status->zones[z->status_hint].name, z->name) == 0) {
		return &d->status->zones[z->status_hint];
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(d->status->zones[i].name, z->name) == 0) {
			z->status_hint = i;
			return &d->status->zones[i];
		}
	}
	return NULL;
}

static const coordrpc_node_status_t *tdm_self_status(const tdm_t *d)
{
	if (!d->have_status) {
		return NULL;
	}
	for (size_t i = 0; i < d->status->nnodes; i++) {
		if (strcmp(d->status->nodes[i].name, d->opts->name) == 0) {
			return &d->status->nodes[i];
		}
	}
	return NULL;
}

/* Every alert of the node into a register or heartbeat, texts escaped to printable ASCII. */
static void tdm_alerts_fill(const tdm_t *d, coordrpc_request_t *req)
{
	char safe[4 * COORD_TEXT_MAX];
	req->nalerts = 0;
	for (size_t i = 0; i < d->alerts.n && req->nalerts < COORDRPC_ALERTS_MAX; i++) {
		const tdm_alert_t *a = &d->alerts.a[i];
		coordrpc_alert_t *o = &req->alerts[req->nalerts++];
		snprintf(o->zone, sizeof(o->zone), "%s", a->zone);
		snprintf(o->kind, sizeof(o->kind), "%s", a->kind);
		snprintf(o->text, sizeof(o->text), "%s",
			 tandem_escape(safe, sizeof(safe), a->text));
		o->blocking = a->blocking;
	}
}

/* Registers, or heartbeats once registered. */
static void tdm_heartbeat(tdm_t *d, uint64_t now)
{
	coordrpc_request_t req;
	tdm_req_init(d, &req, d->registered ? COORDRPC_HEARTBEAT : COORDRPC_REGISTER, NULL);
	req.site = d->site;
	req.healthy = d->token != NULL && !tdm_alerts_node_blocked(&d->alerts);
	tdm_alerts_fill(d, &req);
	d->alerts_sent = d->alerts; /* sent now, or with the next heartbeat if unanswered */
	snprintf(req.publish, sizeof(req.publish), "%s", d->opts->out);
	if (d->metrics != NULL) {
		snprintf(req.metrics, sizeof(req.metrics), "%s",
			 metrics_server_address(d->metrics));
	}
	snprintf(req.axfr, sizeof(req.axfr), "%s", tdm_dist_address(d->dist));
	d->next_heartbeat_mono = now + TDM_HEARTBEAT_MS;
	if (tdm_call(d, &req) != TANDEM_OK) {
		return;
	}
	if (!d->dec->accepted) {
		tdm_log(d, "%s refused: %s: %s", coordrpc_type(req.kind),
			coord_reason_str(d->dec->reason), d->dec->text);
		if (d->dec->reason == COORD_R_UNKNOWN_NODE) {
			d->registered = false;
			d->next_heartbeat_mono = now;
		}
		return;
	}
	if (!d->registered) {
		tdm_log(d, "registered at site %c", 'A' + (int)d->site);
	}
	d->registered = true;
}

/* ---- input alerts ---------------------------------------------------------------------- */

/* Raises a zone's input alert; logs it when new or changed (the next heartbeat carries it). */
__attribute__((format(printf, 5, 6))) static void tdm_input_alert(tdm_t *d, const tdm_zone_t *z,
								  const char *kind, bool blocking,
								  const char *fmt, ...)
{
	char text[COORD_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (tdm_alerts_raise(&d->alerts, z->name, kind, blocking, "%s", text)) {
		tdm_log(d, "zone %s: ALERT %s%s: %s", z->name, kind, blocking ? " (blocking)" : "",
			text);
	}
}

static void tdm_input_alert_clear(tdm_t *d, const tdm_zone_t *z, const char *kind)
{
	if (tdm_alerts_clear(&d->alerts, z->name, kind)) {
		tdm_log(d, "zone %s: alert %s cleared", z->name, kind);
	}
}

/* The zone alert "secondary-ahead" (docs/dist.md, "Secondaries"): while this node is the
 * zone's active, a --notify secondary answers a serial above (RFC 1982) the one this node
 * last served; it ignores this node's NOTIFYs and transfers. Not blocking. Cleared when the
 * secondary is at or below it, or when the node is not the active (the other node may be
 * ahead of it, rightly). */
static void tdm_secondary_alerts(tdm_t *d)
{
	for (size_t i = 0; d->dist != NULL && i < d->nzones; i++) {
		tdm_zone_t *z = &d->zones[i];
		if (z->gone) {
			continue;
		}
		tdm_dist_secondary_t s[TDM_METRICS_SECONDARIES_MAX];
		size_t n = tdm_dist_secondaries(d->dist, z->name, s, TDM_METRICS_SECONDARIES_MAX);
		const tdm_dist_secondary_t *ahead = NULL;
		for (size_t k = 0; k < n && k < TDM_METRICS_SECONDARIES_MAX && ahead == NULL; k++) {
			ahead = s[k].ahead ? &s[k] : NULL;
		}
		if (ahead != NULL && z->node.held) {
			tdm_input_alert(d, z, "secondary-ahead", false,
					"secondary %s answers serial %u, above %u this node "
					"published: it ignores this node's NOTIFYs and transfers",
					ahead->name, ahead->serial, ahead->ours);
		} else {
			tdm_input_alert_clear(d, z, "secondary-ahead");
		}
	}
}

/* The zone alert "input-transfer" (docs/dist.md, "Input by transfer"): the zone's primary
 * has given no good SOA answer for longer than its SOA's expire; the node goes on signing
 * the input it has. Not blocking. Cleared at the next good answer. */
static void tdm_xfrin_alerts(tdm_t *d)
{
	for (size_t i = 0; d->dist != NULL && i < d->nzones; i++) {
		tdm_zone_t *z = &d->zones[i];
		dist_xfrin_status_t st;
		if (z->gone || !tdm_dist_xfrin(d->dist, z->name, &st)) {
			continue;
		}
		if (st.expired) {
			tdm_input_alert(
			    d, z, "input-transfer", false,
			    "the primary has not answered well for longer than its SOA's "
			    "expire (%u s; last good answer at UNIX %llu): the input is "
			    "not refreshed, serial %u is signed",
			    st.expire_s, (unsigned long long)st.last_ok_wall_s, st.serial);
		} else {
			tdm_input_alert_clear(d, z, "input-transfer");
		}
	}
}

/* Whether the zone's input keeps this node from signing it at all (no good copy either). */
static bool tdm_input_blocked(const tdm_t *d, const tdm_zone_t *z)
{
	const tdm_alert_t *m = tdm_alerts_find(&d->alerts, z->name, "input-missing");
	const tdm_alert_t *r = tdm_alerts_find(&d->alerts, z->name, "input-not-regular");
	const tdm_alert_t *h = tdm_alerts_find(&d->alerts, z->name, "input-stalled");
	return (m != NULL && m->blocking) || (r != NULL && r->blocking) ||
	       (h != NULL && h->blocking);
}

/* ---- leases ---------------------------------------------------------------------------- */

static void tdm_node_feed(tdm_t *d, tdm_zone_t *z, const node_input_t *in);
static void tdm_node_view(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs, uint64_t now,
			  node_view_t *v);

/* Says the stop of publishing under `epoch` unless the watch said it when the deadline
 * passed. */
static void tdm_lease_stop_say(tdm_t *d, tdm_zone_t *z, bool was_held, uint64_t epoch,
			       const char *why)
{
	tdm_renew_forget(d->renew, (size_t)(z - d->zones)); /* before the watch: see there */
	bool said = tdm_watch_disarm(d->watch, (size_t)(z - d->zones));
	if (was_held && !said) {
		tdm_log(d, "zone %s: stop publishing under epoch %" PRIu64 ": %s", z->name, epoch,
			why);
	}
}

/* The lease is gone outside the node's own decisions (another instance, the zone left the
 * cluster, an overrun): said, and the node told. */
static void tdm_lease_drop(tdm_t *d, tdm_zone_t *z, const char *why)
{
	tdm_lease_stop_say(d, z, z->node.held, z->node.epoch, why);
	node_input_t in = {.kind = NODE_IN_LEASE_LOST};
	tdm_node_feed(d, z, &in);
}

/* The watch's thread, the moment a lease's deadline passes (coord_lease_may_publish turns
 * false): said at once, whatever call the loop waits in. The loop drops the lease when it
 * next looks; nothing is published meanwhile (every publication checks the lease first). */
static void tdm_lease_lapsed(void *arg, size_t slot, uint64_t epoch, uint64_t deadline_wall)
{
	const tdm_t *d = arg;
	char stamp[32];
	tdm_log(d,
		"zone %s: stop publishing under epoch %" PRIu64
		": the lease could not be renewed in time (deadline %s)",
		d->zones[slot].name, epoch, tandem_utc_ms(deadline_wall, stamp, sizeof(stamp)));
}

/* Every lease this node holds goes back to the coordinator (another node need not wait
 * for it to lapse); `why` is logged for each. */
static void tdm_lease_release_all(tdm_t *d, const char *why);

/*
 * Notes what the coordinator said of this process: a refusal because another live
 * instance of this node holds its registration (a second tandemd with this node's key:
 * COORD_R_INSTANCE) raises the node-wide "instance" alert and gives up every lease: this
 * process publishes nothing while refused. An accepted registration or heartbeat clears it.
 */
static void tdm_instance_note(tdm_t *d, coordrpc_kind_t kind)
{
	if (!d->dec->accepted && d->dec->reason == COORD_R_INSTANCE) {
		/* a fixed text: the refusal's (how long ago the other was heard) changes each
		 * time, and the alert is said and reported once */
		if (tdm_alerts_raise(&d->alerts, "", "instance", true,
				     "another instance of node %s is registered and heard from",
				     d->opts->name)) {
			tdm_log(d,
				"ALERT instance: another instance of node %s is running (%s): this "
				"one (%s) publishes nothing while the coordinators refuse it",
				d->opts->name, d->dec->text, d->instance);
		}
		for (size_t i = 0; i < d->nzones; i++) {
			if (!d->zones[i].gone) {
				tdm_lease_drop(d, &d->zones[i],
					       "another instance of this node is running");
			}
		}
	} else if (d->dec->accepted && (kind == COORDRPC_REGISTER || kind == COORDRPC_HEARTBEAT) &&
		   tdm_alerts_clear(&d->alerts, "", "instance")) {
		tdm_log(d, "instance %s accepted: no other instance of node %s is heard from",
			d->instance, d->opts->name);
	}
}

/* Gives the lease back; returns TANDEM_OK when a coordinator answered (the deadline's watch
 * is then disarmed: nothing is left to say). */
static int tdm_release_epoch(tdm_t *d, tdm_zone_t *z, uint64_t epoch)
{
	tdm_renew_forget(d->renew, (size_t)(z - d->zones));
	coordrpc_request_t req;
	tdm_req_init(d, &req, COORDRPC_LEASE_RELEASE, z);
	req.epoch = epoch;
	req.leaving = z->gone; /* no preference window for a node that no longer has it */
	int ret = tdm_call(d, &req);
	if (ret == TANDEM_OK) {
		(void)tdm_watch_disarm(d->watch, (size_t)(z - d->zones));
		z->release_owed = 0;
	} else {
		z->release_owed = epoch;
		z->release_next_mono = tandem_mono_ms() + TDM_RELEASE_RETRY_MS;
	}
	return ret;
}

static int tdm_lease_release_send(tdm_t *d, tdm_zone_t *z)
{
	return tdm_release_epoch(d, z, z->node.epoch);
}

/* The releases that got no answer, sent again: the coordinators count the node lease for
 * every zone the node held (docs/coordinator.md, "A lease per node"), so a zone the node let
 * go without a coordinator hearing it would stay this node's while its other zones are
 * renewed. Never once the node holds or asks for the zone again (tdm_lease_ask clears it). */
static void tdm_release_retry(tdm_t *d, uint64_t now)
{
	for (size_t i = 0; i < d->nzones; i++) {
		tdm_zone_t *z = &d->zones[i];
		if (z->release_owed == 0 || z->node.held || now < z->release_next_mono) {
			continue;
		}
		uint64_t epoch = z->release_owed;
		if (tdm_release_epoch(d, z, epoch) == TANDEM_OK) {
			tdm_log(d, "zone %s: lease released (epoch %" PRIu64 "): %s, sent again",
				z->name, epoch, z->gone ? "removed" : "let go");
		}
	}
}

/* Sends a lease request or renewal and tells the node the answer (or that none came). */
static void tdm_lease_ask(tdm_t *d, tdm_zone_t *z, coordrpc_kind_t kind)
{
	coordrpc_request_t req;
	tdm_req_init(d, &req, kind, z);
	req.epoch = z->node.epoch;
	z->release_owed = 0; /* asked for again: an old release must not follow this request */
	node_input_t in = {.kind = NODE_IN_LEASE_REPLY};
	d->lease_kind = kind;
	d->lease_text = d->dec->text;
	d->lease_sent_wall = tdm_wall_ms();    /* read first: the deadline said is never late */
	in.lease.sent_mono = tandem_mono_ms(); /* the node's deadline counts from the send */
	in.lease.answered = tdm_call(d, &req) == TANDEM_OK;
	if (in.lease.answered) {
		in.lease.accepted = d->dec->accepted;
		in.lease.reason = d->dec->reason;
		in.lease.epoch = d->dec->epoch;
		if (!d->dec->accepted && !z->node.held && d->dec->reason != z->node.last_refusal) {
			tdm_log(d, "zone %s: lease not granted: %s", z->name, d->dec->text);
		}
	}
	tdm_node_feed(d, z, &in);
}

/* A request or renewal asked for while the lease-first part of a pass runs: gathered for
 * the pass's one batch. */
static void tdm_lease_queue(tdm_t *d, tdm_zone_t *z, coordrpc_kind_t kind)
{
	if (d->nbatch >= TDM_ZONES_MAX) {
		tdm_lease_ask(d, z, kind); /* cannot happen: one per zone */
		return;
	}
	if (kind == COORDRPC_LEASE_REQUEST && d->nbatch_requests >= TDM_BATCH_REQUESTS_MAX) {
		return; /* not asked: the zone asks again after TDM_REQUEST_MS, like an unanswered
			   request */
	}
	d->nbatch_requests += kind == COORDRPC_LEASE_REQUEST;
	coordrpc_lease_item_t *it = &d->batch[d->nbatch];
	memset(it, 0, sizeof(*it));
	snprintf(it->zone, sizeof(it->zone), "%s", z->name);
	it->epoch = z->node.epoch;
	it->renew = kind == COORDRPC_LEASE_RENEW;
	d->batch_zone[d->nbatch++] = (uint32_t)(z - d->zones);
}

/*
 * Sends the gathered requests and renewals as one coord.lease.batch and tells each zone its
 * own answer, as if it had asked alone: the deadline of each counts from the one send, a
 * refusal is that zone's alone, and a batch nobody answered is, for every zone in it, a
 * renewal (or request) that got no answer.
 */
static void tdm_lease_batch_send(tdm_t *d)
{
	size_t n = d->nbatch;
	d->nbatch = 0;
	d->nbatch_requests = 0;
	if (n == 0) {
		return;
	}
	coordrpc_request_t req;
	tdm_req_init(d, &req, COORDRPC_LEASE_BATCH, NULL);
	req.items = d->batch;
	req.nitems = n;
	d->lease_sent_wall = tdm_wall_ms(); /* read first: the deadline said is never late */
	uint64_t sent = tandem_mono_ms();   /* every zone's deadline counts from the send */
	bool answered = tdm_call(d, &req) == TANDEM_OK;
	req.items = NULL; /* d's */
	const char **zones = calloc(n, sizeof(*zones));
	node_lease_answer_t *ans = calloc(n, sizeof(*ans));
	node_input_t *in = calloc(n, sizeof(*in));
	/* the texts are copied: a zone's answer may lead to a call that replaces d->dec */
	char(*texts)[COORD_TEXT_MAX] = calloc(n, sizeof(*texts));
	if (zones == NULL || ans == NULL || in == NULL || texts == NULL) {
		answered = false; /* out of memory: taken as lost, sent again at the retry */
	}
	for (size_t i = 0; zones != NULL && ans != NULL && i < n; i++) {
		zones[i] = d->batch[i].zone;
		if (answered && i < d->dec->nleases) {
			const coordrpc_lease_result_t *l = &d->dec->leases[i];
			ans[i] = (node_lease_answer_t){l->zone, l->accepted, l->reason, l->epoch};
		}
	}
	if (answered && !node_lease_batch_replies(zones, n, ans, d->dec->nleases, sent, in)) {
		tdm_log(d,
			"coord.lease.batch: the answer is not one result per zone, in order (%zu "
			"for %zu): taken as no answer",
			d->dec->nleases, n);
		answered = false;
	}
	for (size_t i = 0; answered && i < n; i++) {
		const coordrpc_lease_result_t *l = &d->dec->leases[i];
		memcpy(texts[i], l->text, sizeof(texts[i]));
		if (l->reason == COORD_R_INSTANCE && d->dec->accepted) {
			/* another instance of this node holds the registration: as for a single
			 * request, every lease goes */
			d->dec->accepted = false;
			d->dec->reason = COORD_R_INSTANCE;
			memcpy(d->dec->text, l->text, sizeof(d->dec->text));
			tdm_instance_note(d, COORDRPC_LEASE_BATCH);
		}
	}
	/* Nothing below reads d->dec: feeding a zone may lead to a call (a renewal that came
	 * due while the batch was out goes alone) that replaces it. */
	d->lease_feeding = true;
	for (size_t i = 0; i < n; i++) {
		tdm_zone_t *z = &d->zones[d->batch_zone[i]];
		node_input_t lost = {.kind = NODE_IN_LEASE_REPLY};
		lost.lease.sent_mono = sent;
		const node_input_t *one = answered ? &in[i] : &lost;
		d->lease_kind = d->batch[i].renew ? COORDRPC_LEASE_RENEW : COORDRPC_LEASE_REQUEST;
		d->lease_text = answered ? texts[i] : "";
		if (answered && !one->lease.accepted && !z->node.held &&
		    one->lease.reason != z->node.last_refusal) {
			tdm_log(d, "zone %s: lease not granted: %s", z->name, d->lease_text);
		}
		tdm_node_feed(d, z, one);
	}
	d->lease_feeding = false;
	free(zones);
	free(ans);
	free(in);
	free(texts);
	d->lease_text = NULL;
}

/* The node let the lease go (the deadline, a refusal, a run that ended after it): said. */
static void tdm_lease_dropped(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	char why[COORD_TEXT_MAX + 96], stamp[32];
	const node_view_t *v = &z->node.view;
	switch (a->why) {
	case NODE_WHY_DEADLINE: {
		uint64_t now = tandem_mono_ms();
		uint64_t deadline = z->node.granted_mono + v->lease_ms - v->margin_ms;
		uint64_t wall = tdm_wall_ms() - (now > deadline ? now - deadline : 0);
		snprintf(why, sizeof(why), "the lease could not be renewed in time (deadline %s)",
			 tandem_utc_ms(wall, stamp, sizeof(stamp)));
		break;
	}
	case NODE_WHY_REFUSED:
		snprintf(why, sizeof(why), "%s refused: %s", coordrpc_type(d->lease_kind),
			 d->lease_text != NULL ? d->lease_text : d->dec->text);
		break;
	case NODE_WHY_COORD_GONE:
		snprintf(why, sizeof(why), "the coordinator says the lease is gone");
		break;
	case NODE_WHY_LOST:
		tdm_log(d, "zone %s: serial %u signed but not published: the lease was lost",
			z->name, a->serial);
		snprintf(why, sizeof(why), "the lease could not be renewed in time");
		break;
	case NODE_WHY_LATE:
		tdm_log(d, "zone %s: serial %u committed but not published: the lease ran out",
			z->name, a->serial);
		snprintf(why, sizeof(why), "the lease could not be renewed in time");
		break;
	default: snprintf(why, sizeof(why), "the lease is gone"); break;
	}
	tdm_lease_stop_say(d, z, a->was_held, a->epoch, why);
}

/* A grant or renewal: the watch says the stop at the new deadline. */
static void tdm_lease_granted(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	if (a->new_epoch) {
		tdm_log(d, "zone %s: lease granted, epoch %" PRIu64, z->name, a->epoch);
	}
	const node_view_t *v = &z->node.view;
	uint64_t until = v->lease_ms - v->margin_ms;
	uint64_t sent = z->node.granted_mono;
	(void)tdm_watch_disarm(d->watch, (size_t)(z - d->zones));
	tdm_watch_arm(d->watch, (size_t)(z - d->zones), sent + until, d->lease_sent_wall + until,
		      a->epoch);
	/* from now on the renewal thread renews it */
	tdm_renew_hold(d->renew, (size_t)(z - d->zones), z->name, a->epoch, sent, v->lease_ms,
		       v->margin_ms);
}

/* The node gives the lease back: the input cannot be read, or an operator switches over. */
static void tdm_lease_released(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	if (a->why == NODE_WHY_INPUT_BLOCKED) {
		tdm_log(d, "zone %s: releasing the lease: this node cannot read its input",
			z->name);
		(void)tdm_lease_release_send(d, z);
		return;
	}
	const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
	tdm_log(d, "zone %s: handing over to %s after serial %u", z->name,
		zs != NULL ? zs->switch_to : "another node", z->node.published_serial);
	(void)tdm_lease_release_send(d, z);
	(void)tdm_watch_disarm(d->watch, (size_t)(z - d->zones));
}

/* ---- keys ------------------------------------------------------------------------------ */

static const tdm_key_t *tdm_key_local(const tdm_zone_t *z, uint32_t id)
{
	for (size_t i = 0; i < z->nkeys; i++) {
		if (z->keys[i].id == id) {
			return &z->keys[i];
		}
	}
	return NULL;
}

static bool tdm_key_acked_by(const coordrpc_key_status_t *k, const char *node)
{
	for (size_t i = 0; i < k->nacks; i++) {
		if (strcmp(k->acks[i], node) == 0) {
			return true;
		}
	}
	return false;
}

static void tdm_key_remember(tdm_zone_t *z, const tdm_key_t *k)
{
	if (tdm_key_local(z, k->id) == NULL && z->nkeys < COORD_KEYS_MAX) {
		z->keys[z->nkeys++] = *k;
	}
}

/* Reads the zone's key state; none stored yet gives an empty key set at revision 0. */
static int tdm_keyset_fetch(tdm_t *d, tdm_zone_t *z)
{
	coordrpc_request_t q;
	tdm_req_init(d, &q, COORDRPC_KEYSET_GET, z);
	int ret = tdm_rpc(d, TDM_RPC_KEYSET, &q);
	if (ret != TANDEM_OK) {
		return ret;
	}
	char what[COORD_ZONE_MAX + 32];
	snprintf(what, sizeof(what), "key set of %s", z->name);
	if (d->keyset->revision == 0) {
		ret = kasp_keyset_init(z->ks, z->name);
		if (ret == TANDEM_OK && d->opts->policy != NULL) {
			snprintf(z->ks->policy_path, sizeof(z->ks->policy_path), "%s",
				 d->opts->policy);
		}
	} else {
		ret = kasp_keyset_unpack(d->keyset->keyset, d->keyset->keyset_len, what, d->diag,
					 z->ks);
	}
	if (ret != TANDEM_OK || strcasecmp(z->ks->zone, z->name) != 0) {
		ret = ret != TANDEM_OK ? ret : TANDEM_KASP_ESTATE;
		tdm_log_diag(d, what, ret);
		z->ks_valid = false;
		return ret;
	}
	z->ks_rev = d->keyset->revision;
	z->ks_valid = true;
	z->ks_read_mono = tandem_mono_ms();
	return TANDEM_OK;
}

/* Makes key `id` in this HSM and wraps it into the cluster's archive (coord.key.add); *k
 * describes it. An earlier try's key under the same label is taken again. */
static int tdm_key_make(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs,
			const kasp_action_t *a, uint32_t id, uint64_t now, tdm_key_t *k)
{
	kasp_key_policy_t kp = {.algorithm = a->algorithm, .bits = a->bits};
	archive_role_t role = a->role == KASP_ROLE_KSK ? ARCHIVE_ROLE_KSK : ARCHIVE_ROLE_ZSK;
	coordrpc_request_t req;
	tdm_req_init(d, &req, COORDRPC_KEY_ADD, z);
	int ret = tdm_keys_generate(d->token, z->name, id, role, &kp, now, d->diag, k, &req.archive,
				    &req.archive_len);
	if (ret != TANDEM_OK) {
		tdm_log_diag(d, "key generation failed", ret);
		return ret;
	}
	req.key_id = id;
	req.key_tag = k->tag;
	ret = tdm_call(d, &req);
	coordrpc_request_deinit(&req);
	if (ret != TANDEM_OK) {
		return ret;
	}
	/* Archived by an earlier try whose key-set write lost a race: the same key (its label
	 * was reused), so the same tag. */
	bool ours = false;
	for (size_t i = 0; i < zs->nkeys && d->dec->reason == COORD_R_EXISTS; i++) {
		ours = ours || (zs->keys[i].id == id && zs->keys[i].tag == k->tag);
	}
	tdm_log(d, "zone %s: %s key %u (tag %u) %s: %s", z->name, archive_role_str(role), id,
		k->tag, d->dec->accepted || ours ? "made and archived" : "not archived",
		d->dec->text);
	if (!d->dec->accepted && !ours) {
		return TANDEM_EPERM;
	}
	tdm_key_remember(z, k);
	return TANDEM_OK;
}

/* Whether the zone's KSKs are held offline (an offline-KSK zone signs its DNSKEY RRset
 * with an SKR). */
static bool tdm_zone_offline(const tdm_zone_t *z)
{
	return z->ks_valid && kasp_keyset_offline(z->ks);
}

/* Says once (until it changes or clears) what keeps an offline-KSK zone from signing. */
static void tdm_skr_tell(tdm_t *d, tdm_zone_t *z, const char *text)
{
	if (strcmp(z->skr_told, text) != 0) {
		snprintf(z->skr_told, sizeof(z->skr_told), "%s", text);
		if (text[0] != '\0') {
			tdm_log(d, "zone %s: %s", z->name, text);
		}
	}
}

/* Makes the key a GENERATE action asks for (tdm_key_make), then records it in the key set. An
 * offline-KSK zone's KSKs are made at a KSK ceremony, never here. */
static int tdm_keyset_generate(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs,
			       kasp_keyset_t *set, const kasp_action_t *a, uint64_t now)
{
	if (a->role == KASP_ROLE_KSK && tdm_zone_offline(z)) {
		tdm_skr_tell(
		    d, z,
		    "ALERT: the key-state machine wants a new KSK: an offline-KSK zone's KSKs "
		    "are made at a KSK ceremony and imported (tandemctl keys ksk-import "
		    "--cluster)");
		return TANDEM_EPERM;
	}
	uint32_t id = set->next_id;
	tdm_key_t k;
	int ret = tdm_key_make(d, z, zs, a, id, now, &k);
	if (ret != TANDEM_OK) {
		return ret;
	}
	uint8_t dnskey[HSM_DNSKEY_MAX];
	size_t len = sizeof(dnskey);
	ret = hsm_key_dnskey_rdata(k.key, a->role == KASP_ROLE_KSK ? 257 : 256, dnskey, &len);
	uint32_t got = 0;
	if (ret == TANDEM_OK) {
		ret = kasp_keyset_add(set, a->role, a->algorithm, a->bits, hsm_key_label(k.key),
				      dnskey, len, false, now, &got);
	}
	if (ret == TANDEM_OK && got != id) {
		ret = TANDEM_EINTERNAL;
	}
	if (ret != TANDEM_OK) {
		tdm_log(d, "zone %s: key %u cannot join the key set: %s", z->name, id,
			tandem_strerror(ret));
	}
	return ret;
}

static void tdm_hsm_check(tdm_t *d, int ret);

/* Whether a key is being made or imported off this thread: the token's admin session and
 * key list are its own meanwhile. */
static bool tdm_hsm_busy(const tdm_t *d)
{
	bool making = false;
	for (size_t i = 0; i < TDM_KEYGEN_MAX; i++) {
		making = making || d->kgw[i].g != NULL;
	}
	return making || d->keyimport != NULL;
}

/* Whether some zone's run (active or shadow) could start but for key work holding the runner
 * (node_view_t.runner_busy): no new key generation or import starts meanwhile. Runs come
 * first: a standby's shadow run that waited behind the imports of other zones' keys outlasted
 * the compare timeout at 500 zones, and the serial went out uncompared. */
static bool tdm_runs_wait(const tdm_t *d)
{
	for (size_t i = 0; i < d->nzones; i++) {
		if (!d->zones[i].gone && d->zones[i].node.run_waits) {
			return true;
		}
	}
	return false;
}

/*
 * Whether key `id` the key-state machine asks for is on the token, made off this thread: the
 * first ask starts its generation on a free worker (tdm_keygen_start: up to --keygen-workers
 * keys of different zones at once, each on an HSM session of its own) and says not ready; the
 * key joins the token's key list when its worker is reaped, and the key-state step that asks
 * again then goes on (tdm_keys_generate finds it and only wraps it). With no free worker the
 * ask waits its turn. Errors: the generation's (logged here, once), or starting its thread.
 */
static int tdm_keygen_ready(tdm_t *d, tdm_zone_t *z, const kasp_action_t *a, uint32_t id,
			    bool *ready)
{
	*ready = false;
	if (d->keyimport != NULL) {
		return TANDEM_OK; /* the import's thread has the key list */
	}
	if (tdm_keys_have(d->token, z->name, id)) {
		*ready = true;
		return TANDEM_OK;
	}
	if (tdm_runs_wait(d)) {
		return TANDEM_OK; /* asked again at the zone's next step */
	}
	uint64_t now = tandem_mono_ms();
	size_t free_at = TDM_KEYGEN_MAX;
	for (size_t i = 0; i < d->opts->keygen_workers && i < TDM_KEYGEN_MAX; i++) {
		tdm_kgw_t *w = &d->kgw[i];
		bool mine = w->id == id && strcmp(w->zone, z->name) == 0;
		if (w->g != NULL && mine) {
			return TANDEM_OK; /* being made */
		}
		if (w->failed && mine) {
			w->failed = false;
			tdm_log(d, "zone %s: key %u: key generation failed: %s", z->name, id,
				w->why);
			tdm_hsm_check(d, w->ret);
			return w->ret;
		}
		/* another zone's failure waits a while to be said at its zone's step */
		bool taken =
		    w->g != NULL || (w->failed && now - w->ended_mono < TDM_KEYGEN_TAKE_MS);
		if (!taken && free_at == TDM_KEYGEN_MAX) {
			free_at = i;
		}
	}
	if (free_at == TDM_KEYGEN_MAX) {
		return TANDEM_OK; /* every worker busy: asked again at the zone's next step */
	}
	tdm_kgw_t *w = &d->kgw[free_at];
	kasp_key_policy_t kp = {.algorithm = a->algorithm, .bits = a->bits};
	w->failed = false;
	int ret = tdm_keygen_start(d->token, z->name, id, &kp, &w->g);
	if (ret != TANDEM_OK) {
		tdm_log(d, "zone %s: key %u: cannot start its generation: %s", z->name, id,
			tandem_strerror(ret));
		return ret;
	}
	snprintf(w->zone, sizeof(w->zone), "%s", z->name);
	w->id = id;
	tdm_log(d, "zone %s: making %s key %u in the HSM (off the lease thread, worker %zu)",
		z->name, a->role == KASP_ROLE_KSK ? "KSK" : "ZSK", id, free_at + 1);
	return TANDEM_OK;
}

/* Each key generation that ended is joined and its key put in the token's key list; its
 * zone's next key-state step takes it. Not while an import runs (it has the key list). */
static void tdm_keygen_reap(tdm_t *d)
{
	if (d->keyimport != NULL) {
		return; /* the import's thread has the key list: reaped when it ends */
	}
	for (size_t k = 0; k < TDM_KEYGEN_MAX; k++) {
		tdm_kgw_t *w = &d->kgw[k];
		if (w->g == NULL || !tdm_keygen_done(w->g)) {
			continue;
		}
		w->ret = tdm_keygen_finish(w->g, w->why, sizeof(w->why));
		w->g = NULL;
		w->failed = w->ret != TANDEM_OK;
		w->ended_mono = tandem_mono_ms();
		for (size_t i = 0; i < d->nzones; i++) {
			if (strcmp(d->zones[i].name, w->zone) == 0) {
				d->zones[i].next_keys_mono = 0; /* its step takes the key now */
				d->zones[i].keys_due = true;
			}
		}
	}
}

/* Keys the stored key set has removed are retired in the coordinator's key table (their acks
 * no longer gate leases; every node destroys them in its HSM), and leave it with their archive
 * entry once the policy's keys.archive-retention has passed (the table holds COORD_KEYS_MAX
 * keys). */
static void tdm_keyset_forget_removed(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	if (!z->ks_valid) {
		return;
	}
	uint64_t now = (uint64_t)time(NULL);
	for (size_t i = 0; i < zs->nkeys; i++) {
		const kasp_key_t *k = kasp_keyset_find(z->ks, zs->keys[i].id);
		if (k == NULL || k->state != KASP_KEY_REMOVED) {
			continue;
		}
		coordrpc_request_t req;
		if (zs->keys[i].retired) {
			if (now < k->removed + tdm_zpol(d, z)->archive_retention) {
				continue;
			}
			tdm_req_init(d, &req, COORDRPC_KEY_PURGE, z);
			req.key_id = k->id;
			req.retention_ms = (uint64_t)tdm_zpol(d, z)->archive_retention * 1000u;
			if (tdm_call(d, &req) == TANDEM_OK && d->dec->accepted) {
				tdm_log(d, "zone %s: key %u (tag %u) purged: %s", z->name, k->id,
					k->tag, d->dec->text);
			}
			continue;
		}
		tdm_req_init(d, &req, COORDRPC_KEY_REMOVE, z);
		req.key_id = k->id;
		if (tdm_call(d, &req) == TANDEM_OK) {
			tdm_log(d, "zone %s: key %u (tag %u) %s in the cluster's key table: %s",
				z->name, k->id, k->tag,
				d->dec->accepted ? "retired" : "not retired", d->dec->text);
		}
	}
}

/* The holder's conditional write of a zone document (key set or SKR book) under its epoch,
 * at the revision it read; takes the packed bytes (freed here). The decision is in d->dec. */
static int tdm_doc_put(tdm_t *d, tdm_zone_t *z, coordrpc_kind_t kind, int64_t revision,
		       uint8_t *bytes, size_t len)
{
	coordrpc_request_t req;
	tdm_req_init(d, &req, kind, z);
	req.epoch = z->node.epoch;
	req.revision = revision;
	req.keyset = bytes;
	req.keyset_len = len;
	int ret = tdm_call(d, &req);
	coordrpc_request_deinit(&req);
	return ret;
}

/*
 * The holder runs the key-state machine (docs/keys.md) on the cluster's copy: records
 * which keys every site holds (the coordinator's activation), steps it at `now`, makes
 * the keys it asks for, and writes it back at the revision it read. A lost race (another
 * writer, an operator's ds-seen) is read again next time.
 */
static void tdm_keyset_step(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	/* read again when the status shows a later write than this copy (an operator's, the
	 * old holder's); now and then anyway, more often from a coordinator that does not say */
	uint64_t reread = zs->keyset_now > 0 ? TDM_KEYSET_REREAD_SAID_MS : TDM_KEYSET_REREAD_MS;
	if ((!z->ks_valid || zs->keyset_now > z->ks_rev ||
	     tandem_mono_ms() - z->ks_read_mono >= reread) &&
	    tdm_keyset_fetch(d, z) != TANDEM_OK) {
		return;
	}
	uint64_t now = (uint64_t)time(NULL);
	kasp_keyset_t *next = d->job_ks; /* scratch: no run is going on */
	kasp_step_t *step = calloc(1, sizeof(*step));
	if (step == NULL) {
		return;
	}
	bool changed = false;
	for (size_t i = 0; i < z->ks->count; i++) {
		kasp_key_t *k = &z->ks->keys[i];
		for (size_t j = 0; j < zs->nkeys && !k->imported; j++) {
			if (zs->keys[j].id == k->id && zs->keys[j].active) {
				(void)kasp_keyset_imported(z->ks, k->id);
				changed = true;
				tdm_log(d, "zone %s: key %u imported at every site", z->name,
					k->id);
			}
		}
	}
	int ret = kasp_keystate_step(z->ks, tdm_zpol(d, z), now, next, step);
	if (ret != TANDEM_OK) {
		tdm_log(d, "zone %s: key-state step: %s", z->name, tandem_strerror(ret));
		goto out;
	}
	changed = changed || step->nchanges > 0;
	for (size_t i = 0; i < step->nchanges; i++) {
		const kasp_change_t *c = &step->changes[i];
		tdm_log(d, "zone %s: key %u %s -> %s (ds %s -> %s): %s", z->name, c->key_id,
			kasp_key_state_str(c->from), kasp_key_state_str(c->to),
			kasp_ds_state_str(c->ds_from), kasp_ds_state_str(c->ds_to), c->why);
	}
	/* keys asked after one being made: their generations start too, with the ids they will
	 * get (a zone's KSK and ZSK are made at once, not one step after the other) */
	uint32_t ahead = 0;
	bool waiting = false;
	for (size_t i = 0; i < step->nactions; i++) {
		const kasp_action_t *a = &step->actions[i];
		if (waiting) {
			bool ready = false;
			if (a->kind == KASP_ACTION_GENERATE &&
			    !(a->role == KASP_ROLE_KSK && tdm_zone_offline(z))) {
				(void)tdm_keygen_ready(d, z, a, next->next_id + ++ahead, &ready);
			}
			continue; /* the step goes on once the first is made */
		}
		if (a->kind == KASP_ACTION_GENERATE) {
			bool ready = a->role == KASP_ROLE_KSK && tdm_zone_offline(z);
			if (!ready &&
			    (tdm_keygen_ready(d, z, a, next->next_id, &ready) != TANDEM_OK ||
			     !ready)) {
				waiting = true; /* being made off this thread */
				continue;
			}
			int made = tdm_keyset_generate(d, z, zs, next, a, now);
			if (made == TANDEM_EPERM && a->role == KASP_ROLE_KSK &&
			    tdm_zone_offline(z)) {
				continue; /* the ceremony's; the ZSKs still get made */
			}
			if (made != TANDEM_OK) {
				break;
			}
			changed = true;
		} else if (z->ds_told != a->key_id || z->ds_told_kind != a->kind) {
			/* said once per key and change, not at every step */
			z->ds_told = a->key_id;
			z->ds_told_kind = a->kind;
			kasp_key_t *k = kasp_keyset_find(next, a->key_id);
			tdm_log(d,
				"zone %s: the parent must %s the DS of key %u (tag %u); %s; then: "
				"tandemctl keys %s --cluster --zone %s --key %u",
				z->name, a->kind == KASP_ACTION_DS_SUBMIT ? "add" : "remove",
				a->key_id, k != NULL ? k->tag : 0,
				tdm_zone_offline(z) ? "tell it out of band (an offline-KSK zone "
						      "publishes no CDS/CDNSKEY)"
						    : "CDS/CDNSKEY are published",
				a->kind == KASP_ACTION_DS_SUBMIT ? "ds-seen" : "ds-gone", z->name,
				a->key_id);
		}
	}
	if (!changed) {
		goto out;
	}
	uint8_t *bytes = NULL;
	size_t len = 0;
	ret = kasp_keyset_pack(next, &bytes, &len);
	if (ret == TANDEM_OK) {
		ret = tdm_doc_put(d, z, COORDRPC_KEYSET_PUT, z->ks_rev, bytes, len);
	}
	if (ret != TANDEM_OK) {
		z->ks_valid = false;
		goto out;
	}
	if (!d->dec->accepted) {
		tdm_log(d, "zone %s: key set not written: %s", z->name, d->dec->text);
		z->ks_valid = false;
		goto out;
	}
	memcpy(z->ks, next, sizeof(*next));
	z->ks_rev = d->dec->revision;
	z->ks_read_mono = tandem_mono_ms();
out:
	free(step);
	tdm_keyset_forget_removed(d, z, zs);
}

/* ---- offline KSK ----------------------------------------------------------------------- */

/* Reads the zone's SKR book (none stored: an empty one at revision 0). A book at the
 * revision already read and checked is kept, not unpacked and its signatures verified
 * again (the holder looks every second). */
static int tdm_book_fetch(tdm_t *d, tdm_zone_t *z)
{
	coordrpc_request_t q;
	tdm_req_init(d, &q, COORDRPC_SKR_GET, z);
	int ret = tdm_rpc(d, TDM_RPC_SKR, &q);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (z->book_read && d->keyset->revision == z->book_rev) {
		return TANDEM_OK;
	}
	kasp_skrbook_deinit(&z->book);
	z->book_rev = 0;
	z->book_read = false;
	if (d->keyset->revision == 0) {
		ret = kasp_skrbook_init(&z->book, z->name);
	} else {
		ret = kasp_skrbook_unpack(d->keyset->keyset, d->keyset->keyset_len, z->name,
					  d->diag, &z->book);
	}
	if (ret != TANDEM_OK) {
		char what[COORD_ZONE_MAX + 32];
		snprintf(what, sizeof(what), "SKR book of %s", z->name);
		tdm_log_diag(d, what, ret);
		return ret;
	}
	z->book_rev = d->keyset->revision;
	z->book_read = true;
	return TANDEM_OK;
}

typedef struct tdm_plan_ctx {
	tdm_t *d;
	tdm_zone_t *z;
	const coordrpc_zone_status_t *zs;
	uint64_t now;
} tdm_plan_ctx_t;

/* kasp_skr_plan's generate: a future ZSK, made and archived now under the label and id the
 * key-state machine will give it (it is taken again, not made anew, when its time comes). */
static int tdm_plan_generate(void *arg, const kasp_action_t *action, uint32_t id, char *label,
			     uint8_t *dnskey, size_t *dnskey_len)
{
	tdm_plan_ctx_t *c = arg;
	tdm_key_t k;
	int ret = tdm_key_make(c->d, c->z, c->zs, action, id, c->now, &k);
	if (ret == TANDEM_OK) {
		snprintf(label, KASP_LABEL_MAX, "%s", hsm_key_label(k.key));
		ret = hsm_key_dnskey_rdata(k.key, action->role == KASP_ROLE_KSK ? 257 : 256, dnskey,
					   dnskey_len);
	}
	return ret;
}

/*
 * The holder answers an operator's ask for a key signing request (tandemctl keys ksr
 * --cluster): plans the period on the zone's key set, makes the future ZSKs the plan
 * needs, and records the request under the ask's id in the book, or the reason it cannot.
 */
static void tdm_skr_step(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	if (!tdm_zone_offline(z) || tdm_book_fetch(d, z) != TANDEM_OK) {
		return;
	}
	kasp_skrbook_t *b = &z->book;
	if (!b->has_ask || b->ask.refused[0] != '\0' || kasp_skrbook_find(b, b->ask.id) >= 0) {
		return;
	}
	z->book_read = false; /* changed here: read it again after the write, won or lost */
	uint64_t now = (uint64_t)time(NULL);
	tdm_plan_ctx_t ctx = {.d = d, .z = z, .zs = zs, .now = now};
	kasp_skr_t *req = calloc(1, sizeof(*req));
	uint8_t *buf = NULL;
	size_t len = 0;
	tandem_diag_clear(d->diag);
	int ret = req == NULL ? TANDEM_ENOMEM
			      : kasp_skr_plan(z->ks, tdm_zpol(d, z), &b->ask.plan,
					      tdm_plan_generate, &ctx, d->diag, req);
	if (ret == TANDEM_OK) {
		memcpy(req->request_id, b->ask.id, KASP_SKR_ID_LEN);
		req->created = now;
		ret = kasp_skr_encode(req, &buf, &len);
	}
	if (ret == TANDEM_OK) {
		ret = kasp_skrbook_add_request(b, buf, len, now, d->diag);
	}
	if (ret == TANDEM_OK) {
		b->has_ask = false;
		tdm_log(d, "zone %s: key signing request made: %zu slots from %" PRIu64, z->name,
			req->nslots, req->slots[0].start);
	} else {
		const char *why = tandem_diag_msg(d->diag, 0);
		snprintf(b->ask.refused, sizeof(b->ask.refused), "%s",
			 why != NULL ? why : tandem_strerror(ret));
		tdm_log(d, "zone %s: key signing request refused: %s", z->name, b->ask.refused);
	}
	free(buf);
	buf = NULL;
	kasp_skr_free(req);
	tandem_diag_clear(d->diag);
	ret = kasp_skrbook_pack(b, &buf, &len);
	if (ret == TANDEM_ERANGE && tdm_book_fetch(d, z) == TANDEM_OK && b->has_ask) {
		/* the stored book, with the reason instead of a request that does not fit */
		snprintf(b->ask.refused, sizeof(b->ask.refused),
			 "the request does not fit in the zone's SKR book (%u bytes at most): ask "
			 "for fewer slots",
			 KASP_SKRBOOK_MAX);
		tdm_log(d, "zone %s: key signing request refused: %s", z->name, b->ask.refused);
		ret = kasp_skrbook_pack(b, &buf, &len);
	}
	if (ret == TANDEM_OK) {
		ret = tdm_doc_put(d, z, COORDRPC_SKR_PUT, z->book_rev, buf, len);
	}
	if (ret == TANDEM_OK && !d->dec->accepted) {
		tdm_log(d, "zone %s: SKR book not written: %s", z->name, d->dec->text);
	} else if (ret != TANDEM_OK) {
		tdm_log(d, "zone %s: SKR book not written: %s", z->name, tandem_strerror(ret));
	}
}

/*
 * An offline-KSK zone's run signs its DNSKEY RRset with the SKR: the active needs signed
 * slots up to the margin ahead (else it stops and alerts, well before they run out); a
 * standby takes the SKR the commit used. Fills the run's configuration and d->job_skr_id.
 */
static int tdm_job_skr(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs, bool shadow)
{
	tdm_sign_t *job = &d->job;
	int ret = tdm_book_fetch(d, z);
	if (ret != TANDEM_OK) {
		return ret;
	}
	uint64_t t = job->conf.now;
	char text[COORD_TEXT_MAX], end[32];
	bool warned = false;
	if (!shadow) {
		uint64_t until = kasp_skrbook_covered_until(&z->book, t);
		uint64_t margin = d->opts->skr_margin_s;
		time_t u = (time_t)until;
		struct tm tm;
		strftime(end, sizeof(end), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&u, &tm));
		if (until < t + margin) {
			if (until <= t) {
				snprintf(
				    text, sizeof(text),
				    "ALERT: no imported SKR has a signed DNSKEY RRset for now: "
				    "not signing; get the next SKR signed and imported");
			} else {
				snprintf(
				    text, sizeof(text),
				    "ALERT: the signed DNSKEY RRsets end %s, within the SKR "
				    "margin: not signing; get the next SKR signed and imported",
				    end);
			}
			tdm_skr_tell(d, z, text);
			return TANDEM_EPERM;
		}
		if (until < t + 2 * margin) {
			snprintf(text, sizeof(text),
				 "warning: the signed DNSKEY RRsets end %s, within twice the SKR "
				 "margin: get the next SKR signed",
				 end);
			tdm_skr_tell(d, z, text);
			warned = true;
		}
	}
	static const uint8_t none[COORD_SKR_ID_LEN];
	bool want = shadow && memcmp(zs->skr_id, none, COORD_SKR_ID_LEN) != 0;
	tandem_arena_free(d->job_arena);
	d->job_arena = NULL;
	ret = tandem_arena_new(0, &d->job_arena);
	if (ret == TANDEM_OK) {
		ret = tdm_skr_presign(&z->book, job->keys, job->nkeys, t, want ? zs->skr_id : NULL,
				      d->job_arena, &job->conf, d->job_skr_id, d->diag);
	}
	if (ret != TANDEM_OK) {
		const char *why = tandem_diag_msg(d->diag, 0);
		snprintf(text, sizeof(text), "ALERT: %s run not started: %s",
			 shadow ? "shadow" : "signing", why != NULL ? why : tandem_strerror(ret));
		tandem_diag_clear(d->diag);
		tdm_skr_tell(d, z, text);
	} else if (!warned) {
		tdm_skr_tell(d, z, "");
	}
	return ret;
}

/* Acknowledges key `id` of the zone: this HSM holds it. */
static void tdm_key_ack(tdm_t *d, tdm_zone_t *z, uint32_t id)
{
	coordrpc_request_t req;
	tdm_req_init(d, &req, COORDRPC_KEY_ACK, z);
	req.key_id = id;
	if (tdm_call(d, &req) == TANDEM_OK && !d->dec->accepted) {
		tdm_log(d, "zone %s: ack of key %u refused: %s", z->name, id, d->dec->text);
	}
}

/*
 * Acknowledges every archived key of the zone this HSM holds, and starts importing the ones
 * it lacks on a thread of their own (tdm_keyimport_start); tdm_keyimport_reap takes their
 * outcome, and the next look acknowledges them.
 */
static void tdm_keys_fetch(tdm_t *d, tdm_zone_t *z)
{
	coordrpc_request_t q;
	tdm_req_init(d, &q, COORDRPC_KEYS_GET, z);
	z->fetch_after_mono = tandem_mono_ms() + TDM_KEYS_MS; /* a refused import is not a loop */
	if (tdm_rpc(d, TDM_RPC_KEYS, &q) != TANDEM_OK) {
		return;
	}
	if (d->keys->withheld[0] != '\0') {
		/* a new node for this zone: the archive waits for an approved grant */
		tdm_input_alert(d, z, "archive-grant", false, "%s", d->keys->withheld);
		coordrpc_keys_deinit(d->keys);
		/* the grant takes people: ask less often than every second meanwhile */
		z->next_keys_mono += TDM_KEYS_WITHHELD_MS;
		z->fetch_after_mono = tandem_mono_ms() + TDM_KEYS_WITHHELD_MS;
		return;
	}
	tdm_input_alert_clear(d, z, "archive-grant");
	tdm_keyimport_t *batch = NULL;
	int ret = tdm_keyimport_new(d->token, &batch);
	for (size_t i = 0; ret == TANDEM_OK && i < d->keys->nkeys; i++) {
		const coordrpc_key_entry_t *e = &d->keys->keys[i];
		bool acked = false;
		for (size_t a = 0; a < e->nacks; a++) {
			acked = acked || strcmp(e->acks[a], d->opts->name) == 0;
		}
		if (tdm_key_local(z, e->id) == NULL) {
			ret = tdm_keyimport_add(batch, e->id, e->archive, e->archive_len);
		} else if (!acked) {
			tdm_key_ack(d, z, e->id);
		}
	}
	coordrpc_keys_deinit(d->keys);
	if (ret == TANDEM_OK && tdm_keyimport_count(batch) > 0) {
		ret = tdm_keyimport_start(batch);
		if (ret == TANDEM_OK) {
			d->keyimport = batch;
			d->keyimport_zone = z;
			return;
		}
	}
	if (ret != TANDEM_OK) {
		tdm_log(d, "zone %s: keys not imported: %s", z->name, tandem_strerror(ret));
	}
	tdm_keyimport_free(batch);
}

/* An import batch that ended: each key is remembered and acknowledged, or its refusal said. */
static void tdm_keyimport_reap(tdm_t *d)
{
	if (d->keyimport == NULL || !tdm_keyimport_done(d->keyimport)) {
		return;
	}
	tdm_zone_t *z = d->keyimport_zone;
	for (size_t i = 0; i < tdm_keyimport_count(d->keyimport); i++) {
		const tdm_keyimport_result_t *r = tdm_keyimport_result(d->keyimport, i);
		if (r->ret != TANDEM_OK) {
			tdm_log(d, "zone %s: key %u refused: %s: %s", z->name, r->id,
				tandem_strerror(r->ret), r->why);
			continue;
		}
		if (r->imported) {
			tdm_log(d, "zone %s: key %u (tag %u, %s) imported into the HSM", z->name,
				r->id, r->key.tag, archive_role_str(r->key.role));
		}
		tdm_key_remember(z, &r->key);
		/* acknowledged at once, not after the zone's next keys.get; one that got no
		 * answer is acknowledged at its next look (the status still lacks the ack) */
		tdm_key_ack(d, z, r->id);
		z->next_keys_mono = 0;
		z->keys_due = true;
	}
	tdm_keyimport_free(d->keyimport);
	d->keyimport = NULL;
	d->keyimport_zone = NULL;
}

/* Whether this HSM holds every key the key set gives the signer, and they include a
 * KSK and a ZSK role. */
static bool tdm_keys_ready(const tdm_zone_t *z)
{
	if (!z->ks_valid) {
		return false;
	}
	/* an offline-KSK zone's KSK signs through the SKR, checked when the run starts */
	bool ksk = tdm_zone_offline(z), zsk = false;
	for (size_t i = 0; i < z->ks->count; i++) {
		kasp_roles_t r;
		kasp_key_roles(&z->ks->keys[i], &r);
		if (!r.in_zone || kasp_key_offline(&z->ks->keys[i])) {
			continue;
		}
		if (tdm_key_local(z, z->ks->keys[i].id) == NULL) {
			return false;
		}
		ksk = ksk || r.ksk;
		zsk = zsk || r.zsk;
	}
	return ksk && zsk;
}

/* Retired keys (the key set removed them) leave this HSM (DPS 5.2.10); each destroy is told
 * to the coordinator once, recorded with the key. */
static void tdm_keys_destroy_retired(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	for (size_t i = 0; i < zs->nkeys; i++) {
		const coordrpc_key_status_t *ks = &zs->keys[i];
		bool told = false;
		for (size_t a = 0; a < ks->ndestroyed; a++) {
			told = told || strcmp(ks->destroyed[a], d->opts->name) == 0;
		}
		if (!ks->retired || told) {
			continue;
		}
		for (size_t k = 0; k < z->nkeys; k++) {
			if (z->keys[k].id == ks->id) { /* its hsm_key_t is freed below */
				z->keys[k] = z->keys[--z->nkeys];
				break;
			}
		}
		bool destroyed = false;
		int ret = tdm_keys_destroy(d->token, z->name, ks->id, d->diag, &destroyed);
		if (ret != TANDEM_OK) {
			char what[COORD_ZONE_MAX + 64];
			snprintf(what, sizeof(what), "zone %s: key %u not destroyed", z->name,
				 ks->id);
			tdm_log_diag(d, what, ret);
			continue;
		}
		tdm_log(d, "zone %s: retired key %u (tag %u) %s", z->name, ks->id, ks->tag,
			destroyed ? "destroyed in the HSM" : "not in the HSM (nothing to destroy)");
		coordrpc_request_t req;
		tdm_req_init(d, &req, COORDRPC_KEY_DESTROYED, z);
		req.key_id = ks->id;
		if (tdm_call(d, &req) == TANDEM_OK && !d->dec->accepted) {
			tdm_log(d, "zone %s: destroy of key %u not recorded: %s", z->name, ks->id,
				d->dec->text);
		}
	}
	/* a key the key set removed and the table no longer lists (purged while this node was
	 * down) leaves this HSM too, unrecorded: the coordinator has no entry for it */
	for (size_t i = 0; z->ks_valid && i < z->ks->count; i++) {
		const kasp_key_t *k = &z->ks->keys[i];
		bool listed = false;
		for (size_t j = 0; j < zs->nkeys; j++) {
			listed = listed || zs->keys[j].id == k->id;
		}
		if (k->state != KASP_KEY_REMOVED || listed) {
			continue;
		}
		for (size_t j = 0; j < z->nkeys; j++) {
			if (z->keys[j].id == k->id) { /* its hsm_key_t is freed below */
				z->keys[j] = z->keys[--z->nkeys];
				break;
			}
		}
		bool destroyed = false;
		int ret = tdm_keys_destroy(d->token, z->name, k->id, d->diag, &destroyed);
		if (ret != TANDEM_OK) {
			char what[COORD_ZONE_MAX + 64];
			snprintf(what, sizeof(what), "zone %s: key %u not destroyed", z->name,
				 k->id);
			tdm_log_diag(d, what, ret);
		} else if (destroyed) {
			tdm_log(d, "zone %s: removed key %u (tag %u) destroyed in the HSM", z->name,
				k->id, k->tag);
		}
	}
}

/* Key work happens only while no run uses the token: generation and import change its key
 * list. */
static void tdm_keys_step(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs, uint64_t now)
{
	if (d->job_zone != NULL || now < z->next_keys_mono || d->token == NULL ||
	    tdm_alerts_find(&d->alerts, "", "hsm") != NULL) {
		return;
	}
	z->next_keys_mono = now + TDM_KEYS_MS;
	bool due = z->keys_due;
	z->keys_due = false;
	bool missing = false;
	for (size_t i = 0; i < zs->nkeys; i++) {
		missing = missing || (!zs->keys[i].retired &&
				      (tdm_key_local(z, zs->keys[i].id) == NULL ||
				       !tdm_key_acked_by(&zs->keys[i], d->opts->name)));
	}
	/* An import runs beside the keygen workers (they touch neither the admin session nor
	 * the key list; they are reaped once it ended), so the other site's keys do not wait
	 * behind every key this node makes. */
	if (missing && d->keyimport == NULL && now >= z->fetch_after_mono && !tdm_runs_wait(d)) {
		tdm_keys_fetch(d, z);
	}
	if (!tdm_hsm_busy(d)) {
		tdm_keys_destroy_retired(d, z, zs);
	}
	if (!node_may_publish(&z->node, now)) {
		return;
	}
	/* The key set stays as it is while a committed serial waits for a standby's digest: the
	 * standby's shadow run signs with the key set of the commit and skips the serial (nothing
	 * compared, compare-timeout) when the key set has moved on by the time it reads it. Key
	 * work that is ready goes on once the serial is published. */
	if (z->held.on) {
		z->keys_due = due;
		return;
	}
	for (size_t i = 0; i < zs->nkeys; i++) {
		/* asked once the status shows it at every site, not at every step before */
		if (!tdm_keys_activation_due(d->status, &zs->keys[i])) {
			continue;
		}
		coordrpc_request_t req;
		tdm_req_init(d, &req, COORDRPC_KEY_ACTIVATE, z);
		req.key_id = zs->keys[i].id;
		if (tdm_call(d, &req) != TANDEM_OK) {
			return;
		}
		if (d->dec->accepted) {
			tdm_log(d, "zone %s: key %u activated: %s", z->name, zs->keys[i].id,
				d->dec->text);
			/* the key-state step takes it once the next status shows it active, not
			 * when the pass comes back to the zone */
			z->keys_due = true;
			z->next_keys_mono = now + 2 * TDM_STATUS_MS;
		} else if (d->dec->reason != z->key_refusal) {
			tdm_log(d, "zone %s: key %u not yet at every site: %s", z->name,
				zs->keys[i].id, d->dec->text);
			z->key_refusal = d->dec->reason;
		}
	}
	tdm_keyset_step(d, z, zs);
	if (!tdm_hsm_busy(d)) {
		tdm_skr_step(d, z, zs); /* its keys are made on this thread */
	}
}

/* ---- signing runs ---------------------------------------------------------------------- */

/*
 * Takes the watch's latest look at the zone's input (the main loop never stat()s or opens an
 * input itself): raises or clears input-missing, input-not-regular and input-stalled (each
 * blocking while the node has no good copy to sign), and says whether a new version came.
 */
static bool tdm_input_changed(tdm_t *d, tdm_zone_t *z, uint64_t now)
{
	tdm_input_state_t *s = &z->in;
	tdm_input_look_t look;
	tdm_input_watch_get(d->input_watch, (size_t)(z - d->zones), &look);
	bool first = s->seq == 0;
	bool changed = tdm_input_state_look(s, &look);
	bool blocking = !s->have_good;
	const char *then = s->have_good ? "the last good input is signed meanwhile"
					: "this node cannot sign the zone";
	uint64_t seen = look.seq != 0 ? look.mono_ms : d->input_watch_start;
	if (now > seen && now - seen >= TDM_INPUT_STALL_MS) {
		tdm_input_alert(d, z, "input-stalled", blocking,
				"%s: no answer from stat() for %" PRIu64
				" s (a hung file system?); %s",
				z->input, (now - seen) / 1000u, then);
	} else {
		tdm_input_alert_clear(d, z, "input-stalled");
	}
	if (s->seq == 0) {
		return false;
	}
	if (s->err != 0) {
		tdm_input_alert(d, z, "input-missing", blocking, "%s: %s; %s", z->input,
				strerror(s->err), then);
	} else {
		tdm_input_alert_clear(d, z, "input-missing");
	}
	if (s->err == 0 && !s->regular) {
		tdm_input_alert(d, z, "input-not-regular", blocking,
				"%s is a %s, not a regular file: refused, not read; %s", z->input,
				s->type, then);
	} else if (!(s->bad && s->bad_nonreg)) {
		/* a version the run found not regular stays refused until it changes */
		tdm_input_alert_clear(d, z, "input-not-regular");
	}
	if (changed && !first && s->regular) {
		/* where this version's cycle starts: its rename (ctime) and the first look */
		z->cyc_seen_mono = look.mono_ms;
		z->cyc_ctime_wall = (uint64_t)look.st.st_ctim.tv_sec * 1000u +
				    (uint64_t)look.st.st_ctim.tv_nsec / 1000000u;
	}
	return changed && !first && s->regular; /* gone: the last good version stays */
}

/*
 * An IXFR the transfers in applied and wrote over the input file: the file is a new version,
 * settled at once, and the next run applies the difference to the unsigned copy held
 * instead of parsing the file; the watch's looks at that file are no change (the node does
 * not read it again). A file this node already loaded: nothing new.
 */
static bool tdm_input_ixfr(tdm_t *d, tdm_zone_t *z, uint64_t now)
{
	tdm_dist_ixfr_t got;
	if (!tdm_dist_ixfr_take(d->dist, z->name, &got)) {
		return false;
	}
	tdm_input_id_t id = tdm_input_id(&got.written);
	if (z->has_input_id && tdm_input_id_equal(&z->input_id, &id)) {
		dns_changeset_free(got.cs); /* read from the file already */
		return false;
	}
	dns_changeset_free(z->ixfr.cs); /* an older one not handed to a run yet */
	z->ixfr = got;
	z->cyc_seen_mono = now;
	z->cyc_ctime_wall = (uint64_t)got.written.st_ctim.tv_sec * 1000u +
			    (uint64_t)got.written.st_ctim.tv_nsec / 1000000u;
	return tdm_input_state_delivered(&z->in, &got.written, now);
}

/* The input SOA serial the operator accepted although it removes too many delegations. */
static bool tdm_input_accepted(const coordrpc_zone_status_t *zs, uint32_t *serial)
{
	*serial = zs->has_accepted_input ? zs->accepted_input_serial : 0;
	return zs->has_accepted_input;
}

/* The review-rejected alert of a held version: stage, serial, the hook's first line. */
static void tdm_review_alert(tdm_t *d, const tdm_zone_t *z)
{
	const tdm_input_state_t *s = &z->in;
	tdm_input_alert(d, z, "review-rejected", false,
			"%s serial %u rejected by the review hook (%s%s): %s; held at the last "
			"published version",
			s->review_signed_stage ? "signed" : "unsigned", s->review_serial,
			s->review_reason, s->review_refused ? ", and by the operator" : "",
			s->review_line);
}

/* The operator's decision on a version a review hook rejected (tandemctl zone approve,
 * zone reject): an approval lets the next run sign it without the hooks; a rejection
 * keeps it held until a new input comes, and says so in the alert. */
static void tdm_review_decision(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	tdm_input_state_t *s = &z->in;
	s->review_seq = zs->review_seq;
	/* a decision taken before this rejection was about another version */
	bool fresh = zs->has_review_decision && zs->review_seq != s->review_seq_reject;
	s->has_approve = fresh && zs->review_approved;
	s->approve_serial = s->has_approve ? zs->review_serial : 0;
	bool refused = s->bad && s->bad_review && fresh && !zs->review_approved &&
		       zs->review_serial == s->review_serial;
	if (refused != s->review_refused && s->bad && s->bad_review) {
		s->review_refused = refused;
		tdm_review_alert(d, z);
	}
}

/* What the next run of the zone reads (z->in.use), or TDM_INPUT_WAIT. */
static tdm_input_use_t tdm_input_pick(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs,
				      uint64_t now)
{
	tdm_input_state_t *s = &z->in;
	tdm_review_decision(d, z, zs);
	s->has_accept = tdm_input_accepted(zs, &s->accept_serial);
	s->use = tdm_input_choose(s, (uint64_t)tdm_zpol(d, z)->input_settle * 1000u, now,
				  s->has_accept, s->accept_serial);
	return s->use;
}

/* Fills the run's input part from the zone's input state. */
static void tdm_input_job_setup(const tdm_t *d, tdm_zone_t *z, tdm_sign_t *job)
{
	tdm_input_job_t *in = &job->in;
	const tdm_input_state_t *s = &z->in;
	memset(in, 0, sizeof(*in));
	in->from_good = s->use == TDM_INPUT_USE_GOOD;
	in->path = in->from_good ? s->good_path : z->input;
	in->good_path = s->good_path;
	in->has_ref = s->has_ref;
	in->ref = s->ref;
	in->max_removal = tdm_zpol(d, z)->max_delegation_removal;
	in->has_accept = s->has_accept;
	in->accept_serial = s->accept_serial;
	dns_load_opts_t lo; /* the policy's load rules, as tandem-signzone applies them */
	pipeline_load_opts(tdm_zpol(d, z), z->name, &lo);
	in->signer_owned = lo.signer_owned;
	in->cache = z->input_cache;
	memcpy(in->cache_hash, z->input_hash, sizeof(in->cache_hash));
	in->cache_owned = z->input_owned;
	in->keep_copy = false; /* the run copies it, once the old cache is freed (tdm_sign_t) */
	in->has_cache_id = z->has_input_id;
	in->cache_id = z->input_id;
	in->cache_ctime_s = z->input_ctime_s;
	in->cache_ctime_ns = z->input_ctime_ns;
	in->has_cache_good = z->has_input_good;
	in->cache_good_id = z->input_good;
	dns_changeset_free(z->ixfr_run.cs); /* a run that did not start */
	z->ixfr_run.cs = NULL;
	if (!in->from_good && z->ixfr.cs != NULL) {
		/* the run's: applied to the copy held instead of parsing the file it wrote */
		z->ixfr_run = z->ixfr;
		z->ixfr.cs = NULL;
		const struct stat *w = &z->ixfr_run.written;
		in->delta = z->ixfr_run.cs;
		in->delta_id = tdm_input_id(w);
		in->delta_ctime_s = (int64_t)w->st_ctim.tv_sec;
		in->delta_ctime_ns = w->st_ctim.tv_nsec;
	}
	job->input = in->path;
	job->review_unsigned = tdm_zpol(d, z)->review_unsigned;
	job->review_signed = tdm_zpol(d, z)->review_signed;
	job->review_timeout = tdm_zpol(d, z)->review_timeout;
	job->review_dir = d->opts->work;
	job->review_srv = d->review;
	if (s->bad && s->bad_review && s->has_approve && s->approve_serial == s->review_serial) {
		job->review_skip = true; /* the operator approved it: no hook runs again */
		job->review_skip_serial = s->review_input;
	} else if (s->reviewed && tdm_input_id_equal(&s->settle.id, &s->reviewed_id)) {
		job->review_skip = true; /* this version passed the hooks already */
		job->review_skip_serial = s->reviewed_serial;
	}
}

/* Logs what the run's review hooks said, their output in the line (bounded). */
static void tdm_review_log(tdm_t *d, const tdm_zone_t *z)
{
	const tdm_sign_t *job = &d->job;
	for (int i = 0; i < 2; i++) {
		const tdm_review_result_t *r = &job->review[i];
		if (!job->review_ran[i]) {
			continue;
		}
		tdm_log(d, "zone %s: review-%s of serial %u: %s (%s, %.2f s)%s%s", z->name,
			i == 0 ? "unsigned" : "signed", job->review_serial[i],
			r->approved ? "approved" : "REJECTED", r->reason, r->seconds,
			r->output[0] != '\0' ? ": " : "", r->output);
	}
	if (job->review_rejected) {
		int i = job->review_ran[1] ? 1 : 0;
		tdm_log(d,
			"zone %s: serial %u held at the last published version; tandemctl zone "
			"approve %s %u signs it without the hooks, tandemctl zone reject %s %u "
			"keeps it held until a new input",
			z->name, job->review_serial[i], z->name, job->review_serial[i], z->name,
			job->review_serial[i]);
	}
}

/* A run ended: what its load found raises or clears the input alerts; a newly loaded input
 * becomes the zone's good copy and the reference for the shrink rule. */
static void tdm_input_run_end(tdm_t *d, tdm_zone_t *z)
{
	tdm_input_job_t *in = &d->job.in;
	tdm_input_state_t *s = &z->in;
	const char *first = tandem_diag_msg(d->job.diag, 0);
	if (in->from_delta && in->result == TDM_INPUT_LOADED) {
		tdm_log(d, "input: zone %s serial %u from IXFR (%zu changes), no reload", z->name,
			in->serial, dns_changeset_size(in->delta));
	} else if (in->lines_why[0] != '\0' && in->result == TDM_INPUT_LOADED) {
		tdm_log(d, "input: zone %s serial %u parsed whole, not by its changed lines: %s",
			z->name, in->serial, in->lines_why);
	} else if (in->delta != NULL && in->delta_why[0] != '\0') {
		tdm_log(d, "input: zone %s: the IXFR to serial %u not applied (%s): %s read",
			z->name, dns_changeset_serial(in->delta, true), in->delta_why, in->path);
	}
	in->delta = NULL;
	dns_changeset_free(z->ixfr_run.cs);
	z->ixfr_run.cs = NULL;
	/* the unsigned copy the run did not free (it had no new one) */
	if (z->input_cache == NULL) {
		z->input_cache = d->job.input_cache;
	} else {
		dns_zone_free(d->job.input_cache);
	}
	d->job.input_cache = NULL;
	if (in->result == TDM_INPUT_LOADED && in->copy != NULL) {
		/* the next run of the same bytes copies this instead of parsing them */
		dns_zone_free(z->input_cache);
		z->input_cache = in->copy;
		in->copy = NULL;
		memcpy(z->input_hash, in->hash, sizeof(z->input_hash));
		z->input_owned = in->signer_owned;
		z->has_input_good = in->has_good_id; /* (compared with the next input) */
		z->input_good = in->good_id;
	}
	if (in->result == TDM_INPUT_LOADED && z->input_cache != NULL &&
	    memcmp(z->input_hash, in->hash, sizeof(z->input_hash)) == 0) {
		/* the next cycle of this very file, untouched, does not even read it */
		z->has_input_id = true;
		z->input_id = in->id;
		z->input_ctime_s = in->ctime_s;
		z->input_ctime_ns = in->ctime_ns;
		if (in->has_good_id) {
			/* the good copy written now holds these bytes too */
			z->has_input_good = true;
			z->input_good = in->good_id;
		}
	}
	if (in->from_good && in->result != TDM_INPUT_LOADED && in->result != TDM_INPUT_CHANGED) {
		/* the node's own copy is gone or no longer loads: it is no good copy */
		s->have_good = false;
		tdm_log(d, "zone %s: %s: the last good copy cannot be used: dropped", z->name,
			in->path);
		tdm_input_job_clear(in);
		return;
	}
	switch (in->result) {
	case TDM_INPUT_LOADED:
		if (in->from_good) {
			break;
		}
		s->bad = false;
		s->bad_review = false;
		s->review_refused = false;
		tdm_input_alert_clear(d, z, "input-refused");
		tdm_input_alert_clear(d, z, "input-held");
		tdm_input_alert_clear(d, z, "review-rejected");
		if (d->job.ret == TANDEM_OK && !d->job.shadow) {
			/* the hooks approved this version (or had nothing to say): not again */
			s->reviewed = true;
			s->reviewed_id = in->id;
			s->reviewed_serial = in->serial;
		}
		if (in->good != NULL && tandem_afile_commit(in->good) == TANDEM_OK) {
			s->have_good = true;
		}
		in->good = NULL;
		s->has_ref = true;
		s->ref = in->delegations;
		break;
	case TDM_INPUT_NOT_REGULAR:
		s->bad = true;
		s->bad_id = in->id;
		s->bad_held = false;
		s->bad_nonreg = true;
		tdm_input_alert(d, z, "input-not-regular", !s->have_good,
				"%s is a %s, not a regular file: refused, not read", in->path,
				in->type);
		break;
	case TDM_INPUT_REFUSED:
	case TDM_INPUT_UNREADABLE:
		if (in->result == TDM_INPUT_REFUSED) {
			s->bad = true;
			s->bad_id = in->id;
			s->bad_held = false;
			s->bad_nonreg = false;
		}
		tdm_input_alert(d, z, "input-refused", false, "%s%s",
				first != NULL ? first : in->path,
				s->have_good ? "; the last good input stays signed" : "");
		break;
	case TDM_INPUT_HELD:
		s->bad = true;
		s->bad_id = in->id;
		s->bad_held = true;
		s->bad_nonreg = false;
		s->held_serial = in->serial;
		tdm_input_alert(d, z, "input-held", false,
				"%s: SOA serial %u removes %" PRIu64 " of %" PRIu64
				" delegations (more than %u.%02u%%): held at the last good input; "
				"tandemctl zone accept-input %s %u signs it",
				in->path, in->serial, in->ref_used - in->delegations, in->ref_used,
				tdm_zpol(d, z)->max_delegation_removal / 100u,
				tdm_zpol(d, z)->max_delegation_removal % 100u, z->name, in->serial);
		break;
	case TDM_INPUT_REVIEW_REJECTED: {
		int i = d->job.review_ran[1] ? 1 : 0;
		s->bad = true;
		s->bad_id = in->id;
		s->bad_held = false;
		s->bad_nonreg = false;
		s->bad_review = true;
		s->review_refused = false;
		s->review_seq_reject = s->review_seq;
		s->review_signed_stage = i == 1;
		s->review_serial = d->job.review_serial[i];
		s->review_input = in->serial;
		snprintf(s->review_reason, sizeof(s->review_reason), "%s", d->job.review[i].reason);
		snprintf(s->review_line, sizeof(s->review_line), "%s",
			 d->job.review[i].first_line[0] != '\0' ? d->job.review[i].first_line
								: d->job.review[i].reason);
		tdm_review_alert(d, z);
		break;
	}
	case TDM_INPUT_CHANGED: {
		/* read again once it has settled */
		node_input_t ch = {.kind = NODE_IN_INPUT_CHANGED};
		tdm_node_feed(d, z, &ch);
		ch.kind = NODE_IN_CYCLE_BY;
		ch.cycle_by_mono = tandem_mono_ms();
		tdm_node_feed(d, z, &ch);
		break;
	}
	case TDM_INPUT_MISSING: break; /* the watch says so */
	}
	if (in->result != TDM_INPUT_LOADED && in->result != TDM_INPUT_CHANGED && s->have_good &&
	    !d->job.shadow) {
		/* the last good input is refreshed on the cycle, not after the failure's wait */
		node_input_t by = {.kind = NODE_IN_CYCLE_BY};
		by.cycle_by_mono = tandem_mono_ms() + d->opts->cycle_s * 1000u;
		tdm_node_feed(d, z, &by);
	}
	tdm_input_job_clear(in);
}

/* Fills the run's keys from the key set, each with the roles its state gives it (the
 * same on every node, so that a standby's run is byte for byte the active's). */
static void tdm_job_keys(tdm_t *d, const tdm_zone_t *z)
{
	d->job.nkeys = 0;
	d->job.conf.replace_tags = d->job.replace_tags;
	d->job.conf.replace_count = 0;
	for (size_t i = 0; i < z->ks->count && d->job.nkeys < TDM_SIGN_KEYS_MAX; i++) {
		const kasp_key_t *kk = &z->ks->keys[i];
		if (kk->compromised && d->job.conf.replace_count < TDM_SIGN_KEYS_MAX) {
			/* an emergency: none of its signatures is kept, in this very run */
			d->job.replace_tags[d->job.conf.replace_count++] = kk->tag;
		}
		kasp_roles_t r;
		kasp_key_roles(kk, &r);
		const tdm_key_t *k = tdm_key_local(z, kk->id);
		if (!r.in_zone || k == NULL) {
			continue;
		}
		d->job.keys[d->job.nkeys++] = (signer_key_t){.key = k->key,
							     .ksk = r.ksk,
							     .zsk = r.zsk,
							     .sep = r.sep,
							     .unpublished = !r.published};
	}
}

/* A zone whose signatures are not deterministic, whose last commit carries its nosig digest:
 * a standby compares it by that digest and verifies the active's version (docs/node.md). */
static bool tdm_nosig_zone(const coordrpc_zone_status_t *zs)
{
	return !zs->compare_digests && zs->has_nosig;
}

/* The transfer server of node, as it registered it; NULL when none. */
static const char *tdm_node_axfr(const tdm_t *d, const char *node)
{
	for (size_t i = 0; i < d->status->nnodes && i < COORD_NODES_MAX; i++) {
		const coordrpc_node_status_t *n = &d->status->nodes[i];
		if (strcmp(n->name, node) == 0) {
			return n->axfr[0] != '\0' ? n->axfr : NULL;
		}
	}
	return NULL;
}

/* A run of a zone whose signatures are not deterministic: the active computes the nosig digest
 * for its commit when a standby can read its version (it has a transfer server) and the
 * compare is on; a standby reports its own and checks the active's version. */
static void tdm_job_nosig(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs, bool shadow)
{
	tdm_sign_t *job = &d->job;
	if (zs->compare_digests) {
		return;
	}
	if (!shadow) {
		job->want_nosig = d->dist != NULL && z->node.conf.compare != NODE_COMPARE_OFF;
		dns_zone_free(z->peer_prev); /* active now: no standby's check to build on */
		z->peer_prev = NULL;
		return;
	}
	if (!tdm_nosig_zone(zs)) {
		return;
	}
	job->want_nosig = true;
	memcpy(job->peer_nosig, zs->nosig, COORD_DIGEST_LEN);
	job->peer_previous = z->peer_prev;
	job->peer_key = tdm_dist_key(d->dist);
	const char *axfr = tdm_node_axfr(d, zs->committed_by);
	unsigned t = tdm_zpol(d, z)->compare_timeout;
	t = t > 10 ? t : 10;
	job->peer_timeout_ms = t * 1000u;
	if (job->peer_key == NULL) {
		job->peer_skip = "this node has no transfer server and TSIG key (--xfr-listen, "
				 "--tsig-key) to read it with";
	} else if (axfr == NULL) {
		job->peer_skip = "the active registered no transfer server";
	} else {
		snprintf(job->peer_axfr, sizeof(job->peer_axfr), "%s", axfr);
	}
}

/* The version a run reuses signatures from (docs/node.md, "Incremental signing"). The
 * active builds on the committed serial when it holds exactly that version, unless a
 * standby asked for a full signing; a standby builds on the commit's base serial, which it
 * must hold exactly too (tdm_shadow_base). A node that holds no version in memory (it just
 * started) offers its own files instead (tdm_sign_previous_load): its publication and its
 * shadow copy, used when one is the serial wanted. */
static void tdm_job_previous(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs, bool shadow)
{
	tdm_sign_t *job = &d->job;
	job->previous = NULL;
	job->previous_tree = NULL;
	/* the journal follows what this node holds, whatever this run builds on */
	job->held = z->last;
	job->held_tree = z->last_tree;
	job->previous_paths[0] = job->previous_paths[1] = NULL;
	job->boot = NULL;
	job->has_previous_digest = false;
	job->base_serial = 0;
	if (!zs->has_committed || (!shadow && zs->full_requested) ||
	    (shadow && zs->base_serial == 0) || (shadow && tdm_nosig_zone(zs))) {
		/* a full signing (a standby of a zone compared without its RRSIGs holds no
		 * exact copy of the base; its own signatures do not matter) */
		return;
	}
	uint32_t want = shadow ? zs->base_serial : zs->serial;
	job->base_serial = want;
	if (z->last != NULL && z->last_serial == want) {
		job->previous = z->last;
		job->previous_tree = z->last_tree;
	} else if (z->last == NULL) {
		/* after a restart, its own files: the active builds on its copy of the committed
		 * serial (checked by digest); a standby takes its copy of the serial it shadows
		 * when it has one (by digest), else builds on its copy of the base (its own
		 * publication, or a shadow copy kept because it agreed) */
		job->previous_paths[0] = z->out_path;
		job->previous_paths[1] = z->shadow_path;
		job->boot = z->boot != NULL ? dist_version_zone(z->boot) : NULL;
		job->has_previous_digest = !shadow;
		memcpy(job->previous_digest, zs->digest, COORD_DIGEST_LEN);
		job->adopt = shadow;
		job->adopt_serial = zs->serial;
		memcpy(job->adopt_digest, zs->digest, COORD_DIGEST_LEN);
	} else {
		job->base_serial = 0; /* the active holds another version: a full signing */
	}
}

static int tdm_job_start(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs, bool shadow)
{
	tdm_sign_t *job = &d->job;
	if (tdm_alerts_node_blocked(&d->alerts)) {
		return TANDEM_EPERM; /* no token, or another instance runs: nothing is signed */
	}
	tdm_policy_refresh(d, z); /* a policy changed in the cluster: from this run on */
	memset(d->job_policy, 0, sizeof(d->job_policy));
	if (z->pol != NULL) {
		memcpy(d->job_policy, z->pol_digest, sizeof(d->job_policy));
	}
	d->job_policy_differs =
	    shadow && zs->has_committed &&
	    memcmp(zs->policy_digest, d->job_policy, sizeof(d->job_policy)) != 0;
	tandem_diag_t *keep = job->diag;
	memset(job, 0, sizeof(*job));
	job->diag = keep;
	job->origin = z->name;
	job->input = z->input;
	tdm_input_job_setup(d, z, job);
	job->shadow = shadow;
	job->out_path = shadow ? z->shadow_path : z->out_path;
	job->journal_path = z->journal_path;
	job->journal = z->journal;
	job->journal_max_entries = d->opts->journal_max_entries;
	job->journal_max_bytes = d->opts->journal_max_bytes;
	job->token = d->token;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	job->gate_threads = cpus > 0 ? (unsigned)cpus : 1;
	const coord_params_t *p = &d->status->params;
	job->residue = coord_site_residue(p, d->site);
	job->modulus = p->serial_modulus;
	job->has_committed = zs->has_committed;
	job->committed = zs->serial;
	if (shadow) {
		pipeline_signer_conf(tdm_zpol(d, z), zs->sign_time, &job->conf);
		job->conf.serial_exact = zs->serial;
		job->conf.has_serial_exact = true;
	} else {
		pipeline_signer_conf(tdm_zpol(d, z), (uint64_t)time(NULL), &job->conf);
	}
	job->conf.threads = d->opts->threads;
	/* The salt travels with the commit: a standby and the next active sign with the
	 * committed one; a new one is drawn only for a zone's first commit. */
	if (zs->has_committed && zs->nsec3 && (shadow || job->conf.denial == SIGNER_DENIAL_NSEC3)) {
		job->conf.denial = SIGNER_DENIAL_NSEC3;
		job->conf.nsec3_salt_len = (uint8_t)zs->salt_len;
		memcpy(job->conf.nsec3_salt, zs->salt, zs->salt_len);
	} else if (zs->has_committed && shadow) {
		job->conf.denial = SIGNER_DENIAL_NSEC;
	} else if (job->conf.nsec3_salt_len > 0 &&
		   RAND_bytes(job->conf.nsec3_salt, job->conf.nsec3_salt_len) != 1) {
		tdm_log(d, "zone %s: no randomness for the NSEC3 salt", z->name);
		return TANDEM_ENOMEM;
	}
	tdm_job_keys(d, z);
	/* the run's own copy: CDS/CDNSKEY while the parent has a DS change to make (an
	 * offline-KSK zone's DS changes go to the parent out of band: the KSK signs no CDS) */
	memcpy(d->job_ks, z->ks, sizeof(*z->ks));
	bool offline = tdm_zone_offline(z);
	job->cds_set = !offline && kasp_keyset_cds_pending(d->job_ks) ? d->job_ks : NULL;
	job->cds_ttl = tdm_zpol(d, z)->ttl_dnskey;
	tdm_job_previous(d, z, zs, shadow);
	tdm_job_nosig(d, z, zs, shadow);
	/* the whole zone at start, after a full signing and when the policy's gate-full is
	 * due; in between, what changed against the version held (docs/signing.md) */
	job->gate_incremental = z->gate_full_unix != 0 && job->conf.now >= z->gate_full_unix &&
				job->conf.now - z->gate_full_unix < tdm_zpol(d, z)->gate_full;
	/* the gate checks the DNSKEY RRset against the DS set the parent serves */
	job->ds_keys = d->job_ks;
	job->keyset_revision = z->ks_rev;
	memset(d->job_skr_id, 0, sizeof(d->job_skr_id));
	int ret = offline ? tdm_job_skr(d, z, zs, shadow) : TANDEM_OK;
	if (ret != TANDEM_OK) {
		return ret;
	}
	/* the run frees the unsigned copy as soon as a new input has its own (tdm_sign_t) */
	job->input_cache = z->input_cache;
	z->input_cache = NULL;
	ret = tdm_sign_start(job);
	if (ret != TANDEM_OK) {
		z->input_cache = job->input_cache;
		job->input_cache = NULL;
		tdm_log(d, "zone %s: cannot start a signing run: %s", z->name,
			tandem_strerror(ret));
		return ret;
	}
	d->job_zone = z;
	d->job_started_mono = tandem_mono_ms();
	z->cyc_start_mono = d->job_started_mono;
	d->job_overran = false;
	return TANDEM_OK;
}

/* Appends one line to OUT/publish.log: UNIX_MS ZONE SERIAL SHA256HEX EPOCH, and fsyncs it.
 * A line that cannot be written whole is cut off again. Errors: TANDEM_EIO (errno kept). */
static int tdm_publish_log(tdm_t *d, const tdm_zone_t *z, uint32_t serial,
			   const uint8_t digest[COORD_DIGEST_LEN], uint64_t epoch)
{
	char hex[2 * COORD_DIGEST_LEN + 1];
	char line[COORD_ZONE_MAX + 160];
	tdm_hex(digest, COORD_DIGEST_LEN, hex);
	int n = snprintf(line, sizeof(line), "%" PRIu64 " %s %u %s %" PRIu64 "\n", tdm_wall_ms(),
			 z->name, serial, hex, epoch);
	int fd = open(d->publish_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		return TANDEM_EIO;
	}
	struct stat st;
	int ret = TANDEM_OK;
	errno = 0;
	if (fstat(fd, &st) != 0) {
		ret = TANDEM_EIO;
	} else if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
		int saved = errno != 0 ? errno : ENOSPC; /* a short write: the disk is full */
		(void)ftruncate(fd, st.st_size);
		errno = saved;
		ret = TANDEM_EIO;
	}
	int saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

/*
 * A write that failed for lack of space (ENOSPC, EDQUOT) raises the zone's "disk" alert
 * and tries the zone again soon: 1 s, then twice as late each time, up to the cycle (30 s
 * at most), so a zone is published at once when space comes back. Returns whether err was
 * a lack of space.
 */
static bool tdm_disk_full(tdm_t *d, tdm_zone_t *z, int err, const char *what, bool published)
{
	if (err != ENOSPC && err != EDQUOT) {
		return false;
	}
	uint64_t cap =
	    d->opts->cycle_s * 1000u < TDM_RETRY_MS ? d->opts->cycle_s * 1000u : TDM_RETRY_MS;
	z->disk_retry_ms = z->disk_retry_ms == 0 ? TDM_DISK_RETRY_MS : 2 * z->disk_retry_ms;
	z->disk_retry_ms = z->disk_retry_ms > cap ? cap : z->disk_retry_ms;
	if (tdm_alerts_raise(&d->alerts, z->name, "disk", true, "%s: %s", what, strerror(err))) {
		tdm_log(d, "zone %s: ALERT disk: %s: %s: %s; trying again soon", z->name, what,
			strerror(err),
			published ? "published, the file not written" : "nothing published");
	}
	return true;
}

/* A write of the zone went through: space is there again. */
static void tdm_disk_ok(tdm_t *d, tdm_zone_t *z)
{
	z->disk_retry_ms = 0;
	if (tdm_alerts_clear(&d->alerts, z->name, "disk")) {
		tdm_log(d, "zone %s: disk space is back (alert disk cleared)", z->name);
	}
}

/* The node accepted the active run's result: offers (zone, serial, digest, epoch) to the
 * coordinator and tells the node its answer. */
static void tdm_job_commit(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	tdm_sign_t *job = &d->job;
	coordrpc_request_t req;
	tdm_req_init(d, &req, COORDRPC_COMMIT, z);
	req.epoch = a->epoch;
	req.input_serial = job->input_serial;
	req.base_serial = job->base_serial;
	req.keyset_revision = job->keyset_revision;
	memcpy(req.skr_id, d->job_skr_id, sizeof(req.skr_id));
	memcpy(req.policy_digest, d->job_policy, sizeof(req.policy_digest));
	req.serial = job->serial;
	memcpy(req.digest, job->digest, COORD_DIGEST_LEN);
	req.sign_time = job->conf.now;
	req.nsec3 = job->conf.denial == SIGNER_DENIAL_NSEC3;
	req.salt_len = job->conf.nsec3_salt_len;
	memcpy(req.salt, job->conf.nsec3_salt, req.salt_len);
	req.has_nosig = job->has_nosig;
	memcpy(req.nosig, job->nosig, COORD_DIGEST_LEN);
	node_input_t in = {.kind = NODE_IN_COMMIT_REPLY};
	in.commit.answered = tdm_call(d, &req) == TANDEM_OK;
	z->cyc_commit_mono = tandem_mono_ms();
	if (!in.commit.answered) {
		tdm_log(d, "zone %s: serial %u not published: the commit got no answer", z->name,
			job->serial);
	} else {
		in.commit.accepted = d->dec->accepted;
		in.commit.reason = d->dec->reason;
		if (!d->dec->accepted) {
			tdm_log(d, "zone %s: serial %u not published: commit refused: %s", z->name,
				job->serial, d->dec->text);
		}
	}
	tdm_node_feed(d, z, &in);
}

/* Where the cycle that ends with this publication spent its time, for its log line: from the
 * input's rename (its ctime) to the watch's first look, to the run's start (the settle rule,
 * the loop), the run itself, the loop noticing its end, the commit's answer, and the
 * publication (now). Seconds; empty when the run was not started by a new input. */
static const char *tdm_cycle_times(tdm_zone_t *z, char *buf, size_t size)
{
	uint64_t now = tandem_mono_ms(), wall = tdm_wall_ms();
	buf[0] = '\0';
	if (z->cyc_seen_mono == 0 || z->cyc_start_mono < z->cyc_seen_mono ||
	    z->cyc_end_mono < z->cyc_start_mono || z->cyc_commit_mono < z->cyc_end_mono) {
		return buf;
	}
	/* the rename on the wall clock, mapped to the monotonic one through now */
	double renamed = wall >= z->cyc_ctime_wall ? (double)(wall - z->cyc_ctime_wall) / 1e3 : 0;
	double seen = (double)(now - z->cyc_seen_mono) / 1e3;
	snprintf(buf, size,
		 ", cycle %.2f s from the input's rename: seen +%.2f s, run start +%.2f s, run "
		 "%.2f s, noticed +%.2f s, commit +%.2f s, publish +%.2f s",
		 renamed, renamed > seen ? renamed - seen : 0.0,
		 (double)(z->cyc_start_mono - z->cyc_seen_mono) / 1e3,
		 (double)(z->cyc_end_mono - z->cyc_start_mono) / 1e3,
		 (double)(z->cyc_finish_mono - z->cyc_end_mono) / 1e3,
		 (double)(z->cyc_commit_mono - z->cyc_finish_mono) / 1e3,
		 (double)(now - z->cyc_commit_mono) / 1e3);
	z->cyc_seen_mono = 0; /* said once: a cycle of the timer has no rename */
	return buf;
}

/* Whether the zone's last file write ended well (or none ended yet): the "disk" alert is
 * cleared by a write that found space, not by a small one beside a file that did not. */
static bool tdm_file_ok(tdm_t *d, const tdm_zone_t *z)
{
	tdm_writer_state_t st;
	tdm_writer_get(d->writer, (size_t)(z - d->zones), &st);
	return st.done == 0 || st.ok;
}

/* The result a committed serial needs to go live: the job's, or a held one's. */
typedef struct tdm_result {
	uint32_t serial;
	const uint8_t *digest;
	double seconds;
	bool has_expiry;
	uint32_t expiry_min;
} tdm_result_t;

/* A committed serial goes live: its publish.log line, fsync'ed; the node holds the version in
 * memory (its journal already has it) and the writer puts the file in place afterwards, off
 * the cycle (tdm_last_take, tdm_write_step). Returns whether it is live; when not, *retry_ms
 * is the next try's wait (0: the node's own). `how` ends the log line (what the compare
 * said). */
static bool tdm_publish_file(tdm_t *d, tdm_zone_t *z, uint64_t epoch, const tdm_result_t *r,
			     const char *how, uint64_t *retry_ms)
{
	const char *what = NULL;
	bool ok = false;
	tandem_fault("commit-accepted");
	int ret = tdm_publish_log(d, z, r->serial, r->digest, epoch);
	if (ret == TANDEM_OK) {
		tandem_fault("published"); /* the line fsync'ed, the file not yet written */
	}
	if (ret != TANDEM_OK) {
		int err = errno;
		tdm_log(d, "zone %s: serial %u not published: %s: cannot append: %s", z->name,
			r->serial, d->publish_log, strerror(err));
		what = tdm_disk_full(d, z, err, d->publish_log, false) ? "disk" : NULL;
		goto out;
	}
	if (tdm_file_ok(d, z)) {
		tdm_disk_ok(d, z);
	}
	char hex[2 * COORD_DIGEST_LEN + 1], cycle[200];
	tdm_hex(r->digest, COORD_DIGEST_LEN, hex);
	tdm_log_info(d, "zone %s: published serial %u epoch %" PRIu64 " digest %.16s (%.2f s)%s%s",
		     z->name, r->serial, epoch, hex, r->seconds,
		     tdm_cycle_times(z, cycle, sizeof(cycle)), how);
	z->published_unix = (double)time(NULL);
	z->has_expiry = r->has_expiry;
	z->expiry_min = r->expiry_min;
	ok = true;
out:
	/* no space: tried again sooner, then twice as late each time (tdm_disk_full) */
	*retry_ms = what != NULL ? z->disk_retry_ms : 0;
	return ok;
}

static void tdm_last_take(tdm_t *d, tdm_zone_t *z, dns_zone_t *zone, dns_digest_t *tree,
			  uint32_t serial, bool own, journal_t *j);

/* What a held serial leaves behind when it is not (or no longer) needed: its signed copy,
 * and its journal entry unless it was published (the journal holds no version that was not
 * published here or compared: docs/node.md). */
static void tdm_held_drop(tdm_t *d, tdm_zone_t *z)
{
	tdm_held_t *h = &z->held;
	if (!h->on) {
		return;
	}
	dns_zone_free(h->signed_zone);
	dns_digest_free(h->tree);
	if (h->offered) {
		tdm_dist_hold_take(d->dist, z->name, NULL);
	}
	if (h->journaled) {
		journal_t *j = z->journal;
		tandem_diag_clear(d->diag);
		int ret = j != NULL ? TANDEM_OK : journal_open(z->journal_path, d->diag, &j);
		if (ret == TANDEM_OK) {
			ret = journal_truncate_after(j, h->journal_from, d->diag);
		}
		if (ret != TANDEM_OK) {
			tdm_log_diag(d, "journal: the held serial's entry stays", ret);
			journal_close(j);
			j = NULL;
		}
		z->journal = j;
	}
	memset(h, 0, sizeof(*h));
	z->next_keys_mono = 0; /* key work held back meanwhile (tdm_keys_step) goes now */
}

/* The node holds the run's committed serial for the compare: its result leaves the job (the
 * one runner is free meanwhile, for other zones and their shadow runs). */
static void tdm_held_take(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	tdm_sign_t *job = &d->job;
	tdm_held_t *h = &z->held;
	tdm_held_drop(d, z);
	h->on = true;
	h->serial = job->serial;
	memcpy(h->digest, job->digest, COORD_DIGEST_LEN);
	h->signed_zone = job->signed_zone;
	job->signed_zone = NULL;
	h->tree = job->tree;
	job->tree = NULL;
	h->journaled = job->journaled;
	h->journal_from = job->journal_from;
	job->journaled = false;
	h->has_expiry = job->has_expiry;
	h->expiry_min = job->expiry_min;
	h->seconds = job->seconds;
	h->since_mono = tandem_mono_ms();
	/* a zone compared by its nosig digest: the standby reads this version from the
	 * transfer server to verify it (a copy: the held one is published with its changesets) */
	if (job->has_nosig && h->signed_zone != NULL) {
		dns_zone_t *copy = NULL;
		h->offered = dns_zone_copy(h->signed_zone, &copy) == TANDEM_OK &&
			     tdm_dist_hold_take(d->dist, z->name, copy);
	}
	tdm_log_info(d,
		     "zone %s: serial %u committed; held until a standby reports the same digest "
		     "(compare-before-publish: %s, compare-timeout %u s)",
		     z->name, a->serial,
		     z->node.conf.compare == NODE_COMPARE_REQUIRE ? "require" : "wait",
		     tdm_zpol(d, z)->compare_timeout);
}

/* A held serial goes live: the standby agreed, or (wait) none reported in time. Once live it
 * is the version the next run builds on. */
static void tdm_held_publish(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	tdm_held_t *h = &z->held;
	char how[160];
	double waited = (double)(tandem_mono_ms() - h->since_mono) / 1000.0;
	if (a->why == NODE_WHY_WAITED) {
		snprintf(how, sizeof(how),
			 "; NOT compared: no standby reported its digest within compare-timeout "
			 "(%.1f s)",
			 waited);
	} else {
		const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
		snprintf(how, sizeof(how), "; standby %s reported the same digest after %.1f s",
			 zs != NULL ? zs->report_node : "-", waited);
	}
	tdm_result_t r = {.serial = h->serial,
			  .digest = h->digest,
			  .seconds = h->seconds,
			  .has_expiry = h->has_expiry,
			  .expiry_min = h->expiry_min};
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = tdm_publish_file(d, z, a->epoch, &r, how, &in.published.retry_ms);
	if (in.published.ok && h->signed_zone != NULL) {
		tdm_last_take(d, z, h->signed_zone, h->tree, h->serial, true, z->journal);
		h->signed_zone = NULL;
		h->tree = NULL;
	}
	if (in.published.ok) {
		h->journaled = false; /* published: its entry stays */
	}
	tdm_held_drop(d, z);
	tdm_node_feed(d, z, &in);
}

/* The held serial is not published (the node says why). */
static void tdm_held_discard(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
	const char *why = "";
	char text[COORD_ID_MAX + 128];
	switch (a->why) {
	case NODE_WHY_MISMATCH:
		snprintf(text, sizeof(text),
			 "standby %s reported another digest for it (alert: digest mismatch); the "
			 "next run comes after the cycle",
			 zs != NULL ? zs->report_node : "-");
		why = text;
		break;
	case NODE_WHY_NO_BASE:
		why = "a standby holds no copy of its base and cannot compare it; signing again in "
		      "full";
		break;
	case NODE_WHY_COORD_GONE: why = "a later serial was committed"; break;
	default: why = "the lease ran out while it waited for the compare"; break;
	}
	tdm_log(d, "zone %s: serial %u committed but NOT published: %s", z->name, a->serial, why);
	tdm_held_drop(d, z);
}

/* The committed run's zone goes live (tdm_publish_file). Tells the node whether it did, and
 * when to try again if not. */
static void tdm_job_publish(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	if (z->held.on) {
		tdm_held_publish(d, z, a);
		return;
	}
	tdm_sign_t *job = &d->job;
	tdm_result_t r = {.serial = job->serial,
			  .digest = job->digest,
			  .seconds = job->seconds,
			  .has_expiry = job->has_expiry,
			  .expiry_min = job->expiry_min};
	node_input_t in = {.kind = NODE_IN_PUBLISHED};
	in.published.ok = tdm_publish_file(d, z, a->epoch, &r, "", &in.published.retry_ms);
	tdm_node_feed(d, z, &in);
}

/* A standby's run ended: report its digest for the committed serial. */
static void tdm_job_report(tdm_t *d, tdm_zone_t *z)
{
	tdm_sign_t *job = &d->job;
	coordrpc_request_t req;
	tdm_req_init(d, &req, COORDRPC_DIGEST_REPORT, z);
	req.serial = job->serial;
	memcpy(req.digest, job->digest, COORD_DIGEST_LEN);
	if (job->want_nosig) {
		/* signatures not deterministic: the nosig digest, and the active's version
		 * checked by this node's gate (docs/node.md) */
		req.has_nosig = true;
		memcpy(req.digest, job->nosig, COORD_DIGEST_LEN);
		req.verified = job->peer_verified;
		snprintf(req.why, sizeof(req.why), "%s", job->peer_verified ? "" : job->peer_why);
		tdm_log(d,
			"zone %s: shadow run of serial %u: the active's version %s%s (%.2f s); "
			"reporting the nosig digest",
			z->name, job->serial,
			job->peer_verified ? "read and verified by this node's gate"
					   : "NOT verified",
			!job->peer_verified     ? ""
			: job->peer_incremental ? ", incremental"
						: ", whole zone",
			job->peer_seconds);
		if (!job->peer_verified) {
			tdm_log(d, "zone %s: serial %u: the active's version: %s", z->name,
				job->serial, job->peer_why);
		}
	}
	if (tdm_call(d, &req) != TANDEM_OK) {
		return;
	}
	for (size_t i = 0; i < d->dec->neffects; i++) {
		tdm_log(d, "zone %s: shadow run of serial %u: %s", z->name, job->serial,
			d->dec->effects[i]);
	}
	if (!d->dec->accepted) {
		tdm_log(d, "zone %s: digest report refused: %s", z->name, d->dec->text);
	}
}

/* The node-wide "hsm" alert: the token does not answer. Every lease goes back, so that
 * another site signs; the token is opened again every few seconds (tdm_hsm_step). */
static void tdm_hsm_lost(tdm_t *d, const char *why)
{
	if (tdm_alerts_raise(&d->alerts, "", "hsm", true, "token %s does not answer: %s",
			     hsm_token_label(d->token), why)) {
		tdm_log(d,
			"ALERT hsm: token %s does not answer: %s: not signing, giving every lease "
			"up, opening it again every %u s",
			hsm_token_label(d->token), why, TDM_HSM_PROBE_MS / 1000u);
	}
	d->next_hsm_mono = tandem_mono_ms() + TDM_HSM_PROBE_MS;
	tdm_lease_release_all(d, "the HSM does not answer");
}

/* After a run failed in the HSM: whether the token still answers (one bad key is not a
 * lost token; a token that went away is). */
static void tdm_hsm_check(tdm_t *d, int ret)
{
	if (ret != TANDEM_HSM_EGONE && ret != TANDEM_HSM_ESIGN && ret != TANDEM_HSM_ESESSION &&
	    ret != TANDEM_HSM_EP11) {
		return;
	}
	d->hsm_errors++;
	int probe = hsm_token_probe(d->token, d->diag);
	if (probe == TANDEM_OK && ret != TANDEM_HSM_EGONE) {
		return;
	}
	const char *why = tandem_diag_msg(d->diag, 0);
	char text[COORD_TEXT_MAX];
	snprintf(text, sizeof(text), "%s", why != NULL ? why : tandem_strerror(ret));
	tandem_diag_clear(d->diag);
	tdm_hsm_lost(d, text);
}

/* While the token does not answer: opened again (new sessions, login) and probed every few
 * seconds, between runs; the alert clears when it answers. */
static void tdm_hsm_step(tdm_t *d, uint64_t now)
{
	if (tdm_alerts_find(&d->alerts, "", "hsm") == NULL || d->job_zone != NULL ||
	    tdm_hsm_busy(d) || now < d->next_hsm_mono) {
		return;
	}
	d->next_hsm_mono = now + TDM_HSM_PROBE_MS;
	hsm_uri_t *uri = NULL;
	int ret = hsm_uri_parse(d->opts->token, d->diag, &uri);
	if (ret == TANDEM_OK) {
		ret = hsm_token_reopen(d->token, uri, NULL, d->diag);
	}
	hsm_uri_free(uri);
	if (ret == TANDEM_OK) {
		ret = hsm_token_probe(d->token, d->diag);
	}
	if (ret != TANDEM_OK) {
		const char *why = tandem_diag_msg(d->diag, 0);
		char text[COORD_TEXT_MAX];
		snprintf(text, sizeof(text), "%s", why != NULL ? why : tandem_strerror(ret));
		tandem_diag_clear(d->diag);
		/* the reason may change (token back, PIN refused): said once per change */
		if (tdm_alerts_raise(&d->alerts, "", "hsm", true, "token %s does not answer: %s",
				     hsm_token_label(d->token), text)) {
			tdm_log(d, "ALERT hsm: token %s still does not answer: %s",
				hsm_token_label(d->token), text);
		}
		return;
	}
	tandem_diag_clear(d->diag);
	if (tdm_alerts_clear(&d->alerts, "", "hsm")) {
		tdm_log(d, "hsm: token %s answers again (opened again, logged in): signing again",
			hsm_token_label(d->token));
	}
}

/* A run ran longer than the policy's max-run-time (a hung input or output file system, a
 * stuck HSM): the zone's blocking "run-overrun" alert, and its lease goes back so that
 * another site signs it. The run is left to end by itself (a thread blocked in a system
 * call cannot be stopped); nothing it makes is published. */
static void tdm_job_watch(tdm_t *d, uint64_t now)
{
	tdm_zone_t *z = d->job_zone;
	uint64_t max = (uint64_t)tdm_zpol(d, z)->max_run_time * 1000u;
	if (z == NULL || d->job_overran || now < d->job_started_mono ||
	    now - d->job_started_mono < max) {
		return;
	}
	d->job_overran = true;
	if (tdm_alerts_raise(&d->alerts, z->name, "run-overrun", true,
			     "the %s run has taken more than max-run-time (%u s)",
			     d->job.shadow ? "shadow" : "signing", tdm_zpol(d, z)->max_run_time)) {
		tdm_log(d,
			"zone %s: ALERT run-overrun: the %s run has taken more than max-run-time "
			"(%u s): input %s or output %s hung? Not signing the zone until it ends",
			z->name, d->job.shadow ? "shadow" : "signing", tdm_zpol(d, z)->max_run_time,
			z->input, d->job.out_path);
	}
	if (z->node.held) {
		bool released = tdm_lease_release_send(d, z) == TANDEM_OK;
		/* the stop is said here when the release got no answer */
		tdm_lease_drop(d, z, "the run overran");
		if (released) {
			tdm_log(d, "zone %s: lease released: the run overran", z->name);
		}
	}
}

/* What a run's end says of the node: an overrun is over, the HSM may be gone, the disk may
 * be full (or have room again). */
static void tdm_job_ended(tdm_t *d, tdm_zone_t *z)
{
	tdm_sign_t *job = &d->job;
	if (d->job_overran) {
		d->job_overran = false;
		if (tdm_alerts_clear(&d->alerts, z->name, "run-overrun")) {
			tdm_log(d,
				"zone %s: the run that overran ended after %.1f s (alert cleared)",
				z->name, job->seconds);
		}
	}
	if (job->ret != TANDEM_OK) {
		tdm_hsm_check(d, job->ret);
		if (tdm_disk_full(d, z, job->sys_errno, job->sys_path, false)) {
			node_input_t in = {.kind = NODE_IN_CYCLE_BY};
			in.cycle_by_mono = tandem_mono_ms() + z->disk_retry_ms;
			tdm_node_feed(d, z, &in);
		}
	} else if (job->shadow && tdm_file_ok(d, z)) {
		tdm_disk_ok(d, z);
	}
}

/* The writer's drop function: the owners tandemd hands it are versions. */
static void tdm_writer_drop_version(void *owner)
{
	dist_version_unref(owner);
}

/* Drops the node's reference to a version it no longer holds; the writer keeps the version
 * alive while it writes its zone (and drops it when done). NULL-safe. */
static void tdm_version_drop(tdm_t *d, tdm_zone_t *z, dist_version_t *v)
{
	if (v != NULL &&
	    !tdm_writer_release(d->writer, (size_t)(z - d->zones), dist_version_zone(v), v)) {
		dist_version_unref(v);
	}
}

/* The signed zone of serial (taken, with its digest state) becomes the version the next run
 * builds on, and its file follows off the cycle (the operator's publication, or a standby's
 * shadow copy: a restart builds on either, docs/node.md). own: this node's own publication,
 * committed and in place, served from now on with j's changesets. */
static void tdm_last_take(tdm_t *d, tdm_zone_t *z, dns_zone_t *zone, dns_digest_t *tree,
			  uint32_t serial, bool own, journal_t *j)
{
	tdm_version_drop(d, z, z->last_ver);
	z->last_ver = NULL;
	z->last = NULL;
	dns_digest_free(z->last_tree);
	z->last_tree = NULL;
	/* the version owns the zone: the transfer server and the writer may share it */
	int ret = dist_version_new_take(zone, &z->last_ver);
	if (ret != TANDEM_OK) {
		tdm_log(d, "zone %s: serial %u not kept: %s", z->name, serial,
			tandem_strerror(ret));
		dns_digest_free(tree);
		return;
	}
	z->last = dist_version_zone(z->last_ver);
	z->last_tree = tree;
	z->last_serial = serial;
	snprintf(z->write_path, sizeof(z->write_path), "%s", own ? z->out_path : z->shadow_path);
	z->write_retry_mono = 0;
	tdm_writer_submit(d->writer, (size_t)(z - d->zones), z->write_path, z->last,
			  z->last_serial);
	if (own) {
		tdm_dist_publish(d->dist, z->name, z->last_ver, j, &z->served);
	}
	tandem_malloc_release(); /* the old digest state's buckets */
}

/* After a run: its signed zone becomes the version the next run builds on when it is
 * exactly a committed one: the active's once published, a standby's when its digest is
 * the committed digest of that serial. Otherwise it is dropped (and the last kept one too,
 * when it is no longer the committed serial's base). */
static void tdm_job_keep(tdm_t *d, tdm_zone_t *z)
{
	tdm_sign_t *job = &d->job;
	const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
	bool exact = false;
	if (job->ret == TANDEM_OK && job->signed_zone != NULL) {
		if (!job->shadow) {
			exact = z->node.published_serial == job->serial;
		} else {
			exact = zs != NULL && zs->has_committed && zs->serial == job->serial &&
				memcmp(zs->digest, job->digest, COORD_DIGEST_LEN) == 0;
		}
	}
	if (exact) {
		tdm_last_take(d, z, job->signed_zone, job->tree, job->serial, !job->shadow,
			      job->journal);
		job->signed_zone = NULL;
		job->tree = NULL;
	} else {
		dns_zone_free(job->signed_zone); /* never handed to the writer */
		dns_digest_free(job->tree);
		job->tree = NULL;
		/* the journal holds no version that was not committed (docs/node.md) */
		if (tdm_sign_unjournal(job) != TANDEM_OK) {
			size_t k = tandem_diag_kept(job->diag);
			const char *m = k > 0 ? tandem_diag_msg(job->diag, k - 1) : NULL;
			tdm_log(d, "zone %s: journal: the entry of serial %u stays: %s", z->name,
				job->serial, m != NULL ? m : "cannot drop it");
		}
	}
	job->signed_zone = NULL;
}

/* The writer's news of a zone's file: a write that ended is said (a failure with the disk
 * alert when it was a lack of space); a failed one is tried again, 1 s, 2 s, then every 4 s,
 * with the newest version kept, until one ends well. */
static void tdm_write_step(tdm_t *d, tdm_zone_t *z, uint64_t now)
{
	tdm_writer_state_t st;
	size_t slot = (size_t)(z - d->zones);
	tdm_writer_get(d->writer, slot, &st);
	if (st.done != z->written_seen) {
		z->written_seen = st.done;
		if (st.ok) {
			z->write_retry_mono = 0;
			z->write_backoff_ms = 0;
			tdm_disk_ok(d, z);
			tdm_log_info(d, "zone %s: wrote serial %u to %s (%.2f s)", z->name,
				     st.serial, st.path, st.seconds);
		} else {
			tdm_log(d, "zone %s: serial %u is published but %s is not written: %s",
				z->name, st.serial, st.path, strerror(st.err));
			(void)tdm_disk_full(d, z, st.err, st.path, true);
			z->write_backoff_ms =
			    z->write_backoff_ms == 0 ? TDM_DISK_RETRY_MS : 2 * z->write_backoff_ms;
			if (z->write_backoff_ms > TDM_WRITE_RETRY_MAX_MS) {
				z->write_backoff_ms = TDM_WRITE_RETRY_MAX_MS;
			}
			z->write_retry_mono = now + z->write_backoff_ms;
		}
	}
	if (z->write_retry_mono != 0 && now >= z->write_retry_mono && !st.busy && z->last != NULL) {
		z->write_retry_mono = 0;
		tdm_writer_submit(d->writer, slot, z->write_path, z->last, z->last_serial);
	}
}

/* A standby that cannot sign the same zone as the active (it holds no copy of the version
 * the commit built on): says so once per serial, so that the active's next run signs in
 * full, and compares nothing. */
static void tdm_no_base(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	if (zs->full_requested) {
		return;
	}
	coordrpc_request_t req;
	tdm_req_init(d, &req, COORDRPC_DIGEST_REPORT, z);
	req.serial = zs->serial;
	req.no_base = true;
	if (tdm_call(d, &req) == TANDEM_OK && d->dec->accepted) {
		tdm_log(
		    d,
		    "zone %s: shadow run of serial %u not compared: no copy of serial %u, whose "
		    "signatures it reuses; the active's next run signs in full",
		    z->name, zs->serial, zs->base_serial);
	}
}

/* A standby about to shadow the committed serial: false when it holds another version than
 * the commit's base (it missed a serial); one holding none tries its own files (run). */
static bool tdm_shadow_base(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	if (zs->base_serial == 0 || z->last == NULL || z->last_serial == zs->base_serial ||
	    tdm_nosig_zone(zs)) {
		return true;
	}
	tdm_no_base(d, z, zs);
	return false;
}

/* After the zone's first run since the start (joined): the publication loaded at start is
 * no longer offered; the transfer server keeps its own reference while it serves it. */
static void tdm_boot_drop(tdm_zone_t *z)
{
	dist_version_unref(z->boot);
	z->boot = NULL;
}

/* A run ended: said, counted, and told to the node (which asks for the commit, the report or
 * nothing); then its signed zone is kept or dropped and its input's outcome noted. */
static void tdm_job_finish(tdm_t *d)
{
	tdm_zone_t *z = d->job_zone;
	tdm_sign_t *job = &d->job;
	tdm_sign_join(job);
	tdm_boot_drop(z);
	if (job->peer_zone != NULL) {
		/* the active's version this standby verified: its next check builds on it */
		dns_zone_free(z->peer_prev);
		z->peer_prev = job->peer_zone;
		job->peer_zone = NULL;
	}
	tdm_review_log(d, z); /* before the run's own line: the hooks ran inside it */
	z->cyc_end_mono = job->end_mono_ms;
	z->cyc_finish_mono = tandem_mono_ms();
	metrics_histogram_observe(&z->runs, job->seconds);
	if (job->ret == TANDEM_OK) {
		z->sigs[0] += job->rrsigs_new;
		z->sigs[1] += job->rrsigs_reused;
		z->sigs[2] += job->rrsigs_refreshed;
	}
	if (job->ret != TANDEM_OK) {
		d->runs_failed++;
		if (job->gate_failed) {
			/* nothing unverified is published: the last good version stays; the
			 * coordinators record the alert (docs/audit.md) */
			const char *first = tandem_diag_msg(job->diag, 0);
			tdm_input_alert(d, z, "gate", false, "serial %u refused by the gate: %s",
					job->serial, first != NULL ? first : "no detail");
		}
		char what[COORD_ZONE_MAX + 64];
		snprintf(what, sizeof(what), "zone %s: %s run failed", z->name,
			 job->shadow ? "shadow" : "signing");
		tdm_log(d, "%s: %s", what, tandem_strerror(job->ret));
		for (size_t i = 0; i < tandem_diag_kept(job->diag); i++) {
			tdm_log(d, "  %s", tandem_diag_msg(job->diag, i));
		}
	} else {
		if (!job->shadow) {
			tdm_input_alert_clear(d, z, "gate");
		}
		if (job->gate_full) {
			z->gate_full_unix = job->conf.now;
		}
		tdm_log_info(d, "zone %s: %s run: %s", z->name, job->shadow ? "shadow" : "signing",
			     job->summary);
	}
	const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
	node_input_t in = {.kind = NODE_IN_STATUS};
	if (zs != NULL && !zs->removed) {
		/* what the commit is judged against, and no run decided before this one is
		 * cleared up (the runner is still taken) */
		tdm_node_view(d, z, zs, tandem_mono_ms(), &in.view);
		tdm_node_feed(d, z, &in);
	}
	in.kind = NODE_IN_RUN_DONE;
	in.run.ok = job->ret == TANDEM_OK;
	in.run.started = true;
	in.run.shadow = job->shadow;
	/* a failed shadow run is not tried again for the serial it repeated */
	in.run.serial = job->shadow && !in.run.ok ? job->conf.serial_exact : job->serial;
	in.run.input_serial = job->input_serial;
	tdm_node_feed(d, z, &in);
	if (job->shadow && z->node.shadow_other_input) {
		tdm_log(d,
			"zone %s: shadow run of serial %u not compared: this site's input has SOA "
			"serial %u, the active's %u; compared again when this site's input changes",
			z->name, job->serial, job->input_serial, z->node.view.input_serial);
	}
	tdm_job_keep(d, z);
	z->journal = d->job.journal; /* the run may have opened, reopened or closed it */
	tdm_job_ended(d, z);
	tdm_input_run_end(d, z);
	d->job_zone = NULL;
	tandem_malloc_release(); /* what the run freed in the heaps: not in the next peak */
}

/* A standby's run ended well: its digest is reported, unless it took its own copy of the
 * committed serial (nothing to compare) or its copy was not the commit's base. */
static void tdm_job_shadowed(tdm_t *d, tdm_zone_t *z)
{
	const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
	if (d->job.adopt) {
		return;
	}
	if (zs != NULL && zs->base_serial != 0 && !d->job.updated && !d->job.want_nosig) {
		tdm_no_base(d, z, zs); /* its shadow copy was not the committed serial */
		return;
	}
	if (d->job_policy_differs) {
		/* the policy changed between the active's run and this one: not comparable */
		char mine[KASP_POLICY_DIGEST_HEX], theirs[KASP_POLICY_DIGEST_HEX];
		tdm_log(d,
			"zone %s: serial %u was signed with policy sha256=%s, this shadow run with "
			"sha256=%s: not compared (docs/policy.md, \"In a cluster\")",
			z->name, d->job.serial,
			zs != NULL ? kasp_policy_digest_hex(zs->policy_digest, theirs) : "?",
			kasp_policy_digest_hex(d->job_policy, mine));
		return;
	}
	tdm_job_report(d, z);
}

/* The node asks for a run: the active's, or a standby's of the committed serial (only from a
 * copy of the commit's base). One that cannot start is told as a run that failed to. */
static void tdm_job_begin(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
	bool started = zs != NULL && d->job_zone == NULL;
	if (started && a->shadow) {
		started = tdm_shadow_base(d, z, zs) && tdm_job_start(d, z, zs, true) == TANDEM_OK;
	} else if (started) {
		started = tdm_job_start(d, z, zs, false) == TANDEM_OK;
	}
	if (!started) {
		node_input_t in = {.kind = NODE_IN_RUN_DONE};
		in.run.shadow = a->shadow;
		in.run.serial = a->serial;
		tdm_node_feed(d, z, &in);
	}
}

/* The text of an offline-KSK zone's SKR problem, as the run's own check says it (tdm_job_skr). */
static void tdm_skr_short_tell(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	char text[COORD_TEXT_MAX], end[32];
	time_t u = (time_t)z->node.view.skr_until_s;
	struct tm tm;
	strftime(end, sizeof(end), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&u, &tm));
	if (a->why == NODE_WHY_SKR_OUT) {
		snprintf(text, sizeof(text),
			 "ALERT: no imported SKR has a signed DNSKEY RRset for now: not signing; "
			 "get the next SKR signed and imported");
	} else {
		snprintf(text, sizeof(text),
			 "ALERT: the signed DNSKEY RRsets end %s, within the SKR margin: not "
			 "signing; get the next SKR signed and imported",
			 end);
	}
	tdm_skr_tell(d, z, text);
}

/* The compare alerts: not blocking (the lease stays, renewed; the held serial waits). */
static void tdm_compare_alert(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	uint32_t serial = z->node.run_serial;
	unsigned timeout = tdm_zpol(d, z)->compare_timeout;
	if (strcmp(a->alert, "compare-timeout") == 0) {
		tdm_input_alert(d, z, a->alert, false,
				"serial %u published without a standby's digest: none reported "
				"within compare-timeout (%u s); is the standby down?",
				serial, timeout);
		return;
	}
	switch (a->why) {
	case NODE_WHY_NO_STANDBY:
		tdm_input_alert(d, z, a->alert, false,
				"serial %u committed and NOT published: no other node is "
				"registered to compare it (compare-before-publish: require)",
				serial);
		break;
	case NODE_WHY_NOT_COMPARED:
		tdm_input_alert(d, z, a->alert, false,
				"serial %u committed and NOT published: the cluster does not "
				"compare this zone's digests and this node has no transfer server "
				"for a standby to verify its version (compare-before-publish: "
				"require)",
				serial);
		break;
	default:
		tdm_input_alert(d, z, a->alert, false,
				"serial %u committed and NOT published: no standby has reported "
				"its digest for %u s (compare-before-publish: require); is the "
				"standby down?",
				serial, timeout);
		break;
	}
}

/* A zone alert the node raises or clears. */
static void tdm_node_alert(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	bool on = a->kind == NODE_A_ALERT;
	if (strcmp(a->alert, "skr") == 0) {
		if (on) {
			tdm_skr_short_tell(d, z, a);
		} else {
			tdm_skr_tell(d, z, "");
		}
		return;
	}
	if (!on) {
		tdm_input_alert_clear(d, z, a->alert);
		return;
	}
	if (strcmp(a->alert, "compare-held") == 0 || strcmp(a->alert, "compare-timeout") == 0) {
		tdm_compare_alert(d, z, a);
		return;
	}
	/* input-older: each site reads its own copy of the input; one older than what was last
	 * committed (a delivery that has not reached this site yet) must not roll the zone
	 * back */
	const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
	uint32_t older = zs != NULL ? zs->input_serial : 0;
	tdm_log(d,
		"zone %s: not publishing: input %s has SOA serial %u, older than %u, the input of "
		"serial %u committed by %s; retrying when the input changes",
		z->name, z->input, d->job.input_serial, older, zs != NULL ? zs->serial : 0,
		zs != NULL ? zs->committed_by : "-");
	tdm_input_alert(d, z, a->alert, false,
			"%s: SOA serial %u is older than %u, the input of the committed serial %u: "
			"not published until the input changes",
			z->input, d->job.input_serial, older, zs != NULL ? zs->serial : 0);
}

/* Performs one action the node asked for; answers are fed back to it. */
static void tdm_node_act(tdm_t *d, tdm_zone_t *z, const node_action_t *a)
{
	switch (a->kind) {
	case NODE_A_LEASE_REQUEST:
	case NODE_A_LEASE_RENEW: {
		coordrpc_kind_t kind =
		    a->kind == NODE_A_LEASE_RENEW ? COORDRPC_LEASE_RENEW : COORDRPC_LEASE_REQUEST;
		if (kind == COORDRPC_LEASE_RENEW && d->renew != NULL) {
			/* the renewal thread renews every held lease on its own schedule (the
			 * node's, lease/3 from the last grant); its answers come in
			 * tdm_renew_feed */
		} else if (d->lease_batching) {
			tdm_lease_queue(d, z, kind);
		} else if (d->lease_feeding && kind == COORDRPC_LEASE_REQUEST) {
			/* a refused request asked again at once, the batch having taken longer
			 * than TDM_REQUEST_MS: left to the next pass's batch */
		} else {
			tdm_lease_ask(d, z, kind);
		}
		break;
	}
	case NODE_A_LEASE_RELEASE: tdm_lease_released(d, z, a); break;
	case NODE_A_LEASE_DROPPED: tdm_lease_dropped(d, z, a); break;
	case NODE_A_LEASE_GRANTED: tdm_lease_granted(d, z, a); break;
	case NODE_A_KEYSET_FETCH: {
		/* A run signs with the stored key set: the copy of a node that just took the
		 * lease is the one it last read as a standby, and the old holder may have
		 * stepped the machine since. */
		if (a->why == NODE_WHY_KEYS) {
			tdm_log(d,
				"zone %s: the key set changed which keys sign or are published: "
				"signing now, not at the next cycle",
				z->name);
		}
		node_input_t in = {.kind = NODE_IN_KEYSET};
		in.keyset.ok = tdm_keyset_fetch(d, z) == TANDEM_OK;
		in.keyset.revision = z->ks_rev;
		in.keyset.signing = z->ks_valid ? kasp_keyset_signing_digest(z->ks) : 0;
		in.keyset.keys_ready = tdm_keys_ready(z);
		tdm_node_feed(d, z, &in);
		break;
	}
	case NODE_A_RUN: tdm_job_begin(d, z, a); break;
	case NODE_A_SHADOW_SKIPPED: {
		const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
		tdm_log(d,
			"zone %s: shadow run of serial %u skipped: the key set moved on (revision "
			"%" PRId64 ", committed with %" PRId64 ")",
			z->name, a->serial, z->ks_rev, zs != NULL ? zs->keyset_revision : 0);
		break;
	}
	case NODE_A_COMMIT: tdm_job_commit(d, z, a); break;
	case NODE_A_COMPARE: tdm_held_take(d, z, a); break;
	case NODE_A_COMPARE_ALONE:
		tdm_log(d,
			"zone %s: compare-before-publish: %s: serial %u and the next are published "
			"without waiting for a standby's digest (said once)",
			z->name,
			a->why == NODE_WHY_NOT_COMPARED
			    ? "the cluster does not compare this zone's digests (signatures not "
			      "deterministic) and this node has no transfer server (--xfr-listen) "
			      "for a standby to verify its version"
			    : "no other node of the cluster is up to compare it",
			a->serial);
		break;
	case NODE_A_DISCARD: tdm_held_discard(d, z, a); break;
	case NODE_A_PUBLISH: tdm_job_publish(d, z, a); break;
	case NODE_A_REPORT: tdm_job_shadowed(d, z); break;
	case NODE_A_ALERT:
	case NODE_A_ALERT_CLEAR: tdm_node_alert(d, z, a); break;
	}
}

static void tdm_node_step(tdm_t *d, tdm_zone_t *z, const node_input_t *in)
{
	node_time_t now = {.mono_ms = tandem_mono_ms(), .wall_ms = tdm_wall_ms()};
	node_actions_t out;
	node_step(&z->node, in, &now, &out);
	for (size_t i = 0; i < out.n; i++) {
		tdm_node_act(d, z, &out.a[i]);
	}
}

/*
 * Gives the zone's node what the renewal thread learnt of its lease since the last look (a
 * renewal granted, then a refusal), before anything else it is fed: its deadline is the one
 * the thread's last granted renewal set, counted from that renewal's send, and checked at
 * the moment its answer came (the loop may have been busy since). Answers for another epoch
 * than the node holds are not its lease's.
 */
static void tdm_renew_feed(tdm_t *d, tdm_zone_t *z)
{
	tdm_renew_answer_t ans[2];
	size_t n = tdm_renew_take(d->renew, (size_t)(z - d->zones), ans);
	for (size_t i = 0; i < n; i++) {
		const tdm_renew_answer_t *a = &ans[i];
		if (!z->node.held || z->node.epoch != a->epoch) {
			continue;
		}
		node_input_t in = {.kind = NODE_IN_LEASE_REPLY};
		in.lease.answered = true;
		in.lease.accepted = a->accepted;
		in.lease.reason = a->reason;
		in.lease.epoch = a->epoch;
		in.lease.sent_mono = a->sent_mono;
		in.lease.answered_mono = a->answered_mono;
		d->lease_kind = COORDRPC_LEASE_RENEW;
		d->lease_text = a->text;
		d->lease_sent_wall = a->sent_wall;
		if (!a->accepted && a->reason == COORD_R_INSTANCE) {
			/* another instance of this node holds the registration: every lease goes
			 * (as for the loop's own calls) */
			d->dec->accepted = false;
			d->dec->reason = COORD_R_INSTANCE;
			memcpy(d->dec->text, a->text, sizeof(d->dec->text));
			tdm_instance_note(d, COORDRPC_LEASE_RENEW);
			continue;
		}
		tdm_node_step(d, z, &in);
		d->lease_text = NULL;
	}
}

static void tdm_node_feed(tdm_t *d, tdm_zone_t *z, const node_input_t *in)
{
	tdm_renew_feed(d, z);
	tdm_node_step(d, z, in);
}

/* What the node's decisions need of the zone: the status, this node's alerts, input, keys,
 * offline-KSK book and runner. */
static void tdm_node_view(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs, uint64_t now,
			  node_view_t *v)
{
	const coord_params_t *p = &d->status->params;
	const coordrpc_node_status_t *self = tdm_self_status(d);
	memset(v, 0, sizeof(*v));
	v->lease_ms = p->lease_ms;
	v->margin_ms = p->margin_ms;
	v->self_up = self != NULL && self->state == COORD_NODE_UP;
	/* what keeps this node from signing the zone keeps it from asking for its lease */
	v->blocked = tdm_alerts_blocking(&d->alerts, z->name);
	v->input_blocked = tdm_input_blocked(d, z);
	/* a settled input, else the last good copy, else nothing (yet) */
	v->input_ready = tdm_input_pick(d, z, zs, now) != TDM_INPUT_WAIT;
	v->keys_ready = tdm_keys_ready(z);
	v->own_keyset_valid = z->ks_valid;
	v->own_keyset_rev = z->ks_rev;
	v->own_keyset_signing = z->ks_valid ? kasp_keyset_signing_digest(z->ks) : 0;
	/* No run while keys are made or imported. A run would touch neither the admin session
	 * nor the key list, but SoftHSM itself is not safe here: a node whose runs signed while
	 * its keygen workers and importer created objects on the same token died in libcrypto
	 * on a signing thread (test_cluster_many_zones in CI, 2026-12-07; SoftHSM's file store
	 * re-reads its objects when another session creates one): docs/ceremony.md, "SoftHSM 2.6
	 * behaviour". */
	v->runner_busy = d->job_zone != NULL || tdm_hsm_busy(d);
	v->free = zs->holder[0] == '\0' || strcmp(zs->holder, d->opts->name) == 0;
	v->switch_away = zs->switch_to[0] != '\0' && strcmp(zs->switch_to, d->opts->name) != 0;
	v->has_committed = zs->has_committed;
	v->committed_by_self = strcmp(zs->committed_by, d->opts->name) == 0;
	v->compare_digests = zs->compare_digests;
	/* the holder commits the nosig digest when a standby can read its version (it has a
	 * transfer server); a standby compares a commit that carries it */
	bool holder = strcmp(zs->holder, d->opts->name) == 0;
	v->nosig_compare = !zs->compare_digests && (holder ? d->dist != NULL : zs->has_nosig);
	v->serial = zs->serial;
	v->input_serial = zs->input_serial;
	v->base_serial = zs->base_serial;
	v->keyset_revision = zs->keyset_revision;
	v->sign_time = zs->sign_time;
	v->full_requested = zs->full_requested;
	/* compare before publish: a standby's report on the committed serial, and whether any
	 * other node could send one */
	bool reported = zs->has_committed && zs->report_serial == zs->serial;
	v->standby_agrees = reported && zs->report_match;
	v->standby_differs = reported && !zs->report_match;
	for (size_t i = 0; i < d->status->nnodes && i < COORD_NODES_MAX; i++) {
		const coordrpc_node_status_t *n = &d->status->nodes[i];
		bool other = strcmp(n->name, d->opts->name) != 0 && n->state != COORD_NODE_FENCED;
		v->has_standby = v->has_standby || other;
		v->standby_live = v->standby_live || (other && n->healthy);
	}
	v->offline = tdm_zone_offline(z);
	/* the book as last read by the key work; unread, the run's own check decides */
	v->skr_known = v->offline && z->book_read;
	v->skr_until_s =
	    v->skr_known ? kasp_skrbook_covered_until(&z->book, (uint64_t)time(NULL)) : 0;
}

/* The lease part of a zone's look (a view that lets no run start): due renewals and
 * requests go out before any zone's key work or run. */
static void tdm_lease_step(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	node_input_t in = {.kind = NODE_IN_STATUS};
	tdm_node_view(d, z, zs, tandem_mono_ms(), &in.view);
	in.view.runner_busy = true;
	tdm_node_feed(d, z, &in);
}

/* One look at a zone: its input, the lease, the key work, the next run. */
static void tdm_zone_step(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	uint64_t now = tandem_mono_ms();
	tdm_write_step(d, z, now);
	if (tdm_input_ixfr(d, z, now)) {
		node_input_t ch = {.kind = NODE_IN_INPUT_CHANGED};
		tdm_node_feed(d, z, &ch);
	}
	if (tdm_input_changed(d, z, now)) {
		node_input_t ch = {.kind = NODE_IN_INPUT_CHANGED};
		tdm_node_feed(d, z, &ch);
	}
	/* the lease first (a view that lets no run start), the key work, then the next run
	 * with what the key work read */
	node_input_t in = {.kind = NODE_IN_STATUS};
	tdm_node_view(d, z, zs, now, &in.view);
	in.view.runner_busy = true;
	tdm_node_feed(d, z, &in);
	tdm_keys_step(d, z, zs, now);
	now = tandem_mono_ms();
	tdm_node_view(d, z, zs, now, &in.view);
	tdm_node_feed(d, z, &in);
}

/*
 * Whether the zone has key work that should not wait for its turn in the pass (at 500 zones
 * that turn comes seconds later, and each step of a key's way, made, archived, imported at
 * the other site, activated, waited for one): a key of its was made or imported here (archive
 * it, acknowledge it); this node holds the lease and the status shows a key at every site
 * that is not active yet (activate it) or the zone lacks signing keys while a keygen worker
 * is free (start one); or the status lists a key of the zone this HSM lacks or has not
 * acknowledged while no import goes on (fetch and import it). Each zone's key work stays at
 * most once per TDM_KEYS_MS, but an import: a look that found the importer busy waited for
 * nothing, and waiting a second for the next look left the importer idle (one zone's keys a
 * second at 100 zones).
 */
typedef enum {
	TDM_KEYS_NOT_WANTED,
	TDM_KEYS_WANTED, /* at most once per TDM_KEYS_MS */
	TDM_KEYS_IMPORT, /* now: the importer is idle (a look that found it busy waits not) */
} tdm_keys_want_t;

static tdm_keys_want_t tdm_keys_wanted(const tdm_t *d, const tdm_zone_t *z,
				       const coordrpc_zone_status_t *zs, uint64_t now,
				       bool worker_free)
{
	bool gate = now >= z->next_keys_mono, held = node_may_publish(&z->node, now);
	if (gate && z->keys_due) {
		return TDM_KEYS_WANTED;
	}
	for (size_t i = 0; i < zs->nkeys; i++) {
		const coordrpc_key_status_t *k = &zs->keys[i];
		if (k->retired) {
			continue;
		}
		if (gate && held && tdm_keys_activation_due(d->status, k)) {
			return TDM_KEYS_WANTED;
		}
		if (d->keyimport == NULL && now >= z->fetch_after_mono &&
		    (tdm_key_local(z, k->id) == NULL || !tdm_key_acked_by(k, d->opts->name))) {
			return gate ? TDM_KEYS_WANTED : TDM_KEYS_IMPORT;
		}
	}
	return gate && held && worker_free && !tdm_keys_ready(z) ? TDM_KEYS_WANTED
								 : TDM_KEYS_NOT_WANTED;
}

static void tdm_job_reap(tdm_t *d);

/*
 * Gives each zone with key work ready (tdm_keys_wanted) its look now, before the pass over
 * every zone, within half the pass's budget (given it all, at 500 zones the pass looked at
 * one zone a turn, and standbys' shadow runs waited past the compare timeout): a key made is
 * archived, an archived key imported and a key at every site activated at once, not when the pass
 * comes back to its zone. Nothing while a run goes on (key work waits for it). Looks from where the
 * last call stopped, so no zone's work waits behind the first zones'.
 */
static void tdm_keys_prompt(tdm_t *d, uint64_t start, uint64_t budget)
{
	if (tdm_runs_wait(d)) {
		return; /* the pass starts them first */
	}
	for (size_t n = 0; n < d->nzones; n++) {
		if (d->job_zone != NULL || d->token == NULL || tandem_mono_ms() - start >= budget) {
			return;
		}
		size_t i = (d->keys_next + n) % d->nzones;
		tdm_zone_t *z = &d->zones[i];
		const coordrpc_zone_status_t *zs = z->gone ? NULL : tdm_zone_status(d, z);
		if (zs == NULL || zs->removed) {
			continue;
		}
		bool worker_free = false;
		for (size_t w = 0; w < d->opts->keygen_workers && w < TDM_KEYGEN_MAX; w++) {
			worker_free = worker_free || d->kgw[w].g == NULL;
		}
		tdm_keys_want_t want = tdm_keys_wanted(d, z, zs, tandem_mono_ms(), worker_free);
		if (want == TDM_KEYS_NOT_WANTED) {
			continue;
		}
		if (want == TDM_KEYS_IMPORT) {
			z->next_keys_mono = 0; /* its last look found the importer busy */
		}
		d->keys_next = (i + 1) % d->nzones;
		tdm_zone_step(d, z, zs);
		tdm_job_reap(d);
		tdm_keyimport_reap(d);
		tdm_keygen_reap(d);
	}
}

/* ---- token hygiene --------------------------------------------------------------------- */

/* Token hygiene is checked every cycle, and at least this often. */
#define TDM_HYGIENE_MAX_MS 60000u

/*
 * Checks that nothing on the token lets a key leave it in clear (a second trusted key,
 * another wrapping key, a private key extractable without a trusted wrapper: see
 * hsm_token_hygiene and docs/ceremony.md). Any finding raises the node-wide blocking alert
 * "token-hygiene": the node reports itself unhealthy and stops signing until the object is
 * gone. Each finding is logged when the alert changes.
 */
static void tdm_hygiene_step(tdm_t *d, uint64_t now)
{
	/* not while the token does not answer: the "hsm" alert says that already */
	if (now < d->next_hygiene_mono || d->token == NULL || tdm_hsm_busy(d) ||
	    tdm_alerts_find(&d->alerts, "", "hsm") != NULL) {
		return;
	}
	uint64_t every = d->opts->cycle_s * 1000u;
	d->next_hygiene_mono = now + (every < TDM_HYGIENE_MAX_MS ? every : TDM_HYGIENE_MAX_MS);
	hsm_hygiene_t *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		return; /* checked again next time */
	}
	int ret = hsm_token_hygiene(d->token, d->has_smk_check ? d->smk_check : NULL, d->diag, h);
	if (ret != TANDEM_OK || h->total > 0) {
		/* A token that went away lists no objects (no SMK) or none at all: that is the
		 * "hsm" alert, raised by the probe, not a finding. */
		tandem_diag_clear(d->diag);
		tdm_hsm_check(d, TANDEM_HSM_EP11);
		if (tdm_alerts_find(&d->alerts, "", "hsm") != NULL) {
			free(h);
			return;
		}
	}
	char first[COORD_TEXT_MAX];
	bool changed;
	if (ret != TANDEM_OK) {
		changed = tdm_alerts_raise(&d->alerts, "", "token-hygiene", true,
					   "token %s: cannot list its objects: %s",
					   hsm_token_label(d->token), tandem_strerror(ret));
	} else if (h->total > 0) {
		hsm_hygiene_finding_format(&h->f[0], first, sizeof(first));
		changed = tdm_alerts_raise(&d->alerts, "", "token-hygiene", true,
					   "%s (%zu object(s) in all)", first, h->total);
	} else {
		changed = tdm_alerts_clear(&d->alerts, "", "token-hygiene");
		if (changed) {
			tdm_log(d, "token-hygiene: token %s is clean again: signing again",
				hsm_token_label(d->token));
		}
	}
	if (changed && ret != TANDEM_OK) {
		tdm_log(d,
			"ALERT token-hygiene: token %s: cannot list its objects: %s: not signing",
			hsm_token_label(d->token), tandem_strerror(ret));
	} else if (changed && h->total > 0) {
		tdm_log(
		    d,
		    "ALERT token-hygiene: token %s: %zu object(s) could let a key leave the HSM: "
		    "not signing, giving every lease up",
		    hsm_token_label(d->token), h->total);
		for (size_t i = 0; i < h->n; i++) {
			hsm_hygiene_finding_format(&h->f[i], first, sizeof(first));
			tdm_log(d, "  %s", first);
		}
	}
	if (changed) {
		for (size_t i = 0; i < tandem_diag_kept(d->diag); i++) {
			tdm_log(d, "  %s", tandem_diag_msg(d->diag, i));
		}
	}
	tandem_diag_clear(d->diag);
	if (ret != TANDEM_OK || h->total > 0) {
		tdm_lease_release_all(d, "the token's hygiene check failed");
	}
	free(h);
}

/* ---- zones added and removed on a running node (SIGHUP, docs/config.md) ----------------- */

/* Every alert the node holds for the zone, cleared (a zone gone from the node has none). */
static void tdm_zone_alerts_clear(tdm_t *d, const char *zone)
{
	for (size_t k = d->alerts.n; k > 0; k--) {
		const tdm_alert_t *a = &d->alerts.a[k - 1];
		if (strcmp(a->zone, zone) == 0) {
			char kind[TDM_ALERT_KIND_MAX];
			snprintf(kind, sizeof(kind), "%s", a->kind);
			(void)tdm_alerts_clear(&d->alerts, zone, kind);
		}
	}
}

/* What a zone taken out of the node holds, dropped once no run uses it: its kept versions
 * (the writer finishes a file it is writing, tdm_version_drop), its journal handle, its key
 * state. Its published file, shadow copy and journal stay on disk. A held serial's journal
 * entry stays too: it was committed. */
static void tdm_zone_retire(tdm_t *d, tdm_zone_t *z)
{
	tdm_held_t *h = &z->held;
	if (h->on) {
		dns_zone_free(h->signed_zone);
		dns_digest_free(h->tree);
		memset(h, 0, sizeof(*h));
	}
	tdm_version_drop(d, z, z->last_ver);
	z->last_ver = NULL;
	z->last = NULL;
	dns_digest_free(z->last_tree);
	z->last_tree = NULL;
	tdm_boot_drop(z);
	dns_zone_free(z->input_cache);
	z->input_cache = NULL;
	journal_close(z->journal);
	z->journal = NULL;
	free(z->ks);
	z->ks = NULL;
	kasp_skrbook_deinit(&z->book);
	tdm_zone_alerts_clear(d, z->name);
}

/*
 * The run of a zone taken out of the node ended: nothing it made is committed or published
 * (its commit had not begun: commits are made on this thread, after the run). Its signed
 * zone is dropped; its journal entry too unless it is exactly the committed serial (a
 * standby's shadow copy), as tdm_job_keep would. Then the zone's slot is retired.
 */
static void tdm_job_abandon(tdm_t *d)
{
	tdm_zone_t *z = d->job_zone;
	tdm_sign_t *job = &d->job;
	tdm_sign_join(job);
	tdm_boot_drop(z);
	const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
	bool exact = job->ret == TANDEM_OK && job->signed_zone != NULL && job->shadow &&
		     zs != NULL && zs->has_committed && zs->serial == job->serial &&
		     memcmp(zs->digest, job->digest, COORD_DIGEST_LEN) == 0;
	dns_zone_free(job->signed_zone);
	job->signed_zone = NULL;
	dns_zone_free(job->input_cache); /* the zone's unsigned copy, lent to the run */
	job->input_cache = NULL;
	dns_digest_free(job->tree);
	job->tree = NULL;
	if (!exact && tdm_sign_unjournal(job) != TANDEM_OK) {
		tdm_log(d, "zone %s: journal: the entry of serial %u stays (not committed)",
			z->name, job->serial);
	}
	z->journal = job->journal;
	/* its input's good copy, never committed to its place: its temporary file goes */
	tdm_input_job_clear(&job->in);
	d->job_overran = false;
	d->job_zone = NULL;
	tdm_log(d, "zone %s: its %s run ended after the zone was removed: nothing kept", z->name,
		job->shadow ? "shadow" : "signing");
	tdm_zone_retire(d, z);
}

/* A run that ended is taken: finished, or abandoned when its zone was removed meanwhile. */
static void tdm_job_reap(tdm_t *d)
{
	if (d->job_zone == NULL || !tdm_sign_done(&d->job)) {
		return;
	}
	if (d->job_zone->gone) {
		tdm_job_abandon(d);
	} else {
		tdm_job_finish(d);
	}
}

/* A zone the cluster removed (tandemctl zone remove: its tombstone in the status) is no
 * longer served by this node, said once; one merely not (yet) in the cluster keeps what it
 * serves (a node may start before `tandemctl zone add`). */
static void tdm_zone_unserve(tdm_t *d, tdm_zone_t *z, const coordrpc_zone_status_t *zs)
{
	if (zs == NULL || !zs->removed || z->served == NULL) {
		return;
	}
	uint32_t serial = dist_version_serial(z->served);
	tdm_dist_withdraw(d->dist, z->name, &z->served);
	tdm_log(d,
		"zone %s: removed from the cluster: serial %u no longer served (its file stays "
		"in place)",
		z->name, serial);
}

/*
 * Takes a zone out of the node (SIGHUP): its lease goes back to the coordinator at once, as
 * at a clean stop but marked leaving (the coordinator keeps no preference window for this
 * node's site: the other site's node takes the zone in its next pass, if the cluster still
 * has it), the transfer server stops serving it and its NOTIFYs stop, its alerts and
 * metrics go. A run going on for it is left to end on its thread and abandoned then
 * (tdm_job_abandon): the zone and what the run borrows are freed only after.
 */
static void tdm_zone_remove(tdm_t *d, tdm_zone_t *z)
{
	z->gone = true;
	if (z->node.held) {
		uint64_t epoch = z->node.epoch;
		bool released = tdm_lease_release_send(d, z) == TANDEM_OK;
		tdm_lease_drop(d, z, "the zone was removed from the node");
		if (released) {
			tdm_log(d, "zone %s: lease released (epoch %" PRIu64 "): removed", z->name,
				epoch);
		}
	} else {
		(void)tdm_watch_disarm(d->watch, (size_t)(z - d->zones));
	}
	tdm_dist_withdraw(d->dist, z->name, &z->served);
	if (d->job_zone != z) {
		tdm_zone_retire(d, z);
	}
	tdm_log(d, "reload: zone %s removed%s", z->name,
		d->job_zone == z ? " (its run is abandoned when it ends)" : "");
}

/* ---- the loop -------------------------------------------------------------------------- */

static void tdm_step(tdm_t *d)
{
	uint64_t now = tandem_mono_ms();
	tdm_hygiene_step(d, now);
	if (memcmp(&d->alerts, &d->alerts_sent, sizeof(d->alerts)) != 0) {
		d->next_heartbeat_mono = now; /* an alert that changed is told at once */
	}
	tdm_job_reap(d);
	tdm_release_retry(d, now);
	if (tdm_renew_pending(d->renew)) {
		for (size_t i = 0; i < d->nzones; i++) {
			if (!d->zones[i].gone) {
				tdm_renew_feed(d, &d->zones[i]);
			}
		}
	}
	tdm_keyimport_reap(d);
	tdm_keygen_reap(d); /* after the import's reap: it waits for the import to end */
	tdm_job_watch(d, now);
	tdm_hsm_step(d, now);
	if (now >= d->next_heartbeat_mono) {
		tdm_heartbeat(d, now);
	}
	if (now >= d->next_status_mono) {
		d->next_status_mono = now + TDM_STATUS_MS;
		if (tdm_rpc(d, TDM_RPC_STATUS, NULL) == TANDEM_OK) {
			const coord_params_t *p = &d->status->params;
			bool usable = p->lease_ms > 0 && p->margin_ms > 0 &&
				      p->margin_ms < p->lease_ms / 3 && p->serial_modulus > 0 &&
				      d->site < p->nsites;
			if (!usable && d->have_status) {
				tdm_log(d,
					"status refused: lease %" PRIu64 " ms, margin %" PRIu64
					" ms, %u sites, modulus %u: unusable for site %c",
					p->lease_ms, p->margin_ms, p->nsites, p->serial_modulus,
					'A' + (int)d->site);
			}
			d->have_status = usable;
		}
	}
	if (!d->have_status || !d->registered) {
		return;
	}
	tandem_fault(d->fault_loop); /* a loop stuck here renews nothing itself */
	/* Every lease first: with hundreds of zones the key work and runs of one pass take
	 * seconds of coordinator calls, and a renewal behind them would come too late. The
	 * requests and renewals due go out together, one call for all the zones. */
	d->lease_batching = true;
	for (size_t i = 0; i < d->nzones; i++) {
		tdm_zone_t *z = &d->zones[i];
		const coordrpc_zone_status_t *zs = z->gone ? NULL : tdm_zone_status(d, z);
		if (zs != NULL && !zs->removed) {
			tdm_lease_step(d, z, zs);
		}
	}
	d->lease_batching = false;
	tdm_lease_batch_send(d);
	/* Then each zone's look, from where the last pass stopped, for at most a tenth of the
	 * lease: the next pass renews again before it goes on. */
	uint64_t start = tandem_mono_ms(), budget = d->status->params.lease_ms / 10u;
	tdm_keys_prompt(d, start, budget / 2); /* the other half for the pass: runs, inputs */
	for (size_t n = 0; n < d->nzones; n++) {
		size_t i = (d->pass_next + n) % d->nzones;
		if (n > 0 && tandem_mono_ms() - start >= budget) {
			d->pass_next = i;
			return;
		}
		tdm_zone_t *z = &d->zones[i];
		if (z->gone) {
			continue;
		}
		const coordrpc_zone_status_t *zs = tdm_zone_status(d, z);
		if (zs == NULL || zs->removed) {
			if (!z->warned_unknown) {
				tdm_log(d,
					"zone %s: not a zone of the cluster (tandemctl zone add)",
					z->name);
				z->warned_unknown = true;
			}
			tdm_lease_drop(d, z, "the zone left the cluster");
			tdm_zone_unserve(d, z, zs);
			continue;
		}
		z->warned_unknown = false;
		tdm_zone_step(d, z, zs);
		/* a run or key operation that ended is taken at once: the zones after this one
		 * in the pass may start the next, rather than wait for the next pass */
		tdm_job_reap(d);
		tdm_keyimport_reap(d);
		tdm_keygen_reap(d);
	}
	d->pass_next = 0;
}

static void tdm_lease_release_all(tdm_t *d, const char *why)
{
	for (size_t i = 0; i < d->nzones; i++) {
		tdm_zone_t *z = &d->zones[i];
		if (z->node.held) {
			(void)tdm_lease_release_send(d, z);
			(void)tdm_watch_disarm(d->watch, i);
			node_input_t in = {.kind = NODE_IN_LEASE_LOST};
			tdm_node_feed(d, z, &in);
			tdm_log(d, "zone %s: lease released: %s", z->name, why);
		}
	}
}

/*
 * A clean stop hands the leases back, so another node need not wait for them to lapse. A
 * running run gets TDM_STOP_WAIT_MS to end; one that does not (a hung file system, a big
 * zone) is left: nothing it makes is published, and its thread ends with the process.
 * Returns true when a run was left running (the caller must not free what it uses).
 */
static bool tdm_release_all(tdm_t *d)
{
	bool left = false;
	if (d->job_zone != NULL) {
		uint64_t until = tandem_mono_ms() + TDM_STOP_WAIT_MS;
		while (!tdm_sign_done(&d->job) && tandem_mono_ms() < until) {
			struct timespec tick = {0, TDM_TICK_MS * 1000000L};
			nanosleep(&tick, NULL);
		}
		if (tdm_sign_done(&d->job)) {
			tdm_sign_join(&d->job);
			d->job_zone->journal = d->job.journal; /* as the run left it */
			d->job_zone = NULL;
		} else {
			tdm_log(d,
				"zone %s: the %s run still going after %.1f s is left unfinished",
				d->job_zone->name, d->job.shadow ? "shadow" : "signing",
				(double)(tandem_mono_ms() - d->job_started_mono) / 1000.0);
			left = true;
		}
	}
	tdm_lease_release_all(d, "stopping");
	return left;
}

/* ---- set-up ---------------------------------------------------------------------------- */

static void tdm_usage(FILE *fp)
{
	fprintf(fp,
		"usage: tandemd --name NODE --site A|B|C|D --key SECRET\n"
		"               --coord tcp://HOST:PORT --coord-pub FILE [--coord ... --coord-pub "
		"...]\n"
		"               --token 'pkcs11:token=T;pin-source=FILE' [--module PATH]\n"
		"               [--policy POLICY.yaml] --zone NAME=UNSIGNED-FILE [--zone ...]\n"
		"               --out DIR --work DIR [--cycle SECONDS] [--threads N] "
		"[--pid-file FILE]\n"
		"               [--skr-margin SECONDS] [--smk-check HEX] [--metrics HOST:PORT]\n"
		"               [--journal-max-entries N] [--journal-max-bytes BYTES] "
		"[--keygen-workers N]\n"
		"               [--xfr-listen ADDR:PORT ... --tsig-key FILE ... [--xfr-acl "
		"PREFIX[,KEY] ...]\n"
		"               [--max-ixfr-ratio R|unlimited] [--notify ADDR:PORT ...]\n"
		"               [--primary ZONE=ADDR:PORT ... [--primary-tsig-key FILE]\n"
		"                [--notify-in-acl PREFIX ...]]]\n"
		"               [--log-target stderr|syslog] [--syslog-socket PATH]\n"
		"               [--log-level info|notice|warning]\n"
		"               [--review-listen 127.0.0.1:PORT]\n"
		"The first --coord is the node's own site's coordinator; the others are tried "
		"when it\n"
		"does not answer. Each zone is published as DIR/<zone>zone (atomically) and "
		"logged in\n"
		"DIR/publish.log as 'UNIX_MS ZONE SERIAL SHA256 EPOCH'.\n"
		"--metrics serves Prometheus metrics on http://HOST:PORT/metrics (port 0: a free\n"
		"one, printed as 'metrics HOST:PORT'; docs/monitoring.md).\n"
		"--log-target syslog sends each log line to the syslog socket "
		"(default " TANDEM_LOG_SOCKET ")\n"
		"instead of stderr.\n");
}

static int tdm_opts_parse(int argc, char **argv, tdm_opts_t *o)
{
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"site", required_argument, NULL, 's'},
	    {"key", required_argument, NULL, 'k'},
	    {"coord", required_argument, NULL, 'c'},
	    {"coord-pub", required_argument, NULL, 'C'},
	    {"module", required_argument, NULL, 'm'},
	    {"token", required_argument, NULL, 't'},
	    {"policy", required_argument, NULL, 'p'},
	    {"zone", required_argument, NULL, 'z'},
	    {"out", required_argument, NULL, 'o'},
	    {"work", required_argument, NULL, 'w'},
	    {"cycle", required_argument, NULL, 'y'},
	    {"journal-max-entries", required_argument, NULL, 'J'},
	    {"journal-max-bytes", required_argument, NULL, 'B'},
	    {"threads", required_argument, NULL, 'j'},
	    {"keygen-workers", required_argument, NULL, TDM_OPT_KEYGEN},
	    {"skr-margin", required_argument, NULL, 'M'},
	    {"smk-check", required_argument, NULL, 'K'},
	    {"pid-file", required_argument, NULL, 'P'},
	    {"metrics", required_argument, NULL, 'X'},
	    {"xfr-listen", required_argument, NULL, 'L'},
	    {"tsig-key", required_argument, NULL, 'T'},
	    {"xfr-acl", required_argument, NULL, 'A'},
	    {"max-ixfr-ratio", required_argument, NULL, 'R'},
	    {"notify", required_argument, NULL, 'N'},
	    {"primary", required_argument, NULL, TDM_OPT_PRIMARY},
	    {"primary-tsig-key", required_argument, NULL, TDM_OPT_PRIMARY_KEY},
	    {"notify-in-acl", required_argument, NULL, TDM_OPT_NOTIFY_ACL},
	    {"log-target", required_argument, NULL, 'G'},
	    {"log-level", required_argument, NULL, TDM_OPT_LOG_LEVEL},
	    {"syslog-socket", required_argument, NULL, 'S'},
	    {"review-listen", required_argument, NULL, TDM_OPT_REVIEW},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int c;
	memset(o, 0, sizeof(*o));
	o->cycle_s = TDM_CYCLE_S;
	o->journal_max_entries = TDM_JOURNAL_ENTRIES;
	o->journal_max_bytes = TDM_JOURNAL_BYTES;
	o->skr_margin_s = TDM_SKR_MARGIN_S;
	o->threads = 1;
	o->keygen_workers = TDM_KEYGEN_DEFAULT;
	o->max_ixfr_ratio = 1.0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'n': o->name = optarg; break;
		case 's': o->site = optarg; break;
		case 'k': o->key = optarg; break;
		case 'c':
			if (o->ncoord == TDM_COORDS_MAX) {
				fprintf(stderr, "tandemd: at most %d --coord\n", TDM_COORDS_MAX);
				return 1;
			}
			o->coord[o->ncoord++] = optarg;
			break;
		case 'C':
			if (o->ncoord_pub == TDM_COORDS_MAX) {
				fprintf(stderr, "tandemd: at most %d --coord-pub\n",
					TDM_COORDS_MAX);
				return 1;
			}
			o->coord_pub[o->ncoord_pub++] = optarg;
			break;
		case 'm': o->module = optarg; break;
		case 't': o->token = optarg; break;
		case 'p': o->policy = optarg; break;
		case 'z':
			if (o->nzone == TDM_ZONES_MAX) {
				fprintf(stderr, "tandemd: at most %d --zone\n", TDM_ZONES_MAX);
				return 1;
			}
			o->zone[o->nzone++] = optarg;
			break;
		case TDM_OPT_PRIMARY:
			if (o->nprimary == TDM_ZONES_MAX) {
				fprintf(stderr, "tandemd: at most %d --primary\n", TDM_ZONES_MAX);
				return 1;
			}
			o->primary[o->nprimary++] = optarg;
			break;
		case TDM_OPT_PRIMARY_KEY: o->primary_key = optarg; break;
		case TDM_OPT_NOTIFY_ACL:
			if (o->nnotify_acl == TDM_XFR_ACL_MAX) {
				fprintf(stderr, "tandemd: at most %d --notify-in-acl\n",
					TDM_XFR_ACL_MAX);
				return 1;
			}
			o->notify_acl[o->nnotify_acl++] = optarg;
			break;
		case 'o': o->out = optarg; break;
		case 'w': o->work = optarg; break;
		case 'P': o->pid_file = optarg; break;
		case 'K': o->smk_check = optarg; break;
		case 'X': o->metrics = optarg; break;
		case 'L':
		case 'T':
			if ((c == 'L' ? o->nxfr_listen : o->ntsig_key) == TDM_XFR_MAX) {
				fprintf(stderr, "tandemd: at most %d --%s\n", TDM_XFR_MAX,
					c == 'L' ? "xfr-listen" : "tsig-key");
				return 1;
			}
			if (c == 'L') {
				o->xfr_listen[o->nxfr_listen++] = optarg;
			} else {
				o->tsig_key[o->ntsig_key++] = optarg;
			}
			break;
		case 'N':
			if (o->nnotify == TDM_NOTIFY_MAX) {
				fprintf(stderr, "tandemd: at most %d --notify\n", TDM_NOTIFY_MAX);
				return 1;
			}
			o->notify[o->nnotify++] = optarg;
			break;
		case 'A':
			if (o->nxfr_acl == TDM_XFR_ACL_MAX) {
				fprintf(stderr, "tandemd: at most %d --xfr-acl\n", TDM_XFR_ACL_MAX);
				return 1;
			}
			o->xfr_acl[o->nxfr_acl++] = optarg;
			break;
		case 'R':
			errno = 0;
			if (strcmp(optarg, "unlimited") == 0) {
				o->max_ixfr_ratio = -1;
				break;
			}
			o->max_ixfr_ratio = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(o->max_ixfr_ratio > 0 && o->max_ixfr_ratio <= 1e6)) {
				fprintf(stderr, "tandemd: --max-ixfr-ratio takes a number above 0 "
						"(1.0: the zone's size), or unlimited\n");
				return 1;
			}
			break;
		case 'G':
			if (!tandem_log_target_parse(optarg, &o->log_target)) {
				fprintf(stderr,
					"tandemd: --log-target takes stderr or syslog, not "
					"'%s'\n",
					optarg);
				return 1;
			}
			break;
		case 'S': o->syslog_socket = optarg; break;
		case TDM_OPT_REVIEW: o->review_listen = optarg; break;
		case TDM_OPT_LOG_LEVEL:
			if (!tandem_log_level_parse(optarg, &o->log_level)) {
				fprintf(stderr,
					"tandemd: --log-level takes info, notice or warning, not "
					"'%s'\n",
					optarg);
				return 1;
			}
			break;
		case 'y':
			errno = 0;
			o->cycle_s = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || o->cycle_s == 0 ||
			    o->cycle_s > 86400) {
				fprintf(stderr, "tandemd: --cycle takes 1..86400 seconds\n");
				return 1;
			}
			break;
		case 'J':
			errno = 0;
			o->journal_max_entries = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    o->journal_max_entries > 1000000) {
				fprintf(stderr, "tandemd: --journal-max-entries takes 0..1000000 "
						"(0: no limit)\n");
				return 1;
			}
			break;
		case 'B':
			errno = 0;
			o->journal_max_bytes = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    (o->journal_max_bytes != 0 && o->journal_max_bytes < 4096)) {
				fprintf(stderr,
					"tandemd: --journal-max-bytes takes 0 (no limit) or "
					"4096 and more\n");
				return 1;
			}
			break;
		case 'M':
			errno = 0;
			o->skr_margin_s = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    o->skr_margin_s > 400ull * 86400) {
				fprintf(stderr,
					"tandemd: --skr-margin takes 0..34560000 seconds\n");
				return 1;
			}
			break;
		case 'j':
			errno = 0;
			o->threads = (unsigned)strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || o->threads == 0 ||
			    o->threads > 64) {
				fprintf(stderr, "tandemd: --threads takes 1..64\n");
				return 1;
			}
			break;
		case TDM_OPT_KEYGEN:
			errno = 0;
			o->keygen_workers = (unsigned)strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || o->keygen_workers == 0 ||
			    o->keygen_workers > TDM_KEYGEN_MAX) {
				fprintf(stderr, "tandemd: --keygen-workers takes 1..%u\n",
					TDM_KEYGEN_MAX);
				return 1;
			}
			break;
		case 'h': return 2;
		default: return 1;
		}
	}
	if (optind != argc || o->name == NULL || o->site == NULL || o->key == NULL ||
	    o->ncoord == 0 || o->token == NULL || o->nzone == 0 || o->out == NULL ||
	    o->work == NULL) {
		fprintf(stderr, "tandemd: need --name, --site, --key, --coord, --coord-pub, "
				"--token, --zone, --out and --work\n");
		return 1;
	}
	if (o->ncoord != o->ncoord_pub) {
		fprintf(stderr, "tandemd: each --coord needs its --coord-pub\n");
		return 1;
	}
	/* the version under review goes to this host only, and only with the cluster's key */
	if (o->review_listen != NULL && !tdm_review_listen_ok(o->review_listen)) {
		fprintf(stderr,
			"tandemd: --review-listen %s: not a loopback address (127.0.0.0/8 or "
			"[::1]): the version under review is served to this host only\n",
			o->review_listen);
		return 1;
	}
	if (o->review_listen != NULL && o->ntsig_key == 0) {
		fprintf(stderr, "tandemd: --review-listen needs a --tsig-key: the review port "
				"requires TSIG\n");
		return 1;
	}
	return 0;
}

static int tdm_site_parse(const char *s, uint32_t *out)
{
	if (s[0] != '\0' && s[1] == '\0') {
		if (s[0] >= 'A' && s[0] < 'A' + COORD_SITES_MAX) {
			*out = (uint32_t)(s[0] - 'A');
			return TANDEM_OK;
		}
		if (s[0] >= '0' && s[0] < '0' + COORD_SITES_MAX) {
			*out = (uint32_t)(s[0] - '0');
			return TANDEM_OK;
		}
	}
	return TANDEM_EINVAL;
}

/* ZONE=FILE: the zone name gets its final dot; the published file drops it. */
static int tdm_zone_setup(tdm_t *d, const char *arg, tdm_zone_t *z)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg || eq[1] == '\0') {
		tdm_log(d, "--zone %s: want NAME=UNSIGNED-FILE", arg);
		return TANDEM_EINVAL;
	}
	size_t n = (size_t)(eq - arg);
	bool dot = arg[n - 1] == '.';
	if (n + (dot ? 1 : 2) > sizeof(z->name)) {
		tdm_log(d, "--zone %s: name too long", arg);
		return TANDEM_EINVAL;
	}
	memcpy(z->name, arg, n);
	z->name[n] = '\0';
	if (!dot) {
		strcat(z->name, ".");
	}
	size_t base = strlen(z->name) - 1;
	if (base == 0) {
		tdm_log(d, "--zone %s: the root zone is not served", arg);
		return TANDEM_EINVAL;
	}
	/* The name makes the published file's name: no '/', no "..", nothing but a zone name. */
	char why[160];
	if (!tandem_dname_valid(z->name, why, sizeof(why))) {
		tdm_log(d, "--zone %s: not a zone name: %s", arg, why);
		return TANDEM_EINVAL;
	}
	if (snprintf(z->input, sizeof(z->input), "%s", eq + 1) >= (int)sizeof(z->input) ||
	    snprintf(z->out_path, sizeof(z->out_path), "%s/%.*szone", d->opts->out, (int)base + 1,
		     z->name) >= (int)sizeof(z->out_path) ||
	    snprintf(z->shadow_path, sizeof(z->shadow_path), "%s/%.*sshadow", d->opts->work,
		     (int)base + 1, z->name) >= (int)sizeof(z->shadow_path) ||
	    snprintf(z->journal_path, sizeof(z->journal_path), "%s/%.*sjournal", d->opts->work,
		     (int)base + 1, z->name) >= (int)sizeof(z->journal_path)) {
		tdm_log(d, "--zone %s: path too long", arg);
		return TANDEM_EINVAL;
	}
	for (size_t i = 0; i < (size_t)(z - d->zones); i++) {
		if (!d->zones[i].gone && strcasecmp(d->zones[i].name, z->name) == 0) {
			tdm_log(d, "--zone %s: named twice", z->name);
			return TANDEM_EINVAL;
		}
	}
	return TANDEM_OK;
}

/* A zone's slot made from ZONE=FILE (at start, or added on SIGHUP): its node state, key
 * state and input state; its input path handed to the watch's table. */
static int tdm_zone_init(tdm_t *d, tdm_zone_t *z, const char *arg)
{
	const tdm_opts_t *o = d->opts;
	const node_conf_t conf = {.cycle_ms = o->cycle_s * 1000u,
				  .retry_ms = TDM_RETRY_MS,
				  .request_ms = TDM_REQUEST_MS,
				  .renew_retry_ms = TDM_RENEW_RETRY_MS,
				  .keys_ms = TDM_KEYS_MS,
				  .skr_retry_ms = TDM_SKR_RETRY_MS,
				  .skr_margin_ms = o->skr_margin_s * 1000u};
	z->ks = calloc(1, sizeof(*z->ks));
	if (z->ks == NULL) {
		return TANDEM_ENOMEM;
	}
	node_zone_init(&z->node, &conf);
	int ret = tdm_zone_setup(d, arg, z);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ret = tdm_input_state_init(&z->in, o->work, z->name);
	if (ret != TANDEM_OK) {
		tdm_log(d, "--zone %s: path too long", arg);
		return ret;
	}
	d->input_paths[z - d->zones] = z->input;
	return TANDEM_OK;
}

static int tdm_pid_write(const char *path)
{
	tandem_afile_t *f = NULL;
	int ret = tandem_afile_open(path, 0644, &f);
	if (ret != TANDEM_OK) {
		return ret;
	}
	if (fprintf(tandem_afile_stream(f), "%ld\n", (long)getpid()) < 0) {
		tandem_afile_abort(f);
		return TANDEM_EIO;
	}
	return tandem_afile_commit(f);
}

/* tdm_tmp_sweep's report. */
static void tdm_tmp_removed(void *arg, const char *path, int err)
{
	if (err == 0) {
		tdm_log(arg, "%s: removed (the temporary file of an interrupted write)", path);
	} else {
		tdm_log(arg, "%s: cannot remove: %s", path, strerror(err));
	}
}

/*
 * Makes --out and --work (modes 0755 and 0700) once the configuration is accepted, takes
 * their locks (one process per directory: a second is refused at once, naming the first)
 * and removes the temporary files a killed process left there.
 */
static int tdm_dirs_take(tdm_t *d)
{
	const tdm_opts_t *o = d->opts;
	const char *dirs[2] = {o->work, o->out}, *opt[2] = {"--work", "--out"};
	const char *locks[2] = {TDM_LOCK_WORK, TDM_LOCK_OUT}, *tmp[2] = {"shadow", "zone"};
	const mode_t modes[2] = {0700, 0755};
	for (size_t i = 0; i < 2; i++) {
		if (mkdir(dirs[i], modes[i]) != 0 && errno != EEXIST) {
			tdm_log(d, "%s %s: %s", opt[i], dirs[i], strerror(errno));
			return TANDEM_EIO;
		}
		/* the work dir is this node's alone, whoever made it */
		struct stat st;
		if (i == 0 && stat(dirs[i], &st) == 0 && (st.st_mode & 077) != 0) {
			if (chmod(dirs[i], st.st_mode & 0700) == 0) {
				tdm_log(d, "%s %s: mode %03o tightened to %03o", opt[i], dirs[i],
					(unsigned)(st.st_mode & 0777),
					(unsigned)(st.st_mode & 0700));
			} else {
				tdm_log(d, "%s %s: mode %03o, cannot make it 0700: %s", opt[i],
					dirs[i], (unsigned)(st.st_mode & 0777), strerror(errno));
			}
		}
		long holder = 0;
		int ret = tdm_lock_take(dirs[i], locks[i], &d->lock_fd[i], &holder);
		if (ret == TANDEM_EEXIST) {
			tdm_log(
			    d,
			    "%s %s: another tandemd runs there (pid %ld holds %s/%s): one process "
			    "per directory",
			    opt[i], dirs[i], holder, dirs[i], locks[i]);
			return ret;
		}
		if (ret != TANDEM_OK) {
			tdm_log(d, "%s %s: cannot lock %s: %s", opt[i], dirs[i], locks[i],
				strerror(errno));
			return ret;
		}
	}
	for (size_t i = 0; i < 2; i++) {
		if (tdm_tmp_sweep(dirs[i], tmp[i], tdm_tmp_removed, d) != TANDEM_OK) {
			tdm_log(d, "%s %s: %s", opt[i], dirs[i], strerror(errno));
			return TANDEM_EIO;
		}
	}
	return TANDEM_OK;
}

/* A line of the renewal thread's. */
static void tdm_renew_say(void *arg, const char *line)
{
	tdm_log(arg, "%s", line);
}

static int tdm_setup(tdm_t *d)
{
	const tdm_opts_t *o = d->opts;
	int ret = tdm_site_parse(o->site, &d->site);
	if (ret != TANDEM_OK) {
		tdm_log(d, "--site %s: want A..D", o->site);
		return ret;
	}
	if (o->smk_check != NULL) {
		ret = tandem_hex_decode(o->smk_check, d->smk_check, sizeof(d->smk_check));
		if (ret != TANDEM_OK) {
			tdm_log(d, "--smk-check: want the ceremony's check value, %d hex digits",
				2 * HSM_SMK_CHECK_LEN);
			return ret;
		}
		d->has_smk_check = true;
	}
	if (snprintf(d->publish_log, sizeof(d->publish_log), "%s/publish.log", o->out) >=
	    (int)sizeof(d->publish_log)) {
		tdm_log(d, "--out %s: path too long", o->out);
		return TANDEM_EINVAL;
	}
	for (size_t i = 0; i < o->nzone; i++) {
		d->nzones++; /* its key state is freed at teardown even when refused */
		ret = tdm_zone_init(d, &d->zones[i], o->zone[i]);
		if (ret != TANDEM_OK) {
			return ret;
		}
	}
	/* room for zones added on SIGHUP: the watch and the writer have a slot per zone */
	ret = tdm_input_watch_new(d->input_paths, d->nzones, TDM_ZONES_MAX, TDM_INPUT_LOOK_MS,
				  &d->input_watch);
	if (ret != TANDEM_OK) {
		tdm_log(d, "cannot start the input watch: %s", tandem_strerror(ret));
		return ret;
	}
	d->input_watch_start = tandem_mono_ms();
	/* test-only: delays every file write, so that a test can kill the node between a
	 * publication and its file (docs/node.md); read once, here */
	const char *delay = getenv("TANDEMD_TEST_WRITE_DELAY_MS");
	ret = tdm_writer_new(TDM_ZONES_MAX, delay != NULL ? strtoull(delay, NULL, 10) : 0,
			     tdm_writer_drop_version, &d->writer);
	if (ret != TANDEM_OK) {
		tdm_log(d, "cannot start the file writer: %s", tandem_strerror(ret));
		return ret;
	}
	kasp_policy_defaults(&d->policy);
	if (o->policy != NULL) {
		ret = kasp_policy_load(o->policy, d->diag, &d->policy);
		if (ret != TANDEM_OK) {
			tdm_log_diag(d, "policy refused", ret);
			return ret;
		}
	}
	for (size_t i = 0; i < d->nzones; i++) {
		tdm_zone_compare_conf(d, &d->zones[i]);
	}
	ret = net_key_load(o->key, &d->key);
	if (ret != TANDEM_OK) {
		tdm_log(d, "--key %s: %s", o->key, tandem_strerror(ret));
		return ret;
	}
	for (size_t i = 0; i < o->ncoord; i++) {
		d->coords[i].endpoint = o->coord[i];
		ret = net_key_public_load(o->coord_pub[i], d->coords[i].pub);
		if (ret != TANDEM_OK) {
			tdm_log(d, "--coord-pub %s: %s", o->coord_pub[i], tandem_strerror(ret));
			return ret;
		}
		d->ncoords++;
	}
	hsm_uri_t *uri = NULL;
	ret = hsm_uri_parse(o->token, d->diag, &uri);
	if (ret == TANDEM_OK) {
		ret = hsm_module_load(o->module != NULL ? o->module : hsm_uri_module(uri), d->diag,
				      &d->module);
	}
	if (ret == TANDEM_OK) {
		ret = hsm_token_open(d->module, uri, NULL, o->threads, d->diag, &d->token);
	}
	hsm_uri_free(uri);
	if (ret != TANDEM_OK) {
		tdm_log_diag(d, "HSM", ret);
		return ret;
	}
	/* the configuration is accepted: only now is anything made on disk */
	ret = tdm_dirs_take(d);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ret = tdm_instance_draw(d->instance);
	if (ret != TANDEM_OK) {
		tdm_log(d, "no randomness for the instance id");
		return ret;
	}
	ret = tdm_watch_start(tdm_lease_lapsed, d, &d->watch);
	if (ret != TANDEM_OK) {
		tdm_log(d, "cannot start the lease watch");
		return ret;
	}
	d->zctx = zmq_ctx_new();
	if (d->zctx == NULL) {
		tdm_log(d, "cannot create a ZeroMQ context");
		return TANDEM_NET_EZMQ;
	}
	for (size_t i = 0; i < d->ncoords; i++) {
		d->renew_ep[i] = d->coords[i].endpoint;
		d->renew_pub[i] = d->coords[i].pub;
	}
	tdm_renew_cfg_t rc = {.zctx = d->zctx,
			      .key = d->key,
			      .endpoints = d->renew_ep,
			      .pubs = d->renew_pub,
			      .ncoords = d->ncoords,
			      .node = d->opts->name,
			      .instance = d->instance,
			      .timeout_ms = TDM_RPC_TIMEOUT_MS,
			      .retry_ms = TDM_RENEW_RETRY_MS,
			      .watch = d->watch,
			      .say = tdm_renew_say,
			      .say_arg = d};
	snprintf(d->fault_loop, sizeof(d->fault_loop), "loop-%s", d->opts->name);
	/* every slot a zone may take, also those added on SIGHUP (tdm_reload_zones) */
	ret = tdm_renew_start(&rc, TDM_ZONES_MAX, &d->renew);
	if (ret != TANDEM_OK) {
		tdm_log(d, "cannot start the renewal thread: %s", tandem_strerror(ret));
		return ret;
	}
	return TANDEM_OK;
}

static void tdm_teardown(tdm_t *d)
{
	metrics_server_stop(d->metrics);
	tdm_dist_free(d->dist); /* its thread stops; the versions it held are dropped */
	tdm_review_srv_free(d->review);
	d->review = NULL;
	free(d->primary);
	free(d->primary_text);
	d->dist = NULL;
	tdm_renew_stop(d->renew); /* it arms the watch */
	d->renew = NULL;
	tdm_watch_stop(d->watch);
	for (size_t i = 0; i < 2; i++) {
		if (d->lock_fd[i] >= 0) {
			close(d->lock_fd[i]);
		}
	}
	tdm_sign_clear(&d->job);
	for (size_t i = 0; i < TDM_KEYGEN_MAX; i++) {
		(void)tdm_keygen_finish(d->kgw[i].g, NULL, 0); /* waits: they use the token */
		d->kgw[i].g = NULL;
	}
	tdm_keyimport_free(d->keyimport);
	d->keyimport = NULL;
	if (d->job_zone != NULL) {
		d->job_zone->journal = d->job.journal; /* the run that was going on ended */
	}
	/* the files still to write are written first (bounded): a file that lags makes the
	 * next start replay the journal */
	bool writer_gone = tdm_writer_free(d->writer, TDM_WRITER_STOP_MS);
	d->writer = NULL;
	for (size_t i = 0; i < d->nzones; i++) {
		tdm_held_t *h = &d->zones[i].held;
		if (h->on) {
			/* committed, not published: its journal entry stays (it is committed) */
			dns_zone_free(h->signed_zone);
			dns_digest_free(h->tree);
			memset(h, 0, sizeof(*h));
		}
		dist_version_unref(d->zones[i].served);
		d->zones[i].served = NULL;
		if (&d->zones[i] != d->job_zone) { /* (a run left going may still read it) */
			tdm_boot_drop(&d->zones[i]);
		}
		if (writer_gone) {
			/* after the run and the writer ended */
			dist_version_unref(d->zones[i].last_ver);
			d->zones[i].last_ver = NULL;
		}
		dns_digest_free(d->zones[i].last_tree);
		dns_zone_free(d->zones[i].peer_prev);
		dns_zone_free(d->zones[i].input_cache);
		d->zones[i].input_cache = NULL;
		dns_changeset_free(d->zones[i].ixfr.cs);
		d->zones[i].ixfr.cs = NULL;
		dns_changeset_free(d->zones[i].ixfr_run.cs);
		d->zones[i].ixfr_run.cs = NULL;
		journal_close(d->zones[i].journal);
		d->zones[i].journal = NULL;
		d->zones[i].last = NULL;
	}
	tdm_input_watch_free(d->input_watch);
	for (size_t i = 0; i < d->ncoords; i++) {
		net_rpc_client_free(d->coords[i].cl);
	}
	if (d->zctx != NULL) {
		zmq_ctx_term(d->zctx);
	}
	hsm_token_close(d->token);
	hsm_module_free(d->module);
	net_key_free(d->key);
	tandem_diag_free(d->diag);
	for (size_t i = 0; i < d->nzones; i++) {
		free(d->zones[i].ks);
		free(d->zones[i].pol);
		kasp_skrbook_deinit(&d->zones[i].book);
	}
	tandem_arena_free(d->job_arena);
	coordrpc_keyset_deinit(d->keyset);
	coordrpc_keys_deinit(d->keys);
	free(d->keyset);
	free(d->job_ks);
	free(d->status);
	free(d->status_read);
	coordrpc_decision_deinit(d->dec);
	free(d->dec);
	free(d->keys);
	free(d->batch);
	free(d->batch_zone);
}

/* systemd: the watchdog ping from the loop (a loop stuck in a call is restarted) and a
 * STATUS line when what it says changes. */
static void tdm_service_tick(tdm_t *d)
{
	size_t held = 0, live = 0;
	char line[sizeof(d->svc_status)];

	tandem_service_watchdog(&d->svc, tandem_mono_ms());
	for (size_t i = 0; i < d->nzones; i++) {
		held += d->zones[i].node.held;
		live += !d->zones[i].gone;
	}
	snprintf(line, sizeof(line), "%s; active for %zu of %zu zone(s); %zu alert(s)",
		 d->token != NULL && !tdm_alerts_node_blocked(&d->alerts) ? "healthy" : "unhealthy",
		 held, live, d->alerts.n);
	if (strcmp(line, d->svc_status) != 0) {
		tandem_service_status(line);
		memcpy(d->svc_status, line, sizeof(line));
	}
}

/* The metrics, rendered from the loop every second (docs/monitoring.md). */
static void tdm_metrics_tick(tdm_t *d, uint64_t now)
{
	static const char *const input_alerts[] = {"input-missing", "input-refused",
						   "input-held",    "input-not-regular",
						   "input-stalled", "review-rejected"};
	tdm_metrics_zone_t zones[TDM_ZONES_MAX];
	tdm_metrics_secondary_t secs[TDM_METRICS_SECONDARIES_MAX];
	size_t nsecs = 0;
	metrics_buf_t b = {0};

	if (d->metrics == NULL || now < d->next_metrics_mono) {
		return;
	}
	d->next_metrics_mono = now + 1000u;
	size_t nz = 0; /* the zones of the node now: a removed zone's series go */
	for (size_t zi = 0; zi < d->nzones; zi++) {
		tdm_zone_t *z = &d->zones[zi];
		if (z->gone) {
			continue;
		}
		size_t i = nz++;
		bool bad = false;
		for (size_t k = 0; k < sizeof(input_alerts) / sizeof(input_alerts[0]); k++) {
			bad = bad || tdm_alerts_find(&d->alerts, z->name, input_alerts[k]) != NULL;
		}
		zones[i] =
		    (tdm_metrics_zone_t){.name = z->name,
					 .has_serial = z->node.published_serial != 0,
					 .serial = z->node.published_serial,
					 .active = z->node.held,
					 .epoch = z->node.epoch,
					 .last_publish = z->published_unix,
					 .input_bad = bad,
					 .has_expiry = z->has_expiry,
					 .expiry_in = (double)z->expiry_min - (double)time(NULL),
					 .sigs = z->sigs,
					 .runs = &z->runs};
		zones[i].xfrin = tdm_dist_xfrin(d->dist, z->name, &zones[i].xin);
		tdm_dist_secondary_t ds[TDM_METRICS_SECONDARIES_MAX];
		size_t n = tdm_dist_secondaries(d->dist, z->name, ds, TDM_METRICS_SECONDARIES_MAX);
		for (size_t k = 0; k < n && k < TDM_METRICS_SECONDARIES_MAX &&
				   nsecs < TDM_METRICS_SECONDARIES_MAX;
		     k++) {
			secs[nsecs++] = (tdm_metrics_secondary_t){
			    .zone = z->name, .name = ds[k].name, .serial = ds[k].serial};
		}
	}
	bool hsm_down = d->token == NULL || tdm_alerts_find(&d->alerts, "", "hsm") != NULL;
	tdm_metrics_node_t n = {
	    .node = d->opts->name,
	    .healthy = d->token != NULL && !tdm_alerts_node_blocked(&d->alerts),
	    .hsm_errors = d->hsm_errors,
	    .hsm_sessions = hsm_down ? 0 : d->opts->threads,
	    .runs_failed = d->runs_failed,
	    .alerts = &d->alerts,
	    .nzones = nz,
	    .zones = zones,
	    .nsecondaries = nsecs,
	    .secondaries = secs,
	    .coord_calls = &d->coord_calls,
	};
	tdm_metrics_render(&n, &b);
	metrics_server_publish_take(d->metrics, &b);
}

/* --metrics: starts the endpoint (before READY, so a bad address stops the start). */
static int tdm_metrics_start(tdm_t *d)
{
	const char *why = NULL;
	for (size_t i = 0; i < d->nzones; i++) {
		metrics_histogram_init(&d->zones[i].runs, tdm_metrics_run_buckets,
				       tdm_metrics_run_nbuckets);
	}
	metrics_histogram_init(&d->coord_calls, tdm_metrics_call_buckets,
			       tdm_metrics_call_nbuckets);
	if (d->opts->metrics == NULL) {
		return TANDEM_OK;
	}
	int ret = metrics_server_start(d->opts->metrics, NULL, NULL, &d->metrics, &why);
	if (ret != TANDEM_OK) {
		tdm_log(d, "--metrics %s: %s", d->opts->metrics,
			why != NULL ? why : tandem_strerror(ret));
		return ret;
	}
	printf("metrics %s\n", metrics_server_address(d->metrics));
	fflush(stdout);
	tdm_log(d, "metrics on http://%s/metrics", metrics_server_address(d->metrics));
	return TANDEM_OK;
}

/* A zone's last publish.log line, as tdm_files_catch_up reads it. */
typedef struct tdm_last_line {
	bool has;
	uint32_t serial;
	char hex[2 * COORD_DIGEST_LEN + 1];
} tdm_last_line_t;

/* A zone's last line in publish.log (has: there is one), read at start. */
static void tdm_publish_log_read(tdm_t *d, tdm_last_line_t *last)
{
	FILE *f = fopen(d->publish_log, "re");
	char line[512];
	if (f == NULL) {
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char zone[256], hex[2 * COORD_DIGEST_LEN + 2];
		unsigned long long t = 0;
		uint32_t serial = 0;
		/* hex holds one character more than a digest: a longer field is refused below */
		if (sscanf(line, "%llu %255s %" SCNu32 " %65s", &t, zone, &serial, hex) != 4 ||
		    strlen(hex) != 2 * COORD_DIGEST_LEN) {
			continue;
		}
		for (size_t i = 0; i < d->nzones; i++) {
			if (strcmp(d->zones[i].name, zone) == 0) {
				last[i].has = true;
				last[i].serial = serial;
				memcpy(last[i].hex, hex, sizeof(last[i].hex));
				last[i].hex[sizeof(last[i].hex) - 1] = '\0';
			}
		}
	}
	fclose(f);
}

/* Brings zone (the file's version, serial from; taken) up to the serial of publish.log's
 * line `last` from the journal and writes it. Returns the zone, or NULL with *why set. */
static dns_zone_t *tdm_file_catch_up(tdm_zone_t *z, dns_zone_t *zone, uint32_t from,
				     const tdm_last_line_t *last, tandem_diag_t *quiet,
				     const char **why)
{
	journal_t *j = NULL;
	if (access(z->journal_path, F_OK) != 0 ||
	    journal_open(z->journal_path, quiet, &j) != TANDEM_OK) {
		*why = "no journal to bring it up to date";
		dns_zone_free(zone);
		return NULL;
	}
	zone = tdm_journal_replay(j, zone, from, last->serial);
	journal_close(j);
	if (zone == NULL) {
		*why = "the journal does not lead from the file's serial to it";
		return NULL;
	}
	uint8_t digest[COORD_DIGEST_LEN];
	char hex[2 * COORD_DIGEST_LEN + 1];
	int err = 0;
	if (dns_zone_digest(zone, digest) != TANDEM_OK) {
		*why = "its digest could not be computed";
	} else if (tdm_hex(digest, sizeof(digest), hex), strcmp(hex, last->hex) != 0) {
		*why = "the journal's version has another digest than publish.log's line";
	} else if ((err = tdm_writer_write_file(zone, z->out_path)) != 0) {
		*why = strerror(err);
	} else {
		return zone;
	}
	dns_zone_free(zone);
	return NULL;
}

/*
 * At start, before anything is served or signed, each zone's own publication (OUT/<zone>zone)
 * is loaded, once: the transfer server serves that copy and the zone's first run builds on
 * it when it is the committed version (z->boot), instead of each loading the file again.
 * A file that lags the last serial this node's publish.log says it published (the node
 * stopped between its publish.log line and its writer's rename) is brought up to date from
 * its journal, when the result has the digest of that line, and written now. Otherwise the
 * file stays as it is and the node says so (an active node's next run then builds from its
 * journal or signs in full).
 */
static void tdm_files_catch_up(tdm_t *d)
{
	tdm_last_line_t *last = calloc(d->nzones ? d->nzones : 1, sizeof(*last));
	if (last == NULL) {
		return; /* the server and the runs load the files themselves then */
	}
	tdm_publish_log_read(d, last);
	for (size_t i = 0; i < d->nzones; i++) {
		tdm_zone_t *z = &d->zones[i];
		dns_zone_t *zone = NULL;
		uint32_t serial = 0;
		if (access(z->out_path, R_OK) != 0) {
			if (last[i].has) {
				tdm_log(d,
					"zone %s: %s missing, publish.log says %u was published: "
					"written at this node's next publication",
					z->name, z->out_path, last[i].serial);
			}
			continue;
		}
		tandem_diag_t *quiet = NULL;
		dns_load_opts_t lo = {.origin = z->name, .keep_dnssec = true};
		if (tandem_diag_new(&quiet) != TANDEM_OK ||
		    dns_zone_load(z->out_path, &lo, quiet, &zone) != TANDEM_OK ||
		    dns_zone_soa_serial(zone, &serial) != TANDEM_OK) {
			tandem_diag_free(quiet);
			dns_zone_free(zone);
			continue; /* unreadable: the transfer server and the runs say so */
		}
		if (last[i].has && tandem_serial_gt(last[i].serial, serial)) {
			const char *why = NULL;
			zone = tdm_file_catch_up(z, zone, serial, &last[i], quiet, &why);
			if (why != NULL) {
				tdm_log(d,
					"zone %s: %s holds serial %u, publish.log says %u was "
					"published: not brought up to date: %s",
					z->name, z->out_path, serial, last[i].serial, why);
			} else {
				tdm_log(d,
					"zone %s: %s held serial %u, publish.log says %u was "
					"published: brought up to date from the journal (digest "
					"checked) and written",
					z->name, z->out_path, serial, last[i].serial);
			}
		}
		tandem_diag_free(quiet);
		if (zone != NULL && dist_version_new_take(zone, &z->boot) != TANDEM_OK) {
			z->boot = NULL; /* (the zone was freed) the file is loaded where needed */
		}
	}
	free(last);
}

/* --xfr-listen: starts the transfer server (before READY: a bad address or key stops the
 * start) and serves what this node last published itself, with its journal's changesets.
 * The journal is opened here for that; the runs borrow it as they would have opened it. */
/* --primary ZONE=ADDR:PORT: each a zone of the node, its input file the one written. */
static int tdm_primary_parse(tdm_t *d)
{
	const tdm_opts_t *o = d->opts;
	if (o->nprimary == 0) {
		return TANDEM_OK;
	}
	d->primary = calloc(o->nprimary, sizeof(*d->primary));
	d->primary_text = calloc(o->nprimary, sizeof(*d->primary_text));
	if (d->primary == NULL || d->primary_text == NULL) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < o->nprimary; i++) {
		const char *eq = strchr(o->primary[i], '=');
		char *zn = d->primary_text[i][0];
		if (eq == NULL || eq == o->primary[i] ||
		    (size_t)(eq - o->primary[i]) >= PATH_MAX - 2) {
			tdm_log(d, "--primary %s: want ZONE=ADDR:PORT", o->primary[i]);
			return TANDEM_ESYNTAX;
		}
		memcpy(zn, o->primary[i], (size_t)(eq - o->primary[i]));
		zn[eq - o->primary[i]] = '\0';
		size_t zl = strlen(zn);
		if (zn[zl - 1] != '.') {
			zn[zl] = '.';
			zn[zl + 1] = '\0';
		}
		const tdm_zone_t *z = NULL;
		for (size_t k = 0; k < d->nzones && z == NULL; k++) {
			if (strcasecmp(d->zones[k].name, zn) == 0) {
				z = &d->zones[k];
			}
		}
		for (size_t k = 0; k < i; k++) {
			if (strcasecmp(d->primary[k].name, zn) == 0) {
				tdm_log(d, "--primary %s: a second primary for %s", o->primary[i],
					zn);
				return TANDEM_ESYNTAX;
			}
		}
		if (z == NULL) {
			tdm_log(d, "--primary %s: %s is not a --zone of this node", o->primary[i],
				zn);
			return TANDEM_ESYNTAX;
		}
		snprintf(zn, PATH_MAX, "%s", z->name);
		snprintf(d->primary_text[i][1], PATH_MAX, "%s", z->input);
		d->primary[i] = (dist_xfrin_zone_t){
		    .name = zn, .primary = eq + 1, .path = d->primary_text[i][1]};
	}
	d->npri = o->nprimary;
	return TANDEM_OK;
}

/* --review-listen: the review port (docs/node.md, "Review hooks"), with the --tsig-key
 * files; before READY, so a non-loopback address or a bad key stops the start. */
static int tdm_review_start(tdm_t *d)
{
	const tdm_opts_t *o = d->opts;
	if (o->review_listen == NULL) {
		return TANDEM_OK;
	}
	int ret =
	    tdm_review_srv_start(o->review_listen, o->tsig_key, o->ntsig_key, d->diag, &d->review);
	for (size_t i = 0; i < tandem_diag_kept(d->diag); i++) {
		tdm_log(d, "%s", tandem_diag_msg(d->diag, i));
	}
	tandem_diag_clear(d->diag);
	if (ret == TANDEM_OK) {
		tdm_review_req_t at = {0};
		tdm_review_srv_req(d->review, &at);
		tdm_log(d,
			"review port on %s (tcp and udp, TSIG key %s): each version under review "
			"is served there while its hook runs",
			at.axfr, at.key);
	}
	return ret;
}

static int tdm_xfr_start(tdm_t *d)
{
	const tdm_opts_t *o = d->opts;
	int pret = tdm_primary_parse(d);
	if (pret != TANDEM_OK) {
		return pret;
	}
	tdm_dist_opts_t dopts = {
	    .listen = o->xfr_listen,
	    .nlisten = o->nxfr_listen,
	    .keys = o->tsig_key,
	    .nkeys = o->ntsig_key,
	    .acl = o->xfr_acl,
	    .nacl = o->nxfr_acl,
	    .ratio = o->max_ixfr_ratio,
	    .journal_max_entries = o->journal_max_entries,
	    .journal_max_bytes = o->journal_max_bytes,
	    .notify = o->notify,
	    .nnotify = o->nnotify,
	    .primary = d->primary,
	    .nprimary = d->npri,
	    .primary_key = o->primary_key,
	    .notify_acl = o->notify_acl,
	    .nnotify_acl = o->nnotify_acl,
	};
	int ret = tdm_dist_start(&dopts, &d->dist);
	if (ret != TANDEM_OK || d->dist == NULL) {
		return ret;
	}
	for (size_t i = 0; i < d->nzones; i++) {
		tdm_zone_t *z = &d->zones[i];
		if (z->journal == NULL && access(z->journal_path, F_OK) == 0 &&
		    journal_open(z->journal_path, d->diag, &z->journal) != TANDEM_OK) {
			tdm_log_diag(d, "journal", TANDEM_EIO);
			z->journal = NULL;
		}
		if (z->boot != NULL) {
			tdm_dist_serve_version(d->dist, z->name, z->boot, z->journal, &z->served);
		} else {
			tdm_dist_serve_file(d->dist, z->name, z->out_path, z->journal, &z->served);
		}
	}
	return TANDEM_OK;
}

/* Prints what the config loader said, one line each, to stderr. */
static void tdm_conf_print(tandem_diag_t *diag)
{
	for (size_t i = 0; i < tandem_diag_kept(diag); i++) {
		fprintf(stderr, "tandemd: %s\n", tandem_diag_msg(diag, i));
	}
	tandem_diag_clear(diag);
}

/*
 * The config file and the command line (docs/config.md). Returns 0 to run, 1 on a refusal,
 * 2 when done (--help, --print-schema, --check-config, with *rc set).
 */
static int tdm_conf_start(int argc, char **argv, conf_start_t *st, tdm_opts_t *opts, int *rc)
{
	const conf_schema_t *schema = conf_schema_tandemd();
	tandem_diag_t *diag = NULL;
	int ret = 1;
	if (tandem_diag_new(&diag) != TANDEM_OK) {
		fprintf(stderr, "tandemd: out of memory\n");
		return 1;
	}
	if (conf_start(schema, argc, argv, diag, st) != TANDEM_OK) {
		tdm_conf_print(diag);
		if (st->cli.check) {
			printf("%s: refused\n", conf_cli_path(schema, &st->cli) != NULL
						    ? conf_cli_path(schema, &st->cli)
						    : "the command line");
		}
		*rc = 1;
		goto out;
	}
	if (st->cli.print_schema) {
		conf_schema_print(schema, stdout);
		*rc = 0;
		ret = 2;
		goto out;
	}
	int p = tdm_opts_parse(st->args.argc, st->args.argv, opts);
	if (p == 2) {
		tdm_usage(stdout);
		*rc = 0;
		ret = 2;
		goto out;
	}
	if (p != 0) {
		if (st->cli.check) {
			printf("%s: refused\n", conf_file(st->conf) != NULL ? conf_file(st->conf)
									    : "the command line");
		} else {
			tdm_usage(stderr);
		}
		*rc = 1;
		goto out;
	}
	if (st->cli.check) {
		/* the policy too: it is a file the node reads at start; nothing else is touched */
		kasp_policy_t pol;
		bool good = true;
		if (opts->policy != NULL && access(opts->policy, F_OK) != 0) {
			/* a file made later (on the host it is meant for) is no error here */
			fprintf(stderr, "tandemd: note: policy %s: not there yet\n", opts->policy);
		} else if (opts->policy != NULL) {
			good = kasp_policy_load(opts->policy, diag, &pol) == TANDEM_OK;
		}
		tdm_conf_print(diag);
		const char *path = conf_file(st->conf);
		printf("%s: %s\n", path != NULL ? path : "the command line",
		       good ? "OK" : "refused");
		*rc = good ? 0 : 1;
		ret = 2;
		goto out;
	}
	ret = 0;
out:
	tandem_diag_free(diag);
	return ret;
}

/*
 * SIGHUP: reads the config file again and says, key by key, what changed (docs/config.md,
 * "Reload"). The cycle and the SKR margin are read where they are used, so a new value is
 * applied (from each zone's next run); every other key takes a restart. Live keys are
 * compared with the file as last applied, the others with the file the node started with.
 */
typedef struct tdm_reload {
	tdm_t *d;
	const conf_start_t *st;
	const conf_t *fresh;
	tdm_opts_t *opts; /* the options in force: the live keys are written here */
	bool live;        /* this pass: the live keys (else the others) */
	unsigned changed, applied;
} tdm_reload_t;

/* A live key's new value (seconds, as the loader wrote it), or its default when it left. */
/* notify and xfr-acl: handed to the transfer server in force (docs/config.md, "Reload"). */
static void tdm_reload_dist(tdm_reload_t *r, const conf_key_t *key)
{
	const char *vals[TDM_XFR_ACL_MAX > TDM_NOTIFY_MAX ? TDM_XFR_ACL_MAX : TDM_NOTIFY_MAX];
	size_t n = conf_values(r->fresh, key, vals, sizeof(vals) / sizeof(vals[0]));
	bool notify = strcmp(key->name, "notify") == 0;
	if (n > (notify ? TDM_NOTIFY_MAX : TDM_XFR_ACL_MAX)) {
		tdm_log(r->d, "reload: %s: %zu entries, at most %d: not applied", key->name, n,
			notify ? TDM_NOTIFY_MAX : TDM_XFR_ACL_MAX);
		return;
	}
	if (r->d->dist == NULL) {
		tdm_log(r->d,
			"reload: %s changed, but this node has no transfer server "
			"(xfr-listen, at start): not applied",
			key->name);
		return;
	}
	int ret = notify ? tdm_dist_set_notify(r->d->dist, vals, n)
			 : tdm_dist_set_acl(r->d->dist, vals, n);
	if (ret != TANDEM_OK) {
		tdm_log(r->d, "reload: %s refused (%s): the list in force stays", key->name,
			tandem_strerror(ret));
		return;
	}
	r->applied++;
	tdm_log(r->d, "reload: %s now %zu entr%s%s", key->name, n, n == 1 ? "y" : "ies",
		notify ? " (every served zone NOTIFYed to it)" : "");
}

static void tdm_reload_apply(tdm_reload_t *r, const conf_key_t *key)
{
	const char *val = NULL;
	bool cycle = strcmp(key->name, "cycle") == 0;
	if (strcmp(key->name, "zone") == 0) {
		return; /* tdm_reload_zones compares the list with the zones in force */
	}
	if (strcmp(key->name, "notify") == 0 || strcmp(key->name, "xfr-acl") == 0) {
		tdm_reload_dist(r, key);
		return;
	}
	if (strcmp(key->name, "log-level") == 0) {
		const char *lv = "info";
		(void)conf_values(r->fresh, key, &lv, 1);
		(void)tandem_log_level_parse(lv, &r->opts->log_level); /* checked by the loader */
		r->applied++;
		/* said before a higher level would hide it */
		tdm_log(r->d, "reload: log-level now %s", lv);
		tandem_log_set_level(r->opts->log_level);
		return;
	}
	uint64_t v = cycle ? TDM_CYCLE_S : TDM_SKR_MARGIN_S;
	if (!cycle && strcmp(key->name, "skr-margin") != 0) {
		tdm_log(r->d, "reload: %s changed, but the node cannot apply it: restart",
			key->name);
		return;
	}
	if (conf_values(r->fresh, key, &val, 1) == 1) {
		v = strtoull(val, NULL, 10); /* checked by the loader */
	}
	if (cycle) {
		r->opts->cycle_s = v;
	} else {
		r->opts->skr_margin_s = v;
	}
	r->applied++;
	tdm_log(r->d, "reload: %s now %" PRIu64 " s%s", key->name, v,
		cycle ? " (from each zone's next run)" : "");
}

static void tdm_reload_key(void *arg, const conf_key_t *key, unsigned old_line, unsigned new_line)
{
	tdm_reload_t *r = arg;
	if (((key->flags & CONF_LIVE) != 0) != r->live) {
		return;
	}
	r->changed++;
	if (conf_cli_has(key, r->st->cli.argc, r->st->cli.argv)) {
		tdm_log(r->d, "reload: %s changed in the file, but the command line sets it",
			key->name);
		return;
	}
	if (r->live) {
		tdm_reload_apply(r, key);
		return;
	}
	tdm_log(r->d, "reload: %s changed (%s%u), needs a restart: not applied", key->name,
		new_line != 0 ? "line " : "left the file, was line ",
		new_line != 0 ? new_line : old_line);
}

/* ZONE=FILE's zone name, with its final dot (false: no name, or too long). */
static bool tdm_zone_arg_name(const char *arg, char *name, size_t size)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq != NULL ? (size_t)(eq - arg) : 0;
	if (n == 0 || n + 2 > size) {
		return false;
	}
	memcpy(name, arg, n);
	name[n] = '\0';
	if (name[n - 1] != '.') {
		name[n] = '.';
		name[n + 1] = '\0';
	}
	return true;
}

/* The zone of the node named name (removed ones aside), or NULL. */
static tdm_zone_t *tdm_zone_find(tdm_t *d, const char *name)
{
	for (size_t i = 0; i < d->nzones; i++) {
		if (!d->zones[i].gone && strcasecmp(d->zones[i].name, name) == 0) {
			return &d->zones[i];
		}
	}
	return NULL;
}

/*
 * Adds a zone to the running node (SIGHUP) as if it had been given at start: a fresh slot
 * (slots of removed zones are never reused: other threads may still name them), its input
 * watched, its published file and journal served as at start; the next pass asks for its
 * lease, runs its keys and signs or shadows it. Refused with a line when the table is full.
 */
static void tdm_zone_add(tdm_t *d, const char *arg)
{
	if (d->nzones == TDM_ZONES_MAX) {
		tdm_log(d,
			"reload: zone %s not added: this process has had %d zones (removed ones "
			"count until a restart): restart the node",
			arg, TDM_ZONES_MAX);
		return;
	}
	tdm_zone_t *z = &d->zones[d->nzones];
	memset(z, 0, sizeof(*z)); /* no other thread looks at a slot beyond nzones */
	if (tdm_zone_init(d, z, arg) != TANDEM_OK) {
		free(z->ks);
		memset(z, 0, sizeof(*z));
		tdm_log(d, "reload: zone %s not added", arg);
		return;
	}
	tdm_zone_compare_conf(d, z);
	metrics_histogram_init(&z->runs, tdm_metrics_run_buckets, tdm_metrics_run_nbuckets);
	tdm_writer_state_t ws;
	tdm_writer_get(d->writer, (size_t)(z - d->zones), &ws);
	z->written_seen = ws.done;
	d->nzones++;
	tdm_input_watch_grow(d->input_watch, d->nzones);
	if (d->dist != NULL) {
		if (access(z->journal_path, F_OK) == 0 &&
		    journal_open(z->journal_path, d->diag, &z->journal) != TANDEM_OK) {
			tdm_log_diag(d, "journal", TANDEM_EIO);
			z->journal = NULL;
		}
		tdm_dist_serve_file(d->dist, z->name, z->out_path, z->journal, &z->served);
	}
	tdm_log(d, "reload: zone %s added (input %s)", z->name, z->input);
}

/*
 * The zone list of fresh against the zones in force (not against the file last read: a zone
 * that could not be added is tried again at the next SIGHUP): zones that left it are removed
 * first, then the new ones added. A zone whose input file changed needs a restart (said at
 * each SIGHUP until then). Returns how many zones were added or removed.
 */
static unsigned tdm_reload_zones(tdm_t *d, const conf_start_t *st, const conf_t *fresh)
{
	const conf_key_t *key = conf_schema_find(conf_schema_tandemd(), "zone");
	static const char *vals[TDM_ZONES_MAX];           /* static: the loop's thread only */
	static char names[TDM_ZONES_MAX][COORD_ZONE_MAX]; /* (too big for its stack) */
	if (conf_cli_has(key, st->cli.argc, st->cli.argv)) {
		return 0; /* the command line's zones win */
	}
	size_t n = conf_values(fresh, key, vals, TDM_ZONES_MAX);
	n = n < TDM_ZONES_MAX ? n : TDM_ZONES_MAX;
	for (size_t i = 0; i < n; i++) {
		if (!tdm_zone_arg_name(vals[i], names[i], sizeof(names[i]))) {
			tdm_log(d, "reload: zone %s: want NAME=FILE; the zones stay as they are",
				vals[i]);
			return 0;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcasecmp(names[k], names[i]) == 0) {
				tdm_log(d,
					"reload: zone %s named twice; the zones stay as they are",
					names[i]);
				return 0;
			}
		}
	}
	unsigned done = 0;
	for (size_t i = 0; i < d->nzones; i++) {
		tdm_zone_t *z = &d->zones[i];
		bool kept = false;
		for (size_t k = 0; k < n && !kept && !z->gone; k++) {
			kept = strcasecmp(names[k], z->name) == 0;
		}
		if (!z->gone && !kept) {
			tdm_zone_remove(d, z);
			done++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const tdm_zone_t *z = tdm_zone_find(d, names[i]);
		if (z == NULL) {
			size_t before = d->nzones;
			tdm_zone_add(d, vals[i]);
			done += d->nzones != before;
		} else if (strcmp(z->input, strchr(vals[i], '=') + 1) != 0) {
			tdm_log(d,
				"reload: zone %s: input %s changed, needs a restart: not applied",
				z->name, strchr(vals[i], '=') + 1);
		}
	}
	return done;
}

/* *applied: the file as last applied (NULL: the one started with); replaced on success. */
static void tdm_reload_conf(tdm_t *d, const conf_start_t *st, tdm_opts_t *opts, conf_t **applied)
{
	const char *path = conf_file(st->conf);
	conf_t *fresh = NULL;
	if (path == NULL) {
		tdm_log(d, "reload: started without a config file; nothing to read again");
		return;
	}
	int ret = conf_load(conf_schema_tandemd(), path, d->diag, &fresh);
	if (ret != TANDEM_OK) {
		for (size_t i = 0; i < tandem_diag_kept(d->diag); i++) {
			tdm_log(d, "reload: %s", tandem_diag_msg(d->diag, i));
		}
		tandem_diag_clear(d->diag);
		tdm_log(d, "reload: %s refused (%s); the config in force stays", path,
			tandem_strerror(ret));
		return;
	}
	tdm_reload_t r = {.d = d, .st = st, .fresh = fresh, .opts = opts};
	conf_diff(conf_schema_tandemd(), st->conf, fresh, tdm_reload_key, &r);
	r.live = true;
	conf_diff(conf_schema_tandemd(), *applied != NULL ? *applied : st->conf, fresh,
		  tdm_reload_key, &r);
	unsigned zones = tdm_reload_zones(d, st, fresh);
	tdm_log(d, "reload: %s read, %u key(s) changed, %u applied, %u zone(s) added or removed",
		path, r.changed, r.applied, zones);
	conf_free(*applied);
	*applied = fresh;
}

int main(int argc, char **argv)
{
	tdm_opts_t opts;
	tdm_t *d = NULL;
	int rc = 1;
	sigset_t sigs;
	bool pid_written = false;
	conf_start_t st = {0};
	conf_t *conf_applied = NULL; /* the file as SIGHUP last applied it */

	if (tandem_proc_harden() != TANDEM_OK) {
		fprintf(stderr, "tandemd: cannot disable core dumps\n");
		return 1;
	}
	(void)tandem_malloc_tune(); /* freed zone versions go back to the system */
	int ret = tdm_conf_start(argc, argv, &st, &opts, &rc);
	if (ret != 0) {
		conf_start_deinit(&st);
		return rc;
	}
	rc = 1;
	tandem_log_set_level(opts.log_level);
	tandem_log_open(opts.log_target, "tandemd", opts.name != NULL ? opts.name : "-",
			opts.syslog_socket);
	/* Signals are taken synchronously in the loop; blocked before any thread starts. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
		fprintf(stderr, "tandemd: cannot block signals\n");
		conf_start_deinit(&st);
		return 1;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		fprintf(stderr, "tandemd: out of memory\n");
		conf_start_deinit(&st);
		return 1;
	}
	d->opts = &opts;
	d->lock_fd[0] = d->lock_fd[1] = -1;
	d->status = calloc(1, sizeof(*d->status));
	d->status_read = calloc(1, sizeof(*d->status_read));
	d->dec = calloc(1, sizeof(*d->dec));
	d->batch = calloc(TDM_ZONES_MAX, sizeof(*d->batch));
	d->batch_zone = calloc(TDM_ZONES_MAX, sizeof(*d->batch_zone));
	d->keys = calloc(1, sizeof(*d->keys));
	d->keyset = calloc(1, sizeof(*d->keyset));
	d->job_ks = calloc(1, sizeof(*d->job_ks));
	if (d->status == NULL || d->status_read == NULL || d->dec == NULL || d->batch == NULL ||
	    d->batch_zone == NULL || d->keys == NULL || d->keyset == NULL || d->job_ks == NULL ||
	    tandem_diag_new(&d->diag) != TANDEM_OK) {
		tdm_log(d, "out of memory");
		goto out;
	}
	if (tdm_setup(d) != TANDEM_OK) {
		goto out;
	}
	if (opts.pid_file != NULL) {
		if (tdm_pid_write(opts.pid_file) != TANDEM_OK) {
			tdm_log(d, "--pid-file %s: cannot write", opts.pid_file);
			goto out;
		}
		pid_written = true;
	}
	tdm_log(d,
		"site %c, %zu zone(s), %zu coordinator(s), token %s, cycle %" PRIu64
		" s, instance %s",
		'A' + (int)d->site, d->nzones, d->ncoords, hsm_token_label(d->token), opts.cycle_s,
		d->instance);
	tdm_files_catch_up(d);
	if (tdm_metrics_start(d) != TANDEM_OK || tdm_xfr_start(d) != TANDEM_OK ||
	    tdm_review_start(d) != TANDEM_OK) {
		goto out;
	}
	tandem_service_init(&d->svc);
	tandem_service_ready(NULL);
	for (;;) {
		tdm_step(d);
		tdm_service_tick(d);
		tdm_metrics_tick(d, tandem_mono_ms());
		tdm_dist_tick(d->dist, tandem_mono_ms());
		tdm_secondary_alerts(d);
		tdm_xfrin_alerts(d);
		long ms = d->job_zone != NULL || tdm_hsm_busy(d) ? TDM_TICK_BUSY_MS : TDM_TICK_MS;
		struct timespec tick = {0, ms * 1000000L};
		int sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			tdm_log(d, "signal %d: stopping", sig);
			tandem_service_stopping();
			break;
		}
		if (sig == SIGHUP) {
			tdm_reload_conf(d, &st, &opts, &conf_applied);
		}
	}
	if (tdm_release_all(d)) {
		/* A run thread is still in a call that does not return: leave without freeing
		 * what it uses (the token, its buffers); the kernel drops the locks. */
		if (pid_written) {
			unlink(opts.pid_file);
		}
		tdm_log(d, "stopped");
		_exit(0);
	}
	rc = 0;
out:
	if (pid_written) {
		unlink(opts.pid_file);
	}
	tdm_teardown(d);
	free(d);
	conf_free(conf_applied);
	conf_start_deinit(&st);
	tandem_log_close();
	return rc;
}
