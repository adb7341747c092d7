/* tandemd's signing run: load, sign, gate, write beside the target, hash; on its own thread. */
#include "tandemd_sign.h"

#include "crypto.h"
#include "dns_zone.h"
#include "tandem_error.h"
#include "tool_signconf.h"
#include "verify.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double tdm_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The unsigned zone's SOA serial. */
static int tdm_sign_input_serial(dns_zone_t *zone, uint32_t *out)
{
	const dns_rrset_t *soa = dns_node_rrset(dns_zone_apex(zone), DNS_TYPE_SOA);
	if (soa == NULL || soa->count != 1 || dns_rdata_len(soa->rdata[0]) < 22) {
		return TANDEM_DNS_ESOA;
	}
	const uint8_t *p = soa->rdata[0] + 2 + dns_rdata_len(soa->rdata[0]) - 20;
	*out = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	return TANDEM_OK;
}

/* The serial: what the mode gives for this input, raised above the committed one into
 * the site's residue class (tandem_serial_in_class). */
static int tdm_sign_serial(tdm_sign_t *job)
{
	if (job->conf.has_serial_exact) {
		return TANDEM_OK;
	}
	uint32_t candidate = 0;
	int ret = tandem_serial_next(job->conf.serial_mode, job->input_serial, false, 0,
				     job->conf.now, &candidate);
	if (ret != TANDEM_OK) {
		tandem_diag_add(job->diag, ret, "SOA serial %u cannot advance in the policy's mode",
				job->input_serial);
		return ret;
	}
	uint32_t serial = 0;
	ret = tandem_serial_in_class(job->has_committed, job->committed, job->residue, job->modulus,
				     candidate, &serial);
	if (ret != TANDEM_OK) {
		tandem_diag_add(job->diag, ret,
				"no serial above the committed %u in class %u mod %u",
				job->committed, job->residue, job->modulus);
		return ret;
	}
	job->conf.serial_exact = serial;
	job->conf.has_serial_exact = true;
	return TANDEM_OK;
}

static void *tdm_sign_run(void *arg)
{
	tdm_sign_t *job = arg;
	double t0 = tdm_mono_s();
	dns_zone_t *zone = NULL;
	tandem_afile_t *file = NULL;
	/* a regular file only, read without blocking on a FIFO, checked for shrinkage */
	int ret = tdm_input_load(&job->in, job->origin, job->diag, &zone);
	if (ret == TANDEM_OK) {
		ret = tdm_sign_input_serial(zone, &job->input_serial);
		if (ret != TANDEM_OK) {
			tandem_diag_add(job->diag, ret, "%s: no usable SOA record", job->input);
		}
	}
	if (ret == TANDEM_OK) {
		ret = tdm_sign_serial(job);
	}
	if (ret == TANDEM_OK && job->cds_set != NULL) {
		ret = tool_cds_put(zone, job->cds_set, job->cds_ttl);
		if (ret != TANDEM_OK) {
			tandem_diag_add(job->diag, ret, "CDS/CDNSKEY for the key set: %s",
					tandem_strerror(ret));
		}
	}
	signer_stats_t ss = {0};
	if (ret == TANDEM_OK) {
		ret = signer_sign_zone(zone, &job->conf, job->keys, job->nkeys, job->token,
				       job->diag, &ss);
	}
	if (ret == TANDEM_OK && !job->shadow) {
		/* load warnings (occlusion) are not gate failures */
		tandem_diag_clear(job->diag);
		verify_conf_t vc = {.now = job->conf.now, .threads = job->gate_threads};
		verify_stats_t vs = {0};
		ret = verify_zone(zone, &vc, job->diag, &vs);
	}
	if (ret == TANDEM_OK) {
		ret = tandem_afile_open(job->out_path, 0644, &file);
		if (ret != TANDEM_OK) {
			job->sys_errno = errno;
			tandem_diag_add(job->diag, ret,
					"%s: cannot make a temporary file beside it: %s",
					job->out_path, strerror(errno));
		}
	}
	if (ret == TANDEM_OK) {
		errno = 0;
		ret = dns_zone_write(zone, tandem_afile_stream(file));
		if (ret == TANDEM_OK && fflush(tandem_afile_stream(file)) != 0) {
			ret = TANDEM_EIO;
		}
		/* the active's file is on disk before it is hashed, committed and recorded:
		 * a full disk shows here, not after the commit */
		if (ret == TANDEM_OK && !job->shadow) {
			ret = tandem_afile_sync(file);
		}
		if (ret != TANDEM_OK) {
			job->sys_errno = errno != 0 ? errno : EIO;
			tandem_diag_add(job->diag, ret, "%s: cannot write: %s",
					tandem_afile_tmp_path(file), strerror(job->sys_errno));
		}
	}
	if (ret == TANDEM_OK) {
		ret = crypto_sha256_file(tandem_afile_tmp_path(file), job->digest);
	}
	if (ret == TANDEM_OK) {
		job->serial = ss.serial;
		if (job->shadow) {
			tandem_afile_abort(file);
		} else {
			job->file = file;
		}
		file = NULL;
	}
	tandem_afile_abort(file);
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
