/*
 * REST request bodies validated against field tables (include/rest_body.h).
 * Pure: used by the resource handlers and by the unit tests.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "rest_body.h"
#include "rest_query.h"
#include "util.h"

/* Characters (not bytes) of a UTF-8 string. */
static long long utf8_len(const char *s)
{
    long long n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Strict YYYY-MM-DD of a real calendar day. */
static bool valid_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    return d <= days[m - 1] + (m == 2 && leap(y));
}

/* A string (or array item) against the field's rules; reason into why. */
static bool check_string(const struct rest_field *f, const char *s, char *why, size_t cap)
{
    long long len = utf8_len(s);
    if (len < f->min || len > f->max) {
        if (f->min == f->max)
            snprintf(why, cap, "must be %lld characters", f->min);
        else
            snprintf(why, cap, "must be %lld to %lld characters", f->min, f->max);
        return false;
    }
    if (f->values && !rest_strv_has(f->values, s)) {
        char all[384];
        rest_strv_join(f->values, all, sizeof all);
        snprintf(why, cap, "'%.40s' is not one of: %s", s, all);
        return false;
    }
    if (f->check && !f->check(s)) {
        snprintf(why, cap, "%s", f->rule ? f->rule : "is not valid");
        return false;
    }
    return true;
}

static const char *type_word(enum rest_ftype t)
{
    switch (t) {
    case REST_FT_STRING: case REST_FT_ENUM: return "a string";
    case REST_FT_INT: return "an integer";
    case REST_FT_NUMBER: return "a number";
    case REST_FT_BOOL: return "a boolean";
    case REST_FT_TIME: return "an ISO 8601 date-time string";
    case REST_FT_DATE: return "a date string YYYY-MM-DD";
    case REST_FT_STRINGS: return "an array of strings";
    case REST_FT_OBJECT: return "an object";
    }
    return "valid";
}

/* A number's text in range, through the field's extra rule (check) if it has one. */
static char *number_checked(const struct rest_field *f, const char *text, char *why, size_t cap)
{
    if (f->check && !f->check(text)) {
        snprintf(why, cap, "%s", f->rule ? f->rule : "is not allowed");
        return NULL;
    }
    return xstrdup(text);
}

/* One present, non-null value to its parameter text; NULL with why on failure. */
static char *field_text(const struct rest_field *f, const cJSON *j, char *why, size_t cap)
{
    char buf[64];
    switch (f->type) {
    case REST_FT_STRING:
    case REST_FT_ENUM:
        if (!cJSON_IsString(j))
            break;
        if (f->type == REST_FT_ENUM && !rest_strv_has(f->values, j->valuestring)) {
            char all[384];
            rest_strv_join(f->values, all, sizeof all);
            snprintf(why, cap, "must be one of: %s", all);
            return NULL;
        }
        if (f->type == REST_FT_STRING && !check_string(f, j->valuestring, why, cap))
            return NULL;
        return xstrdup(j->valuestring);
    case REST_FT_INT: {
        if (!cJSON_IsNumber(j))
            break;
        double d = j->valuedouble;
        if (d != floor(d) || d < (double)f->min || d > (double)f->max) {
            snprintf(why, cap, "must be an integer from %lld to %lld", f->min, f->max);
            return NULL;
        }
        snprintf(buf, sizeof buf, "%lld", (long long)d);
        return number_checked(f, buf, why, cap);
    }
    case REST_FT_NUMBER:
        if (!cJSON_IsNumber(j))
            break;
        if (!isfinite(j->valuedouble) || j->valuedouble < f->dmin || j->valuedouble > f->dmax) {
            snprintf(why, cap, "must be a number from %g to %g", f->dmin, f->dmax);
            return NULL;
        }
        snprintf(buf, sizeof buf, "%.17g", j->valuedouble);
        return number_checked(f, buf, why, cap);
    case REST_FT_BOOL:
        if (!cJSON_IsBool(j))
            break;
        return xstrdup(cJSON_IsTrue(j) ? "true" : "false");
    case REST_FT_TIME: {
        int64_t ms;
        if (!cJSON_IsString(j))
            break;
        if (!time_parse_iso8601(j->valuestring, &ms)) {
            snprintf(why, cap, "must be an ISO 8601 date-time with offset, e.g. 2030-01-01T00:00:00Z");
            return NULL;
        }
        snprintf(buf, sizeof buf, "%lld", (long long)ms);
        return xstrdup(buf);
    }
    case REST_FT_DATE:
        if (!cJSON_IsString(j))
            break;
        if (!valid_date(j->valuestring)) {
            snprintf(why, cap, "must be a date YYYY-MM-DD");
            return NULL;
        }
        return xstrdup(j->valuestring);
    case REST_FT_STRINGS: {
        if (!cJSON_IsArray(j))
            break;
        int n = cJSON_GetArraySize(j);
        if (n > REST_BODY_LIST_MAX) {
            snprintf(why, cap, "at most %d items", REST_BODY_LIST_MAX);
            return NULL;
        }
        if (n == 0 && (f->flags & REST_FF_NONEMPTY)) {
            snprintf(why, cap, "must have at least one item");
            return NULL;
        }
        const char *items[REST_BODY_LIST_MAX];
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, j) {
            if (!cJSON_IsString(it)) {
                snprintf(why, cap, "must be %s", type_word(f->type));
                return NULL;
            }
            char item_why[400];
            if (!check_string(f, it->valuestring, item_why, sizeof item_why)) {
                snprintf(why, cap, "item %d %s", i, item_why);
                return NULL;
            }
            items[i++] = it->valuestring;
        }
        return rest_pg_array(items, (size_t)i);
    }
    case REST_FT_OBJECT:            /* take_value takes its members: no parameter of its own */
        break;
    }
    snprintf(why, cap, "must be %s", type_word(f->type));
    return NULL;
}

