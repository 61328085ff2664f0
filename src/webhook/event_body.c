/*
 * The body of a delivery: the event as GET /v1/events/{id} answers it
 * ({id, seq, type, createdAt, occurredAt, chargerId, siteId, data}, times
 * as the REST API writes them, time_format_api: the columns of
 * src/rest/res_events.c). The
 * REST resource renders rows through the REST layer's column tables, which
 * this layer may not use; until one renderer sits below both (model), this
 * function is the webhook's copy of that shape, and it_webhooks checks a
 * delivered body against GET /v1/events/{id} of the same event.
 */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "util.h"
#include "wh_internal.h"

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

char *wh_event_body(const char *id, int64_t seq, const char *type, int64_t created_us, int64_t occurred_us,
                    const char *charger_id, const char *site_id, const char *data)
{
    char t[40];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "seq", (double)seq);
    cJSON_AddStringToObject(o, "type", type);
    time_format_api(created_us, t, sizeof t);
    cJSON_AddStringToObject(o, "createdAt", t);
    if (occurred_us != INT64_MIN) {
        time_format_api(occurred_us, t, sizeof t);
        cJSON_AddStringToObject(o, "occurredAt", t);
    } else {
        cJSON_AddNullToObject(o, "occurredAt");
    }
    add_str_or_null(o, "chargerId", charger_id);
    add_str_or_null(o, "siteId", site_id);
    cJSON *d = data ? cJSON_Parse(data) : NULL;
    cJSON_AddItemToObject(o, "data", d ? d : cJSON_CreateObject());
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        abort();
    char *out = xstrdup(s);
    cJSON_free(s);
    return out;
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left), 0 if there is none. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return c ? 1 : 0;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

char *wh_text_clean(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(p + i, n - i);
        if (!l) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, p + i, l);
        o += l;
        i += l;
    }
    out[o] = '\0';
    return out;
}
