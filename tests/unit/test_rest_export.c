/*
 * Export rows (src/rest/export_fmt.c): CSV per RFC 4180 (quoting of commas,
 * quotes, CR and LF; "" for an empty string, an empty cell for NULL; CRLF
 * line ends; UTF-8 as is), the header row with flattened object columns,
 * arrays and free-form objects as compact JSON text, times and booleans as
 * the JSON shows them; NDJSON lines equal to what rest_row_json makes of
 * the same row (the JSON answer), merge columns included; and the Accept
 * negotiation (JSON stays the default).
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

#include "rest_export.h"
#include "rest_query.h"
#include "store_job.h"
#include "util.h"

static const struct rest_col cols[] = {
    { "id", "s.id", REST_COL_INT, NULL },
    { "name", "s.name", REST_COL_STR, NULL },
    { "ok", "s.ok", REST_COL_BOOL, NULL },
    { "at", "s.at", REST_COL_TIME, NULL },
    { "price", "s.price", REST_COL_NUM, NULL },
    { "address", "s.address", REST_COL_JSON, NULL },
    { "tags", "s.tags", REST_COL_JSON, NULL },
    { "secret", "s.secret", REST_COL_HIDDEN, NULL },
    { "estimate", "s.estimate", REST_COL_MERGE, NULL },
};
#define NCOLS (sizeof cols / sizeof cols[0])
static const char *const address_keys[] = { "street", "city", NULL };
static const struct rest_export_flat flat[] = { { "address", address_keys }, { NULL, NULL } };

static char *fmt_rows(enum rest_export_format f, const char *const *rows, size_t nrows)
{
    struct rest_export_fmt *fmt = rest_export_fmt_new(f, cols, NCOLS, flat);
    struct strbuf out = STRBUF_INIT;
    rest_export_fmt_head(fmt, &out);
    for (size_t i = 0; i < nrows; i++)
        rest_export_fmt_row(fmt, rows + i * NCOLS, &out);
    rest_export_fmt_free(fmt);
    return strbuf_take(&out);
}

static void test_csv_quoting_nulls_utf8(void **state)
{
    (void)state;
    const char *rows[] = {
        "1", "plain", "t", "1767225600123456", "12.50", "{\"street\" : \"A, 1\", \"city\" : \"Zürich\"}",
        "[\"x\", \"y\"]", "hidden", NULL,
        "2", "a,b \"q\"\r\nline", "f", NULL, NULL, NULL, "[]", NULL, NULL,
        "3", "", NULL, NULL, "-3", "{\"street\": null, \"city\": \"\"}", NULL, NULL, NULL,
        "4", "café €😀\nx", "t", NULL, NULL, "null", "{\"k\": [1, {\"n\": null}]}", NULL, NULL,
    };
    char *csv = fmt_rows(REST_EXPORT_CSV, rows, 4);
    assert_string_equal(csv,
                        "id,name,ok,at,price,address.street,address.city,tags\r\n"
                        "1,plain,true,2026-01-01T00:00:00.123Z,12.50,\"A, 1\",Zürich,\"[\"\"x\"\",\"\"y\"\"]\"\r\n"
                        "2,\"a,b \"\"q\"\"\r\nline\",false,,,,,[]\r\n"
                        "3,\"\",,,-3,,\"\",\r\n"
                        "4,\"café €😀\nx\",true,,,,,\"{\"\"k\"\":[1,{\"\"n\"\":null}]}\"\r\n");
    free(csv);
}

/* NDJSON: each line is what the JSON answer shows for the same row. */
static void test_ndjson_is_the_json_row(void **state)
{
    (void)state;
    const char *rows[] = {
        "1", "a\"b\\c\n\x01", "t", "1767225600123456", "12.50", "{\"street\" : \"A\", \"city\" : null}",
        "[\"x\", \"y\"]", "hidden", "{\"price\": 99, \"extra\": {\"a\": [1]}}",
        "2", NULL, NULL, NULL, "NaN", "not json", NULL, NULL, "not an object",
    };
    char *nd = fmt_rows(REST_EXPORT_NDJSON, rows, 2);
    struct store_job *job = store_job_new(STORE_OP_SQL);
    job->out.sql.ntuples = 2;
    job->out.sql.nfields = (int)NCOLS;
    job->out.sql.values = xcalloc(2 * NCOLS, sizeof(char *));
    for (size_t i = 0; i < 2 * NCOLS; i++)
        job->out.sql.values[i] = rows[i] ? xstrdup(rows[i]) : NULL;
    const char *line = nd;
    for (int r = 0; r < 2; r++) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        cJSON *got = cJSON_ParseWithLength(line, (size_t)(nl - line));
        cJSON *want = rest_row_json(NULL, job, r, 0, cols, NCOLS);
        char *g = cJSON_PrintUnformatted(got), *w = cJSON_PrintUnformatted(want);
        assert_string_equal(g, w);      /* same members, same order, same values */
        free(g), free(w);
        cJSON_Delete(got);
        cJSON_Delete(want);
        line = nl + 1;
    }
    assert_string_equal(line, "");
    store_job_free(job);
    free(nd);
}

/* The merge column replaces members of the same name in CSV too; members without a column are left out. */
static void test_csv_merge(void **state)
{
    (void)state;
    const char *rows[] = {
        "7", "n", "f", NULL, "1", NULL, NULL, NULL, "{\"price\": 42, \"ok\": true, \"more\": 1}",
    };
    char *csv = fmt_rows(REST_EXPORT_CSV, rows, 1);
    assert_string_equal(strstr(csv, "\r\n") + 2, "7,n,true,,42,,,\r\n");
    free(csv);
}

static void test_accept(void **state)
{
    (void)state;
    assert_int_equal(rest_export_accept(NULL), REST_EXPORT_NONE);
    assert_int_equal(rest_export_accept(""), REST_EXPORT_NONE);
    assert_int_equal(rest_export_accept("*/*"), REST_EXPORT_NONE);
    assert_int_equal(rest_export_accept("application/json"), REST_EXPORT_NONE);
    assert_int_equal(rest_export_accept("application/json, text/csv"), REST_EXPORT_NONE);
    assert_int_equal(rest_export_accept("text/*, application/*"), REST_EXPORT_NONE);
    assert_int_equal(rest_export_accept("text/*"), REST_EXPORT_CSV);     /* JSON not acceptable */
    assert_int_equal(rest_export_accept("text/csv"), REST_EXPORT_CSV);
    assert_int_equal(rest_export_accept("text/csv; charset=utf-8"), REST_EXPORT_CSV);
    assert_int_equal(rest_export_accept("application/json;q=0.5, text/csv"), REST_EXPORT_CSV);
    assert_int_equal(rest_export_accept("application/x-ndjson"), REST_EXPORT_NDJSON);
    assert_int_equal(rest_export_accept("text/csv;q=0.2, application/x-ndjson;q=0.9"), REST_EXPORT_NDJSON);
    assert_string_equal(rest_export_content_type(REST_EXPORT_CSV), "text/csv; charset=utf-8");
    assert_string_equal(rest_export_content_type(REST_EXPORT_NDJSON), "application/x-ndjson");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_quoting_nulls_utf8),
        cmocka_unit_test(test_ndjson_is_the_json_row),
        cmocka_unit_test(test_csv_merge),
        cmocka_unit_test(test_accept),
    };
    return cmocka_run_group_tests_name("rest_export", tests, NULL, NULL);
}
