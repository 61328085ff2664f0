/*
 * REST collections (src/rest/query.c): query-string validation (400 cases
 * name the parameter), statement assembly from fixed fragments with numbered
 * placeholders and every user value as a parameter, the key's charger
 * restriction, keyset conditions for after/before, interning, and the page
 * answer (offset meta, cursor meta, rows turned round for `before`) from a
 * fake completed job.
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

#include "rest_fakes.h"
#include "rest_query.h"
#include "store_job.h"
#include "ocpp.h"
#include "util.h"

/* ---- two collections shaped like the real ones ---- */

static const struct rest_col s_cols[] = {
    { "id", "s.id", REST_COL_INT, NULL },
    { "chargerId", "s.charger_id", REST_COL_STR, NULL },
    { "energy", "s.energy_wh", REST_COL_INT, NULL },
    { "detail", "s.detail", REST_COL_JSON, NULL },
    { "secret", "s.hidden", REST_COL_HIDDEN, NULL },
};

static const struct rest_sort s_sorts[] = {
    { "startTime", "s.start_time", "ocppgw_us(s.start_time)", "ocppgw_ts_us($?::bigint)" },
    { "id", "s.id", NULL, NULL },
};

static const char *const s_statuses[] = { "active", "completed", NULL };

static const struct rest_filter s_filters[] = {
    { "status", REST_F_ENUM, "s.status = $?", 0, s_statuses, 0, 0, NULL },
    { "idTag", REST_F_TEXT, "s.id_tag = $?", 20, NULL, 0, 0, NULL },
    { "from", REST_F_TIME, "s.start_time >= ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "to", REST_F_TIME, "s.start_time < ocppgw_ts($?::bigint)", 0, NULL, 0, 0, NULL },
    { "chargerIds", REST_F_LIST, "s.charger_id = ANY($?::text[])", 48, NULL, 0, 0, NULL },
    { "connectorId", REST_F_INT, "s.connector_id = $?::integer", 0, NULL, 0, 10, NULL },
    { "connected", REST_F_BOOL, "s.connected = $?::boolean", 0, NULL, 0, 0, NULL },
    { "search", REST_F_SEARCH, "(s.id_tag ILIKE $? OR s.charger_id ILIKE $?)", 10, NULL, 0, 0, NULL },
};

static const struct rest_list_spec cursor_spec = {
    .name = "sessions",
    .paging = REST_PAGING_CURSOR,
    .kind = REST_LIST_SESSIONS,
    .cols = s_cols,
    .ncols = sizeof s_cols / sizeof s_cols[0],
    .from = "sessions s",
    .id = "s.id",
    .sorts = s_sorts,
    .nsorts = 2,
    .desc = true,
    .filters = s_filters,
    .nfilters = sizeof s_filters / sizeof s_filters[0],
    .vis_chargers = "s.charger_id = ANY($?::text[])",
    .vis_sites = "s.site IN ($?)",
};

static const struct rest_sort c_sorts[] = {
    { "id", "c.id", NULL, NULL },
    { "name", "c.name", NULL, NULL },
};

static const struct rest_filter c_filters[] = {
    { "revoked", REST_F_BOOL, "c.revoked = $?::boolean", 0, NULL, 0, 0, "false" },
};

static const struct rest_col c_cols[] = {
    { "id", "c.id", REST_COL_STR, NULL },
    { "name", "c.name", REST_COL_STR, NULL },
};

static const struct rest_list_spec offset_spec = {
    .name = "chargers",
    .paging = REST_PAGING_OFFSET,
    .kind = REST_LIST_CHARGERS,
    .cols = c_cols,
    .ncols = 2,
    .from = "chargers c",
    .id = "c.id",
    .sorts = c_sorts,
    .nsorts = 2,
    .desc = false,
    .filters = c_filters,
    .nfilters = 1,
};

static const struct rest_list_spec parent_spec = {
    .name = "meter-values",
    .paging = REST_PAGING_CURSOR,
    .kind = REST_LIST_METER_VALUES,
    .cols = s_cols,
    .ncols = 2,
    .from = "meter_values s",
    .id = "s.id",
    .sorts = s_sorts + 1,
    .nsorts = 1,
    .desc = false,
    .scope = "s.session_id = $?::bigint",
    .parent = "SELECT x.charger_id, x.site_id FROM sessions x WHERE x.id = $?::bigint",
};

/* The offset collection's columns and sorts, over another table. */
#define C_OFFSET_SPEC                                                   \
    .paging = REST_PAGING_OFFSET,                                       \
    .cols = c_cols,                                                     \
    .ncols = 2,                                                         \
    .id = "c.id",                                                       \
    .sorts = c_sorts,                                                   \
    .nsorts = 2

/* sites: seen through a key's site list only */
static const struct rest_list_spec sites_spec = {
    C_OFFSET_SPEC,
    .name = "sites",
    .kind = REST_LIST_SITES,
    .from = "sites c",
    .vis_sites = "c.id = ANY($?::text[])",
};

/* offset pages under a parent (the chargers of a site) */
static const struct rest_list_spec site_chargers_spec = {
    C_OFFSET_SPEC,
    .name = "site chargers",
    .kind = REST_LIST_CHARGERS,
    .from = "chargers c",
    .scope = "c.site_id = $?",
    .parent = "SELECT NULL::text, s.id FROM sites s WHERE s.id = $?",
    .vis_chargers = "c.id = ANY($?::text[])",
    .vis_sites = "c.site_id = ANY($?::text[])",
};

static bool parse(const struct rest_list_spec *spec, const char *query, struct rest_list_req *req,
                  struct rest_param_error *err)
{
    return rest_fake_parse(spec, query, req, err);
}

static void expect_400(const struct rest_list_spec *spec, const char *query, const char *param)
{
    struct rest_list_req req;
    struct rest_param_error err;
    if (parse(spec, query, &req, &err))
        fail_msg("accepted: %s", query);
    if (strcmp(err.param, param) != 0)
        fail_msg("%s: named '%s' (%s), want '%s'", query, err.param, err.reason, param);
    assert_true(err.reason[0] != '\0');
    rest_list_req_free(&req);
}

static void test_defaults(void **state)
{
    (void)state;
    struct rest_list_req req;
    struct rest_param_error err;
    assert_true(parse(&cursor_spec, "", &req, &err));
    assert_int_equal(req.per_page, 50);
    assert_int_equal(req.sort, 0);
    assert_true(req.desc);
    assert_int_equal(req.dir, REST_DIR_FIRST);
    for (size_t i = 0; i < REST_FILTERS_MAX; i++)
        assert_null(req.values[i]);
    rest_list_req_free(&req);

    assert_true(parse(&offset_spec, "page=3&perPage=500&sort=name&order=desc", &req, &err));
    assert_int_equal(req.page, 3);
    assert_int_equal(req.per_page, 500);
    assert_int_equal(req.sort, 1);
    assert_true(req.desc);
    assert_string_equal(req.values[0], "false"); /* the filter's default */
    rest_list_req_free(&req);
}

static void test_bad_parameters(void **state)
{
    (void)state;
    expect_400(&cursor_spec, "perPage=0", "perPage");
    expect_400(&cursor_spec, "perPage=501", "perPage");
    expect_400(&cursor_spec, "perPage=abc", "perPage");
    expect_400(&cursor_spec, "perPage=-1", "perPage");
    expect_400(&cursor_spec, "perPage= 5", "perPage");
    expect_400(&cursor_spec, "perPage=", "perPage");
    expect_400(&cursor_spec, "perPage=99999999999999999999", "perPage");
    expect_400(&offset_spec, "page=-1", "page");
    expect_400(&offset_spec, "page=1.5", "page");
    expect_400(&offset_spec, "page=1000001", "page");
    expect_400(&cursor_spec, "sort=energy", "sort");
    expect_400(&cursor_spec, "sort=", "sort");
    expect_400(&cursor_spec, "order=up", "order");
    expect_400(&cursor_spec, "order=DESC", "order");
    expect_400(&cursor_spec, "status=running", "status");
    expect_400(&cursor_spec, "idTag=", "idTag");
    expect_400(&cursor_spec, "idTag=123456789012345678901", "idTag");
    expect_400(&cursor_spec, "from=yesterday", "from");
    expect_400(&cursor_spec, "from=2024-05-01", "from");
    expect_400(&cursor_spec, "to=2024-05-01T00:00:00", "to");
    expect_400(&cursor_spec, "from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "to");
    expect_400(&cursor_spec, "chargerIds=", "chargerIds");
    expect_400(&cursor_spec, "chargerIds=,,", "chargerIds");
    expect_400(&cursor_spec, "connectorId=11", "connectorId");
    expect_400(&cursor_spec, "connectorId=x", "connectorId");
    expect_400(&cursor_spec, "connected=yes", "connected");
    expect_400(&cursor_spec, "search=12345678901", "search");
    expect_400(&cursor_spec, "after=abc", "after");
    expect_400(&cursor_spec, "before=abc", "before");
    expect_400(&offset_spec, "revoked=1", "revoked");

    char q[8192];
    size_t at = (size_t)snprintf(q, sizeof q, "chargerIds=");
    for (int i = 0; i < 101; i++)
        at += (size_t)snprintf(q + at, sizeof q - at, "%sCP%d", i ? "," : "", i);
    expect_400(&cursor_spec, q, "chargerIds");
}

/* A bare '+' in the offset arrives as a space (form decoding): the reason says
 * to send %2B; a date-time that is wrong anyway keeps the plain reason. */
static void test_plus_sent_as_space(void **state)
{
    (void)state;
    struct rest_list_req req;
    struct rest_param_error err;
    /* lws has already turned the bare "+" into a space */
    assert_false(parse(&cursor_spec, "from=2026-11-29T00:00:00 01:00", &req, &err));
    assert_string_equal(err.param, "from");
    assert_non_null(strstr(err.reason, "%2B"));
    rest_list_req_free(&req);
    assert_false(parse(&cursor_spec, "from=yester day", &req, &err));
    assert_null(strstr(err.reason, "%2B"));
    rest_list_req_free(&req);
    assert_true(parse(&cursor_spec, "from=2026-11-29T00:00:00+01:00", &req, &err));
    rest_list_req_free(&req);
}

static void encode(enum rest_list_kind kind, int sort, bool desc, int64_t key, int64_t id,
                   char out[REST_CURSOR_MAX])
{
    struct rest_cursor c = { (uint8_t)kind, (uint8_t)sort, desc, key, id };
    rest_cursor_encode(&c, out);
}

static void test_cursor_parameters(void **state)
{
    (void)state;
    char cur[REST_CURSOR_MAX], q[256];
    struct rest_list_req req;
    struct rest_param_error err;

    /* the cursor brings its sort and order */
    encode(REST_LIST_SESSIONS, 1, false, 9, 9, cur);
    snprintf(q, sizeof q, "after=%s", cur);
    assert_true(parse(&cursor_spec, q, &req, &err));
    assert_int_equal(req.dir, REST_DIR_AFTER);
    assert_int_equal(req.sort, 1);
    assert_false(req.desc);
    assert_true(req.cursor.id == 9);
    rest_list_req_free(&req);

    snprintf(q, sizeof q, "before=%s&sort=id&order=asc", cur);
    assert_true(parse(&cursor_spec, q, &req, &err));
    assert_int_equal(req.dir, REST_DIR_BEFORE);
    rest_list_req_free(&req);

    /* another sort or order than the cursor's */
    snprintf(q, sizeof q, "after=%s&sort=startTime", cur);
    expect_400(&cursor_spec, q, "after");
    snprintf(q, sizeof q, "after=%s&order=desc", cur);
    expect_400(&cursor_spec, q, "after");
    /* both directions */
    snprintf(q, sizeof q, "after=%s&before=%s", cur, cur);
    expect_400(&cursor_spec, q, "before");
    /* another collection's cursor */
    encode(REST_LIST_AUDIT, 0, true, 1, 1, cur);
    snprintf(q, sizeof q, "after=%s", cur);
    expect_400(&cursor_spec, q, "after");
    /* a sort index the collection does not have */
    encode(REST_LIST_SESSIONS, 2, true, 1, 1, cur);
    snprintf(q, sizeof q, "after=%s", cur);
    expect_400(&cursor_spec, q, "after");
}

static void test_filter_values(void **state)
{
    (void)state;
    struct rest_list_req req;
    struct rest_param_error err;
    assert_true(parse(&cursor_spec,
                      "status=active&idTag=TAG1&from=2024-05-01T00:00:00Z", &req, &err));
    assert_string_equal(req.values[0], "active");
    assert_string_equal(req.values[1], "TAG1");
    assert_string_equal(req.values[2], "1714521600000");
    assert_null(req.values[3]);
    rest_list_req_free(&req);

    assert_true(parse(&cursor_spec,
                      "to=2024-05-01T02:00:00+02:00&chargerIds[]=A&chargerIds=B,C&chargerIds[]=q\"x"
                      "&connectorId=0&connected=true&search=5%_\\",
                      &req, &err));
    assert_string_equal(req.values[3], "1714521600000");
    assert_string_equal(req.values[4], "{\"A\",\"B\",\"C\",\"q\\\"x\"}");
    assert_string_equal(req.values[5], "0");
    assert_string_equal(req.values[6], "true");
    assert_string_equal(req.values[7], "%5\\%\\_\\\\%");
    rest_list_req_free(&req);
}

/* A collection with as many filters as a request may carry, ids up to REST_ID_MAX among them. */
static void test_filter_capacity_and_id_range(void **state)
{
    (void)state;
    static char names[REST_FILTERS_MAX][8], conds[REST_FILTERS_MAX][32];
    struct rest_filter filters[REST_FILTERS_MAX];
    memset(filters, 0, sizeof filters);
    char q[1024] = "";
    size_t at = 0;
    for (int i = 0; i < REST_FILTERS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        snprintf(conds[i], sizeof conds[i], "x.f%d = $?::bigint", i);
        filters[i] = (struct rest_filter){ names[i], REST_F_INT, conds[i], 0, NULL, 1, REST_ID_MAX, NULL };
        at += (size_t)snprintf(q + at, sizeof q - at, "%sf%d=%d", i ? "&" : "", i, i + 1);
    }
    struct rest_list_spec spec = offset_spec;
    spec.filters = filters;
    spec.nfilters = REST_FILTERS_MAX;

    struct rest_list_req req;
    struct rest_param_error err;
    assert_true(parse(&spec, q, &req, &err));
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_list_sql(&req, NULL, NULL, NULL, &b);
    rest_list_req_free(&req);
    char want[64];
    snprintf(want, sizeof want, "x.f%d = $%d::bigint", REST_FILTERS_MAX - 1, REST_FILTERS_MAX);
    assert_non_null(strstr(strbuf_str(&b.sql), want));
    assert_int_equal(b.nparams, REST_FILTERS_MAX + 2);   /* and LIMIT, OFFSET */
    assert_string_equal(b.params[REST_FILTERS_MAX - 1], "24");
    rest_sqlb_free(&b);

    /* bigint ids: 18 digits at most, positive */
    assert_true(parse(&spec, "f3=999999999999999999", &req, &err));
    assert_string_equal(req.values[3], "999999999999999999");
    rest_list_req_free(&req);
    expect_400(&spec, "f3=1000000000000000000", "f3");
    expect_400(&spec, "f3=0", "f3");
    expect_400(&spec, "f3=-5", "f3");
    expect_400(&spec, "f3=0x10", "f3");
}

static void test_helpers(void **state)
{
    (void)state;
    const char *items[] = { "a", "b,c", "d\\e", "" };
    char *a = rest_pg_array(items, 4);
    assert_string_equal(a, "{\"a\",\"b,c\",\"d\\\\e\",\"\"}");
    free(a);
    a = rest_pg_array(items, 0);
    assert_string_equal(a, "{}");
    free(a);
    a = rest_like_pattern("50%_off");
    assert_string_equal(a, "%50\\%\\_off%");
    free(a);

    assert_true(rest_visible(NULL, NULL, "A", NULL));
    char *chargers[] = { "A", "B", NULL };
    char *sites[] = { "S1", NULL };
    char *none[] = { NULL };
    assert_true(rest_visible(chargers, NULL, "B", NULL));
    assert_false(rest_visible(chargers, NULL, "C", "S1"));
    assert_true(rest_visible(chargers, sites, "C", "S1"));
    assert_true(rest_visible(NULL, sites, "C", "S1"));
    assert_false(rest_visible(NULL, sites, "C", NULL));
    assert_false(rest_visible(none, NULL, "A", NULL));
}

static void test_sqlb(void **state)
{
    (void)state;
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_sqlb_add(&b, "SELECT 1 WHERE ");
    int n = rest_sqlb_param(&b, "x'); DROP TABLE t; --");
    rest_sqlb_frag(&b, "(a = $? OR b = $?)", n);
    rest_sqlb_frag(&b, " AND c = $?", rest_sqlb_param(&b, NULL));
    assert_string_equal(strbuf_str(&b.sql), "SELECT 1 WHERE (a = $1 OR b = $1) AND c = $2");
    assert_int_equal(b.nparams, 2);
    assert_string_equal(b.params[0], "x'); DROP TABLE t; --");
    assert_null(b.params[1]);
    /* a long text grows the buffer */
    for (int i = 0; i < 500; i++)
        rest_sqlb_add(&b, " AND true");
    assert_int_equal(strlen(strbuf_str(&b.sql)), b.sql.len);

    /* fixed texts are interned: equal texts, one pointer */
    char *copy = xstrdup(strbuf_str(&b.sql));
    const char *p1 = rest_sql_intern(copy);
    const char *p2 = rest_sql_intern(strbuf_str(&b.sql));
    assert_ptr_equal(p1, p2);
    assert_ptr_not_equal(p1, copy);
    assert_ptr_not_equal(rest_sql_intern("SELECT 2"), p1);
    /* a request's shape is handed over, not kept */
    char *taken = rest_sqlb_take_sql(&b);
    assert_string_equal(taken, copy);
    assert_string_equal(strbuf_str(&b.sql), "");
    free(taken);
    free(copy);
    rest_sqlb_free(&b);
}

static const char *build(const struct rest_list_spec *spec, const char *query, const char *scope,
                   char **chargers, char **sites, struct rest_sqlb *b)
{
    struct rest_list_req req;
    struct rest_param_error err;
    if (!parse(spec, query, &req, &err))
        fail_msg("refused %s: %s %s", query, err.param, err.reason);
    rest_sqlb_init(b);
    rest_list_sql(&req, scope, chargers, sites, b);
    rest_list_req_free(&req);
    return strbuf_str(&b->sql);
}

static void test_cursor_sql(void **state)
{
    (void)state;
    struct rest_sqlb b;
    build(&cursor_spec, "", NULL, NULL, NULL, &b);
    assert_string_equal(strbuf_str(&b.sql),
        "SELECT ocppgw_us(s.start_time) AS key_, s.id AS id_, s.id, s.charger_id, s.energy_wh, s.detail,"
        " s.hidden FROM sessions s ORDER BY s.start_time DESC, s.id DESC LIMIT $1");
    assert_int_equal(b.nparams, 1);
    assert_string_equal(b.params[0], "51");
    rest_sqlb_free(&b);

    build(&cursor_spec, "status=completed&chargerIds=A,B&perPage=10&sort=id&order=asc", NULL, NULL, NULL,
          &b);
    assert_non_null(strstr(strbuf_str(&b.sql), " WHERE s.status = $1 AND s.charger_id = ANY($2::text[])"
                                   " ORDER BY s.id ASC LIMIT $3"));
    assert_null(strstr(strbuf_str(&b.sql), "s.id ASC, s.id")); /* no duplicate tie-break */
    assert_string_equal(b.params[0], "completed");
    assert_string_equal(b.params[1], "{\"A\",\"B\"}");
    assert_string_equal(b.params[2], "11");
    rest_sqlb_free(&b);

    /* after, descending: strictly smaller (key, id) */
    char cur[REST_CURSOR_MAX], q[128];
    encode(REST_LIST_SESSIONS, 0, true, INT64_C(1714521600000000), 77, cur);
    snprintf(q, sizeof q, "after=%s&idTag=T", cur);
    build(&cursor_spec, q, NULL, NULL, NULL, &b);
    assert_non_null(strstr(strbuf_str(&b.sql), " WHERE s.id_tag = $1 AND (s.start_time, s.id) <"
                                   " (ocppgw_ts_us($2::bigint), $3::bigint)"
                                   " ORDER BY s.start_time DESC, s.id DESC LIMIT $4"));
    assert_string_equal(b.params[1], "1714521600000000");
    assert_string_equal(b.params[2], "77");
    rest_sqlb_free(&b);

    /* before, descending: read upwards, ascending */
    snprintf(q, sizeof q, "before=%s", cur);
    build(&cursor_spec, q, NULL, NULL, NULL, &b);
    assert_non_null(strstr(strbuf_str(&b.sql), " WHERE (s.start_time, s.id) > (ocppgw_ts_us($1::bigint), $2::bigint)"
                                   " ORDER BY s.start_time ASC, s.id ASC LIMIT $3"));
    rest_sqlb_free(&b);

    /* id sort, ascending, before: smaller ids, read downwards */
    encode(REST_LIST_SESSIONS, 1, false, 5, 5, cur);
    snprintf(q, sizeof q, "before=%s", cur);
    build(&cursor_spec, q, NULL, NULL, NULL, &b);
    assert_non_null(strstr(strbuf_str(&b.sql), " WHERE (s.id) < ($1::bigint) ORDER BY s.id DESC LIMIT $2"));
    assert_int_equal(b.nparams, 2);
    rest_sqlb_free(&b);
}

static void test_restriction_sql(void **state)
{
    (void)state;
    struct rest_sqlb b;
    char *chargers[] = { "A", "B\"", NULL };
    char *sites[] = { "S", NULL };
    build(&cursor_spec, "status=active", NULL, chargers, NULL, &b);
    assert_non_null(strstr(strbuf_str(&b.sql), " WHERE s.status = $1 AND (s.charger_id = ANY($2::text[])) ORDER BY"));
    assert_string_equal(b.params[1], "{\"A\",\"B\\\"\"}");
    rest_sqlb_free(&b);

    build(&cursor_spec, "", NULL, chargers, sites, &b);
    assert_non_null(strstr(strbuf_str(&b.sql), " WHERE (s.charger_id = ANY($1::text[]) OR s.site IN ($2)) ORDER BY"));
    rest_sqlb_free(&b);

    /* limited to sites only: no charger by id */
    build(&cursor_spec, "", NULL, NULL, sites, &b);
    assert_non_null(strstr(strbuf_str(&b.sql), " WHERE (s.charger_id = ANY($1::text[]) OR s.site IN ($2))"));
    assert_string_equal(b.params[0], "{}");
    assert_string_equal(b.params[1], "{\"S\"}");
    rest_sqlb_free(&b);

    /* collections that are not charger data ignore the restriction */
    build(&offset_spec, "", NULL, chargers, sites, &b);
    assert_null(strstr(strbuf_str(&b.sql), "ANY"));
    rest_sqlb_free(&b);

    /* sites: a key's site list, and nothing for a key limited to chargers only */
    build(&sites_spec, "", NULL, chargers, sites, &b);
    assert_non_null(strstr(strbuf_str(&b.sql), " WHERE (c.id = ANY($1::text[])) ORDER BY"));
    assert_string_equal(b.params[0], "{\"S\"}");
    rest_sqlb_free(&b);
    build(&sites_spec, "", NULL, chargers, NULL, &b);
    assert_non_null(strstr(strbuf_str(&b.sql), " WHERE (false) ORDER BY"));
    assert_int_equal(b.nparams, 2);        /* LIMIT, OFFSET */
    rest_sqlb_free(&b);
    build(&sites_spec, "", NULL, NULL, NULL, &b);
    assert_null(strstr(strbuf_str(&b.sql), "WHERE"));
    rest_sqlb_free(&b);
}

static void test_offset_and_parent_sql(void **state)
{
    (void)state;
    struct rest_sqlb b;
    build(&offset_spec, "page=2&perPage=20&sort=name&order=desc&revoked=true", NULL, NULL, NULL, &b);
    assert_string_equal(strbuf_str(&b.sql),
        "SELECT t.total, x.* FROM (SELECT count(*) FROM chargers c WHERE c.revoked = $1::boolean) t(total)"
        " LEFT JOIN LATERAL (SELECT c.id AS id_, c.id, c.name FROM chargers c WHERE c.revoked = $1::boolean"
        " ORDER BY c.name DESC NULLS LAST, c.id DESC LIMIT $2 OFFSET $3) x ON true");
    assert_string_equal(b.params[0], "true");
    assert_string_equal(b.params[1], "20");
    assert_string_equal(b.params[2], "40");
    rest_sqlb_free(&b);

    build(&parent_spec, "", "12", NULL, NULL, &b);
    assert_string_equal(strbuf_str(&b.sql),
        "SELECT p.*, x.* FROM (SELECT x.charger_id, x.site_id FROM sessions x WHERE x.id = $1::bigint) p"
        " LEFT JOIN LATERAL (SELECT s.id AS key_, s.id AS id_, s.id, s.charger_id FROM meter_values s"
        " WHERE s.session_id = $1::bigint ORDER BY s.id ASC LIMIT $2) x ON true");
    assert_string_equal(b.params[0], "12");
    rest_sqlb_free(&b);

    /* offset pages under a parent: no row at all when it is missing */
    build(&site_chargers_spec, "perPage=5", "S1", NULL, NULL, &b);
    assert_string_equal(strbuf_str(&b.sql),
        "SELECT p.*, t.total, x.* FROM (SELECT NULL::text, s.id FROM sites s WHERE s.id = $1) p"
        " CROSS JOIN LATERAL (SELECT count(*) FROM chargers c WHERE c.site_id = $1) t(total)"
        " LEFT JOIN LATERAL (SELECT c.id AS id_, c.id, c.name FROM chargers c WHERE c.site_id = $1"
        " ORDER BY c.id ASC NULLS LAST LIMIT $2 OFFSET $3) x ON true");
    assert_string_equal(b.params[0], "S1");
    rest_sqlb_free(&b);
}

/* ---- answers from a fake completed job ---- */

static struct store_job *fake_job(int rows, int fields, const char *const *values)
{
    struct store_job *job = store_job_new(STORE_OP_SQL);
    job->status = STORE_OK;
    job->out.sql.ntuples = rows;
    job->out.sql.nfields = fields;
    job->out.sql.values = xcalloc((size_t)(rows * fields) + 1, sizeof(char *));
    for (int i = 0; i < rows * fields; i++)
        job->out.sql.values[i] = values[i] ? xstrdup(values[i]) : NULL;
    return job;
}

static cJSON *page(const struct rest_list_spec *spec, const char *query, struct store_job *job)
{
    struct rest_list_req req;
    struct rest_param_error err;
    assert_true(parse(spec, query, &req, &err));
    cJSON *p = rest_list_page(NULL, &req, job);
    rest_list_req_free(&req);
    store_job_free(job);
    return p;
}

/* A number of a row: integers and numerics travel as raw JSON text, exactly as the database wrote them. */
static double num(const cJSON *j)
{
    assert_non_null(j);
    if (cJSON_IsRaw(j))
        return strtod(j->valuestring, NULL);
    assert_true(cJSON_IsNumber(j));
    return j->valuedouble;
}

static int64_t item_id(const cJSON *page_json, int i)
{
    return (int64_t)num(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(page_json, "data"), i), "id"));
}

