/*
 * The reports' query (src/rest/report.c): from and to required, ordered
 * and at most 400 days apart; groupBy keys each once with at most one
 * period; the columns a grouping shows; the statement: the chargers the
 * filters and the key leave, the group flags, the order of the keys given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rest_fakes.h"
#include "rest_query.h"

#define WINDOW "from=2026-03-01T00:00:00+01:00&to=2026-04-01T00:00:00+02:00"

static bool parse(const char *query, struct rest_report_req *req, struct rest_param_error *err)
{
    struct rest_fake_query q;
    rest_fake_query_set(&q, query);
    struct rest_query_source src = rest_fake_source(&q);
    bool ok = rest_report_parse(REST_REPORT_ENERGY, &src, req, err);
    rest_fake_query_free(&q);
    return ok;
}

/* the parameter a query is refused for ("" when accepted) */
static const char *refused(const char *query)
{
    static struct rest_param_error err;
    struct rest_report_req req;
    bool ok = parse(query, &req, &err);
    rest_report_req_free(&req);
    return ok ? "" : err.param;
}

static void test_window(void **state)
{
    (void)state;
    struct rest_report_req req;
    struct rest_param_error err;
    assert_true(parse("from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", &req, &err));
    assert_int_equal(req.from_ms, 1772323200000LL);
    assert_int_equal(req.to_ms, 1772323200000LL + 31LL * 86400000);
    assert_int_equal(req.nkeys, 0);
    assert_null(req.period);
    assert_null(req.site_id);
    assert_null(req.charger_ids);
    rest_report_req_free(&req);

    assert_string_equal(refused("to=2026-04-01T00:00:00Z"), "from");
    assert_string_equal(refused("from=2026-04-01T00:00:00Z"), "to");
    assert_string_equal(refused("from=yesterday&to=2026-04-01T00:00:00Z"), "from");
    assert_string_equal(refused("from=2026-04-01T00:00:00Z&to=2026-04-01T00:00:00Z"), "to");
    assert_string_equal(refused("from=2026-04-02T00:00:00Z&to=2026-04-01T00:00:00Z"), "to");
    /* 400 days exactly is allowed, one second more is not */
    assert_string_equal(refused("from=2025-01-01T00:00:00Z&to=2026-02-05T00:00:00Z"), "");
    assert_string_equal(refused("from=2025-01-01T00:00:00Z&to=2026-02-05T00:00:01Z"), "to");
}

static void test_group_by(void **state)
{
    (void)state;
    struct rest_report_req req;
    struct rest_param_error err;
    assert_true(parse(WINDOW "&groupBy=month,site", &req, &err));
    assert_int_equal(req.nkeys, 2);
    assert_int_equal(req.keys[0], REST_RKEY_PERIOD);
    assert_int_equal(req.keys[1], REST_RKEY_SITE);
    assert_string_equal(req.period, "month");
    assert_true(rest_report_by(&req, REST_RKEY_SITE));
    assert_false(rest_report_by(&req, REST_RKEY_CHARGER));
    rest_report_req_free(&req);

    assert_string_equal(refused(WINDOW "&groupBy=site&groupBy[]=charger&groupBy=week"), "");
    assert_string_equal(refused(WINDOW "&groupBy=day,month"), "groupBy");
    assert_string_equal(refused(WINDOW "&groupBy=site,site"), "groupBy");
    assert_string_equal(refused(WINDOW "&groupBy=year"), "groupBy");
    assert_string_equal(refused(WINDOW "&groupBy="), "groupBy");
    assert_string_equal(refused(WINDOW "&groupBy=site,charger,day,week"), "groupBy");
    assert_string_equal(refused(WINDOW "&siteId="), "siteId");
}

static const char *col_names(const char *query, char *buf, size_t cap)
{
    struct rest_report_req req;
    struct rest_param_error err;
    assert_true(parse(query, &req, &err));
    struct rest_col cols[REST_REPORT_COLS_MAX];
    size_t n = rest_report_cols(&req, cols);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? "," : "", cols[i].name);
    rest_report_req_free(&req);
    return buf;
}

