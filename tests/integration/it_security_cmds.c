/*
 * Integration: the gateway-initiated messages of the OCPP 1.6 Security
 * Extension (white paper edition 3) through the command route, and the
 * security profile upgrade (POST /v1/chargers/{id}/security-profile), the
 * way an integrator sees them: the real gateway on a real PostgreSQL,
 * libcurl as the REST client, the C simulator as the charger answering with
 * tests/sim/answers.c behind a recorder of every CALL it got.
 *
 * Covered: each of CertificateSigned, InstallCertificate, DeleteCertificate,
 * GetInstalledCertificateIds, GetLog, SignedUpdateFirmware and
 * ExtendedTriggerMessage reaches the charger with exactly the payload given
 * and the 200 body is the charger's answer; install / list / delete stay
 * consistent; a payload that fails the .req schema is 422 naming the field
 * and nothing is sent; an answer that fails the .conf schema is 502
 * BAD_GATEWAY with a reason. The upgrade 1 -> 2 sends ChangeConfiguration
 * SecurityProfile, commits profile 2 and the charger then gets in on the
 * TLS listener with its key while the plain port refuses it; Rejected,
 * offline, a downgrade, a missing key and a gateway without TLS change
 * nothing.
 *
 * The file's gateway serves plain OCPP and wss on a second port (a throwaway
 * PKI made with the openssl command, as it_tls.c does). A synchronous
 * command holds its HTTP request open until the charger answers, and the
 * simulator answers only while it is serviced on this thread, so requests go
 * out through a curl multi handle and the simulator is serviced between
 * transfers (send_on). Charger ids and key names start with "isc-".
 */
#include "it.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sim.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "recorder.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)
#define REQUEST_TIMEOUT_MS 30000
#define KEY1 "isc-profile1-key-0123456789abcdef"

static char dir[512];
static int tls_port;
static char *admin;

/* ------------------------------------------------------------------ the charger's side */

/* ------------------------------------------------------------------ REST with the charger serviced */

struct xfer {
    CURL *h;
    struct curl_slist *list;
    struct strbuf body, hdrs;
    char url[512], auth[256];
};

/*
 * One request to port while servicing sim (may be NULL) until it is
 * answered: the answer as support/rest.h's struct api_resp (api_free()).
 */
static struct api_resp *send_on(int port, struct sim *sim, const char *path, const char *body,
                                const char *const *headers)
{
    struct xfer x;
    memset(&x, 0, sizeof x);
    snprintf(x.url, sizeof x.url, "http://127.0.0.1:%d%s", port, path);
    snprintf(x.auth, sizeof x.auth, "Authorization: Bearer %s", admin);
    x.list = curl_slist_append(x.list, x.auth);
    for (const char *const *h = headers; h && *h; h++)
        x.list = curl_slist_append(x.list, *h);
    x.list = curl_slist_append(x.list, "Content-Type: application/json");
    x.list = curl_slist_append(x.list, "Expect:");
    x.h = curl_easy_init();
    if (!x.h)
        abort();
    curl_easy_setopt(x.h, CURLOPT_URL, x.url);
    curl_easy_setopt(x.h, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
    curl_easy_setopt(x.h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, x.list);
    curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, it_curl_write);
    curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &x.body);
    curl_easy_setopt(x.h, CURLOPT_HEADERFUNCTION, it_curl_header);
    curl_easy_setopt(x.h, CURLOPT_HEADERDATA, &x.hdrs);
    curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(x.h, CURLOPT_COPYPOSTFIELDS, body);
    CURLM *m = curl_multi_init();
    if (!m)
        abort();
    curl_multi_add_handle(m, x.h);
    CURLcode rc = CURLE_OK;
    for (int running = 1;;) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE)
                rc = msg->data.result;
        if (!running)
            break;
        curl_multi_poll(m, NULL, 0, 5, NULL);
        if (sim)
            sim_service(sim, 5);
    }
    struct api_resp *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    snprintf(r->what, sizeof r->what, "POST %s", path);
    long code = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(x.h, CURLINFO_RESPONSE_CODE, &code);
    r->status = (int)code;
    curl_multi_remove_handle(m, x.h);
    curl_multi_cleanup(m);
    curl_easy_cleanup(x.h);
    curl_slist_free_all(x.list);
    r->body_len = x.body.len;
    r->body = strbuf_take(&x.body);
    r->headers = strbuf_take(&x.hdrs);
    r->json = r->body_len ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
    api_record_answer("POST", path, r);
    return r;
}

