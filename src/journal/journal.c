/* A zone's journal: checksummed changesets appended and fsync'ed, torn tails cut, depth kept. */
#include "journal.h"

#include "tandem_error.h"
#include "tandem_file.h"
#include "tandem_serial.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_LEN  16u
#define VERSION     1u
#define HASH_LEN    32u
#define PAYLOAD_MIN 16u
/* an entry larger than this is not one we wrote */
#define PAYLOAD_MAX (1u << 30)

static const uint8_t magic[8] = {'T', 'D', 'M', 'J', 'R', 'N', 'L', 0};

typedef struct jentry {
	uint64_t off; /* of its length field */
	uint32_t len; /* payload bytes */
	uint32_t from, to;
} jentry_t;

struct journal {
	int fd;
	char *path;
	jentry_t *e;
	size_t n, cap;
	uint64_t size; /* bytes of the file */
	size_t cut;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t entry_size(uint32_t len)
{
	return 4u + (uint64_t)len + HASH_LEN;
}

static bool sha256(const uint8_t *data, size_t n, uint8_t out[HASH_LEN])
{
	unsigned len = 0;
	return EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) == 1 && len == HASH_LEN;
}

/* Says what failed; errno is kept for the caller (ENOSPC: a full disk). */
static int io_error(const journal_t *j, tandem_diag_t *diag, const char *what)
{
	int saved = errno;
	tandem_diag_add(diag, TANDEM_EIO, "%s: %s: %s", j->path, what, strerror(saved));
	errno = saved;
	return TANDEM_EIO;
}

static bool read_at(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			if (r == 0) {
				errno = EIO;
			}
			return false;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return true;
}

static bool write_at(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			if (w == 0) {
				errno = EIO;
			}
			return false;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return true;
}

static void sync_dir(const char *path)
{
	char *copy = strdup(path);
	if (copy == NULL) {
		return;
	}
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(copy);
}

static int index_push(journal_t *j, const jentry_t *e)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 64;
		jentry_t *bigger = realloc(j->e, sizeof(*bigger) * cap);
		if (bigger == NULL) {
			return TANDEM_ENOMEM;
		}
		j->e = bigger;
		j->cap = cap;
	}
	j->e[j->n++] = *e;
	return TANDEM_OK;
}

/* True if the file holds only zero bytes from off to its end. */
static bool zeros_to_end(const journal_t *j, uint64_t off)
{
	uint8_t buf[4096];
	while (off < j->size) {
		size_t n = j->size - off < sizeof(buf) ? (size_t)(j->size - off) : sizeof(buf);
		if (!read_at(j->fd, buf, n, off)) {
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			if (buf[i] != 0) {
				return false;
			}
		}
		off += n;
	}
	return true;
}

/* Reads and checks the whole entry at off (len payload bytes) into *out (malloc'd: the
 * length field, the payload, the hash). */
static int entry_load(journal_t *j, size_t index, uint64_t off, uint32_t len, tandem_diag_t *diag,
		      uint8_t **out)
{
	uint64_t size = entry_size(len);
	uint8_t *buf = malloc((size_t)size);
	uint8_t hash[HASH_LEN];
	if (buf == NULL) {
		return TANDEM_ENOMEM;
	}
	if (!read_at(j->fd, buf, (size_t)size, off)) {
		free(buf);
		return io_error(j, diag, "read");
	}
	if (!sha256(buf, 4u + len, hash) || memcmp(hash, buf + 4 + len, HASH_LEN) != 0) {
		free(buf);
		tandem_diag_add(diag, TANDEM_JOURNAL_ECORRUPT,
				"%s: entry %zu at offset %llu: checksum mismatch", j->path, index,
				(unsigned long long)off);
		return TANDEM_JOURNAL_ECORRUPT;
	}
	*out = buf;
	return TANDEM_OK;
}

/* Cuts the file at off (a torn tail) and fsyncs. */
static int cut_at(journal_t *j, uint64_t off, tandem_diag_t *diag)
{
	if (ftruncate(j->fd, (off_t)off) != 0 || fsync(j->fd) != 0) {
		return io_error(j, diag, "cannot cut the file");
	}
	j->size = off;
	return TANDEM_OK;
}

/* The header of a new (or never completed) file. */
static int write_header(journal_t *j, tandem_diag_t *diag)
{
	uint8_t h[HEADER_LEN] = {0};
	memcpy(h, magic, sizeof(magic));
	put32(h + 8, VERSION);
	if (ftruncate(j->fd, 0) != 0 || !write_at(j->fd, h, sizeof(h), 0) || fsync(j->fd) != 0) {
		return io_error(j, diag, "cannot write the header");
	}
	sync_dir(j->path);
	j->size = HEADER_LEN;
	return TANDEM_OK;
}

