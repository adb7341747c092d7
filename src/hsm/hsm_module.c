/* PKCS#11 modules: loaded through p11-kit by path or by configured name, initialised for threads.
 */
#include "hsm_internal.h"
#include "tandem_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>

/* Where Debian installs SoftHSMv2, and the name p11-kit gives it. */
#define HSM_DEFAULT_PATH "/usr/lib/softhsm/libsofthsm2.so"
#define HSM_DEFAULT_NAME "softhsm2"

const char *hsm_rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
	case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_CANT_LOCK: return "CKR_CANT_LOCK";
	case CKR_ATTRIBUTE_READ_ONLY: return "CKR_ATTRIBUTE_READ_ONLY";
	case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
	case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
	case CKR_DATA_INVALID: return "CKR_DATA_INVALID";
	case CKR_DATA_LEN_RANGE: return "CKR_DATA_LEN_RANGE";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
	case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
	case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
	case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
	case CKR_KEY_SIZE_RANGE: return "CKR_KEY_SIZE_RANGE";
	case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
	case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
	case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
	case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
	case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
	case CKR_OPERATION_ACTIVE: return "CKR_OPERATION_ACTIVE";
	case CKR_OPERATION_NOT_INITIALIZED: return "CKR_OPERATION_NOT_INITIALIZED";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_PIN_INVALID: return "CKR_PIN_INVALID";
	case CKR_PIN_LEN_RANGE: return "CKR_PIN_LEN_RANGE";
	case CKR_PIN_EXPIRED: return "CKR_PIN_EXPIRED";
	case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
	case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
	case CKR_SESSION_COUNT: return "CKR_SESSION_COUNT";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_SESSION_READ_ONLY: return "CKR_SESSION_READ_ONLY";
	case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
	case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
	case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
	case CKR_TOKEN_WRITE_PROTECTED: return "CKR_TOKEN_WRITE_PROTECTED";
	case CKR_USER_ALREADY_LOGGED_IN: return "CKR_USER_ALREADY_LOGGED_IN";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_USER_PIN_NOT_INITIALIZED: return "CKR_USER_PIN_NOT_INITIALIZED";
	case CKR_USER_TYPE_INVALID: return "CKR_USER_TYPE_INVALID";
	case CKR_USER_ANOTHER_ALREADY_LOGGED_IN: return "CKR_USER_ANOTHER_ALREADY_LOGGED_IN";
	case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_CRYPTOKI_ALREADY_INITIALIZED: return "CKR_CRYPTOKI_ALREADY_INITIALIZED";
	case CKR_CURVE_NOT_SUPPORTED: return "CKR_CURVE_NOT_SUPPORTED";
	default: return "CKR_(other)";
	}
}

/* Loads one module file; p11-kit keeps a count, so the same path twice is one dlopen. */
static int module_load_path(hsm_module_t *m, const char *path, tandem_diag_t *diag)
{
	if (access(path, R_OK) != 0) {
		tandem_diag_add(diag, TANDEM_HSM_EMODULE,
				"PKCS#11 module %s: no such readable file", path);
		return TANDEM_HSM_EMODULE;
	}
	/*
	 * Unmanaged: we want the module's own function list, not p11-kit's
	 * per-call wrappers, because C_Sign is our hot path; we initialise it
	 * ourselves with OS locking.
	 */
	m->fl = p11_kit_module_load(path, P11_KIT_MODULE_UNMANAGED);
	if (m->fl == NULL) {
		const char *why = p11_kit_message();
		tandem_diag_add(diag, TANDEM_HSM_EMODULE, "PKCS#11 module %s: cannot load: %s",
				path, why != NULL ? why : "unknown reason");
		return TANDEM_HSM_EMODULE;
	}
	return TANDEM_OK;
}

static int module_load_name(hsm_module_t *m, const char *name, tandem_diag_t *diag)
{
	m->all = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
	if (m->all == NULL) {
		const char *why = p11_kit_message();
		tandem_diag_add(diag, TANDEM_HSM_EMODULE,
				"p11-kit: cannot load configured modules: %s",
				why != NULL ? why : "unknown reason");
		return TANDEM_HSM_EMODULE;
	}
	m->fl = p11_kit_module_for_name(m->all, name);
	if (m->fl == NULL) {
		char known[512] = "";
		size_t used = 0;
		for (size_t i = 0; m->all[i] != NULL; i++) {
			char *n = p11_kit_module_get_name(m->all[i]);
			if (n != NULL && used < sizeof(known)) {
				int w = snprintf(known + used, sizeof(known) - used, "%s%s",
						 used ? ", " : "", n);
				used += w > 0 ? (size_t)w : 0;
			}
			free(n);
		}
		tandem_diag_add(diag, TANDEM_HSM_EMODULE,
				"p11-kit has no module named \"%s\" (configured: %s)", name,
				known[0] ? known : "none");
		return TANDEM_HSM_EMODULE;
	}
	return TANDEM_OK;
}

int hsm_module_load(const char *path_or_name, tandem_diag_t *diag, hsm_module_t **out)
{
	if (out == NULL || (path_or_name != NULL && path_or_name[0] == '\0')) {
		return TANDEM_EINVAL;
	}
	int ret = TANDEM_OK;
	hsm_module_t *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return TANDEM_ENOMEM;
	}
	if (path_or_name == NULL) {
		ret = access(HSM_DEFAULT_PATH, R_OK) == 0
			  ? module_load_path(m, HSM_DEFAULT_PATH, diag)
			  : module_load_name(m, HSM_DEFAULT_NAME, diag);
	} else if (path_or_name[0] == '/') {
		ret = module_load_path(m, path_or_name, diag);
	} else if (strchr(path_or_name, '/') != NULL) {
		/* A relative path would depend on the daemon's working directory. */
		tandem_diag_add(
		    diag, TANDEM_HSM_EMODULE,
		    "PKCS#11 module \"%s\": give an absolute path or a p11-kit module name",
		    path_or_name);
		ret = TANDEM_HSM_EMODULE;
	} else {
		ret = module_load_name(m, path_or_name, diag);
	}
	if (ret != TANDEM_OK) {
		goto out;
	}

	/* OS locking lets several threads call the module, each on its own session. */
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv = m->fl->C_Initialize(&args);
	if (rv != CKR_OK) {
		tandem_diag_add(
		    diag, TANDEM_HSM_EMODULE, "C_Initialize: %s%s", hsm_rv_name(rv),
		    rv == CKR_CRYPTOKI_ALREADY_INITIALIZED
			? " (the module is already loaded in this process; load it once)"
			: "");
		ret = TANDEM_HSM_EMODULE;
		goto out;
	}
	m->initialised = true;
	*out = m;
	m = NULL;
out:
	hsm_module_free(m);
	return ret;
}

int hsm_module_reinit(hsm_module_t *m, tandem_diag_t *diag)
{
	if (m->initialised) {
		(void)m->fl->C_Finalize(NULL);
		m->initialised = false;
	}
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv = m->fl->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		tandem_diag_add(diag, TANDEM_HSM_EGONE, "C_Initialize again: %s", hsm_rv_name(rv));
		return TANDEM_HSM_EGONE;
	}
	m->initialised = rv == CKR_OK;
	return TANDEM_OK;
}

void hsm_module_free(hsm_module_t *module)
{
	if (module == NULL) {
		return;
	}
	if (module->initialised) {
		(void)module->fl->C_Finalize(NULL);
	}
	if (module->all != NULL) {
		p11_kit_modules_release(module->all);
	} else if (module->fl != NULL) {
		p11_kit_module_release(module->fl);
	}
	free(module);
}
