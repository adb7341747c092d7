/* tandem-coord's audit sink: events queued, appended to the chain in etcd, mirrored to a file. */
#include "coordd_audit.h"
#include "coord_state.h"

#include "tandem_encode.h"
#include "tandem_error.h"
#include "tandem_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Entries read from etcd per turn when following the chain, and how often to follow it. */
#define FOLLOW_BATCH     256u
#define FOLLOW_EVERY_MS  500u
#define RETRY_EVERY_MS   1000u
#define RETENTION_READ   1000u
#define RETENTION_MAX_MS (10u * 60u * 1000u)

struct coordd_audit {
	coordd_audit_cfg_t cfg;
	coord_audit_t *store;
	tandem_diag_t *diag;
	audit_signer_t *signer; /* NULL: no anchors */
	/* the queue: a ring of entries stamped but not yet in the chain */
	audit_entry_t *queue;
	size_t head, count;
	uint64_t dropped; /* since the last "audit.lost" entry */
	bool failing;     /* the last append failed (logged once) */
	uint64_t retry_ms;
	int turn_err;        /* the first etcd failure of this turn */
	uint64_t backoff_ms; /* after a failure, no etcd call before this */
	/* the mirror */
	int fd;
	uint64_t mirror_seq; /* 0: empty */
	uint8_t mirror_hash[AUDIT_HASH_LEN];
	bool mirror_broken; /* the chain in etcd does not continue the mirror: not written */
	uint64_t follow_ms;
	/* anchors and retention */
	uint64_t next_anchor_ms;
	uint64_t anchored_seq;     /* the head our last anchor signed */
	uint64_t last_content_seq; /* the last entry seen that is not an anchor */
	uint64_t next_retention_ms;
	audit_entry_t *batch; /* COORD_AUDIT_BATCH_MAX, or RETENTION_READ for the cut */
};

__attribute__((format(printf, 2, 3))) static void alog(const coordd_audit_t *a, const char *fmt,
						       ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (a->cfg.log != NULL) {
		a->cfg.log(a->cfg.log_arg, line);
	}
}

