/* tandemd's unsigned inputs: a watch off the main thread, the settle and shrink rules, the
 * checked load a run makes, and the node's last good copy of each input. */
#include "tandemd_input.h"
#include "tandem_clock.h"

#include "dns_zone_copy.h"
#include "tandem_error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* ---- the watch ------------------------------------------------------------------------------ */

struct tdm_input_watch {
	pthread_t thread;
	pthread_mutex_t mu; /* guards looks */
	atomic_bool stop;
	uint64_t interval_ms;
	size_t n, cap; /* n guarded by mu: it grows on SIGHUP */
	const char *const *paths;
	tdm_input_look_t *looks;
};

static void *tdm_input_watch_run(void *arg)
{
	tdm_input_watch_t *w = arg;
	while (!atomic_load(&w->stop)) {
		bool moved = false; /* an input changed: the settle rule's second look comes soon */
		pthread_mutex_lock(&w->mu);
		size_t n = w->n;
		pthread_mutex_unlock(&w->mu);
		for (size_t i = 0; i < n && !atomic_load(&w->stop); i++) {
			struct stat st;
			int err = stat(w->paths[i], &st) == 0 ? 0 : errno;
			uint64_t now = tandem_mono_ms();
			pthread_mutex_lock(&w->mu);
			tdm_input_look_t *l = &w->looks[i];
			if (l->seq != 0 && err == 0) {
				tdm_input_id_t a = tdm_input_id(&l->st), b = tdm_input_id(&st);
				moved |= l->err != 0 || !tdm_input_id_equal(&a, &b);
			}
			l->seq++;
			l->mono_ms = now;
			l->err = err;
			if (err == 0) {
				l->st = st;
			}
			pthread_mutex_unlock(&w->mu);
		}
		/* sleep in short steps: a stop is seen soon */
		uint64_t wait = moved && w->interval_ms > TDM_INPUT_RELOOK_MS ? TDM_INPUT_RELOOK_MS
									      : w->interval_ms;
		for (uint64_t slept = 0; slept < wait && !atomic_load(&w->stop);) {
			uint64_t step = wait - slept < 50 ? wait - slept : 50;
			struct timespec ts = {0, (long)step * 1000000L};
			nanosleep(&ts, NULL);
			slept += step;
		}
	}
	return NULL;
}

int tdm_input_watch_new(const char *const *paths, size_t n, size_t cap, uint64_t interval_ms,
			tdm_input_watch_t **out)
{
	if (paths == NULL || n == 0 || cap < n || out == NULL) {
		return TANDEM_EINVAL;
	}
	tdm_input_watch_t *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return TANDEM_ENOMEM;
	}
	w->looks = calloc(cap, sizeof(*w->looks));
	if (w->looks == NULL || pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w->looks);
		free(w);
		return TANDEM_ENOMEM;
	}
	w->n = n;
	w->cap = cap;
	w->paths = paths;
	w->interval_ms = interval_ms;
	atomic_store(&w->stop, false);
	if (pthread_create(&w->thread, NULL, tdm_input_watch_run, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		free(w->looks);
		free(w);
		return TANDEM_ENOMEM;
	}
	*out = w;
	return TANDEM_OK;
}

void tdm_input_watch_grow(tdm_input_watch_t *w, size_t n)
{
	if (w == NULL || n > w->cap) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	if (n > w->n) {
		w->n = n;
	}
	pthread_mutex_unlock(&w->mu);
}

void tdm_input_watch_get(tdm_input_watch_t *w, size_t i, tdm_input_look_t *out)
{
	memset(out, 0, sizeof(*out));
	if (w == NULL || i >= w->cap) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	*out = w->looks[i];
	pthread_mutex_unlock(&w->mu);
}

void tdm_input_watch_free(tdm_input_watch_t *w)
{
	if (w == NULL) {
		return;
	}
	atomic_store(&w->stop, true);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	if (pthread_timedjoin_np(w->thread, NULL, &until) != 0) {
		/* stuck in stat() on a hung file system: the process is stopping anyway */
		pthread_detach(w->thread);
		return;
	}
	pthread_mutex_destroy(&w->mu);
	free(w->looks);
	free(w);
}

/* ---- the settle rule --------------------------------------------------------------------------
 */

