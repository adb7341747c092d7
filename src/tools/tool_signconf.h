/* The signer's configuration from a policy, shared by the tools that sign. */
#ifndef TOOL_SIGNCONF_H
#define TOOL_SIGNCONF_H

#include <stdint.h>

#include "kasp_policy.h"
#include "signer.h"

/*
 * Fills c from policy p at time now: signature times, denial (NSEC or
 * NSEC3 with its parameters and salt length), serial mode, TTLs; one thread.
 * Callers apply their own overrides afterwards.
 */
void tool_signer_conf(const kasp_policy_t *p, uint64_t now, signer_conf_t *c);

#endif
