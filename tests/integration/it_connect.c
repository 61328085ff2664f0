/*
 * Integration: the websocket upgrade and the connection's life, against the
 * real gateway and database. Path and charger id rules, subprotocol
 * negotiation, unknown chargers (404, or a new row with --auto-register),
 * security profile 1 (HTTP Basic: 401, counted in /metrics, throttled per
 * IP with 429 while the charger's live connection keeps working), a second
 * connection replacing the first only once authenticated, connect and
 * disconnect times in table chargers, and the frame limit (1009). The
 * log: values from outside cannot forge lines, and a flood of identical bad
 * frames from one socket makes a bounded number of lines.
 *
 * Charger ids start with "ic-". Failed-auth attempts come from their own
 * loopback addresses (127.0.0.x) so the per-IP throttle of one test does
 * not touch another.
 */
#include "it.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cJSON.h>
#include <sim.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "support/rest.h"

#define PW_GOOD   "00112233445566778899aabbccddeeff00112233"
#define PW_OTHER  "ffeeddccbbaa99887766554433221100ffeeddcc"
#define AUTH_FAIL_MAX 3

static const char ID48[] = "ic-0123456789012345678901234567890123456789abcde";     /* 48 chars */
static const char ID49[] = "ic-0123456789012345678901234567890123456789abcdef";    /* 49 chars */

static int group_setup(void **state)
{
    (void)state;
    db_add_charger("ic-plain", NULL, 0);
    db_add_charger("ic-pct", NULL, 0);
    db_add_charger("ic-sub", NULL, 0);
    db_add_charger("ic-times", NULL, 0);
    db_add_charger("ic-frame", NULL, 0);
    db_add_charger(ID48, NULL, 0);
    db_add_charger("ic-pw", PW_GOOD, 1);
    db_add_charger("ic-thr", PW_GOOD, 1);
    db_add_charger("ic-dup", PW_GOOD, 1);
    db_add_charger("ic-dup2", PW_GOOD, 1);
    db_add_charger("ic-log", NULL, 0);
    db_add_charger("ic-h2a", NULL, 0);
    db_add_charger("ic-h2b", PW_GOOD, 1);
    db_add_charger("ic-flood", NULL, 0);
    db_add_charger("ic-nat1", PW_GOOD, 1);
    db_add_charger("ic-nat2", PW_GOOD, 1);
    db_add_token("IC\nTAG\x1b[2J", "Accepted", NULL, NULL);
    db_exec("DELETE FROM chargers WHERE id LIKE 'ic-auto%'");
    struct gw_opts o = {
        .name = "it_connect",
        .ini = "[ocpp]\n"
               "max_frame = 4096\n"
               "auth_fail_max = 3\n"
               "auth_fail_window = 60\n"
               "auth_block = 60\n",
    };
    W.gw = gw_start(&o);
    return 0;
}

/* Tries to connect with the options; returns the HTTP status (101 on success) and closes. */
static int upgrade_status(struct sim *s, const struct sim_charger_opts *o)
{
    int status;
    struct sim_charger *c = it_try_connect(s, o, &status, NULL);
    if (c) {
        sim_disconnect(c);
        return 101;
    }
    return status;
}

/*
 * OCPP-J 1.6 section 3: a server that does not speak the offered
 * subprotocol refuses the websocket. The gateway's refusal, exactly: HTTP
 * 400 with the reason as one line of text/plain, as a client library sees
 * it (no websocket, status 400) and on the wire (the same upgrade request
 * sent by hand: Sec-WebSocket-Protocol as offered, none when ""). A gateway
 * that is down, answers 500, or completes the handshake fails it.
 */
