/* The one signing sequence: load -> serial -> sign -> gate -> write -> digest, full or update. */
#include "pipeline.h"
#include "tandem_clock.h"
#include "pipeline_internal.h"

#include "crypto.h"
#include "tandem_error.h"
#include "tandem_serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void pipeline_result_init(pipeline_result_t *res)
{
	if (res != NULL) {
		memset(res, 0, sizeof(*res));
	}
}

void pipeline_result_deinit(pipeline_result_t *res)
{
	if (res == NULL) {
		return;
	}
	tandem_afile_abort(res->file);
	dns_zone_free(res->zone);
	dns_digest_free(res->tree);
	dns_changeset_free(res->changeset);
	memset(res, 0, sizeof(*res));
}

dns_digest_t *pipeline_result_tree_take(pipeline_result_t *res)
{
	if (res == NULL) {
		return NULL;
	}
	dns_digest_t *t = res->tree;
	res->tree = NULL;
	return t;
}

dns_changeset_t *pipeline_result_changeset_take(pipeline_result_t *res)
{
	if (res == NULL) {
		return NULL;
	}
	dns_changeset_t *c = res->changeset;
	res->changeset = NULL;
	return c;
}

tandem_afile_t *pipeline_result_file_take(pipeline_result_t *res)
{
	if (res == NULL) {
		return NULL;
	}
	tandem_afile_t *f = res->file;
	res->file = NULL;
	return f;
}

dns_zone_t *pipeline_result_zone_take(pipeline_result_t *res)
{
	if (res == NULL) {
		return NULL;
	}
	dns_zone_t *z = res->zone;
	res->zone = NULL;
	return z;
}

/* The serial stage: the signer is given the serial exactly. */
static int run_serial(const pipeline_req_t *req, dns_zone_t *zone, signer_conf_t *conf,
		      pipeline_result_t *res, tandem_diag_t *diag)
{
	int ret = dns_zone_soa_serial(zone, &res->input_serial);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "%s: no usable SOA record",
				req->input != NULL ? req->input : "zone");
		return ret;
	}
	if (conf->has_serial_exact) {
		return TANDEM_OK;
	}
	uint32_t candidate = 0;
	ret = tandem_serial_next(conf->serial_mode, res->input_serial, conf->has_serial_floor,
				 conf->serial_floor, conf->now, &candidate);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "SOA serial %u cannot advance in the policy's mode",
				res->input_serial);
		return ret;
	}
	uint32_t modulus = req->modulus ? req->modulus : 1;
	uint32_t serial = 0;
	ret = tandem_serial_in_class(req->has_committed, req->committed, req->residue, modulus,
				     candidate, &serial);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "no serial above the committed %u in class %u mod %u",
				req->committed, req->residue, modulus);
		return ret;
	}
	conf->serial_exact = serial;
	conf->has_serial_exact = true;
	return TANDEM_OK;
}

/* Records in a node array: each RDATA and each RRSIG. */
static size_t count_records(const dns_node_t *nodes, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		for (uint16_t j = 0; j < nodes[i].rrset_count; j++) {
			total += (size_t)nodes[i].rrsets[j].count + nodes[i].rrsets[j].sig_count;
		}
	}
	return total;
}

/* The writer runs beside the gate: the temporary file is renamed (by the caller) only
 * if the gate passed. */
typedef struct write_job {
	const dns_zone_t *zone;
	tandem_afile_t *file;
	bool sync;
	int ret;
	int err;
	double seconds;
} write_job_t;

static void *write_run(void *arg)
{
	write_job_t *w = arg;
	double t = tandem_mono_s();
	errno = 0;
	w->ret = dns_zone_write(w->zone, tandem_afile_stream(w->file));
	if (w->ret == TANDEM_OK && fflush(tandem_afile_stream(w->file)) != 0) {
		w->ret = TANDEM_EIO;
	}
	if (w->ret == TANDEM_OK && w->sync) {
		w->ret = tandem_afile_sync(w->file);
	}
	w->err = w->ret == TANDEM_OK ? 0 : errno != 0 ? errno : EIO;
	w->seconds = tandem_mono_s() - t;
	return NULL;
}

/* The gate on this thread, the writer (when asked for) on another; the gate's verdict
 * comes first. */