static struct api_resp *command(const char *charger, const char *action, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/chargers/%s/commands/%s", charger, action);
    return send_on(PORT, W.sim, path, body, NULL);
}

static struct api_resp *upgrade_on(int port, struct sim *sim, const char *charger, int profile,
                                   const char *const *headers)
{
    char path[256], body[64];
    snprintf(path, sizeof path, "/v1/chargers/%s/security-profile", charger);
    snprintf(body, sizeof body, "{\"securityProfile\":%d}", profile);
    return send_on(port, sim, path, body, headers);
}

static struct api_resp *upgrade(const char *charger, int profile)
{
    return upgrade_on(PORT, W.sim, charger, profile, NULL);
}

/* ------------------------------------------------------------------ checks */

/* Fails unless the JSON text a and the JSON text b are the same value. */
static void same_json(const char *got, const char *want, const char *what)
{
    cJSON *g = cJSON_Parse(got), *w = cJSON_Parse(want);
    if (!g || !w || !cJSON_Compare(g, w, true))
        fail_msg("%s: got %s, want %s", what, got, want);
    cJSON_Delete(g);
    cJSON_Delete(w);
}

static const cJSON *context_of(const struct api_resp *r)
{
    return cJSON_GetObjectItemCaseSensitive(r->json, "context");
}

static int64_t profile_of(const char *charger)
{
    return db_int("SELECT security_profile FROM chargers WHERE id = $1", charger);
}

static int64_t commands_of(const char *charger)
{
    return db_int("SELECT count(*) FROM commands WHERE charger_id = $1", charger);
}

/* ------------------------------------------------------------------ PKI (as it_tls.c) */

