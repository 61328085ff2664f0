/*
 * Security profiles 2 and 3 on the TLS listener (ocpp.md: "Profile 2 and 3
 * run on a TLS listener (OpenSSL, TLS 1.2+); profile 3 requires a client
 * certificate whose CN equals the charge point id").
 *
 * The group set-up makes a throwaway PKI with the openssl command: a CA, the
 * gateway's certificate, client certificates for the profile-3 charger and
 * for another id, and a client certificate with the right CN from a CA the
 * gateway does not trust. The gateway serves plain OCPP as usual and wss on
 * a second port with tls_ca set; some tests start a second gateway whose TLS
 * listener has no tls_ca (profile 2 only), and the start-up tests run
 * `ocppgw serve` with certificate files that cannot be loaded.
 *
 * The TLS listener is probed with OpenSSL directly (tls_probe): the
 * handshake, its protocol version and the ALPN protocol the gateway picks.
 */
#include "it.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sim.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "proc.h"

#define PW2 "profile2-key-0123456789abcdef"
#define PW1 "profile1-key-0123456789abcdef"

static char dir[512];
static int tls_port;

/* A key and a certificate with that CN signed by that CA. */
static void issue(const char *name, const char *cn, const char *ca)
{
    char *cmd = it_strf("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                        "-keyout %s.key -out %s.csr -subj '/CN=%s' && "
                        "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial "
                        "-out %s.pem -days 2",
                        name, name, cn, name, ca, ca, name);
    it_openssl(dir, cmd);
    free(cmd);
}

static void make_ca(const char *name)
{
    char *cmd = it_strf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                        "-keyout %s.key -out %s.pem -days 2 -subj '/CN=ocppgw test %s'",
                        name, name, name);
    it_openssl(dir, cmd);
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

/* A wss simulator on port presenting the named client certificate (NULL: none). */
static struct sim *tls_sim_on(int port, const char *client)
{
    char ca[600], cert[600], key[600];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(cert, sizeof cert, "%s/%s.pem", dir, client ? client : "");
    snprintf(key, sizeof key, "%s/%s.key", dir, client ? client : "");
    struct sim_options o = { .host = "127.0.0.1", .port = port, .max_chargers = 16, .quiet = true,
                             .tls = true, .tls_ca = ca, .tls_cert = client ? cert : NULL,
                             .tls_key = client ? key : NULL };
    struct sim *s = sim_new(&o);
    if (!s)
        fail_msg("sim_new (TLS) failed");
    return s;
}