static void test_columns(void **state)
{
    (void)state;
    char buf[512];
    assert_string_equal(col_names(WINDOW, buf, sizeof buf),
                        "sessions,energyWh,chargingSeconds,idleSeconds,revenue,co2Grams");
    assert_string_equal(col_names(WINDOW "&groupBy=day", buf, sizeof buf),
                        "period,sessions,energyWh,chargingSeconds,idleSeconds,revenue,co2Grams");
    /* a charger's row names its site too */
    assert_string_equal(col_names(WINDOW "&groupBy=charger,week", buf, sizeof buf),
                        "siteId,chargerId,period,sessions,energyWh,chargingSeconds,idleSeconds,revenue,co2Grams");
    assert_string_equal(col_names(WINDOW "&groupBy=site", buf, sizeof buf),
                        "siteId,sessions,energyWh,chargingSeconds,idleSeconds,revenue,co2Grams");
}

/* The statement of query for a key limited to chargers / sites (caller frees), its parameters into params. */
static char *statement(enum rest_report_kind kind, const char *query, char *const *chargers,
                       char *const *sites, char params[8][128], int *np)
{
    struct rest_fake_query q;
    rest_fake_query_set(&q, query);
    struct rest_query_source src = rest_fake_source(&q);
    struct rest_report_req req;
    struct rest_param_error err;
    assert_true(rest_report_parse(kind, &src, &req, &err));
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_report_sql(&req, chargers, sites, &b);
    *np = b.nparams;
    for (int i = 0; i < b.nparams && i < 8; i++)
        snprintf(params[i], 128, "%s", b.params[i] ? b.params[i] : "(null)");
    char *sql = rest_sqlb_take_sql(&b);
    rest_sqlb_free(&b);
    rest_report_req_free(&req);
    rest_fake_query_free(&q);
    return sql;
}

static void test_statement(void **state)
{
    (void)state;
    char p[8][128];
    int np;
    /* no filter, no restriction: every charger (NULL), no grouping, no order */
    char *sql = statement(REST_REPORT_ENERGY, "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", NULL, NULL, p, &np);
    assert_non_null(strstr(sql, " FROM ocppgw_report_energy(ocppgw_ts($1::bigint), ocppgw_ts($2::bigint), "
                                "NULL::text[], $3::boolean, $4::boolean, $5::text) r"));
    assert_null(strstr(sql, " ORDER BY r."));
    assert_int_equal(np, 5);
    assert_string_equal(p[0], "1772323200000");
    assert_string_equal(p[2], "false");
    assert_string_equal(p[3], "false");
    assert_string_equal(p[4], "(null)");
    free(sql);

    /* filters and a key limited to a site: the chargers all of them leave, the keys' order */
    char *sites[] = { "berlin", NULL };
    sql = statement(REST_REPORT_UTILIZATION,
                    WINDOW "&siteId=berlin&chargerIds=CP1,CP2&groupBy=month,charger", NULL, sites, p, &np);
    assert_non_null(strstr(sql, " FROM ocppgw_report_utilization("));
    assert_non_null(strstr(sql, "ARRAY(SELECT c.id FROM chargers c WHERE true AND c.site_id = $3"
                                " AND c.id = ANY($4::text[]) AND (c.id = ANY($5::text[]) OR c.site_id = ANY($6::text[])))"));
    assert_string_equal(p[2], "berlin");
    assert_string_equal(p[3], "{\"CP1\",\"CP2\"}");
    assert_string_equal(p[4], "{}");                /* a key limited to sites sees no charger by id */
    assert_string_equal(p[5], "{\"berlin\"}");
    assert_string_equal(p[6], "false");             /* by site */
    assert_string_equal(p[7], "true");              /* by charger */
    assert_non_null(strstr(sql, " ORDER BY r.period NULLS LAST, r.charger_id NULLS LAST"));
    assert_non_null(strstr(sql, "r.uptime_pct"));
    free(sql);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_group_by),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_statement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
