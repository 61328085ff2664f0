/*
 * Integration: the charger-initiated messages of the OCPP 1.6 Security
 * Extension (white paper edition 3) end to end, with the simulator.
 *
 *  - SecurityEventNotification answered {} and listed by
 *    GET /v1/chargers/{id}/security-events (cursor pages, newest first),
 *    which a key limited to other chargers cannot read;
 *  - SignedFirmwareStatusNotification and LogStatusNotification answered {}
 *    and shown on the charger resource (status, requestId, time);
 *  - SignCertificate with a CA configured: Accepted, then a CertificateSigned
 *    command of the gateway's own arrives whose chain verifies against the
 *    test CA for client authentication, with CN = the charger id; a CSR for
 *    another CN or organization gets Accepted but no certificate (a
 *    "csr_rejected" security event instead); without a CA: Rejected;
 *  - payloads that break the schemas get the CALLERROR the spec names.
 *
 * The CA is made here with OpenSSL, in OCPPGW_TEST_TMP. Charger ids start
 * with "isx-".
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "proc.h"
#include "sim.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)
#define ORG "ISX Charging Ltd"

static char *admin;
static char ca_dir[400], ca_cert_path[512], ca_key_path[512];
static X509 *ca_cert;
static EVP_PKEY *ca_key;
static struct sim_answers answers;

/* ---------------------------------------------------------------- the test CA */

static void make_ca(void)
{
    snprintf(ca_dir, sizeof ca_dir, "%s/security_ext", it_env("OCPPGW_TEST_TMP"));
    mkdir(ca_dir, 0700);
    snprintf(ca_cert_path, sizeof ca_cert_path, "%s/ca.pem", ca_dir);
    snprintf(ca_key_path, sizeof ca_key_path, "%s/ca.key", ca_dir);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)ORG, -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"ISX Test CA", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    const char *exts[][2] = { { "basicConstraints", "critical,CA:TRUE" },
                              { "keyUsage", "critical,keyCertSign,cRLSign" },
                              { "subjectKeyIdentifier", "hash" } };
    for (size_t i = 0; i < 3; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i][0], exts[i][1]);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    FILE *f = fopen(ca_cert_path, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(ca_key_path, "w");
    assert_non_null(f);
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    chmod(ca_key_path, 0600);
    ca_key = k;
    ca_cert = x;
}

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM security_events WHERE charger_id LIKE 'isx-%'");
    db_exec("DELETE FROM charger_events WHERE charger_id LIKE 'isx-%'");
    db_exec("DELETE FROM commands WHERE charger_id LIKE 'isx-%'");
    db_exec("DELETE FROM chargers WHERE id LIKE 'isx-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'isx-%'");
    const char *chargers[] = { "isx-ev", "isx-page", "isx-other", "isx-fw", "isx-cert", "isx-cn", "isx-noca",
                               "isx-bad", "isx-p3", "isx-sim-000001", "isx-sim-000002", "isx-sim-000003" };
    for (size_t i = 0; i < sizeof chargers / sizeof chargers[0]; i++)
        db_add_charger(chargers[i], NULL, 0);
    make_ca();
    admin = api_key_create("isx-admin", "admin");
    char *ini = it_strf(API_UNLIMITED_INI "[security]\nca_cert = %s\nca_key = %s\norganization = " ORG "\n",
                        ca_cert_path, ca_key_path);
    struct gw_opts o = { .name = "it_security_ext", .ini = ini };
    W.gw = gw_start(&o);
    free(ini);
    sim_answers_init(&answers);
    return 0;
}

static int group_teardown(void **state)
{
    free(admin);
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    return it_group_teardown(state);
}

static struct sim_charger *connect_booted(struct sim *s, const char *id)
{
    sim_set_default_responder(s, sim_answers_responder, &answers);
    return it_connect_booted(s, id, NULL);
}

/* The CALLRESULT payload of a reply frame (fails on anything else); caller deletes the frame. */
static const cJSON *result_of(cJSON *f, const char *what)
{
    if (!f || frame_type(f) != 3)
        fail_msg("%s: expected a CALLRESULT, got %s", what, f ? frame_text(f) : "nothing");
    return frame_payload(f);
}

