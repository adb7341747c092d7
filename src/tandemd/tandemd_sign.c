/* tandemd's signing run on its own thread: the checked load, then the pipeline (src/pipeline). */
#include "tandemd_sign.h"
#include "tandem_clock.h"

#include "dns_zone.h"
#include "dns_zone_copy.h"
#include "journal.h"
#include "pipeline.h"
#include "tandem_error.h"
#include "tandem_fault.h"
#include "tandem_serial.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

dns_zone_t *tdm_journal_replay(journal_t *j, dns_zone_t *zone, uint32_t from, uint32_t want)
{
	tandem_diag_t *quiet = NULL;
	journal_iter_t it;
	int ret = tandem_diag_new(&quiet);
	if (ret == TANDEM_OK) {
		ret = journal_iter_init(&it, j, from);
	}
	uint32_t at = from;
	while (ret == TANDEM_OK && at != want) {
		dns_changeset_t *cs = NULL;
		dns_zone_t *next = NULL;
		ret = journal_iter_next(&it, quiet, &cs);
		if (ret == TANDEM_OK && cs == NULL) {
			ret = TANDEM_ENOENT; /* the journal ends before want */
		}
		if (ret == TANDEM_OK) {
			ret = dns_zone_apply(zone, cs, &next);
			at = dns_changeset_serial(cs, true);
		}
		dns_changeset_free(cs);
		if (ret == TANDEM_OK) {
			dns_zone_free(zone);
			zone = next;
		}
	}
	tandem_diag_free(quiet);
	if (ret != TANDEM_OK) {
		dns_zone_free(zone);
		return NULL;
	}
	return zone;
}

/* A file that lags the journal (the node stopped before its writer caught up): the journal's
 * entries from the file's serial up to want applied to it (tdm_journal_replay). The journal
 * is opened into job->journal when the run has none yet. */
static dns_zone_t *tdm_sign_replay(tdm_sign_t *job, dns_zone_t *zone, uint32_t from, uint32_t want)
{
	if (job->journal_path == NULL) {
		dns_zone_free(zone);
		return NULL;
	}
	if (job->journal == NULL) {
		tandem_diag_t *quiet = NULL;
		int ret = tandem_diag_new(&quiet);
		if (ret == TANDEM_OK) {
			ret = journal_open(job->journal_path, quiet, &job->journal);
		}
		tandem_diag_free(quiet);
		if (ret != TANDEM_OK) {
			dns_zone_free(zone);
			return NULL;
		}
	}
	return tdm_journal_replay(job->journal, zone, from, want);
}

/* After a restart, this node's own copy of a serial: what it published or its shadow copy
 * (each written by the node's writer after the version was kept, so either may lag it:
 * then the journal's entries up to the serial are applied, tdm_sign_replay), when its SOA
 * serial is `want` and, with a digest, its zone digest (dns_digest.h) is that. NULL when
 * neither is; *tree (when not NULL) gets the copy's digest state when it was made;
 * job->replayed says whether the journal was applied. */
