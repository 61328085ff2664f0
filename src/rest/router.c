/*
 * The REST router: matches a method and an already decoded path against a
 * table of {method, pattern} (pgbouncer's admin cmd_list[] style). Pure: no
 * request, no network, so the unit tests drive it with their own tables.
 *
 * A pattern is literal segments and {name} segments; {name} takes one
 * non-empty segment. Of the patterns that fit a path the most specific wins
 * (a literal beats a parameter at the first place they differ, so
 * "/v1/chargers/export" would beat "/v1/chargers/{id}"); the routes with that
 * pattern decide between 200-ish (a route for the method), 405 (only other
 * methods: their Allow list) and, when nothing fits, 404. A trailing '/' is
 * ignored ("/v1/chargers/" is "/v1/chargers").
 *
 * libwebsockets has already percent-decoded the path and collapsed "//" and
 * dot segments; "%2F" inside an id arrives as '/' and so splits the segment
 * (lws 4.1.6 offers no raw URI). Parameter values are checked as text
 * (UTF-8, no control characters, at most REST_PARAM_MAX bytes).
 */
#include <stdio.h>
#include <string.h>

#include "framework.h"
#include "util.h"

#define MAX_SEGMENTS 16

static const char *const method_names[REST_METHOD_COUNT] = {
    [REST_GET] = "GET",       [REST_POST] = "POST",     [REST_PUT] = "PUT",
    [REST_PATCH] = "PATCH",   [REST_DELETE] = "DELETE", [REST_HEAD] = "HEAD",
    [REST_OPTIONS] = "OPTIONS",
};

const char *rest_method_name(enum rest_method m)
{
    return (unsigned)m < REST_METHOD_COUNT ? method_names[m] : "?";
}

bool rest_method_parse(const char *s, enum rest_method *out)
{
    for (int m = 0; m < REST_METHOD_COUNT; m++) {
        if (strcmp(s, method_names[m]) == 0) {
            *out = (enum rest_method)m;
            return true;
        }
    }
    return false;
}

void rest_allow_string(unsigned allow, char *buf, size_t cap)
{
    size_t at = 0;
    if (cap)
        buf[0] = '\0';
    for (int m = 0; m < REST_METHOD_COUNT; m++) {
        if (!(allow & (1u << m)))
            continue;
        int n = snprintf(buf + at, cap - at, "%s%s", at ? ", " : "", method_names[m]);
        if (n < 0 || (size_t)n >= cap - at)
            return;
        at += (size_t)n;
    }
}

struct seg {
    const char *p;
    size_t n;
};

/* Splits "/a/b/c" into segments; false if not absolute or too deep. */
static bool split(const char *path, struct seg *segs, size_t *nseg)
{
    size_t len = strlen(path);
    if (len == 0 || path[0] != '/')
        return false;
    if (len > 1 && path[len - 1] == '/')
        len--;
    *nseg = 0;
    const char *p = path + 1, *end = path + len;
    if (p >= end)
        return true;    /* "/" */
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash ? slash : end;
        if (*nseg == MAX_SEGMENTS)
            return false;
        segs[(*nseg)++] = (struct seg){ p, (size_t)(e - p) };
        if (!slash)
            return true;
        p = slash + 1;
    }
}

static bool is_param(const struct seg *s)
{
    return s->n >= 3 && s->p[0] == '{' && s->p[s->n - 1] == '}';
}

/*
 * Whether pattern fits the path; *spec gets one bit per literal segment,
 * the first segment highest, so a larger value is the more specific pattern.
 */
static bool fits(const char *pattern, const struct seg *path, size_t npath, uint32_t *spec)
{
    struct seg pat[MAX_SEGMENTS];
    size_t npat;
    if (!split(pattern, pat, &npat) || npat != npath)
        return false;
    *spec = 0;
    for (size_t i = 0; i < npat; i++) {
        if (is_param(&pat[i])) {
            if (path[i].n == 0)
                return false;
            continue;
        }
        if (pat[i].n != path[i].n || memcmp(pat[i].p, path[i].p, pat[i].n) != 0)
            return false;
        *spec |= 1u << (31 - i);
    }
    return true;
}

static bool take_params(const char *pattern, const struct seg *path, struct rest_match *out)
{
    struct seg pat[MAX_SEGMENTS];
    size_t npat;
    split(pattern, pat, &npat);
    for (size_t i = 0; i < npat; i++) {
        if (!is_param(&pat[i]))
            continue;
        size_t nlen = pat[i].n - 2;
        if (out->nparams == REST_PARAMS_MAX || nlen >= sizeof out->params[0].name)
            return false;   /* a table bug; the route is unusable */
        char *name = out->params[out->nparams].name;
        memcpy(name, pat[i].p + 1, nlen);
        name[nlen] = '\0';
        if (path[i].n > REST_PARAM_MAX || !rest_text_ok(path[i].p, path[i].n)) {
            str_copy(out->bad_param, sizeof out->bad_param, name);
            return false;
        }
        memcpy(out->params[out->nparams].value, path[i].p, path[i].n);
        out->params[out->nparams].value[path[i].n] = '\0';
        out->nparams++;
    }
    return true;
}

enum rest_match_result rest_route_match(const struct rest_route *routes, size_t n,
                                        enum rest_method m, const char *path,
                                        struct rest_match *out)
{
    memset(out, 0, sizeof *out);
    struct seg segs[MAX_SEGMENTS];
    size_t nseg;
    if (!split(path, segs, &nseg))
        return REST_MATCH_NOT_FOUND;
    enum rest_method want = m == REST_HEAD ? REST_GET : m;

    bool any = false;
    uint32_t best = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t spec;
        if (fits(routes[i].pattern, segs, nseg, &spec) && (!any || spec > best)) {
            best = spec;
            any = true;
        }
    }
    if (!any)
        return REST_MATCH_NOT_FOUND;

    /* the routes of the winning pattern: same literal places fit the same path */
    const struct rest_route *chosen = NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t spec;
        if (!fits(routes[i].pattern, segs, nseg, &spec) || spec != best)
            continue;
        out->allow |= 1u << routes[i].method;
        if (!chosen && routes[i].method == want)
            chosen = &routes[i];
    }
    if (!chosen)
        return REST_MATCH_METHOD;
    if (!take_params(chosen->pattern, segs, out))
        return out->bad_param[0] ? REST_MATCH_BAD_PARAM : REST_MATCH_NOT_FOUND;
    out->route = chosen;
    return REST_MATCH_OK;
}
