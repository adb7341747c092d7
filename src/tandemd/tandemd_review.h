/* tandemd's review hooks: an operator's command that approves or rejects a zone version. */
#ifndef TANDEMD_REVIEW_H
#define TANDEMD_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TDM_REVIEW_OUTPUT_MAX 1024 /* bytes of the hook's output kept for the log */

/* What a hook reviews; every field borrowed. */
typedef struct tdm_review_req {
	const char *command; /* the policy's zone.review-unsigned or zone.review-signed */
	const char *zone;    /* TANDEM_ZONE */
	const char *stage;   /* TANDEM_STAGE: "unsigned" or "signed" */
	const char *file;    /* TANDEM_ZONE_FILE: what the hook reads */
	uint32_t serial;     /* TANDEM_SERIAL */
	uint32_t timeout_s;  /* the hook is killed (with its process group) after this */
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
 * TANDEM_ZONE, TANDEM_SERIAL, TANDEM_ZONE_FILE, TANDEM_STAGE: nothing of tandemd's own, so
 * no PIN), stdin from /dev/null, stdout and stderr into one pipe, in a process group of its
 * own that is killed when the hook ends or at the timeout, and waits for it. Blocks the
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

#endif