static int check_header(journal_t *j, tandem_diag_t *diag)
{
	uint8_t h[HEADER_LEN];
	if (j->size < HEADER_LEN) {
		/* a file whose creation a crash cut short: only a prefix of the header, or
		 * zeros */
		uint8_t want[HEADER_LEN] = {0};
		memcpy(want, magic, sizeof(magic));
		put32(want + 8, VERSION);
		if (j->size > 0 && !read_at(j->fd, h, (size_t)j->size, 0)) {
			return io_error(j, diag, "read");
		}
		if (j->size > 0 && memcmp(h, want, (size_t)j->size) != 0 && !zeros_to_end(j, 0)) {
			tandem_diag_add(diag, TANDEM_JOURNAL_EVERSION, "%s: not a tandem journal",
					j->path);
			return TANDEM_JOURNAL_EVERSION;
		}
		j->cut = (size_t)j->size;
		return write_header(j, diag);
	}
	if (!read_at(j->fd, h, sizeof(h), 0)) {
		return io_error(j, diag, "read");
	}
	if (memcmp(h, magic, sizeof(magic)) != 0) {
		tandem_diag_add(diag, TANDEM_JOURNAL_EVERSION, "%s: not a tandem journal", j->path);
		return TANDEM_JOURNAL_EVERSION;
	}
	if (get32(h + 8) != VERSION) {
		tandem_diag_add(diag, TANDEM_JOURNAL_EVERSION,
				"%s: journal format version %u, this program reads %u", j->path,
				get32(h + 8), VERSION);
		return TANDEM_JOURNAL_EVERSION;
	}
	return TANDEM_OK;
}

/* Reads every entry's header and checksum; cuts a torn tail. */
static int scan(journal_t *j, tandem_diag_t *diag)
{
	uint64_t off = HEADER_LEN;
	while (off < j->size) {
		uint8_t lenbuf[4];
		uint32_t len = 0;
		bool torn = j->size - off < 4;
		if (!torn) {
			if (!read_at(j->fd, lenbuf, 4, off)) {
				return io_error(j, diag, "read");
			}
			len = get32(lenbuf);
			/* an entry the file ends inside of, or zeros a crash left */
			torn =
			    off + entry_size(len) > j->size || (len == 0 && zeros_to_end(j, off));
		}
		if (torn) {
			j->cut = (size_t)(j->size - off);
			return cut_at(j, off, diag);
		}
		if (len < PAYLOAD_MIN || len > PAYLOAD_MAX) {
			tandem_diag_add(diag, TANDEM_JOURNAL_ECORRUPT,
					"%s: entry %zu at offset %llu: length %u out of range",
					j->path, j->n, (unsigned long long)off, len);
			return TANDEM_JOURNAL_ECORRUPT;
		}
		uint8_t *buf = NULL;
		int ret = entry_load(j, j->n, off, len, diag, &buf);
		if (ret != TANDEM_OK) {
			return ret;
		}
		jentry_t e = {.off = off, .len = len, .from = get32(buf + 4), .to = get32(buf + 8)};
		free(buf);
		if (j->n > 0 && e.from != j->e[j->n - 1].to) {
			tandem_diag_add(
			    diag, TANDEM_JOURNAL_ECORRUPT,
			    "%s: entry %zu at offset %llu: starts at serial %u, the entry "
			    "before it ends at %u",
			    j->path, j->n, (unsigned long long)off, e.from, j->e[j->n - 1].to);
			return TANDEM_JOURNAL_ECORRUPT;
		}
		ret = index_push(j, &e);
		if (ret != TANDEM_OK) {
			return ret;
		}
		off += entry_size(len);
	}
	return TANDEM_OK;
}

void journal_close(journal_t *j)
{
	if (j == NULL) {
		return;
	}
	if (j->fd >= 0) {
		close(j->fd);
	}
	free(j->path);
	free(j->e);
	free(j);
}

int journal_open(const char *path, tandem_diag_t *diag, journal_t **out)
{
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	journal_t *j = calloc(1, sizeof(*j));
	if (j == NULL || (j->path = strdup(path)) == NULL) {
		free(j);
		return TANDEM_ENOMEM;
	}
	int ret = TANDEM_OK;
	struct stat st;
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j->fd < 0 || fstat(j->fd, &st) != 0) {
		ret = io_error(j, diag, "cannot open");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = TANDEM_EIO;
		tandem_diag_add(diag, ret, "%s: not a regular file", path);
		goto out;
	}
	j->size = (uint64_t)st.st_size;
	ret = check_header(j, diag);
	if (ret == TANDEM_OK) {
		ret = scan(j, diag);
	}