static void expect_empty_result(char *reply, const char *what)
{
    cJSON *f = it_parse(reply);
    const cJSON *p = result_of(f, what);
    if (!cJSON_IsObject(p) || cJSON_GetArraySize(p) != 0)
        fail_msg("%s: expected {}, got %s", what, frame_text(f));
    cJSON_Delete(f);
}

/* ---------------------------------------------------------------- SecurityEventNotification */

static void test_security_event_stored_and_listed(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted(W.sim, "isx-ev");
    expect_empty_result(sim_security_event(c, "FirmwareUpdated", "2024-05-01T12:00:00+02:00", "to 2.1.0",
                                           IT_CALL_MS),
                        "SecurityEventNotification");
    expect_empty_result(sim_security_event(c, "TamperDetectionActivated", NULL, NULL, IT_CALL_MS),
                        "SecurityEventNotification without techInfo");
    assert_int_equal(db_wait_int(IT_WAIT_MS, 2, "SELECT count(*) FROM security_events WHERE charger_id = 'isx-ev'"),
                     2);

    struct api_resp *r = api_get(PORT, admin, "/v1/chargers/isx-ev/security-events");
    const cJSON *body = api_expect(r, 200);
    api_check_schema(body, "SecurityEventList");
    const cJSON *data = api_data(body);
    assert_int_equal(cJSON_GetArraySize(data), 2);
    /* newest first */
    const cJSON *e = cJSON_GetArrayItem(data, 0);
    api_check_str(e, "chargerId", "isx-ev");
    api_check_str(e, "type", "TamperDetectionActivated");
    api_check_null(e, "techInfo");
    e = cJSON_GetArrayItem(data, 1);
    api_check_str(e, "type", "FirmwareUpdated");
    api_check_str(e, "timestamp", "2024-05-01T10:00:00Z");
    api_check_str(e, "techInfo", "to 2.1.0");
    assert_non_null(js(e, "receivedAt"));
    api_free(r);

    r = api_get(PORT, admin, "/v1/chargers/isx-ev/security-events?type=FirmwareUpdated");
    assert_int_equal(cJSON_GetArraySize(api_data(api_expect(r, 200))), 1);
    api_free(r);
    r = api_get(PORT, admin, "/v1/chargers/isx-nope/security-events");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    sim_disconnect(c);
}

