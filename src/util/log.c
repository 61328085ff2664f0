/*
 * Logging: one line per event on stderr, as text or as JSON. Each line is
 * assembled in a stack buffer and written with a single write(2), so lines
 * from the loop and the store thread never interleave.
 */
#include <stdio.h>
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
        } else if (c < 0x20) {
            at += (size_t)snprintf(buf + at, cap - at, "\\u%04x", c);
        } else {
            buf[at++] = (char)c;
        }
    }
    return at;
}

static size_t append(char *buf, size_t cap, size_t at, const char *s)
{
    size_t n = strlen(s);
    if (at + n >= cap)
        n = cap - at - 1;
    memcpy(buf + at, s, n);
    return at + n;
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

    char ts[TIME_ISO8601_LEN];
    time_format_iso8601(time_now_ms(), ts, sizeof ts);

    char line[2048];
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
            at = append(line, sizeof line, at, charger);
        }
        at = append(line, sizeof line, at, " ");
        at = append(line, sizeof line, at, msg);
        if (at >= sizeof line - 1)
            at = sizeof line - 2;
        line[at++] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, at);
    (void)w;
}