static void add_reason(cJSON **ctx, const char *name, const char *why)
{
    if (!*ctx)
        *ctx = cJSON_CreateObject();
    if (!cJSON_GetObjectItemCaseSensitive(*ctx, name))
        cJSON_AddStringToObject(*ctx, name, why);
}

static int by_field(const void *a, const void *b)
{
    const struct rest_field *fa = ((const struct rest_body_value *)a)->field;
    const struct rest_field *fb = ((const struct rest_body_value *)b)->field;
    return fa < fb ? -1 : fa > fb;
}

/* True if a member named like j comes before j in its object. */
static bool given_before(const cJSON *obj, const cJSON *j)
{
    for (const cJSON *k = obj->child; k && k != j; k = k->next)
        if (k->string && j->string && strcmp(k->string, j->string) == 0)
            return true;
    return false;
}

static void add_value(struct rest_body *out, const struct rest_field *f, char *text, const char *name,
                      cJSON **ctx)
{
    if (out->n == REST_BODY_FIELDS_MAX) {
        free(text);
        add_reason(ctx, name, "too many fields");
        return;
    }
    out->v[out->n].field = f;
    out->v[out->n].text = text;
    out->n++;
}

/*
 * What field (a table name) is called inside the object named prefix: the
 * part after "<prefix>." ("address.city" in "address": "city"), or for
 * prefix "" (the body) the name itself when it has no dot; else NULL.
 */
static const char *member_name(const char *field, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (!plen)
        return strchr(field, '.') ? NULL : field;
    return strncmp(field, prefix, plen) == 0 && field[plen] == '.' ? field + plen + 1 : NULL;
}

static const struct rest_field *find_member(const struct rest_field *fields, size_t n, const char *prefix,
                                            const char *member)
{
    for (size_t i = 0; i < n; i++) {
        const char *m = member_name(fields[i].name, prefix);
        if (m && strcmp(m, member) == 0)
            return &fields[i];
    }
    return NULL;
}

static void take_members(const cJSON *obj, const struct rest_field *fields, size_t nfields,
                         const char *prefix, bool create, struct rest_body *out, cJSON **ctx);

/* Member j (named name in the 422 context) of field f into out, or its reason into *ctx. */
static void take_value(const struct rest_field *fields, size_t nfields, const struct rest_field *f,
                       const cJSON *j, const char *name, bool create, struct rest_body *out, cJSON **ctx)
{
    if (!create && (f->flags & REST_FF_IMMUTABLE)) {
        add_reason(ctx, name, "cannot be changed");
        return;
    }
    if (cJSON_IsNull(j) && !(f->flags & REST_FF_NULLABLE)) {
        add_reason(ctx, name, "must not be null");
        return;
    }
    if (f->type == REST_FT_OBJECT) {
        if (!cJSON_IsNull(j) && !cJSON_IsObject(j)) {
            add_reason(ctx, name, "must be an object");
        } else if (cJSON_IsObject(j)) {
            take_members(j, fields, nfields, f->name, create, out, ctx);
        } else {
            for (size_t i = 0; i < nfields; i++)     /* null clears every member */
                if (member_name(fields[i].name, f->name))
                    add_value(out, &fields[i], NULL, name, ctx);
        }
        return;
    }
    char *text = NULL;
    char why[512];
    if (!cJSON_IsNull(j) && !(text = field_text(f, j, why, sizeof why))) {
        add_reason(ctx, name, why);
        return;
    }
    add_value(out, f, text, name, ctx);
}