static void test_security_events_pages_and_restricted_key(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted(W.sim, "isx-page");
    for (int i = 0; i < 5; i++) {
        char info[32];
        snprintf(info, sizeof info, "event %d", i);
        expect_empty_result(sim_security_event(c, "SettingSystemTime", NULL, info, IT_CALL_MS), "event");
    }
    assert_int_equal(
        db_wait_int(IT_WAIT_MS, 5, "SELECT count(*) FROM security_events WHERE charger_id = 'isx-page'"), 5);
    int pages = 0;
    cJSON *all = api_walk(PORT, admin, "/v1/chargers/isx-page/security-events?perPage=2", 10, &pages);
    assert_int_equal(cJSON_GetArraySize(all), 5);
    assert_int_equal(pages, 3);
    for (int i = 0; i < 5; i++) {
        char info[32];
        snprintf(info, sizeof info, "event %d", 4 - i);
        api_check_str(cJSON_GetArrayItem(all, i), "techInfo", info);
    }
    cJSON_Delete(all);

    /* a key for isx-other only: not isx-page's events */
    char *limited = api_key_create_limited("isx-limited", "chargers:read", "isx-other");
    api_key_wait_known(PORT, limited);
    struct api_resp *r = api_get(PORT, limited, "/v1/chargers/isx-page/security-events");
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    r = api_get(PORT, limited, "/v1/chargers/isx-other/security-events");
    assert_int_equal(cJSON_GetArraySize(api_data(api_expect(r, 200))), 0);
    api_free(r);
    /* a key without chargers:read */
    char *tokens = api_key_create("isx-tokens", "tokens:read");
    api_key_wait_known(PORT, tokens);
    r = api_get(PORT, tokens, "/v1/chargers/isx-page/security-events");
    assert_int_equal(r->status, 403);
    api_free(r);
    free(tokens);
    free(limited);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- status notifications */

static void test_signed_firmware_and_log_status_on_the_charger(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted(W.sim, "isx-fw");
    expect_empty_result(sim_signed_firmware_status(c, "SignatureVerified", 17, IT_CALL_MS),
                        "SignedFirmwareStatusNotification");
    expect_empty_result(sim_log_status(c, "Uploading", 9, IT_CALL_MS), "LogStatusNotification");
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM chargers WHERE id = 'isx-fw'"
                                 " AND signed_firmware_status = 'SignatureVerified' AND log_status = 'Uploading'"),
                     1);
    struct api_resp *r = api_get(PORT, admin, "/v1/chargers/isx-fw");
    const cJSON *ch = api_expect(r, 200);
    api_check_schema(ch, "Charger");
    api_check_str(ch, "signedFirmwareStatus", "SignatureVerified");
    api_check_int(ch, "signedFirmwareRequestId", 17);
    assert_non_null(js(ch, "signedFirmwareStatusAt"));
    api_check_str(ch, "logStatus", "Uploading");
    api_check_int(ch, "logRequestId", 9);
    assert_non_null(js(ch, "logStatusAt"));
    api_free(r);

    /* Idle carries no requestId: the last status replaces the request too */
    expect_empty_result(sim_log_status(c, "Idle", -1, IT_CALL_MS), "LogStatusNotification Idle");
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM chargers WHERE id = 'isx-fw'"
                                 " AND log_status = 'Idle' AND log_request_id IS NULL"),
                     1);
    r = api_get(PORT, admin, "/v1/chargers/isx-fw");
    ch = api_expect(r, 200);
    api_check_str(ch, "logStatus", "Idle");
    api_check_null(ch, "logRequestId");
    api_check_str(ch, "signedFirmwareStatus", "SignatureVerified");
    api_free(r);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- SignCertificate */

static const char *sign_certificate_status(struct sim_charger *c, const char *csr, char *buf, size_t cap)
{
    cJSON *f = it_parse(sim_sign_certificate(c, csr, IT_CALL_MS));
    snprintf(buf, cap, "%s", js(result_of(f, "SignCertificate"), "status") ? js(frame_payload(f), "status") : "");
    cJSON_Delete(f);
    return buf;
}

static bool chain_arrived(void *arg)
{
    return sim_answers_certificate_chain(arg) != NULL;
}

static bool certificate_command_completed(void *arg)
{
    (void)arg;
    return db_try_int_equals(1, (const char *const[]){
        "SELECT count(*) FROM commands WHERE charger_id = 'isx-cert' AND action = 'CertificateSigned'"
        " AND state = 'completed' AND response_status = 'Accepted' AND api_key_id IS NULL"
        " AND origin = 'gateway'", NULL });
}

static void name_is(const X509_NAME *n, int nid, const char *want)
{
    char buf[256];
    if (X509_NAME_get_text_by_NID((X509_NAME *)n, nid, buf, sizeof buf) <= 0)
        fail_msg("no %s in the subject", OBJ_nid2sn(nid));
    assert_string_equal(buf, want);
}