static bool cursor_of(const cJSON *page_json, const char *name, struct rest_cursor *c)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(page_json, "meta"), name));
    return s && rest_cursor_decode(s, c);
}

static void test_cursor_page(void **state)
{
    (void)state;
    /* perPage=2, three rows came back: a next page exists */
    const char *v[] = {
        "300", "3", "3", "CP-1", "1200", "{\"a\":1}", "hidden",
        "200", "2", "2", "CP-1", NULL, NULL, "hidden",
        "100", "1", "1", "CP-2", "5", "[]", "hidden",
    };
    cJSON *p = page(&cursor_spec, "perPage=2", fake_job(3, 7, v));
    cJSON *data = cJSON_GetObjectItem(p, "data");
    assert_int_equal(cJSON_GetArraySize(data), 2);
    cJSON *first = cJSON_GetArrayItem(data, 0);
    assert_true(num(cJSON_GetObjectItem(first, "id")) == 3);
    assert_string_equal(cJSON_GetObjectItem(first, "chargerId")->valuestring, "CP-1");
    assert_true(num(cJSON_GetObjectItem(first, "energy")) == 1200);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(first, "detail"), "a")->valueint, 1);
    assert_null(cJSON_GetObjectItem(first, "secret"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 1), "energy")));
    cJSON *meta = cJSON_GetObjectItem(p, "meta");
    assert_int_equal(cJSON_GetObjectItem(meta, "itemCount")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(meta, "perPage")->valueint, 2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(meta, "before")));
    struct rest_cursor c;
    assert_true(cursor_of(p, "after", &c));
    assert_int_equal(c.kind, REST_LIST_SESSIONS);
    assert_int_equal(c.sort, 0);
    assert_true(c.desc);
    assert_true(c.key == 200 && c.id == 2);
    cJSON_Delete(p);

    /* the next page: one row, nothing after, a cursor back */
    char cur[REST_CURSOR_MAX], q[128];
    rest_cursor_encode(&c, cur);
    snprintf(q, sizeof q, "perPage=2&after=%s", cur);
    const char *v2[] = { "100", "1", "1", "CP-2", "5", "[]", NULL };
    p = page(&cursor_spec, q, fake_job(1, 7, v2));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "meta"), "after")));
    assert_true(cursor_of(p, "before", &c));
    assert_true(c.key == 100 && c.id == 1);
    cJSON_Delete(p);

    /* before: rows come nearest first and are turned round */
    snprintf(q, sizeof q, "perPage=2&before=%s", cur);
    const char *v3[] = {
        "300", "3", "3", "CP-1", "1", NULL, NULL,
        "400", "4", "4", "CP-1", "1", NULL, NULL,
        "500", "5", "5", "CP-1", "1", NULL, NULL,
    };
    p = page(&cursor_spec, q, fake_job(3, 7, v3));
    assert_int_equal(item_id(p, 0), 4);
    assert_int_equal(item_id(p, 1), 3);
    assert_true(cursor_of(p, "before", &c));
    assert_true(c.id == 4);
    assert_true(cursor_of(p, "after", &c));
    assert_true(c.id == 3);
    cJSON_Delete(p);

    /* before, reaching the start */
    const char *v4[] = { "300", "3", "3", "CP-1", "1", NULL, NULL };
    p = page(&cursor_spec, q, fake_job(1, 7, v4));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "meta"), "before")));
    assert_true(cursor_of(p, "after", &c));
    cJSON_Delete(p);

    /* empty */
    p = page(&cursor_spec, "", fake_job(0, 7, v4));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "data")), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "meta"), "after")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "meta"), "before")));
    cJSON_Delete(p);
}

