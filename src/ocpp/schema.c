/*
 * The OCPP 1.6 JSON schema validator. ocpp_schema_init() compiles the
 * official schemas (embedded in the binary) once into a tree of small nodes
 * held in one arena: "$ref": "#/definitions/X" is resolved at compile time,
 * property names, required lists and enums become arrays. Validation then
 * walks a cJSON payload against that tree with no allocation and stops at
 * the first violation in document order: the members of an object are
 * checked in the order they were sent, and a missing required property is
 * reported at the end of its object (where it would have had to be).
 *
 * Only the keywords the 1.6 schemas use are understood: type, properties,
 * required, additionalProperties, enum, maxLength, format (date-time, uri),
 * items, multipleOf, minItems, $ref + definitions. Anything else makes init
 * fail loudly rather than validate less than it claims.
 *
 * Error classes, as OCPP-J asks: missing required -> OccurenceConstraint;
 * wrong JSON type, enum mismatch, unparsable date-time, non-integral integer
 * -> TypeConstraint; maxLength, multipleOf, minItems, number out of range,
 * bad uri -> PropertyConstraint; unknown or duplicate property, payload not
 * an object -> FormationViolation.
 */
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "embedded.h"
#include "codec.h"
#include "ocpp.h"
#include "util.h"

#define SCHEMA_FILE "ocpp1_6.schemas.json"
#define MAX_DEPTH 16            /* nesting of schema nodes; 1.6 needs 6 */
#define MAX_PROPS 64            /* per object: one bit each in a uint64_t */
#define MAX_INTEGER 9007199254740992.0 /* 2^53: beyond it doubles skip integers */
#define USER_TEXT_MAX 40        /* never echo more of what the peer sent */

enum node_type { NODE_ANY, NODE_OBJECT, NODE_ARRAY, NODE_STRING, NODE_INTEGER, NODE_NUMBER, NODE_BOOLEAN };
enum node_format { FORMAT_NONE, FORMAT_DATE_TIME, FORMAT_URI };

struct node;

struct prop {
    const char *name;
    const struct node *node;
};

struct node {
    unsigned char type;         /* enum node_type */
    unsigned char format;       /* enum node_format */
    bool additional;            /* additionalProperties allowed */
    unsigned char n_props;
    unsigned char n_required;
    unsigned short n_enum;
    int max_length;             /* -1 = none */
    int min_items;              /* 0 = none */
    double multiple_of;         /* 0 = none */
    const struct prop *props;   /* schema order */
    const unsigned char *required; /* indexes into props, schema order */
    const char *const *enum_values;
    const struct node *items;
};

/* ---- arena: every compiled byte lives here, freed in one go ---- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

#define CHUNK_SIZE (64 * 1024)

static struct chunk *arena;

static void *arena_alloc(size_t n)
{
    size_t align = alignof(max_align_t);
    n = (n + align - 1) / align * align;
    if (!arena || arena->cap - arena->used < n) {
        size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        struct chunk *c = xmalloc(sizeof *c + cap);
        c->next = arena;
        c->used = 0;
        c->cap = cap;
        arena = c;
    }
    void *p = arena->data + arena->used;
    arena->used += n;
    memset(p, 0, n);
    return p;
}

static const char *arena_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(arena_alloc(n), s, n);
}

static void arena_free(void)
{
    while (arena) {
        struct chunk *next = arena->next;
        free(arena);
        arena = next;
    }
}

/* ---- compiling ---- */

static const struct node *schemas[OCPP_ACTION_COUNT][2];
static bool loaded;

struct compiler {
    const cJSON *root;          /* the schema being compiled, for $ref */
    const char *id;             /* its $id, for messages */
    int depth;
};

static bool compile_fail(const struct compiler *c, const char *what)
{
    log_error(NULL, "schema %s: %s", c->id, what);
    return false;
}

static const struct node *compile_node(struct compiler *c, const cJSON *js);

static bool compile_type(struct node *n, const char *type)
{
    static const struct { const char *name; enum node_type type; } types[] = {
        { "object", NODE_OBJECT }, { "array", NODE_ARRAY }, { "string", NODE_STRING },
        { "integer", NODE_INTEGER }, { "number", NODE_NUMBER }, { "boolean", NODE_BOOLEAN },
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(type, types[i].name) == 0) {
            n->type = (unsigned char)types[i].type;
            return true;
        }
    }
    return false;
}