static void test_sign_certificate_issues_a_chain_that_verifies(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted(W.sim, "isx-cert");
    char *key_pem = NULL;
    char *csr = sim_csr_new("isx-cert", ORG, &key_pem);
    assert_non_null(csr);
    char st[32];
    assert_string_equal(sign_certificate_status(c, csr, st, sizeof st), "Accepted");
    if (!wait_until(W.sim, chain_arrived, c, IT_WAIT_MS))
        fail_msg("no CertificateSigned arrived");
    const char *chain = sim_answers_certificate_chain(c);

    BIO *b = BIO_new_mem_buf(chain, -1);
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    X509 *second = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(leaf);
    assert_non_null(second);
    assert_int_equal(X509_cmp(second, ca_cert), 0);
    name_is(X509_get_subject_name(leaf), NID_commonName, "isx-cert");
    name_is(X509_get_subject_name(leaf), NID_organizationName, ORG);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca_cert)), 0);
    /* the charger's own key: the one it made the CSR with */
    BIO *kb = BIO_new_mem_buf(key_pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    BIO_free(kb);
    assert_int_equal(X509_check_private_key(leaf, k), 1);
    EVP_PKEY_free(k);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, ca_cert);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, NULL);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(ctx) != 1)
        fail_msg("chain does not verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(leaf);
    X509_free(second);

    /* it went out as a command of the gateway's own, in the charger's history (the sim
     * is serviced meanwhile: its answer to CertificateSigned may still be in its outbox) */
    if (!wait_until(W.sim, certificate_command_completed, NULL, IT_WAIT_MS))
        fail_msg("the CertificateSigned command of isx-cert never completed");
    struct api_resp *r = api_get(PORT, admin, "/v1/chargers/isx-cert/commands");
    const cJSON *data = api_data(api_expect(r, 200));
    assert_int_equal(api_count_with(data, "action", "CertificateSigned"), 1);
    api_check_str(cJSON_GetArrayItem(data, 0), "responseStatus", "Accepted");
    api_check_null(cJSON_GetArrayItem(data, 0), "apiKeyId");
    api_check_str(cJSON_GetArrayItem(data, 0), "origin", "gateway");
    api_free(r);
    free(csr);
    free(key_pem);
    sim_disconnect(c);
}

static void test_sign_certificate_for_another_subject_gets_nothing(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted(W.sim, "isx-cn");
    char st[32];
    char *other_cn = sim_csr_new("isx-cert", ORG, NULL);
    char *other_org = sim_csr_new("isx-cn", "Somebody Else", NULL);
    /* the refusals are stored as the charger's security events: the positive marker that each was
     * decided (one CSR of a charger is signed at a time: the second waits for the first's outcome) */
    assert_string_equal(sign_certificate_status(c, other_cn, st, sizeof st), "Accepted");
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM charger_events WHERE charger_id = 'isx-cn'"
                                 " AND kind = 'csr_rejected'"),
                     1);
    assert_string_equal(sign_certificate_status(c, other_org, st, sizeof st), "Accepted");
    assert_int_equal(db_wait_int(IT_WAIT_MS, 2,
                                 "SELECT count(*) FROM charger_events WHERE charger_id = 'isx-cn'"
                                 " AND kind = 'csr_rejected'"),
                     2);
    assert_int_equal(db_int("SELECT count(*) FROM charger_events WHERE charger_id = 'isx-cn'"
                            " AND kind = 'csr_rejected' AND detail LIKE '%CN%'"),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM charger_events WHERE charger_id = 'isx-cn'"
                            " AND kind = 'csr_rejected' AND detail LIKE '%O must be%'"),
                     1);
    /* a heartbeat round trip after the decisions: a CertificateSigned would have come before it */
    assert_true(it_heartbeat_ok(c));
    assert_int_equal(sim_calls_received_action(c, "CertificateSigned"), 0);
    assert_null(sim_answers_certificate_chain(c));
    assert_int_equal(db_int("SELECT count(*) FROM commands WHERE charger_id = 'isx-cn'"), 0);
    free(other_cn);
    free(other_org);
    sim_disconnect(c);
}

static void test_sign_certificate_without_ca_is_rejected(void **state)
{
    (void)state;
    struct gw_opts o = { .name = "it_security_ext-noca", .ini = API_UNLIMITED_INI };
    W.gw2 = gw_start(&o);
    W.sim2 = it_sim(gw_port(W.gw2));
    struct sim_charger *c = connect_booted(W.sim2, "isx-noca");
    char *csr = sim_csr_new("isx-noca", ORG, NULL);
    char st[32];
    assert_string_equal(sign_certificate_status(c, csr, st, sizeof st), "Rejected");
    assert_true(it_heartbeat_ok(c));
    assert_int_equal(sim_calls_received_action(c, "CertificateSigned"), 0);
    free(csr);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- the white paper's way to profile 3 */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The gateway's TLS certificate (CN and IP 127.0.0.1), issued by the test CA, into dir/server.{pem,key}. */
static void make_server_cert(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 43);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1",
                               -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca_cert));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca_cert, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, "subjectAltName", "IP:127.0.0.1");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
    char *path = it_strf("%s/server.pem", ca_dir);
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    free(path);
    path = it_strf("%s/server.key", ca_dir);
    f = fopen(path, "w");
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    free(path);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* Upgrade status of one attempt on s (101: it was open, then closed again); heartbeat: it must answer one. */
static int attempt_on(struct sim *s, const char *id, bool heartbeat)
{
    struct sim_charger_opts o = { .id = id };
    int status = -1;
    struct sim_charger *c = it_try_connect(s, &o, &status, NULL);
    if (c) {
        if (heartbeat)
            assert_true(it_heartbeat_ok(c));
        sim_disconnect(c);
    }
    return status;
}