static void assert_refused_subprotocol(struct sim *s, int port, const struct sim_charger_opts *o,
                                       const char *reason)
{
    int status;
    char proto[64] = "";
    struct sim_charger *c = it_try_connect(s, o, &status, proto);
    if (c) {
        sim_disconnect(c);
        fail_msg("offered \"%s\": the upgrade succeeded (subprotocol \"%s\") instead of a refusal",
                 o->subprotocols, proto);
    }
    if (status != 400)
        fail_msg("offered \"%s\": the upgrade failed with HTTP %d, expected the refusal 400", o->subprotocols,
                 status);

    char offer[128] = "";
    if (o->subprotocols && *o->subprotocols)
        snprintf(offer, sizeof offer, "Sec-WebSocket-Protocol: %s\r\n", o->subprotocols);
    char *req = it_strf("GET /ocpp/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n%s\r\n", o->id, offer);
    char *answer = NULL;
    int st = api_raw(port, req, strlen(req), &answer);
    free(req);
    char ctype[128] = "";
    api_raw_header(answer, "Content-Type", ctype, sizeof ctype);
    const char *body = strstr(answer, "\r\n\r\n");
    bool ok = st == 400 && strncmp(ctype, "text/plain", 10) == 0 && body && strcmp(body + 4, reason) == 0;
    if (!ok) {
        char shown[600];
        snprintf(shown, sizeof shown, "%s", answer);
        free(answer);
        fail_msg("offered \"%s\" by hand: expected HTTP 400 text/plain \"%s\", got %d:\n%s", o->subprotocols,
                 reason, st, shown);
    }
    free(answer);
}

static double auth_failures_metric(void)
{
    return metrics_get(gw_port(W.gw), "ocppgw_auth_failures_total", NULL);
}

/* ---------------------------------------------------------------- id rules */

static void test_good_id_connects_and_works(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect(W.sim, "ic-plain", NULL);
    it_boot(c);
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);
}

static void test_id_of_48_chars_accepted_49_refused(void **state)
{
    (void)state;
    assert_int_equal(strlen(ID48), 48);
    assert_int_equal(strlen(ID49), 49);
    struct sim_charger *c = it_connect(W.sim, ID48, NULL);
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);
    struct sim_charger_opts o = { .id = ID49 };
    assert_int_equal(upgrade_status(W.sim, &o), 400);
}

static void test_bad_ids_refused_with_400(void **state)
{
    (void)state;
    const char *paths[] = {
        "/ocpp/",               /* empty id */
        "/ocpp/ic%20sp",        /* decodes to "ic sp" */
        "/ocpp/ic%01x",         /* control character */
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct sim_charger_opts o = { .id = "ic-bad", .path = paths[i] };
        int st = upgrade_status(W.sim, &o);
        if (st != 400)
            fail_msg("path %s: expected HTTP 400, got %d", paths[i], st);
    }
}

static void test_id_is_percent_decoded(void **state)
{
    (void)state;
    struct sim_charger_opts o = { .id = "ic-pct", .path = "/ocpp/ic%2Dpct" };
    int status;
    struct sim_charger *c = it_try_connect(W.sim, &o, &status, NULL);
    if (!c)
        fail_msg("/ocpp/ic%%2Dpct (charger ic-pct): refused with %d", status);
    assert_true(it_heartbeat_ok(c));
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT connected::int FROM chargers WHERE id = 'ic-pct'"), 1);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- subprotocol */

static void test_subprotocol_ocpp16_selected_from_list(void **state)
{
    (void)state;
    struct sim_charger_opts o = { .id = "ic-sub", .subprotocols = "ocpp2.0.1,ocpp1.6" };
    int status;
    char proto[64];
    struct sim_charger *c = it_try_connect(W.sim, &o, &status, proto);
    if (!c)
        fail_msg("offered ocpp2.0.1,ocpp1.6: refused with %d", status);
    assert_string_equal(proto, "ocpp1.6");
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);
}

static void test_subprotocol_only_other_refused(void **state)
{
    (void)state;
    struct sim_charger_opts o = { .id = "ic-sub", .subprotocols = "ocpp2.0.1" };
    assert_refused_subprotocol(W.sim, gw_port(W.gw), &o, "subprotocol ocpp1.6 not offered\n");
}

static void test_subprotocol_none_refused_by_default(void **state)
{
    (void)state;
    struct sim_charger_opts o = { .id = "ic-sub", .subprotocols = "" };
    assert_refused_subprotocol(W.sim, gw_port(W.gw), &o, "no subprotocol offered: ocpp1.6 is required\n");
}

static void test_subprotocol_none_accepted_when_not_required(void **state)
{
    (void)state;
    struct gw_opts go = { .name = "it_connect-nosub", .ini = "[ocpp]\nrequire_subprotocol = false\n" };
    W.gw2 = gw_start(&go);
    W.sim2 = it_sim(gw_port(W.gw2));
    struct sim_charger_opts o = { .id = "ic-sub", .subprotocols = "" };
    int status;
    struct sim_charger *c = it_try_connect(W.sim2, &o, &status, NULL);
    if (!c)
        fail_msg("require_subprotocol = false, none offered: refused with %d", status);
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);
    /* ocpp1.6 is still selected when offered */
    struct sim_charger *c2 = it_connect(W.sim2, "ic-sub", NULL);
    sim_disconnect(c2);
}