tdm_input_id_t tdm_input_id(const struct stat *st)
{
	return (tdm_input_id_t){.dev = st->st_dev,
				.ino = st->st_ino,
				.size = st->st_size,
				.mtime_s = (int64_t)st->st_mtim.tv_sec,
				.mtime_ns = st->st_mtim.tv_nsec};
}

bool tdm_input_id_equal(const tdm_input_id_t *a, const tdm_input_id_t *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns;
}

bool tdm_settle_feed(tdm_settle_t *s, const struct stat *st, uint64_t now_ms)
{
	tdm_input_id_t id = tdm_input_id(st);
	if (s->known && tdm_input_id_equal(&s->id, &id)) {
		s->looks++;
		return false;
	}
	/* a write in place keeps the inode: only time shows it has ended */
	s->new_inode = !s->known || s->id.dev != id.dev || s->id.ino != id.ino;
	s->known = true;
	s->id = id;
	s->since_ms = now_ms;
	s->looks = 1;
	return true;
}

bool tdm_settle_ready(const tdm_settle_t *s, uint64_t settle_ms, uint64_t now_ms)
{
	if (!s->known) {
		return false;
	}
	if (s->new_inode && s->looks >= 2) {
		return true;
	}
	return now_ms >= s->since_ms && now_ms - s->since_ms >= settle_ms;
}

/* ---- the shrink rule --------------------------------------------------------------------------
 */

bool tdm_input_shrink_held(uint64_t old_count, uint64_t new_count, uint32_t max_removal)
{
	if (new_count >= old_count) {
		return false;
	}
	/* removed / old > max_removal / 10000, in integers (counts stay far below 2^50) */
	return (old_count - new_count) * 10000u > (uint64_t)max_removal * old_count;
}

/* ---- a run's load ------------------------------------------------------------------------------
 */

const char *tdm_input_type(mode_t mode)
{
	if (S_ISFIFO(mode)) {
		return "fifo";
	}
	if (S_ISDIR(mode)) {
		return "directory";
	}
	if (S_ISSOCK(mode)) {
		return "socket";
	}
	if (S_ISCHR(mode) || S_ISBLK(mode)) {
		return "device";
	}
	return "file";
}