static void alog_diag(coordd_audit_t *a, const char *what, int ret)
{
	const char *why = tandem_diag_msg(a->diag, 0);
	alog(a, "audit: %s: %s%s%s", what, tandem_strerror(ret), why != NULL ? ": " : "",
	     why != NULL ? why : "");
	tandem_diag_clear(a->diag);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the queue -------------------------------------------------------------------------- */

static void queue_push(coordd_audit_t *a, const audit_entry_t *e)
{
	if (a->count == COORDD_AUDIT_QUEUE_MAX) {
		/* the oldest goes: the loss is logged now and recorded in the chain later */
		const audit_entry_t *old = &a->queue[a->head];
		alog(a, "audit: queue full (etcd does not serve): event dropped: %s %s %s",
		     old->type, old->actor, old->details);
		a->head = (a->head + 1) % COORDD_AUDIT_QUEUE_MAX;
		a->count--;
		a->dropped++;
	}
	a->queue[(a->head + a->count) % COORDD_AUDIT_QUEUE_MAX] = *e;
	a->count++;
}

static void sink_emit(void *ctx, const tandem_audit_event_t *ev)
{
	coordd_audit_t *a = ctx;
	audit_entry_t e;
	audit_entry_from_event(ev, a->cfg.name, now_ms(), &e);
	queue_push(a, &e);
}

tandem_audit_sink_t coordd_audit_sink(coordd_audit_t *a)
{
	tandem_audit_sink_t s = {.emit = sink_emit, .ctx = a};
	return s;
}

size_t coordd_audit_pending(const coordd_audit_t *a)
{
	return a != NULL ? a->count : 0;
}

coord_audit_t *coordd_audit_store(coordd_audit_t *a)
{
	return a != NULL ? a->store : NULL;
}

/* Appends up to a batch of the queue; true when the queue went down. */
static bool queue_flush(coordd_audit_t *a, uint64_t now)
{
	if (a->count == 0 || now < a->retry_ms) {
		return false;
	}
	if (a->dropped > 0) {
		char details[128];
		uint64_t lost = a->dropped;
		a->dropped = 0; /* an event this push drops counts for the next entry */
		snprintf(details, sizeof(details),
			 "%" PRIu64 " events dropped: the queue was full while etcd did not serve",
			 lost);
		tandem_audit_event_t ev = {.type = "audit.lost",
					   .level = TANDEM_AUDIT_CRITICAL,
					   .actor = NULL,
					   .key_id = -1,
					   .details = details};
		char actor[AUDIT_ACTOR_MAX];
		snprintf(actor, sizeof(actor), "coord:%.80s", a->cfg.name);
		ev.actor = actor;
		audit_entry_t e;
		audit_entry_from_event(&ev, a->cfg.name, now, &e);
		queue_push(a, &e);
	}
	size_t n = a->count < COORD_AUDIT_BATCH_MAX ? a->count : COORD_AUDIT_BATCH_MAX;
	for (size_t i = 0; i < n; i++) {
		a->batch[i] = a->queue[(a->head + i) % COORDD_AUDIT_QUEUE_MAX];
	}
	int ret = coord_audit_append(a->store, a->batch, n, a->diag);
	if (ret == TANDEM_EINVAL && n > 1) {
		/* which one? the front alone tells: the others go in later turns */
		n = 1;
		a->batch[0] = a->queue[a->head];
		tandem_diag_clear(a->diag);
		ret = coord_audit_append(a->store, a->batch, n, a->diag);
	}
	if (ret == TANDEM_EINVAL) {
		/* an entry that cannot be sealed would hold the queue forever: it goes, logged
		 * and counted as lost (audit_entry_from_event makes none such) */
		const audit_entry_t *bad = &a->queue[a->head];
		alog(a, "audit: an event that cannot be recorded is dropped: %s %s %s", bad->type,
		     bad->actor, bad->details);
		tandem_diag_clear(a->diag);
		a->head = (a->head + 1) % COORDD_AUDIT_QUEUE_MAX;
		a->count--;
		a->dropped++;
		return false;
	}
	if (ret != TANDEM_OK) {
		a->turn_err = ret;
		if (!a->failing) {
			alog_diag(a,
				  "cannot append to the chain in etcd (events wait in the queue)",
				  ret);
		}
		tandem_diag_clear(a->diag);
		a->failing = true;
		a->retry_ms = now + RETRY_EVERY_MS;
		return false;
	}
	if (a->failing) {
		alog(a, "audit: appending again (%zu events waited)", a->count);
	}
	a->failing = false;
	a->head = (a->head + n) % COORDD_AUDIT_QUEUE_MAX;
	a->count -= n;
	return true;
}

/* ---- the mirror ------------------------------------------------------------------------- */

/* Reads the mirror's last entry (a partial last line, from a crash mid-write, is cut off). */
static int mirror_open(coordd_audit_t *a)
{
	char buf[2 * AUDIT_LINE_MAX + 2];
	struct stat st;
	a->fd = open(a->cfg.mirror, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (a->fd < 0 || fstat(a->fd, &st) != 0) {
		alog(a, "audit: mirror %s: %s", a->cfg.mirror, strerror(errno));
		return TANDEM_EIO;
	}
	if ((st.st_mode & 077) != 0) {
		alog(a, "audit: mirror %s: mode %03o: others may read it; made 0600", a->cfg.mirror,
		     (unsigned)(st.st_mode & 0777));
		if (fchmod(a->fd, 0600) != 0) {
			return TANDEM_EIO;
		}
	}
	if (st.st_size == 0) {
		return TANDEM_OK;
	}
	off_t from =
	    st.st_size > (off_t)(sizeof(buf) - 1) ? st.st_size - (off_t)(sizeof(buf) - 1) : 0;
	ssize_t n = pread(a->fd, buf, sizeof(buf) - 1, from);
	if (n <= 0) {
		return TANDEM_EIO;
	}
	buf[n] = '\0';
	size_t len = (size_t)n;
	if (buf[len - 1] != '\n') {
		char *nl = strrchr(buf, '\n');
		off_t keep = nl != NULL ? from + (off_t)(nl - buf) + 1 : 0;
		alog(a,
		     "audit: mirror %s: a partial last line (%jd bytes, a write cut short) is "
		     "removed",
		     a->cfg.mirror, (intmax_t)(st.st_size - keep));
		if (ftruncate(a->fd, keep) != 0) {
			return TANDEM_EIO;
		}
		if (nl == NULL) {
			return TANDEM_OK;
		}
		nl[1] = '\0';
		len = (size_t)(nl - buf) + 1;
	}
	buf[len - 1] = '\0';
	char *last = strrchr(buf, '\n');
	last = last != NULL ? last + 1 : buf;
	audit_entry_t e;
	if (audit_entry_decode(last, strlen(last), a->diag, &e) != TANDEM_OK) {
		alog_diag(a, "mirror: the last line is not an audit entry", TANDEM_ESYNTAX);
		return TANDEM_ESYNTAX;
	}
	a->mirror_seq = e.seq;
	memcpy(a->mirror_hash, e.hash, AUDIT_HASH_LEN);
	a->last_content_seq = e.seq;
	return TANDEM_OK;
}

/* Writes all of buf to the mirror. */
static int mirror_write(coordd_audit_t *a, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(a->fd, buf, len);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return TANDEM_EIO;
		}
		buf += w;
		len -= (size_t)w;
	}
	return TANDEM_OK;
}