static int prop_index(const struct node *n, const char *name)
{
    for (int i = 0; i < n->n_props; i++)
        if (strcmp(n->props[i].name, name) == 0)
            return i;
    return -1;
}

static bool compile_properties(struct compiler *c, struct node *n, const cJSON *props, const cJSON *required)
{
    int np = cJSON_GetArraySize(props), nr = cJSON_GetArraySize(required);
    if (np > MAX_PROPS || nr > np)
        return compile_fail(c, "too many properties");
    struct prop *p = arena_alloc(sizeof *p * (size_t)(np ? np : 1));
    const cJSON *it;
    cJSON_ArrayForEach(it, props) {
        p[n->n_props].name = arena_strdup(it->string);
        if (!(p[n->n_props].node = compile_node(c, it)))
            return false;
        n->n_props++;
    }
    n->props = p;
    unsigned char *req = arena_alloc((size_t)(nr ? nr : 1));
    cJSON_ArrayForEach(it, required) {
        int i = cJSON_IsString(it) ? prop_index(n, it->valuestring) : -1;
        if (i < 0)
            return compile_fail(c, "required names an unknown property");
        req[n->n_required++] = (unsigned char)i;
    }
    n->required = req;
    return true;
}

static bool compile_enum(struct compiler *c, struct node *n, const cJSON *values)
{
    int count = cJSON_GetArraySize(values);
    const char **e = arena_alloc(sizeof *e * (size_t)(count ? count : 1));
    const cJSON *it;
    cJSON_ArrayForEach(it, values) {
        if (!cJSON_IsString(it))
            return compile_fail(c, "enum value is not a string");
        e[n->n_enum++] = arena_strdup(it->valuestring);
    }
    n->enum_values = e;
    return true;
}