/* Reads the open regular file whole into *buf (the caller frees it). */
static int tdm_input_read_all(int fd, size_t hint, char **buf, size_t *len)
{
	size_t cap = hint + 1, n = 0;
	char *b = malloc(cap);
	if (b == NULL) {
		return TANDEM_ENOMEM;
	}
	for (;;) {
		if (n == cap) {
			char *nb = realloc(b, cap * 2);
			if (nb == NULL) {
				free(b);
				return TANDEM_ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			free(b);
			return TANDEM_EIO;
		}
		if (r == 0) {
			break;
		}
		n += (size_t)r;
	}
	*buf = b;
	*len = n;
	return TANDEM_OK;
}

/* The delegations of the good copy, as the reference when none is known yet. */
static void tdm_input_ref_from_good(tdm_input_job_t *in, const char *origin)
{
	if (in->good_path == NULL) {
		return;
	}
	tandem_diag_t *quiet = NULL;
	dns_zone_t *zone = NULL;
	dns_load_opts_t lo = {.origin = origin};
	if (tandem_diag_new(&quiet) != TANDEM_OK) {
		return;
	}
	if (dns_zone_load(in->good_path, &lo, quiet, &zone) == TANDEM_OK) {
		in->ref_known = true;
		in->ref_used = dns_zone_delegations(zone);
	}
	dns_zone_free(zone);
	tandem_diag_free(quiet);
}

/* Writes the bytes beside the good copy (renamed over it when the caller commits). */
/* Whether good_path is still the good copy written of the cache's bytes (cache_good_id). */
static bool tdm_input_good_holds_cache(const tdm_input_job_t *in)
{
	struct stat st;
	if (!in->has_cache_good || in->good_path == NULL || stat(in->good_path, &st) != 0 ||
	    !S_ISREG(st.st_mode)) {
		return false;
	}
	tdm_input_id_t id = tdm_input_id(&st);
	return tdm_input_id_equal(&id, &in->cache_good_id);
}

/* Whether fd's pages are in the page cache (mincore of a mapping that is never read), all but
 * at most 1/32 of them: a compare must not turn a cycle into a read of the disk (a 157 MB
 * good copy written a cycle ago had 1.3% of its pages evicted on a busy machine). */
static bool tdm_input_resident(int fd, size_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	if (pg <= 0 || size == 0) {
		return false;
	}
	size_t pages = (size + (size_t)pg - 1) / (size_t)pg, missing = 0;
	unsigned char *vec = malloc(pages);
	void *m = vec != NULL ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	bool ok = m != MAP_FAILED && mincore(m, size, vec) == 0;
	for (size_t i = 0; ok && i < pages; i++) {
		missing += (vec[i] & 1) == 0;
	}
	if (m != MAP_FAILED) {
		munmap(m, size);
	}
	free(vec);
	return ok && missing <= pages / 32;
}

#define TDM_INPUT_CMP_CHUNK (1u << 20)

/* fd's bytes from where it is to its end, hashed in pieces: whether there are size of them
 * and their SHA-256 is want. */
static bool tdm_input_hash_is(int fd, char *a, off_t size, const uint8_t want[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t got[EVP_MAX_MD_SIZE];
	unsigned glen = 0;
	off_t done = 0;
	bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	while (ok) {
		ssize_t r = read(fd, a, TDM_INPUT_CMP_CHUNK);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			ok = r == 0;
			break;
		}
		ok = EVP_DigestUpdate(ctx, a, (size_t)r) == 1;
		done += r;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, got, &glen) == 1 && glen == 32 && done == size &&
	     memcmp(got, want, 32) == 0;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * A new file (not the one the cache was read from) of the good copy's size, the good copy
 * still the one written of the cache's bytes: its bytes are likely the cache's. When the
 * good copy is in the page cache (but for 1/32 of it) the file is compared with it chunk by
 * chunk, which costs a read of both from the page cache; otherwise it is hashed in pieces.
 * Either way no buffer of the file's size is filled and no SHA-256 runs over one (0.25 s
 * at 157 MB; docs/node.md, "no change"). Returns TDM_SAME_COMPARED or TDM_SAME_HASHED when
 * the bytes are the cache's (fd then at its end: the caller takes the cache's hash), else
 * TDM_SAME_NO (fd anywhere). A changed input differs at its SOA serial, in the first chunk.
 */