static dns_zone_t *tdm_sign_previous_load(tdm_sign_t *job, uint32_t want,
					  const uint8_t *want_digest, dns_digest_t **tree,
					  bool *borrowed)
{
	uint32_t boot_serial = 0;
	bool has_boot = job->boot != NULL &&
			dns_zone_soa_serial((dns_zone_t *)job->boot, &boot_serial) == TANDEM_OK;
	if (borrowed != NULL) {
		*borrowed = false;
	}
	/* the publication tandemd loaded at start, when it is the version wanted as it is (one
	 * that lags is brought up from the file: the journal's replay changes the copy) */
	if (borrowed != NULL && has_boot && boot_serial == want) {
		uint8_t digest[COORD_DIGEST_LEN];
		dns_digest_t *t = NULL;
		/* (the digest only reads the zone) */
		if (dns_digest_new((dns_zone_t *)job->boot, &t) == TANDEM_OK &&
		    (want_digest == NULL || (dns_digest_root(t, digest),
					     memcmp(digest, want_digest, sizeof(digest)) == 0))) {
			if (tree != NULL) {
				*tree = t;
			} else {
				dns_digest_free(t);
			}
			*borrowed = true;
			return (dns_zone_t *)job->boot;
		}
		dns_digest_free(t);
	}
	for (size_t i = 0; i < 2; i++) {
		const char *path = job->previous_paths[i];
		uint8_t digest[COORD_DIGEST_LEN];
		dns_zone_t *prev = NULL;
		dns_digest_t *t = NULL;
		uint32_t serial = 0;
		if (path == NULL || access(path, R_OK) != 0) {
			continue;
		}
		/* the file the copy loaded at start holds (not written again before this run
		 * ends): not parsed again only to find another serial, or another digest; a file
		 * that lags may still be brought up by the journal, and a copy of its own is
		 * loaded when the run takes it (a standby's adoption) */
		if (i == 0 && has_boot &&
		    (boot_serial == want ? borrowed != NULL
					 : !tandem_serial_gt(want, boot_serial))) {
			continue;
		}
		dns_load_opts_t lo = {.origin = job->origin, .keep_dnssec = true};
		tandem_diag_t *quiet = NULL;
		if (i == 0 && has_boot) {
			/* the file's records as loaded at start: copied (a walk and a memcpy per
			 * record), not parsed again, for the journal to bring up or to be taken */
			if (dns_zone_copy(job->boot, &prev) != TANDEM_OK) {
				prev = NULL;
			}
		} else if (tandem_diag_new(&quiet) == TANDEM_OK) {
			(void)dns_zone_load(path, &lo, quiet, &prev);
		}
		tandem_diag_free(quiet);
		if (prev != NULL && dns_zone_soa_serial(prev, &serial) == TANDEM_OK &&
		    serial != want && tandem_serial_gt(want, serial)) {
			prev = tdm_sign_replay(job, prev, serial, want);
			job->replayed = prev != NULL;
		}
		/* the digest is over the records, not the file: a copy is the committed version
		 * when its records are */
		if (prev != NULL && dns_zone_soa_serial(prev, &serial) == TANDEM_OK &&
		    serial == want &&
		    (want_digest == NULL || (dns_digest_new(prev, &t) == TANDEM_OK &&
					     (dns_digest_root(t, digest),
					      memcmp(digest, want_digest, sizeof(digest)) == 0)))) {
			if (tree != NULL) {
				*tree = t;
			} else {
				dns_digest_free(t);
			}
			return prev;
		}
		dns_digest_free(t);
		dns_zone_free(prev);
	}
	return NULL;
}

/* A restarted standby: when its own copy of the serial it is to shadow is the committed one
 * (by digest), it takes that copy as it is, signs nothing, and builds the next serial on
 * it. Returns false when it has no such copy (the run then builds on the base). */
static bool tdm_sign_adopt(tdm_sign_t *job, double t0)
{
	dns_digest_t *tree = NULL;
	/* (the copy taken becomes the run's own: never the shared one loaded at start) */
	dns_zone_t *prev =
	    tdm_sign_previous_load(job, job->adopt_serial, job->adopt_digest, &tree, NULL);
	if (prev == NULL) {
		return false;
	}
	job->ret = TANDEM_OK;
	job->signed_zone = prev;
	job->tree = tree;
	job->serial = job->adopt_serial;
	job->updated = true;
	memcpy(job->digest, job->adopt_digest, sizeof(job->digest));
	snprintf(job->summary, sizeof(job->summary),
		 "serial %u taken from this node's own copy (digest checked), nothing signed",
		 job->serial);
	job->seconds = tandem_mono_s() - t0;
	job->end_mono_ms = (uint64_t)(tandem_mono_s() * 1000.0);
	atomic_store(&job->done, true);
	return true;
}

/* The journal's part of a run: cs (from the version the run followed, or NULL: none) is
 * appended after any entry above its base (a version that was never committed) is dropped;
 * a journal that does not end at the base, or a run without one, starts again at this
 * run's serial. A corrupted journal is set aside (PATH.corrupt) and a new one begun: IXFR
 * from it would serve damaged data. Errors: TANDEM_EIO (sys_errno, diag): the run fails,
 * as nothing may be committed that its journal does not hold. */
