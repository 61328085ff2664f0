/*
 * Logging: one line per event on stderr, as text or as JSON. Each line is
 * assembled in a stack buffer and written with a single write(2), so lines
 * from the loop and the store thread never interleave.
 *
 * Lines cannot be forged: much of what is logged came from outside (charge
 * point ids, idTags, unique ids, header values, CALLERROR descriptions), so
 * the writer escapes the whole line, not each caller its values. Text lines
 * get log_escape_text (control characters, DEL, broken or C1 UTF-8 as
 * \n, \r, \t, \xHH); JSON lines get JSON string escapes.
 *
 * Floods cannot bury the log: log_msg_from counts a message that one source
 * repeats within LOG_REPEAT_WINDOW_MS instead of writing it again, and
 * writes one "(repeated N times)" line later (struct log_repeat: a fixed
 * table of slots, so memory does not grow with the number of sources).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static enum log_level min_level = LOG_INFO;
static enum log_format format = LOG_TEXT;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_level min, enum log_format fmt)
{
    min_level = min;
    format = fmt;
}

bool log_enabled(enum log_level lvl)
{
    return lvl >= min_level;
}

bool log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

bool log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_JSON;
    else
        return false;
    return true;
}

/* Appends s to buf as the inside of a JSON string. */
static size_t json_escape(char *buf, size_t cap, size_t at, const char *s)
{
    for (; *s && at + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[at++] = '\\';
            buf[at++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            at += (size_t)snprintf(buf + at, cap - at, "\\u%04x", c);
        } else {
            buf[at++] = (char)c;
        }
    }
    return at;
}

static size_t append(char *buf, size_t cap, size_t at, const char *s)
{
    if (at + 1 >= cap)
        return at;
    size_t n = strlen(s);
    if (at + n >= cap)
        n = cap - at - 1;
    memcpy(buf + at, s, n);
    return at + n;
}

/*
 * Length of the well-formed UTF-8 sequence (RFC 3629) of two or more bytes
 * at s, or 0 if there is none or it encodes a C1 control (U+0080..U+009F).
 */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;     /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    if (c == 0xc2 && s[1] <= 0x9f)
        return 0;                           /* C1 control */
    return n;
}

size_t log_escape_text(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)src;
    size_t at = 0;
    while (*s) {
        char esc[8];
        const char *piece = esc;
        size_t n, used = 1;
        unsigned char c = *s;
        if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            n = (size_t)snprintf(esc, sizeof esc, "\\x%02x", c);
        } else if (c < 0x80) {
            piece = (const char *)s;
            n = 1;
        } else if ((used = utf8_len(s)) > 0) {
            piece = (const char *)s;
            n = used;
        } else {
            used = 1;
            n = (size_t)snprintf(esc, sizeof esc, "\\x%02x", c);
        }
        if (at + n >= cap)
            break;
        memcpy(dst + at, piece, n);
        at += n;
        s += used;
    }
    dst[at] = '\0';
    return at;
}

/* Writes one line: the message (already formatted) and its fields, escaped. */
static void write_line(enum log_level lvl, const char *charger, const char *msg)
{
    char ts[TIME_ISO8601_LEN];
    time_format_iso8601(time_now_ms(), ts, sizeof ts);

    char line[4096];
    size_t at = 0;
    if (format == LOG_JSON) {
        at = append(line, sizeof line, at, "{\"ts\":\"");
        at = append(line, sizeof line, at, ts);
        at = append(line, sizeof line, at, "\",\"level\":\"");
        at = append(line, sizeof line, at, level_names[lvl]);
        if (charger) {
            at = append(line, sizeof line, at, "\",\"charger\":\"");
            at = json_escape(line, sizeof line, at, charger);
        }
        at = append(line, sizeof line, at, "\",\"msg\":\"");
        at = json_escape(line, sizeof line, at, msg);
        at = append(line, sizeof line, at, "\"}\n");
    } else {
        at = append(line, sizeof line, at, ts);
        at = append(line, sizeof line, at, " ");
        at = append(line, sizeof line, at, level_names[lvl]);
        if (charger) {
            at = append(line, sizeof line, at, " charger=");
            at += log_escape_text(line + at, sizeof line - at - 1, charger);
        }
        at = append(line, sizeof line, at, " ");
        at += log_escape_text(line + at, sizeof line - at - 1, msg);
        if (at >= sizeof line - 1)
            at = sizeof line - 2;
        line[at++] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, at);
    (void)w;
}

