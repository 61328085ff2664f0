/*
 * Integration: one charger-id rule for OCPP and REST (issue 10). Every id
 * the gateway accepts can be addressed through REST, percent-encoded where
 * needed: ids with '#', '?', '+', '&', ';', '.' inside and so on are created
 * by REST, read, patched and deleted by their percent-encoded path, and
 * connect over the websocket with the same encoding. "." and ".." are
 * refused on both sides: REST create is 422 naming the id, a websocket
 * upgrade is 400 with a short text body saying why.
 *
 * Charger ids start with "ici".
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)

static char *admin;

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM chargers WHERE id LIKE 'ici%' OR id IN ('.', '..')");
    admin = api_group_start("it_charger_ids", "ici-admin");
    return 0;
}

/* Every byte but unreserved ones as %XX (RFC 3986, as the gateway's Location), into a static buffer. */
static const char *enc(const char *id)
{
    static char out[256];
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *)id; *s && o + 4 < sizeof out; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
            *s == '_' || *s == '.' || *s == '~')
            out[o++] = (char)*s;
        else
            o += (size_t)snprintf(out + o, sizeof out - o, "%%%02X", *s);
    }
    out[o] = '\0';
    return out;
}

static void test_every_accepted_id_is_addressable_on_both_sides(void **state)
{
    (void)state;
    static const char *const ids[] = {
        "ici#1", "ici?x", "ici+1", "ici&a=b", "ici;1", "ici.a", "ici..b", "ici~!$'()*:@[]", "ici\"q\\",
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *id = ids[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddNumberToObject(o, "securityProfile", 0);
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        struct api_resp *r = api_post(PORT, admin, "/v1/chargers", body);
        free(body);
        api_check_str(api_expect(r, 201), "id", id);
        char *want_loc = it_strf("/v1/chargers/%s", enc(id));
        const char *loc = api_header(r, "Location");
        if (!loc || strcmp(loc, want_loc) != 0)
            fail_msg("%s: Location \"%s\", expected %s", id, loc ? loc : "(absent)", want_loc);
        api_free(r);

        /* read and patch by the percent-encoded path */
        r = api_get(PORT, admin, want_loc);
        api_check_str(api_expect(r, 200), "id", id);
        api_free(r);
        r = api_patch(PORT, admin, want_loc, "{\"name\":\"renamed\"}");
        api_check_str(api_expect(r, 200), "name", "renamed");
        api_free(r);

        /* the same id over the websocket, encoded the same way */
        char *path = it_strf("/ocpp/%s", enc(id));
        struct sim_charger_opts co = { .id = id, .path = path };
        int status = 0;
        struct sim_charger *c = it_try_connect(W.sim, &co, &status, NULL);
        if (!c)
            fail_msg("%s: the websocket upgrade to %s was refused with %d", id, path, status);
        it_boot(c);
        sim_disconnect(c);
        free(path);

        r = api_delete(PORT, admin, want_loc);
        if (r->status != 204 && r->status != 200)
            fail_msg("DELETE %s: %d %s", want_loc, r->status, r->body);
        api_free(r);
        r = api_get(PORT, admin, want_loc);
        api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
        api_free(r);
        free(want_loc);
    }
}

/* A websocket upgrade request by curl: the refusal's status and body. */
static struct api_resp *upgrade(const char *path)
{
    static const char *const hdrs[] = {
        "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol: ocpp1.6", NULL,
    };
    struct api_req q = { .method = "GET", .path = path, .headers = hdrs };
    return api_send(PORT, &q);
}

static void test_dot_ids_are_refused_on_both_sides(void **state)
{
    (void)state;
    static const struct api_bad bad[] = {
        { "{\"id\":\".\",\"securityProfile\":0}", "id" },
        { "{\"id\":\"..\",\"securityProfile\":0}", "id" },
    };
    api_expect_bad_bodies(PORT, admin, "POST", "/v1/chargers", bad, API_COUNT(bad));
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id IN ('.', '..')"), 0);

    /*
     * websocket: 400 with a body naming the reason. libwebsockets decodes the
     * path and removes its dot segments before the gateway sees it, so
     * "/ocpp/%2E%2E" arrives as "/" (404, the body says that '..' is no id)
     * and "/ocpp/%2E" as "/ocpp/" (an empty id).
     */
    static const char *const paths[] = { "/ocpp/%2E", "/ocpp/ici%20sp", "/ocpp/ici%25", "/ocpp/ici%2Cx" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct api_resp *r = upgrade(paths[i]);
        if (r->status != 400 || !strstr(r->body, "charge point id"))
            fail_msg("upgrade %s: %d \"%s\", expected 400 naming the charge point id", paths[i], r->status,
                     r->body);
        api_free(r);
    }
    struct api_resp *r = upgrade("/ocpp/%2E%2E");
    if (r->status != 404 || !strstr(r->body, "'..' are not charge point ids"))
        fail_msg("upgrade /ocpp/%%2E%%2E: %d \"%s\", expected 404 saying '..' is no id", r->status, r->body);
    api_free(r);
    r = upgrade("/ocpp/%2E");
    if (!strstr(r->body, "charge point id '' is empty"))
        fail_msg("upgrade /ocpp/%%2E: body \"%s\"", r->body);
    api_free(r);
    r = upgrade("/ocpp/ici%20sp");
    if (!strstr(r->body, "'ici sp' has a space"))
        fail_msg("upgrade /ocpp/ici%%20sp: body \"%s\"", r->body);
    api_free(r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_every_accepted_id_is_addressable_on_both_sides),
        T(test_dot_ids_are_refused_on_both_sides),
    };
    return cmocka_run_group_tests(tests, group_setup, api_group_teardown);
}
