/*
 * Time zones from the system tz database (/usr/share/zoneinfo, Debian's
 * tzdata), by IANA name, independent of the process's TZ: a zone is read
 * from its TZif file (RFC 8536: version 1, and 2+ with 64-bit times) and
 * converted with its own transitions, and with the POSIX TZ rule of its
 * footer (e.g. "CET-1CEST,M3.5.0,M10.5.0/3") for times past the last one;
 * never with localtime() or tzset(), so the TZ environment variable and
 * other threads change nothing.
 *
 * A loaded zone is immutable: any number of threads may use one at once.
 * Times are seconds since the Unix epoch (UTC); "local seconds" are the
 * zone's wall clock counted the same way (as if it were UTC), so that
 * tz_civil_from_days(local / 86400) is the local date.
 */
#ifndef OCPPGW_TZ_H
#define OCPPGW_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

/* The directory zones are read from: OCPPGW_ZONEINFO if set, else /usr/share/zoneinfo. */
const char *tz_dir(void);

/*
 * True if name is an IANA zone name the tz database has: 1 to 64 characters
 * of [A-Za-z0-9/_+-.], no "." or "" component, naming a TZif file that
 * tz_load() accepts ("UTC" and "Etc/..." included). Through tz_get()'s
 * cache: a known zone's file is read once per process (the REST layer
 * calls this on the event loop); an unknown name costs one failed open().
 * Safe from any thread.
 */
bool tz_exists(const char *name);

/*
 * Loads the zone `name` from tz_dir(). NULL if the name is not a zone (see
 * tz_exists), the file is not a well-formed TZif file, or it carries leap
 * seconds (the "right/" zones). Caller frees with tz_free().
 */
struct tz *tz_load(const char *name);

/*
 * The same from the bytes of a TZif file (borrowed; copied as needed).
 * `name` (borrowed, copied; at most 64 characters) is only what tz_name()
 * answers. Caller frees with tz_free().
 */
struct tz *tz_parse(const char *name, const void *data, size_t len);

void tz_free(struct tz *z);

/*
 * The process-wide cache: the zone `name`, loaded on first use and kept
 * until tz_cache_clear() (borrowed: never free it). NULL as tz_load(); a
 * failure is not remembered. Thread-safe (one mutex).
 */
const struct tz *tz_get(const char *name);
/* Frees every cached zone; no pointer tz_get() returned may be used after. */
void tz_cache_clear(void);

/* The name the zone was loaded under (borrowed from z). */
const char *tz_name(const struct tz *z);

/*
 * The zone's UTC offset at the instant utc (seconds east of UTC: +3600 for
 * CET). A NULL zone is UTC.
 */
int32_t tz_offset_at(const struct tz *z, int64_t utc);

/*
 * The first instant after utc at which the zone's offset may change (a
 * transition of the file or of its footer rule; the offset may be the same
 * on both sides), or INT64_MAX when none follows. NULL zone: INT64_MAX.
 */
int64_t tz_next_transition(const struct tz *z, int64_t utc);

/* The wall clock at utc, in local seconds: utc + tz_offset_at(z, utc). */
int64_t tz_utc_to_local(const struct tz *z, int64_t utc);

/*
 * The instant the zone's wall clock shows `local` (local seconds), and in
 * *kind (may be NULL) how it was found. The rule (that of RFC 5545, Python's
 * fold=0, java.time and Temporal's "compatible"):
 *   - TZ_LOCAL_EXACT: the clock shows it once;
 *   - TZ_LOCAL_OVERLAP (fall back): it shows it twice; the earlier instant,
 *     with the offset before the change (02:30 on 2026-10-25 in Berlin is
 *     00:30Z, 02:30+02:00);
 *   - TZ_LOCAL_GAP (spring forward): it never shows it; the instant it would
 *     have shown it with the offset before the change, which it shows as
 *     local + the gap (02:30 on 2026-03-29 in Berlin is 01:30Z, shown as
 *     03:30+02:00).
 */
enum tz_local_kind { TZ_LOCAL_EXACT, TZ_LOCAL_GAP, TZ_LOCAL_OVERLAP };
int64_t tz_local_to_utc(const struct tz *z, int64_t local, enum tz_local_kind *kind);

/* ---- the proleptic Gregorian calendar (no zone) ---- */
/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31; out of range days roll over). */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* Local seconds of the wall-clock time y-m-d h:mi:s. */
int64_t tz_local_seconds(int64_t y, int m, int d, int h, int mi, int s);

/*
 * ISO 8601 with the zone's offset at utc: "2026-03-29T03:30:00+02:00"
 * ("+05:30", "-03:00"; "+00:53:28" for an offset with seconds, LMT). buf
 * receives at most TZ_ISO8601_LEN bytes with the NUL. Returns false for a
 * year outside 0..9999.
 */
#define TZ_ISO8601_LEN 32
bool tz_format_iso8601(const struct tz *z, int64_t utc, char *buf, size_t cap);

#endif