static const cJSON *resolve_ref(const struct compiler *c, const cJSON *ref)
{
    static const char prefix[] = "#/definitions/";
    if (!cJSON_IsString(ref) || strncmp(ref->valuestring, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const cJSON *defs = cJSON_GetObjectItemCaseSensitive(c->root, "definitions");
    return cJSON_GetObjectItemCaseSensitive(defs, ref->valuestring + sizeof prefix - 1);
}

static bool compile_keyword(struct compiler *c, struct node *n, const cJSON *kw, const cJSON *js)
{
    const char *k = kw->string;
    if (strcmp(k, "type") == 0)
        return (cJSON_IsString(kw) && compile_type(n, kw->valuestring)) || compile_fail(c, "bad type");
    if (strcmp(k, "properties") == 0)
        return compile_properties(c, n, kw, cJSON_GetObjectItemCaseSensitive(js, "required"));
    if (strcmp(k, "additionalProperties") == 0) {
        n->additional = !cJSON_IsFalse(kw);
        return true;
    }
    if (strcmp(k, "enum") == 0)
        return compile_enum(c, n, kw);
    if (strcmp(k, "maxLength") == 0 || strcmp(k, "minItems") == 0) {
        if (!cJSON_IsNumber(kw) || kw->valuedouble < 0 || kw->valuedouble > 1e9)
            return compile_fail(c, "bad length");
        if (strcmp(k, "maxLength") == 0)
            n->max_length = (int)kw->valuedouble;
        else
            n->min_items = (int)kw->valuedouble;
        return true;
    }
    if (strcmp(k, "multipleOf") == 0) {
        if (!cJSON_IsNumber(kw) || !(kw->valuedouble > 0))
            return compile_fail(c, "bad multipleOf");
        n->multiple_of = kw->valuedouble;
        return true;
    }
    if (strcmp(k, "format") == 0) {
        if (cJSON_IsString(kw) && strcmp(kw->valuestring, "date-time") == 0)
            n->format = FORMAT_DATE_TIME;
        else if (cJSON_IsString(kw) && strcmp(kw->valuestring, "uri") == 0)
            n->format = FORMAT_URI;
        return true; /* unknown formats are annotations in draft-07 */
    }
    if (strcmp(k, "items") == 0)
        return (n->items = compile_node(c, kw)) != NULL;
    /* handled elsewhere, or annotations */
    if (strcmp(k, "required") == 0 || strcmp(k, "definitions") == 0 || strcmp(k, "$id") == 0 ||
        strcmp(k, "$schema") == 0 || strcmp(k, "description") == 0 || strcmp(k, "title") == 0 ||
        strcmp(k, "javaType") == 0)
        return true;
    log_error(NULL, "schema %s: unsupported keyword %s", c->id, k);
    return false;
}

static const struct node *compile_node(struct compiler *c, const cJSON *js)
{
    if (!cJSON_IsObject(js) || c->depth >= MAX_DEPTH) {
        compile_fail(c, "not a schema object, or nested too deep");
        return NULL;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(js, "$ref");
    if (ref) {
        const cJSON *target = resolve_ref(c, ref);
        if (!target) {
            compile_fail(c, "unresolvable $ref");
            return NULL;
        }
        js = target;
    }
    struct node *n = arena_alloc(sizeof *n);
    n->max_length = -1;
    n->additional = true;
    c->depth++;
    const cJSON *kw;
    bool ok = true;
    cJSON_ArrayForEach(kw, js) {
        if (!(ok = compile_keyword(c, n, kw, js)))
            break;
    }
    c->depth--;
    if (ok && cJSON_GetObjectItemCaseSensitive(js, "required") && (n->type != NODE_OBJECT || !n->props))
        ok = compile_fail(c, "required without properties");
    return ok ? n : NULL;
}

/* "urn:BootNotification.req" -> action and direction. */
static bool schema_slot(const char *id, enum ocpp_action *a, enum ocpp_schema_dir *dir)
{
    char name[64];
    const char *dot = strrchr(id, '.');
    if (strncmp(id, "urn:", 4) != 0 || !dot || (size_t)(dot - id - 4) >= sizeof name)
        return false;
    memcpy(name, id + 4, (size_t)(dot - id - 4));
    name[dot - id - 4] = '\0';
    if (strcmp(dot + 1, "req") == 0)
        *dir = OCPP_SCHEMA_REQ;
    else if (strcmp(dot + 1, "conf") == 0)
        *dir = OCPP_SCHEMA_CONF;
    else
        return false;
    *a = ocpp_action_lookup(name);
    return *a != OCPP_ACTION_NONE;
}

static bool compile_all(const cJSON *doc)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, doc) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(s, "$id");
        enum ocpp_action a;
        enum ocpp_schema_dir dir;
        if (!cJSON_IsString(id) || !schema_slot(id->valuestring, &a, &dir)) {
            log_error(NULL, "schemas: entry without a known urn:<Action>.req|conf $id");
            return false;
        }
        struct compiler c = { .root = s, .id = id->valuestring };
        if (schemas[a][dir] || !(schemas[a][dir] = compile_node(&c, s)))
            return compile_fail(&c, "duplicate or invalid");
    }
    for (int a = 0; a < OCPP_ACTION_COUNT; a++) {
        for (int dir = 0; dir < 2; dir++) {
            if (!schemas[a][dir]) {
                log_error(NULL, "schemas: no schema for %s.%s", ocpp_action_name(a), dir ? "conf" : "req");
                return false;
            }
        }
    }
    return true;
}

bool ocpp_schema_init(void)
{
    if (loaded)
        return true;
    const struct embedded_file *f = embedded_find(SCHEMA_FILE);
    if (!f) {
        log_error(NULL, "schemas: %s is not embedded", SCHEMA_FILE);
        return false;
    }
    cJSON *doc = cJSON_ParseWithLength((const char *)f->data, f->len);
    loaded = cJSON_IsArray(doc) && compile_all(doc);
    cJSON_Delete(doc);
    if (!loaded)
        ocpp_schema_free();
    return loaded;
}

void ocpp_schema_free(void)
{
    memset(schemas, 0, sizeof schemas);
    arena_free();
    loaded = false;
}

/* ---- violations ---- */

void ocpp_violation_vset(struct ocpp_violation *v, enum ocpp_err err, const char *path,
                         const char *fmt, va_list ap)
{
    v->err = err;
    str_copy(v->path, sizeof v->path, path);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
}

enum ocpp_err ocpp_violation_set(struct ocpp_violation *v, enum ocpp_err err, const char *path,
                                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ocpp_violation_vset(v, err, path, fmt, ap);
    va_end(ap);
    return err;
}

/* ---- validating ---- */

struct segment {
    const char *key;            /* NULL: array index */
    int index;
};

