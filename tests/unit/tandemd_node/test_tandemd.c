/* Unit tests of tandemd's directory locks, leftover temporary files, lease watch, key
 * generation off the loop's thread and when a key's activation is asked. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coordrpc.h"
#include "hsm.h"
#include "node.h"
#include "tandem_diag.h"
#include "tandem_error.h"
#include "tandemd_keys.h"
#include "tandemd_lock.h"
#include "tandemd_watch.h"
#include "testsupport.h"

#define SOFTHSM_PATH "/usr/lib/softhsm/libsofthsm2.so"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A second process cannot take a held lock; it learns the holder's pid. The lock goes
 * with the holder's descriptor. */
START_TEST(lock_refuses_second_process)
{
	char dir[256];
	ts_tmpdir(dir, sizeof(dir));
	int fd = -1;
	long holder = -1;
	ck_assert_int_eq(tdm_lock_take(dir, "tandemd.lock", &fd, &holder), TANDEM_OK);
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int cfd = -1;
		long h = 0;
		int ret = tdm_lock_take(dir, "tandemd.lock", &cfd, &h);
		_exit(ret == TANDEM_EEXIST && h == (long)getppid() ? 0 : 1);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int cfd = -1;
		long h = 0;
		_exit(tdm_lock_take(dir, "tandemd.lock", &cfd, &h) == TANDEM_OK ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ts_rmtree(dir);
}
END_TEST

static int swept;
static void count_removed(void *arg, const char *path, int err)
{
	(void)arg;
	(void)path;
	ck_assert_int_eq(err, 0);
	swept++;
}

/* Only TARGET.tmp.XXXXXX with TARGET ending in the suffix, and only regular files. */
START_TEST(tmp_sweep_removes_only_ours)
{
	char dir[256], path[512];
	ts_tmpdir(dir, sizeof(dir));
	const char *gone[] = {"example.zone.tmp.AbC123", "z1.example.zone.tmp.000000"};
	const char *kept[] = {"example.zone",     "example.zone.tmp.AbC12",
			      "notes.tmp.123456", "example.zone.tmp.AbC12!",
			      "publish.log",      "example.zonetmp.AbC123"};
	for (size_t i = 0; i < 2; i++) {
		ts_write_file(dir, gone[i], "x\n", path, sizeof(path));
	}
	for (size_t i = 0; i < 6; i++) {
		ts_write_file(dir, kept[i], "x\n", path, sizeof(path));
	}
	snprintf(path, sizeof(path), "%s/dir.zone.tmp.abcdef", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	swept = 0;
	ck_assert_int_eq(tdm_tmp_sweep(dir, "zone", count_removed, NULL), TANDEM_OK);
	ck_assert_int_eq(swept, 2);
	struct stat st;
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, gone[i]);
		ck_assert_int_ne(stat(path, &st), 0);
	}
	for (size_t i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, kept[i]);
		ck_assert_int_eq(stat(path, &st), 0);
	}
	snprintf(path, sizeof(path), "%s/dir.zone.tmp.abcdef", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ts_rmtree(dir);
}
END_TEST

START_TEST(instance_ids_differ)
{
	char a[TDM_INSTANCE_LEN], b[TDM_INSTANCE_LEN];
	ck_assert_int_eq(tdm_instance_draw(a), TANDEM_OK);
	ck_assert_int_eq(tdm_instance_draw(b), TANDEM_OK);
	ck_assert_uint_eq(strlen(a), 32);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 32);
	ck_assert_str_ne(a, b);
}
END_TEST

static volatile size_t fired_slot = 999;
static volatile uint64_t fired_at;
static volatile int fired_count;
static void on_fire(void *arg, size_t slot, uint64_t epoch, uint64_t wall)
{
	(void)arg;
	(void)wall;
	ck_assert_uint_eq(epoch, 7);
	fired_slot = slot;
	fired_at = mono_ms();
	fired_count++;
}