static void test_offset_and_parent_page(void **state)
{
    (void)state;
    const char *v[] = { "7", "A", "A", "Alpha", "7", "B", "B", NULL };
    cJSON *p = page(&offset_spec, "page=1&perPage=2", fake_job(2, 4, v));
    cJSON *meta = cJSON_GetObjectItem(p, "meta");
    assert_int_equal(cJSON_GetObjectItem(meta, "total")->valueint, 7);
    assert_int_equal(cJSON_GetObjectItem(meta, "page")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(meta, "perPage")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(meta, "itemCount")->valueint, 2);
    cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "data"), 1);
    assert_string_equal(cJSON_GetObjectItem(b, "id")->valuestring, "B");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(b, "name")));
    cJSON_Delete(p);

    /* past the end: the count row alone */
    const char *e[] = { "7", NULL, NULL, NULL };
    p = page(&offset_spec, "page=9", fake_job(1, 4, e));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "data")), 0);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "meta"), "total")->valueint, 7);
    cJSON_Delete(p);

    /* a parent with no rows under it; a missing parent */
    struct rest_list_req req;
    struct rest_param_error err;
    assert_true(parse(&parent_spec, "", &req, &err));
    const char *pv[] = { "CP-1", "S1", NULL, NULL, NULL, NULL };
    struct store_job *job = fake_job(1, 6, pv);
    const char *charger, *site;
    assert_true(rest_list_parent(&req, job, &charger, &site));
    assert_string_equal(charger, "CP-1");
    assert_string_equal(site, "S1");
    p = rest_list_page(NULL, &req, job);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "data")), 0);
    cJSON_Delete(p);
    store_job_free(job);
    job = fake_job(0, 6, pv);
    assert_false(rest_list_parent(&req, job, &charger, &site));
    store_job_free(job);
    rest_list_req_free(&req);

    /* offset pages under a parent: (parent row, total, id, columns) */
    assert_true(parse(&site_chargers_spec, "perPage=2", &req, &err));
    const char *sv[] = { NULL, "S1", "3", "A", "A", "Alpha", NULL, "S1", "3", "B", "B", NULL };
    job = fake_job(2, 6, sv);
    assert_true(rest_list_parent(&req, job, &charger, &site));
    assert_null(charger);
    assert_string_equal(site, "S1");
    p = rest_list_page(NULL, &req, job);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "meta"), "total")->valueint, 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "data")), 2);
    b = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "data"), 0);
    assert_string_equal(cJSON_GetObjectItem(b, "id")->valuestring, "A");
    assert_string_equal(cJSON_GetObjectItem(b, "name")->valuestring, "Alpha");
    cJSON_Delete(p);
    store_job_free(job);
    /* a site without chargers: its row, a zero total, no page row */
    const char *ev[] = { NULL, "S1", "0", NULL, NULL, NULL };
    job = fake_job(1, 6, ev);
    p = rest_list_page(NULL, &req, job);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "data")), 0);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "meta"), "total")->valueint, 0);
    cJSON_Delete(p);
    store_job_free(job);
    rest_list_req_free(&req);
}

