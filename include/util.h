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

/*
 * Like log_msg, for what an outside party can repeat at will (a charger's
 * frames, a peer's upgrade attempts). `source` (borrowed) names who caused
 * it: a connection ("conn 42") or a peer address. The first message is
 * written; the same text from the same source within LOG_REPEAT_WINDOW_MS is
 * counted instead, and one line "<message> (repeated N times)" follows when
 * the window ends (log_repeat_flush) or when another message takes its slot
 * in the table. Thread-safe.
 */
void log_msg_from(enum log_level lvl, const char *source, const char *charger, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define log_warn_from(src, cp, ...) log_msg_from(LOG_WARN, src, cp, __VA_ARGS__)
/* Writes the count lines of windows that have ended; call about once a second. */
void log_repeat_flush(void);

/*
 * Text-format escaping of what goes into a log line: the C0 controls
 * (\n, \r, \t as such, the others \xHH), DEL and bytes that are not
 * well-formed UTF-8 or are C1 controls (\xHH each) are written as escapes,
 * so no value from outside can start a line of its own or steer a terminal.
 * Writes at most cap - 1 bytes and a NUL into dst (never cuts an escape);
 * returns the length written.
 */
size_t log_escape_text(char *dst, size_t cap, const char *src);

/*
 * The repetition table behind log_msg_from, with the clock passed in (unit
 * tests). A fixed number of slots, chosen by a hash of (source, text): the
 * memory is bounded whatever the number of sources.
 */
#define LOG_REPEAT_WINDOW_MS 10000
#define LOG_REPEAT_TEXT_MAX 256
struct log_repeat_slot {
    uint64_t key;                   /* hash of (source, text); 0 = free */
    int64_t until_ms;               /* identical messages until then are counted */
    unsigned count;                 /* counted since the last written one */
    enum log_level level;
    char charger[49];
    char text[LOG_REPEAT_TEXT_MAX];
};
struct log_repeat {
    struct log_repeat_slot *slots;  /* owned */
    size_t n;
    int64_t window_ms;
};
/* What a slot had counted, to be written as a count line. */
struct log_repeat_report {
    unsigned count;                 /* 0 = nothing to report */
    enum log_level level;
    char charger[49];
    char text[LOG_REPEAT_TEXT_MAX];
};
void log_repeat_init(struct log_repeat *r, size_t slots, int64_t window_ms);
void log_repeat_free(struct log_repeat *r);
/*
 * Whether (source, text) is written at now_ms (true) or counted (false).
 * When the message takes over a slot holding counted messages (another
 * text or source, or a window that has ended), *report receives them: the
 * caller writes that count line first.
 */
bool log_repeat_check(struct log_repeat *r, const char *source, enum log_level lvl, const char *charger,
                      const char *text, int64_t now_ms, struct log_repeat_report *report);
/* Calls fn for every slot whose window ended by now_ms with messages counted, and resets it. */
void log_repeat_expire(struct log_repeat *r, int64_t now_ms,
                       void (*fn)(void *ctx, const struct log_repeat_report *rep), void *ctx);

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
/*
 * Microseconds since the epoch as the REST API, the event stream and webhook
 * bodies write times: "2024-05-01T12:00:00Z", with ".mmm" only when the
 * milliseconds are not zero (sub-millisecond digits dropped). cap >=
 * TIME_ISO8601_LEN, else buf is "". Times of rows are formatted here, not in
 * SQL, where to_char costs more than the rest of a row.
 */
void time_format_api(int64_t us, char *buf, size_t cap);

#endif