static void make_pki(void)
{
    snprintf(dir, sizeof dir, "%s/isc-tls", it_env("OCPPGW_TEST_TMP"));
    char *mk = it_strf("mkdir -p '%s'", dir);
    if (system(mk) != 0)
        fail_msg("mkdir %s failed", dir);
    free(mk);
    it_openssl(dir, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout ca.key -out ca.pem -days 2 -subj '/CN=ocppgw test isc ca'");
    it_openssl(dir, "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout server.key -out server.csr -subj '/CN=127.0.0.1' && "
       "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2");
}

/* A wss simulator on the TLS listener (no client certificate). */
static struct sim *tls_sim(void)
{
    char ca[600];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    struct sim_options o = { .host = "127.0.0.1", .port = tls_port, .max_chargers = 4, .quiet = true,
                             .tls = true, .tls_ca = ca };
    struct sim *s = sim_new(&o);
    if (!s)
        fail_msg("sim_new (TLS) failed");
    return s;
}

/* ------------------------------------------------------------------ the world */

static const char *const plain_chargers[] = {
    "isc-err", "isc-inv", "isc-rej", "isc-cert", "isc-nokey", "isc-off",
};
static const char *const profile1_chargers[] = {
    "isc-up", "isc-up-rej", "isc-up-async", "isc-up-notls", "isc-up-off",
};

#define PEM "-----BEGIN CERTIFICATE-----\\nMIIBisc...\\n-----END CERTIFICATE-----"

/* A valid request of each of the 7 (white paper edition 3). */
static struct it_action_case action_cases[] = {
    { "CertificateSigned", "{\"certificateChain\":\"" PEM "\"}" },
    { "DeleteCertificate",
      "{\"certificateHashData\":{\"hashAlgorithm\":\"SHA256\",\"issuerNameHash\":\"a1b2c3d4\","
      "\"issuerKeyHash\":\"e5f6a7b8\",\"serialNumber\":\"3A1F\"}}" },
    { "ExtendedTriggerMessage", "{\"requestedMessage\":\"SignChargePointCertificate\"}" },
    { "GetInstalledCertificateIds", "{\"certificateType\":\"CentralSystemRootCertificate\"}" },
    { "GetLog",
      "{\"log\":{\"remoteLocation\":\"https://logs.example.com/upload\","
      "\"oldestTimestamp\":\"2026-01-01T00:00:00Z\"},\"logType\":\"SecurityLog\",\"requestId\":42,"
      "\"retries\":2,\"retryInterval\":30}" },
    { "InstallCertificate", "{\"certificateType\":\"ManufacturerRootCertificate\",\"certificate\":\"" PEM "\"}" },
    { "SignedUpdateFirmware",
      "{\"requestId\":7,\"retries\":1,\"firmware\":{\"location\":\"https://fw.example.com/isc.bin\","
      "\"retrieveDateTime\":\"2026-01-01T00:00:00Z\",\"signingCertificate\":\"" PEM "\","
      "\"signature\":\"c2lnbmF0dXJl\"}}" },
};
#define N_ACTIONS (sizeof action_cases / sizeof action_cases[0])

static void action_charger(const char *action, char out[64])
{
    snprintf(out, 64, "isc-a-%s", action);
}

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    make_pki();
    db_exec("DELETE FROM commands WHERE charger_id LIKE 'isc-%'");
    db_exec("DELETE FROM audit_log WHERE resource LIKE 'isc-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'isc-%'");
    for (size_t i = 0; i < sizeof plain_chargers / sizeof plain_chargers[0]; i++)
        db_add_charger(plain_chargers[i], NULL, 0);
    for (size_t i = 0; i < sizeof profile1_chargers / sizeof profile1_chargers[0]; i++)
        db_add_charger(profile1_chargers[i], KEY1, 1);
    db_add_charger("isc-p2", KEY1, 2);
    db_add_charger("isc-p3", NULL, 3);
    for (size_t i = 0; i < N_ACTIONS; i++) {
        char id[64];
        action_charger(action_cases[i].action, id);
        db_add_charger(id, NULL, 0);
    }
    admin = api_key_create("isc-admin", "admin");
    tls_port = gw_free_port();
    char *ini = it_strf(API_UNLIMITED_INI "[ocpp]\ncall_timeout = 2\n"
                        "[server]\ntls_listen = 127.0.0.1:%d\ntls_cert = %s/server.pem\n"
                        "tls_key = %s/server.key\ntls_ca = %s/ca.pem\n",
                        tls_port, dir, dir, dir);
    struct gw_opts o = { .name = "it_security_cmds", .ini = ini };
    W.gw = gw_start(&o);
    free(ini);
    return 0;
}

static int group_teardown(void **state)
{
    free(admin);
    admin = NULL;
    return it_group_teardown(state);
}

/* ================================================================== the 7 commands */

static void test_action(void **state)
{
    const struct it_action_case *k = *state;
    char id[64];
    action_charger(k->action, id);
    struct sim_charger *c = it_connect_booted(W.sim, id, NULL);

    struct api_resp *r = command(id, k->action, k->payload);
    const cJSON *body = api_expect(r, 200);
    /* the charger got exactly that CALL, once */
    assert_int_equal(sim_calls_received(c), 1);
    assert_int_equal(sim_calls_received_action(c, k->action), 1);
    assert_int_equal(it_rec.n, 1);
    same_json(it_rec.calls[0].request, k->payload, "the payload the charger got");
    /* and the body is its answer */
    char *text = cJSON_PrintUnformatted(body);
    same_json(text, it_rec.calls[0].answer, "the 200 body");
    free(text);
    const char *cid = api_header(r, "X-Command-Id");
    assert_non_null(cid);
    /* recorded as a command of that action */
    db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM commands WHERE id = $1::uuid AND action = $2"
                               " AND outcome = 'answered'", cid, k->action);
    api_free(r);
}