/* stands for the request the rows answer: live columns get it */
static int row_request;
#define ROW_REQUEST ((const struct rest_request *)&row_request)

/* true when the value is odd; the row id must be the first column's */
static cJSON *live_odd(const struct rest_request *r, const char *v, const char *row_id)
{
    assert_ptr_equal(r, ROW_REQUEST);
    assert_string_equal(row_id, "x");
    return v ? cJSON_CreateBool(strtol(v, NULL, 10) % 2 == 1) : cJSON_CreateString("none");
}

/* REST_COL_MERGE: an object's members replace the row's (in place) or join it; anything else changes nothing */
static void test_row_merge(void **state)
{
    (void)state;
    static const struct rest_col cols[] = {
        { "id", "a", REST_COL_INT, NULL },
        { "cost", "b", REST_COL_INT, NULL },
        { "costFinal", "c", REST_COL_BOOL, NULL },
        { "m", "d", REST_COL_MERGE, NULL },
    };
    const char *v[] = { "7", NULL, NULL, "{\"cost\":131,\"costFinal\":false,\"costBreakdown\":[1]}" };
    struct store_job *job = fake_job(1, 4, v);
    cJSON *o = rest_row_json(ROW_REQUEST, job, 0, 0, cols, 4);
    char *printed = cJSON_PrintUnformatted(o);
    assert_string_equal(printed, "{\"id\":7,\"cost\":131,\"costFinal\":false,\"costBreakdown\":[1]}");
    free(printed);
    cJSON_Delete(o);
    store_job_free(job);
    static const char *const others[] = { NULL, "[1]", "17|x", "{bad", "{\"a\":1} trailing" };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        const char *w[] = { "7", "5", "t", others[i] };
        job = fake_job(1, 4, w);
        o = rest_row_json(ROW_REQUEST, job, 0, 0, cols, 4);
        printed = cJSON_PrintUnformatted(o);
        assert_string_equal(printed, "{\"id\":7,\"cost\":5,\"costFinal\":true}");
        free(printed);
        cJSON_Delete(o);
        store_job_free(job);
    }
}