struct walk {
    struct ocpp_violation *v;
    int depth;
    struct segment seg[MAX_DEPTH];
};

/* Appends at most USER_TEXT_MAX printable ASCII characters of key; others become '?'. */
static size_t append_key(char *buf, size_t pos, size_t cap, const char *key)
{
    for (int i = 0; key[i] && i < USER_TEXT_MAX && pos + 1 < cap; i++) {
        unsigned char ch = (unsigned char)key[i];
        buf[pos++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    buf[pos] = '\0';
    return pos;
}

static void format_path(const struct walk *w, char *buf, size_t cap)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < w->depth && pos + 1 < cap; i++) {
        if (w->seg[i].key) {
            if (i > 0)
                pos = append_key(buf, pos, cap, ".");
            pos = append_key(buf, pos, cap, w->seg[i].key);
        } else {
            int n = snprintf(buf + pos, cap - pos, "[%d]", w->seg[i].index);
            pos = n < 0 || (size_t)n >= cap - pos ? cap - 1 : pos + (size_t)n;
        }
    }
}

__attribute__((format(printf, 3, 4)))
static enum ocpp_err fail(const struct walk *w, enum ocpp_err err, const char *fmt, ...)
{
    char path[sizeof w->v->path];
    format_path(w, path, sizeof path);
    va_list ap;
    va_start(ap, fmt);
    ocpp_violation_vset(w->v, err, path, fmt, ap);
    va_end(ap);
    return err;
}

static enum ocpp_err fail_enum(const struct walk *w, const struct node *n)
{
    char list[sizeof w->v->message - 16];
    size_t pos = 0;
    list[0] = '\0';
    for (int i = 0; i < n->n_enum; i++) {
        int k = snprintf(list + pos, sizeof list - pos, "%s%s", i ? ", " : "", n->enum_values[i]);
        if (k < 0 || (size_t)k >= sizeof list - pos) {
            strcpy(list + (pos < sizeof list - 4 ? pos : sizeof list - 4), "...");
            break;
        }
        pos += (size_t)k;
    }
    return fail(w, OCPP_ERR_TYPE_CONSTRAINT, "must be one of %s", list);
}

/* Unicode code points, as JSON Schema counts string length (cJSON decodes to UTF-8). */
static bool longer_than(const char *s, int max)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80 && ++n > max)
            return true;
    return false;
}

static bool is_multiple(double v, double m)
{
    double q = v / m;
    return fabs(q - nearbyint(q)) <= 1e-9 * fmax(1.0, fabs(q));
}

static bool in_enum(const struct node *n, const char *s)
{
    for (int i = 0; i < n->n_enum; i++)
        if (strcmp(n->enum_values[i], s) == 0)
            return true;
    return false;
}

static enum ocpp_err check_node(struct walk *w, const struct node *n, const cJSON *js);

static enum ocpp_err check_child(struct walk *w, const char *key, int index,
                                 const struct node *n, const cJSON *js)
{
    w->seg[w->depth++] = (struct segment){ key, index };
    enum ocpp_err err = n ? check_node(w, n, js) : OCPP_OK; /* a violation has its path already */
    w->depth--;
    return err;
}

static enum ocpp_err check_object(struct walk *w, const struct node *n, const cJSON *js)
{
    if (!cJSON_IsObject(js))
        return fail(w, OCPP_ERR_TYPE_CONSTRAINT, "must be an object");
    uint64_t seen = 0;
    for (const cJSON *m = js->child; m; m = m->next) {
        const char *key = m->string ? m->string : "";
        int i = prop_index(n, key);
        if (i < 0 || (seen & (UINT64_C(1) << i))) {
            if (i < 0 && n->additional)
                continue;
            w->seg[w->depth++] = (struct segment){ key, 0 };
            return fail(w, OCPP_ERR_FORMATION, i < 0 ? "unknown property" : "duplicate property");
        }
        seen |= UINT64_C(1) << i;
        enum ocpp_err err = check_child(w, key, 0, n->props[i].node, m);
        if (err)
            return err;
    }
    for (int r = 0; r < n->n_required; r++) {
        int i = n->required[r];
        if (!(seen & (UINT64_C(1) << i))) {
            w->seg[w->depth++] = (struct segment){ n->props[i].name, 0 };
            return fail(w, OCPP_ERR_OCCURENCE_CONSTRAINT, "required property missing");
        }
    }
    return OCPP_OK;
}