static int gate_and_write(const pipeline_req_t *req, dns_zone_t *zone, const signer_conf_t *conf,
			  bool foreign, const dns_zone_pairing_t *pairing, pipeline_result_t *res,
			  tandem_diag_t *diag)
{
	write_job_t wj = {.zone = zone, .sync = req->sync};
	pthread_t writer;
	bool threaded = false;
	if (req->out != NULL) {
		errno = 0;
		int ret = tandem_afile_open(req->out, 0644, &res->file);
		if (ret != TANDEM_OK) {
			res->stage = PIPELINE_STAGE_WRITE;
			res->sys_errno = errno != 0 ? errno : EIO;
			tandem_diag_add(diag, ret, "%s: cannot make a temporary file beside it: %s",
					req->out, strerror(res->sys_errno));
			return ret;
		}
		wj.file = res->file;
		threaded = pthread_create(&writer, NULL, write_run, &wj) == 0;
	}
	int ret = TANDEM_OK;
	if (!req->no_gate) {
		double t = tandem_mono_s();
		pipeline_anchor_t anchor;
		ret = pipeline_anchor_fill(req, dns_zone_origin(zone), &anchor);
		if (ret != TANDEM_OK) {
			tandem_diag_add(diag, ret, "the DS set of the key set: %s",
					tandem_strerror(ret));
		} else {
			tandem_diag_t *gd = req->gate_diag != NULL ? req->gate_diag : diag;
			verify_conf_t vc = {.now = conf->now,
					    .ds = anchor.count ? anchor.ptr : NULL,
					    .ds_count = anchor.count,
					    .threads = req->gate_threads};
			if (vc.threads == 0) {
				long cpus = sysconf(_SC_NPROCESSORS_ONLN);
				vc.threads = cpus > 0 ? (unsigned)cpus : 1;
			}
			/* a key that signs unpublished: an algorithm rollover (RFC 6781 4.1.4) */
			vc.allow_foreign_rrsigs = foreign;
			if (req->gate_incremental && req->kind == PIPELINE_UPDATE) {
				vc.previous = req->previous;
				vc.pairing = pairing; /* when of these zones, else made there */
			}
			size_t before = tandem_diag_count(gd);
			ret = verify_zone(zone, &vc, gd, &res->gate);
			if (ret != TANDEM_OK && res->gate.failures == 0) {
				size_t added = tandem_diag_count(gd) - before;
				res->gate.failures = added ? added : 1;
			}
		}
		res->seconds_gate = tandem_mono_s() - t;
	}
	if (req->out != NULL) {
		if (threaded) {
			pthread_join(writer, NULL);
		} else {
			write_run(&wj);
		}
		res->seconds_write = wj.seconds;
	}
	if (ret != TANDEM_OK) {
		res->stage = PIPELINE_STAGE_GATE;
		return ret;
	}
	if (wj.file != NULL && wj.ret != TANDEM_OK) {
		res->stage = PIPELINE_STAGE_WRITE;
		res->sys_errno = wj.err;
		tandem_diag_add(diag, wj.ret, "%s: cannot write: %s",
				tandem_afile_tmp_path(wj.file), strerror(wj.err));
		return wj.ret;
	}
	return TANDEM_OK;
}

/* The zone to sign: the caller's, or the input loaded. */
static int run_load(const pipeline_req_t *req, pipeline_result_t *res, tandem_diag_t *diag,
		    dns_zone_t **zone)
{
	if (req->zone != NULL) {
		*zone = req->zone;
		return TANDEM_OK;
	}
	int ret = dns_zone_load(req->input, &req->load, diag, &res->zone);
	*zone = res->zone;
	return ret;
}

/* The CDS/CDNSKEY RRsets, then the signer. */
static int run_sign(const pipeline_req_t *req, dns_zone_t *zone, const signer_conf_t *conf,
		    const pipeline_keys_t *keys, pipeline_result_t *res, tandem_diag_t *diag)
{
	if (req->cds_keys != NULL) {
		int ret = pipeline_cds_put(zone, req->cds_keys, req->cds_ttl);
		if (ret != TANDEM_OK) {
			tandem_diag_add(diag, ret, "CDS/CDNSKEY for the key set: %s",
					tandem_strerror(ret));
			return ret;
		}
	}
	return signer_sign_zone(zone, conf, keys->keys, keys->nkeys, keys->token, diag, &res->sign);
}

/* The digest stage: the difference from diff_base (when given) and the zone digest v1,
 * updated from the base's state by that difference, else computed whole. It only reads the
 * zone, as the gate and the writer do, and runs beside them (digest_job_t); its error goes
 * to the diag once it is joined (a diag is not shared between threads). */