/* Copies the chain's new entries into the mirror, each checked to continue it. */
static void mirror_follow(coordd_audit_t *a, uint64_t now)
{
	coord_audit_lines_t *l = NULL;
	if (a->mirror_broken || now < a->follow_ms) {
		return;
	}
	a->follow_ms = now + FOLLOW_EVERY_MS;
	int ret = coord_audit_read(a->store, a->mirror_seq + 1, FOLLOW_BATCH, a->diag, &l);
	if (ret != TANDEM_OK) {
		tandem_diag_clear(a->diag);
		a->turn_err = ret; /* logged by the daemon as the store's health */
		return;
	}
	size_t written = 0;
	for (size_t i = 0; i < l->n; i++) {
		audit_entry_t e;
		uint8_t d[AUDIT_HASH_LEN];
		const char *line = l->line[i];
		bool ok = audit_entry_decode(line, strlen(line), a->diag, &e) == TANDEM_OK &&
			  audit_entry_digest(&e, d) == TANDEM_OK &&
			  memcmp(d, e.hash, AUDIT_HASH_LEN) == 0;
		tandem_diag_clear(a->diag);
		if (!ok ||
		    (a->mirror_seq != 0 && (e.seq != a->mirror_seq + 1 ||
					    memcmp(e.prev, a->mirror_hash, AUDIT_HASH_LEN) != 0))) {
			alog(
			    a,
			    "audit: CRITICAL: the chain in etcd does not continue the mirror %s at "
			    "seq %" PRIu64
			    " (%s): the mirror is no longer written; compare it with "
			    "'tandemctl audit verify' and the other site's mirror",
			    a->cfg.mirror, a->mirror_seq + 1,
			    !ok                          ? "a malformed or edited entry"
			    : e.seq != a->mirror_seq + 1 ? "a gap: entries were cut from etcd "
							   "before this mirror held them"
							 : "another prev hash");
			a->mirror_broken = true;
			break;
		}
		if (mirror_write(a, line, strlen(line)) != TANDEM_OK ||
		    mirror_write(a, "\n", 1) != TANDEM_OK) {
			alog(a, "audit: mirror %s: write failed: %s (tried again next turn)",
			     a->cfg.mirror, strerror(errno));
			break;
		}
		written++;
		a->mirror_seq = e.seq;
		memcpy(a->mirror_hash, e.hash, AUDIT_HASH_LEN);
		if (strcmp(e.type, AUDIT_TYPE_ANCHOR) != 0) {
			a->last_content_seq = e.seq;
		}
	}
	if (written > 0 && fsync(a->fd) != 0) {
		alog(a, "audit: mirror %s: fsync: %s", a->cfg.mirror, strerror(errno));
	}
	if (written == FOLLOW_BATCH) {
		a->follow_ms = now; /* more to copy: at once */
	}
	coord_audit_lines_free(l);
}

/* ---- anchors and retention -------------------------------------------------------------- */