static void test_row_types(void **state)
{
    (void)state;
    static const struct rest_col cols[] = {
        { "s", "a", REST_COL_STR, NULL },
        { "i", "b", REST_COL_INT, NULL },
        { "n", "c", REST_COL_NUM, NULL },
        { "b", "d", REST_COL_BOOL, NULL },
        { "j", "e", REST_COL_JSON, NULL },
        { "l", "f", REST_COL_LIVE, live_odd },
        { "h", "g", REST_COL_HIDDEN, NULL },
        { "bad", "h", REST_COL_JSON, NULL },
        { "t", "x.t", REST_COL_TIME, NULL },
    };
    char *sel = rest_select_list(cols, 9);
    assert_string_equal(sel, "a, b, c, d, e, f, g, h, ocppgw_us(x.t)");
    free(sel);
    const char *v[] = { "x", "1714521600000", "12.5", "t", "[1,2]", "3", "h", "{bad", "1714521600123456" };
    struct store_job *job = fake_job(1, 9, v);
    cJSON *o = rest_row_json(ROW_REQUEST, job, 0, 0, cols, 9);
    assert_string_equal(cJSON_GetObjectItem(o, "t")->valuestring, "2024-05-01T00:00:00.123Z");
    assert_string_equal(cJSON_GetObjectItem(o, "s")->valuestring, "x");
    assert_true(num(cJSON_GetObjectItem(o, "i")) == 1714521600000.0);
    assert_true(num(cJSON_GetObjectItem(o, "n")) == 12.5);
    char *printed = cJSON_PrintUnformatted(o);
    assert_non_null(strstr(printed, "\"i\":1714521600000,\"n\":12.5,"));
    free(printed);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "b")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "j")), 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "l")));
    assert_null(cJSON_GetObjectItem(o, "h"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "bad")));
    assert_null(rest_job_value(job, 1, 0));
    assert_null(rest_job_value(job, 0, 9));
    cJSON_Delete(o);
    store_job_free(job);

    /* what is not JSON number text (NaN, Infinity) is converted, not copied */
    const char *odd[] = { "x", "007", "NaN", "f", "null", "2", NULL, NULL, "0" };
    job = fake_job(1, 9, odd);
    o = rest_row_json(ROW_REQUEST, job, 0, 0, cols, 9);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "i")) && cJSON_GetObjectItem(o, "i")->valueint == 7);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "n")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "b")));
    assert_string_equal(cJSON_GetObjectItem(o, "t")->valuestring, "1970-01-01T00:00:00Z");
    cJSON_Delete(o);
    store_job_free(job);

    const char *nulls[] = { "x", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
    job = fake_job(1, 9, nulls);
    o = rest_row_json(ROW_REQUEST, job, 0, 0, cols, 9);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "t")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "i")));
    assert_string_equal(cJSON_GetObjectItem(o, "l")->valuestring, "none");
    cJSON_Delete(o);
    store_job_free(job);
}

