/*
 * Time zones from the system tz database (/usr/share/zoneinfo, Debian's
 * tzdata), by IANA name, independent of the process's TZ: a zone is read
 * from its TZif file and converted with its own transitions (and the POSIX
 * rule of its footer for times past the last one), never with localtime().
 */
#ifndef OCPPGW_TZ_H
#define OCPPGW_TZ_H

#include <stdbool.h>

/* The directory zones are read from: OCPPGW_ZONEINFO if set, else /usr/share/zoneinfo. */
const char *tz_dir(void);

/*
 * True if name is an IANA zone name the tz database has: 1 to 64 characters
 * of [A-Za-z0-9/_+-], no "." component, naming a TZif file ("UTC" and
 * "Etc/..." included). Reads the file's first bytes; safe from any thread.
 */
bool tz_exists(const char *name);

#endif