static void anchor_due(coordd_audit_t *a, uint64_t now)
{
	if (a->signer == NULL || a->cfg.anchor_every_ms == 0 || now < a->next_anchor_ms) {
		return;
	}
	a->next_anchor_ms = now + a->cfg.anchor_every_ms;
	/* an idle chain is not anchored again and again: only past new content */
	if (a->mirror_seq == 0 || a->mirror_broken || a->last_content_seq <= a->anchored_seq) {
		return;
	}
	audit_entry_t e;
	int ret = audit_anchor_make(a->signer, a->cfg.name, now, a->mirror_seq, a->mirror_hash, &e);
	if (ret != TANDEM_OK) {
		alog(a, "audit: cannot sign an anchor: %s", tandem_strerror(ret));
		return;
	}
	a->anchored_seq = a->mirror_seq;
	queue_push(a, &e);
}

/* Writes lines [0, k) of l to a dated archive file; its name in name[size]. */
static int archive_write(coordd_audit_t *a, const coord_audit_lines_t *l, size_t k, uint64_t now,
			 char *name, size_t size)
{
	char stamp[32];
	tandem_afile_t *f = NULL;
	tandem_utc_ms(now, stamp, sizeof(stamp));
	snprintf(name, size, "%s/audit-archive-%.4s%.2s%.2s-%020" PRIu64 "-%020" PRIu64 ".jsonl",
		 a->cfg.archive_dir, stamp, stamp + 5, stamp + 8, l->seq[0], l->seq[k - 1]);
	int ret = tandem_afile_open(name, 0600, &f);
	if (ret != TANDEM_OK) {
		return ret;
	}
	FILE *fp = tandem_afile_stream(f);
	for (size_t i = 0; i < k; i++) {
		if (fprintf(fp, "%s\n", l->line[i]) < 0) {
			tandem_afile_abort(f);
			return TANDEM_EIO;
		}
	}
	return tandem_afile_commit(f);
}

/* Moves the entries older than the retention from etcd to an archive file, verified. */
static void retention_due(coordd_audit_t *a, uint64_t now)
{
	coord_audit_lines_t *l = NULL;
	audit_chain_t *ch = NULL;
	coord_audit_head_t h;
	audit_verdict_t v;
	char name[1024];
	if (a->cfg.retention_ms == 0 || now < a->next_retention_ms || now < a->cfg.retention_ms) {
		return;
	}
	uint64_t every = a->cfg.retention_ms / 4u;
	a->next_retention_ms = now + (every > RETENTION_MAX_MS ? RETENTION_MAX_MS : every + 1u);
	int ret = coord_audit_head(a->store, a->diag, &h);
	if (ret == TANDEM_OK) {
		ret = coord_audit_read(a->store, h.base_seq, RETENTION_READ, a->diag, &l);
	}
	if (ret != TANDEM_OK) {
		alog_diag(a, "retention: cannot read the chain", ret);
		goto out;
	}
	size_t n = 0;
	for (; n < l->n &&
	       audit_entry_decode(l->line[n], strlen(l->line[n]), NULL, &a->batch[n]) == TANDEM_OK;
	     n++) {
	}
	size_t k = audit_cut_count(a->batch, n, now - a->cfg.retention_ms);
	if (k == 0 || l->seq[0] != h.base_seq || h.seq <= l->seq[k - 1]) {
		goto out;
	}
	/* what goes to the archive must continue what went before it */
	ret = audit_chain_new(h.base_seq, h.base_prev, NULL, &ch);
	for (size_t i = 0; ret == TANDEM_OK && i < k; i++) {
		ret = audit_chain_add_line(ch, l->line[i], strlen(l->line[i]));
	}
	if (ret == TANDEM_OK) {
		ret = audit_chain_verify(ch, &v);
	}
	if (ret != TANDEM_OK || v.fault != AUDIT_FAULT_NONE) {
		alog(a,
		     "audit: CRITICAL: retention: seq %" PRIu64 " to %" PRIu64
		     " do not verify, nothing is moved: %s",
		     l->seq[0], l->seq[k - 1], ret != TANDEM_OK ? tandem_strerror(ret) : v.text);
		goto out;
	}
	ret = archive_write(a, l, k, now, name, sizeof(name));
	if (ret != TANDEM_OK) {
		alog(a, "audit: retention: archive %s: %s: nothing is moved", name,
		     tandem_strerror(ret));
		goto out;
	}
	ret = coord_audit_cut(a->store, &h, l->seq[k - 1], v.last_hash, a->diag);
	if (ret != TANDEM_OK) {
		alog_diag(a, "retention: the cut in etcd failed (the archive file stays)", ret);
		goto out;
	}
	alog(a, "audit: retention: seq %" PRIu64 " to %" PRIu64 " moved from etcd to %s", l->seq[0],
	     l->seq[k - 1], name);
	char details[AUDIT_DETAILS_MAX], actor[AUDIT_ACTOR_MAX];
	snprintf(details, sizeof(details),
		 "seq %" PRIu64 " to %" PRIu64 " moved from etcd to the archive file %.900s",
		 l->seq[0], l->seq[k - 1], name);
	snprintf(actor, sizeof(actor), "coord:%.80s", a->cfg.name);
	tandem_audit_event_t ev = {.type = "audit.archive",
				   .level = TANDEM_AUDIT_NOTICE,
				   .actor = actor,
				   .key_id = -1,
				   .details = details};
	sink_emit(a, &ev);
out:
	tandem_diag_clear(a->diag);
	audit_chain_free(ch);
	coord_audit_lines_free(l);
}