static void test_json_rows(void **state)
{
    (void)state;
    static const char *const keys[] = { "id", "at", "name", "updatedAt", NULL };
    cJSON *a = rest_json_rows("[[1, \"2024-05-01T02:00:00.250123+02:00\", \"x\", null],"
                              " [2, \"2024-05-01T00:00:00+00:00\", null, \"not a time\"], [3], 7]",
                              keys, 1u << 1 | 1u << 3);
    char *s = cJSON_PrintUnformatted(a);
    assert_string_equal(s, "[{\"id\":1,\"at\":\"2024-05-01T00:00:00.250Z\",\"name\":\"x\",\"updatedAt\":null},"
                           "{\"id\":2,\"at\":\"2024-05-01T00:00:00Z\",\"name\":null,\"updatedAt\":\"not a time\"},"
                           "{\"id\":3,\"at\":null,\"name\":null,\"updatedAt\":null},"
                           "{\"id\":null,\"at\":null,\"name\":null,\"updatedAt\":null}]");
    free(s);
    cJSON_Delete(a);
    a = rest_json_rows(NULL, keys, 0);
    assert_int_equal(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
    a = rest_json_rows("{bad", keys, 0);
    assert_int_equal(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
}

int main(void)
{
    ocpp_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_plus_sent_as_space),
        cmocka_unit_test(test_cursor_parameters),
        cmocka_unit_test(test_filter_values),
        cmocka_unit_test(test_filter_capacity_and_id_range),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_sqlb),
        cmocka_unit_test(test_cursor_sql),
        cmocka_unit_test(test_restriction_sql),
        cmocka_unit_test(test_offset_and_parent_sql),
        cmocka_unit_test(test_cursor_page),
        cmocka_unit_test(test_offset_and_parent_page),
        cmocka_unit_test(test_row_types),
        cmocka_unit_test(test_row_merge),
        cmocka_unit_test(test_json_rows),
    };
    return cmocka_run_group_tests_name("rest_query", tests, NULL, NULL);
}