/* The watch fires at the deadline (not before, and soon after), once; a disarmed or
 * re-armed slot does not fire for its old deadline. */
START_TEST(watch_fires_at_deadline)
{
	tdm_watch_t *w = NULL;
	ck_assert_int_eq(tdm_watch_start(on_fire, NULL, &w), TANDEM_OK);
	uint64_t now = mono_ms();
	tdm_watch_arm(w, 3, now + 200, 0, 7);
	tdm_watch_arm(w, 4, now + 100, 0, 7);
	ck_assert(!tdm_watch_disarm(w, 4)); /* not fired yet */
	while (fired_count == 0 && mono_ms() < now + 5000) {
		usleep(1000);
	}
	ck_assert_int_eq(fired_count, 1);
	ck_assert_uint_eq(fired_slot, 3);
	ck_assert_uint_ge(fired_at, now + 200);
	ck_assert_uint_le(fired_at, now + 200 + 1000); /* a loaded machine: soon, not exactly */
	usleep(300 * 1000);
	ck_assert_int_eq(fired_count, 1);
	ck_assert(tdm_watch_disarm(w, 3)); /* it had fired */
	ck_assert(!tdm_watch_disarm(w, 3));
	/* every zone a node can hold has its slot (COORD_ZONES_MAX; there were 64) */
	now = mono_ms();
	tdm_watch_arm(w, COORD_ZONES_MAX - 1, now + 50, 0, 7);
	while (fired_count == 1 && mono_ms() < now + 5000) {
		usleep(1000);
	}
	ck_assert_int_eq(fired_count, 2);
	ck_assert_uint_eq(fired_slot, COORD_ZONES_MAX - 1);
	tdm_watch_stop(w);
}
END_TEST

/* Answers the node's lease requests and renewals at once (a scripted coordinator); returns
 * the number of renewals answered. */
static size_t lease_answer(node_zone_t *z, const node_actions_t *out, uint64_t now)
{
	size_t renewals = 0;
	for (size_t i = 0; i < out->n; i++) {
		node_action_kind_t k = out->a[i].kind;
		if (k != NODE_A_LEASE_REQUEST && k != NODE_A_LEASE_RENEW) {
			continue;
		}
		node_input_t in = {.kind = NODE_IN_LEASE_REPLY};
		in.lease.answered = true;
		in.lease.accepted = true;
		in.lease.epoch = 1;
		in.lease.sent_mono = now;
		node_time_t t = {.mono_ms = now};
		node_actions_t more;
		node_step(z, &in, &t, &more);
		renewals += k == NODE_A_LEASE_RENEW;
	}
	return renewals;
}

/* A key is made in the HSM off the calling thread: while SoftHSM makes an RSA 4096 key (a
 * second or more), the loop that holds a lease goes on renewing it. tandemd makes its keys
 * this way (tdm_keygen_ready), so a slow generation never holds back a renewal. */