static int attempt(struct sim *s, const char *id)
{
    return attempt_on(s, id, true);
}

struct plain_refused {
    struct sim *s;
};

/* The registry has the charger at profile 3: the plain listener refuses it. */
static bool plain_refused(void *arg)
{
    struct plain_refused *p = arg;
    /* no heartbeat: a connection admitted on the old profile is closed (1008) when the change arrives */
    return attempt_on(p->s, "isx-p3", false) == 401;
}

/*
 * The white paper's upgrade to profile 3 in its certificate part: a charger
 * asks for a certificate, gets it from the gateway's CA, and with it (the
 * gateway's CA being its server.tls_ca too) connects as a profile-3 charger.
 */
static void test_issued_certificate_admits_profile_3(void **state)
{
    (void)state;
    make_server_cert();
    int tls_port = gw_free_port();
    char *ini = it_strf(API_UNLIMITED_INI "[server]\ntls_listen = 127.0.0.1:%d\ntls_cert = %s/server.pem\n"
                        "tls_key = %s/server.key\ntls_ca = %s\n"
                        "[security]\nca_cert = %s\nca_key = %s\norganization = " ORG "\n",
                        tls_port, ca_dir, ca_dir, ca_cert_path, ca_cert_path, ca_key_path);
    struct gw_opts o = { .name = "it_security_ext-p3", .ini = ini };
    W.gw2 = gw_start(&o);
    free(ini);
    W.sim2 = it_sim(gw_port(W.gw2));

    struct sim_charger *c = connect_booted(W.sim2, "isx-p3");
    char *key_pem = NULL;
    char *csr = sim_csr_new("isx-p3", ORG, &key_pem);
    char st[32];
    assert_string_equal(sign_certificate_status(c, csr, st, sizeof st), "Accepted");
    if (!wait_until(W.sim2, chain_arrived, c, IT_WAIT_MS))
        fail_msg("no CertificateSigned arrived");
    char *cert_path = it_strf("%s/isx-p3.pem", ca_dir), *key_path = it_strf("%s/isx-p3.key", ca_dir);
    write_file(cert_path, sim_answers_certificate_chain(c));
    write_file(key_path, key_pem);
    sim_disconnect(c);

    db_exec("UPDATE chargers SET security_profile = 3 WHERE id = 'isx-p3'");
    struct plain_refused pr = { W.sim2 };
    if (!wait_until(NULL, plain_refused, &pr, IT_WAIT_MS))
        fail_msg("the gateway never saw isx-p3 at profile 3");

    struct sim_options so = { .host = "127.0.0.1", .port = tls_port, .max_chargers = 4, .quiet = true,
                              .tls = true, .tls_ca = ca_cert_path, .tls_cert = cert_path, .tls_key = key_path };
    struct sim *with_cert = sim_new(&so);
    assert_non_null(with_cert);
    assert_int_equal(attempt(with_cert, "isx-p3"), 101);
    sim_free(with_cert);
    so.tls_cert = so.tls_key = NULL;
    struct sim *without = sim_new(&so);
    assert_non_null(without);
    assert_int_equal(attempt(without, "isx-p3"), 401);
    sim_free(without);
    free(cert_path);
    free(key_path);
    free(csr);
    free(key_pem);
}

