/*
 * When to try a failed delivery again (include/webhook.h): the schedule of
 * events.md with +-20 % jitter, and a receiver's Retry-After.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "webhook.h"

bool wh_schedule_parse(const char *text, struct wh_schedule *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 1 || v > 30L * 86400 || out->n == WH_SCHEDULE_MAX)
            return false;
        out->steps[out->n++] = (int)v;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',') {
            p++;
            if (!*p)
                return false;
        } else if (*p) {
            return false;
        }
    }
    return out->n > 0;
}

double wh_retry_delay(const struct wh_schedule *s, int attempts, double jitter, int64_t retry_after_s)
{
    if (attempts < 1 || attempts > s->n)
        return -1;
    if (jitter < 0)
        jitter = 0;
    if (jitter >= 1)
        jitter = 0.999999;
    double step = s->steps[attempts - 1] * (1.0 - WH_JITTER + 2 * WH_JITTER * jitter);
    if (retry_after_s < 0)
        return step;
    double cap = s->steps[attempts < s->n ? attempts : s->n - 1];
    double ra = (double)retry_after_s < cap ? (double)retry_after_s : cap;
    return ra > step ? ra : step;
}

bool wh_parse_retry_after(const char *value, int64_t now_s, int64_t *out)
{
    while (*value == ' ')
        value++;
    if (*value >= '0' && *value <= '9') {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        while (*end == ' ')
            end++;
        if (errno || *end)
            return false;
        *out = v;
        return true;
    }
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end)
        return false;
    while (*end == ' ')
        end++;
    if (*end)
        return false;
    int64_t at = (int64_t)timegm(&tm);
    *out = at > now_s ? at - now_s : 0;
    return true;
}