static int tdm_sign_journal(tdm_sign_t *job, const dns_changeset_t *cs)
{
	if (job->journal_path == NULL) {
		return TANDEM_OK;
	}
	journal_t *j = job->journal;
	char note[160] = "";
	int ret = j != NULL ? TANDEM_OK : journal_open(job->journal_path, job->diag, &j);
	if (ret == TANDEM_JOURNAL_ECORRUPT || ret == TANDEM_JOURNAL_EVERSION) {
		char aside[4200];
		snprintf(aside, sizeof(aside), "%s.corrupt", job->journal_path);
		if (rename(job->journal_path, aside) == 0) {
			tandem_diag_clear(job->diag);
			snprintf(note, sizeof(note), ", %.100s set aside: %.40s", aside,
				 tandem_strerror(ret));
			ret = journal_open(job->journal_path, job->diag, &j);
		}
	}
	if (ret == TANDEM_OK && j != job->journal && journal_cut_bytes(j) > 0) {
		snprintf(note, sizeof(note), ", a torn tail of %zu bytes cut",
			 journal_cut_bytes(j));
	}
	uint32_t newest = 0;
	/* a difference larger than the journal may hold (a full re-signing of a large zone):
	 * the journal starts again at this serial, and IXFR from before it becomes AXFR */
	uint64_t max = job->journal_max_bytes != 0 ? job->journal_max_bytes : UINT64_MAX;
	if (ret == TANDEM_OK && cs != NULL &&
	    (journal_entry_bytes(cs) + 16u > max || journal_entry_bytes(cs) > (1ull << 30))) {
		snprintf(note, sizeof(note),
			 ", the difference (%zu records) is larger than the "
			 "journal may hold",
			 dns_changeset_size(cs));
		cs = NULL;
	}
	if (ret == TANDEM_OK && cs != NULL) {
		uint32_t from = dns_changeset_serial(cs, false);
		ret = journal_truncate_after(j, from, job->diag);
		if (ret == TANDEM_OK && journal_serial(j, false, &newest) && newest != from) {
			ret =
			    journal_reset(j, job->diag); /* a gap: the journal starts again here */
		}
		if (ret == TANDEM_OK) {
			ret = journal_append(j, cs, job->diag);
			tandem_fault("journal-appended");
		}
		job->journaled = ret == TANDEM_OK;
		job->journal_from = from;
	} else if (ret == TANDEM_OK) {
		ret = journal_reset(j, job->diag);
	}
	if (ret == TANDEM_OK) {
		ret = journal_limit(j, job->journal_max_entries, job->journal_max_bytes, job->diag);
	}
	if (ret == TANDEM_OK) {
		size_t len = strlen(job->summary);
		if (cs != NULL) {
			snprintf(job->summary + len, sizeof(job->summary) - len,
				 ", journal %u -> %u: %zu records%s",
				 dns_changeset_serial(cs, false), dns_changeset_serial(cs, true),
				 dns_changeset_size(cs), note);
		} else {
			snprintf(job->summary + len, sizeof(job->summary) - len,
				 ", journal restarts at %u%s", job->serial, note);
		}
	} else if (ret == TANDEM_EIO && job->sys_errno == 0) {
		job->sys_errno = errno != 0 ? errno : EIO;
		job->sys_path = job->journal_path; /* a full --work: the alert names the journal */
	}
	if (ret != TANDEM_OK) {
		journal_close(j); /* opened (and checked) again by the next run */
		j = NULL;
	}
	job->journal = j;
	return ret;
}

/* Whether the run reviews what it read: an active run of the input itself (the good copy
 * was reviewed when it became good) whose version was not reviewed or approved already. */
static bool tdm_sign_reviews(const tdm_sign_t *job, const char *command)
{
	return command != NULL && command[0] != '\0' && !job->shadow && !job->in.from_good &&
	       !(job->review_skip && job->review_skip_serial == job->in.serial);
}

