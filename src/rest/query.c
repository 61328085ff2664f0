/*
 * REST collections: query-string validation, statement assembly from fixed
 * fragments, rows to JSON, page metadata (include/rest_query.h). Pure: no
 * request, no socket, no database; the handlers in res_*.c glue it to the
 * framework.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "hmap.h"
#include "rest_query.h"
#include "store_job.h"
#include "util.h"

/* ---------------------------------------------------------------- SQL text */

void rest_sqlb_init(struct rest_sqlb *b)
{
    memset(b, 0, sizeof *b);
    strbuf_reserve(&b->sql, 1023);  /* a statement's usual size: one allocation */
}

void rest_sqlb_free(struct rest_sqlb *b)
{
    strbuf_free(&b->sql);
    for (int i = 0; i < b->nparams; i++)
        free(b->params[i]);
    memset(b, 0, sizeof *b);
}

void rest_sqlb_add(struct rest_sqlb *b, const char *sql)
{
    strbuf_puts(&b->sql, sql);
}

int rest_sqlb_param(struct rest_sqlb *b, const char *value)
{
    if (b->nparams == REST_SQL_PARAMS_MAX) {
        log_error(NULL, "rest: statement needs more than %d parameters", REST_SQL_PARAMS_MAX);
        abort();
    }
    b->params[b->nparams] = value ? xstrdup(value) : NULL;
    return ++b->nparams;
}

void rest_sqlb_password(struct rest_sqlb *b, int n)
{
    if (b->password_param || n < 1 || n > b->nparams) {
        log_error(NULL, "rest: statement with a second or unknown password parameter $%d", n);
        abort();
    }
    b->password_param = n;
}

void rest_sqlb_frag(struct rest_sqlb *b, const char *frag, int n)
{
    char num[16];
    int nl = snprintf(num, sizeof num, "$%d", n);
    for (const char *p = frag; *p;) {
        const char *q = strstr(p, "$?");
        if (!q) {
            rest_sqlb_add(b, p);
            break;
        }
        strbuf_put(&b->sql, p, (size_t)(q - p));
        strbuf_put(&b->sql, num, (size_t)nl);
        p = q + 2;
    }
}

/*
 * Interned fixed statement texts, never freed: built once per process by
 * the code (res_select_once, the framework's own statements), so they are
 * few. Texts shaped by requests are not kept here (rest_sqlb_take_sql).
 */
static struct hmap *interned;

const char *rest_sql_intern(const char *text)
{
    if (!interned)
        interned = hmap_new();
    char *s = hmap_get_str(interned, text);
    if (!s) {
        s = xstrdup(text);
        hmap_put_str(interned, s, s);
    }
    return s;
}

char *rest_sqlb_take_sql(struct rest_sqlb *b)
{
    return strbuf_take(&b->sql);
}

