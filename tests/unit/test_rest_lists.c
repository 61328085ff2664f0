/*
 * The REST collections as served (the struct rest_list_spec of each list
 * route in src/rest/res_*.c) against the contract and against
 * docs/openapi.json:
 *
 * - every filter takes a good value of its kind and refuses malformed ones
 *   with 400 naming it (rest-api.md: "a malformed parameter: 400 with
 *   context naming it"); its SQL fragment has its placeholder, and a
 *   request with every filter at once makes a statement whose placeholders
 *   are exactly its parameters, with the key's restriction still there;
 * - the filters the issue named: GET /v1/tokens?idTag=, the session
 *   filters of the spec, the charger's own sessions without the charger
 *   filters;
 * - the document lists, on each list operation, exactly the query
 *   parameters the collection reads (paging, sort with its fields, order,
 *   every filter with its type, enum, bounds and length), so that an
 *   integrator reading it can use every filter and no other.
 *
 * docs/openapi.json is read from the working directory (make runs the unit
 * tests from the top of the tree) or from OCPPGW_OPENAPI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cJSON.h>

#include "rest.h"
#include "rest_fakes.h"
#include "rest_query.h"
#include "rest_res.h"
#include "strbuf.h"
#include "../../src/rest/res_events.h"

/* Every list route and its collection. */
static const struct {
    const char *path;
    const struct rest_list_spec *const *spec;
} lists[] = {
    { "/v1/chargers", &res_chargers_spec },
    { "/v1/chargers/{id}/status-history", &res_status_history_spec },
    { "/v1/chargers/{id}/security-events", &res_security_events_spec },
    { "/v1/chargers/{id}/sessions", &res_charger_sessions_spec },
    { "/v1/chargers/{id}/commands", &res_charger_commands_spec },
    { "/v1/sessions", &res_sessions_spec },
    { "/v1/sessions/{id}/meter-values", &res_meter_values_spec },
    { "/v1/tokens", &res_tokens_spec },
    { "/v1/api-keys", &res_api_keys_spec },
    { "/v1/audit-log", &res_audit_spec },
    { "/v1/events", &res_events_spec },
    { "/v1/webhook-endpoints", &res_webhook_endpoints_spec },
    { "/v1/webhook-endpoints/{id}/deliveries", &res_webhook_deliveries_spec },
    { "/v1/sites", &res_sites_spec },
    { "/v1/sites/{id}/chargers", &res_site_chargers_spec },
    { "/v1/tariffs", &res_tariffs_spec },
};
#define NLISTS (sizeof lists / sizeof lists[0])

static const struct rest_filter *find_filter(const struct rest_list_spec *spec, const char *param)
{
    for (size_t i = 0; i < spec->nfilters; i++)
        if (strcmp(spec->filters[i].param, param) == 0)
            return &spec->filters[i];
    return NULL;
}

static int filter_index(const struct rest_list_spec *spec, const char *param)
{
    const struct rest_filter *f = find_filter(spec, param);
    if (!f)
        fail_msg("%s has no filter %s", spec->name, param);
    return (int)(f - spec->filters);
}

/* ---------------------------------------------------------------- values per kind */

/* A value the filter takes, and the parameter text it becomes (static buffers). */
static void good_value(const struct rest_filter *f, const char **query_value, const char **stored)
{
    static char q[64], s[64];
    switch (f->type) {
    case REST_F_TEXT:
        *query_value = *stored = "x";
        return;
    case REST_F_SEARCH:
        *query_value = "x";
        *stored = "%x%";
        return;
    case REST_F_ENUM:
        *query_value = *stored = f->values[0];
        return;
    case REST_F_LIST:
        *query_value = "a,b";
        *stored = "{\"a\",\"b\"}";
        return;
    case REST_F_BOOL:
        *query_value = *stored = "true";
        return;
    case REST_F_INT:
        snprintf(q, sizeof q, "%lld", f->max);
        snprintf(s, sizeof s, "%lld", f->max);
        *query_value = q;
        *stored = s;
        return;
    case REST_F_TIME:
        *query_value = "2024-05-01T00:00:00Z";
        *stored = "1714521600000";
        return;
    }
    fail_msg("filter %s: unknown type", f->param);
}