/* ---------------------------------------------------------------- unknown chargers */

static void test_unknown_charger_404(void **state)
{
    (void)state;
    struct sim_charger_opts o = { .id = "ic-nobody" };
    assert_int_equal(upgrade_status(W.sim, &o), 404);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'ic-nobody'"), 0);
}

static void test_auto_register_creates_row(void **state)
{
    (void)state;
    const char *args[] = { "--auto-register", NULL };
    struct gw_opts go = { .name = "it_connect-auto", .args = args };
    W.gw2 = gw_start(&go);
    W.sim2 = it_sim(gw_port(W.gw2));
    struct sim_charger *c = it_connect(W.sim2, "ic-auto-new", NULL);
    it_boot(c);
    assert_true(it_heartbeat_ok(c));
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM chargers WHERE id = 'ic-auto-new' AND auto_registered"),
                     1);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- security profile 1 */

static void test_password_right_accepted(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect(W.sim, "ic-pw", PW_GOOD);
    it_boot(c);
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);
}

static void test_password_wrong_or_missing_401(void **state)
{
    (void)state;
    struct sim_charger_opts wrong = { .id = "ic-pw", .password = PW_OTHER, .source_addr = "127.0.0.2" };
    assert_int_equal(upgrade_status(W.sim, &wrong), 401);
    struct sim_charger_opts missing = { .id = "ic-pw", .source_addr = "127.0.0.3" };
    assert_int_equal(upgrade_status(W.sim, &missing), 401);
    /* the right password under another user name is not this charger's credential */
    struct sim_charger_opts user = { .id = "ic-pw", .password = PW_GOOD, .basic_user = "ic-plain",
                                     .source_addr = "127.0.0.6" };
    assert_int_equal(upgrade_status(W.sim, &user), 401);
}

static void test_auth_failures_counted_in_metrics(void **state)
{
    (void)state;
    double before = auth_failures_metric();
    if (before < 0)
        fail_msg("/metrics has no sample ocppgw_auth_failures_total");
    struct sim_charger_opts wrong = { .id = "ic-pw", .password = PW_OTHER, .source_addr = "127.0.0.7" };
    assert_int_equal(upgrade_status(W.sim, &wrong), 401);
    double after = auth_failures_metric();
    if (!(after >= before + 1))
        fail_msg("ocppgw_auth_failures_total: %g before a 401, %g after", before, after);
}

static void test_auth_failures_throttled_live_connection_unharmed(void **state)
{
    (void)state;
    struct sim_charger *live = it_connect(W.sim, "ic-thr", PW_GOOD);
    it_boot(live);

    struct sim_charger_opts wrong = { .id = "ic-thr", .password = PW_OTHER, .source_addr = "127.0.0.4" };
    int st = 0, attempts = 0;
    while (attempts < AUTH_FAIL_MAX + 3) {
        st = upgrade_status(W.sim, &wrong);
        attempts++;
        if (st == 429)
            break;
        if (st != 401)
            fail_msg("wrong password attempt %d: expected 401 or 429, got %d", attempts, st);
    }
    if (st != 429)
        fail_msg("auth_fail_max = %d: still no 429 after %d failed attempts", AUTH_FAIL_MAX, attempts);
    assert_true(attempts > 1);

    /* throttled: even the right password from that address */
    struct sim_charger_opts right = { .id = "ic-thr", .password = PW_GOOD, .source_addr = "127.0.0.4" };
    assert_int_equal(upgrade_status(W.sim, &right), 429);

    /* the live connection was neither closed nor replaced */
    assert_int_equal(sim_state(live), SIM_OPEN);
    assert_true(it_heartbeat_ok(live));
    sim_disconnect(live);
}