static int run_digest(const pipeline_req_t *req, dns_zone_t *zone,
		      const dns_zone_pairing_t *pairing, pipeline_result_t *res)
{
	dns_digest_t *base_tree = NULL;
	/* the base is only read: the cast is for dns_zone_diff's signature */
	dns_zone_t *base = (dns_zone_t *)req->diff_base;
	int ret = TANDEM_OK;
	if (base != NULL) {
		/* the pairing the gate uses too, when it is of these zones */
		ret = dns_zone_pairing_of(pairing, base, zone)
			  ? dns_zone_diff_paired(base, zone, pairing, &res->changeset)
			  : dns_zone_diff(base, zone, &res->changeset);
		if (ret == TANDEM_OK && req->diff_base_tree == NULL) {
			ret = dns_digest_new(base, &base_tree);
		}
	}
	if (ret == TANDEM_OK) {
		const dns_digest_t *from =
		    req->diff_base_tree != NULL ? req->diff_base_tree : base_tree;
		ret = res->changeset != NULL
			  ? dns_digest_update(from, zone, res->changeset, &res->tree)
			  : dns_digest_new(zone, &res->tree);
	}
	dns_digest_free(base_tree);
	if (ret == TANDEM_OK) {
		dns_digest_root(res->tree, res->digest);
	}
	return ret;
}

/* The pairing stage: the version this one follows (the gate's `previous`, else the digest's
 * diff_base) paired with it once, when the gate or the digest will look at the difference
 * (*out stays NULL otherwise). With a gate against one version and a digest against
 * another, the digest makes its own. */
static int run_pair(const pipeline_req_t *req, dns_zone_t *zone, dns_zone_pairing_t **out,
		    pipeline_result_t *res, tandem_diag_t *diag)
{
	const dns_zone_t *base = NULL;
	if (!req->no_gate && req->gate_incremental && req->kind == PIPELINE_UPDATE) {
		base = req->previous;
	}
	if (base == NULL && req->digest) {
		base = req->diff_base;
	}
	if (base == NULL) {
		return TANDEM_OK;
	}
	double t = tandem_mono_s();
	unsigned threads = req->gate_threads;
	if (threads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cpus > 0 ? (unsigned)cpus : 1;
	}
	/* only read: the cast is for dns_zone_pair's signature */
	int ret = dns_zone_pair((dns_zone_t *)base, zone, threads, out);
	res->seconds_pair = tandem_mono_s() - t;
	res->paired = ret == TANDEM_OK;
	if (ret == TANDEM_EINVAL) {
		return TANDEM_OK; /* another origin: the gate checks the whole zone */
	}
	if (ret != TANDEM_OK) {
		res->stage = PIPELINE_STAGE_GATE;
		tandem_diag_add(diag, ret, "pairing with the previous version: %s",
				tandem_strerror(ret));
	}
	return ret;
}

typedef struct digest_job {
	const pipeline_req_t *req;
	dns_zone_t *zone;
	const dns_zone_pairing_t *pairing;
	pipeline_result_t *res;
	int ret;
	double seconds;
} digest_job_t;

static void *digest_run(void *arg)
{
	digest_job_t *d = arg;
	double t = tandem_mono_s();
	d->ret = run_digest(d->req, d->zone, d->pairing, d->res);
	d->seconds = tandem_mono_s() - t;
	return NULL;
}