int coordd_audit_turn(coordd_audit_t *a, uint64_t now, bool store_up, bool leader)
{
	if (a == NULL || !store_up || now < a->backoff_ms) {
		return TANDEM_OK;
	}
	a->turn_err = TANDEM_OK;
	anchor_due(a, now);
	if (queue_flush(a, now)) {
		a->follow_ms = now; /* mirror our own entries at once */
	}
	if (a->turn_err == TANDEM_OK) {
		mirror_follow(a, now);
	}
	if (a->turn_err == TANDEM_OK && leader && !a->failing) {
		retention_due(a, now);
	}
	if (a->turn_err != TANDEM_OK) {
		/* etcd did not serve: the loop is not held up by audit calls for a while */
		a->backoff_ms = now + RETRY_EVERY_MS;
	}
	return a->turn_err;
}

/* ---- what the machine decided ----------------------------------------------------------- */

/* The audit type and level of an effect; NULL for effects that are routine state (commits,
 * agreeing digests, the free-lease hint): the cluster state records those. */
static const char *effect_type(const coord_effect_t *e, const coord_input_t *in,
			       tandem_audit_level_t *level, char *buf, size_t size)
{
	*level = TANDEM_AUDIT_NOTICE;
	switch (e->kind) {
	case COORD_EFF_NODE_ADDED: *level = TANDEM_AUDIT_INFO; return "node.join";
	case COORD_EFF_NODE_REMOVED: return "node.leave";
	case COORD_EFF_GRANT: *level = TANDEM_AUDIT_INFO; return "lease.grant";
	case COORD_EFF_RELEASE: *level = TANDEM_AUDIT_INFO; return "lease.release";
	case COORD_EFF_LAPSE: *level = TANDEM_AUDIT_WARNING; return "lease.lapse";
	case COORD_EFF_DIGEST_ALERT: *level = TANDEM_AUDIT_CRITICAL; return "digest.mismatch";
	case COORD_EFF_KEY_ACTIVE: return "key.activate";
	case COORD_EFF_SWITCH_PENDING: return "switchover.pending";
	case COORD_EFF_SWITCH_CANCEL: *level = TANDEM_AUDIT_WARNING; return "switchover.cancel";
	case COORD_EFF_FENCE: *level = TANDEM_AUDIT_CRITICAL; return "node.fence";
	case COORD_EFF_EPOCH_BUMP:
		*level = TANDEM_AUDIT_CRITICAL;
		return in->kind == COORD_IN_TAKEOVER ? "takeover" : "lease.epoch";
	case COORD_EFF_NODE_STATE: return "node.state";
	case COORD_EFF_ZONE_ADDED: return "zone.add";
	case COORD_EFF_ZONE_REMOVED: return "zone.remove";
	case COORD_EFF_INSTANCE: *level = TANDEM_AUDIT_WARNING; return "node.instance";
	case COORD_EFF_INPUT_ACCEPTED: return "input.accept";
	case COORD_EFF_REVIEW:
		*level = TANDEM_AUDIT_WARNING;
		return strstr(e->text, "approves") != NULL ? "review.approve" : "review.reject";
	case COORD_EFF_PARAMS: return "config.params";
	case COORD_EFF_SITE:
		*level = TANDEM_AUDIT_CRITICAL;
		return strstr(e->text, "resum") != NULL ? "site.resume" : "site.suspend";
	case COORD_EFF_KEY_RETIRED: return "key.retire";
	case COORD_EFF_KEY_PURGED: return "key.purge";
	case COORD_EFF_NODE_ALERT:
		*level = TANDEM_AUDIT_INFO;
		if (strncmp(e->text, "alert:", 6) != 0) {
			return "alert.cleared";
		}
		*level = TANDEM_AUDIT_WARNING;
		/* the kind, from the alerts the node reported: "alert.hsm", "alert.input-held" */
		for (uint32_t i = 0; i < in->nalerts && i < COORD_ALERTS_MAX; i++) {
			char needle[64];
			snprintf(needle, sizeof(needle), " %s", in->alerts[i].kind);
			if (in->alerts[i].kind[0] != '\0' && strstr(e->text, needle) != NULL) {
				snprintf(buf, size, "alert.%s", in->alerts[i].kind);
				if (strcmp(in->alerts[i].kind, "hsm") == 0) {
					*level = TANDEM_AUDIT_CRITICAL;
				}
				return buf;
			}
		}
		return "alert.raise";
	case COORD_EFF_COMMIT:
	case COORD_EFF_DIGEST_MATCH:
	case COORD_EFF_LEASE_FREE:
	default: return NULL;
	}
}

