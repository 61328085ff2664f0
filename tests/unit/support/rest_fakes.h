/*
 * Fakes for the REST collection tests (src/rest/query.c): a query string
 * behind a struct rest_query_source, split the way the framework splits one
 * (src/rest/args.c): "a=1&b[]=x&b=y,z" is a = "1" and b = "x", "y,z"; a
 * list parameter's values are split at commas, empty pieces dropped. No
 * percent-decoding: write the decoded text.
 *
 *     struct rest_list_req req;
 *     struct rest_param_error err;
 *     if (!rest_fake_parse(spec, "status=active&perPage=5", &req, &err)) ...
 *     rest_list_req_free(&req);
 */
#ifndef OCPPGW_TESTS_REST_FAKES_H
#define OCPPGW_TESTS_REST_FAKES_H

#include <stdbool.h>
#include <stddef.h>

#include "rest_query.h"

#define REST_FAKE_PARAMS 32     /* parameters of one query string */
#define REST_FAKE_PIECES 128    /* copies it keeps (one per list lookup, plus one) */

struct rest_fake_query {
    const char *names[REST_FAKE_PARAMS];
    const char *values[REST_FAKE_PARAMS];
    char *pieces[REST_FAKE_PIECES];
    size_t n, npieces;
};

/* Splits query into q (aborts past the capacities); free with rest_fake_query_free. */
void rest_fake_query_set(struct rest_fake_query *q, const char *query);
void rest_fake_query_free(struct rest_fake_query *q);
/* A source reading q (borrowed: q must outlive the source's use). */
struct rest_query_source rest_fake_source(struct rest_fake_query *q);

/* rest_list_parse of spec on the query string; the same result. Free req either way. */
bool rest_fake_parse(const struct rest_list_spec *spec, const char *query, struct rest_list_req *req,
                     struct rest_param_error *err);

#endif
