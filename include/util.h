/*
 * Small things every module uses: allocation that aborts on out-of-memory
 * (systemd restarts the service; no caller checks for NULL), logging as one
 * line per event on stderr (text or JSON), wall and monotonic clocks, and
 * RFC 3339 timestamps as OCPP sends them.
 */
#ifndef OCPPGW_UTIL_H
#define OCPPGW_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- memory: never return NULL; caller frees with free() ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Copies src into dst[cap] (always NUL-terminated); returns false if cut. */
bool str_copy(char *dst, size_t cap, const char *src);

/* ---- logging ---- */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };

void log_setup(enum log_level min, enum log_format fmt);
bool log_enabled(enum log_level lvl);
/* Parses "debug|info|warn|error" / "text|json"; false if unknown. */
bool log_level_parse(const char *s, enum log_level *out);
bool log_format_parse(const char *s, enum log_format *out);

/*
 * One line per event. `charger` may be NULL; when set, the line names it
 * (field `charger`). Never pass secrets. Thread-safe (one write(2) per line).
 */
void log_msg(enum log_level lvl, const char *charger, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(cp, ...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, cp, __VA_ARGS__); } while (0)
#define log_info(cp, ...)  log_msg(LOG_INFO, cp, __VA_ARGS__)
#define log_warn(cp, ...)  log_msg(LOG_WARN, cp, __VA_ARGS__)
#define log_error(cp, ...) log_msg(LOG_ERROR, cp, __VA_ARGS__)

/* ---- time ---- */
/* Wall clock, milliseconds since the Unix epoch (UTC). */
int64_t time_now_ms(void);
/* Monotonic clock in microseconds (for latencies). */
int64_t time_mono_us(void);

/*
 * Parses an RFC 3339 / ISO 8601 date-time as OCPP sends it:
 * "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)". Lower-case t/z accepted,
 * a missing offset is refused. Result in ms since the epoch, UTC.
 */
bool time_parse_iso8601(const char *s, int64_t *out_ms);
/* Formats ms since epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (>= 25 bytes). */
void time_format_iso8601(int64_t ms, char *buf, size_t cap);
#define TIME_ISO8601_LEN 25

#endif