out:
	if (ret != TANDEM_OK) {
		journal_close(j);
		return ret;
	}
	*out = j;
	return TANDEM_OK;
}

size_t journal_cut_bytes(const journal_t *j)
{
	return j != NULL ? j->cut : 0;
}

size_t journal_count(const journal_t *j)
{
	return j != NULL ? j->n : 0;
}

uint64_t journal_bytes(const journal_t *j)
{
	return j != NULL ? j->size : 0;
}

bool journal_serial(const journal_t *j, bool first, uint32_t *out)
{
	if (j == NULL || j->n == 0) {
		return false;
	}
	if (out != NULL) {
		*out = first ? j->e[0].from : j->e[j->n - 1].to;
	}
	return true;
}

/* ---- writing ---- */

static size_t rr_size(const dns_rr_t *rr)
{
	return dns_name_len(rr->owner, DNS_NAME_MAXLEN) + 8u + 2u + dns_rdata_len(rr->rdata);
}

static uint8_t *rr_put(uint8_t *p, const dns_rr_t *rr)
{
	size_t olen = dns_name_len(rr->owner, DNS_NAME_MAXLEN);
	memcpy(p, rr->owner, olen);
	p += olen;
	p[0] = (uint8_t)(rr->type >> 8);
	p[1] = (uint8_t)rr->type;
	p[2] = (uint8_t)(rr->rclass >> 8);
	p[3] = (uint8_t)rr->rclass;
	put32(p + 4, rr->ttl);
	p += 8;
	size_t rdlen = (size_t)dns_rdata_len(rr->rdata) + 2u; /* RDLENGTH | RDATA as stored */
	memcpy(p, rr->rdata, rdlen);
	return p + rdlen;
}

uint64_t journal_entry_bytes(const dns_changeset_t *cs)
{
	uint64_t len = PAYLOAD_MIN;
	for (size_t k = 0; k < 2; k++) {
		size_t count = 0;
		const dns_rr_t *soa = dns_changeset_soa(cs, k == 1);
		const dns_rr_t *list = dns_changeset_records(cs, k == 1, &count);
		len += soa != NULL ? rr_size(soa) : 0;
		for (size_t i = 0; i < count; i++) {
			len += rr_size(&list[i]);
		}
	}
	return entry_size(0) + len;
}

/* The whole entry for cs (length, payload, hash) into *out (malloc'd). */
static int entry_make(const dns_changeset_t *cs, uint8_t **out, uint32_t *out_len)
{
	const dns_rr_t *soa[2] = {dns_changeset_soa(cs, false), dns_changeset_soa(cs, true)};
	if (soa[0] == NULL || soa[1] == NULL) {
		return TANDEM_EINVAL;
	}
	size_t count[2] = {0, 0};
	const dns_rr_t *list[2] = {dns_changeset_records(cs, false, &count[0]),
				   dns_changeset_records(cs, true, &count[1])};
	uint64_t len = journal_entry_bytes(cs) - 4u - HASH_LEN;
	if (len > PAYLOAD_MAX || count[0] > UINT32_MAX || count[1] > UINT32_MAX) {
		return TANDEM_ERANGE;
	}
	uint8_t *buf = malloc((size_t)entry_size((uint32_t)len));
	if (buf == NULL) {
		return TANDEM_ENOMEM;
	}
	put32(buf, (uint32_t)len);
	put32(buf + 4, dns_changeset_serial(cs, false));
	put32(buf + 8, dns_changeset_serial(cs, true));
	put32(buf + 12, (uint32_t)count[0]);
	put32(buf + 16, (uint32_t)count[1]);
	uint8_t *p = buf + 20;
	for (size_t k = 0; k < 2; k++) {
		p = rr_put(p, soa[k]);
		for (size_t i = 0; i < count[k]; i++) {
			p = rr_put(p, &list[k][i]);
		}
	}
	if (!sha256(buf, 4u + (size_t)len, p)) {
		free(buf);
		return TANDEM_ENOMEM;
	}
	*out = buf;
	*out_len = (uint32_t)len;
	return TANDEM_OK;
}