static void test_certificates_install_list_delete(void **state)
{
    (void)state;
    it_connect_booted(W.sim, "isc-cert", NULL);
    static const char list_req[] = "{\"certificateType\":\"CentralSystemRootCertificate\"}";
    struct api_resp *r = command("isc-cert", "GetInstalledCertificateIds", list_req);
    api_check_str(api_expect(r, 200), "status", "NotFound");
    api_free(r);

    r = command("isc-cert", "InstallCertificate",
                "{\"certificateType\":\"CentralSystemRootCertificate\",\"certificate\":\"" PEM "\"}");
    api_check_str(api_expect(r, 200), "status", "Accepted");
    api_free(r);

    r = command("isc-cert", "GetInstalledCertificateIds", list_req);
    const cJSON *b = api_expect(r, 200);
    api_check_str(b, "status", "Accepted");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(b, "certificateHashData");
    assert_int_equal(cJSON_GetArraySize(list), 1);
    cJSON *hash = cJSON_Duplicate(cJSON_GetArrayItem(list, 0), true);
    api_free(r);
    /* not listed under the other type */
    r = command("isc-cert", "GetInstalledCertificateIds", "{\"certificateType\":\"ManufacturerRootCertificate\"}");
    api_check_str(api_expect(r, 200), "status", "NotFound");
    api_free(r);

    /* delete what the list said, then it is gone; a second delete finds nothing */
    cJSON *del = cJSON_CreateObject();
    cJSON_AddItemToObject(del, "certificateHashData", hash);
    char *del_text = cJSON_PrintUnformatted(del);
    cJSON_Delete(del);
    r = command("isc-cert", "DeleteCertificate", del_text);
    api_check_str(api_expect(r, 200), "status", "Accepted");
    api_free(r);
    r = command("isc-cert", "GetInstalledCertificateIds", list_req);
    api_check_str(api_expect(r, 200), "status", "NotFound");
    api_free(r);
    r = command("isc-cert", "DeleteCertificate", del_text);
    api_check_str(api_expect(r, 200), "status", "NotFound");
    api_free(r);
    free(del_text);
}

static void test_invalid_payload_is_422_naming_the_field(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "isc-err", NULL);
    static const struct {
        const char *action, *payload, *field;
    } cases[] = {
        { "CertificateSigned", "{}", "certificateChain" },
        { "CertificateSigned", "{\"certificateChain\":42}", "certificateChain" },
        { "InstallCertificate", "{\"certificateType\":\"SomeRoot\",\"certificate\":\"x\"}", "certificateType" },
        { "InstallCertificate", "{\"certificateType\":\"ManufacturerRootCertificate\"}", "certificate" },
        { "DeleteCertificate",
          "{\"certificateHashData\":{\"hashAlgorithm\":\"MD5\",\"issuerNameHash\":\"a\","
          "\"issuerKeyHash\":\"b\",\"serialNumber\":\"1\"}}",
          "hashAlgorithm" },
        { "DeleteCertificate",
          "{\"certificateHashData\":{\"hashAlgorithm\":\"SHA256\",\"issuerNameHash\":\"a\",\"issuerKeyHash\":\"b\"}}",
          "serialNumber" },
        { "GetInstalledCertificateIds", "{}", "certificateType" },
        { "GetLog", "{\"logType\":\"DiagnosticsLog\",\"requestId\":1}", "log" },
        { "GetLog", "{\"log\":{\"remoteLocation\":\"x\"},\"logType\":\"AllLogs\",\"requestId\":1}", "logType" },
        { "GetLog", "{\"log\":{},\"logType\":\"DiagnosticsLog\",\"requestId\":1}", "remoteLocation" },
        { "SignedUpdateFirmware", "{\"requestId\":1}", "firmware" },
        { "SignedUpdateFirmware",
          "{\"requestId\":1,\"firmware\":{\"location\":\"x\",\"retrieveDateTime\":\"soon\","
          "\"signingCertificate\":\"c\",\"signature\":\"s\"}}",
          "retrieveDateTime" },
        { "ExtendedTriggerMessage", "{\"requestedMessage\":\"Coffee\"}", "requestedMessage" },
        { "ExtendedTriggerMessage", "{\"requestedMessage\":\"Heartbeat\",\"connectorId\":\"1\"}", "connectorId" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct api_resp *r = command("isc-err", cases[i].action, cases[i].payload);
        api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", cases[i].field);
        api_free(r);
    }
    it_pause(W.sim, 100);
    assert_int_equal(sim_calls_received(c), 0);
    assert_int_equal(commands_of("isc-err"), 0);
}