/* The members of obj: the body's (prefix "") or an object field's (prefix: its name). */
static void take_members(const cJSON *obj, const struct rest_field *fields, size_t nfields,
                         const char *prefix, bool create, struct rest_body *out, cJSON **ctx)
{
    const cJSON *j;
    cJSON_ArrayForEach(j, obj) {
        const char *member = j->string ? j->string : "";
        char name[160];
        snprintf(name, sizeof name, "%s%s%.64s", prefix, *prefix ? "." : "", member);
        const struct rest_field *f = find_member(fields, nfields, prefix, member);
        if (!f)
            add_reason(ctx, name, "unknown field");
        else if (given_before(obj, j))
            add_reason(ctx, name, "given twice");
        else
            take_value(fields, nfields, f, j, name, create, out, ctx);
    }
}

cJSON *rest_body_parse(const cJSON *body, const struct rest_field *fields, size_t nfields,
                       bool create, struct rest_body *out)
{
    memset(out, 0, sizeof *out);
    cJSON *ctx = NULL;
    if (!cJSON_IsObject(body)) {
        add_reason(&ctx, "body", "must be a JSON object");
        return ctx;
    }
    take_members(body, fields, nfields, "", create, out, &ctx);
    for (size_t i = 0; create && i < nfields; i++)
        if ((fields[i].flags & REST_FF_REQUIRED) && !cJSON_GetObjectItemCaseSensitive(body, fields[i].name))
            add_reason(&ctx, fields[i].name, "required");
    if (ctx) {
        rest_body_free(out);
        return ctx;
    }
    /* table order, not the body's: the statement's shape must not depend on how the client ordered keys */
    qsort(out->v, out->n, sizeof out->v[0], by_field);
    return NULL;
}

void rest_body_free(struct rest_body *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].text);
    memset(b, 0, sizeof *b);
}

struct rest_body_value *rest_body_find(struct rest_body *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->v[i].field->name, name) == 0)
            return &b->v[i];
    return NULL;
}

static void value_expr(const struct rest_body_value *v, struct rest_sqlb *b)
{
    int n = rest_sqlb_param(b, v->text);
    if ((v->field->flags & REST_FF_PASSWORD) && v->text)
        rest_sqlb_password(b, n);
    rest_sqlb_frag(b, v->field->value ? v->field->value : "$?", n);
}

void rest_body_add(struct rest_body *b, const struct rest_field *f, const char *text)
{
    if (b->n == REST_BODY_FIELDS_MAX) {
        log_error(NULL, "rest: too many body values");
        abort();
    }
    b->v[b->n].field = f;
    b->v[b->n].text = text ? xstrdup(text) : NULL;
    b->n++;
}

void rest_body_columns(const struct rest_body *v, struct rest_sqlb *b)
{
    size_t k = 0;
    rest_sqlb_add(b, "(");
    for (size_t i = 0; i < v->n; i++) {
        if (!v->v[i].field->column)
            continue;
        rest_sqlb_add(b, k++ ? ", " : "");
        rest_sqlb_add(b, v->v[i].field->column);
    }
    rest_sqlb_add(b, ")");
}

void rest_body_values(const struct rest_body *v, struct rest_sqlb *b)
{
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (!v->v[i].field->column)
            continue;
        rest_sqlb_add(b, k++ ? ", " : "");
        value_expr(&v->v[i], b);
    }
}

bool rest_body_set(const struct rest_body *v, struct rest_sqlb *b)
{
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (!v->v[i].field->column)
            continue;
        rest_sqlb_add(b, k++ ? ", " : "");
        rest_sqlb_add(b, v->v[i].field->column);
        rest_sqlb_add(b, " = ");
        value_expr(&v->v[i], b);
    }
    return k > 0;
}

void rest_body_insert(const struct rest_body *v, struct rest_sqlb *b, const char *cte, const char *table)
{
    rest_sqlb_add(b, "WITH ");
    rest_sqlb_add(b, cte);
    rest_sqlb_add(b, " AS (INSERT INTO ");
    rest_sqlb_add(b, table);
    rest_sqlb_add(b, " ");
    rest_body_columns(v, b);
    rest_sqlb_add(b, " VALUES (");
    rest_body_values(v, b);
    rest_sqlb_add(b, ")");
}

void rest_body_update(const struct rest_body *v, struct rest_sqlb *b, const char *cte, const char *table)
{
    rest_sqlb_add(b, "WITH ");
    rest_sqlb_add(b, cte);
    rest_sqlb_add(b, " AS (UPDATE ");
    rest_sqlb_add(b, table);
    rest_sqlb_add(b, " SET ");
    if (rest_body_set(v, b))
        rest_sqlb_add(b, ", ");
}