char *rest_pg_array(const char *const *items, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(items[i]) + 3;
    char *out = xmalloc(cap), *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = items[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

char *rest_like_pattern(const char *s)
{
    char *out = xmalloc(2 * strlen(s) + 3), *p = out;
    *p++ = '%';
    for (; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '%';
    *p = '\0';
    return out;
}

/* ---------------------------------------------------------------- rows */

char *rest_select_list(const struct rest_col *cols, size_t n)
{
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (i)
            rest_sqlb_add(&b, ", ");
        if (cols[i].type == REST_COL_TIME) {
            rest_sqlb_add(&b, "ocppgw_us(");
            rest_sqlb_add(&b, cols[i].sql);
            rest_sqlb_add(&b, ")");
        } else {
            rest_sqlb_add(&b, cols[i].sql);
        }
    }
    char *s = strbuf_take(&b.sql);
    rest_sqlb_free(&b);
    return s;
}

int rest_job_rows(const struct store_job *job)
{
    return job->out.sql.ntuples;
}

const char *rest_job_value(const struct store_job *job, int row, int col)
{
    if (row < 0 || row >= job->out.sql.ntuples || col < 0 || col >= job->out.sql.nfields)
        return NULL;
    return job->out.sql.values[(size_t)row * (size_t)job->out.sql.nfields + (size_t)col];
}

/* True if s is a JSON number: -?digits[.digits][e[+-]digits], no leading zeros. */
bool rest_json_number_text(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0' && p - s < 64;
}

static cJSON *time_json(const char *v)
{
    char buf[TIME_ISO8601_LEN + 1];
    time_format_api(strtoll(v, NULL, 10), buf, sizeof buf);
    return cJSON_CreateString(buf);
}

cJSON *rest_json_rows(const char *json, const char *const *keys, unsigned time_mask)
{
    cJSON *out = cJSON_CreateArray();
    cJSON *in = json ? cJSON_Parse(json) : NULL;
    const cJSON *rows = cJSON_IsArray(in) ? in : NULL;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        cJSON *o = cJSON_CreateObject();
        const cJSON *v = cJSON_IsArray(row) ? row->child : NULL;
        for (unsigned k = 0; keys[k]; k++, v = v ? v->next : NULL) {
            int64_t ms;
            if (!v) {
                cJSON_AddNullToObject(o, keys[k]);
            } else if ((time_mask & (1u << k)) && cJSON_IsString(v) &&
                       time_parse_iso8601(v->valuestring, &ms)) {
                char buf[TIME_ISO8601_LEN + 1];
                time_format_api(ms * 1000, buf, sizeof buf);
                cJSON_AddStringToObject(o, keys[k], buf);
            } else {
                cJSON_AddItemToObject(o, keys[k], cJSON_Duplicate(v, true));
            }
        }
        cJSON_AddItemToArray(out, o);
    }
    cJSON_Delete(in);
    return out;
}

static cJSON *col_json(const struct rest_request *r, const struct rest_col *c, const char *v,
                       const char *row_id)
{
    if (c->type == REST_COL_LIVE)
        return c->live ? c->live(r, v, row_id) : cJSON_CreateNull();
    if (!v)
        return cJSON_CreateNull();
    switch (c->type) {
    case REST_COL_STR:
        return cJSON_CreateString(v);
    case REST_COL_INT:
    case REST_COL_NUM:
        /* PostgreSQL's text of an integer or finite number is JSON already: no double round trip */
        return rest_json_number_text(v) ? cJSON_CreateRaw(v) : cJSON_CreateNumber(strtod(v, NULL));
    case REST_COL_BOOL:
        return cJSON_CreateBool(v[0] == 't');
    case REST_COL_TIME:
        return time_json(v);
    case REST_COL_JSON: {
        cJSON *j = cJSON_Parse(v);
        return j ? j : cJSON_CreateNull();
    }
    case REST_COL_LIVE:
    case REST_COL_HIDDEN:
    case REST_COL_MERGE:
        break;
    }
    return NULL;
}

cJSON *rest_row_json(const struct rest_request *r, const struct store_job *job, int row, int col0,
                     const struct rest_col *cols, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    bool merge = false;
    for (size_t i = 0; i < n; i++) {
        merge |= cols[i].type == REST_COL_MERGE;
        if (cols[i].type == REST_COL_HIDDEN || cols[i].type == REST_COL_MERGE)
            continue;
        /* keys by reference, not copied: column names are static (one malloc
         * and free less per field of every row) */
        cJSON_AddItemToObjectCS(o, cols[i].name,
                              col_json(r, &cols[i], rest_job_value(job, row, col0 + (int)i),
                                       rest_job_value(job, row, col0)));
    }
    for (size_t i = 0; merge && i < n; i++) {
        const char *v = cols[i].type == REST_COL_MERGE ? rest_job_value(job, row, col0 + (int)i) : NULL;
        cJSON *m = v ? cJSON_ParseWithOpts(v, NULL, true) : NULL;
        for (const cJSON *c = cJSON_IsObject(m) ? m->child : NULL; c; c = c->next) {
            cJSON *dup = cJSON_Duplicate(c, true);
            if (cJSON_GetObjectItemCaseSensitive(o, c->string))
                cJSON_ReplaceItemInObjectCaseSensitive(o, c->string, dup);
            else
                cJSON_AddItemToObject(o, c->string, dup);
        }
        cJSON_Delete(m);
    }
    return o;
}

/* ---------------------------------------------------------------- parsing */

static bool fail(struct rest_param_error *err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(struct rest_param_error *err, const char *param, const char *fmt, ...)
{
    str_copy(err->param, sizeof err->param, param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
    return false;
}

/* Strict decimal (digits only, no sign or blanks) within [min, max]. */
static bool parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s || strlen(s) > 18)
        return false;
    bool neg = *s == '-' && min < 0;
    const char *p = neg ? s + 1 : s;
    if (!*p)
        return false;
    long long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    if (neg)
        v = -v;
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool rest_strv_has(const char *const *v, const char *s)
{
    for (size_t i = 0; s && v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

void rest_strv_join(const char *const *v, char *buf, size_t cap)
{
    buf[0] = '\0';
    size_t at = 0;
    for (size_t i = 0; v && v[i] && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", v[i]);
}

static void sort_names(const struct rest_list_spec *spec, char *buf, size_t cap)
{
    const char *names[16] = { 0 };
    for (size_t i = 0; i < spec->nsorts && i < 15; i++)
        names[i] = spec->sorts[i].name;
    rest_strv_join(names, buf, cap);
}

/* A time whose offset sign arrived as a space: the client sent a bare '+',
 * which the query string decodes to a space. True when putting the '+' back
 * makes it a valid date-time. */
static bool plus_decoded_as_space(const char *v)
{
    char buf[64];
    size_t n = strlen(v);
    if (!strchr(v, ' ') || n >= sizeof buf)
        return false;
    memcpy(buf, v, n + 1);
    for (char *p = buf; *p; p++)
        if (*p == ' ')
            *p = '+';
    int64_t ms;
    return time_parse_iso8601(buf, &ms);
}

/* One filter's parameter text (owned) into *out; NULL if absent. */
static bool parse_filter(const struct rest_filter *f, const struct rest_query_source *src,
                         char **out, struct rest_param_error *err)
{
    *out = NULL;
    if (f->type == REST_F_LIST) {
        const char *items[REST_LIST_ITEMS_MAX + 1];
        size_t n = src->list(src->ctx, f->param, items, REST_LIST_ITEMS_MAX + 1);
        if (n == 0) {
            if (src->get(src->ctx, f->param))
                return fail(err, f->param, "must list at least one value");
            return true;
        }
        if (n > REST_LIST_ITEMS_MAX)
            return fail(err, f->param, "at most %d values", REST_LIST_ITEMS_MAX);
        for (size_t i = 0; i < n; i++)
            if (!*items[i] || strlen(items[i]) > f->max_len)
                return fail(err, f->param, "values must be 1 to %zu characters", f->max_len);
        *out = rest_pg_array(items, n);
        return true;
    }
    const char *v = src->get(src->ctx, f->param);
    if (!v) {
        *out = f->dflt ? xstrdup(f->dflt) : NULL;
        return true;
    }
    switch (f->type) {
    case REST_F_TEXT:
    case REST_F_SEARCH:
        if (!*v || strlen(v) > f->max_len)
            return fail(err, f->param, "must be 1 to %zu characters", f->max_len);
        *out = f->type == REST_F_SEARCH ? rest_like_pattern(v) : xstrdup(v);
        return true;
    case REST_F_ENUM:
        if (!rest_strv_has(f->values, v)) {
            char all[256];
            rest_strv_join(f->values, all, sizeof all);
            return fail(err, f->param, "must be one of: %s", all);
        }
        *out = xstrdup(v);
        return true;
    case REST_F_BOOL:
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
            return fail(err, f->param, "must be true or false");
        *out = xstrdup(v);
        return true;
    case REST_F_INT: {
        long long n;
        if (!parse_int(v, f->min, f->max, &n))
            return fail(err, f->param, "must be an integer from %lld to %lld", f->min, f->max);
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", n);
        *out = xstrdup(buf);
        return true;
    }
    case REST_F_TIME: {
        int64_t ms;
        if (!time_parse_iso8601(v, &ms)) {
            if (plus_decoded_as_space(v))
                return fail(err, f->param, "must be an ISO 8601 date-time with offset; a '+' in a query "
                            "string must be sent as %%2B (a bare '+' decodes to a space)");
            return fail(err, f->param, "must be an ISO 8601 date-time with offset, e.g. 2024-05-01T00:00:00Z");
        }
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", (long long)ms);
        *out = xstrdup(buf);
        return true;
    }
    case REST_F_LIST:
        break;
    }
    return true;
}

bool rest_param_parse(const struct rest_filter *f, const struct rest_query_source *src, char **out,
                      struct rest_param_error *err)
{
    return parse_filter(f, src, out, err);
}

static int find_sort(const struct rest_list_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->nsorts; i++)
        if (strcmp(spec->sorts[i].name, name) == 0)
            return (int)i;
    return -1;
}

bool rest_list_parse(const struct rest_list_spec *spec, const struct rest_query_source *src,
                     struct rest_list_req *req, struct rest_param_error *err)
{
    memset(req, 0, sizeof *req);
    req->spec = spec;
    req->per_page = REST_PER_PAGE_DEFAULT;
    req->desc = spec->desc;

    long long n;
    const char *v = src->get(src->ctx, "perPage");
    if (v) {
        if (!parse_int(v, 1, REST_PER_PAGE_MAX, &n))
            return fail(err, "perPage", "must be an integer from 1 to %d", REST_PER_PAGE_MAX);
        req->per_page = (int)n;
    }

    const char *sort = src->get(src->ctx, "sort");
    if (sort) {
        req->sort = find_sort(spec, sort);
        if (req->sort < 0) {
            char all[256];
            sort_names(spec, all, sizeof all);
            return fail(err, "sort", "unknown sort field '%.40s'; one of: %s", sort, all);
        }
    }
    const char *order = src->get(src->ctx, "order");
    if (order) {
        if (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
            return fail(err, "order", "must be asc or desc");
        req->desc = order[0] == 'd';
    }

    if (spec->paging == REST_PAGING_OFFSET) {
        v = src->get(src->ctx, "page");
        if (v) {
            if (!parse_int(v, 0, REST_PAGE_MAX, &n))
                return fail(err, "page", "must be an integer from 0 to %d", REST_PAGE_MAX);
            req->page = (long)n;
        }
    } else {
        const char *after = src->get(src->ctx, "after");
        const char *before = src->get(src->ctx, "before");
        if (after && before)
            return fail(err, "before", "give after or before, not both");
        const char *name = after ? "after" : "before";
        const char *c = after ? after : before;
        if (c) {
            if (!rest_cursor_decode(c, &req->cursor) || req->cursor.kind != spec->kind ||
                req->cursor.sort >= spec->nsorts)
                return fail(err, name, "not a cursor of this collection");
            if ((sort && req->cursor.sort != req->sort) || (order && req->cursor.desc != req->desc))
                return fail(err, name, "the cursor was made for another sort or order");
            req->sort = req->cursor.sort;
            req->desc = req->cursor.desc;
            req->dir = after ? REST_DIR_AFTER : REST_DIR_BEFORE;
        }
    }

    if (spec->nfilters > REST_FILTERS_MAX) {
        log_error(NULL, "rest: collection %s has too many filters", spec->name);
        abort();
    }
    const char *from = NULL, *to = NULL;
    for (size_t i = 0; i < spec->nfilters; i++) {
        const struct rest_filter *f = &spec->filters[i];
        if (!parse_filter(f, src, &req->values[i], err))
            return false;
        if (f->type == REST_F_TIME && req->values[i] && src->get(src->ctx, f->param)) {
            if (strcmp(f->param, "from") == 0)
                from = req->values[i];
            else if (strcmp(f->param, "to") == 0)
                to = req->values[i];
        }
    }
    if (from && to && strtoll(from, NULL, 10) > strtoll(to, NULL, 10))
        return fail(err, "to", "must not be before from");
    return true;
}

void rest_list_req_free(struct rest_list_req *req)
{
    for (size_t i = 0; i < REST_FILTERS_MAX; i++) {
        free(req->values[i]);
        req->values[i] = NULL;
    }
}

/* ---------------------------------------------------------------- statements */

/* Conditions joined with AND, collected apart so an offset page can use them twice. */
struct conds {
    struct rest_sqlb *b;            /* owns the parameters */
    struct rest_sqlb text;          /* " WHERE a AND b" (its own parameters unused) */
};

static void cond_frag(struct conds *c, const char *frag, int n)
{
    rest_sqlb_add(&c->text, c->text.sql.len ? " AND " : " WHERE ");
    rest_sqlb_frag(&c->text, frag, n);
}

static void cond_value(struct conds *c, const char *frag, const char *value)
{
    cond_frag(c, frag, rest_sqlb_param(c->b, value));
}

static size_t count_strv(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void rest_sqlb_restrict(struct rest_sqlb *b, struct rest_sqlb *text, const char *lead,
                        const char *vis_chargers, const char *vis_sites,
                        char *const *charger_ids, char *const *site_ids)
{
    if ((!vis_chargers && !vis_sites) || (!charger_ids && !site_ids))
        return;
    rest_sqlb_add(text, lead);
    rest_sqlb_add(text, "(");
    char *arr;
    if (vis_chargers) {
        /* a key limited to sites only sees no charger by id: an empty list, not NULL */
        static char *const none[] = { NULL };
        arr = rest_pg_array((const char *const *)(charger_ids ? charger_ids : none), count_strv(charger_ids));
        rest_sqlb_frag(text, vis_chargers, rest_sqlb_param(b, arr));
        free(arr);
    }
    if (site_ids && vis_sites) {
        arr = rest_pg_array((const char *const *)site_ids, count_strv(site_ids));
        rest_sqlb_add(text, vis_chargers ? " OR " : "");
        rest_sqlb_frag(text, vis_sites, rest_sqlb_param(b, arr));
        free(arr);
    } else if (!vis_chargers) {
        rest_sqlb_add(text, "false");       /* sites, and a key limited to chargers only */
    }
    rest_sqlb_add(text, ")");
}

/* ORDER BY of the page; reverse reads a `before` page backwards. */
static void order_by(struct rest_sqlb *b, const struct rest_list_req *req, bool reverse)
{
    const struct rest_list_spec *spec = req->spec;
    bool desc = req->desc != reverse;
    const char *dir = desc ? " DESC" : " ASC";
    rest_sqlb_add(b, " ORDER BY ");
    rest_sqlb_add(b, spec->sorts[req->sort].column);
    rest_sqlb_add(b, dir);
    if (spec->paging == REST_PAGING_OFFSET)
        rest_sqlb_add(b, " NULLS LAST");
    if (strcmp(spec->sorts[req->sort].column, spec->id) != 0) {
        rest_sqlb_add(b, ", ");
        rest_sqlb_add(b, spec->id);
        rest_sqlb_add(b, dir);
    }
}

/* "SELECT [key AS key_, ]id AS id_, <cols> FROM <from><where>": the page's rows. */
static void select_page(struct rest_sqlb *b, const char *key, const struct rest_list_spec *spec,
                        const char *cols, const char *where)
{
    rest_sqlb_add(b, "SELECT ");
    if (key) {
        rest_sqlb_add(b, key);
        rest_sqlb_add(b, " AS key_, ");
    }
    rest_sqlb_add(b, spec->id);
    rest_sqlb_add(b, " AS id_, ");
    rest_sqlb_add(b, cols);
    rest_sqlb_add(b, " FROM ");
    rest_sqlb_add(b, spec->from);
    rest_sqlb_add(b, where);
}

static void add_int_param_frag(struct rest_sqlb *b, const char *frag, long long v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", v);
    rest_sqlb_frag(b, frag, rest_sqlb_param(b, buf));
}

static void cursor_cond(struct conds *c, const struct rest_list_req *req);

void rest_list_sql(const struct rest_list_req *req, const char *scope_value,
                   char *const *charger_ids, char *const *site_ids, struct rest_sqlb *b)
{
    const struct rest_list_spec *spec = req->spec;
    const struct rest_sort *sort = &spec->sorts[req->sort];
    struct conds c = { .b = b };
    rest_sqlb_init(&c.text);

    int scope_n = 0;
    if (spec->scope || spec->parent)
        scope_n = rest_sqlb_param(b, scope_value);
    if (spec->scope)
        cond_frag(&c, spec->scope, scope_n);
    for (size_t i = 0; i < spec->nfilters; i++)
        if (req->values[i])
            cond_value(&c, spec->filters[i].cond, req->values[i]);
    rest_sqlb_restrict(b, &c.text, c.text.sql.len ? " AND " : " WHERE ", spec->vis_chargers,
                       spec->vis_sites, charger_ids, site_ids);
    char *cols = rest_select_list(spec->cols, spec->ncols);

    if (spec->paging == REST_PAGING_OFFSET) {
        /* under a parent: no row at all when it is missing (the lateral count runs for a parent row only) */
        if (spec->parent) {
            rest_sqlb_add(b, "SELECT p.*, t.total, x.* FROM (");
            rest_sqlb_frag(b, spec->parent, scope_n);
            rest_sqlb_add(b, ") p CROSS JOIN LATERAL (SELECT count(*) FROM ");
        } else {
            rest_sqlb_add(b, "SELECT t.total, x.* FROM (SELECT count(*) FROM ");
        }
        rest_sqlb_add(b, spec->from);
        rest_sqlb_add(b, strbuf_str(&c.text.sql));
        rest_sqlb_add(b, ") t(total) LEFT JOIN LATERAL (");
        select_page(b, NULL, spec, cols, strbuf_str(&c.text.sql));
        order_by(b, req, false);
        add_int_param_frag(b, " LIMIT $?", req->per_page);
        add_int_param_frag(b, " OFFSET $?", (long long)req->page * req->per_page);
        rest_sqlb_add(b, ") x ON true");
    } else {
        if (req->dir != REST_DIR_FIRST)
            cursor_cond(&c, req);     /* strictly past the cursor's row in reading order */
        if (spec->parent) {
            rest_sqlb_add(b, "SELECT p.*, x.* FROM (");
            rest_sqlb_frag(b, spec->parent, scope_n);
            rest_sqlb_add(b, ") p LEFT JOIN LATERAL (");
        }
        select_page(b, sort->key ? sort->key : sort->column, spec, cols, strbuf_str(&c.text.sql));
        order_by(b, req, req->dir == REST_DIR_BEFORE);
        add_int_param_frag(b, " LIMIT $?", req->per_page + 1);
        if (spec->parent)
            rest_sqlb_add(b, ") x ON true");
    }
    free(cols);
    rest_sqlb_free(&c.text);
}

/* The condition of a cursor: strictly past its row in reading order (before: strictly ahead of it). */
static void cursor_cond(struct conds *c, const struct rest_list_req *req)
{
    const struct rest_list_spec *spec = req->spec;
    const struct rest_sort *sort = &spec->sorts[req->sort];
    bool reverse = req->dir == REST_DIR_BEFORE;
    bool greater = req->desc == reverse;
    char buf[24];
    rest_sqlb_add(&c->text, c->text.sql.len ? " AND (" : " WHERE (");
    rest_sqlb_add(&c->text, sort->column);
    if (strcmp(sort->column, spec->id) != 0) {
        rest_sqlb_add(&c->text, ", ");
        rest_sqlb_add(&c->text, spec->id);
        rest_sqlb_add(&c->text, greater ? ") > (" : ") < (");
        snprintf(buf, sizeof buf, "%lld", (long long)req->cursor.key);
        rest_sqlb_frag(&c->text, sort->from_key ? sort->from_key : "$?::bigint", rest_sqlb_param(c->b, buf));
        rest_sqlb_add(&c->text, ", ");
    } else {
        rest_sqlb_add(&c->text, greater ? ") > (" : ") < (");
    }
    snprintf(buf, sizeof buf, "%lld", (long long)req->cursor.id);
    rest_sqlb_frag(&c->text, "$?::bigint)", rest_sqlb_param(c->b, buf));
}

void rest_list_export_sql(const struct rest_list_req *req, const char *scope_value,
                          char *const *charger_ids, char *const *site_ids, const struct rest_col *cols,
                          size_t ncols, struct rest_sqlb *b)
{
    const struct rest_list_spec *spec = req->spec;
    struct conds c = { .b = b };
    rest_sqlb_init(&c.text);
    if (spec->scope)
        cond_frag(&c, spec->scope, rest_sqlb_param(b, scope_value));
    for (size_t i = 0; i < spec->nfilters; i++)
        if (req->values[i])
            cond_value(&c, spec->filters[i].cond, req->values[i]);
    rest_sqlb_restrict(b, &c.text, c.text.sql.len ? " AND " : " WHERE ", spec->vis_chargers,
                       spec->vis_sites, charger_ids, site_ids);
    if (spec->paging == REST_PAGING_CURSOR && req->dir != REST_DIR_FIRST)
        cursor_cond(&c, req);
    char *list = rest_select_list(cols, ncols);
    rest_sqlb_add(b, "SELECT ");
    rest_sqlb_add(b, list);
    rest_sqlb_add(b, " FROM ");
    rest_sqlb_add(b, spec->from);
    rest_sqlb_add(b, strbuf_str(&c.text.sql));
    order_by(b, req, false);
    free(list);
    rest_sqlb_free(&c.text);
}

struct rest_col *rest_list_export_cols(const struct rest_list_spec *spec)
{
    struct rest_col *cols = xmalloc((spec->ncols ? spec->ncols : 1) * sizeof *cols);
    for (size_t i = 0; i < spec->ncols; i++) {
        cols[i] = spec->cols[i];
        if (cols[i].type != REST_COL_LIVE)
            continue;
        for (size_t k = 0; k < spec->nexport_cols; k++)
            if (strcmp(spec->export_cols[k].name, cols[i].name) == 0)
                cols[i] = spec->export_cols[k];
    }
    return cols;
}

/* ---------------------------------------------------------------- answers */

/* Columns before (total|key, id), which come before the page's own: the parent's. */
static int head_cols(const struct rest_list_req *req)
{
    return req->spec->parent ? 2 : 0;
}

int rest_list_col0(const struct rest_list_spec *spec)
{
    return (spec->parent ? 2 : 0) + 2;
}

bool rest_list_parent(const struct rest_list_req *req, const struct store_job *job,
                      const char **charger_id, const char **site_id)
{
    if (rest_job_rows(job) < 1)
        return false;
    *charger_id = rest_job_value(job, 0, 0);
    *site_id = rest_job_value(job, 0, 1);
    (void)req;
    return true;
}

static void add_cursor(cJSON *meta, const char *name, const struct rest_list_req *req,
                       const struct store_job *job, int row)
{
    if (row < 0) {
        cJSON_AddNullToObject(meta, name);
        return;
    }
    int h = head_cols(req);
    struct rest_cursor c = {
        .kind = (uint8_t)req->spec->kind,
        .sort = (uint8_t)req->sort,
        .desc = req->desc,
        .key = strtoll(rest_job_value(job, row, h), NULL, 10),
        .id = strtoll(rest_job_value(job, row, h + 1), NULL, 10),
    };
    char buf[REST_CURSOR_MAX];
    rest_cursor_encode(&c, buf);
    cJSON_AddStringToObject(meta, name, buf);
}

cJSON *rest_list_page(const struct rest_request *r, const struct rest_list_req *req,
                      const struct store_job *job)
{
    const struct rest_list_spec *spec = req->spec;
    int h = head_cols(req);
    int rows = rest_job_rows(job);
    /* a LEFT JOIN row without a page row (empty page) has a NULL id */
    if (rows == 1 && !rest_job_value(job, 0, h + 1))
        rows = 0;
    cJSON *root = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    cJSON *meta = cJSON_AddObjectToObject(root, "meta");

    if (spec->paging == REST_PAGING_OFFSET) {
        for (int i = 0; i < rows; i++)
            cJSON_AddItemToArray(data, rest_row_json(r, job, i, h + 2, spec->cols, spec->ncols));
        const char *total = rest_job_value(job, 0, h);
        cJSON_AddNumberToObject(meta, "perPage", req->per_page);
        cJSON_AddNumberToObject(meta, "itemCount", rows);
        cJSON_AddNumberToObject(meta, "total", total ? (double)strtoll(total, NULL, 10) : 0);
        cJSON_AddNumberToObject(meta, "page", (double)req->page);
        return root;
    }

    bool more = rows > req->per_page;
    int items = more ? req->per_page : rows;
    bool reverse = req->dir == REST_DIR_BEFORE;
    /* row index of the i-th item in reading order */
    for (int i = 0; i < items; i++) {
        int row = reverse ? items - 1 - i : i;
        cJSON_AddItemToArray(data, rest_row_json(r, job, row, h + 2, spec->cols, spec->ncols));
    }
    int first = items ? (reverse ? items - 1 : 0) : -1;
    int last = items ? (reverse ? 0 : items - 1) : -1;
    cJSON_AddNumberToObject(meta, "itemCount", items);
    cJSON_AddNumberToObject(meta, "perPage", req->per_page);
    if (reverse) {
        add_cursor(meta, "before", req, job, more ? first : -1);
        add_cursor(meta, "after", req, job, last);
    } else {
        add_cursor(meta, "before", req, job, req->dir == REST_DIR_AFTER ? first : -1);
        add_cursor(meta, "after", req, job, more ? last : -1);
    }
    return root;
}

bool rest_visible(char *const *charger_ids, char *const *site_ids, const char *charger_id,
                  const char *site_id)
{
    if (!charger_ids && !site_ids)
        return true;
    return rest_strv_has((const char *const *)charger_ids, charger_id) ||
           rest_strv_has((const char *const *)site_ids, site_id);
}
