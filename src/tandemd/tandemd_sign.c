/* tandemd's signing run on its own thread: the checked load, then the pipeline (src/pipeline). */
#include "tandemd_sign.h"

#include "dns_zone.h"
#include "tandem_error.h"
#include "pipeline.h"

#include <string.h>
#include <time.h>

static double tdm_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *tdm_sign_run(void *arg)
{
	tdm_sign_t *job = arg;
	double t0 = tdm_mono_s();
	dns_zone_t *zone = NULL;
	pipeline_result_t res;
	pipeline_result_init(&res);
	/* a regular file only, read without blocking on a FIFO, checked for shrinkage */
	int ret = tdm_input_load(&job->in, job->origin, job->diag, &zone);
	if (ret == TANDEM_OK) {
		tandem_diag_clear(job->diag); /* load warnings (occlusion) are not failures */
		/* the active's file is on disk before it is hashed, committed and recorded: a
		 * full disk shows here, not after the commit; a shadow run is not gated */
		pipeline_req_t req = {
		    .kind = PIPELINE_FULL,
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
		    .out = job->out_path,
		    .sync = !job->shadow,
		    .digest = true};
		double loaded = tdm_mono_s();
		ret = pipeline_run(&req, &res, job->diag);
		res.seconds_load = loaded - t0; /* the checked load above, not the pipeline's */
		job->input_serial = res.input_serial;
		job->sys_errno = res.sys_errno;
		pipeline_result_summary(&res, job->summary, sizeof(job->summary));
	}
	if (ret == TANDEM_OK) {
		job->serial = res.serial;
		job->signatures = res.sign.signatures;
		job->has_expiry = dns_zone_rrsig_expiration_min(zone, &job->expiry_min);
		memcpy(job->digest, res.digest, sizeof(job->digest));
		if (!job->shadow) {
			job->file = pipeline_result_file_take(&res);
		}
	}
	pipeline_result_deinit(&res); /* a shadow's file is only hashed */
	dns_zone_free(zone);
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
	tdm_input_job_clear(&job->in);
	tandem_diag_free(job->diag);
	job->diag = NULL;
}
