/* The metrics endpoint: libmicrohttpd on its own thread serves the last published text. */
#include "metrics.h"
#include "tandem_error.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct metrics_server {
	struct MHD_Daemon *mhd;
	pthread_mutex_t lock; /* guards text */
	metrics_buf_t text;
	metrics_scrape_fn scrape;
	void *ctx;
	uint16_t port;
	char address[80];
};

/* "HOST:PORT" or "[V6]:PORT" into a socket address. */
static bool addr_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *len, char *host,
		       size_t host_size, uint16_t *port)
{
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || colon == addr || colon[1] == '\0') {
		return false;
	}
	size_t hlen = (size_t)(colon - addr);
	const char *h = addr;
	if (addr[0] == '[') {
		if (hlen < 3 || addr[hlen - 1] != ']') {
			return false;
		}
		h = addr + 1;
		hlen -= 2;
	}
	if (hlen >= host_size) {
		return false;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	char *end = NULL;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || p > 65535) {
		return false;
	}
	*port = (uint16_t)p;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(*port);
		*len = sizeof(*v4);
		return true;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(*port);
		*len = sizeof(*v6);
		return true;
	}
	return false;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **req_cls)
{
	metrics_server_t *s = cls;
	struct MHD_Response *resp = NULL;
	unsigned code = MHD_HTTP_OK;
	metrics_buf_t b = {0};

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		code = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") != 0) {
		code = MHD_HTTP_NOT_FOUND;
	}
	if (code == MHD_HTTP_OK) {
		pthread_mutex_lock(&s->lock);
		if (s->text.len > 0) {
			b.data = malloc(s->text.len + 1);
			if (b.data != NULL) {
				memcpy(b.data, s->text.data, s->text.len + 1);
				b.len = s->text.len;
				b.cap = s->text.len + 1;
			}
		}
		pthread_mutex_unlock(&s->lock);
		if (s->scrape != NULL) {
			s->scrape(s->ctx, &b);
		}
		if (b.failed) {
			code = MHD_HTTP_INTERNAL_SERVER_ERROR;
		}
	}
	if (code == MHD_HTTP_OK) {
		resp = MHD_create_response_from_buffer(b.len, b.data != NULL ? b.data : "",
						       MHD_RESPMEM_MUST_COPY);
	} else {
		static const char msg[] = "not here: GET /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
	}
	metrics_buf_free(&b);
	if (resp == NULL) {
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type",
				code == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
						    : "text/plain");
	enum MHD_Result r = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return r;
}

int metrics_server_start(const char *addr, metrics_scrape_fn scrape, void *ctx,
			 metrics_server_t **out, const char **why)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	char host[64];
	uint16_t port = 0;
	*why = NULL;
	if (addr == NULL || out == NULL ||
	    !addr_parse(addr, &ss, &sslen, host, sizeof(host), &port)) {
		*why = "expected HOST:PORT with an IPv4 or [IPv6] literal";
		return TANDEM_EINVAL;
	}
	metrics_server_t *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return TANDEM_ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->scrape = scrape;
	s->ctx = ctx;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
	}
	/* a scraper gets 10 s; a handful of scrapers at once */
	s->mhd =
	    MHD_start_daemon(flags, port, NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR,
			     (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)16, MHD_OPTION_END);
	if (s->mhd == NULL) {
		*why = "cannot listen there (in use, or not an address of this host)";
		pthread_mutex_destroy(&s->lock);
		free(s);
		return TANDEM_EIO;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : port;
	snprintf(s->address, sizeof(s->address), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 host, (unsigned)s->port);
	*out = s;
	return TANDEM_OK;
}

uint16_t metrics_server_port(const metrics_server_t *s)
{
	return s->port;
}

const char *metrics_server_address(const metrics_server_t *s)
{
	return s->address;
}

void metrics_server_publish_take(metrics_server_t *s, metrics_buf_t *b)
{
	metrics_buf_t old;
	pthread_mutex_lock(&s->lock);
	old = s->text;
	s->text = *b;
	pthread_mutex_unlock(&s->lock);
	metrics_buf_free(&old);
	memset(b, 0, sizeof(*b));
}

void metrics_server_stop(metrics_server_t *s)
{
	if (s == NULL) {
		return;
	}
	MHD_stop_daemon(s->mhd);
	metrics_buf_free(&s->text);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