static void test_invalid_answer_is_502(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "isc-inv", NULL);
    it_rec.ans.behaviour = SIM_ANSWER_INVALID;
    for (size_t i = 0; i < N_ACTIONS; i++) {
        struct api_resp *r = command("isc-inv", action_cases[i].action, action_cases[i].payload);
        api_expect_error(r, 502, "BAD_GATEWAY");
        const char *reason = js(context_of(r), "reason");
        if (!reason || !*reason)
            fail_msg("%s: 502 for an invalid answer without a reason: %s", action_cases[i].action, r->body);
        const char *cid = api_header(r, "X-Command-Id");
        assert_non_null(cid);
        db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM commands WHERE id = $1::uuid AND outcome = 'invalidAnswer'",
                    cid);
        api_free(r);
    }
    assert_int_equal(sim_calls_received(c), (int)N_ACTIONS);
}

/* The negative answers are answers: 200 with the charger's status. */
static void test_negative_answers_are_the_body(void **state)
{
    (void)state;
    it_connect_booted(W.sim, "isc-rej", NULL);
    it_rec.ans.behaviour = SIM_ANSWER_REJECT;
    static const char *const want[] = { "Rejected", "Failed", "Rejected", "NotFound", "Rejected", "Rejected",
                                        "InvalidCertificate" };
    for (size_t i = 0; i < N_ACTIONS; i++) {
        struct api_resp *r = command("isc-rej", action_cases[i].action, action_cases[i].payload);
        api_check_str(api_expect(r, 200), "status", want[i]);
        api_free(r);
    }
}

/* ================================================================== security profile */

static bool plain_refused(void *arg)
{
    struct sim_charger_opts o = { .id = arg, .password = KEY1 };
    int status = -1;
    struct sim_charger *c = it_try_connect(W.sim, &o, &status, NULL);
    if (c)
        sim_disconnect(c);
    return !c && status != 101;
}

static void test_upgrade_1_to_2(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "isc-up", KEY1);
    struct api_resp *r = upgrade("isc-up", 2);
    const cJSON *b = api_expect(r, 200);
    api_check_str(b, "status", "Accepted");
    api_check_int(b, "securityProfile", 2);
    api_check_int(b, "previousSecurityProfile", 1);
    api_check_schema(b, "SecurityProfileResult");
    const char *cid = js(b, "commandId");
    assert_non_null(cid);
    assert_string_equal(api_header(r, "X-Command-Id"), cid);
    /* the white paper's ChangeConfiguration, once */
    assert_int_equal(it_rec.n, 1);
    assert_string_equal(it_rec.calls[0].action, "ChangeConfiguration");
    same_json(it_rec.calls[0].request, "{\"key\":\"SecurityProfile\",\"value\":\"2\"}", "the CALL");
    assert_string_equal(sim_answers_config_value(c, "SecurityProfile"), "2");
    /* committed before the answer */
    assert_int_equal(profile_of("isc-up"), 2);
    db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM audit_log WHERE action = 'charger.securityProfile'"
                               " AND resource = 'isc-up' AND result = 'ok' AND detail->>'commandId' = $1", cid);
    db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM commands WHERE id = $1::uuid AND response_status = 'Accepted'",
                cid);
    api_free(r);

    /* the charger reconnects on the new profile: wss with its key gets in */
    sim_disconnect(c);
    struct sim *s = tls_sim();
    struct sim_charger_opts o = { .id = "isc-up", .password = KEY1 };
    int status = -1;
    struct sim_charger *t = it_try_connect(s, &o, &status, NULL);
    if (!t)
        fail_msg("profile 2 charger refused on the TLS listener: HTTP %d", status);
    assert_true(it_heartbeat_ok(t));
    sim_disconnect(t);
    sim_free(s);
    /* and the plain port no longer admits it (once the registry has the change) */
    if (!wait_until(W.sim, plain_refused, (void *)"isc-up", IT_WAIT_MS))
        fail_msg("a profile 2 charger still gets in without TLS");
    /* a second upgrade to 2 is no upgrade */
    r = upgrade("isc-up", 2);
    api_expect_error(r, 409, "SECURITY_PROFILE_NOT_UPGRADE");
    api_free(r);
}