static void test_no_secret_in_the_log(void **state)
{
    (void)state;
    /* a right and a wrong password, then look for them (and their Basic encodings) in the log */
    struct sim_charger *c = it_connect(W.sim, "ic-pw", PW_GOOD);
    sim_disconnect(c);
    struct sim_charger_opts wrong = { .id = "ic-pw", .password = PW_OTHER, .source_addr = "127.0.0.9" };
    assert_int_equal(upgrade_status(W.sim, &wrong), 401);
    const char *secrets[] = {
        PW_GOOD, PW_OTHER,
        "aWMtcHc6MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmYwMDExMjIzMw",     /* base64 "ic-pw:" PW_GOOD */
        "aWMtcHc6ZmZlZWRkY2NiYmFhOTk4ODc3NjY1NTQ0MzMyMjExMDBmZmVlZGRjYw",     /* base64 "ic-pw:" PW_OTHER */
    };
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (gw_log_contains(W.gw, secrets[i]))
            fail_msg("the gateway log %s contains a charger password (%.12s...)", gw_log_path(W.gw), secrets[i]);
    /* the refusal itself is logged, naming the charger */
    if (!gw_log_contains(W.gw, "ic-pw"))
        fail_msg("no line of the gateway log names charger ic-pw after a 401");
}

static void test_connection_rate_limited_per_ip(void **state)
{
    (void)state;
    struct gw_opts go = { .name = "it_connect-rate", .ini = "[ocpp]\nconn_rate_per_ip = 2\nconn_burst_per_ip = 4\n" };
    W.gw2 = gw_start(&go);
    W.sim2 = it_sim(gw_port(W.gw2));
    /* 2 per second, burst 4: a tight loop of upgrades from one address meets 429 long before 200 */
    struct sim_charger_opts o = { .id = "ic-plain", .source_addr = "127.0.0.10" };
    int st = 0, attempts = 0;
    while (attempts < 200) {
        st = upgrade_status(W.sim2, &o);
        attempts++;
        if (st == 429)
            break;
        if (st != 101)
            fail_msg("upgrade %d from one address: expected 101 or 429, got %d", attempts, st);
    }
    if (st != 429)
        fail_msg("conn_rate_per_ip = 2: %d upgrades from one address and no 429", attempts);
    assert_true(attempts > 1);
    /* another address is not limited */
    struct sim_charger *c = it_connect(W.sim2, "ic-plain", NULL);
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- duplicates */

static void test_authenticated_duplicate_replaces_first(void **state)
{
    (void)state;
    int64_t events_before = db_int("SELECT count(*) FROM charger_events"
                                   " WHERE charger_id = 'ic-dup' AND kind ILIKE '%replace%'");
    struct sim_charger *first = it_connect(W.sim, "ic-dup", PW_GOOD);
    it_boot(first);
    assert_true(it_heartbeat_ok(first));

    struct sim_charger *second = it_connect(W.sim, "ic-dup", PW_GOOD);
    if (!sim_wait_closed(first, IT_WAIT_MS))
        fail_msg("the first connection was not closed after an authenticated second one");
    assert_true(it_heartbeat_ok(second));
    assert_int_equal(sim_state(second), SIM_OPEN);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT connected::int FROM chargers WHERE id = 'ic-dup'"), 1);
    /* a security event about the replacement is stored */
    char before[24];
    snprintf(before, sizeof before, "%lld", (long long)(events_before < 0 ? 0 : events_before));
    int64_t n = db_wait_int(IT_WAIT_MS, 1,
                            "SELECT (count(*) > $1::bigint)::int FROM charger_events"
                            " WHERE charger_id = 'ic-dup' AND kind ILIKE '%replace%'",
                            before);
    if (n != 1) {
        char *kinds = db_str("SELECT string_agg(kind, ',') FROM charger_events WHERE charger_id = 'ic-dup'");
        fail_msg("no charger_events row of kind like 'replace%%' for ic-dup (kinds stored: %s)",
                 kinds ? kinds : "none");
    }
    sim_disconnect(first);
    sim_disconnect(second);
}

static void test_unauthenticated_duplicate_does_not_disturb(void **state)
{
    (void)state;
    struct sim_charger *live = it_connect(W.sim, "ic-dup2", PW_GOOD);
    it_boot(live);
    struct sim_charger_opts wrong = { .id = "ic-dup2", .password = PW_OTHER, .source_addr = "127.0.0.5" };
    assert_int_equal(upgrade_status(W.sim, &wrong), 401);
    struct sim_charger_opts none = { .id = "ic-dup2", .source_addr = "127.0.0.5" };
    assert_int_equal(upgrade_status(W.sim, &none), 401);
    assert_int_equal(sim_state(live), SIM_OPEN);
    assert_true(it_heartbeat_ok(live));
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT connected::int FROM chargers WHERE id = 'ic-dup2'"), 1);
    sim_disconnect(live);
}

/* ---------------------------------------------------------------- connection times */

static void test_connect_and_disconnect_times_stored(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect(W.sim, "ic-times", NULL);
    it_boot(c);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT (connected AND connected_at IS NOT NULL"
                                 " AND connected_at > now() - interval '5 minutes')::int"
                                 " FROM chargers WHERE id = 'ic-times'"),
                     1);
    sim_disconnect(c);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT (NOT connected AND disconnected_at IS NOT NULL"
                                 " AND disconnected_at >= connected_at)::int"
                                 " FROM chargers WHERE id = 'ic-times'"),
                     1);
}

