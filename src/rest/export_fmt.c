/*
 * CSV and NDJSON rows of REST collections (include/rest_export.h). Pure and
 * reentrant: the export threads call it, one formatter per export. Scalars
 * are written by hand (the common case, a million rows must stay cheap);
 * only JSON columns and an active session's estimate go through cJSON,
 * which has no mutable global state once its hooks are set at start-up.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "rest.h"
#include "rest_export.h"
#include "util.h"

struct rest_export_fmt {
    enum rest_export_format f;
    struct rest_col *cols;
    size_t ncols;
    const struct rest_export_flat **flat;   /* per column: its flattening, or NULL */
    int merge;                              /* the REST_COL_MERGE column, -1 none */
};

/* ------------------------------------------------------------------ content negotiation */

enum rest_export_format rest_export_accept(const char *accept)
{
    if (!accept || !accept[strspn(accept, " \t")])
        return REST_EXPORT_NONE;
    double qj = rest_accept_q(accept, "application/json");
    double qc = rest_accept_q(accept, "text/csv");
    double qn = rest_accept_q(accept, "application/x-ndjson");
    if (qc > qj && qc >= qn)
        return REST_EXPORT_CSV;
    if (qn > qj && qn > qc)
        return REST_EXPORT_NDJSON;
    return REST_EXPORT_NONE;
}

const char *rest_export_content_type(enum rest_export_format f)
{
    return f == REST_EXPORT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson";
}

const char *rest_export_extension(enum rest_export_format f)
{
    return f == REST_EXPORT_CSV ? "csv" : "ndjson";
}

/* ------------------------------------------------------------------ the formatter */

static bool shown(const struct rest_col *c)
{
    return c->type != REST_COL_HIDDEN && c->type != REST_COL_MERGE;
}

struct rest_export_fmt *rest_export_fmt_new(enum rest_export_format f, const struct rest_col *cols,
                                            size_t ncols, const struct rest_export_flat *flat)
{
    struct rest_export_fmt *fmt = xcalloc(1, sizeof *fmt);
    fmt->f = f;
    fmt->ncols = ncols;
    fmt->cols = xmalloc((ncols ? ncols : 1) * sizeof *fmt->cols);
    fmt->flat = xcalloc(ncols ? ncols : 1, sizeof *fmt->flat);
    fmt->merge = -1;
    for (size_t i = 0; i < ncols; i++) {
        fmt->cols[i] = cols[i];
        if (cols[i].type == REST_COL_MERGE && fmt->merge < 0)
            fmt->merge = (int)i;
        for (const struct rest_export_flat *x = flat; x && x->col; x++)
            if (cols[i].type == REST_COL_JSON && strcmp(x->col, cols[i].name) == 0)
                fmt->flat[i] = x;
    }
    return fmt;
}

void rest_export_fmt_free(struct rest_export_fmt *fmt)
{
    if (!fmt)
        return;
    free(fmt->cols);
    free(fmt->flat);
    free(fmt);
}

int rest_export_fmt_merge_col(const struct rest_export_fmt *fmt)
{
    return fmt->merge;
}

/* ------------------------------------------------------------------ CSV */

/* One cell: quoted when it must be (RFC 4180), "" for an empty string; NULL: an empty cell. */
static void csv_cell(struct strbuf *out, const char *v)
{
    if (!v)
        return;
    if (!*v || strpbrk(v, ",\"\r\n")) {
        strbuf_putc(out, '"');
        for (const char *p = v; *p; p++) {
            if (*p == '"')
                strbuf_putc(out, '"');
            strbuf_putc(out, *p);
        }
        strbuf_putc(out, '"');
        return;
    }
    strbuf_puts(out, v);
}

void rest_export_fmt_head(const struct rest_export_fmt *fmt, struct strbuf *out)
{
    if (fmt->f != REST_EXPORT_CSV)
        return;
    bool first = true;
    for (size_t i = 0; i < fmt->ncols; i++) {
        const struct rest_col *c = &fmt->cols[i];
        if (!shown(c))
            continue;
        if (fmt->flat[i]) {
            for (const char *const *k = fmt->flat[i]->keys; *k; k++) {
                if (!first)
                    strbuf_putc(out, ',');
                first = false;
                struct strbuf name = STRBUF_INIT;
                strbuf_printf(&name, "%s.%s", c->name, *k);
                csv_cell(out, strbuf_str(&name));
                strbuf_free(&name);
            }
            continue;
        }
        if (!first)
            strbuf_putc(out, ',');
        first = false;
        csv_cell(out, c->name);
    }
    strbuf_puts(out, "\r\n");
}

