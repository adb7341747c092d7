/* The signer's configuration from a policy, shared by the tools that sign. */
#include "tool_signconf.h"

void tool_signer_conf(const kasp_policy_t *p, uint64_t now, signer_conf_t *c)
{
	signer_conf_defaults(c, now);
	c->validity = p->sig_validity;
	c->jitter = p->sig_jitter;
	c->inception_offset = p->sig_inception_offset;
	c->period = p->resign_interval ? p->resign_interval : 900;
	c->denial = p->denial == KASP_DENIAL_NSEC ? SIGNER_DENIAL_NSEC : SIGNER_DENIAL_NSEC3;
	c->nsec3_iterations = p->nsec3_iterations;
	c->nsec3_optout = p->nsec3_optout;
	c->nsec3_salt_len = p->nsec3_salt_len;
	switch (p->serial) {
	case KASP_SERIAL_KEEP: c->serial_mode = SIGNER_SERIAL_KEEP; break;
	case KASP_SERIAL_UNIXTIME: c->serial_mode = SIGNER_SERIAL_UNIXTIME; break;
	case KASP_SERIAL_DATECOUNTER: c->serial_mode = SIGNER_SERIAL_DATECOUNTER; break;
	default: c->serial_mode = SIGNER_SERIAL_INCREMENT; break;
	}
	c->ttls = (signer_ttls_t){.soa = p->ttl_soa,
				  .dnskey = p->ttl_dnskey,
				  .ns = p->ttl_ns,
				  .a = p->ttl_a,
				  .aaaa = p->ttl_aaaa,
				  .ds = p->ttl_ds,
				  .nsec3 = p->ttl_nsec3};
	c->threads = 1;
}