/* Hook `i` could not be given the zone: a rejection that says why (no hook ran). */
static bool tdm_sign_review_refused(tdm_sign_t *job, int i, uint32_t serial, const char *why)
{
	job->review_ran[i] = true;
	job->review_serial[i] = serial;
	snprintf(job->review[i].reason, sizeof(job->review[i].reason), "%.127s", why);
	snprintf(job->review[i].first_line, sizeof(job->review[i].first_line), "%s", why);
	job->review_rejected = true;
	job->in.result = TDM_INPUT_REVIEW_REJECTED;
	tandem_diag_add(job->diag, TANDEM_EPERM, "%s", job->review[i].reason);
	return false;
}

/* Runs hook `i` (0: unsigned, 1: signed) on file for serial; false when it rejects (the
 * run then fails with TANDEM_EPERM and the input is held, as a held input is). */
static bool tdm_sign_review(tdm_sign_t *job, int i, const char *file, uint32_t serial)
{
	tdm_review_req_t req = {.command = i == 0 ? job->review_unsigned : job->review_signed,
				.zone = job->origin,
				.stage = i == 0 ? "unsigned" : "signed",
				.file = file,
				.serial = serial,
				.timeout_s = job->review_timeout};
	/* --review-listen: the same bytes by AXFR, on the review port only, only meanwhile */
	bool served = false;
	if (job->review_srv != NULL) {
		tandem_diag_t *why = NULL;
		int ret = tandem_diag_new(&why);
		if (ret == TANDEM_OK) {
			ret = tdm_review_srv_serve(job->review_srv, job->origin, file, why);
		}
		if (ret != TANDEM_OK) {
			char msg[200];
			snprintf(msg, sizeof(msg), "the review port cannot serve it: %.150s",
				 why != NULL && tandem_diag_kept(why) > 0 ? tandem_diag_msg(why, 0)
									  : tandem_strerror(ret));
			tandem_diag_free(why);
			return tdm_sign_review_refused(job, i, serial, msg);
		}
		tandem_diag_free(why);
		tdm_review_srv_req(job->review_srv, &req);
		served = true;
	}
	(void)tdm_review_run(&req, &job->review[i]); /* a failure to run is a rejection */
	if (served) {
		tdm_review_srv_unserve(job->review_srv, job->origin);
	}
	job->review_ran[i] = true;
	job->review_serial[i] = serial;
	if (job->review[i].approved) {
		return true;
	}
	job->review_rejected = true;
	job->in.result = TDM_INPUT_REVIEW_REJECTED;
	tandem_diag_add(job->diag, TANDEM_EPERM, "%s: the %s review of serial %u rejected it (%s)",
			job->input, req.stage, serial, job->review[i].reason);
	return false;
}

/* No private copy could be made for hook `i`: a rejection that says why. */
static bool tdm_sign_review_nocopy(tdm_sign_t *job, int i, uint32_t serial, int err)
{
	char why[128];
	snprintf(why, sizeof(why), "no private copy of the zone for the hook: %.60s",
		 strerror(err));
	return tdm_sign_review_refused(job, i, serial, why);
}

/* Hook `i` reads a private copy (--work is 0700) of exactly what the run read or wrote
 * (src: the input's bytes as loaded, or the written signed zone), removed after: the hook
 * sees what is signed, not a file replaced meanwhile, and cannot change what is used. */
static bool tdm_sign_review_copy(tdm_sign_t *job, int i, const char *src, uint32_t serial)
{
	char copy[4200];
	char prefix[COORD_ZONE_MAX + 16];
	snprintf(prefix, sizeof(prefix), "%sreview", job->origin);
	if (src == NULL || job->review_dir == NULL ||
	    tdm_review_copy(src, job->review_dir, prefix, copy, sizeof(copy)) != TANDEM_OK) {
		return tdm_sign_review_nocopy(job, i, serial, errno);
	}
	bool ok = tdm_sign_review(job, i, copy, serial);
	(void)unlink(copy);
	return ok;
}

/* The signed hook reads a private copy of the signed zone written from memory: the run
 * writes no file (the writer does, after the publication). */
