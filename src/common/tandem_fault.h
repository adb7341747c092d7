/* Fault points for tests: a process kills itself (SIGKILL) at a named point of its work. */
#ifndef TANDEM_FAULT_H
#define TANDEM_FAULT_H

/*
 * Test-only (docs/testing.md, "Fault points"). With the environment variable
 * TANDEM_FAULT_FILE naming a file, each call looks at that file (one stat when it is absent:
 * the normal case costs nothing more). When the file holds "POINT N" (N >= 1, default 1) and
 * point is POINT, the Nth such call renames the file to FILE.hit (so that a restarted
 * process does not die again), writes "fault point POINT hit N: killing myself" on stderr,
 * and raises SIGKILL: the process stops exactly there, as a kill -9 at that point would
 * stop it. "POINT N stop" raises SIGSTOP instead (the whole process halts there until a
 * SIGCONT), so that a test can change the world at that point, e.g. take the HSM away in
 * the middle of a run. "POINT N pause S" makes only the calling thread sleep S seconds and
 * go on (a busy or stuck thread, the others running). Without TANDEM_FAULT_FILE it returns at
 * once. Thread-safe.
 */
void tandem_fault(const char *point);

#endif