/* A JSON value as a CSV cell: strings as themselves, null empty, anything else its JSON text. */
static void csv_json_cell(struct strbuf *out, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return;
    if (cJSON_IsString(v)) {
        csv_cell(out, v->valuestring);
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    csv_cell(out, s);
    free(s);
}

/* A JSON text compacted (as the JSON answer prints it), or NULL when it does not parse. */
static char *json_compact(const char *text)
{
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return s;
}

/* A scalar column's text as the API shows it (times formatted) into buf, or v itself. */
static const char *scalar_text(const struct rest_col *c, const char *v, char *buf, size_t cap)
{
    if (!v)
        return NULL;
    switch (c->type) {
    case REST_COL_BOOL:
        return v[0] == 't' ? "true" : "false";
    case REST_COL_TIME:
        time_format_api(strtoll(v, NULL, 10), buf, cap);
        return buf;
    default:
        return v;
    }
}

static void csv_row(const struct rest_export_fmt *fmt, const char *const *values, const cJSON *merge,
                    struct strbuf *out)
{
    bool first = true;
    for (size_t i = 0; i < fmt->ncols; i++) {
        const struct rest_col *c = &fmt->cols[i];
        if (!shown(c))
            continue;
        const cJSON *m = merge ? cJSON_GetObjectItemCaseSensitive(merge, c->name) : NULL;
        if (fmt->flat[i]) {
            cJSON *obj = m ? NULL : values[i] ? cJSON_Parse(values[i]) : NULL;
            const cJSON *src = m ? m : obj;
            for (const char *const *k = fmt->flat[i]->keys; *k; k++) {
                if (!first)
                    strbuf_putc(out, ',');
                first = false;
                csv_json_cell(out, cJSON_IsObject(src) ? cJSON_GetObjectItemCaseSensitive(src, *k) : NULL);
            }
            cJSON_Delete(obj);
            continue;
        }
        if (!first)
            strbuf_putc(out, ',');
        first = false;
        if (m) {
            csv_json_cell(out, m);
        } else if (c->type == REST_COL_JSON) {
            char *s = json_compact(values[i]);
            csv_cell(out, s);
            free(s);
        } else if (c->type != REST_COL_LIVE) {
            char buf[TIME_ISO8601_LEN + 1];
            csv_cell(out, scalar_text(c, values[i], buf, sizeof buf));
        }
    }
    strbuf_puts(out, "\r\n");
}

/* ------------------------------------------------------------------ NDJSON */

/* s as a JSON string, escaped as cJSON prints it. */
static void json_string(struct strbuf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    strbuf_putc(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': strbuf_puts(out, "\\\""); break;
        case '\\': strbuf_puts(out, "\\\\"); break;
        case '\b': strbuf_puts(out, "\\b"); break;
        case '\f': strbuf_puts(out, "\\f"); break;
        case '\n': strbuf_puts(out, "\\n"); break;
        case '\r': strbuf_puts(out, "\\r"); break;
        case '\t': strbuf_puts(out, "\\t"); break;
        default:
            if (*p < 0x20) {
                char u[7] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0 };
                strbuf_puts(out, u);
            } else {
                strbuf_putc(out, (char)*p);
            }
        }
    }
    strbuf_putc(out, '"');
}

static void json_item(struct strbuf *out, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    strbuf_puts(out, s ? s : "null");
    free(s);
}

static void json_value(struct strbuf *out, const struct rest_col *c, const char *v)
{
    if (!v || c->type == REST_COL_LIVE) {
        strbuf_puts(out, "null");
        return;
    }
    switch (c->type) {
    case REST_COL_STR:
        json_string(out, v);
        return;
    case REST_COL_INT:
    case REST_COL_NUM:
        if (rest_json_number_text(v)) {
            strbuf_puts(out, v);
        } else {
            cJSON *n = cJSON_CreateNumber(strtod(v, NULL));
            json_item(out, n);
            cJSON_Delete(n);
        }
        return;
    case REST_COL_BOOL:
        strbuf_puts(out, v[0] == 't' ? "true" : "false");
        return;
    case REST_COL_TIME: {
        char buf[TIME_ISO8601_LEN + 1];
        time_format_api(strtoll(v, NULL, 10), buf, sizeof buf);
        json_string(out, buf);
        return;
    }
    case REST_COL_JSON: {
        char *s = json_compact(v);
        strbuf_puts(out, s ? s : "null");
        free(s);
        return;
    }
    case REST_COL_LIVE:
    case REST_COL_HIDDEN:
    case REST_COL_MERGE:
        break;
    }
    strbuf_puts(out, "null");
}

static bool has_shown_col(const struct rest_export_fmt *fmt, const char *name)
{
    for (size_t i = 0; i < fmt->ncols; i++)
        if (shown(&fmt->cols[i]) && strcmp(fmt->cols[i].name, name) == 0)
            return true;
    return false;
}

static void ndjson_row(const struct rest_export_fmt *fmt, const char *const *values, const cJSON *merge,
                       struct strbuf *out)
{
    bool first = true;
    strbuf_putc(out, '{');
    for (size_t i = 0; i < fmt->ncols; i++) {
        const struct rest_col *c = &fmt->cols[i];
        if (!shown(c))
            continue;
        if (!first)
            strbuf_putc(out, ',');
        first = false;
        json_string(out, c->name);
        strbuf_putc(out, ':');
        const cJSON *m = merge ? cJSON_GetObjectItemCaseSensitive(merge, c->name) : NULL;
        if (m)
            json_item(out, m);
        else
            json_value(out, c, values[i]);
    }
    for (const cJSON *m = merge ? merge->child : NULL; m; m = m->next) {
        if (!m->string || has_shown_col(fmt, m->string))
            continue;
        if (!first)
            strbuf_putc(out, ',');
        first = false;
        json_string(out, m->string);
        strbuf_putc(out, ':');
        json_item(out, m);
    }
    strbuf_puts(out, "}\n");
}

void rest_export_fmt_row(const struct rest_export_fmt *fmt, const char *const *values, struct strbuf *out)
{
    cJSON *merge = NULL;
    if (fmt->merge >= 0 && values[fmt->merge]) {
        merge = cJSON_Parse(values[fmt->merge]);
        if (!cJSON_IsObject(merge)) {
            cJSON_Delete(merge);
            merge = NULL;
        }
    }
    if (fmt->f == REST_EXPORT_CSV)
        csv_row(fmt, values, merge, out);
    else
        ndjson_row(fmt, values, merge, out);
    cJSON_Delete(merge);
}