static bool tdm_sign_review_zone(tdm_sign_t *job, const dns_zone_t *zone, uint32_t serial)
{
	char copy[4200];
	int n = job->review_dir == NULL ? -1
					: snprintf(copy, sizeof(copy), "%s/%sreview.XXXXXX",
						   job->review_dir, job->origin);
	if (n < 0 || (size_t)n >= sizeof(copy) || zone == NULL) {
		return tdm_sign_review_nocopy(job, 1, serial, ENAMETOOLONG);
	}
	int fd = mkostemp(copy, O_CLOEXEC); /* mode 0600 in --work (0700) */
	FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	bool made = fp != NULL && dns_zone_write(zone, fp) == TANDEM_OK && fflush(fp) == 0;
	int err = errno;
	if (fp != NULL) {
		fclose(fp);
	} else if (fd >= 0) {
		close(fd);
	}
	if (!made) {
		if (fd >= 0) {
			(void)unlink(copy);
		}
		return tdm_sign_review_nocopy(job, 1, serial, err != 0 ? err : EIO);
	}
	bool ok = tdm_sign_review(job, 1, copy, serial);
	(void)unlink(copy);
	return ok;
}

/* The first message of diag, or what. */
static const char *tdm_sign_first(tandem_diag_t *diag, const char *what)
{
	const char *m = tandem_diag_kept(diag) > 0 ? tandem_diag_msg(diag, 0) : NULL;
	return m != NULL ? m : what;
}

/* A standby's check of the active's version of a zone whose signatures are not deterministic
 * (docs/node.md): read from the active's transfer server, the committed nosig digest, and
 * this node's own gate on it: what changed against the active's version it verified last,
 * else the whole zone. */
static void tdm_sign_peer(tdm_sign_t *job)
{
	double t0 = tandem_mono_s();
	job->peer_checked = true;
	if (job->peer_axfr[0] == '\0') {
		snprintf(job->peer_why, sizeof(job->peer_why), "%s",
			 job->peer_skip != NULL ? job->peer_skip : "no address to read it from");
		return;
	}
	tandem_diag_t *pd = NULL;
	dns_zone_t *peer = NULL;
	if (tandem_diag_new(&pd) != TANDEM_OK) {
		snprintf(job->peer_why, sizeof(job->peer_why), "out of memory");
		return;
	}
	uint8_t nd[DNS_DIGEST_LEN];
	verify_stats_t st;
	bool foreign = false;
	for (size_t i = 0; i < job->nkeys; i++) {
		foreign |= job->keys[i].unpublished;
	}
	pipeline_req_t req = {.ds_keys = job->ds_keys, .gate_threads = job->gate_threads};
	if (dist_fetch_version(job->peer_axfr, job->origin, job->serial, job->peer_key,
			       job->peer_timeout_ms, pd, &peer) != TANDEM_OK) {
		snprintf(job->peer_why, sizeof(job->peer_why), "cannot read it: %s",
			 tdm_sign_first(pd, "transfer failed"));
	} else if (dns_zone_digest_nosig(peer, nd) != TANDEM_OK ||
		   memcmp(nd, job->peer_nosig, DNS_DIGEST_LEN) != 0) {
		snprintf(job->peer_why, sizeof(job->peer_why),
			 "the version %s serves is not the committed one (nosig digest)",
			 job->peer_axfr);
	} else if (pipeline_gate(&req, peer, (uint64_t)time(NULL), foreign, job->peer_previous, &st,
				 pd) != TANDEM_OK) {
		snprintf(job->peer_why, sizeof(job->peer_why), "%zu failures, the first: %s",
			 st.failures, tdm_sign_first(pd, "verification failed"));
	} else {
		job->peer_verified = true;
		job->peer_incremental = st.incremental;
		job->peer_zone = peer; /* the next check's base */
		peer = NULL;
	}
	dns_zone_free(peer);
	tandem_diag_free(pd);
	job->peer_seconds = tandem_mono_s() - t0;
}