/* ---------------------------------------------------------------- frame limit */

static char *data_transfer_of_size(size_t total)
{
    const char *head = "{\"vendorId\":\"ic.test\",\"data\":\"";
    const char *tail = "\"}";
    size_t fill = total - strlen(head) - strlen(tail);
    char *p = malloc(total + 1);
    assert_non_null(p);
    strcpy(p, head);
    memset(p + strlen(head), 'x', fill);
    strcpy(p + strlen(head) + fill, tail);
    return p;
}

static void test_frame_over_limit_closed_1009(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect(W.sim, "ic-frame", NULL);
    it_boot(c);
    /* under max_frame = 4096: answered */
    char *small = data_transfer_of_size(3000);
    cJSON *ok = it_ok(c, "DataTransfer", small);
    cJSON_Delete(ok);
    free(small);
    /* over it: the socket is closed with 1009 */
    char *big = data_transfer_of_size(6000);
    char *frame = it_strf("[2,\"big-1\",\"DataTransfer\",%s]", big);
    assert_int_equal(sim_send_text(c, frame, strlen(frame)), 0);
    free(big);
    free(frame);
    if (!sim_wait_closed(c, IT_WAIT_MS))
        fail_msg("a 6 kB frame with max_frame = 4096 did not close the socket");
    assert_int_equal(sim_close_code(c), 1009);
    sim_disconnect(c);
    assert_int_equal(http_get(gw_port(W.gw), "/healthz", NULL), 200);
}

/* ---------------------------------------------------------------- the NAT'ed site */

/*
 * A site's chargers behind one NAT address: one of them failing (a wrong
 * key) is throttled from that address after auth_fail_max_per_id failures,
 * the others keep connecting (the per-address limit is far higher).
 */
static void test_auth_throttle_per_charger_spares_nat_neighbours(void **state)
{
    (void)state;
    struct gw_opts go = { .name = "it_connect-nat", .ini = "[ocpp]\nauth_fail_max_per_id = 3\n" };
    W.gw2 = gw_start(&go);
    W.sim2 = it_sim(gw_port(W.gw2));
    const char *nat = "127.0.0.11";
    for (int i = 0; i < 3; i++) {
        struct sim_charger_opts wrong = { .id = "ic-nat1", .password = PW_OTHER, .source_addr = nat };
        assert_int_equal(upgrade_status(W.sim2, &wrong), 401);
    }
    struct sim_charger_opts right1 = { .id = "ic-nat1", .password = PW_GOOD, .source_addr = nat };
    assert_int_equal(upgrade_status(W.sim2, &right1), 429);
    /* the neighbour behind the same address, and the charger itself from elsewhere */
    struct sim_charger_opts right2 = { .id = "ic-nat2", .password = PW_GOOD, .source_addr = nat };
    assert_int_equal(upgrade_status(W.sim2, &right2), 101);
    struct sim_charger_opts elsewhere = { .id = "ic-nat1", .password = PW_GOOD, .source_addr = "127.0.0.12" };
    assert_int_equal(upgrade_status(W.sim2, &elsewhere), 101);
    double n = metrics_get(gw_port(W.gw2), "ocppgw_auth_throttled_total", "scope=\"address_charger\"");
    if (!(n >= 1))
        fail_msg("ocppgw_auth_throttled_total{scope=\"address_charger\"} is %g after a 429", n);
}

/* ---------------------------------------------------------------- the log */