static void test_upgrade_rejected_leaves_profile_1(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "isc-up-rej", KEY1);
    sim_answers_set(&it_rec.ans, "ChangeConfiguration", SIM_ANSWER_REJECT);
    struct api_resp *r = upgrade("isc-up-rej", 2);
    api_expect_error(r, 422, "SECURITY_PROFILE_REJECTED");
    api_check_str(context_of(r), "status", "Rejected");
    api_check_int(context_of(r), "securityProfile", 1);
    assert_non_null(api_header(r, "X-Command-Id"));
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "ChangeConfiguration"), 1);
    db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM audit_log WHERE action = 'charger.securityProfile'"
                               " AND resource = 'isc-up-rej' AND result = 'rejected'");
    assert_int_equal(profile_of("isc-up-rej"), 1);

    /* a CALLERROR or silence changes nothing either */
    sim_answers_set(&it_rec.ans, "ChangeConfiguration", SIM_ANSWER_CALLERROR);
    r = upgrade("isc-up-rej", 2);
    api_expect_error(r, 502, "BAD_GATEWAY");
    api_free(r);
    sim_answers_set(&it_rec.ans, "ChangeConfiguration", SIM_ANSWER_SILENCE);
    r = upgrade("isc-up-rej", 2);
    api_expect_error(r, 504, "CHARGER_TIMEOUT");
    api_free(r);
    assert_int_equal(profile_of("isc-up-rej"), 1);
    /* the charger still gets in as before */
    sim_disconnect(c);
    struct sim_charger *again = it_connect_booted(W.sim, "isc-up-rej", KEY1);
    assert_non_null(again);
}

/* Asynchronous: 202 at once, and the commit happens with nobody waiting. */
static void test_upgrade_async_commits_without_a_waiting_request(void **state)
{
    (void)state;
    it_connect_booted(W.sim, "isc-up-async", KEY1);
    static const char *const async[] = { "Prefer: respond-async", NULL };
    struct api_resp *r = upgrade_on(PORT, W.sim, "isc-up-async", 2, async);
    const cJSON *b = api_expect(r, 202);
    api_check_str(b, "action", "ChangeConfiguration");
    assert_non_null(api_header(r, "Location"));
    api_free(r);
    /* the sim answers while serviced: poll the row */
    int64_t deadline = it_now_ms() + IT_WAIT_MS;
    while (profile_of("isc-up-async") != 2 && it_now_ms() < deadline)
        it_pause(W.sim, 20);
    assert_int_equal(profile_of("isc-up-async"), 2);
}