void coordd_audit_decision(coordd_audit_t *a, const char *actor, const coord_input_t *in,
			   const coord_result_t *res)
{
	char buf[AUDIT_TYPE_MAX], details[AUDIT_DETAILS_MAX];
	if (a == NULL || in == NULL || res == NULL) {
		return;
	}
	for (size_t i = 0; i < res->neffects; i++) {
		const coord_effect_t *e = &res->effects[i];
		tandem_audit_level_t level;
		const char *type = effect_type(e, in, &level, buf, sizeof(buf));
		if (type == NULL) {
			continue;
		}
		bool keyed = e->kind == COORD_EFF_KEY_ACTIVE || e->kind == COORD_EFF_KEY_RETIRED ||
			     e->kind == COORD_EFF_KEY_PURGED;
		tandem_audit_event_t ev = {.type = type,
					   .level = level,
					   .actor = actor,
					   .zone = e->zone[0] != '\0' ? e->zone : NULL,
					   .key_id = keyed ? (int64_t)e->key_id : -1,
					   .details = e->text};
		sink_emit(a, &ev);
	}
	if (res->reason != COORD_R_OK) {
		return;
	}
	const char *type = NULL;
	tandem_audit_level_t level = TANDEM_AUDIT_NOTICE;
	switch (in->kind) {
	case COORD_IN_KEY_ADD:
		type = "key.generate";
		snprintf(details, sizeof(details),
			 "key %u (tag %u) of zone %.255s made by node %.63s, its wrapped archive "
			 "entry stored: %.300s",
			 in->key_id, in->key_tag, in->zone, in->node, res->text);
		break;
	case COORD_IN_KEY_ACK:
		if (!res->changed) {
			return; /* a repeated ack */
		}
		type = "key.import";
		level = TANDEM_AUDIT_INFO;
		snprintf(details, sizeof(details),
			 "node %.63s imported key %u of zone %.255s from the archive", in->node,
			 in->key_id, in->zone);
		break;
	case COORD_IN_KEY_DESTROYED:
		if (!res->changed) {
			return;
		}
		type = "key.destroy";
		snprintf(details, sizeof(details),
			 "node %.63s destroyed retired key %u of zone %.255s in its HSM", in->node,
			 in->key_id, in->zone);
		break;
	default: return;
	}
	tandem_audit_event_t ev = {.type = type,
				   .level = level,
				   .actor = actor,
				   .zone = in->zone,
				   .key_id = in->key_id,
				   .details = details};
	sink_emit(a, &ev);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int key_load(coordd_audit_t *a)
{
	char *text = NULL;
	size_t len = 0;
	uint8_t seed[AUDIT_KEY_LEN];
	int ret = tandem_secret_read(a->cfg.key_file, 4096, &text, &len);
	if (ret != TANDEM_OK) {
		alog(a, "audit: anchor key %s: %s%s", a->cfg.key_file, tandem_strerror(ret),
		     ret == TANDEM_EPERM ? " (group or others may read it: chmod 600)" : "");
		return ret;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ')) {
		text[--len] = '\0';
	}
	if (len != 2 * AUDIT_KEY_LEN || tandem_hex_decode(text, seed, sizeof(seed)) != TANDEM_OK) {
		alog(a, "audit: anchor key %s: not 64 hex digits (tandemctl audit keygen)",
		     a->cfg.key_file);
		ret = TANDEM_ESYNTAX;
	} else {
		ret = audit_signer_new(seed, &a->signer);
	}
	tandem_wipe(seed, sizeof(seed));
	tandem_wipe(text, len);
	free(text);
	return ret;
}

int coordd_audit_new(coord_etcd_t *etcd, const coordd_audit_cfg_t *cfg, coordd_audit_t **out)
{
	if (etcd == NULL || cfg == NULL || cfg->name == NULL || cfg->prefix == NULL ||
	    cfg->mirror == NULL || cfg->archive_dir == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	coordd_audit_t *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return TANDEM_ENOMEM;
	}
	a->cfg = *cfg;
	a->fd = -1;
	a->queue = calloc(COORDD_AUDIT_QUEUE_MAX, sizeof(*a->queue));
	a->batch = calloc(RETENTION_READ, sizeof(*a->batch));
	int ret = a->queue == NULL || a->batch == NULL || tandem_diag_new(&a->diag) != TANDEM_OK
		      ? TANDEM_ENOMEM
		      : coord_audit_new(etcd, cfg->prefix, &a->store);
	if (ret == TANDEM_OK && cfg->key_file != NULL) {
		ret = key_load(a);
	}
	if (ret == TANDEM_OK) {
		ret = mirror_open(a);
	}
	if (ret != TANDEM_OK) {
		coordd_audit_free(a);
		return ret;
	}
	uint64_t now = now_ms();
	a->next_anchor_ms = now + cfg->anchor_every_ms;
	a->next_retention_ms = now;
	a->anchored_seq = 0;
	*out = a;
	return TANDEM_OK;
}

int coordd_audit_publish_key(coordd_audit_t *a)
{
	uint8_t pub[AUDIT_KEY_LEN];
	char id[AUDIT_KEY_ID_LEN];
	if (a == NULL || a->signer == NULL) {
		return TANDEM_OK;
	}
	audit_signer_public(a->signer, pub);
	audit_key_id(pub, id);
	int ret = coord_audit_key_put(a->store, a->cfg.name, pub, a->diag);
	if (ret != TANDEM_OK) {
		alog_diag(a, "cannot store the anchor public key in etcd", ret);
		return ret;
	}
	alog(a, "audit: anchor key %s of %s stored in etcd; anchors every %" PRIu64 " s", id,
	     a->cfg.name, a->cfg.anchor_every_ms / 1000u);
	return TANDEM_OK;
}

void coordd_audit_free(coordd_audit_t *a)
{
	if (a == NULL) {
		return;
	}
	for (size_t i = 0; i < a->count; i++) {
		const audit_entry_t *e = &a->queue[(a->head + i) % COORDD_AUDIT_QUEUE_MAX];
		alog(a, "audit: at exit, not appended (etcd did not serve): %s %s %s", e->type,
		     e->actor, e->details);
	}
	if (a->fd >= 0) {
		close(a->fd);
	}
	audit_signer_free(a->signer);
	coord_audit_free(a->store);
	tandem_diag_free(a->diag);
	free(a->queue);
	free(a->batch);
	free(a);
}