enum { TDM_SAME_NO, TDM_SAME_COMPARED, TDM_SAME_HASHED };
static int tdm_input_same_as_good(const tdm_input_job_t *in, int fd, off_t size)
{
	if (in->cache == NULL || in->cache_owned != in->signer_owned || in->from_good ||
	    size <= 0 || !in->has_cache_good || in->cache_good_id.size != size ||
	    in->good_path == NULL) {
		return TDM_SAME_NO;
	}
	int gfd = open(in->good_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat gst;
	if (gfd < 0) {
		return TDM_SAME_NO;
	}
	int same = TDM_SAME_NO;
	char *a = NULL, *b = NULL;
	tdm_input_id_t gid;
	if (fstat(gfd, &gst) != 0 || !S_ISREG(gst.st_mode) ||
	    (gid = tdm_input_id(&gst), !tdm_input_id_equal(&gid, &in->cache_good_id)) ||
	    (a = malloc(TDM_INPUT_CMP_CHUNK)) == NULL ||
	    (b = malloc(TDM_INPUT_CMP_CHUNK)) == NULL) {
		goto out;
	}
	if (!tdm_input_resident(gfd, (size_t)size)) {
		/* the first piece of each first: a changed input is not hashed twice */
		ssize_t ra = pread(fd, a, TDM_INPUT_CMP_CHUNK, 0);
		ssize_t rb = pread(gfd, b, TDM_INPUT_CMP_CHUNK, 0);
		if (ra > 0 && ra == rb && memcmp(a, b, (size_t)ra) == 0 &&
		    tdm_input_hash_is(fd, a, size, in->cache_hash)) {
			same = TDM_SAME_HASHED;
		}
		goto out;
	}
	for (off_t done = 0;;) {
		ssize_t ra = read(fd, a, TDM_INPUT_CMP_CHUNK);
		if (ra < 0 && errno == EINTR) {
			continue;
		}
		if (ra < 0) {
			break;
		}
		size_t got = 0;
		while (got < (size_t)ra) {
			ssize_t rb = read(gfd, b + got, (size_t)ra - got);
			if (rb < 0 && errno == EINTR) {
				continue;
			}
			if (rb <= 0) {
				goto out;
			}
			got += (size_t)rb;
		}
		if (ra == 0) {
			char c;
			same =
			    done == size && read(gfd, &c, 1) == 0 ? TDM_SAME_COMPARED : TDM_SAME_NO;
			break;
		}
		if (memcmp(a, b, (size_t)ra) != 0) {
			break;
		}
		done += ra;
	}
out:
	free(a);
	free(b);
	close(gfd);
	return same;
}

static int tdm_input_copy(tdm_input_job_t *in, const char *buf, size_t len, tandem_diag_t *diag)
{
	tandem_afile_t *f = NULL;
	int ret = tandem_afile_open(in->good_path, 0600, &f);
	if (ret == TANDEM_OK && (fwrite(buf, 1, len, tandem_afile_stream(f)) != len ||
				 fflush(tandem_afile_stream(f)) != 0)) {
		ret = TANDEM_EIO;
	}
	if (ret != TANDEM_OK) {
		tandem_diag_add(diag, TANDEM_OK, "%s: cannot keep a copy of the input: %s",
				in->good_path, tandem_strerror(ret));
		tandem_afile_abort(f);
		return ret;
	}
	struct stat st;
	in->good = f;
	in->has_good_id = fstat(fileno(tandem_afile_stream(f)), &st) == 0;
	if (in->has_good_id) {
		in->good_id = tdm_input_id(&st);
	}
	return TANDEM_OK;
}

/* Whether the loader keeps r as it is in an unsigned input of origin: class IN, inside the
 * zone, not a record the signer makes itself; an added record whose placement the loader
 * checks (CNAME, DNAME, DS, NS at a wildcard name) goes by the loader (the file is parsed). */
static bool tdm_input_delta_rr_ok(const dns_rr_t *r, bool added, const uint8_t *origin)
{
	if (added && (r->type == 5 || r->type == 39 || r->type == 43)) {
		return false;
	}
	if (added && r->type == 2 && r->owner[0] == 1 && r->owner[1] == '*') {
		return false; /* NS at a wildcard name: the loader refuses it */
	}
	switch (r->type) {
	case 46: /* RRSIG */
	case 47: /* NSEC */
	case 48: /* DNSKEY */
	case 50: /* NSEC3 */
	case 51: /* NSEC3PARAM */
	case 59: /* CDS */
	case 60: /* CDNSKEY */
	case 63: /* ZONEMD */
	case 6: /* SOA: only the changeset's own two */ return false;
	default: break;
	}
	return r->rclass == 1 && dns_name_is_sub(r->owner, origin);
}

/* The zone as cache with in->delta applied, or NULL with in->delta_why said. */
static dns_zone_t *tdm_input_delta_apply(tdm_input_job_t *in, const char *origin)
{
	uint8_t o[DNS_NAME_MAXLEN];
	size_t olen = 0;
	uint32_t serial = 0;
	dns_zone_t *zone = NULL;
	if (in->cache == NULL || in->cache_owned != in->signer_owned) {
		snprintf(in->delta_why, sizeof(in->delta_why), "no unsigned copy held");
		return NULL;
	}
	if (dns_zone_soa_serial((dns_zone_t *)in->cache, &serial) != TANDEM_OK ||
	    serial != dns_changeset_serial(in->delta, false)) {
		snprintf(in->delta_why, sizeof(in->delta_why),
			 "it starts at serial %u, the copy held is at %u",
			 dns_changeset_serial(in->delta, false), serial);
		return NULL;
	}
	if (dns_name_from_str(origin, NULL, o, &olen) != TANDEM_OK) {
		snprintf(in->delta_why, sizeof(in->delta_why), "bad origin");
		return NULL;
	}
	for (int side = 0; side < 2; side++) {
		size_t n = 0;
		const dns_rr_t *r = dns_changeset_records(in->delta, side == 1, &n);
		for (size_t i = 0; i < n; i++) {
			if (!tdm_input_delta_rr_ok(&r[i], side == 1, o)) {
				snprintf(in->delta_why, sizeof(in->delta_why),
					 "it holds a record of type %u the loader would not keep "
					 "as it is",
					 r[i].type);
				return NULL;
			}
		}
	}
	/* (dns_zone_apply only reads the copy) */
	int ret = dns_zone_apply((dns_zone_t *)in->cache, in->delta, &zone);
	if (ret != TANDEM_OK) {
		snprintf(in->delta_why, sizeof(in->delta_why), "it does not apply to the copy: %s",
			 tandem_strerror(ret));
		return NULL;
	}
	/* what the loader refuses about placement goes by the loader: data added beside a
	 * CNAME, a delegation's NS removed under its DS */
	for (int side = 0; side < 2; side++) {
		size_t n = 0;
		const dns_rr_t *r = dns_changeset_records(in->delta, side == 1, &n);
		for (size_t i = 0; i < n; i++) {
			dns_node_t *node = dns_zone_find(zone, r[i].owner);
			if (node != NULL &&
			    dns_node_rrset(node, side == 1 ? DNS_TYPE_CNAME : DNS_TYPE_DS) !=
				NULL &&
			    (side == 1 || r[i].type == DNS_TYPE_NS)) {
				snprintf(in->delta_why, sizeof(in->delta_why),
					 "it %s beside a %s the loader checks",
					 side == 1 ? "adds data" : "removes an NS",
					 side == 1 ? "CNAME" : "DS");
				dns_zone_free(zone);
				return NULL;
			}
		}
	}
	return zone;
}

/* *zone was made by dns_zone_apply and shares memory with the copy held, which the run must not
 * change: with keep_copy it becomes the next copy held and the run gets arrays of its own
 * (dns_zone_copy_cow: the records stay shared); without, the caller holds it and copies its
 * arrays before signing (tandemd_sign: a copy of a copy would lengthen the chain of versions
 * sharing memory, which dns_zone_apply cuts with a whole copy). */
static int tdm_input_keep_applied(tdm_input_job_t *in, dns_zone_t **zone)
{
	if (!in->keep_copy) {
		return TANDEM_OK;
	}
	dns_zone_t *own = NULL;
	int ret = dns_zone_copy_cow(*zone, &own);
	if (ret != TANDEM_OK) {
		return ret;
	}
	in->copy = *zone;
	*zone = own;
	return TANDEM_OK;
}

/*
 * The zone as cache with the lines of buf that differ from the good copy applied (the good copy
 * being still the file written of cache's bytes), or NULL with in->lines_why said.
 */
static dns_zone_t *tdm_input_lines_apply(tdm_input_job_t *in, const char *origin, const char *buf,
					 size_t len)
{
	struct stat st;
	char *prev = NULL;
	size_t plen = 0;
	dns_zone_t *zone = NULL;
	if (in->from_good || in->cache == NULL || in->cache_owned != in->signer_owned ||
	    !in->has_cache_good || in->good_path == NULL) {
		return NULL; /* nothing to compare with: the usual parse */
	}
	int fd = open(in->good_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	tdm_input_id_t id = {0};
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		id = tdm_input_id(&st);
	}
	if (fd < 0 || !tdm_input_id_equal(&id, &in->cache_good_id)) {
		snprintf(in->lines_why, sizeof(in->lines_why),
			 "the good copy is not the file the zone held was read from");
		goto out;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
	    tdm_input_read_all(fd, (size_t)st.st_size, &prev, &plen) != TANDEM_OK ||
	    (off_t)plen != st.st_size) {
		snprintf(in->lines_why, sizeof(in->lines_why), "the good copy cannot be read");
		goto out;
	}
	dns_load_opts_t lo = {.origin = origin, .signer_owned = in->signer_owned};
	/* (dns_zone_load_delta only reads the copy held; its result shares memory with it) */
	int ret = dns_zone_load_delta((dns_zone_t *)in->cache, prev, plen, buf, len, in->path, &lo,
				      &zone, in->lines_why, sizeof(in->lines_why));
	if (ret != TANDEM_OK && ret != TANDEM_ERANGE) {
		snprintf(in->lines_why, sizeof(in->lines_why), "%s", tandem_strerror(ret));
	}
out:
	if (fd >= 0) {
		close(fd);
	}
	free(prev);
	return zone;
}

/* The zone held again for a file of the cache's bytes: its hash, and a copy of its node and
 * RRset arrays sharing its records (the cache is only read but for a reference to its memory;
 * signing changes the copy's arrays, never the records). Times the read (from t0) and the
 * copy. */
static int tdm_input_from_cache(tdm_input_job_t *in, double t0, dns_zone_t **zone)
{
	memcpy(in->hash, in->cache_hash, sizeof(in->hash));
	in->from_cache = true;
	double t1 = tandem_mono_s();
	in->seconds_read = t1 - t0;
	int ret = dns_zone_copy_cow((dns_zone_t *)in->cache, zone);
	in->seconds_copy = tandem_mono_s() - t1;
	return ret;
}

int tdm_input_load(tdm_input_job_t *in, const char *origin, tandem_diag_t *diag, dns_zone_t **out)
{
	if (in == NULL || in->path == NULL || origin == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = NULL;
	dns_zone_t *zone = NULL;
	in->good = NULL;
	in->ref_known = false;
	in->type[0] = '\0';
	in->from_cache = false;
	in->good_kept = false;
	in->unread = false;
	in->compared = false;
	in->hashed_pieces = false;
	in->from_delta = false;
	in->delta_why[0] = '\0';
	in->from_lines = false;
	in->lines_why[0] = '\0';
	in->has_good_id = false;
	in->copy = NULL;
	in->seconds_read = in->seconds_parse = in->seconds_copy = 0;
	double t0 = tandem_mono_s();
	/* O_NONBLOCK: opening a FIFO without a writer must not hang the run */
	int fd = open(in->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		in->result = e == ENOENT ? TDM_INPUT_MISSING : TDM_INPUT_UNREADABLE;
		tandem_diag_add(diag, TANDEM_EIO, "%s: %s", in->path, strerror(e));
		return e == ENOENT ? TANDEM_ENOENT : TANDEM_EIO;
	}
	struct stat st, st2;
	if (fstat(fd, &st) != 0) {
		in->result = TDM_INPUT_UNREADABLE;
		tandem_diag_add(diag, TANDEM_EIO, "%s: %s", in->path, strerror(errno));
		ret = TANDEM_EIO;
		goto out;
	}
	in->id = tdm_input_id(&st);
	if (!S_ISREG(st.st_mode)) {
		in->result = TDM_INPUT_NOT_REGULAR;
		snprintf(in->type, sizeof(in->type), "%s", tdm_input_type(st.st_mode));
		tandem_diag_add(diag, TANDEM_EPERM, "%s: a %s, not a regular file: not read",
				in->path, in->type);
		ret = TANDEM_EPERM;
		goto out;
	}
	in->ctime_s = (int64_t)st.st_ctim.tv_sec;
	in->ctime_ns = st.st_ctim.tv_nsec;
	in->unread = in->cache != NULL && in->has_cache_id && in->cache_owned == in->signer_owned &&
		     tdm_input_id_equal(&in->id, &in->cache_id) &&
		     in->ctime_s == in->cache_ctime_s && in->ctime_ns == in->cache_ctime_ns;
	if (in->unread) {
		/* the very file of the kept zone, untouched since: a cycle without a new input */
		ret = tdm_input_from_cache(in, t0, &zone);
		goto loaded;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		in->result = TDM_INPUT_UNREADABLE;
		ret = TANDEM_EIO;
		goto out;
	}
	int same = tdm_input_same_as_good(in, fd, st.st_size);
	if (same != TDM_SAME_NO) {
		if (fstat(fd, &st2) == 0) {
			tdm_input_id_t now = tdm_input_id(&st2);
			in->compared = tdm_input_id_equal(&in->id, &now);
		}
		in->hashed_pieces = in->compared && same == TDM_SAME_HASHED;
		if (in->compared) {
			/* the cache's bytes (the good copy stays) */
			ret = tdm_input_from_cache(in, t0, &zone);
			goto loaded;
		}
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		in->result = TDM_INPUT_UNREADABLE;
		tandem_diag_add(diag, TANDEM_EIO, "%s: %s", in->path, strerror(errno));
		ret = TANDEM_EIO;
		goto out;
	}
	ret = tdm_input_read_all(fd, (size_t)st.st_size, &buf, &len);
	if (ret == TANDEM_OK && fstat(fd, &st2) != 0) {
		ret = TANDEM_EIO;
	}
	if (ret != TANDEM_OK) {
		in->result = TDM_INPUT_UNREADABLE;
		tandem_diag_add(diag, ret, "%s: cannot read: %s", in->path, tandem_strerror(ret));
		goto out;
	}
	tdm_input_id_t after = tdm_input_id(&st2);
	if (!tdm_input_id_equal(&in->id, &after) || (off_t)len != st.st_size) {
		in->result = TDM_INPUT_CHANGED;
		tandem_diag_add(diag, TANDEM_EIO, "%s: changed while it was read", in->path);
		ret = TANDEM_EIO;
		goto out;
	}
	if (len == 0) {
		in->result = TDM_INPUT_REFUSED;
		tandem_diag_add(diag, TANDEM_DNS_ESOA, "%s: empty", in->path);
		ret = TANDEM_DNS_ESOA;
		goto out;
	}
	SHA256((const unsigned char *)buf, len, in->hash);
	double t1 = tandem_mono_s();
	in->seconds_read = t1 - t0;
	in->from_cache = in->cache != NULL && in->cache_owned == in->signer_owned &&
			 memcmp(in->hash, in->cache_hash, sizeof(in->hash)) == 0;
	bool delta_file = in->delta != NULL && tdm_input_id_equal(&in->id, &in->delta_id) &&
			  in->ctime_s == in->delta_ctime_s && in->ctime_ns == in->delta_ctime_ns;
	if (in->delta != NULL && !delta_file) {
		snprintf(in->delta_why, sizeof(in->delta_why),
			 "the file is no longer the one the transfer wrote");
	}
	if (in->from_cache) {
		/* the same bytes as the zone held: copied, not parsed again */
		ret = dns_zone_copy_cow((dns_zone_t *)in->cache, &zone);
	} else if (delta_file && (zone = tdm_input_delta_apply(in, origin)) != NULL) {
		/* an IXFR: the copy held with its difference applied, the file not parsed */
		in->from_delta = true;
		double t2 = tandem_mono_s();
		in->seconds_parse = t2 - t1;
		t1 = t2;
		ret = tdm_input_keep_applied(in, &zone);
	} else if (!delta_file && (zone = tdm_input_lines_apply(in, origin, buf, len)) != NULL) {
		/* the copy held with the file's changed lines applied, the rest not parsed */
		in->from_lines = true;
		double t2 = tandem_mono_s();
		in->seconds_parse = t2 - t1;
		t1 = t2;
		ret = tdm_input_keep_applied(in, &zone);
	} else {
		fp = fmemopen(buf, len, "r");
		if (fp == NULL) {
			in->result = TDM_INPUT_UNREADABLE;
			ret = TANDEM_ENOMEM;
			goto out;
		}
		dns_load_opts_t lo = {.origin = origin, .signer_owned = in->signer_owned};
		ret = dns_zone_load_stream(fp, in->path, &lo, diag, &zone);
		double t2 = tandem_mono_s();
		in->seconds_parse = t2 - t1;
		t1 = t2;
		if (ret == TANDEM_OK && in->keep_copy) {
			/* the zone parsed is held as it is; the run signs a copy of its arrays */
			in->copy = zone;
			zone = NULL;
			ret = dns_zone_copy_cow(in->copy, &zone);
		}
	}
	in->seconds_copy = tandem_mono_s() - t1;
loaded:
	if (ret == TANDEM_OK) {
		ret = dns_zone_soa_serial(zone, &in->serial);
		if (ret != TANDEM_OK) {
			tandem_diag_add(diag, ret, "%s: no usable SOA record", in->path);
		}
	}
	if (ret != TANDEM_OK) {
		in->result = ret == TANDEM_ENOMEM ? TDM_INPUT_UNREADABLE : TDM_INPUT_REFUSED;
		goto out;
	}
	in->delegations = dns_zone_delegations(zone);
	if (!in->from_good) {
		in->ref_known = in->has_ref;
		in->ref_used = in->ref;
		if (!in->has_ref) {
			tdm_input_ref_from_good(in, origin);
		}
		bool accepted = in->has_accept && in->accept_serial == in->serial;
		if (in->ref_known && !accepted &&
		    tdm_input_shrink_held(in->ref_used, in->delegations, in->max_removal)) {
			in->result = TDM_INPUT_HELD;
			tandem_diag_add(diag, TANDEM_EPERM,
					"%s: SOA serial %u has %" PRIu64
					" delegations, the last good "
					"input %" PRIu64 ": held",
					in->path, in->serial, in->delegations, in->ref_used);
			ret = TANDEM_EPERM;
			goto out;
		}
		in->good_kept = in->from_cache && tdm_input_good_holds_cache(in);
		if (in->good_path != NULL && !in->unread && !in->compared && !in->good_kept) {
			/* (an unread file is the one the good copy was made of; a copy of the
			 * cache's bytes needs no new one while the good copy is still the one
			 * written of them: 157 MB written again each unchanged cycle at 1M
			 * delegations; a compared file has no bytes held: its good copy was
			 * the one compared, replaced since only by a run of this node) */
			(void)tdm_input_copy(in, buf, len, diag); /* the run goes on without one */
		}
	}
	in->result = TDM_INPUT_LOADED;
	*out = zone;
	zone = NULL;
out:
	if (fp != NULL) {
		fclose(fp);
	}
	if (ret != TANDEM_OK) {
		dns_zone_free(in->copy);
		in->copy = NULL;
	}
	dns_zone_free(zone);
	free(buf);
	close(fd);
	return ret;
}

void tdm_input_job_clear(tdm_input_job_t *in)
{
	tandem_afile_abort(in->good);
	in->good = NULL;
	dns_zone_free(in->copy);
	in->copy = NULL;
}

/* ---- a zone's input, as the node sees it ------------------------------------------------------
 */

bool tdm_input_state_delivered(tdm_input_state_t *s, const struct stat *st, uint64_t now_ms)
{
	/* as two looks at a file renamed into place: settled (tdm_settle_ready) */
	memset(&s->settle, 0, sizeof(s->settle));
	(void)tdm_settle_feed(&s->settle, st, now_ms);
	s->settle.new_inode = true;
	s->settle.looks = 2;
	s->err = 0;
	s->regular = true;
	s->type[0] = '\0';
	s->bad = false; /* a new version gets its own chance */
	s->bad_review = false;
	return true;
}

bool tdm_input_state_look(tdm_input_state_t *s, const tdm_input_look_t *look)
{
	if (look->seq == 0 || look->seq == s->seq) {
		return false;
	}
	bool was_there = s->seq != 0 && s->err == 0 && s->regular;
	s->seq = look->seq;
	s->err = look->err;
	s->regular = look->err == 0 && S_ISREG(look->st.st_mode);
	s->type[0] = '\0';
	if (!s->regular) {
		if (look->err == 0) {
			snprintf(s->type, sizeof(s->type), "%s", tdm_input_type(look->st.st_mode));
		}
		/* the next regular file is new, whatever its inode */
		memset(&s->settle, 0, sizeof(s->settle));
		return was_there;
	}
	bool changed = tdm_settle_feed(&s->settle, &look->st, look->mono_ms) || !was_there;
	if (changed) {
		s->bad = false; /* a new version gets its own chance */
		s->bad_review = false;
	}
	return changed;
}

tdm_input_use_t tdm_input_choose(const tdm_input_state_t *s, uint64_t settle_ms, uint64_t now_ms,
				 bool has_accept, uint32_t accept_serial)
{
	if (s->seq == 0) {
		return TDM_INPUT_WAIT;
	}
	if (s->err == 0 && s->regular) {
		bool accepted =
		    s->bad && s->bad_held && has_accept && accept_serial == s->held_serial;
		bool approved = s->bad && s->bad_review && s->has_approve &&
				s->approve_serial == s->review_serial;
		if (!s->bad || accepted || approved) {
			return tdm_settle_ready(&s->settle, settle_ms, now_ms) ? TDM_INPUT_USE_INPUT
									       : TDM_INPUT_WAIT;
		}
	}
	return s->have_good ? TDM_INPUT_USE_GOOD : TDM_INPUT_WAIT;
}

int tdm_input_state_init(tdm_input_state_t *s, const char *work, const char *zone)
{
	memset(s, 0, sizeof(*s));
	int n = snprintf(s->good_path, sizeof(s->good_path), "%s/%sinput", work, zone);
	if (n < 0 || (size_t)n >= sizeof(s->good_path)) {
		return TANDEM_ERANGE;
	}
	struct stat st;
	s->have_good = stat(s->good_path, &st) == 0 && S_ISREG(st.st_mode);
	return TANDEM_OK;
}