START_TEST(keygen_off_thread_lease_renewed)
{
	ts_token_t t;
	ts_token_create(&t, "tandem-keygen");
	tandem_diag_t *diag = NULL;
	hsm_module_t *mod = NULL;
	hsm_token_t *tok = NULL;
	hsm_uri_t *u = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(SOFTHSM_PATH, diag, &mod), TANDEM_OK);
	ck_assert_int_eq(hsm_uri_parse(t.uri, diag, &u), TANDEM_OK);
	ck_assert_int_eq(hsm_token_open(mod, u, NULL, 1, diag, &tok), TANDEM_OK);
	hsm_uri_free(u);

	/* a zone whose lease of 300 ms is renewed every 100 ms */
	node_conf_t c = {.cycle_ms = 60000,
			 .retry_ms = 30000,
			 .request_ms = 10,
			 .renew_retry_ms = 10,
			 .keys_ms = 1000,
			 .skr_retry_ms = 5000};
	node_zone_t z;
	node_zone_init(&z, &c);
	node_input_t in = {.kind = NODE_IN_STATUS};
	in.view.lease_ms = 300;
	in.view.margin_ms = 50;
	in.view.self_up = true;
	in.view.free = true;
	in.view.runner_busy = true; /* the key generation holds the runner: no run */
	node_time_t now = {.mono_ms = mono_ms()};
	node_actions_t out;
	node_step(&z, &in, &now, &out);
	lease_answer(&z, &out, now.mono_ms);
	ck_assert(z.held);

	kasp_key_policy_t kp = {.algorithm = HSM_ALG_RSASHA256, .bits = 4096};
	tdm_keygen_t *g = NULL;
	uint64_t started = mono_ms();
	ck_assert_int_eq(tdm_keygen_start(tok, "example.", 7, &kp, &g), TANDEM_OK);
	ck_assert_uint_lt(mono_ms() - started, 1000); /* it returns at once */
	size_t during = 0;
	in.kind = NODE_IN_TICK;
	while (!tdm_keygen_done(g) && mono_ms() < started + 120000) {
		now.mono_ms = mono_ms();
		node_step(&z, &in, &now, &out);
		size_t r = lease_answer(&z, &out, now.mono_ms);
		during += tdm_keygen_done(g) ? 0 : r;
		usleep(5000);
	}
	uint64_t took = mono_ms() - started;
	char why[256];
	ck_assert(tdm_keygen_done(g));
	ck_assert_int_eq(tdm_keygen_finish(g, why, sizeof(why)), TANDEM_OK);
	ck_assert_msg(during >= 1, "no renewal during a key generation of %llu ms",
		      (unsigned long long)took);
	/* the key is on the token under the cluster's label, and made once: a second start
	 * takes it as made */
	ck_assert_int_eq(hsm_uri_parse("pkcs11:object=tandem-example-7", diag, &u), TANDEM_OK);
	const hsm_key_t *k = NULL;
	ck_assert_int_eq(hsm_token_find_key(tok, u, diag, &k), TANDEM_OK);
	hsm_uri_free(u);
	ck_assert_int_eq(tdm_keygen_start(tok, "example.", 7, &kp, &g), TANDEM_OK);
	ck_assert_int_eq(tdm_keygen_finish(g, why, sizeof(why)), TANDEM_OK);
	fprintf(stderr, "keygen: RSA 4096 in %llu ms, %zu renewals meanwhile\n",
		(unsigned long long)took, during);

	hsm_token_close(tok);
	hsm_module_free(mod);
	tandem_diag_free(diag);
	ts_token_destroy(&t);
}
END_TEST

/* An import batch runs on its own thread; an entry that is no archive is refused with a reason
 * and the token is left as it was. */
START_TEST(keyimport_refuses_garbage)
{
	ts_token_t t;
	ts_token_create(&t, "tandem-import");
	tandem_diag_t *diag = NULL;
	hsm_module_t *mod = NULL;
	hsm_token_t *tok = NULL;
	hsm_uri_t *u = NULL;
	ck_assert_int_eq(tandem_diag_new(&diag), TANDEM_OK);
	ck_assert_int_eq(hsm_module_load(SOFTHSM_PATH, diag, &mod), TANDEM_OK);
	ck_assert_int_eq(hsm_uri_parse(t.uri, diag, &u), TANDEM_OK);
	ck_assert_int_eq(hsm_token_open(mod, u, NULL, 1, diag, &tok), TANDEM_OK);
	hsm_uri_free(u);
	size_t keys_before = hsm_token_key_count(tok);

	static const uint8_t junk[] = "not an archive entry";
	tdm_keyimport_t *g = NULL;
	ck_assert_int_eq(tdm_keyimport_new(tok, &g), TANDEM_OK);
	ck_assert_int_eq(tdm_keyimport_add(g, 3, junk, sizeof(junk)), TANDEM_OK);
	ck_assert_int_eq(tdm_keyimport_add(g, 4, junk, 5), TANDEM_OK);
	ck_assert_uint_eq(tdm_keyimport_count(g), 2);
	ck_assert(!tdm_keyimport_done(g)); /* not started */
	ck_assert_int_eq(tdm_keyimport_start(g), TANDEM_OK);
	ck_assert_int_eq(tdm_keyimport_add(g, 5, junk, 5), TANDEM_EINVAL); /* started */
	uint64_t until = mono_ms() + 60000;
	while (!tdm_keyimport_done(g) && mono_ms() < until) {
		usleep(1000);
	}
	ck_assert(tdm_keyimport_done(g));
	for (size_t i = 0; i < 2; i++) {
		const tdm_keyimport_result_t *r = tdm_keyimport_result(g, i);
		ck_assert_uint_eq(r->id, 3 + i);
		ck_assert_int_ne(r->ret, TANDEM_OK);
		ck_assert_str_ne(r->why, "");
	}
	ck_assert_ptr_null(tdm_keyimport_result(g, 2));
	tdm_keyimport_free(g);
	ck_assert_uint_eq(hsm_token_key_count(tok), keys_before);

	hsm_token_close(tok);
	hsm_module_free(mod);
	tandem_diag_free(diag);
	ts_token_destroy(&t);
}
END_TEST

