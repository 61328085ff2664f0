/*
 * Security profiles 2 and 3 on the TLS listener (ocpp.md: "Profile 2 and 3
 * run on a TLS listener (OpenSSL, TLS 1.2+); profile 3 requires a client
 * certificate whose CN equals the charge point id").
 *
 * The group set-up makes a throwaway PKI with the openssl command: a CA, the
 * gateway's certificate, client certificates for the profile-3 charger and
 * for another id, and a client certificate with the right CN from a CA the
 * gateway does not trust. The gateway serves plain OCPP as usual and wss on
 * a second port with tls_ca set.
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sim.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"

#define PW2 "profile2-key-0123456789abcdef"
#define PW1 "profile1-key-0123456789abcdef"

static char dir[512];
static int tls_port;

static void sh(const char *cmd)
{
    char *full = it_strf("cd '%s' && (%s) >>openssl.log 2>&1", dir, cmd);
    int rc = system(full);
    free(full);
    if (rc != 0)
        fail_msg("openssl step failed (see %s/openssl.log): %s", dir, cmd);
}

/* A key and a certificate with that CN signed by that CA. */
static void issue(const char *name, const char *cn, const char *ca)
{
    char *cmd = it_strf("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                        "-keyout %s.key -out %s.csr -subj '/CN=%s' && "
                        "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial "
                        "-out %s.pem -days 2",
                        name, name, cn, name, ca, ca, name);
    sh(cmd);
    free(cmd);
}

static void make_ca(const char *name)
{
    char *cmd = it_strf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                        "-keyout %s.key -out %s.pem -days 2 -subj '/CN=ocppgw test %s'",
                        name, name, name);
    sh(cmd);
    free(cmd);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/tls", it_env("OCPPGW_TEST_TMP"));
    char *mk = it_strf("mkdir -p '%s'", dir);
    if (system(mk) != 0)
        return -1;
    free(mk);
    make_ca("ca");
    make_ca("rogue");
    issue("server", "127.0.0.1", "ca");
    issue("p3", "itls-p3", "ca");
    issue("other", "itls-other", "ca");
    issue("forged", "itls-p3", "rogue");

    db_add_charger("itls-p1", PW1, 1);
    db_add_charger("itls-p2", PW2, 2);
    db_add_charger("itls-p3", NULL, 3);
    tls_port = gw_free_port();
    char *ini = it_strf("[server]\ntls_listen = 127.0.0.1:%d\ntls_cert = %s/server.pem\n"
                        "tls_key = %s/server.key\ntls_ca = %s/ca.pem\n",
                        tls_port, dir, dir, dir);
    struct gw_opts o = { .name = "it_tls", .ini = ini };
    W.gw = gw_start(&o);
    free(ini);
    return 0;
}

/* A wss simulator presenting the named client certificate (NULL: none). */
static struct sim *tls_sim(const char *client)
{
    char ca[600], cert[600], key[600];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(cert, sizeof cert, "%s/%s.pem", dir, client ? client : "");
    snprintf(key, sizeof key, "%s/%s.key", dir, client ? client : "");
    struct sim_options o = { .host = "127.0.0.1", .port = tls_port, .max_chargers = 16, .quiet = true,
                             .tls = true, .tls_ca = ca, .tls_cert = client ? cert : NULL,
                             .tls_key = client ? key : NULL };
    struct sim *s = sim_new(&o);
    if (!s)
        fail_msg("sim_new (TLS) failed");
    return s;
}

/* Upgrade status of one attempt (101 on success, then the charger is closed again). */
static int attempt(struct sim *s, const char *id, const char *password)
{
    struct sim_charger_opts o = { .id = id, .password = password };
    int status = -1;
    struct sim_charger *c = it_try_connect(s, &o, &status, NULL);
    if (c) {
        assert_true(it_heartbeat_ok(c));
        sim_disconnect(c);
    }
    return status;
}

static void test_profile2_needs_tls_and_password(void **state)
{
    (void)state;
    struct sim *t = tls_sim(NULL);
    assert_int_equal(attempt(t, "itls-p2", PW2), 101);
    assert_int_equal(attempt(t, "itls-p2", "wrong-password-0123456"), 401);
    assert_int_equal(attempt(t, "itls-p2", NULL), 401);
    sim_free(t);
    /* the right password on the plain listener is not enough */
    assert_int_equal(attempt(W.sim, "itls-p2", PW2), 401);
}

static void test_profile3_needs_matching_client_certificate(void **state)
{
    (void)state;
    struct sim *good = tls_sim("p3");
    assert_int_equal(attempt(good, "itls-p3", NULL), 101);
    sim_free(good);

    struct sim *none = tls_sim(NULL);
    assert_int_equal(attempt(none, "itls-p3", NULL), 401);
    sim_free(none);

    struct sim *other = tls_sim("other"); /* valid certificate, another CN */
    assert_int_equal(attempt(other, "itls-p3", NULL), 401);
    sim_free(other);

    struct sim *forged = tls_sim("forged"); /* right CN, untrusted CA: no TLS session at all */
    int st = attempt(forged, "itls-p3", NULL);
    assert_true(st != 101);
    sim_free(forged);

    /* and never on the plain listener */
    assert_int_equal(attempt(W.sim, "itls-p3", NULL), 401);
}

static void test_profile1_works_on_both_listeners(void **state)
{
    (void)state;
    struct sim *t = tls_sim(NULL);
    assert_int_equal(attempt(t, "itls-p1", PW1), 101);
    sim_free(t);
    assert_int_equal(attempt(W.sim, "itls-p1", PW1), 101);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_profile2_needs_tls_and_password, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_profile3_needs_matching_client_certificate, it_test_setup,
                                        it_test_teardown),
        cmocka_unit_test_setup_teardown(test_profile1_works_on_both_listeners, it_test_setup, it_test_teardown),
    };
    return cmocka_run_group_tests_name("it_tls", tests, group_setup, it_group_teardown);
}