static void test_upgrade_refused_before_sending(void **state)
{
    (void)state;
    /* a downgrade, and the same profile */
    struct api_resp *r = upgrade("isc-p3", 2);
    api_expect_error(r, 409, "SECURITY_PROFILE_NOT_UPGRADE");
    api_check_str(context_of(r), "reason", "notAnUpgrade");
    api_check_int(context_of(r), "securityProfile", 3);
    api_free(r);
    r = upgrade("isc-p2", 2);
    api_expect_error(r, 409, "SECURITY_PROFILE_NOT_UPGRADE");
    api_free(r);
    /* profile 2 for a charger without an AuthorizationKey */
    it_connect_booted(W.sim, "isc-nokey", NULL);
    r = upgrade("isc-nokey", 2);
    api_expect_error(r, 409, "SECURITY_PROFILE_PREREQUISITE");
    api_check_str(context_of(r), "reason", "noAuthorizationKey");
    api_free(r);
    /* a charger that is not connected: nothing sent, nothing changed */
    r = upgrade("isc-up-off", 2);
    api_expect_error(r, 409, "CHARGING_CHARGEPOINT_OFFLINE");
    api_free(r);
    /* bodies */
    static const struct api_bad bad[] = {
        { "{\"securityProfile\":1}", "securityProfile" },
        { "{\"securityProfile\":4}", "securityProfile" },
        { "{\"securityProfile\":\"2\"}", "securityProfile" },
        { "{}", "securityProfile" },
        { "{\"securityProfile\":2,\"force\":true}", "force" },
    };
    api_expect_bad_bodies(PORT, admin, "POST", "/v1/chargers/isc-up-off/security-profile", bad, API_COUNT(bad));
    r = upgrade("isc-nobody", 2);
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "isc-nobody");
    api_free(r);

    it_pause(W.sim, 100);
    assert_int_equal(it_rec.n, 0);
    assert_int_equal(profile_of("isc-p3"), 3);
    assert_int_equal(profile_of("isc-p2"), 2);
    assert_int_equal(profile_of("isc-nokey"), 0);
    assert_int_equal(profile_of("isc-up-off"), 1);
    assert_int_equal(commands_of("isc-nokey"), 0);
    assert_int_equal(commands_of("isc-p3"), 0);
    db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM audit_log WHERE action = 'charger.securityProfile'"
                               " AND resource = 'isc-p3' AND result = 'refused'");
}

/* SecurityProfile changes only through the upgrade: not as a plain ChangeConfiguration. */
static void test_security_profile_key_only_through_the_upgrade(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "isc-up-off", KEY1);
    struct api_resp *r = command("isc-up-off", "ChangeConfiguration", "{\"key\":\"SecurityProfile\",\"value\":\"0\"}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "security-profile");
    api_free(r);
    char *patch_path = it_strf("/v1/chargers/isc-up-off/configuration");
    struct api_req q = { .method = "PATCH", .path = patch_path, .key = admin,
                         .body = "{\"HeartbeatInterval\":60,\"SecurityProfile\":2}" };
    r = api_send(PORT, &q);
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "SecurityProfile");
    api_free(r);
    free(patch_path);
    it_pause(W.sim, 100);
    assert_int_equal(sim_calls_received(c), 0);
    assert_int_equal(profile_of("isc-up-off"), 1);
}

/* A gateway without a TLS listener refuses profiles 2 and 3. */
static void test_upgrade_needs_a_tls_listener(void **state)
{
    (void)state;
    struct gw_opts o = { .name = "it_security_cmds_plain", .ini = API_UNLIMITED_INI };
    W.gw2 = gw_start(&o);
    W.sim2 = it_sim(gw_port(W.gw2));
    sim_set_default_responder(W.sim2, it_rec_responder, NULL);
    it_connect_booted(W.sim2, "isc-up-notls", KEY1);
    for (int p = 2; p <= 3; p++) {
        struct api_resp *r = upgrade_on(gw_port(W.gw2), W.sim2, "isc-up-notls", p, NULL);
        api_expect_error(r, 409, "SECURITY_PROFILE_PREREQUISITE");
        api_check_str(context_of(r), "reason", "noTlsListener");
        api_free(r);
    }
    assert_int_equal(it_rec.n, 0);
    assert_int_equal(profile_of("isc-up-notls"), 1);
}

/* ================================================================== main */

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_rec_setup, it_rec_teardown)
    static const struct CMUnitTest others[] = {
        T(test_certificates_install_list_delete),
        T(test_invalid_payload_is_422_naming_the_field),
        T(test_invalid_answer_is_502),
        T(test_negative_answers_are_the_body),
        T(test_upgrade_1_to_2),
        T(test_upgrade_rejected_leaves_profile_1),
        T(test_upgrade_async_commits_without_a_waiting_request),
        T(test_upgrade_refused_before_sending),
        T(test_security_profile_key_only_through_the_upgrade),
        T(test_upgrade_needs_a_tls_listener),
    };
    return it_run_action_group("it_security_cmds", action_cases, N_ACTIONS, test_action, it_rec_setup, it_rec_teardown,
                               others, sizeof others / sizeof others[0], group_setup, group_teardown);
}
