/* RFC 7512 PKCS#11 URIs: parsing with percent-decoding; a PIN value is never accepted. */
#include "hsm_internal.h"
#include "tandem_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Decodes value[0..len) into a fresh NUL-terminated buffer; *out_len excludes the NUL. */
static int uri_decode(const char *name, const char *value, size_t len, tandem_diag_t *diag,
		      uint8_t **out, size_t *out_len)
{
	if (len > 3 * HSM_URI_VALUE_MAX) {
		tandem_diag_add(diag, TANDEM_HSM_EURI, "PKCS#11 URI: value of \"%s\" is too long",
				name);
		return TANDEM_HSM_EURI;
	}
	uint8_t *buf = malloc(len + 1);
	if (buf == NULL) {
		return TANDEM_ENOMEM;
	}
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (value[i] != '%') {
			buf[n++] = (uint8_t)value[i];
			continue;
		}
		int hi = i + 2 < len ? hex_value(value[i + 1]) : -1;
		int lo = i + 2 < len ? hex_value(value[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			tandem_diag_add(diag, TANDEM_HSM_EURI,
					"PKCS#11 URI: bad percent-encoding in the value of \"%s\"",
					name);
			free(buf);
			return TANDEM_HSM_EURI;
		}
		buf[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return TANDEM_OK;
}

/* Attributes we keep as strings, and where each lives in the struct. */
static char **uri_string_slot(hsm_uri_t *u, const char *name, size_t name_len)
{
	static const struct {
		const char *name;
		size_t offset;
	} table[] = {
	    {"token", offsetof(hsm_uri_t, token)},
	    {"manufacturer", offsetof(hsm_uri_t, manufacturer)},
	    {"serial", offsetof(hsm_uri_t, serial)},
	    {"model", offsetof(hsm_uri_t, model)},
	    {"object", offsetof(hsm_uri_t, object)},
	    {"type", offsetof(hsm_uri_t, type)},
	    {"pin-source", offsetof(hsm_uri_t, pin_source)},
	    {"module-name", offsetof(hsm_uri_t, module_name)},
	    {"module-path", offsetof(hsm_uri_t, module_path)},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strlen(table[i].name) == name_len &&
		    memcmp(table[i].name, name, name_len) == 0) {
			return (char **)((char *)u + table[i].offset);
		}
	}
	return NULL;
}

/* Attributes RFC 7512 defines that we accept and do not use. */
static bool uri_ignored(const char *name, size_t name_len)
{
	static const char *const names[] = {
	    "library-manufacturer", "library-description", "library-version",
	    "slot-description",     "slot-manufacturer",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == name_len && memcmp(names[i], name, name_len) == 0) {
			return true;
		}
	}
	/* Vendor attributes ("x-...") are allowed by RFC 7512 section 2.3. */
	return name_len > 2 && name[0] == 'x' && name[1] == '-';
}

static bool is_name(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(name, want, len) == 0;
}

static int uri_attr(hsm_uri_t *u, const char *attr, size_t attr_len, tandem_diag_t *diag)
{
	int ret = TANDEM_OK;
	uint8_t *value = NULL;
	size_t value_len = 0;
	const char *eq = memchr(attr, '=', attr_len);
	if (eq == NULL || eq == attr) {
		tandem_diag_add(diag, TANDEM_HSM_EURI,
				"PKCS#11 URI: \"%.*s\" is not an attribute=value pair",
				(int)attr_len, attr);
		return TANDEM_HSM_EURI;
	}
	size_t name_len = (size_t)(eq - attr);
	char name[64];
	snprintf(name, sizeof(name), "%.*s", (int)(name_len < 63 ? name_len : 63), attr);

	if (is_name(attr, name_len, "pin-value")) {
		tandem_diag_add(diag, TANDEM_HSM_EURI,
				"PKCS#11 URI: pin-value is refused (a PIN never travels in a URI; "
				"use pin-source=FILE or the PIN environment variable)");
		return TANDEM_HSM_EURI;
	}
	ret = uri_decode(name, eq + 1, attr_len - name_len - 1, diag, &value, &value_len);
	if (ret != TANDEM_OK) {
		goto out;
	}

	char **slot = uri_string_slot(u, attr, name_len);
	bool duplicate = false;
	if (slot != NULL) {
		duplicate = *slot != NULL;
		if (!duplicate && strlen((char *)value) != value_len) {
			tandem_diag_add(diag, TANDEM_HSM_EURI,
					"PKCS#11 URI: the value of \"%s\" contains a NUL byte",
					name);
			ret = TANDEM_HSM_EURI;
			goto out;
		}
		if (!duplicate) {
			*slot = (char *)value;
			value = NULL;
		}
	} else if (is_name(attr, name_len, "id")) {
		duplicate = u->id != NULL;
		if (!duplicate) {
			u->id = value;
			u->id_len = value_len;
			value = NULL;
		}
	} else if (is_name(attr, name_len, "slot-id")) {
		duplicate = u->has_slot_id;
		char *end = NULL;
		errno = 0;
		unsigned long v = strtoul((char *)value, &end, 10);
		if (!duplicate && (value_len == 0 || value[0] < '0' || value[0] > '9' ||
				   *end != '\0' || errno != 0)) {
			tandem_diag_add(diag, TANDEM_HSM_EURI,
					"PKCS#11 URI: slot-id \"%s\" is not a decimal number",
					(char *)value);
			ret = TANDEM_HSM_EURI;
			goto out;
		}
		u->slot_id = v;
		u->has_slot_id = true;
	} else if (!uri_ignored(attr, name_len)) {
		tandem_diag_add(diag, TANDEM_HSM_EURI, "PKCS#11 URI: unknown attribute \"%s\"",
				name);
		ret = TANDEM_HSM_EURI;
		goto out;
	}
	if (duplicate) {
		tandem_diag_add(diag, TANDEM_HSM_EURI, "PKCS#11 URI: attribute \"%s\" given twice",
				name);
		ret = TANDEM_HSM_EURI;
	}
out:
	free(value);
	return ret;
}