/* Whether line starts like every line the gateway writes: "YYYY-MM-DDTHH:MM:SS". */
static bool starts_with_timestamp(const char *line)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)line[i]) : line[i] != shape[i])
            return false;
    }
    return true;
}

/* Every line of the log starts with a timestamp: nothing forged a line of its own. */
static void assert_no_forged_line(const struct gw *g)
{
    FILE *f = fopen(gw_log_path(g), "r");
    assert_non_null(f);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        if (!starts_with_timestamp(line))
            fail_msg("line %d of %s does not start with a timestamp (forged?): %s", n, gw_log_path(g), line);
    }
    fclose(f);
}

static const struct gw *log_gw;
static const char *log_wanted;

static bool log_has_wanted(void *arg)
{
    (void)arg;
    return gw_log_contains(log_gw, log_wanted);
}

static void wait_for_log(struct sim *s, const struct gw *g, const char *text)
{
    log_gw = g;
    log_wanted = text;
    if (!wait_until(s, log_has_wanted, NULL, IT_WAIT_MS))
        fail_msg("the log %s never showed: %s", gw_log_path(g), text);
}

static void test_log_lines_cannot_be_forged(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect(W.sim, "ic-log", NULL);
    /* a firmware version carrying a whole line of its own */
    cJSON *boot = it_ok(c, "BootNotification", "{\"chargePointVendor\":\"V\",\"chargePointModel\":\"M\","
                        "\"firmwareVersion\":\"1.0\\n2026-01-01T00:00:00.000Z error FORGED\"}");
    cJSON_Delete(boot);
    /* an answer to nothing, its unique id carrying a new line and a terminal escape */
    cJSON *r = it_raw(c, "[3,\"x\\nFORGED2\\r\\u001b[2J\",{}]", 1500);
    cJSON_Delete(r);
    /* an idTag with control characters, logged when the session starts */
    char ts[32];
    it_iso_time(ts, -60);
    char *p = it_start_payload(1, "IC\\nTAG\\u001b[2J", 0, ts);
    cJSON *conf = it_ok(c, "StartTransaction", p);
    free(p);
    cJSON_Delete(conf);
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);

    wait_for_log(W.sim, W.gw, "1.0\\n2026-01-01T00:00:00.000Z error FORGED");
    wait_for_log(W.sim, W.gw, "x\\nFORGED2\\r\\x1b[2J");
    wait_for_log(W.sim, W.gw, "IC\\nTAG\\x1b[2J");
    assert_no_forged_line(W.gw);
}

static int count_log_lines(const struct gw *g, const char *text)
{
    FILE *f = fopen(gw_log_path(g), "r");
    assert_non_null(f);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}

#define FLOOD 300

static void test_log_flood_from_one_socket_is_bounded(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect_booted(W.sim, "ic-flood", NULL);
    for (int i = 0; i < FLOOD; i++) {
        cJSON *r = it_raw(c, "[3,\"flood-unknown-id\",{}]", 0);
        cJSON_Delete(r);
    }
    /* the socket keeps working, and the gateway has read everything before this answer */
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);
    wait_for_log(W.sim, W.gw, "flood-unknown-id");
    int n = count_log_lines(W.gw, "flood-unknown-id");
    if (n > 3)
        fail_msg("%d identical bad frames from one socket made %d log lines", FLOOD, n);
}

/* ---------------------------------------------------------------- no websockets over HTTP/2 */

static void put_frame(unsigned char *buf, size_t *at, int type, int flags, uint32_t stream, const void *payload,
                      size_t len)
{
    unsigned char *p = buf + *at;
    p[0] = (unsigned char)(len >> 16), p[1] = (unsigned char)(len >> 8), p[2] = (unsigned char)len;
    p[3] = (unsigned char)type, p[4] = (unsigned char)flags;
    p[5] = (unsigned char)(stream >> 24), p[6] = (unsigned char)(stream >> 16);
    p[7] = (unsigned char)(stream >> 8), p[8] = (unsigned char)stream;
    memcpy(p + 9, payload, len);
    *at += 9 + len;
}

/* HPACK literal header field without indexing, new name, no Huffman. */
static void put_header(unsigned char *buf, size_t *at, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    buf[(*at)++] = 0;
    buf[(*at)++] = (unsigned char)n;
    memcpy(buf + *at, name, n);
    *at += n;
    buf[(*at)++] = (unsigned char)v;
    memcpy(buf + *at, value, v);
    *at += v;
}