int pipeline_run(const pipeline_req_t *req, pipeline_result_t *res, tandem_diag_t *diag)
{
	if (res == NULL) {
		return TANDEM_EINVAL;
	}
	pipeline_result_deinit(res);
	if (req == NULL || (req->zone == NULL && req->input == NULL) ||
	    (req->ds_count > 0 && req->ds == NULL)) {
		return TANDEM_EINVAL;
	}
	double t0 = tandem_mono_s();
	res->stage = PIPELINE_STAGE_LOAD;
	dns_zone_t *zone = NULL;
	int ret = run_load(req, res, diag, &zone);
	double t = tandem_mono_s();
	res->seconds_load = t - t0;
	if (ret != TANDEM_OK) {
		goto out;
	}
	res->stage = PIPELINE_STAGE_KEYS;
	pipeline_keys_t keys = req->keys;
	if (req->open_keys != NULL) {
		ret = req->open_keys(req->open_keys_arg, &keys, diag);
	}
	if (ret == TANDEM_OK && (keys.nkeys == 0 || keys.keys == NULL || keys.token == NULL)) {
		ret = TANDEM_EINVAL;
		tandem_diag_add(diag, ret, "no keys to sign with");
	}
	res->seconds_keys = tandem_mono_s() - t;
	if (ret != TANDEM_OK) {
		goto out;
	}
	res->stage = PIPELINE_STAGE_SERIAL;
	signer_conf_t conf = req->conf;
	ret = run_serial(req, zone, &conf, res, diag);
	if (ret != TANDEM_OK) {
		goto out;
	}
	/* the one place that hands the previously signed zone to the signer (reuse) */
	conf.previous = req->kind == PIPELINE_UPDATE ? req->previous : NULL;
	res->stage = PIPELINE_STAGE_SIGN;
	t = tandem_mono_s();
	ret = run_sign(req, zone, &conf, &keys, res, diag);
	res->seconds_sign = tandem_mono_s() - t;
	if (ret != TANDEM_OK) {
		goto out;
	}
	res->serial = res->sign.serial;
	size_t n = 0, n3 = 0;
	const dns_node_t *nodes = dns_zone_nodes(zone, &n);
	const dns_node_t *nodes3 = dns_zone_nsec3_nodes(zone, &n3);
	res->records = count_records(nodes, n) + count_records(nodes3, n3);
	bool foreign = false;
	for (size_t i = 0; i < keys.nkeys; i++) {
		foreign |= keys.keys[i].unpublished;
	}
	/* one pairing of the version this one follows with it, for both the gate and the
	 * digest's difference: each then looks only at the nodes that are not the same */
	dns_zone_pairing_t *pairing = NULL;
	ret = run_pair(req, zone, &pairing, res, diag);
	if (ret != TANDEM_OK) {
		goto out;
	}
	/* the digest beside the gate (and the writer): on a 2-CPU machine the gate's
	 * single-threaded parts (the NSEC3 chain) leave a CPU to it */
	digest_job_t dj = {.req = req, .zone = zone, .pairing = pairing, .res = res};
	pthread_t digester;
	bool digest_threaded =
	    req->digest && !req->no_gate && pthread_create(&digester, NULL, digest_run, &dj) == 0;
	res->stage = PIPELINE_STAGE_GATE;
	ret = gate_and_write(req, zone, &conf, foreign, pairing, res, diag);
	if (digest_threaded) {
		pthread_join(digester, NULL);
	} else if (req->digest && ret == TANDEM_OK) {
		digest_run(&dj);
	}
	dns_zone_pairing_free(pairing);
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (req->digest) {
		res->seconds_digest = dj.seconds;
		ret = dj.ret;
		if (ret != TANDEM_OK) {
			res->stage = PIPELINE_STAGE_DIGEST;
			tandem_diag_add(diag, ret, "the signed zone's digest: %s",
					tandem_strerror(ret));
			goto out;
		}
	}
	res->stage = PIPELINE_STAGE_DONE;
out:
	if (ret != TANDEM_OK) {
		tandem_afile_abort(res->file);
		res->file = NULL;
	}
	res->seconds_total = tandem_mono_s() - t0;
	return ret;
}

char *pipeline_result_summary(const pipeline_result_t *res, char *buf, size_t size)
{
	if (buf == NULL || size == 0) {
		return buf;
	}
	if (res == NULL) {
		buf[0] = '\0';
		return buf;
	}
	/* as OpenDNSSEC's stats line: what was signed anew, kept, and refreshed because due;
	 * a gate that ran checked at least the DNSKEY RRset (a shadow run has none) */
	char gate[112], pair[40] = "";
	if (res->paired) {
		/* the walk pairing the versions, before the gate and the digest that share it */
		snprintf(pair, sizeof(pair), "pair %.2f s, ", res->seconds_pair);
	}
	if (res->gate.rrsets == 0 && res->gate.failures == 0) {
		snprintf(gate, sizeof(gate), "%sgate not run", pair);
	} else {
		snprintf(gate, sizeof(gate), "%sgate %.2f s (%s, %zu verified)", pair,
			 res->seconds_gate, res->gate.incremental ? "incremental" : "full",
			 res->gate.verified);
	}
	snprintf(buf, size,
		 "serial %u, %zu records, RRSIGs %zu new / %zu reused / %zu refreshed, load %.2f "
		 "s, sign %.2f s, %s, write %.2f s",
		 res->serial, res->records, res->sign.rrsigs_new, res->sign.rrsigs_reused,
		 res->sign.rrsigs_refreshed, res->seconds_load, res->seconds_sign, gate,
		 res->seconds_write);
	return buf;
}

int pipeline_gate(const pipeline_req_t *req, dns_zone_t *zone, uint64_t now, bool foreign,
		  const dns_zone_t *previous, verify_stats_t *stats, tandem_diag_t *diag)
{
	if (req == NULL || zone == NULL || stats == NULL) {
		return TANDEM_EINVAL;
	}
	pipeline_anchor_t anchor;
	int ret = pipeline_anchor_fill(req, dns_zone_origin(zone), &anchor);
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, ret, "the DS set of the key set: %s", tandem_strerror(ret));
		return ret;
	}
	verify_conf_t vc = {.now = now,
			    .ds = anchor.count ? anchor.ptr : NULL,
			    .ds_count = anchor.count,
			    .allow_foreign_rrsigs = foreign,
			    .threads = req->gate_threads > 0 ? req->gate_threads : 1,
			    .previous = previous};
	return verify_zone(zone, &vc, diag, stats);
}