/* A node in a status: name and site. */
static void status_node(coordrpc_status_t *st, const char *name, uint32_t site)
{
	coordrpc_node_status_t *n = &st->nodes[st->nnodes++];
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->site = site;
}

/* The holder asks for a key's activation only once the status shows a node of every site
 * that is not suspended acknowledging it (the coordinator's rule, invariant 4): never for an
 * active or retired key, nor for acks of one site (two nodes of site A are still one site),
 * nor for an ack by a node the status does not list. */
START_TEST(activation_asked_when_every_site_acked)
{
	coordrpc_status_t *st = calloc(1, sizeof(*st));
	ck_assert_ptr_nonnull(st);
	st->params.nsites = 2;
	status_node(st, "node-a", 0);
	status_node(st, "node-a2", 0);
	status_node(st, "node-b", 1);
	coordrpc_key_status_t k = {.id = 1};
	ck_assert(!tdm_keys_activation_due(st, &k)); /* no ack */
	snprintf(k.acks[k.nacks++], sizeof(k.acks[0]), "node-a");
	snprintf(k.acks[k.nacks++], sizeof(k.acks[0]), "node-a2");
	ck_assert(!tdm_keys_activation_due(st, &k)); /* site A only */
	snprintf(k.acks[k.nacks++], sizeof(k.acks[0]), "node-x");
	ck_assert(!tdm_keys_activation_due(st, &k)); /* an unknown node counts for no site */
	st->suspended_sites = 1u << 1;
	ck_assert(tdm_keys_activation_due(st, &k)); /* site B suspended: A is enough */
	st->suspended_sites = 0;
	snprintf(k.acks[k.nacks++], sizeof(k.acks[0]), "node-b");
	ck_assert(tdm_keys_activation_due(st, &k));
	k.active = true;
	ck_assert(!tdm_keys_activation_due(st, &k)); /* nothing to ask */
	k.active = false;
	k.retired = true;
	ck_assert(!tdm_keys_activation_due(st, &k));
	k.retired = false;
	st->params.nsites = 3; /* a third site that has not imported it */
	ck_assert(!tdm_keys_activation_due(st, &k));
	ck_assert(!tdm_keys_activation_due(NULL, &k));
	free(st);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tandemd");
	TCase *tc = tcase_create("lock");
	tcase_add_test(tc, lock_refuses_second_process);
	tcase_add_test(tc, tmp_sweep_removes_only_ours);
	tcase_add_test(tc, instance_ids_differ);
	tcase_add_test(tc, watch_fires_at_deadline);
	suite_add_tcase(s, tc);
	tc = tcase_create("keygen");
	tcase_add_test(tc, keygen_off_thread_lease_renewed);
	tcase_add_test(tc, keyimport_refuses_garbage);
	tcase_add_test(tc, activation_asked_when_every_site_acked);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