void log_msg(enum log_level lvl, const char *charger, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    write_line(lvl, charger, msg);
}

/* ---- repetitions ---- */

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void log_repeat_init(struct log_repeat *r, size_t slots, int64_t window_ms)
{
    r->slots = xcalloc(slots ? slots : 1, sizeof *r->slots);
    r->n = slots ? slots : 1;
    r->window_ms = window_ms;
}

void log_repeat_free(struct log_repeat *r)
{
    free(r->slots);
    r->slots = NULL;
    r->n = 0;
}

static void take_report(struct log_repeat_slot *slot, struct log_repeat_report *rep)
{
    rep->count = slot->count;
    rep->level = slot->level;
    memcpy(rep->charger, slot->charger, sizeof rep->charger);
    memcpy(rep->text, slot->text, sizeof rep->text);
    slot->count = 0;
}

bool log_repeat_check(struct log_repeat *r, const char *source, enum log_level lvl, const char *charger,
                      const char *text, int64_t now_ms, struct log_repeat_report *report)
{
    uint64_t key = fnv1a(14695981039346656037ULL, source ? source : "");
    key = fnv1a(key ^ 0xff, charger ? charger : "");
    key = fnv1a(key ^ 0xfe, text);
    if (key == 0)
        key = 1;
    struct log_repeat_slot *slot = &r->slots[key % r->n];
    report->count = 0;
    if (slot->key == key && now_ms < slot->until_ms) {
        slot->count++;
        return false;
    }
    if (slot->key && slot->count)
        take_report(slot, report);
    slot->key = key;
    slot->until_ms = now_ms + r->window_ms;
    slot->count = 0;
    slot->level = lvl;
    str_copy(slot->charger, sizeof slot->charger, charger ? charger : "");
    str_copy(slot->text, sizeof slot->text, text);
    return true;
}

void log_repeat_expire(struct log_repeat *r, int64_t now_ms,
                       void (*fn)(void *ctx, const struct log_repeat_report *rep), void *ctx)
{
    for (size_t i = 0; i < r->n; i++) {
        struct log_repeat_slot *slot = &r->slots[i];
        if (slot->key && slot->count && now_ms >= slot->until_ms) {
            struct log_repeat_report rep;
            take_report(slot, &rep);
            fn(ctx, &rep);
        }
    }
}

/* The process's table: 1024 slots (about 330 KB), allocated on first use. */
static pthread_mutex_t repeat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_repeat repeats;
static int64_t next_flush_ms;

static void write_report(void *ctx, const struct log_repeat_report *rep)
{
    (void)ctx;
    char msg[LOG_REPEAT_TEXT_MAX + 64];
    snprintf(msg, sizeof msg, "%s (repeated %u times)", rep->text, rep->count);
    write_line(rep->level, rep->charger[0] ? rep->charger : NULL, msg);
}

void log_msg_from(enum log_level lvl, const char *source, const char *charger, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct log_repeat_report rep;
    pthread_mutex_lock(&repeat_lock);
    if (!repeats.slots)
        log_repeat_init(&repeats, 1024, LOG_REPEAT_WINDOW_MS);
    bool write = log_repeat_check(&repeats, source, lvl, charger, msg, time_mono_us() / 1000, &rep);
    pthread_mutex_unlock(&repeat_lock);
    if (rep.count)
        write_report(NULL, &rep);
    if (write)
        write_line(lvl, charger, msg);
}

void log_repeat_flush(void)
{
    int64_t now = time_mono_us() / 1000;
    pthread_mutex_lock(&repeat_lock);
    if (repeats.slots && now >= next_flush_ms) {
        next_flush_ms = now + 1000;
        log_repeat_expire(&repeats, now, write_report, NULL);
    }
    pthread_mutex_unlock(&repeat_lock);
}