static struct sim *tls_sim(const char *client)
{
    return tls_sim_on(tls_port, client);
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

/* ---- the listener itself: TLS always, HTTP/1.1 only, bad files stop the start ---- */

struct tls_result {
    bool handshake;             /* the TLS handshake completed */
    int version;                /* SSL_version() of the session */
    char alpn[32];              /* the protocol the server selected; "" = none */
};

/*
 * A TLS handshake with 127.0.0.1:port, verifying the gateway's certificate
 * against the test CA, offering alpn (wire format: length-prefixed names;
 * NULL = no ALPN extension).
 */
static struct tls_result tls_probe(int port, const unsigned char *alpn, unsigned alpn_len)
{
    struct tls_result r = { 0 };
    char ca[600];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (alpn)
        assert_int_equal(SSL_CTX_set_alpn_protos(ctx, alpn, alpn_len), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
        r.handshake = true;
        r.version = SSL_version(ssl);
        const unsigned char *sel = NULL;
        unsigned sel_len = 0;
        SSL_get0_alpn_selected(ssl, &sel, &sel_len);
        if (sel && sel_len < sizeof r.alpn) {
            memcpy(r.alpn, sel, sel_len);
            r.alpn[sel_len] = '\0';
        }
        SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return r;
}

/* What a TLS listener on port must do whatever its client-certificate set-up. */
static void check_listener_speaks_tls(int port)
{
    struct tls_result r = tls_probe(port, NULL, 0);
    assert_true(r.handshake);
    assert_true(r.version >= TLS1_2_VERSION);
    /* plain HTTP on the TLS port gets no answer */
    assert_int_equal(http_get(port, "/healthz", NULL), -1);
    /* a profile 2 charger connects over wss with its password */
    struct sim *t = tls_sim_on(port, NULL);
    assert_int_equal(attempt(t, "itls-p2", PW2), 101);
    assert_int_equal(attempt(t, "itls-p2", "wrong-password-0123456"), 401);
    sim_free(t);
}

/* ALPN: only http/1.1 is ever selected (no HTTP/2 websockets past the upgrade checks). */
static void check_listener_refuses_h2(int port)
{
    static const unsigned char h2_only[] = "\x02h2";
    static const unsigned char h2_and_h1[] = "\x02h2\x08http/1.1";
    struct tls_result r = tls_probe(port, h2_and_h1, sizeof h2_and_h1 - 1);
    assert_true(r.handshake);
    assert_string_equal(r.alpn, "http/1.1");
    r = tls_probe(port, h2_only, sizeof h2_only - 1);
    assert_string_not_equal(r.alpn, "h2"); /* no protocol in common, or no handshake */
}

static void test_tls_listener_with_ca_speaks_only_tls(void **state)
{
    (void)state;
    check_listener_speaks_tls(tls_port);
}

/* Defect: without tls_ca the TLS listener served plain HTTP and ws. */
static int start_without_ca(void)
{
    int port = gw_free_port();
    char *ini = it_strf("[server]\ntls_listen = 127.0.0.1:%d\ntls_cert = %s/server.pem\n"
                        "tls_key = %s/server.key\n", port, dir, dir);
    struct gw_opts o = { .name = "it_tls_noca", .ini = ini };
    W.gw2 = gw_start(&o);
    free(ini);
    return port;
}

static void test_tls_listener_without_ca_speaks_only_tls(void **state)
{
    (void)state;
    int port = start_without_ca();
    check_listener_speaks_tls(port);
    /* no client certificates without a CA: profile 3 cannot connect */
    struct sim *p3 = tls_sim_on(port, "p3");
    assert_int_equal(attempt(p3, "itls-p3", NULL), 401);
    sim_free(p3);
}

/* The start-up line names every listener, the TLS one with whether it asks
 * for client certificates (issue 10: the operator reads where TLS is served). */
static void test_startup_log_names_the_tls_listener(void **state)
{
    (void)state;
    char *with_ca = it_strf("OCPP over TLS on 127.0.0.1:%d (client certificates)", tls_port);
    if (!gw_log_contains(W.gw, with_ca))
        fail_msg("the start-up log does not say \"%s\" (log %s)", with_ca, gw_log_path(W.gw));
    int port = start_without_ca();
    char *without_ca = it_strf("OCPP over TLS on 127.0.0.1:%d (no client certificates)", port);
    if (!gw_log_contains(W.gw2, without_ca))
        fail_msg("the start-up log does not say \"%s\" (log %s)", without_ca, gw_log_path(W.gw2));
    assert_true(gw_log_contains(W.gw, "serving OCPP on 127.0.0.1:"));
    free(with_ca);
    free(without_ca);
}

static void test_tls_listener_negotiates_http11_only(void **state)
{
    (void)state;
    check_listener_refuses_h2(tls_port);
    check_listener_refuses_h2(start_without_ca());
}

/*
 * `ocppgw serve` with this TLS set-up must exit non-zero before serving,
 * its last line on stderr naming the problem (`expect`).
 */
static void check_start_fails(const char *cert, const char *key, const char *ca, const char *expect)
{
    char conf[600];
    snprintf(conf, sizeof conf, "%s/bad-tls.conf", dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "[server]\ntls_listen = 127.0.0.1:%d\ntls_cert = %s\ntls_key = %s\n%s%s%s\n"
               "[log]\nlevel = info\nformat = text\n",
            gw_free_port(), cert, key, ca ? "tls_ca = " : "", ca ? ca : "", ca ? "\n" : "");
    fclose(f);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", gw_free_port());
    const char *argv[] = { it_env("OCPPGW_BIN"), "serve", "--config", conf, "--db", it_env("OCPPGW_TEST_DB"),
                           "--listen", listen, NULL };
    const char *env[] = { "DATABASE_URL", "OCPPGW_LISTEN", "OCPPGW_API_LISTEN", "OCPPGW_LOG_LEVEL", NULL };
    struct proc_result r;
    proc_run(argv, env, 30000, &r);
    if (r.status <= 0 || !strstr(r.err, expect) || strstr(r.err, "serving"))
        fail_msg("serve with %s / %s: exit %d, stderr:\n%s\n(expected a failure naming '%s')", cert, key,
                 r.status, r.err, expect);
    /* the reason is one line, the last one */
    size_t n = strlen(r.err);
    while (n && r.err[n - 1] == '\n')
        r.err[--n] = '\0';
    const char *last = strrchr(r.err, '\n');
    assert_non_null(strstr(last ? last + 1 : r.err, expect));
    proc_result_free(&r);
}

static void test_start_fails_when_tls_files_cannot_be_loaded(void **state)
{
    (void)state;
    it_openssl(dir, "printf 'not a certificate\\n' > garbage.pem");
    char cert[600], key[600], other_key[600], missing[600], garbage[600], ca[600];
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(other_key, sizeof other_key, "%s/other.key", dir);
    snprintf(missing, sizeof missing, "%s/no-such-file.pem", dir);
    snprintf(garbage, sizeof garbage, "%s/garbage.pem", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    check_start_fails(missing, key, NULL, "server.tls_cert");
    check_start_fails(garbage, key, NULL, "server.tls_cert");
    check_start_fails(cert, missing, NULL, "server.tls_key");
    check_start_fails(cert, garbage, NULL, "server.tls_key");
    check_start_fails(cert, other_key, NULL, "does not match the certificate");
    check_start_fails(cert, key, missing, "server.tls_ca");
    /* a key file the process cannot read (as root every file is readable: skip) */
    if (geteuid() != 0) {
        it_openssl(dir, "cp server.key unreadable.key && chmod 000 unreadable.key");
        char unreadable[600];
        snprintf(unreadable, sizeof unreadable, "%s/unreadable.key", dir);
        check_start_fails(cert, unreadable, NULL, "server.tls_key");
    }
    (void)ca;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_profile2_needs_tls_and_password, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_profile3_needs_matching_client_certificate, it_test_setup,
                                        it_test_teardown),
        cmocka_unit_test_setup_teardown(test_profile1_works_on_both_listeners, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_tls_listener_with_ca_speaks_only_tls, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_tls_listener_without_ca_speaks_only_tls, it_test_setup,
                                        it_test_teardown),
        cmocka_unit_test_setup_teardown(test_tls_listener_negotiates_http11_only, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_startup_log_names_the_tls_listener, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_start_fails_when_tls_files_cannot_be_loaded, it_test_setup,
                                        it_test_teardown),
    };
    return cmocka_run_group_tests_name("it_tls", tests, group_setup, it_group_teardown);
}
