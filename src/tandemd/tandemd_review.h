/* tandemd's review hooks: an operator's command that approves or rejects a zone version, and
 * the review port that serves that version to it by AXFR. */
#ifndef TANDEMD_REVIEW_H
#define TANDEMD_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem_diag.h"

#define TDM_REVIEW_OUTPUT_MAX 1024 /* bytes of the hook's output kept for the log */
#define TDM_REVIEW_KEYS_MAX   8    /* --tsig-key files the review port accepts */

/* What a hook reviews; every field borrowed. */
typedef struct tdm_review_req {
	const char *command; /* the policy's zone.review-unsigned or zone.review-signed */
	const char *zone;    /* TANDEM_ZONE */
	const char *stage;   /* TANDEM_STAGE: "unsigned" or "signed" */
	const char *file;    /* TANDEM_ZONE_FILE: what the hook reads */
	uint32_t serial;     /* TANDEM_SERIAL */
	uint32_t timeout_s;  /* the hook is killed (with its process group) after this */
	/* the review port serving this version, or NULL (no --review-listen) */
	const char *axfr;     /* TANDEM_REVIEW_AXFR: "127.0.0.1:PORT" */
	const char *key;      /* TANDEM_REVIEW_KEY: the TSIG key name the port requires */
	const char *key_file; /* TANDEM_REVIEW_KEY_FILE: its file (the hook reads the secret
				 there: never in the environment) */
} tdm_review_req_t;

/* A hook's verdict, a plain value. */
typedef struct tdm_review_result {
	bool approved;  /* it exited 0 within the timeout */
	bool timed_out; /* killed at the timeout */
	double seconds;
	char reason[128];                       /* "exit 1", "killed by signal 9", "killed
						   after the timeout of 60 s", "cannot run
						   /x: No such file or directory" */
	char output[TDM_REVIEW_OUTPUT_MAX];     /* stdout and stderr as one line (newlines as
						   " | ", other control bytes as '?'), cut */
	char first_line[TDM_REVIEW_OUTPUT_MAX]; /* its first non-empty line */
} tdm_review_result_t;

/*
 * Runs req->command (split by kasp_review_split, no shell) with a clean environment (PATH,
 * TANDEM_ZONE, TANDEM_SERIAL, TANDEM_ZONE_FILE, TANDEM_STAGE, and with req->axfr
 * TANDEM_REVIEW_AXFR, TANDEM_REVIEW_KEY, TANDEM_REVIEW_KEY_FILE: nothing of tandemd's own,
 * so no PIN or secret), stdin from /dev/null, stdout and stderr into one pipe, in a process group
 * of its own that is killed when the hook ends or at the timeout, and waits for it. Blocks the
 * calling thread (the signing run's) for at most the timeout and a moment. *res is always
 * filled; res->approved is the verdict. Errors: TANDEM_EINVAL (no command, a command
 * kasp_review_split refuses), TANDEM_ENOMEM (no pipe or process); the verdict is then a
 * rejection with the reason.
 */
int tdm_review_run(const tdm_review_req_t *req, tdm_review_result_t *res);

/*
 * Copies the file src into a new private file (mode 0600) dir/<prefix>.XXXXXX, written
 * whole; path (size bytes) gets its name, which the caller unlinks. Errors: TANDEM_EIO
 * (errno is left), TANDEM_ERANGE (path too long).
 */
int tdm_review_copy(const char *src, const char *dir, const char *prefix, char *path, size_t size);

/* ---- the review port (--review-listen): the version under review, by AXFR ---- */

typedef struct tdm_review_srv tdm_review_srv_t;

/* Whether listen ("HOST:PORT" or "[HOST6]:PORT") names a loopback address (127.0.0.0/8 or
 * [::1]), the only ones --review-listen takes. */
bool tdm_review_listen_ok(const char *listen);

/*
 * Starts the review port: a transfer server (src/dist, an instance of its own, so nothing
 * it serves is ever on the public one) on listen, a loopback address only (127.0.0.0/8 or
 * [::1]), that requires TSIG with one of the key files (the cluster's --tsig-key). It
 * serves a zone only while its hook runs (tdm_review_srv_serve). Prints "review ADDR:PORT"
 * on stdout; every problem is a line in diag. Errors: TANDEM_ESYNTAX (not loopback, a bad
 * address), TANDEM_EINVAL (no key), those of dist_key_load and dist_server_new. *out set
 * only on success.
 */
int tdm_review_srv_start(const char *listen, const char *const *key_files, size_t nkeys,
			 tandem_diag_t *diag, tdm_review_srv_t **out);

/* Stops the port and frees it (wiping the keys); NULL-safe. */
void tdm_review_srv_free(tdm_review_srv_t *rs);

/* Fills req's axfr, key and key_file from the port (borrowed until tdm_review_srv_free). */
void tdm_review_srv_req(const tdm_review_srv_t *rs, tdm_review_req_t *req);

/*
 * Serves the zone file path (a review copy, loaded whole as it is) as zone on the port, from
 * now until tdm_review_srv_unserve. Any thread (the runs'). Errors: those of dns_zone_load
 * ("PATH:LINE: ..." in diag), of dist_version_new_take and dist_publish; nothing is served
 * then.
 */
int tdm_review_srv_serve(tdm_review_srv_t *rs, const char *zone, const char *path,
			 tandem_diag_t *diag);

/* Stops serving zone (NOTAUTH from the next request on); NULL-safe. */
void tdm_review_srv_unserve(tdm_review_srv_t *rs, const char *zone);

#endif