static void expect_400(const struct rest_list_spec *spec, const char *query, const char *param)
{
    struct rest_list_req req;
    struct rest_param_error err;
    if (rest_fake_parse(spec, query, &req, &err))
        fail_msg("%s accepted %s", spec->name, query);
    if (strcmp(err.param, param) != 0)
        fail_msg("%s: %s named '%s' (%s), want '%s'", spec->name, query, err.param, err.reason, param);
    assert_true(err.reason[0] != '\0');
    rest_list_req_free(&req);
}

/* param=value refused, naming param. */
static void expect_bad(const struct rest_list_spec *spec, const char *param, const char *value)
{
    char q[600];
    snprintf(q, sizeof q, "%s=%s", param, value);
    expect_400(spec, q, param);
}

static void expect_malformed(const struct rest_list_spec *spec, const struct rest_filter *f)
{
    char s[400];
    const char *p = f->param;
    switch (f->type) {
    case REST_F_TEXT:
    case REST_F_SEARCH:
    case REST_F_LIST:
        assert_true(f->max_len > 0 && f->max_len < sizeof s - 1);
        memset(s, 'x', f->max_len + 1);
        s[f->max_len + 1] = '\0';
        expect_bad(spec, p, s);
        expect_bad(spec, p, "");
        if (f->type == REST_F_LIST)
            expect_bad(spec, p, ",,");
        return;
    case REST_F_ENUM:
        expect_bad(spec, p, "no-such-value");
        snprintf(s, sizeof s, "%s ", f->values[0]);
        expect_bad(spec, p, s);
        /* values are exact: another case is another value */
        snprintf(s, sizeof s, "%s", f->values[0]);
        for (char *c = s; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        expect_bad(spec, p, s);
        return;
    case REST_F_BOOL:
        expect_bad(spec, p, "1");
        expect_bad(spec, p, "yes");
        expect_bad(spec, p, "TRUE");
        expect_bad(spec, p, "");
        return;
    case REST_F_INT:
        expect_bad(spec, p, "x");
        expect_bad(spec, p, "1.5");
        expect_bad(spec, p, "");
        expect_bad(spec, p, " 1");
        snprintf(s, sizeof s, "%lld", f->min - 1);
        expect_bad(spec, p, s);
        snprintf(s, sizeof s, "%lld", f->max + 1);
        expect_bad(spec, p, s);
        expect_bad(spec, p, "99999999999999999999");
        return;
    case REST_F_TIME:
        expect_bad(spec, p, "yesterday");
        expect_bad(spec, p, "2024-05-01");
        expect_bad(spec, p, "2024-05-01T00:00:00");
        expect_bad(spec, p, "2024-02-30T00:00:00Z");
        return;
    }
    fail_msg("filter %s: unknown type", p);
}

/* ---------------------------------------------------------------- every collection */

static const char *const reserved[] = { "page", "perPage", "sort", "order", "after", "before", NULL };

static void test_filters_are_well_formed(void **state)
{
    (void)state;
    for (size_t l = 0; l < NLISTS; l++) {
        const struct rest_list_spec *spec = *lists[l].spec;
        assert_true(spec->nfilters <= REST_FILTERS_MAX);
        for (size_t i = 0; i < spec->nfilters; i++) {
            const struct rest_filter *f = &spec->filters[i];
            if (rest_strv_has(reserved, f->param))
                fail_msg("%s: filter %s takes a paging or sorting parameter's name", lists[l].path, f->param);
            if (find_filter(spec, f->param) != f)
                fail_msg("%s: filter %s twice", lists[l].path, f->param);
            if (!f->cond || !strstr(f->cond, "$?"))
                fail_msg("%s: filter %s has no $? for its value", lists[l].path, f->param);
            if (f->type == REST_F_ENUM && (!f->values || !f->values[0]))
                fail_msg("%s: enum filter %s has no values", lists[l].path, f->param);
            if (f->type == REST_F_INT && f->min > f->max)
                fail_msg("%s: filter %s: empty range", lists[l].path, f->param);
        }
    }
}

static void test_every_filter_takes_good_values_and_refuses_bad_ones(void **state)
{
    (void)state;
    for (size_t l = 0; l < NLISTS; l++) {
        const struct rest_list_spec *spec = *lists[l].spec;
        for (size_t i = 0; i < spec->nfilters; i++) {
            const struct rest_filter *f = &spec->filters[i];
            const char *value, *stored;
            good_value(f, &value, &stored);
            char q[300];
            snprintf(q, sizeof q, "%s=%s", f->param, value);
            struct rest_list_req req;
            struct rest_param_error err;
            if (!rest_fake_parse(spec, q, &req, &err))
                fail_msg("%s refused %s: %s %s", lists[l].path, q, err.param, err.reason);
            if (!req.values[i] || strcmp(req.values[i], stored) != 0)
                fail_msg("%s?%s: parameter text '%s', want '%s'", lists[l].path, q,
                         req.values[i] ? req.values[i] : "(none)", stored);
            rest_list_req_free(&req);
            /* every value of an enum, both booleans, the range's low end */
            for (size_t k = 0; f->type == REST_F_ENUM && f->values[k]; k++) {
                snprintf(q, sizeof q, "%s=%s", f->param, f->values[k]);
                assert_true(rest_fake_parse(spec, q, &req, &err));
                assert_string_equal(req.values[i], f->values[k]);
                rest_list_req_free(&req);
            }
            if (f->type == REST_F_BOOL || f->type == REST_F_INT) {
                char low[32];
                snprintf(low, sizeof low, "%lld", f->min);
                snprintf(q, sizeof q, "%s=%s", f->param, f->type == REST_F_BOOL ? "false" : low);
                assert_true(rest_fake_parse(spec, q, &req, &err));
                assert_string_equal(req.values[i], f->type == REST_F_BOOL ? "false" : low);
                rest_list_req_free(&req);
            }
            expect_malformed(spec, f);
        }
    }
}

/* Every "$n" of text within 1..nparams and each of them used; no "$?" left. */
static void check_placeholders(const char *what, const struct rest_sqlb *b)
{
    bool used[REST_SQL_PARAMS_MAX + 1] = { false };
    for (const char *p = strbuf_str(&b->sql); (p = strchr(p, '$')) != NULL; p++) {
        if (p[1] == '?')
            fail_msg("%s: a $? was left in: %s", what, strbuf_str(&b->sql));
        if (p[1] < '0' || p[1] > '9')
            continue;
        long n = strtol(p + 1, NULL, 10);
        if (n < 1 || n > b->nparams)
            fail_msg("%s: $%ld of %d parameters: %s", what, n, b->nparams, strbuf_str(&b->sql));
        used[n] = true;
    }
    for (int n = 1; n <= b->nparams; n++)
        if (!used[n])
            fail_msg("%s: parameter $%d unused: %s", what, n, strbuf_str(&b->sql));
}

static void test_all_filters_at_once_make_one_statement(void **state)
{
    (void)state;
    char *chargers[] = { "A", NULL };
    char *sites[] = { "S", NULL };
    for (size_t l = 0; l < NLISTS; l++) {
        const struct rest_list_spec *spec = *lists[l].spec;
        char q[2048] = "";
        size_t at = 0;
        for (size_t i = 0; i < spec->nfilters; i++) {
            const struct rest_filter *f = &spec->filters[i];
            const char *value, *stored;
            good_value(f, &value, &stored);
            /* from must not follow to */
            if (f->type == REST_F_TIME && strcmp(f->param, "to") == 0)
                value = "2024-05-02T00:00:00Z";
            at += (size_t)snprintf(q + at, sizeof q - at, "%s%s=%s", at ? "&" : "", f->param, value);
        }
        struct rest_list_req req;
        struct rest_param_error err;
        if (!rest_fake_parse(spec, q, &req, &err))
            fail_msg("%s refused %s: %s %s", lists[l].path, q, err.param, err.reason);
        for (size_t i = 0; i < spec->nfilters; i++)
            if (!req.values[i])
                fail_msg("%s?%s: filter %s not taken", lists[l].path, q, spec->filters[i].param);
        struct rest_sqlb b;
        rest_sqlb_init(&b);
        rest_list_sql(&req, "scope", chargers, sites, &b);
        check_placeholders(lists[l].path, &b);
        for (size_t i = 0; i < spec->nfilters; i++) {
            bool found = false;
            for (int n = 0; n < b.nparams; n++)
                found |= b.params[n] && strcmp(b.params[n], req.values[i]) == 0;
            if (!found)
                fail_msg("%s: the value of %s is no parameter of: %s", lists[l].path, spec->filters[i].param,
                         strbuf_str(&b.sql));
        }
        /* charger and site data stays restricted to the key's chargers and sites, whatever the filters */
        if (spec->vis_chargers || spec->vis_sites) {
            /* "(" + the first condition: a chargerIds filter may read the same without it */
            const char *vis = spec->vis_chargers ? spec->vis_chargers : spec->vis_sites;
            char frag[256];
            snprintf(frag, sizeof frag, "(%.*s", (int)(strstr(vis, "$?") - vis), vis);
            if (!strstr(strbuf_str(&b.sql), frag))
                fail_msg("%s: the key's restriction is missing: %s", lists[l].path, strbuf_str(&b.sql));
            bool chargers_given = false, sites_given = false;
            for (int n = 0; n < b.nparams; n++) {
                chargers_given |= b.params[n] && strcmp(b.params[n], "{\"A\"}") == 0;
                sites_given |= b.params[n] && strcmp(b.params[n], "{\"S\"}") == 0;
            }
            assert_true(chargers_given == (spec->vis_chargers != NULL));
            assert_true(sites_given == (spec->vis_sites != NULL));
        }
        rest_sqlb_free(&b);
        rest_list_req_free(&req);
    }
}

/* ---------------------------------------------------------------- the filters the issue names */

static void expect_taken(const struct rest_list_spec *spec, const char *query, const char *param,
                         const char *want)
{
    struct rest_list_req req;
    struct rest_param_error err;
    if (!rest_fake_parse(spec, query, &req, &err))
        fail_msg("%s refused %s: %s %s", spec->name, query, err.param, err.reason);
    const char *got = req.values[filter_index(spec, param)];
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s?%s: %s is '%s', want '%s'", spec->name, query, param, got ? got : "(none)", want);
    rest_list_req_free(&req);
}

/* The statement of query on spec contains frag. */
static void expect_sql(const struct rest_list_spec *spec, const char *query, const char *frag)
{
    struct rest_list_req req;
    struct rest_param_error err;
    if (!rest_fake_parse(spec, query, &req, &err))
        fail_msg("%s refused %s: %s %s", spec->name, query, err.param, err.reason);
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_list_sql(&req, "P", NULL, NULL, &b);
    if (!strstr(strbuf_str(&b.sql), frag))
        fail_msg("%s?%s: no '%s' in: %s", spec->name, query, frag, strbuf_str(&b.sql));
    rest_sqlb_free(&b);
    rest_list_req_free(&req);
}

/* A collection under a parent: the filters of the whole collection (the same rows) but those left out. */
static void expect_filters_but(const struct rest_list_spec *sub, const struct rest_list_spec *of,
                               const char *const *left_out)
{
    size_t n = 0;
    for (; left_out[n]; n++) {
        if (find_filter(sub, left_out[n]) || !find_filter(of, left_out[n]))
            fail_msg("%s: filter %s should be %s's only", sub->name, left_out[n], of->name);
    }
    for (size_t i = 0; i < sub->nfilters; i++)
        assert_ptr_equal(find_filter(of, sub->filters[i].param), &sub->filters[i]);
    assert_int_equal(sub->nfilters, of->nfilters - n);
}

static void test_tokens_filter_by_id_tag(void **state)
{
    (void)state;
    const struct rest_list_spec *t = res_tokens_spec;
    expect_taken(t, "idTag=TAG-1", "idTag", "TAG-1");
    /* any case, as GET /v1/tokens/{idTag} (CiString20) */
    expect_sql(t, "idTag=TAG-1", " WHERE lower(t.id_tag) = lower($1)");
    expect_taken(t, "idTag=12345678901234567890", "idTag", "12345678901234567890");
    expect_400(t, "idTag=123456789012345678901", "idTag");
    expect_400(t, "idTag=", "idTag");
    expect_taken(t, "status=Blocked&parentIdTag=FLEET&idTag=A", "parentIdTag", "FLEET");
    expect_sql(t, "status=Blocked&parentIdTag=FLEET&idTag=A",
               " WHERE lower(t.id_tag) = lower($1) AND t.status = $2 AND lower(t.parent_id_tag) = lower($3)");
    expect_400(t, "status=accepted", "status");
    expect_taken(t, "name=Fleet card", "name", "Fleet card");
}

static void test_sessions_filters_of_the_spec(void **state)
{
    (void)state;
    const struct rest_list_spec *s = res_sessions_spec;
    expect_taken(s, "chargerId=CP-1", "chargerId", "CP-1");
    expect_taken(s, "chargerIds[]=A&chargerIds[]=B", "chargerIds", "{\"A\",\"B\"}");
    expect_taken(s, "chargerIds=A,B", "chargerIds", "{\"A\",\"B\"}");
    expect_taken(s, "status=completed", "status", "completed");
    expect_taken(s, "idTag=T", "idTag", "T");
    expect_taken(s, "from=2024-05-01T00:00:00Z&to=2024-05-01T01:00:00+01:00", "to", "1714521600000");
    expect_taken(s, "siteId=depot", "siteId", "depot");
    expect_sql(s, "siteId=depot", "s.charger_id IN (SELECT c.id FROM chargers c WHERE c.site_id = $1)");
    expect_taken(s, "siteIds=a,b", "siteIds", "{\"a\",\"b\"}");
    expect_taken(s, "siteIds[]=a&siteIds[]=b", "siteIds", "{\"a\",\"b\"}");
    expect_sql(s, "siteIds=a,b",
               "s.charger_id IN (SELECT c.id FROM chargers c WHERE c.site_id = ANY($1::text[]))");
    expect_400(s, "siteIds=", "siteIds");
    expect_taken(s, "connectorId=2&transactionId=7", "transactionId", "7");
    expect_400(s, "connectorId=one", "connectorId");
    expect_400(s, "transactionId=0", "transactionId");
    expect_400(s, "status=running", "status");
    expect_400(s, "stopReason=remote", "stopReason");
    expect_400(s, "from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "to");

    /* the charger's own sessions: every filter but the charger ones */
    static const char *const charger_ones[] = { "chargerId", "chargerIds", "siteId", "siteIds", NULL };
    expect_filters_but(res_charger_sessions_spec, s, charger_ones);
}

/* Sites: country in any case, search over the address; a site's chargers: the charger list but siteId. */
static void test_sites_and_their_chargers(void **state)
{
    (void)state;
    const struct rest_list_spec *s = res_sites_spec;
    expect_taken(s, "country=de", "country", "de");
    expect_sql(s, "country=de", " WHERE s.country = upper($1)");
    expect_400(s, "country=DEU", "country");
    expect_400(s, "country=", "country");
    expect_taken(s, "search=Main", "search", "%Main%");
    expect_sql(s, "search=x", "s.city ILIKE $1");
    expect_400(s, "sort=chargerCount", "sort");

    const struct rest_list_spec *ch = res_chargers_spec, *c = res_site_chargers_spec;
    static const char *const site_one[] = { "siteId", NULL };
    expect_filters_but(c, ch, site_one);
    assert_ptr_equal(c->cols, ch->cols);
    assert_ptr_equal(c->sorts, ch->sorts);
    expect_sql(c, "connected=true", " WHERE c.site_id = $1 AND c.connected = $2::boolean");
}

static void test_other_collections(void **state)
{
    (void)state;
    const struct rest_list_spec *m = res_meter_values_spec;
    expect_taken(m, "measurand=Voltage&phase=L1-N&connectorId=0", "phase", "L1-N");
    expect_400(m, "measurand=Volts", "measurand");
    expect_400(m, "phase=L4", "phase");
    expect_400(m, "connectorId=-1", "connectorId");
    expect_400(m, "unit=kwh", "unit");

    const struct rest_list_spec *h = res_status_history_spec;
    expect_taken(h, "connectorId=1&status=Faulted&errorCode=GroundFailure", "errorCode", "GroundFailure");
    expect_400(h, "connectorId=x", "connectorId");
    expect_400(h, "status=Occupied", "status");

    const struct rest_list_spec *cmd = res_charger_commands_spec;
    expect_taken(cmd, "action=Reset&status=completed&outcome=timeout", "action", "Reset");
    expect_400(cmd, "action=Heartbeat", "action");     /* the charger sends that one */
    expect_400(cmd, "sessionId=0", "sessionId");
    expect_taken(cmd, "sessionId=999999999999999999", "sessionId", "999999999999999999");
    expect_400(cmd, "sessionId=1000000000000000000", "sessionId");

    const struct rest_list_spec *a = res_audit_spec;
    expect_taken(a, "action=token.create&result=ok&requestId=r-1", "requestId", "r-1");
    expect_400(a, "from=now", "from");

    const struct rest_list_spec *k = res_api_keys_spec;
    expect_taken(k, "scope=admin", "scope", "admin");
    expect_taken(k, "", "revoked", "false");    /* the default */
    expect_400(k, "scope=everything", "scope");

    const struct rest_list_spec *ch = res_chargers_spec;
    expect_taken(ch, "securityProfile=3&hasAuthorizationKey=false", "securityProfile", "3");
    expect_400(ch, "securityProfile=4", "securityProfile");
    expect_400(ch, "firmwareStatus=Broken", "firmwareStatus");
}

/* ---------------------------------------------------------------- docs/openapi.json */

static cJSON *doc;

static int group_setup(void **state)
{
    (void)state;
    const char *env = getenv("OCPPGW_OPENAPI");
    const char *candidates[] = { env, "docs/openapi.json", "../docs/openapi.json", "../../docs/openapi.json" };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && !doc; i++) {
        struct strbuf text = STRBUF_INIT;
        if (candidates[i] && strbuf_read_file(&text, candidates[i]))
            doc = cJSON_Parse(strbuf_str(&text));
        strbuf_free(&text);
    }
    if (!doc) {
        print_error("docs/openapi.json not found or not JSON (run from the top of the tree or set OCPPGW_OPENAPI)\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cJSON_Delete(doc);
    return 0;
}

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* o itself, or what its local "$ref" (#/components/<kind>/<name>) points to. */
static const cJSON *deref(const cJSON *o)
{
    const char *ref = cJSON_GetStringValue(member(o, "$ref"));
    if (!ref)
        return o;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ref);
    const cJSON *at = doc;
    for (char *save = NULL, *tok = strtok_r(buf + 2, "/", &save); tok && at; tok = strtok_r(NULL, "/", &save))
        at = member(at, tok);
    if (!at)
        fail_msg("dangling $ref %s", ref);
    return at;
}

static const char *str_of(const cJSON *o, const char *name)
{
    return cJSON_GetStringValue(member(o, name));
}

/* The query parameter named name of the operation (dereferenced), or NULL. */
static const cJSON *query_param(const cJSON *op, const char *name)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, member(op, "parameters")) {
        const cJSON *d = deref(p);
        const char *in = str_of(d, "in"), *n = str_of(d, "name");
        if (in && n && strcmp(in, "query") == 0 && strcmp(n, name) == 0)
            return d;
    }
    return NULL;
}

static void expect_number(const char *what, const cJSON *schema, const char *key, double want)
{
    const cJSON *v = member(schema, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != want)
        fail_msg("%s: schema %s is %s, want %.0f", what, key, v ? cJSON_PrintUnformatted(v) : "absent", want);
}

static void expect_type(const char *what, const cJSON *schema, const char *type)
{
    const char *t = str_of(schema, "type");
    if (!t || strcmp(t, type) != 0)
        fail_msg("%s: schema type %s, want %s", what, t ? t : "(none)", type);
}

/* The enum of schema equals values (as sets); no enum when values is NULL. */
static void expect_enum(const char *what, const cJSON *schema, const char *const *values)
{
    const cJSON *e = member(schema, "enum");
    if (!values) {
        if (e)
            fail_msg("%s: the document lists values, the gateway takes any text", what);
        return;
    }
    if (!e)
        fail_msg("%s: the document has no enum; the gateway takes only its values", what);
    size_t n = 0;
    while (values[n])
        n++;
    const cJSON *v;
    size_t k = 0;
    cJSON_ArrayForEach(v, e) {
        if (!cJSON_IsString(v) || !rest_strv_has(values, v->valuestring))
            fail_msg("%s: the document lists %s, which the gateway refuses", what, cJSON_PrintUnformatted(v));
        k++;
    }
    if (k != n)
        fail_msg("%s: the document lists %zu values, the gateway takes %zu", what, k, n);
}

static void check_filter_doc(const char *path, const cJSON *op, const struct rest_filter *f)
{
    char what[200];
    snprintf(what, sizeof what, "GET %s ?%s", path, f->param);
    const cJSON *p = query_param(op, f->param);
    if (!p)
        fail_msg("%s: not documented", what);
    if (!str_of(p, "description") || !*str_of(p, "description"))
        fail_msg("%s: no description", what);
    const cJSON *schema = deref(member(p, "schema"));
    switch (f->type) {
    case REST_F_TEXT:
    case REST_F_SEARCH:
        expect_type(what, schema, "string");
        expect_number(what, schema, "maxLength", (double)f->max_len);
        expect_enum(what, schema, NULL);
        return;
    case REST_F_ENUM:
        expect_type(what, schema, "string");
        expect_enum(what, schema, f->values);
        return;
    case REST_F_BOOL:
        expect_type(what, schema, "boolean");
        if (f->dflt && !cJSON_IsBool(member(schema, "default")))
            fail_msg("%s: no default (%s)", what, f->dflt);
        if (f->dflt && cJSON_IsTrue(member(schema, "default")) != (strcmp(f->dflt, "true") == 0))
            fail_msg("%s: the default is not %s", what, f->dflt);
        return;
    case REST_F_INT:
        expect_type(what, schema, "integer");
        expect_number(what, schema, "minimum", (double)f->min);
        expect_number(what, schema, "maximum", (double)f->max);
        return;
    case REST_F_TIME:
        expect_type(what, schema, "string");
        if (!str_of(schema, "format") || strcmp(str_of(schema, "format"), "date-time") != 0)
            fail_msg("%s: not format date-time", what);
        return;
    case REST_F_LIST: {
        /* both forms: name=a,b (explode false) and name[]=a&name[]=b */
        char name[80];
        snprintf(name, sizeof name, "%s[]", f->param);
        const cJSON *forms[2] = { p, query_param(op, name) };
        if (!forms[1])
            fail_msg("%s: %s not documented", what, name);
        for (int i = 0; i < 2; i++) {
            const cJSON *s = deref(member(forms[i], "schema"));
            expect_type(what, s, "array");
            const cJSON *items = deref(member(s, "items"));
            expect_type(what, items, "string");
            expect_number(what, items, "maxLength", (double)f->max_len);
            if (!cJSON_IsBool(member(forms[i], "explode")) || cJSON_IsTrue(member(forms[i], "explode")) != (i == 1))
                fail_msg("%s: %s must have explode %s", what, i ? name : f->param, i ? "true" : "false");
        }
        return;
    }
    }
}

static void check_list_doc(const char *path, const struct rest_list_spec *spec)
{
    const cJSON *op = member(member(member(doc, "paths"), path), "get");
    if (!op)
        fail_msg("GET %s: no operation in docs/openapi.json", path);
    for (size_t i = 0; i < spec->nfilters; i++)
        check_filter_doc(path, op, &spec->filters[i]);

    /* sort: exactly the collection's fields */
    const cJSON *sort = query_param(op, "sort");
    if (!sort)
        fail_msg("GET %s: sort not documented", path);
    const char *names[16] = { NULL };
    for (size_t i = 0; i < spec->nsorts && i < 15; i++)
        names[i] = spec->sorts[i].name;
    char what[160];
    snprintf(what, sizeof what, "GET %s ?sort", path);
    expect_enum(what, deref(member(sort, "schema")), names);
    if (!query_param(op, "order"))
        fail_msg("GET %s: order not documented", path);

    /* paging parameters of its kind, and nothing the collection does not read */
    static const char *const offset[] = { "page", "perPage", NULL };
    static const char *const cursor[] = { "after", "before", "perPage", NULL };
    const char *const *paging = spec->paging == REST_PAGING_OFFSET ? offset : cursor;
    for (size_t i = 0; paging[i]; i++)
        if (!query_param(op, paging[i]))
            fail_msg("GET %s: %s not documented", path, paging[i]);
    const cJSON *p;
    cJSON_ArrayForEach(p, member(op, "parameters")) {
        const cJSON *d = deref(p);
        const char *in = str_of(d, "in"), *n = str_of(d, "name");
        if (!in || strcmp(in, "query") != 0 || !n)
            continue;
        char base[80];
        snprintf(base, sizeof base, "%s", n);
        size_t len = strlen(base);
        bool list_form = len > 2 && strcmp(base + len - 2, "[]") == 0;
        if (list_form)
            base[len - 2] = '\0';
        const struct rest_filter *f = find_filter(spec, base);
        if (rest_strv_has(paging, n) || strcmp(n, "sort") == 0 || strcmp(n, "order") == 0)
            continue;
        if (!f || (list_form && f->type != REST_F_LIST))
            fail_msg("GET %s: the document lists ?%s, which the gateway refuses as unknown", path, n);
    }
}

static void test_document_lists_every_filter(void **state)
{
    (void)state;
    for (size_t l = 0; l < NLISTS; l++) {
        bool routed = false;
        for (size_t r = 0; r < rest_routes_count; r++)
            routed |= rest_routes[r].method == REST_GET && strcmp(rest_routes[r].pattern, lists[l].path) == 0;
        if (!routed)
            fail_msg("GET %s is no route", lists[l].path);
        check_list_doc(lists[l].path, *lists[l].spec);
    }
    /* and every collection the document describes (a GET with a sort) is one of these */
    const cJSON *path;
    cJSON_ArrayForEach(path, member(doc, "paths")) {
        const cJSON *get = member(path, "get");
        if (!get || !query_param(get, "sort"))
            continue;
        bool known = false;
        for (size_t l = 0; l < NLISTS; l++)
            known |= strcmp(lists[l].path, path->string) == 0;
        if (!known)
            fail_msg("GET %s sorts: add its collection to this test", path->string);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters_are_well_formed),
        cmocka_unit_test(test_every_filter_takes_good_values_and_refuses_bad_ones),
        cmocka_unit_test(test_all_filters_at_once_make_one_statement),
        cmocka_unit_test(test_tokens_filter_by_id_tag),
        cmocka_unit_test(test_sessions_filters_of_the_spec),
        cmocka_unit_test(test_sites_and_their_chargers),
        cmocka_unit_test(test_other_collections),
        cmocka_unit_test(test_document_lists_every_filter),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
