/*
 * The fake query string of tests/unit/support/rest_fakes.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest_fakes.h"
#include "util.h"

static void keep(struct rest_fake_query *q, char *piece)
{
    if (q->npieces == REST_FAKE_PIECES) {
        fprintf(stderr, "rest_fakes: more than %d pieces\n", REST_FAKE_PIECES);
        abort();
    }
    q->pieces[q->npieces++] = piece;
}

void rest_fake_query_set(struct rest_fake_query *q, const char *query)
{
    memset(q, 0, sizeof *q);
    char *copy = xstrdup(query), *save = NULL;
    keep(q, copy);
    for (char *tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
        if (q->n == REST_FAKE_PARAMS) {
            fprintf(stderr, "rest_fakes: more than %d parameters\n", REST_FAKE_PARAMS);
            abort();
        }
        char *eq = strchr(tok, '=');
        if (eq)
            *eq = '\0';
        size_t len = strlen(tok);
        if (len > 2 && strcmp(tok + len - 2, "[]") == 0)
            tok[len - 2] = '\0';
        q->names[q->n] = tok;
        q->values[q->n] = eq ? eq + 1 : "";
        q->n++;
    }
}

void rest_fake_query_free(struct rest_fake_query *q)
{
    for (size_t i = 0; i < q->npieces; i++)
        free(q->pieces[i]);
    q->npieces = 0;
}

static const char *fake_get(void *ctx, const char *name)
{
    struct rest_fake_query *q = ctx;
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->names[i], name) == 0)
            return q->values[i];
    return NULL;
}

static size_t fake_list(void *ctx, const char *name, const char **out, size_t max)
{
    struct rest_fake_query *q = ctx;
    size_t k = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->names[i], name) != 0)
            continue;
        char *copy = xstrdup(q->values[i]), *save = NULL;
        keep(q, copy);
        for (char *tok = strtok_r(copy, ",", &save); tok && k < max; tok = strtok_r(NULL, ",", &save))
            out[k++] = tok;
    }
    return k;
}

struct rest_query_source rest_fake_source(struct rest_fake_query *q)
{
    struct rest_query_source src = { fake_get, fake_list, q };
    return src;
}

bool rest_fake_parse(const struct rest_list_spec *spec, const char *query, struct rest_list_req *req,
                     struct rest_param_error *err)
{
    struct rest_fake_query q;
    rest_fake_query_set(&q, query);
    struct rest_query_source src = rest_fake_source(&q);
    bool ok = rest_list_parse(spec, &src, req, err);
    rest_fake_query_free(&q);
    return ok;
}
