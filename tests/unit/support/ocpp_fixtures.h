/*
 * Test data for the OCPP wire layer tests: files under tests/fixtures/ocpp/
 * (or $OCPPGW_FIXTURES/ocpp/), read at run time. Tests run from the
 * repository root (`make unit`), so the relative default works there.
 */
#ifndef OCPPGW_TESTS_OCPP_FIXTURES_H
#define OCPPGW_TESTS_OCPP_FIXTURES_H

#include <stddef.h>

#include "ocpp.h"

struct cJSON;

/* Whole file, NUL-terminated (caller frees), length in *len if len; NULL if unreadable. */
char *ocpp_fixture_read(const char *name, size_t *len);
/* Parsed JSON file (caller frees with cJSON_Delete); NULL if unreadable or not JSON. */
struct cJSON *ocpp_fixture_json(const char *name);
/* The example payload <Action>.req.json / <Action>.conf.json (as ocpp_fixture_json). */
struct cJSON *ocpp_fixture_payload(enum ocpp_action a, enum ocpp_schema_dir dir);

/* cmocka group setup/teardown: ocpp_schema_init() / ocpp_schema_free(). */
int ocpp_fixture_schema_setup(void **state);
int ocpp_fixture_schema_teardown(void **state);

#endif
