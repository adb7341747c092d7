/* tandemd's signing run on its own thread: the checked load, then the pipeline (src/pipeline). */
#include "tandemd_sign.h"

#include "crypto.h"
#include "dns_zone.h"
#include "pipeline.h"
#include "tandem_error.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static double tdm_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* After a restart, this node's own copy of a serial: what it published (written only after
 * the commit) or its shadow copy (kept only when its digest was the committed one), when
 * its SOA serial is `want` and, with a digest, its SHA-256 is that. NULL when neither is. */
static dns_zone_t *tdm_sign_previous_load(const tdm_sign_t *job, uint32_t want,
					  const uint8_t *want_digest)
{
	for (size_t i = 0; i < 2; i++) {
		const char *path = job->previous_paths[i];
		uint8_t digest[COORD_DIGEST_LEN];
		dns_zone_t *prev = NULL;
		uint32_t serial = 0;
		if (path == NULL || access(path, R_OK) != 0 ||
		    (want_digest != NULL && (crypto_sha256_file(path, digest) != TANDEM_OK ||
					     memcmp(digest, want_digest, sizeof(digest)) != 0))) {
			continue;
		}
		dns_load_opts_t lo = {.origin = job->origin, .keep_dnssec = true};
		tandem_diag_t *quiet = NULL;
		if (tandem_diag_new(&quiet) == TANDEM_OK) {
			(void)dns_zone_load(path, &lo, quiet, &prev);
		}
		tandem_diag_free(quiet);
		if (prev != NULL && dns_zone_soa_serial(prev, &serial) == TANDEM_OK &&
		    serial == want) {
			return prev;
		}
		dns_zone_free(prev);
	}
	return NULL;
}

/* A restarted standby: when its own copy of the serial it is to shadow is the committed one
 * (by digest), it takes that copy as it is, signs nothing, and builds the next serial on
 * it. Returns false when it has no such copy (the run then builds on the base). */
static bool tdm_sign_adopt(tdm_sign_t *job, double t0)
{
	dns_zone_t *prev = tdm_sign_previous_load(job, job->adopt_serial, job->adopt_digest);
	if (prev == NULL) {
		return false;
	}
	job->ret = TANDEM_OK;
	job->signed_zone = prev;
	job->serial = job->adopt_serial;
	job->updated = true;
	memcpy(job->digest, job->adopt_digest, sizeof(job->digest));
	snprintf(job->summary, sizeof(job->summary),
		 "serial %u taken from this node's own copy (digest checked), nothing signed",
		 job->serial);
	job->seconds = tdm_mono_s() - t0;
	atomic_store(&job->done, true);
	return true;
}