int journal_append(journal_t *j, const dns_changeset_t *cs, tandem_diag_t *diag)
{
	if (j == NULL || cs == NULL) {
		return TANDEM_EINVAL;
	}
	uint32_t from = dns_changeset_serial(cs, false);
	if (j->n > 0 && from != j->e[j->n - 1].to) {
		tandem_diag_add(diag, TANDEM_JOURNAL_ESEQ,
				"%s: a changeset from serial %u after the newest serial %u",
				j->path, from, j->e[j->n - 1].to);
		return TANDEM_JOURNAL_ESEQ;
	}
	uint8_t *buf = NULL;
	uint32_t len = 0;
	int ret = entry_make(cs, &buf, &len);
	if (ret != TANDEM_OK) {
		return ret;
	}
	jentry_t e = {
	    .off = j->size, .len = len, .from = from, .to = dns_changeset_serial(cs, true)};
	if (!write_at(j->fd, buf, (size_t)entry_size(len), j->size) || fdatasync(j->fd) != 0) {
		ret = io_error(j, diag, "cannot append");
		int saved = errno;
		(void)ftruncate(j->fd, (off_t)j->size); /* the file as before */
		errno = saved;
	} else {
		ret = index_push(j, &e);
		if (ret == TANDEM_OK) {
			j->size += entry_size(len);
		} else {
			(void)ftruncate(j->fd, (off_t)j->size);
		}
	}
	free(buf);
	return ret;
}

int journal_truncate_after(journal_t *j, uint32_t serial, tandem_diag_t *diag)
{
	if (j == NULL) {
		return TANDEM_EINVAL;
	}
	size_t i = 0;
	while (i < j->n && !tandem_serial_gt(j->e[i].to, serial)) {
		i++;
	}
	if (i == j->n) {
		return TANDEM_OK;
	}
	int ret = cut_at(j, j->e[i].off, diag);
	if (ret == TANDEM_OK) {
		j->n = i;
	}
	return ret;
}

int journal_reset(journal_t *j, tandem_diag_t *diag)
{
	if (j == NULL) {
		return TANDEM_EINVAL;
	}
	if (j->n == 0 && j->size == HEADER_LEN) {
		return TANDEM_OK;
	}
	int ret = cut_at(j, HEADER_LEN, diag);
	if (ret == TANDEM_OK) {
		j->n = 0;
	}
	return ret;
}

/* A new file: the header and the entries from `first` on, renamed over the journal. */
static int rewrite_from(journal_t *j, size_t first, tandem_diag_t *diag)
{
	tandem_afile_t *f = NULL;
	uint8_t h[HEADER_LEN] = {0}, buf[65536];
	memcpy(h, magic, sizeof(magic));
	put32(h + 8, VERSION);
	if (tandem_afile_open(j->path, 0644, &f) != TANDEM_OK) {
		return io_error(j, diag, "cannot make a temporary file beside it");
	}
	FILE *fp = tandem_afile_stream(f);
	bool ok = fwrite(h, 1, sizeof(h), fp) == sizeof(h);
	uint64_t off = first < j->n ? j->e[first].off : j->size;
	uint64_t shift = off - HEADER_LEN;
	while (ok && off < j->size) {
		size_t n = j->size - off < sizeof(buf) ? (size_t)(j->size - off) : sizeof(buf);
		ok = read_at(j->fd, buf, n, off) && fwrite(buf, 1, n, fp) == n;
		off += n;
	}
	int fd = -1;
	if (!ok || tandem_afile_commit(f) != TANDEM_OK) {
		if (!ok) {
			tandem_afile_abort(f);
		}
		return io_error(j, diag, "cannot rewrite");
	}
	fd = open(j->path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		return io_error(j, diag, "cannot open after the rewrite");
	}
	close(j->fd);
	j->fd = fd;
	memmove(j->e, j->e + first, sizeof(*j->e) * (j->n - first));
	j->n -= first;
	for (size_t i = 0; i < j->n; i++) {
		j->e[i].off -= shift;
	}
	j->size -= shift;
	return TANDEM_OK;
}

int journal_limit(journal_t *j, size_t max_entries, uint64_t max_bytes, tandem_diag_t *diag)
{
	if (j == NULL) {
		return TANDEM_EINVAL;
	}
	size_t drop = 0;
	while (max_entries > 0 && j->n - drop > max_entries) {
		drop++;
	}
	while (max_bytes > 0 && drop < j->n &&
	       HEADER_LEN + (j->size - j->e[drop].off) > max_bytes) {
		drop++;
	}
	return drop == 0 ? TANDEM_OK : rewrite_from(j, drop, diag);
}

/* ---- reading ---- */