/* The load generator's fleet asks for certificates too (ocppsim --sign-certificate). */
static void test_ocppsim_fleet_gets_certificates(void **state)
{
    (void)state;
    char port[16];
    snprintf(port, sizeof port, "%d", PORT);
    const char *argv[] = { it_env("OCPPGW_SIM"), "--host", "127.0.0.1", "--port", port, "--chargers", "3",
                           "--mode", "serve", "--prefix", "isx-sim-", "--boot", "--quiet",
                           "--sign-certificate", ORG, "--duration", "8", NULL };
    struct proc_result pr;
    proc_run(argv, NULL, 60000, &pr);
    if (pr.status != 0 || !strstr(pr.out, "certificates=3"))
        fail_msg("ocppsim exited %d:\n%s\n%s", pr.status, pr.out, pr.err);
    proc_result_free(&pr);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 3,
                                 "SELECT count(*) FROM commands WHERE charger_id LIKE 'isx-sim-%'"
                                 " AND action = 'CertificateSigned' AND origin = 'gateway'"),
                     3);
}

/* ---------------------------------------------------------------- schema violations */

static void expect_callerror(struct sim_charger *c, const char *action, const char *payload, const char *code)
{
    char *got = it_err(c, action, payload);
    if (strcmp(got, code) != 0)
        fail_msg("%s %s: expected %s, got %s", action, payload, code, got);
    free(got);
}

static void test_schema_violations(void **state)
{
    (void)state;
    struct sim_charger *c = connect_booted(W.sim, "isx-bad");
    expect_callerror(c, "SecurityEventNotification", "{\"type\":\"FirmwareUpdated\"}",
                     "OccurenceConstraintViolation");
    expect_callerror(c, "SecurityEventNotification",
                     "{\"type\":\"FirmwareUpdated\",\"timestamp\":\"yesterday\"}", "TypeConstraintViolation");
    expect_callerror(c, "SecurityEventNotification",
                     "{\"type\":\"123456789012345678901234567890123456789012345678901\","
                     "\"timestamp\":\"2024-05-01T12:00:00Z\"}",
                     "PropertyConstraintViolation");
    expect_callerror(c, "SecurityEventNotification",
                     "{\"type\":\"X\",\"timestamp\":\"2024-05-01T12:00:00Z\",\"extra\":1}",
                     "FormationViolation");
    expect_callerror(c, "SignedFirmwareStatusNotification", "{\"status\":\"Exploded\"}",
                     "TypeConstraintViolation");
    expect_callerror(c, "SignedFirmwareStatusNotification", "{\"requestId\":1}", "OccurenceConstraintViolation");
    expect_callerror(c, "LogStatusNotification", "{\"status\":\"Uploaded\",\"requestId\":\"7\"}",
                     "TypeConstraintViolation");
    expect_callerror(c, "SignCertificate", "{}", "OccurenceConstraintViolation");
    expect_callerror(c, "SignCertificate", "{\"csr\":5}", "TypeConstraintViolation");
    char *big = malloc(5600);
    memset(big, 'A', 5520);
    big[5520] = '\0';
    char *payload = it_strf("{\"csr\":\"%s\"}", big);
    expect_callerror(c, "SignCertificate", payload, "PropertyConstraintViolation");
    free(payload);
    free(big);
    /* nothing of it was stored */
    assert_true(it_heartbeat_ok(c));
    assert_int_equal(db_int("SELECT count(*) FROM security_events WHERE charger_id = 'isx-bad'"), 0);
    sim_disconnect(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_security_event_stored_and_listed),
        T(test_security_events_pages_and_restricted_key),
        T(test_signed_firmware_and_log_status_on_the_charger),
        T(test_sign_certificate_issues_a_chain_that_verifies),
        T(test_sign_certificate_for_another_subject_gets_nothing),
        T(test_sign_certificate_without_ca_is_rejected),
        T(test_issued_certificate_admits_profile_3),
        T(test_ocppsim_fleet_gets_certificates),
        T(test_schema_violations),
    };
#undef T
    return cmocka_run_group_tests_name("it_security_ext", tests, group_setup, group_teardown);
}