static void *tdm_sign_run(void *arg)
{
	tdm_sign_t *job = arg;
	double t0 = tdm_mono_s();
	if (job->adopt && tdm_sign_adopt(job, t0)) {
		return NULL;
	}
	job->adopt = false;
	dns_zone_t *zone = NULL;
	dns_zone_t *loaded_prev = NULL;
	const dns_zone_t *previous = job->previous;
	if (previous == NULL && job->base_serial != 0) {
		previous = loaded_prev = tdm_sign_previous_load(
		    job, job->base_serial, job->has_previous_digest ? job->previous_digest : NULL);
	}
	job->updated = previous != NULL;
	pipeline_result_t res;
	pipeline_result_init(&res);
	/* a regular file only, read without blocking on a FIFO, checked for shrinkage */
	int ret = tdm_input_load(&job->in, job->origin, job->diag, &zone);
	if (ret == TANDEM_OK) {
		tandem_diag_clear(job->diag); /* load warnings (occlusion) are not failures */
		/* the active's file is on disk before it is hashed, committed and recorded: a
		 * full disk shows here, not after the commit; a shadow run is not gated */
		pipeline_req_t req = {
		    .kind = previous != NULL ? PIPELINE_UPDATE : PIPELINE_FULL,
		    .previous = previous,
		    .zone = zone,
		    .input = job->input,
		    .has_committed = job->has_committed,
		    .committed = job->committed,
		    .residue = job->residue,
		    .modulus = job->modulus,
		    .conf = job->conf,
		    .keys = {.keys = job->keys, .nkeys = job->nkeys, .token = job->token},
		    .cds_keys = job->cds_set,
		    .cds_ttl = job->cds_ttl,
		    .no_gate = job->shadow,
		    .ds_keys = job->ds_keys,
		    .gate_threads = job->gate_threads,
		    /* a version loaded from a file after a restart is checked whole */
		    .gate_incremental = job->gate_incremental && job->previous != NULL,
		    .out = job->out_path,
		    .sync = !job->shadow,
		    .digest = true};
		double loaded = tdm_mono_s();
		ret = pipeline_run(&req, &res, job->diag);
		res.seconds_load = loaded - t0; /* the checked load above, not the pipeline's */
		job->input_serial = res.input_serial;
		job->sys_errno = res.sys_errno;
		job->gate_failed = ret != TANDEM_OK && res.stage == PIPELINE_STAGE_GATE;
		job->gate_full = !job->shadow && !res.gate.incremental;
		job->serial = res.serial; /* a refused serial too, for the alert */
		pipeline_result_summary(&res, job->summary, sizeof(job->summary));
	}
	if (ret == TANDEM_OK) {
		job->serial = res.serial;
		job->signatures = res.sign.signatures;
		job->rrsigs_new = res.sign.rrsigs_new;
		job->rrsigs_reused = res.sign.rrsigs_reused;
		job->rrsigs_refreshed = res.sign.rrsigs_refreshed;
		job->has_expiry = dns_zone_rrsig_expiration_min(zone, &job->expiry_min);
		memcpy(job->digest, res.digest, sizeof(job->digest));
		if (!job->shadow) {
			job->file = pipeline_result_file_take(&res);
		} else if (tandem_afile_commit(pipeline_result_file_take(&res)) != TANDEM_OK) {
			/* the shadow copy stays for a restart's update run; without it the
			 * next run after a restart is a full one */
			job->shadow_kept = false;
		} else {
			job->shadow_kept = true;
		}
		job->signed_zone = zone; /* the next update run's previous version */
		zone = NULL;
	}
	if (!job->updated) {
		job->base_serial = 0;
	}
	pipeline_result_deinit(&res);
	dns_zone_free(zone);
	dns_zone_free(loaded_prev);
	job->ret = ret;
	job->seconds = tdm_mono_s() - t0;
	atomic_store(&job->done, true);
	return NULL;
}

int tdm_sign_start(tdm_sign_t *job)
{
	job->ret = TANDEM_OK;
	job->sys_errno = 0;
	job->file = NULL;
	job->serial = 0;
	job->input_serial = 0;
	atomic_store(&job->done, false);
	if (job->diag == NULL && tandem_diag_new(&job->diag) != TANDEM_OK) {
		return TANDEM_ENOMEM;
	}
	tandem_diag_clear(job->diag);
	if (pthread_create(&job->thread, NULL, tdm_sign_run, job) != 0) {
		return TANDEM_ENOMEM;
	}
	job->started = true;
	return TANDEM_OK;
}

bool tdm_sign_done(tdm_sign_t *job)
{
	return job->started && atomic_load(&job->done);
}

void tdm_sign_join(tdm_sign_t *job)
{
	if (job->started) {
		pthread_join(job->thread, NULL);
		job->started = false;
	}
}

void tdm_sign_clear(tdm_sign_t *job)
{
	tdm_sign_join(job);
	tandem_afile_abort(job->file);
	job->file = NULL;
	dns_zone_free(job->signed_zone);
	job->signed_zone = NULL;
	tdm_input_job_clear(&job->in);
	tandem_diag_free(job->diag);
	job->diag = NULL;
}
