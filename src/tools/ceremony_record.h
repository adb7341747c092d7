/* tandem-ceremony record and record-sign: the signed ceremony record of DPS 5.1.1. */
#ifndef CEREMONY_RECORD_H
#define CEREMONY_RECORD_H

/* `tandem-ceremony record ...` and `tandem-ceremony record-sign ...`: argv[0] is the
 * command's name; returns the exit code (0, 1 usage, 2 bad input, 5 a file not written). */
int ceremony_record(int argc, char **argv);
int ceremony_record_sign(int argc, char **argv);

#endif