static void *tdm_sign_run(void *arg)
{
	tdm_sign_t *job = arg;
	double t0 = tandem_mono_s();
	if (job->adopt && tdm_sign_adopt(job, t0)) {
		return NULL;
	}
	job->adopt = false;
	job->boot_used = false;
	dns_zone_t *zone = NULL;
	dns_zone_t *loaded_prev = NULL;
	dns_digest_t *loaded_tree = NULL;
	const dns_zone_t *previous = job->previous;
	const dns_digest_t *previous_tree = job->previous_tree;
	if (previous == NULL && job->base_serial != 0) {
		bool borrowed = false;
		previous = loaded_prev = tdm_sign_previous_load(
		    job, job->base_serial, job->has_previous_digest ? job->previous_digest : NULL,
		    &loaded_tree, &borrowed);
		previous_tree = loaded_tree;
		if (borrowed) {
			loaded_prev = NULL; /* tandemd's, shared with the transfer server */
		}
		job->boot_used = borrowed;
	}
	/* the version the journal's next entry starts from */
	const dns_zone_t *base = previous != NULL ? previous : job->held;
	const dns_digest_t *base_tree = previous != NULL ? previous_tree : job->held_tree;
	job->updated = previous != NULL;
	pipeline_result_t res;
	pipeline_result_init(&res);
	/* a regular file only, read without blocking on a FIFO, checked for shrinkage */
	int ret = tdm_input_load(&job->in, job->origin, job->diag, &zone);
	if (ret == TANDEM_OK && !job->in.from_cache && job->in.copy == NULL) {
		/* parsed anew (or an IXFR applied to the cache): the old cache is not read again.
		 * It is freed first, and the next one copied after the load freed the file's
		 * bytes: one unsigned copy at a time beside the versions (docs/benchmarks.md,
		 * "memory"). Without a copy (no memory) the next run parses the file. */
		job->in.cache = NULL;
		dns_zone_free(job->input_cache);
		job->input_cache = NULL;
		double t = tandem_mono_s();
		dns_zone_t *run = NULL;
		job->in.copy = NULL;
		if (dns_zone_copy_cow(zone, &run) == TANDEM_OK) {
			/* the zone loaded is held as it is; the run signs a copy of its arrays
			 * (the records shared) */
			job->in.copy = zone;
			zone = run;
		}
		job->in.seconds_copy += tandem_mono_s() - t;
	}
	if (ret == TANDEM_OK && tdm_sign_reviews(job, job->review_unsigned)) {
		tandem_diag_clear(job->diag);
		/* the good copy's temporary file holds the bytes loaded (written from them) */
		const char *src = job->in.good != NULL ? tandem_afile_tmp_path(job->in.good)
				  : job->in.good_kept  ? job->in.good_path
						       : job->in.path;
		if (!tdm_sign_review_copy(job, 0, src, job->in.serial)) {
			ret = TANDEM_EPERM;
			job->input_serial = job->in.serial;
		}
	}
	if (ret == TANDEM_OK) {
		tandem_diag_clear(job->diag); /* load warnings (occlusion) are not failures */
		/* no file is written here: the node's writer writes the version it keeps, off
		 * the cycle (tandemd_writer.h); a shadow run is not gated */
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
		    .digest = true,
		    .diff_base = base,
		    .diff_base_tree = base_tree};
		double loaded = tandem_mono_s();
		if (!job->shadow) {
			tandem_fault("run-signing"); /* the input loaded, nothing signed yet */
		}
		ret = pipeline_run(&req, &res, job->diag);
		if (ret == TANDEM_OK && !job->shadow) {
			tandem_fault("run-gated");
		}
		res.seconds_load = loaded - t0; /* the checked load above, not the pipeline's */
		job->input_serial = res.input_serial;
		job->sys_errno = res.sys_errno;
		job->sys_path = job->out_path;
		job->gate_failed = ret != TANDEM_OK && res.stage == PIPELINE_STAGE_GATE;
		job->gate_full = !job->shadow && !res.gate.incremental;
		job->serial = res.serial; /* a refused serial too, for the alert */
		pipeline_result_summary(&res, job->summary, sizeof(job->summary));
		size_t len = strlen(job->summary);
		snprintf(job->summary + len, sizeof(job->summary) - len,
			 ", digest %.2f s (load: read %.2f s, %s %.2f s, copy %.2f s)",
			 res.seconds_digest, job->in.seconds_read,
			 job->in.unread ? "input untouched, not read, parse skipped"
			 : job->in.hashed_pieces
			     ? "input unchanged (hashed in pieces), parse skipped"
			 : job->in.compared
			     ? "input unchanged (compared with its good copy), parse skipped"
			 : job->in.from_cache ? "input unchanged, parse skipped"
			 : job->in.from_delta ? "IXFR applied, parse skipped"
			 : job->in.from_lines ? "changed lines parsed"
					      : "parse",
			 job->in.seconds_parse, job->in.seconds_copy);
		if (job->boot_used) {
			len = strlen(job->summary);
			snprintf(job->summary + len, sizeof(job->summary) - len,
				 ", built on serial %u as loaded at start (the copy served)",
				 job->base_serial);
		}
		if (job->replayed) {
			len = strlen(job->summary);
			snprintf(job->summary + len, sizeof(job->summary) - len,
				 ", built on serial %u from its file and the journal",
				 job->base_serial);
		}
	}
	/* after the gate, before the journal and the commit: a rejected version is never
	 * journaled */
	if (ret == TANDEM_OK && tdm_sign_reviews(job, job->review_signed) &&
	    !tdm_sign_review_zone(job, zone, res.serial)) {
		ret = TANDEM_EPERM;
	}
	if (ret == TANDEM_OK) {
		job->serial = res.serial;
		job->signatures = res.sign.signatures;
		job->rrsigs_new = res.sign.rrsigs_new;
		job->rrsigs_reused = res.sign.rrsigs_reused;
		job->rrsigs_refreshed = res.sign.rrsigs_refreshed;
		job->has_expiry = dns_zone_rrsig_expiration_min(zone, &job->expiry_min);
		memcpy(job->digest, res.digest, sizeof(job->digest));
		/* durably in the journal before the run ends: the commit comes after */
		dns_changeset_t *cs = pipeline_result_changeset_take(&res);
		ret = tdm_sign_journal(job, cs);
		dns_changeset_free(cs);
	}
	if (ret == TANDEM_OK) {
		job->tree = pipeline_result_tree_take(&res);
		job->signed_zone = zone; /* the next update run's previous version */
		zone = NULL;
		if (job->want_nosig) {
			ret = dns_zone_digest_nosig(job->signed_zone, job->nosig);
			job->has_nosig = ret == TANDEM_OK;
		}
		if (ret == TANDEM_OK && job->shadow && job->want_nosig) {
			tdm_sign_peer(job);
		}
	}
	if (!job->updated) {
		job->base_serial = 0;
	}
	pipeline_result_deinit(&res);
	dns_zone_free(zone);
	dns_zone_free(loaded_prev);
	dns_digest_free(loaded_tree);
	job->ret = ret;
	job->seconds = tandem_mono_s() - t0;
	job->end_mono_ms = (uint64_t)(tandem_mono_s() * 1000.0);
	atomic_store(&job->done, true);
	return NULL;
}

int tdm_sign_unjournal(tdm_sign_t *job)
{
	if (!job->journaled || job->journal_path == NULL) {
		return TANDEM_OK;
	}
	journal_t *j = job->journal;
	int ret = j != NULL ? TANDEM_OK : journal_open(job->journal_path, job->diag, &j);
	if (ret == TANDEM_OK) {
		ret = journal_truncate_after(j, job->journal_from, job->diag);
	}
	if (ret != TANDEM_OK) {
		journal_close(j);
		j = NULL;
	}
	job->journal = j;
	job->journaled = false;
	return ret;
}

int tdm_sign_start(tdm_sign_t *job)
{
	job->ret = TANDEM_OK;
	job->sys_errno = 0;
	job->sys_path = job->out_path;
	job->serial = 0;
	job->input_serial = 0;
	job->journaled = false;
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
	dns_zone_free(job->signed_zone);
	job->signed_zone = NULL;
	dns_zone_free(job->input_cache);
	job->input_cache = NULL;
	dns_zone_free(job->peer_zone);
	job->peer_zone = NULL;
	dns_digest_free(job->tree);
	job->tree = NULL;
	tdm_input_job_clear(&job->in);
	tandem_diag_free(job->diag);
	job->diag = NULL;
}
