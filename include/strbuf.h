/*
 * The one growable string buffer (after antirez/sds, without the header
 * trick): a struct the caller owns, text always NUL-terminated, growth by
 * doubling through xrealloc (out of memory aborts). Used wherever text is
 * assembled piece by piece: SQL array literals, metrics, REST bodies and
 * query builders, test clients.
 *
 *     struct strbuf b = STRBUF_INIT;
 *     strbuf_puts(&b, "x=");
 *     strbuf_printf(&b, "%d", 42);
 *     char *s = strbuf_take(&b);      caller frees s; b is empty again
 */
#ifndef OCPPGW_STRBUF_H
#define OCPPGW_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
    char *buf;                      /* owned; NULL until the first byte */
    size_t len;                     /* bytes of text, not counting the NUL */
    size_t cap;                     /* bytes allocated */
};

#define STRBUF_INIT { NULL, 0, 0 }

/* Room for `more` bytes after len (plus the NUL) without another allocation. */
void strbuf_reserve(struct strbuf *b, size_t more);
/* Appends n bytes (may include NULs: the length is what counts). */
void strbuf_put(struct strbuf *b, const void *data, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_putc(struct strbuf *b, char c);
/* Appends the decimal text of v. */
void strbuf_put_int(struct strbuf *b, int64_t v);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap);
/* Appends the whole file at path; false (b unchanged past what was read) if it cannot be opened or read. */
bool strbuf_read_file(struct strbuf *b, const char *path);
/* The text so far (borrowed, NUL-terminated; "" when nothing was put). */
const char *strbuf_str(const struct strbuf *b);
/* Empties the text and keeps the memory (for reuse). */
void strbuf_reset(struct strbuf *b);
/* Cuts the text to len bytes (len <= b->len). */
void strbuf_truncate(struct strbuf *b, size_t len);
/* Hands the text over (caller frees; never NULL) and leaves b empty (STRBUF_INIT). */
char *strbuf_take(struct strbuf *b);
/* Frees the memory; b is STRBUF_INIT afterwards. */
void strbuf_free(struct strbuf *b);

/* Decimal text of v into out (>= 21 bytes), NUL-terminated; returns its length. */
size_t fmt_int64(char *out, int64_t v);

#endif
