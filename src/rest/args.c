/*
 * Query parameters of a REST request. libwebsockets 4.1.6 hands them over
 * already split and percent-decoded (WSI_TOKEN_HTTP_URI_ARGS fragments):
 * '&' and ';' separate fragments, "%26" arrives as a literal '&' inside a
 * value, '+' is a space, a bad escape ("%ZZ") is refused by lws itself with
 * 403 before any callback, "%00" drops the connection. So nothing here
 * decodes again; it checks what lws decoded (UTF-8, no control characters,
 * lengths) and answers the handlers' questions: first value, every value of
 * a list parameter in both forms ("ids[]=a&ids[]=b", "ids=a,b"), and which
 * parameters nobody asked for.
 */
#include <stdlib.h>
#include <string.h>

#include "framework.h"
#include "util.h"

bool rest_text_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            p++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if ((size_t)(end - p) < n)
            return false;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp < 0xa0))
            return false;
        p += n;
    }
    return true;
}

static void set_bad(char *buf, size_t cap, const char *name, size_t n)
{
    if (!cap)
        return;
    if (!rest_text_ok(name, n) || n >= cap)
        n = 0;
    memcpy(buf, name, n);
    buf[n] = '\0';
}

bool rest_args_add(struct rest_args *a, const char *frag, size_t len, char *bad_buf, size_t bad_cap)
{
    /* "?" with nothing after it reaches us from lws as the fragment "/" */
    if (len == 0 || (len == 1 && frag[0] == '/'))
        return true;
    const char *eq = memchr(frag, '=', len);
    size_t nlen = eq ? (size_t)(eq - frag) : len;
    const char *val = eq ? eq + 1 : "";
    size_t vlen = eq ? len - nlen - 1 : 0;
    bool list = nlen >= 2 && frag[nlen - 2] == '[' && frag[nlen - 1] == ']';
    size_t base = list ? nlen - 2 : nlen;
    if (a->n >= REST_ARGS_MAX || base == 0 || nlen > REST_ARG_NAME_MAX ||
        !rest_text_ok(frag, nlen) || vlen > REST_ARG_VALUE_MAX || !rest_text_ok(val, vlen)) {
        set_bad(bad_buf, bad_cap, frag, base);
        return false;
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 8;
        a->items = xrealloc(a->items, a->cap * sizeof *a->items);
    }
    struct rest_arg *it = &a->items[a->n++];
    it->name = xstrndup(frag, base);
    it->value = xstrndup(val, vlen);
    it->list_form = list;
    it->read = false;
    return true;
}

const char *rest_args_get(struct rest_args *a, const char *name)
{
    const char *first = NULL;
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->items[i].name, name) == 0) {
            a->items[i].read = true;    /* repeats too: the parameter was looked at */
            if (!first)
                first = a->items[i].value;
        }
    }
    return first;
}

static void keep_piece(struct rest_args *a, char *piece)
{
    if (a->npieces == a->cappieces) {
        a->cappieces = a->cappieces ? a->cappieces * 2 : 8;
        a->pieces = xrealloc(a->pieces, a->cappieces * sizeof *a->pieces);
    }
    a->pieces[a->npieces++] = piece;
}

size_t rest_args_list(struct rest_args *a, const char *name, const char **out, size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct rest_arg *it = &a->items[i];
        if (strcmp(it->name, name) != 0)
            continue;
        it->read = true;
        for (const char *p = it->value; *p && count < max;) {
            size_t n = strcspn(p, ",");
            const char *s = p, *e = p + n;
            while (s < e && *s == ' ')
                s++;
            while (e > s && e[-1] == ' ')
                e--;
            if (e > s) {
                char *piece = xstrndup(s, (size_t)(e - s));
                keep_piece(a, piece);
                out[count++] = piece;
            }
            p += n;
            if (*p == ',')
                p++;
        }
    }
    return count;
}

const char *rest_args_unread(const struct rest_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (!a->items[i].read)
            return a->items[i].name;
    return NULL;
}

char *rest_args_joined(const struct rest_args *a)
{
    size_t len = 1;
    for (size_t i = 0; i < a->n; i++)
        len += strlen(a->items[i].name) + strlen(a->items[i].value) + 4;
    char *out = xmalloc(len), *p = out;
    for (size_t i = 0; i < a->n; i++) {
        const struct rest_arg *it = &a->items[i];
        if (i)
            *p++ = '&';
        size_t n = strlen(it->name);
        memcpy(p, it->name, n);
        p += n;
        if (it->list_form) {
            memcpy(p, "[]", 2);
            p += 2;
        }
        *p++ = '=';
        n = strlen(it->value);
        memcpy(p, it->value, n);
        p += n;
    }
    *p = '\0';
    return out;
}

void rest_args_free(struct rest_args *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->items[i].name);
        free(a->items[i].value);
    }
    for (size_t i = 0; i < a->npieces; i++)
        free(a->pieces[i]);
    free(a->items);
    free(a->pieces);
    memset(a, 0, sizeof *a);
}