static int uri_attrs(hsm_uri_t *u, const char *s, size_t len, char sep, tandem_diag_t *diag)
{
	size_t start = 0;
	while (start < len) {
		const char *end = memchr(s + start, sep, len - start);
		size_t n = end != NULL ? (size_t)(end - (s + start)) : len - start;
		if (n == 0) {
			tandem_diag_add(diag, TANDEM_HSM_EURI, "PKCS#11 URI: empty attribute");
			return TANDEM_HSM_EURI;
		}
		int ret = uri_attr(u, s + start, n, diag);
		if (ret != TANDEM_OK) {
			return ret;
		}
		start += n + 1;
	}
	return TANDEM_OK;
}

int hsm_uri_parse(const char *uri, tandem_diag_t *diag, hsm_uri_t **out)
{
	if (uri == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	hsm_uri_t *u = NULL;
	static const char scheme[] = "pkcs11:";
	if (strncasecmp(uri, scheme, sizeof(scheme) - 1) != 0) {
		tandem_diag_add(diag, TANDEM_HSM_EURI,
				"PKCS#11 URI must start with \"pkcs11:\" (got \"%.40s\")", uri);
		ret = TANDEM_HSM_EURI;
		goto out;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	const char *path = uri + sizeof(scheme) - 1;
	const char *query = strchr(path, '?');
	size_t path_len = query != NULL ? (size_t)(query - path) : strlen(path);
	ret = uri_attrs(u, path, path_len, ';', diag);
	if (ret == TANDEM_OK && query != NULL) {
		ret = uri_attrs(u, query + 1, strlen(query + 1), '&', diag);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}
	if (u->type != NULL && strcmp(u->type, "private") != 0 && strcmp(u->type, "public") != 0 &&
	    strcmp(u->type, "cert") != 0 && strcmp(u->type, "secret-key") != 0 &&
	    strcmp(u->type, "data") != 0) {
		tandem_diag_add(diag, TANDEM_HSM_EURI, "PKCS#11 URI: unknown type \"%s\"", u->type);
		ret = TANDEM_HSM_EURI;
		goto out;
	}
	*out = u;
	u = NULL;
out:
	hsm_uri_free(u);
	return ret;
}

void hsm_uri_free(hsm_uri_t *uri)
{
	if (uri == NULL) {
		return;
	}
	free(uri->token);
	free(uri->manufacturer);
	free(uri->serial);
	free(uri->model);
	free(uri->object);
	free(uri->type);
	free(uri->pin_source);
	free(uri->module_name);
	free(uri->module_path);
	free(uri->id);
	free(uri);
}

const char *hsm_uri_token(const hsm_uri_t *uri)
{
	return uri != NULL ? uri->token : NULL;
}

const char *hsm_uri_object(const hsm_uri_t *uri)
{
	return uri != NULL ? uri->object : NULL;
}

const char *hsm_uri_pin_source(const hsm_uri_t *uri)
{
	return uri != NULL ? uri->pin_source : NULL;
}

const char *hsm_uri_module(const hsm_uri_t *uri)
{
	if (uri == NULL) {
		return NULL;
	}
	return uri->module_path != NULL ? uri->module_path : uri->module_name;
}

const uint8_t *hsm_uri_id(const hsm_uri_t *uri, size_t *len)
{
	if (uri == NULL || uri->id == NULL) {
		return NULL;
	}
	if (len != NULL) {
		*len = uri->id_len;
	}
	return uri->id;
}
