/* tandemctl keys: the archive commands (being written; until then tandemctl knows none of them). */
#include "tandemctl.h"

int tandemctl_keys_archive_has(const char *cmd)
{
	(void)cmd;
	return 0;
}

int tandemctl_keys_archive(const char *cmd, int argc, char **argv)
{
	(void)cmd;
	(void)argc;
	(void)argv;
	return 1;
}