/* One RR at *p (end: the payload's end) into rr, pointing into the buffer. */
static bool rr_get(const uint8_t **p, const uint8_t *end, dns_rr_t *rr)
{
	size_t left = (size_t)(end - *p);
	size_t olen = dns_name_len(*p, left < DNS_NAME_MAXLEN ? left : DNS_NAME_MAXLEN);
	if (olen == 0 || left < olen + 10) {
		return false;
	}
	const uint8_t *q = *p + olen;
	size_t rdlen = (size_t)((q[8] << 8) | q[9]);
	if (left < olen + 10 + rdlen) {
		return false;
	}
	rr->owner = *p;
	rr->type = (uint16_t)((q[0] << 8) | q[1]);
	rr->rclass = (uint16_t)((q[2] << 8) | q[3]);
	rr->ttl = get32(q + 4);
	rr->rdata = q + 8;
	*p = q + 10 + rdlen;
	return true;
}

/* The payload into a changeset. */
static int payload_parse(const uint8_t *pl, uint32_t len, dns_changeset_t **out)
{
	const uint8_t *p = pl + PAYLOAD_MIN, *end = pl + len;
	uint32_t count[2] = {get32(pl + 8), get32(pl + 12)};
	dns_changeset_t *cs = NULL;
	int ret = dns_changeset_new(&cs);
	for (size_t k = 0; k < 2 && ret == TANDEM_OK; k++) {
		dns_rr_t rr;
		if (!rr_get(&p, end, &rr) || rr.type != DNS_TYPE_SOA) {
			ret = TANDEM_JOURNAL_ECORRUPT;
			break;
		}
		ret = dns_changeset_set_soa(cs, k == 1, &rr);
		for (uint32_t i = 0; i < count[k] && ret == TANDEM_OK; i++) {
			ret = rr_get(&p, end, &rr) ? dns_changeset_add(cs, k == 1, &rr)
						   : TANDEM_JOURNAL_ECORRUPT;
		}
	}
	if (ret == TANDEM_OK && (p != end || dns_changeset_serial(cs, false) != get32(pl) ||
				 dns_changeset_serial(cs, true) != get32(pl + 4))) {
		ret = TANDEM_JOURNAL_ECORRUPT;
	}
	if (ret != TANDEM_OK) {
		dns_changeset_free(cs);
		return ret == TANDEM_EINVAL ? TANDEM_JOURNAL_ECORRUPT : ret;
	}
	*out = cs;
	return TANDEM_OK;
}

int journal_read(journal_t *j, size_t i, tandem_diag_t *diag, dns_changeset_t **out)
{
	if (j == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (i >= j->n) {
		return TANDEM_ERANGE;
	}
	uint8_t *buf = NULL;
	int ret = entry_load(j, i, j->e[i].off, j->e[i].len, diag, &buf);
	if (ret != TANDEM_OK) {
		return ret;
	}
	ret = payload_parse(buf + 4, j->e[i].len, out);
	if (ret == TANDEM_JOURNAL_ECORRUPT) {
		tandem_diag_add(diag, ret, "%s: entry %zu at offset %llu: malformed records",
				j->path, i, (unsigned long long)j->e[i].off);
	}
	free(buf);
	return ret;
}

int journal_checksum(journal_t *j, size_t i, tandem_diag_t *diag, uint8_t out[32])
{
	if (j == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (i >= j->n) {
		return TANDEM_ERANGE;
	}
	uint8_t *buf = NULL;
	int ret = entry_load(j, i, j->e[i].off, j->e[i].len, diag, &buf);
	if (ret == TANDEM_OK) {
		memcpy(out, buf + 4 + j->e[i].len, HASH_LEN);
	}
	free(buf);
	return ret;
}

int journal_iter_init(journal_iter_t *it, journal_t *j, uint32_t from)
{
	if (it == NULL || j == NULL) {
		return TANDEM_EINVAL;
	}
	for (size_t i = 0; i < j->n; i++) {
		if (j->e[i].from == from) {
			*it = (journal_iter_t){.j = j, .next = i};
			return TANDEM_OK;
		}
	}
	if (j->n > 0 && j->e[j->n - 1].to == from) {
		*it = (journal_iter_t){.j = j, .next = j->n}; /* up to date: nothing to send */
		return TANDEM_OK;
	}
	return TANDEM_ENOENT;
}

int journal_iter_next(journal_iter_t *it, tandem_diag_t *diag, dns_changeset_t **out)
{
	if (it == NULL || it->j == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	if (it->next >= it->j->n) {
		*out = NULL;
		return TANDEM_OK;
	}
	int ret = journal_read(it->j, it->next, diag, out);
	if (ret == TANDEM_OK) {
		it->next++;
	}
	return ret;
}