static enum ocpp_err check_array(struct walk *w, const struct node *n, const cJSON *js)
{
    if (!cJSON_IsArray(js))
        return fail(w, OCPP_ERR_TYPE_CONSTRAINT, "must be an array");
    if (n->min_items > 0 && cJSON_GetArraySize(js) < n->min_items)
        return fail(w, OCPP_ERR_PROPERTY_CONSTRAINT, "must have at least %d item%s", n->min_items,
                    n->min_items == 1 ? "" : "s");
    int index = 0;
    for (const cJSON *it = js->child; it; it = it->next, index++) {
        enum ocpp_err err = check_child(w, NULL, index, n->items, it);
        if (err)
            return err;
    }
    return OCPP_OK;
}

static enum ocpp_err check_string(struct walk *w, const struct node *n, const cJSON *js)
{
    if (!cJSON_IsString(js))
        return fail(w, OCPP_ERR_TYPE_CONSTRAINT, "must be a string");
    const char *s = js->valuestring;
    if (n->max_length >= 0 && longer_than(s, n->max_length))
        return fail(w, OCPP_ERR_PROPERTY_CONSTRAINT, "longer than %d characters", n->max_length);
    if (n->n_enum && !in_enum(n, s))
        return fail_enum(w, n);
    int64_t ms;
    if (n->format == FORMAT_DATE_TIME && !time_parse_iso8601(s, &ms))
        return fail(w, OCPP_ERR_TYPE_CONSTRAINT, "must be an RFC 3339 date-time with offset");
    if (n->format == FORMAT_URI && (!*s || !strchr(s, ':')))
        return fail(w, OCPP_ERR_PROPERTY_CONSTRAINT, "must be an absolute URI");
    return OCPP_OK;
}

static enum ocpp_err check_number(struct walk *w, const struct node *n, const cJSON *js)
{
    bool integer = n->type == NODE_INTEGER;
    if (!cJSON_IsNumber(js))
        return fail(w, OCPP_ERR_TYPE_CONSTRAINT, integer ? "must be an integer" : "must be a number");
    double d = js->valuedouble;
    if (!isfinite(d) || (integer && fabs(d) > MAX_INTEGER))
        return fail(w, OCPP_ERR_PROPERTY_CONSTRAINT, "out of range");
    if (integer && d != trunc(d))
        return fail(w, OCPP_ERR_TYPE_CONSTRAINT, "must be an integer");
    if (n->multiple_of > 0 && !is_multiple(d, n->multiple_of))
        return fail(w, OCPP_ERR_PROPERTY_CONSTRAINT, "must be a multiple of %g", n->multiple_of);
    return OCPP_OK;
}

static enum ocpp_err check_node(struct walk *w, const struct node *n, const cJSON *js)
{
    switch ((enum node_type)n->type) {
    case NODE_ANY:
        return OCPP_OK;
    case NODE_OBJECT:
        return check_object(w, n, js);
    case NODE_ARRAY:
        return check_array(w, n, js);
    case NODE_STRING:
        return check_string(w, n, js);
    case NODE_INTEGER:
    case NODE_NUMBER:
        return check_number(w, n, js);
    case NODE_BOOLEAN:
        return cJSON_IsBool(js) ? OCPP_OK : fail(w, OCPP_ERR_TYPE_CONSTRAINT, "must be a boolean");
    }
    abort();
}

enum ocpp_err ocpp_schema_validate(enum ocpp_action a, enum ocpp_schema_dir dir,
                                   const struct cJSON *payload, struct ocpp_violation *v)
{
    struct ocpp_violation scratch;
    struct walk w = { .v = v ? v : &scratch };
    w.v->err = OCPP_OK;
    w.v->path[0] = w.v->message[0] = '\0';
    if (!loaded)
        return fail(&w, OCPP_ERR_INTERNAL, "schemas not loaded");
    if (a < 0 || a >= OCPP_ACTION_COUNT || (dir != OCPP_SCHEMA_REQ && dir != OCPP_SCHEMA_CONF))
        return fail(&w, OCPP_ERR_NOT_IMPLEMENTED, "no schema for this action");
    if (!cJSON_IsObject(payload))
        return fail(&w, OCPP_ERR_FORMATION, "payload must be a JSON object");
    return check_node(&w, schemas[a][dir], payload);
}
