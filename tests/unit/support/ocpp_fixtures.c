/*
 * Reads the OCPP fixture files (see ocpp_fixtures.h). No cmocka here: the
 * callers assert on what comes back.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cJSON.h>

#include "ocpp_fixtures.h"
#include "strbuf.h"
#include "util.h"

char *ocpp_fixture_read(const char *name, size_t *len)
{
    const char *root = getenv("OCPPGW_FIXTURES");
    char path[512];
    snprintf(path, sizeof path, "%s/ocpp/%s", root && *root ? root : "tests/fixtures", name);
    struct strbuf b = STRBUF_INIT;
    if (!strbuf_read_file(&b, path)) {
        fprintf(stderr, "fixture %s: cannot read (run from the repository root or set OCPPGW_FIXTURES)\n", path);
        strbuf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return strbuf_take(&b);
}

struct cJSON *ocpp_fixture_json(const char *name)
{
    char *text = ocpp_fixture_read(name, NULL);
    cJSON *js = text ? cJSON_Parse(text) : NULL;
    if (text && !js)
        fprintf(stderr, "fixture %s: not valid JSON\n", name);
    free(text);
    return js;
}

struct cJSON *ocpp_fixture_payload(enum ocpp_action a, enum ocpp_schema_dir dir)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s.json", ocpp_action_name(a), dir == OCPP_SCHEMA_REQ ? "req" : "conf");
    return ocpp_fixture_json(name);
}

int ocpp_fixture_schema_setup(void **state)
{
    (void)state;
    return ocpp_schema_init() ? 0 : -1;
}

int ocpp_fixture_schema_teardown(void **state)
{
    (void)state;
    ocpp_schema_free();
    return 0;
}
