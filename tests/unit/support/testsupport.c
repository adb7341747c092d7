/* Test support: temp dirs and private SoftHSMv2 tokens. */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "testsupport: %s\n", what);
	abort();
}

void ts_tmpdir(char *buf, size_t size)
{
	const char *base = getenv("TMPDIR");
	if (base == NULL || *base == '\0') {
		base = "/tmp";
	}
	if ((size_t)snprintf(buf, size, "%s/tandem-test-XXXXXX", base) >= size) {
		die("temp path too long");
	}
	if (mkdtemp(buf) == NULL) {
		die("mkdtemp failed");
	}
}

void ts_write_file(const char *dir, const char *name, const char *text, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size) {
		die("path too long");
	}
	FILE *fp = fopen(buf, "w");
	if (fp == NULL || fputs(text, fp) < 0 || fclose(fp) != 0) {
		die("cannot write test file");
	}
}

void ts_rmtree(const char *dir)
{
	char cmd[600];
	if (dir == NULL || strstr(dir, "/tandem-test-") == NULL || strchr(dir, '\'') != NULL) {
		return; /* refuse to remove anything we did not make */
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "testsupport: could not remove %s\n", dir);
	}
}

void ts_token_add(ts_token_t *t, const char *label)
{
	char cmd[1024];
	snprintf(
	    cmd, sizeof(cmd),
	    "softhsm2-util --init-token --free --label '%s' --pin 1234 --so-pin 5678 >/dev/null",
	    label);
	if (system(cmd) != 0) {
		die("softhsm2-util --init-token failed");
	}
}

void ts_token_create(ts_token_t *t, const char *label)
{
	char path[400];
	memset(t, 0, sizeof(*t));
	ts_tmpdir(t->dir, sizeof(t->dir));
	snprintf(path, sizeof(path), "%s/tokens", t->dir);
	if (mkdir(path, 0700) != 0) {
		die("mkdir tokens");
	}
	char conf[1024];
	snprintf(conf, sizeof(conf),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		 "log.level = ERROR\nslots.removable = false\n",
		 t->dir);
	char conf_path[400];
	ts_write_file(t->dir, "softhsm2.conf", conf, conf_path, sizeof(conf_path));
	setenv("SOFTHSM2_CONF", conf_path, 1);
	ts_write_file(t->dir, "user.pin", "1234\n", t->pin_file, sizeof(t->pin_file));
	chmod(t->pin_file, 0600);
	ts_token_add(t, label);
	snprintf(t->uri, sizeof(t->uri), "pkcs11:token=%s;pin-source=%s", label, t->pin_file);
}

void ts_token_destroy(ts_token_t *t)
{
	if (t->dir[0] != '\0') {
		ts_rmtree(t->dir);
	}
	unsetenv("SOFTHSM2_CONF");
	memset(t, 0, sizeof(*t));
}

void ts_srcpath(const char *rel, char *buf, size_t size)
{
	const char *src = getenv("TANDEM_SRCDIR");
	snprintf(buf, size, "%s/%s", src ? src : ".", rel);
}