static void send_all(int fd, const void *buf, size_t len)
{
    assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * An HTTP/1.1 "Upgrade: h2c" request for /ocpp/<first>; if the gateway
 * switches to HTTP/2, an RFC 8441 websocket (extended CONNECT) for
 * /ocpp/<target> without credentials, read until the gateway closes (or
 * 5 s). Returns the status of the h2c upgrade.
 */
static int h2c_then_websocket(int port, const char *first, const char *target)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char *req = it_strf("GET /ocpp/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
                        "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n", first);
    send_all(fd, req, strlen(req));
    free(req);
    char head[4096];
    size_t got = 0;
    while (got < sizeof head - 1 && !memmem(head, got, "\r\n\r\n", 4)) {
        ssize_t n = recv(fd, head + got, sizeof head - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    head[got] = '\0';
    int status = -1;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1 || status != 101) {
        close(fd);
        return status;
    }
    unsigned char buf[1024];
    size_t at = 0;
    memcpy(buf, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    at = 24;
    put_frame(buf, &at, 4, 0, 0, "", 0);                    /* SETTINGS */
    put_frame(buf, &at, 4, 1, 0, "", 0);                    /* ACK of the gateway's */
    unsigned char hdrs[512];
    size_t h = 0;
    char path[128];
    snprintf(path, sizeof path, "/ocpp/%s", target);
    put_header(hdrs, &h, ":method", "CONNECT");
    put_header(hdrs, &h, ":protocol", "websocket");
    put_header(hdrs, &h, ":scheme", "http");
    put_header(hdrs, &h, ":path", path);
    put_header(hdrs, &h, ":authority", "127.0.0.1");
    put_header(hdrs, &h, "sec-websocket-version", "13");
    put_header(hdrs, &h, "sec-websocket-protocol", "ocpp1.6");
    put_frame(buf, &at, 1, 4, 3, hdrs, h);                  /* HEADERS, END_HEADERS, stream 3 */
    send_all(fd, buf, at);
    while (recv(fd, buf, sizeof buf, 0) > 0)
        ;                                                   /* until the gateway closes */
    close(fd);
    return status;
}

static void test_no_websocket_over_http2(void **state)
{
    (void)state;
    /* the h2c upgrade is refused; were it not, the websocket over HTTP/2 must still not be admitted */
    int st = h2c_then_websocket(gw_port(W.gw), "ic-h2a", "ic-h2b");
    if (st == 101 && gw_log_contains(W.gw, "charger=ic-h2b connected"))
        fail_msg("a websocket over h2c connected profile-1 charger ic-h2b without credentials");
    assert_int_equal(st, 400);
    assert_false(gw_log_contains(W.gw, "charger=ic-h2b connected"));
    /* the listener still serves websockets */
    struct sim_charger *c = it_connect(W.sim, "ic-h2a", NULL);
    assert_true(it_heartbeat_ok(c));
    sim_disconnect(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_good_id_connects_and_works),
        T(test_id_of_48_chars_accepted_49_refused),
        T(test_bad_ids_refused_with_400),
        T(test_id_is_percent_decoded),
        T(test_subprotocol_ocpp16_selected_from_list),
        T(test_subprotocol_only_other_refused),
        T(test_subprotocol_none_refused_by_default),
        T(test_subprotocol_none_accepted_when_not_required),
        T(test_unknown_charger_404),
        T(test_auto_register_creates_row),
        T(test_password_right_accepted),
        T(test_password_wrong_or_missing_401),
        T(test_auth_failures_counted_in_metrics),
        T(test_auth_failures_throttled_live_connection_unharmed),
        T(test_no_secret_in_the_log),
        T(test_connection_rate_limited_per_ip),
        T(test_authenticated_duplicate_replaces_first),
        T(test_unauthenticated_duplicate_does_not_disturb),
        T(test_connect_and_disconnect_times_stored),
        T(test_frame_over_limit_closed_1009),
        T(test_auth_throttle_per_charger_spares_nat_neighbours),
        T(test_log_lines_cannot_be_forged),
        T(test_log_flood_from_one_socket_is_bounded),
        T(test_no_websocket_over_http2),
    };
#undef T
    return cmocka_run_group_tests_name("it_connect", tests, group_setup, it_group_teardown);
}
