/*
 * The growable string buffer of include/strbuf.h. The invariant every
 * function keeps: once buf is allocated, buf[len] == '\0' and len < cap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"

#define STRBUF_FIRST 256

void strbuf_reserve(struct strbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : STRBUF_FIRST;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->buf = xrealloc(b->buf, cap);
    b->buf[b->len] = '\0';          /* the invariant holds from the first allocation on */
    b->cap = cap;
}

void strbuf_put(struct strbuf *b, const void *data, size_t n)
{
    strbuf_reserve(b, n);
    if (n)
        memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void strbuf_puts(struct strbuf *b, const char *s)
{
    strbuf_put(b, s, strlen(s));
}

void strbuf_putc(struct strbuf *b, char c)
{
    strbuf_reserve(b, 1);
    b->buf[b->len++] = c;
    b->buf[b->len] = '\0';
}

size_t fmt_int64(char *out, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

void strbuf_put_int(struct strbuf *b, int64_t v)
{
    char num[24];
    strbuf_put(b, num, fmt_int64(num, v));
}

void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    strbuf_reserve(b, 64);
    int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    if (n < 0) {
        b->buf[b->len] = '\0';      /* an encoding error: nothing appended */
    } else if ((size_t)n >= b->cap - b->len) {
        strbuf_reserve(b, (size_t)n);
        vsnprintf(b->buf + b->len, b->cap - b->len, fmt, again);
        b->len += (size_t)n;
    } else {
        b->len += (size_t)n;
    }
    va_end(again);
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

bool strbuf_read_file(struct strbuf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t got;
    do {
        strbuf_reserve(b, 65536);
        got = fread(b->buf + b->len, 1, b->cap - b->len - 1, f);
        b->len += got;
        b->buf[b->len] = '\0';
    } while (got > 0);
    bool ok = !ferror(f);
    fclose(f);
    return ok;
}

const char *strbuf_str(const struct strbuf *b)
{
    return b->buf ? b->buf : "";
}

void strbuf_reset(struct strbuf *b)
{
    strbuf_truncate(b, 0);
}

void strbuf_truncate(struct strbuf *b, size_t len)
{
    if (!b->buf || len > b->len)
        return;
    b->len = len;
    b->buf[len] = '\0';
}

char *strbuf_take(struct strbuf *b)
{
    char *s = b->buf ? b->buf : xstrdup("");
    b->buf = NULL;
    b->len = b->cap = 0;
    return s;
}

void strbuf_free(struct strbuf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}
