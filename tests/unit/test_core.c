/*
 * Unit tests of the core state machine (src/core/), driven through its public
 * API with the fakes of tests/unit/support/core_fakes.c: a clock that moves
 * only when a test advances it, a store whose jobs wait until the test
 * completes them, and recorded sends, closes and events.
 *
 * Groups: admission and throttling; connection lifecycle and replacement;
 * charger-initiated requests and the durability rule; last-seen write-behind;
 * the CALL slot under every command (one in flight, queue, timeout,
 * disconnect, shutdown), driven through core_command_submit and the
 * charger's answers as the wire dispatcher hands them over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"
#include "core_fakes.h"
#include "secret.h"
#include "util.h"

#define T0 INT64_C(1700000000000)
#define ADDR "192.0.2.10"
#define ADDR2 "192.0.2.20"
#define PW "correct-horse-battery-staple"
#define PW2 "another-key-0123456789"
#define ACCEPTED "{\"status\":\"Accepted\"}"

struct fx {
    struct core_fake f;
    struct core_config cfg;
    struct core *c;
    void *scratch[32];
    size_t n_scratch;
};

/*
 * Zeroed memory for callback state that outlives the test body: freed in
 * teardown after core_free, so a callback the core runs late (shutdown,
 * or after a failed assertion left calls pending) never writes into a dead
 * stack frame.
 */
static void *scratch(struct fx *fx, size_t n)
{
    assert_true(fx->n_scratch < sizeof fx->scratch / sizeof fx->scratch[0]);
    return fx->scratch[fx->n_scratch++] = xcalloc(1, n);
}

/* n zeroed command records (core_fake_command's rec). */
static struct core_fake_cmd *recs(struct fx *fx, size_t n)
{
    return scratch(fx, n * sizeof(struct core_fake_cmd));
}

static int setup(void **state)
{
    struct fx *fx = xcalloc(1, sizeof *fx);
    core_fake_init(&fx->f, T0);
    core_config_defaults(&fx->cfg);
    struct core_io io = core_fake_io(&fx->f);
    fx->c = core_new(&io, &fx->cfg);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    core_free(fx->c);
    core_fake_fini(&fx->f);
    for (size_t i = 0; i < fx->n_scratch; i++)
        free(fx->scratch[i]);
    free(fx);
    return 0;
}

/* Recreates the core with fx->cfg (after a test changed it). */
static void restart(struct fx *fx)
{
    core_free(fx->c);
    core_fake_fini(&fx->f);
    core_fake_clear(&fx->f);
    struct core_io io = core_fake_io(&fx->f);
    fx->c = core_new(&io, &fx->cfg);
}

/* A charger row as the store would load it; password NULL = no AuthorizationKey. */
static void add_charger(struct fx *fx, const char *id, const char *password, int profile,
                        const char *registration)
{
    struct store_charger row = { 0 };
    str_copy(row.id, sizeof row.id, id);
    if (password) {
        char *h = secret_hash_password(password, 1000);
        str_copy(row.auth_hash, sizeof row.auth_hash, h);
        free(h);
    }
    row.security_profile = profile;
    str_copy(row.registration, sizeof row.registration, registration);
    core_charger_upsert(fx->c, &row);
}

static uint64_t connect_from(struct fx *fx, const char *id, const char *addr, const char *password)
{
    assert_int_equal(core_fake_admit(fx->c, id, addr, password ? id : NULL, password), CORE_ADMIT_OK);
    uint64_t conn = core_conn_open(fx->c, id, addr);
    assert_true(conn != 0);
    return conn;
}

/* A known profile-0 charger, connected. */
static uint64_t open_charger(struct fx *fx, const char *id)
{
    add_charger(fx, id, NULL, 0, "Accepted");
    return connect_from(fx, id, ADDR, NULL);
}

static void request(struct fx *fx, uint64_t conn, const char *msg_id, enum ocpp_action a,
                    union ocpp_req *req)
{
    core_on_request(fx->c, conn, msg_id, a, req);
}

static void heartbeat(struct fx *fx, uint64_t conn, const char *msg_id)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    request(fx, conn, msg_id, OCPP_ACTION_HEARTBEAT, &r);
}

static void authorize(struct fx *fx, uint64_t conn, const char *msg_id, const char *tag)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    str_copy(r.authorize.id_tag, sizeof r.authorize.id_tag, tag);
    request(fx, conn, msg_id, OCPP_ACTION_AUTHORIZE, &r);
}

static void start_tx(struct fx *fx, uint64_t conn, const char *msg_id, int connector, const char *tag)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.start_tx.connector_id = connector;
    str_copy(r.start_tx.id_tag, sizeof r.start_tx.id_tag, tag);
    r.start_tx.meter_start = 1000;
    r.start_tx.timestamp_ms = fx->f.now_ms - 60000;
    request(fx, conn, msg_id, OCPP_ACTION_START_TRANSACTION, &r);
}

/* n heap-owned meter values of two samples each, as the wire layer would parse them. */
static struct ocpp_meter_value *meter_values_new(size_t n)
{
    struct ocpp_meter_value *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i].timestamp_ms = T0 + (int64_t)i * 1000;
        v[i].n_sampled = 2;
        v[i].sampled = xcalloc(2, sizeof *v[i].sampled);
        v[i].sampled[0].value = xstrdup("1234.5");
        str_copy(v[i].sampled[0].measurand, sizeof v[i].sampled[0].measurand,
                 "Energy.Active.Import.Register");
        v[i].sampled[1].value = xstrdup("16.0");
        str_copy(v[i].sampled[1].measurand, sizeof v[i].sampled[1].measurand, "Current.Import");
    }
    return v;
}

static void stop_tx(struct fx *fx, uint64_t conn, const char *msg_id, int32_t tx_id)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.stop_tx.transaction_id = tx_id;
    r.stop_tx.meter_stop = 9000;
    r.stop_tx.timestamp_ms = fx->f.now_ms;
    str_copy(r.stop_tx.reason, sizeof r.stop_tx.reason, "EVDisconnected");
    r.stop_tx.n_values = 2;
    r.stop_tx.values = meter_values_new(2);
    request(fx, conn, msg_id, OCPP_ACTION_STOP_TRANSACTION, &r);
}

static void meter_values(struct fx *fx, uint64_t conn, const char *msg_id, int connector,
                         int32_t tx_id)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.meter_values.connector_id = connector;
    r.meter_values.has_transaction_id = tx_id != 0;
    r.meter_values.transaction_id = tx_id;
    r.meter_values.n_values = 3;
    r.meter_values.values = meter_values_new(3);
    r.meter_values.digest = 42;
    request(fx, conn, msg_id, OCPP_ACTION_METER_VALUES, &r);
}

static size_t security_jobs(struct fx *fx, const char *kind)
{
    size_t n = 0;
    struct store_job *job;
    for (size_t i = 0; (job = core_fake_job(&fx->f, STORE_OP_SECURITY_EVENT, i)) != NULL; i++)
        n += strcmp(job->in.security_event.kind, kind) == 0;
    return n;
}

/* ================================================================ admission */

static void test_id_syntax(void **state)
{
    struct fx *fx = *state;
    char id48[49], id49[50];
    memset(id48, 'A', 48);
    id48[48] = '\0';
    memset(id49, 'A', 49);
    id49[49] = '\0';

    assert_true(core_charger_id_valid("CP-001"));
    assert_true(core_charger_id_valid("a"));
    assert_true(core_charger_id_valid("CP_1.x:y~z"));
    assert_true(core_charger_id_valid(id48));
    /* what REST addresses percent-encoded, and dots that are not a whole segment */
    assert_true(core_charger_id_valid("CP#1"));
    assert_true(core_charger_id_valid("CP?x"));
    assert_true(core_charger_id_valid("CP+1&a=b;c"));
    assert_true(core_charger_id_valid(".a"));
    assert_true(core_charger_id_valid("..."));
    assert_null(core_charger_id_problem("CP#1"));

    static const char *const bad[] = {
        "", "a/b", "/", "a,b", "a b", " ", "a\tb", "a\nb", "a\x01", "\x1f" "x", "a\x7f",
        "caf\xc3\xa9", ".", "..", "a%41",
    };
    assert_string_equal(core_charger_id_problem(".."), "is not allowed ('.' and '..' are path segments)");
    assert_string_equal(core_charger_id_problem("a b"), "has a space");
    assert_string_equal(core_charger_id_problem(""), "is empty");
    assert_string_equal(core_charger_id_problem(id49), "is longer than 48 characters");
    assert_false(core_charger_id_valid(id49));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(core_charger_id_valid(bad[i]));

    /* Every one of them is refused at the upgrade, even with auto-registration. */
    fx->cfg.auto_register = true;
    restart(fx);
    assert_int_equal(core_fake_admit(fx->c, id49, ADDR, NULL, NULL), CORE_ADMIT_BAD_ID);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(core_fake_admit(fx->c, bad[i], ADDR, NULL, NULL), CORE_ADMIT_BAD_ID);
    assert_int_equal(core_fake_admit(fx->c, id48, ADDR, NULL, NULL), CORE_ADMIT_OK);
    assert_int_equal(core_charger_count(fx->c), 0);
    assert_int_equal(fx->f.n_jobs, 0);
}

static void test_admit_unknown(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", NULL, 0, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "CP-2", ADDR, NULL, NULL), CORE_ADMIT_UNKNOWN);
    assert_int_equal(core_fake_admit(fx->c, "cp-1", ADDR, NULL, NULL), CORE_ADMIT_UNKNOWN);
    assert_int_equal(core_charger_count(fx->c), 1);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_OK);
}

static void test_admit_auto_register(void **state)
{
    struct fx *fx = *state;
    fx->cfg.auto_register = true;
    restart(fx);

    assert_int_equal(core_fake_admit(fx->c, "NEW-1", ADDR, NULL, NULL), CORE_ADMIT_OK);
    /* admission only decides; the charger appears when the websocket opens */
    assert_int_equal(core_charger_count(fx->c), 0);
    assert_int_equal(fx->f.n_jobs, 0);

    uint64_t conn = core_conn_open(fx->c, "NEW-1", ADDR);
    assert_true(conn != 0);
    assert_int_equal(core_charger_count(fx->c), 1);
    assert_true(core_charger_connected(fx->c, "NEW-1"));
    assert_int_equal(core_connected_count(fx->c), 1);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_CONNECTED), 1);
    struct store_job *job = core_fake_job(&fx->f, STORE_OP_CHARGER_CONNECTED, 0);
    assert_string_equal(job->charger_id, "NEW-1");
    assert_true(job->in.connected.auto_register);
    assert_string_equal(job->in.connected.remote_addr, ADDR);
    assert_int_equal(core_fake_event_count(&fx->f, CORE_EV_CHARGER_CONNECTED), 1);
    const struct core_fake_event *ev = core_fake_event(&fx->f, CORE_EV_CHARGER_CONNECTED, 0);
    assert_string_equal(ev->charger_id, "NEW-1");
    assert_int_equal(ev->at_ms, T0);

    /* the next connection of the same charger does not register it again */
    core_conn_closed(fx->c, conn, "bye");
    conn = connect_from(fx, "NEW-1", ADDR, NULL);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_CONNECTED), 2);
    assert_false(core_fake_job(&fx->f, STORE_OP_CHARGER_CONNECTED, 1)->in.connected.auto_register);
    assert_int_equal(core_charger_count(fx->c), 1);
}

static void test_admit_password(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", PW, 1, "Accepted");

    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_OK);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_SECURITY_EVENT), 0);

    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW2), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", "correct-horse-battery-stapl"),
                     CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", ""), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-2", PW), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, PW), CORE_ADMIT_UNAUTHORIZED);

    /* one stored security event per refusal, naming the charger */
    assert_int_equal(security_jobs(fx, "auth_failed"), 6);
    struct store_job *job = core_fake_job(&fx->f, STORE_OP_SECURITY_EVENT, 0);
    assert_string_equal(job->charger_id, "CP-1");
    assert_non_null(strstr(job->in.security_event.detail, ADDR));
    assert_null(strstr(job->in.security_event.detail, PW2)); /* never the secret */
    assert_int_equal(core_fake_event_count(&fx->f, CORE_EV_SECURITY), 6);

    /* a failure does not spoil the right password */
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_OK);
    assert_int_equal(core_charger_count(fx->c), 1);
    assert_false(core_charger_connected(fx->c, "CP-1"));
}

static void test_admit_profile1_without_key(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", NULL, 1, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", ""), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(security_jobs(fx, "auth_failed"), 3);
}

static void test_admit_security_profiles(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "P1", PW, 1, "Accepted");
    add_charger(fx, "P2", PW, 2, "Accepted");
    add_charger(fx, "P3", NULL, 3, "Accepted");
    const struct core_peer plain = { false, NULL };
    const struct core_peer tls = { true, NULL };
    const struct core_peer cert_p3 = { true, "P3" };
    const struct core_peer cert_other = { true, "P2" };

    /* profile 1: Basic auth on either listener */
    assert_int_equal(core_admit(fx->c, "P1", ADDR, "P1", PW, &plain), CORE_ADMIT_OK);
    assert_int_equal(core_admit(fx->c, "P1", ADDR, "P1", PW, &tls), CORE_ADMIT_OK);
    /* profile 2: Basic auth, TLS only */
    assert_int_equal(core_admit(fx->c, "P2", ADDR, "P2", PW, &plain), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "P2", ADDR, "P2", PW), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_admit(fx->c, "P2", ADDR, "P2", PW, &tls), CORE_ADMIT_OK);
    assert_int_equal(core_admit(fx->c, "P2", ADDR, "P2", PW2, &tls), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_admit(fx->c, "P2", ADDR, NULL, NULL, &cert_other), CORE_ADMIT_UNAUTHORIZED);
    /* profile 3: a verified client certificate naming the charger */
    assert_int_equal(core_admit(fx->c, "P3", ADDR, NULL, NULL, &cert_p3), CORE_ADMIT_OK);
    assert_int_equal(core_admit(fx->c, "P3", ADDR, NULL, NULL, &cert_other), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_admit(fx->c, "P3", ADDR, NULL, NULL, &tls), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_admit(fx->c, "P3", ADDR, "P3", PW, &tls), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_admit(fx->c, "P3", ADDR, NULL, NULL, &plain), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(security_jobs(fx, "auth_failed"), 8);
}

static void test_throttle(void **state)
{
    struct fx *fx = *state;
    fx->cfg.auth_fail_max = 3;
    fx->cfg.auth_fail_window_ms = 60000;
    fx->cfg.auth_block_ms = 10000;
    restart(fx);
    add_charger(fx, "CP-1", PW, 1, "Accepted");

    for (int i = 0; i < 3; i++)
        assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", "wrong-password-123"),
                         CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(security_jobs(fx, "auth_throttled"), 1);

    /* blocked: even the right password, even another known charger */
    add_charger(fx, "CP-2", NULL, 0, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_THROTTLED);
    assert_int_equal(core_fake_admit(fx->c, "CP-2", ADDR, NULL, NULL), CORE_ADMIT_THROTTLED);
    /* other addresses are not affected */
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR2, "CP-1", PW), CORE_ADMIT_OK);

    core_fake_advance(&fx->f, 9999);
    core_expire(fx->c);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_THROTTLED);
    core_fake_advance(&fx->f, 1);
    core_expire(fx->c);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_OK);
    assert_int_equal(security_jobs(fx, "auth_throttled"), 1);
}

static void test_throttle_unknown_ids(void **state)
{
    struct fx *fx = *state;
    fx->cfg.auth_fail_max = 4;
    fx->cfg.auth_block_ms = 5000;
    restart(fx);
    add_charger(fx, "CP-1", NULL, 0, "Accepted");

    /* probing for charger ids counts as failing */
    char id[32];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "GUESS-%d", i);
        assert_int_equal(core_fake_admit(fx->c, id, ADDR, NULL, NULL), CORE_ADMIT_UNKNOWN);
    }
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_THROTTLED);
    core_fake_advance(&fx->f, 5000);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_OK);
}

static void test_throttle_window(void **state)
{
    struct fx *fx = *state;
    fx->cfg.auth_fail_max = 3;
    fx->cfg.auth_fail_window_ms = 10000;
    fx->cfg.auth_fail_max_per_id = 1000;    /* this test is about the address window */
    restart(fx);
    add_charger(fx, "CP-1", PW, 1, "Accepted");

    /*
     * Failures spread wider than the window never throttle: once without
     * core_expire (the window itself), once with it (pruning idle addresses).
     */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 6; i++) {
            assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", "nope-nope-nope-nope"),
                             CORE_ADMIT_UNAUTHORIZED);
            core_fake_advance(&fx->f, 6000);
            if (pass == 1)
                core_expire(fx->c);
        }
        assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_OK);
    }
    assert_int_equal(security_jobs(fx, "auth_throttled"), 0);

    /* the same number of failures inside the window does */
    for (int i = 0; i < 3; i++) {
        core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", "nope-nope-nope-nope");
        core_fake_advance(&fx->f, 4000);
    }
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_THROTTLED);
}

/*
 * Defaults: one charger failing from an address (a NAT'ed site) is
 * throttled from that address after auth_fail_max_per_id failures; its
 * neighbours behind the same address, and itself from elsewhere, are not.
 */
static void test_throttle_per_address_and_charger_spares_neighbours(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", PW, 1, "Accepted");
    add_charger(fx, "CP-2", PW2, 1, "Accepted");
    struct core_config d;
    core_config_defaults(&d);
    assert_true(d.auth_fail_max > d.auth_fail_max_per_id);
    for (int i = 0; i < d.auth_fail_max_per_id; i++)
        assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", "wrong-password-123"),
                         CORE_ADMIT_UNAUTHORIZED);
    /* that charger from that address: refused, even with the right password */
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_THROTTLED);
    /* a neighbour behind the same address, and the charger from elsewhere, are not */
    assert_int_equal(core_fake_admit(fx->c, "CP-2", ADDR, "CP-2", PW2), CORE_ADMIT_OK);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR2, "CP-1", PW), CORE_ADMIT_OK);
    assert_int_equal(security_jobs(fx, "auth_throttled"), 1);
    /* for auth_block only */
    core_fake_advance(&fx->f, d.auth_block_ms);
    core_expire(fx->c);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_OK);
}

/* Many chargers of one site failing at once do not block the address for the rest. */
static void test_throttle_address_limit_is_for_many_chargers(void **state)
{
    struct fx *fx = *state;
    struct core_config d;
    core_config_defaults(&d);
    char id[32];
    /* 20 misconfigured chargers, 3 failures each: 60 failures from one address */
    for (int n = 0; n < 20; n++) {
        snprintf(id, sizeof id, "BAD-%d", n);
        add_charger(fx, id, PW, 1, "Accepted");
        for (int i = 0; i < 3; i++)
            assert_int_equal(core_fake_admit(fx->c, id, ADDR, id, PW2), CORE_ADMIT_UNAUTHORIZED);
    }
    add_charger(fx, "GOOD", PW, 1, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "GOOD", ADDR, "GOOD", PW), CORE_ADMIT_OK);
    /* a scanner trying ids from one address is still stopped by the address limit */
    for (int i = 0; i < d.auth_fail_max; i++) {
        snprintf(id, sizeof id, "SCAN-%d", i);
        core_fake_admit(fx->c, id, ADDR2, NULL, NULL);
    }
    assert_int_equal(core_fake_admit(fx->c, "GOOD", ADDR2, "GOOD", PW), CORE_ADMIT_THROTTLED);
}

/*
 * One id guessed slowly, below every window, from one or many addresses:
 * the 24 h cap bounds the guesses. The charger's own address still gets in.
 */
static void test_throttle_charger_long_term_cap(void **state)
{
    struct fx *fx = *state;
    fx->cfg.auth_fail_max_per_id_day = 20;
    restart(fx);
    add_charger(fx, "CP-1", PW, 1, "Accepted");
    uint64_t live = connect_from(fx, "CP-1", ADDR2, PW);
    core_conn_closed(fx->c, live, "bye");

    /* one guess every 10 minutes for 2 days, from one address */
    int guesses = 0, throttled = 0;
    for (int i = 0; i < 6 * 48; i++) {
        enum core_admit v = core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", "guess-guess-guess");
        if (v == CORE_ADMIT_UNAUTHORIZED)
            guesses++;
        else if (v == CORE_ADMIT_THROTTLED)
            throttled++;
        else
            fail_msg("guess %d: verdict %d", i, v);
        core_fake_advance(&fx->f, 10 * 60 * 1000);
        core_expire(fx->c);
    }
    /* at most the cap and its refill over 2 days */
    if (guesses > 20 + 2 * 20 + 1)
        fail_msg("%d wrong passwords tried in 2 days with a cap of 20 per 24 h", guesses);
    assert_true(throttled > 0);

    /* exhausted now: refused from a new address even with the right password ... */
    for (int i = 0; i < 30; i++)
        core_fake_admit(fx->c, "CP-1", "198.51.100.1", "CP-1", "guess-guess-guess");
    assert_int_equal(core_fake_admit(fx->c, "CP-1", "198.51.100.2", "CP-1", PW), CORE_ADMIT_THROTTLED);
    /* ... but the address it last authenticated from gets in */
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR2, "CP-1", PW), CORE_ADMIT_OK);

    /* a new key starts the cap again */
    add_charger(fx, "CP-1", PW2, 1, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "CP-1", "198.51.100.2", "CP-1", PW2), CORE_ADMIT_OK);
}

static void test_connection_rate_limit(void **state)
{
    struct fx *fx = *state;
    fx->cfg.conn_rate_per_ip = 2;
    fx->cfg.conn_burst_per_ip = 4;
    restart(fx);
    add_charger(fx, "CP-1", NULL, 0, "Accepted");
    uint64_t live = connect_from(fx, "CP-1", ADDR2, NULL);

    for (int i = 0; i < 4; i++)
        assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_OK);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_THROTTLED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", "198.51.100.7", NULL, NULL), CORE_ADMIT_OK);
    /* a storm from one address neither closes nor disturbs the live connection */
    assert_int_equal(fx->f.n_closes, 0);
    assert_true(core_charger_connected(fx->c, "CP-1"));

    /* refills at the rate: one attempt per 500 ms */
    core_fake_advance(&fx->f, 499);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_THROTTLED);
    core_fake_advance(&fx->f, 500);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_OK);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_THROTTLED);

    /* a quiet spell gives the burst back, never more */
    core_fake_advance(&fx->f, 5000);
    core_expire(fx->c);
    for (int i = 0; i < 4; i++)
        assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_OK);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_THROTTLED);
    /* bad ids are refused for what they are */
    assert_int_equal(core_fake_admit(fx->c, "a/b", ADDR, NULL, NULL), CORE_ADMIT_BAD_ID);

    heartbeat(fx, live, "h");
    assert_non_null(core_fake_conf_for(&fx->f, live, "h"));
}

static void test_no_rate_limit_by_default(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", NULL, 0, "Accepted");
    for (int i = 0; i < 200; i++)
        assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_OK);
}

static void test_refused_attempts_leave_live_connection(void **state)
{
    struct fx *fx = *state;
    fx->cfg.auth_fail_max = 3;
    restart(fx);
    add_charger(fx, "CP-1", PW, 1, "Accepted");
    uint64_t conn = connect_from(fx, "CP-1", ADDR, PW);
    size_t jobs_before = fx->f.n_jobs;

    /* an attacker presents the same id without, or with a wrong, password */
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR2, NULL, NULL), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR2, "CP-1", PW2), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR2, "CP-1", "x"), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR2, "CP-1", PW), CORE_ADMIT_THROTTLED);

    assert_int_equal(fx->f.n_closes, 0);
    assert_true(core_charger_connected(fx->c, "CP-1"));
    assert_int_equal(core_connected_count(fx->c), 1);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 0);
    /* only security events were written */
    assert_int_equal(fx->f.n_jobs - jobs_before, core_fake_job_count(&fx->f, STORE_OP_SECURITY_EVENT));

    /* the live connection still works, and outgoing calls still reach it */
    heartbeat(fx, conn, "hb-1");
    assert_non_null(core_fake_conf_for(&fx->f, conn, "hb-1"));
    struct core_fake_cmd *r = recs(fx, 1);
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", r, NULL),
                     CORE_CALL_OK);
    assert_int_equal(fx->f.n_calls, 1);
    assert_int_equal(fx->f.calls[0].conn_id, conn);
    core_fake_result(fx->c, conn, fx->f.calls[0].msg_id, ACCEPTED, "Accepted");
    assert_int_equal(r->n, 1);
    assert_int_equal(r->outcome, CORE_CMD_ANSWERED);
}

static void test_hash_change_invalidates_cache(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", PW, 1, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_OK);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_OK);

    connect_from(fx, "CP-1", ADDR, PW);
    size_t outstanding = core_jobs_outstanding(fx->c);
    struct store_job *changed = store_job_new(STORE_OP_CHARGER_CHANGED);
    str_copy(changed->out.charger.id, sizeof changed->out.charger.id, "CP-1");
    char *h2 = secret_hash_password(PW2, 1000);
    str_copy(changed->out.charger.auth_hash, sizeof changed->out.charger.auth_hash, h2);
    free(h2);
    changed->out.charger.security_profile = 1;
    str_copy(changed->out.charger.registration, sizeof changed->out.charger.registration, "Accepted");

    /* the key is rotated in the database (NOTIFY): the old password must stop working at once */
    core_fake_complete(fx->c, changed, STORE_OK);
    /* nobody submitted it; the live session admitted with the old key ends (its disconnect is written) */
    assert_int_equal(core_jobs_outstanding(fx->c), outstanding + 1);
    assert_false(core_charger_connected(fx->c, "CP-1"));
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW2), CORE_ADMIT_OK);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW2), CORE_ADMIT_OK);

    /* and back through core_charger_upsert */
    add_charger(fx, "CP-1", PW, 1, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW2), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_OK);

    /* the key is removed and the profile lowered: no credentials needed */
    add_charger(fx, "CP-1", NULL, 0, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_OK);
    /* the key is removed but profile 1 stays: nothing is accepted, not even the cached one */
    add_charger(fx, "CP-1", PW, 1, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_OK);
    add_charger(fx, "CP-1", NULL, 1, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_UNAUTHORIZED);
}

/* ================================================================ connections */

static void test_connect_and_close(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", NULL, 0, "Accepted");
    assert_false(core_charger_connected(fx->c, "CP-1"));
    uint64_t conn = connect_from(fx, "CP-1", ADDR, NULL);
    assert_true(core_charger_connected(fx->c, "CP-1"));
    assert_int_equal(core_connected_count(fx->c), 1);
    struct store_job *cj = core_fake_job(&fx->f, STORE_OP_CHARGER_CONNECTED, 0);
    assert_non_null(cj);
    assert_false(cj->in.connected.auto_register);
    assert_int_equal(cj->received_ms, T0);

    core_fake_advance(&fx->f, 7000);
    core_conn_closed(fx->c, conn, "ping timeout");
    assert_false(core_charger_connected(fx->c, "CP-1"));
    assert_int_equal(core_connected_count(fx->c), 0);
    assert_int_equal(fx->f.n_closes, 0); /* the glue closed it, not us */
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 1);
    struct store_job *dj = core_fake_job(&fx->f, STORE_OP_CHARGER_DISCONNECTED, 0);
    assert_string_equal(dj->charger_id, "CP-1");
    assert_int_equal(dj->in.disconnected.connected_ms, T0);
    assert_string_equal(dj->in.disconnected.reason, "ping timeout");
    assert_int_equal(core_fake_event_count(&fx->f, CORE_EV_CHARGER_DISCONNECTED), 1);
    const struct core_fake_event *ev = core_fake_event(&fx->f, CORE_EV_CHARGER_DISCONNECTED, 0);
    assert_string_equal(ev->charger_id, "CP-1");
    assert_int_equal(ev->connector_id, -1);
    assert_false(ev->has_status);
    assert_string_equal(ev->detail, "ping timeout");
    assert_int_equal(ev->at_ms, T0 + 7000);

    /* closing twice, or an id never seen, changes nothing */
    core_conn_closed(fx->c, conn, "again");
    core_conn_closed(fx->c, 987654, NULL);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 1);
    assert_int_equal(core_connected_count(fx->c), 0);

    /* a later connection gets a fresh id and its own open time */
    core_fake_advance(&fx->f, 1000);
    uint64_t conn2 = connect_from(fx, "CP-1", ADDR, NULL);
    assert_true(conn2 != conn);
    core_conn_closed(fx->c, conn2, NULL);
    dj = core_fake_job(&fx->f, STORE_OP_CHARGER_DISCONNECTED, 1);
    assert_int_equal(dj->in.disconnected.connected_ms, T0 + 8000);
    assert_int_equal(core_charger_count(fx->c), 1);
}

static void test_replacement(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", PW, 1, "Accepted");
    add_charger(fx, "CP-2", NULL, 0, "Accepted");
    uint64_t other = connect_from(fx, "CP-2", ADDR2, NULL);
    uint64_t old = connect_from(fx, "CP-1", ADDR, PW);
    core_fake_advance(&fx->f, 3000);

    /* the old connection has a durable call waiting for the database */
    authorize(fx, old, "a-1", "TAG1");
    meter_values(fx, old, "mv-1", 1, 0);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_AUTHORIZE), 1);

    uint64_t neu = connect_from(fx, "CP-1", ADDR2, PW);
    assert_true(neu != old && neu != other);
    assert_int_equal(fx->f.n_closes, 1);
    assert_int_equal(fx->f.closes[0].conn_id, old);
    assert_int_equal(fx->f.closes[0].code, 1008);
    assert_int_equal(core_connected_count(fx->c), 2);
    assert_true(core_charger_connected(fx->c, "CP-1"));
    assert_int_equal(security_jobs(fx, "connection_replaced"), 1);
    assert_false(core_request_pending(fx->c, old, "a-1"));

    /* the old connection's results arrive: stored, but nothing is sent anywhere */
    size_t confs = fx->f.n_confs, errors = fx->f.n_errors;
    struct store_job *job = core_fake_take(&fx->f, STORE_OP_AUTHORIZE);
    job->out.authorize.status = OCPP_AUTH_ACCEPTED;
    core_fake_complete(fx->c, job, STORE_OK);
    job = core_fake_take(&fx->f, STORE_OP_METER_VALUES);
    core_fake_complete(fx->c, job, STORE_ERR_UNAVAILABLE);
    assert_int_equal(fx->f.n_confs, confs);
    assert_int_equal(fx->f.n_errors, errors);
    assert_int_equal(core_fake_sends_to(&fx->f, old), 0);

    /* the glue reports the old socket closed: the new one is not affected */
    core_conn_closed(fx->c, old, "closed by server");
    assert_true(core_charger_connected(fx->c, "CP-1"));
    assert_int_equal(core_connected_count(fx->c), 2);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 0);

    /* the new connection can reuse the old message id */
    authorize(fx, neu, "a-1", "TAG1");
    job = core_fake_take(&fx->f, STORE_OP_AUTHORIZE);
    assert_int_equal(job->conn_id, neu);
    job->out.authorize.status = OCPP_AUTH_ACCEPTED;
    core_fake_complete(fx->c, job, STORE_OK);
    assert_non_null(core_fake_conf_for(&fx->f, neu, "a-1"));
    assert_int_equal(core_fake_sends_to(&fx->f, other), 0);

    core_conn_closed(fx->c, neu, "bye");
    assert_int_equal(core_connected_count(fx->c), 1);
    struct store_job *dj = core_fake_job(&fx->f, STORE_OP_CHARGER_DISCONNECTED, 0);
    assert_int_equal(dj->in.disconnected.connected_ms, T0 + 3000);
}

static void test_charger_deleted_while_connected(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    authorize(fx, conn, "a-1", "TAG1");
    struct core_fake_cmd *r = recs(fx, 1);
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_RESET, "{\"type\":\"Soft\"}", r,
                                       NULL), CORE_CALL_OK);

    struct store_charger row = { .deleted = true };
    str_copy(row.id, sizeof row.id, "CP-1");
    core_charger_upsert(fx->c, &row);
    assert_int_equal(core_charger_count(fx->c), 0);
    assert_int_equal(core_connected_count(fx->c), 0);
    assert_int_equal(fx->f.n_closes, 1);
    assert_int_equal(fx->f.closes[0].conn_id, conn);
    assert_int_equal(fx->f.closes[0].code, 1008);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 1);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->state, CORE_CMD_FAILED);
    assert_int_equal(r->outcome, CORE_CMD_DISCONNECTED);
    assert_true(r->sent);

    struct store_job *job = core_fake_take(&fx->f, STORE_OP_AUTHORIZE);
    core_fake_complete(fx->c, job, STORE_OK);
    core_conn_closed(fx->c, conn, "closed");
    assert_int_equal(core_fake_sends_to(&fx->f, conn), 1); /* only the CALL sent before */
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, NULL, NULL), CORE_ADMIT_UNKNOWN);
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_RESET, "{}", r, NULL),
                     CORE_CALL_ERR_UNKNOWN_CHARGER);
    assert_int_equal(r->n, 1);
    core_charger_upsert(fx->c, &row); /* deleting what is unknown is fine */
}

static void test_registry_sync(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    (void)open_charger(fx, "CP-2");
    assert_int_equal(core_charger_count(fx->c), 2);

    /* after a reconnect the table says: CP-2 gone, CP-3 new, CP-1 now has a key */
    struct store_charger rows[2] = { { .security_profile = 1 }, { .security_profile = 0 } };
    str_copy(rows[0].id, sizeof rows[0].id, "CP-1");
    char *hash = secret_hash_password("0123456789abcdef", 1000);
    str_copy(rows[0].auth_hash, sizeof rows[0].auth_hash, hash);
    str_copy(rows[0].registration, sizeof rows[0].registration, "Accepted");
    str_copy(rows[1].id, sizeof rows[1].id, "CP-3");
    str_copy(rows[1].registration, sizeof rows[1].registration, "Pending");
    size_t closes = fx->f.n_closes;
    core_registry_sync(fx->c, rows, 2, core_registry_mark(fx->c));
    free(hash);

    assert_int_equal(core_charger_count(fx->c), 2);
    assert_false(core_charger_connected(fx->c, "CP-1")); /* admitted without the key it has now */
    assert_false(core_charger_connected(fx->c, "CP-2"));
    assert_int_equal(fx->f.n_closes, closes + 2);        /* both sockets closed */
    assert_true(fx->f.closes[closes].conn_id == conn || fx->f.closes[closes + 1].conn_id == conn);
    assert_int_equal(core_unauthenticated_count(fx->c), 1); /* CP-3 */
    assert_int_equal(core_fake_admit(fx->c, "CP-2", ADDR, NULL, NULL), CORE_ADMIT_UNKNOWN);
    assert_int_equal(core_fake_admit(fx->c, "CP-3", ADDR, NULL, NULL), CORE_ADMIT_OK);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", "wrong-wrong-wrong"),
                     CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", "0123456789abcdef"), CORE_ADMIT_OK);
}

/*
 * Shutdown: the connections still open at the end of the drain have their
 * disconnect stored at once (the store's last write), once: their close
 * afterwards stores nothing more; one closed before is not stored twice.
 */
static void test_record_disconnects_at_shutdown(void **state)
{
    struct fx *fx = *state;
    uint64_t a = open_charger(fx, "CP-1");
    uint64_t b = open_charger(fx, "CP-2");
    uint64_t gone = open_charger(fx, "CP-3");
    core_conn_closed(fx->c, gone, "peer closed");
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 1);

    assert_int_equal(core_record_disconnects(fx->c, "shutdown", true), 2);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 3);
    for (int i = 1; i < 3; i++)
        assert_string_equal(core_fake_job(&fx->f, STORE_OP_CHARGER_DISCONNECTED, i)->in.disconnected.reason,
                            "shutdown");
    assert_int_equal(core_record_disconnects(fx->c, "shutdown", true), 0);
    core_conn_closed(fx->c, a, "closed");
    core_conn_closed(fx->c, b, "closed");
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 3);
    assert_int_equal(core_connected_count(fx->c), 0);
}

/*
 * A REST delete applied, then a notification's read taken before it lands:
 * the charger is not brought back; its row is read again. A later read
 * (after a re-create) applies.
 */
static void test_stale_read_after_delete_is_read_again(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-DEL", NULL, 0, "Accepted");
    struct store_charger gone = { 0 };
    str_copy(gone.id, sizeof gone.id, "CP-DEL");
    gone.deleted = true;
    core_charger_upsert(fx->c, &gone);                /* the REST delete, committed */
    struct store_charger stale = { 0 };
    str_copy(stale.id, sizeof stale.id, "CP-DEL");
    str_copy(stale.registration, sizeof stale.registration, "Accepted");
    assert_true(core_charger_read_is_stale(fx->c, &stale));
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_CHANGED), 1);
    assert_int_equal(core_fake_admit(fx->c, "CP-DEL", ADDR, NULL, NULL), CORE_ADMIT_UNKNOWN);
    /* the read again finds the row (re-created meanwhile): applied */
    assert_false(core_charger_read_is_stale(fx->c, &stale));
    core_charger_upsert(fx->c, &stale);
    assert_int_equal(core_fake_admit(fx->c, "CP-DEL", ADDR, NULL, NULL), CORE_ADMIT_OK);
}

/*
 * A key change REST committed and applied (row version 1), then a read of
 * the row taken before that commit (version 0, the old key) arriving late:
 * the old key must not come back; a newer row is applied.
 */
static void test_older_row_version_is_not_applied(void **state)
{
    struct fx *fx = *state;
    struct store_charger row = { 0 };
    str_copy(row.id, sizeof row.id, "CP-VER");
    str_copy(row.registration, sizeof row.registration, "Accepted");
    row.security_profile = 1;
    char *old_hash = secret_hash_password("old-password-123", 1000);
    char *new_hash = secret_hash_password("new-password-456", 1000);
    str_copy(row.auth_hash, sizeof row.auth_hash, old_hash);
    core_charger_upsert(fx->c, &row);                   /* version 0: the old key */
    struct store_charger changed = row;
    str_copy(changed.auth_hash, sizeof changed.auth_hash, new_hash);
    changed.version = 1;
    core_charger_upsert(fx->c, &changed);               /* REST's committed change */
    core_charger_upsert(fx->c, &row);                   /* the late read of version 0 */
    assert_int_equal(core_fake_admit(fx->c, "CP-VER", ADDR, "CP-VER", "old-password-123"), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-VER", "10.0.0.9", "CP-VER", "new-password-456"), CORE_ADMIT_OK);
    struct store_charger newer = row;                   /* version 2: the old key set again, by a later change */
    newer.version = 2;
    core_charger_upsert(fx->c, &newer);
    assert_int_equal(core_fake_admit(fx->c, "CP-VER", "10.0.0.10", "CP-VER", "old-password-123"), CORE_ADMIT_OK);
    free(old_hash);
    free(new_hash);
}

/* Without each: recorded (their closes store nothing), no job: the store's one statement writes them. */
static void test_record_disconnects_in_one_statement(void **state)
{
    struct fx *fx = *state;
    uint64_t a = open_charger(fx, "CP-1");
    uint64_t b = open_charger(fx, "CP-2");
    assert_int_equal(core_record_disconnects(fx->c, "shutdown", false), 2);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 0);
    assert_int_equal(core_record_disconnects(fx->c, "shutdown", false), 0);
    core_conn_closed(fx->c, a, "closed");
    core_conn_closed(fx->c, b, "closed");
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_CHARGER_DISCONNECTED), 0);
    assert_int_equal(core_connected_count(fx->c), 0);
}

/*
 * A reload's snapshot is older than what the registry learnt after the read
 * was asked for: a create this process committed (REST), an auto-registered
 * connect, a newer key. None of them is undone by the snapshot: the charger
 * is not forgotten, its connection not closed, its new key not replaced.
 */
static void test_registry_sync_keeps_what_changed_after_the_read(void **state)
{
    struct fx *fx = *state;
    fx->cfg.auto_register = true;
    restart(fx);
    add_charger(fx, "CP-OLD", NULL, 0, "Accepted");
    add_charger(fx, "CP-KEY", "old-key-0123456789", 1, "Accepted");
    add_charger(fx, "CP-GONE", NULL, 0, "Accepted");
    uint64_t mark = core_registry_mark(fx->c);

    /* after the read was asked for: a create, an auto-registered connect, a new key */
    add_charger(fx, "CP-NEW", "new-key-0123456789", 1, "Accepted");
    assert_int_equal(core_fake_admit(fx->c, "AUTO-1", ADDR, NULL, NULL), CORE_ADMIT_OK);
    uint64_t conn = core_conn_open(fx->c, "AUTO-1", ADDR);
    assert_true(conn != 0);
    add_charger(fx, "CP-KEY", "new-key-0123456789", 1, "Accepted");

    /* the snapshot: read before those rows committed (CP-GONE was deleted before it) */
    struct store_charger rows[2] = { { .security_profile = 0 }, { .security_profile = 1 } };
    str_copy(rows[0].id, sizeof rows[0].id, "CP-OLD");
    str_copy(rows[0].registration, sizeof rows[0].registration, "Accepted");
    str_copy(rows[1].id, sizeof rows[1].id, "CP-KEY");
    char *old_hash = secret_hash_password("old-key-0123456789", 1000);
    str_copy(rows[1].auth_hash, sizeof rows[1].auth_hash, old_hash);
    free(old_hash);
    str_copy(rows[1].registration, sizeof rows[1].registration, "Accepted");
    size_t closes = fx->f.n_closes;
    core_registry_sync(fx->c, rows, 2, mark);

    assert_int_equal(core_charger_count(fx->c), 4); /* CP-OLD, CP-KEY, CP-NEW, AUTO-1 */
    assert_true(core_charger_connected(fx->c, "AUTO-1"));
    assert_int_equal(fx->f.n_closes, closes);
    assert_int_equal(core_fake_admit(fx->c, "CP-NEW", ADDR, "CP-NEW", NULL), CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-NEW", ADDR, "CP-NEW", "new-key-0123456789"), CORE_ADMIT_OK);
    assert_int_equal(core_fake_admit(fx->c, "CP-KEY", ADDR, "CP-KEY", "old-key-0123456789"),
                     CORE_ADMIT_UNAUTHORIZED);
    assert_int_equal(core_fake_admit(fx->c, "CP-KEY", ADDR, "CP-KEY", "new-key-0123456789"), CORE_ADMIT_OK);
}

/*
 * A change to the credentials a live connection was admitted under ends it
 * (1008) once the row arrives; the next connection is checked against the
 * new row. Changes that do not touch them (the same row again, Pending)
 * leave it alone.
 */
static void test_credential_change_closes(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", PW, 1, "Accepted");
    assert_int_equal(core_unauthenticated_count(fx->c), 0);
    uint64_t conn = connect_from(fx, "CP-1", ADDR, PW);

    /* the same row again (its own notification after REST applied it): nothing */
    struct store_charger row = { .security_profile = 1 };
    str_copy(row.id, sizeof row.id, "CP-1");
    char *h1 = secret_hash_password(PW, 1000);
    str_copy(row.auth_hash, sizeof row.auth_hash, h1);
    free(h1);
    str_copy(row.registration, sizeof row.registration, "Accepted");
    size_t closes = fx->f.n_closes;
    add_charger(fx, "CP-1", PW, 1, "Accepted"); /* a new salt: the key was set again */
    assert_int_equal(fx->f.n_closes, closes + 1);
    assert_int_equal(fx->f.closes[closes].conn_id, conn);
    assert_int_equal(fx->f.closes[closes].code, 1008);
    assert_false(core_charger_connected(fx->c, "CP-1"));
    conn = connect_from(fx, "CP-1", ADDR, PW);
    core_charger_upsert(fx->c, &row);           /* the key A again: closes once */
    assert_int_equal(fx->f.n_closes, closes + 2);
    conn = connect_from(fx, "CP-1", ADDR, PW);
    core_charger_upsert(fx->c, &row);           /* the very same row: nothing */
    str_copy(row.registration, sizeof row.registration, "Pending");
    core_charger_upsert(fx->c, &row);           /* Pending: Boot says so, the session stays */
    assert_int_equal(fx->f.n_closes, closes + 2);
    assert_true(core_charger_connected(fx->c, "CP-1"));

    /* key B: A no longer admits */
    add_charger(fx, "CP-1", PW2, 1, "Accepted");
    assert_int_equal(fx->f.n_closes, closes + 3);
    assert_int_equal(fx->f.closes[closes + 2].conn_id, conn);
    assert_int_equal(core_fake_admit(fx->c, "CP-1", ADDR, "CP-1", PW), CORE_ADMIT_UNAUTHORIZED);
    conn = connect_from(fx, "CP-1", ADDR, PW2);

    /* profile 0 with no key: closes, and is counted as unauthenticated */
    add_charger(fx, "CP-1", NULL, 0, "Accepted");
    assert_int_equal(fx->f.n_closes, closes + 4);
    assert_int_equal(core_unauthenticated_count(fx->c), 1);
    conn = connect_from(fx, "CP-1", ADDR, NULL);

    /* disabled (Rejected): closes; it may connect again and Boot answers Rejected */
    add_charger(fx, "CP-1", NULL, 0, "Rejected");
    assert_int_equal(fx->f.n_closes, closes + 5);
    assert_int_equal(fx->f.closes[closes + 4].conn_id, conn);
    assert_int_equal(core_unauthenticated_count(fx->c), 1);

    /* deleted: no longer counted */
    struct store_charger del = { .deleted = true };
    str_copy(del.id, sizeof del.id, "CP-1");
    core_charger_upsert(fx->c, &del);
    assert_int_equal(core_unauthenticated_count(fx->c), 0);

    /* auto-registered chargers are profile 0 without a key too */
    fx->cfg.auto_register = true;
    restart(fx);
    assert_true(core_conn_open(fx->c, "CP-AUTO", ADDR) != 0);
    assert_int_equal(core_unauthenticated_count(fx->c), 1);
    struct store_charger autorow = { .security_profile = 0 };
    str_copy(autorow.id, sizeof autorow.id, "CP-AUTO");
    str_copy(autorow.registration, sizeof autorow.registration, "Accepted");
    core_charger_upsert(fx->c, &autorow);       /* its row arrives: nothing changes */
    assert_int_equal(core_unauthenticated_count(fx->c), 1);
    assert_true(core_charger_connected(fx->c, "CP-AUTO"));
}

/* ================================================================ requests */

static void test_boot(void **state)
{
    struct fx *fx = *state;
    fx->cfg.heartbeat_interval_s = 120;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    core_fake_advance(&fx->f, 1234);

    union ocpp_req r;
    memset(&r, 0, sizeof r);
    str_copy(r.boot.vendor, sizeof r.boot.vendor, "Acme");
    str_copy(r.boot.model, sizeof r.boot.model, "Wallbox 22");
    str_copy(r.boot.cp_serial, sizeof r.boot.cp_serial, "SN-77");
    str_copy(r.boot.firmware, sizeof r.boot.firmware, "1.2.3");
    request(fx, conn, "b-1", OCPP_ACTION_BOOT_NOTIFICATION, &r);

    /* answered at once, not waiting for the database */
    const struct core_fake_conf *conf = core_fake_conf_for(&fx->f, conn, "b-1");
    assert_non_null(conf);
    assert_int_equal(conf->conf.action, OCPP_ACTION_BOOT_NOTIFICATION);
    assert_int_equal(conf->conf.body.boot.status, OCPP_REG_ACCEPTED);
    assert_int_equal(conf->conf.body.boot.interval_s, 120);
    assert_int_equal(conf->conf.body.boot.current_time_ms, T0 + 1234);
    assert_false(core_request_pending(fx->c, conn, "b-1"));

    struct store_job *job = core_fake_job(&fx->f, STORE_OP_BOOT, 0);
    assert_non_null(job);
    assert_string_equal(job->charger_id, "CP-1");
    assert_string_equal(job->in.boot.vendor, "Acme");
    assert_string_equal(job->in.boot.model, "Wallbox 22");
    assert_string_equal(job->in.boot.cp_serial, "SN-77");
    assert_string_equal(job->in.boot.firmware, "1.2.3");
    assert_int_equal(job->received_ms, T0 + 1234);
    const struct core_fake_event *ev = core_fake_event(&fx->f, CORE_EV_CHARGER_BOOTED, 0);
    assert_non_null(ev);
    assert_string_equal(ev->charger_id, "CP-1");
    assert_string_equal(ev->status, "Accepted");

    /* a failed write-behind boot changes nothing for the charger */
    core_fake_complete(fx->c, core_fake_take(&fx->f, STORE_OP_BOOT), STORE_ERR_UNAVAILABLE);
    assert_int_equal(fx->f.n_errors, 0);
}

static void test_boot_registration_status(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-P", NULL, 0, "Pending");
    add_charger(fx, "CP-R", NULL, 0, "Rejected");
    uint64_t p = connect_from(fx, "CP-P", ADDR, NULL);
    uint64_t r = connect_from(fx, "CP-R", ADDR, NULL);
    union ocpp_req req;
    memset(&req, 0, sizeof req);
    request(fx, p, "b", OCPP_ACTION_BOOT_NOTIFICATION, &req);
    request(fx, r, "b", OCPP_ACTION_BOOT_NOTIFICATION, &req);
    assert_int_equal(core_fake_conf_for(&fx->f, p, "b")->conf.body.boot.status, OCPP_REG_PENDING);
    assert_int_equal(core_fake_conf_for(&fx->f, r, "b")->conf.body.boot.status, OCPP_REG_REJECTED);
    assert_string_equal(core_fake_event(&fx->f, CORE_EV_CHARGER_BOOTED, 1)->status, "Rejected");

    /* the operator accepts the charger: the next boot says so */
    add_charger(fx, "CP-R", NULL, 0, "Accepted");
    request(fx, r, "b2", OCPP_ACTION_BOOT_NOTIFICATION, &req);
    assert_int_equal(core_fake_conf_for(&fx->f, r, "b2")->conf.body.boot.status, OCPP_REG_ACCEPTED);
}

static void test_rejected_charger_only_boots(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-R", NULL, 0, "Rejected");
    uint64_t conn = connect_from(fx, "CP-R", ADDR, NULL);
    size_t jobs = fx->f.n_jobs;

    heartbeat(fx, conn, "h");
    authorize(fx, conn, "a", "TAG");
    start_tx(fx, conn, "s", 1, "TAG");
    stop_tx(fx, conn, "st", 5);
    meter_values(fx, conn, "m", 1, 0);
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.status.connector_id = 1;
    str_copy(r.status.status, sizeof r.status.status, "Available");
    request(fx, conn, "sn", OCPP_ACTION_STATUS_NOTIFICATION, &r);

    static const char *const ids[] = { "h", "a", "s", "st", "m", "sn" };
    for (size_t i = 0; i < 6; i++) {
        const struct core_fake_error *e = core_fake_error_for(&fx->f, conn, ids[i]);
        assert_non_null(e);
        assert_int_equal(e->err, OCPP_ERR_SECURITY);
    }
    assert_int_equal(fx->f.n_confs, 0);
    assert_int_equal(fx->f.n_jobs, jobs); /* nothing stored for a rejected charger */
    assert_int_equal(core_fake_event_count(&fx->f, CORE_EV_STATUS_CHANGED), 0);

    /* the operator accepts it: the same connection is served at once, and back */
    add_charger(fx, "CP-R", NULL, 0, "Accepted");
    heartbeat(fx, conn, "h2");
    assert_non_null(core_fake_conf_for(&fx->f, conn, "h2"));
    /* disabled again: that ends the session (1008); a new one is served only BootNotification */
    size_t closes = fx->f.n_closes;
    add_charger(fx, "CP-R", NULL, 0, "Rejected");
    assert_int_equal(fx->f.n_closes, closes + 1);
    assert_int_equal(fx->f.closes[closes].conn_id, conn);
    assert_int_equal(fx->f.closes[closes].code, 1008);
    conn = connect_from(fx, "CP-R", ADDR, NULL);
    heartbeat(fx, conn, "h3");
    assert_int_equal(core_fake_error_for(&fx->f, conn, "h3")->err, OCPP_ERR_SECURITY);
}

static void test_heartbeat(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    size_t jobs = fx->f.n_jobs;
    core_fake_advance(&fx->f, 999);
    heartbeat(fx, conn, "hb");
    const struct core_fake_conf *conf = core_fake_conf_for(&fx->f, conn, "hb");
    assert_non_null(conf);
    assert_int_equal(conf->conf.action, OCPP_ACTION_HEARTBEAT);
    assert_int_equal(conf->conf.body.heartbeat_time_ms, T0 + 999);
    assert_int_equal(fx->f.n_jobs, jobs); /* last-seen is written behind, in batches */

    /* a request on a connection the core does not know is dropped silently */
    heartbeat(fx, conn + 100, "hb");
    assert_int_equal(fx->f.n_confs, 1);
    assert_int_equal(fx->f.n_errors, 0);
}

static void test_status_notification(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.status.connector_id = 2;
    str_copy(r.status.status, sizeof r.status.status, "Faulted");
    str_copy(r.status.error_code, sizeof r.status.error_code, "GroundFailure");
    str_copy(r.status.info, sizeof r.status.info, "RCD tripped");
    r.status.has_timestamp = true;
    r.status.timestamp_ms = T0 - 500;
    request(fx, conn, "s-1", OCPP_ACTION_STATUS_NOTIFICATION, &r);

    const struct core_fake_conf *conf = core_fake_conf_for(&fx->f, conn, "s-1");
    assert_non_null(conf);
    assert_int_equal(conf->conf.action, OCPP_ACTION_STATUS_NOTIFICATION);
    struct store_job *job = core_fake_job(&fx->f, STORE_OP_STATUS, 0);
    assert_non_null(job);
    assert_int_equal(job->in.status.connector_id, 2);
    assert_string_equal(job->in.status.status, "Faulted");
    assert_string_equal(job->in.status.error_code, "GroundFailure");
    assert_string_equal(job->in.status.info, "RCD tripped");
    assert_int_equal(job->in.status.timestamp_ms, T0 - 500);
    const struct core_fake_event *ev = core_fake_event(&fx->f, CORE_EV_STATUS_CHANGED, 0);
    assert_non_null(ev);
    assert_int_equal(ev->connector_id, 2);
    assert_string_equal(ev->status, "Faulted");
    assert_string_equal(ev->detail, "GroundFailure");
}

static void test_authorize_waits_for_store(void **state)
{
    struct fx *fx = *state;
    fx->cfg.authorize_concurrent_tx = true;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    authorize(fx, conn, "a-1", "TAG-XYZ");

    assert_int_equal(fx->f.n_confs, 0);
    assert_true(core_request_pending(fx->c, conn, "a-1"));
    struct store_job *job = core_fake_take(&fx->f, STORE_OP_AUTHORIZE);
    assert_non_null(job);
    assert_int_equal(job->conn_id, conn);
    assert_string_equal(job->msg_id, "a-1");
    assert_string_equal(job->charger_id, "CP-1");
    assert_string_equal(job->in.authorize.id_tag, "TAG-XYZ");
    assert_true(job->in.authorize.check_concurrent);
    assert_int_equal(core_jobs_outstanding(fx->c), 2); /* connect + authorize */

    job->out.authorize.status = OCPP_AUTH_BLOCKED;
    job->out.authorize.expiry_ms = T0 + 86400000;
    str_copy(job->out.authorize.parent_id_tag, sizeof job->out.authorize.parent_id_tag, "FLEET");
    core_fake_complete(fx->c, job, STORE_OK);

    const struct core_fake_conf *conf = core_fake_conf_for(&fx->f, conn, "a-1");
    assert_non_null(conf);
    assert_int_equal(conf->conf.action, OCPP_ACTION_AUTHORIZE);
    assert_int_equal(conf->conf.body.authorize.status, OCPP_AUTH_BLOCKED);
    assert_int_equal(conf->conf.body.authorize.expiry_ms, T0 + 86400000);
    assert_string_equal(conf->conf.body.authorize.parent_id_tag, "FLEET");
    assert_false(core_request_pending(fx->c, conn, "a-1"));
    assert_int_equal(fx->f.n_errors, 0);
    assert_int_equal(core_jobs_outstanding(fx->c), 1);
}

static void test_start_transaction(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    start_tx(fx, conn, "s-1", 2, "TAG1");
    assert_int_equal(fx->f.n_confs, 0);
    struct store_job *job = core_fake_take(&fx->f, STORE_OP_START_TX);
    assert_non_null(job);
    assert_int_equal(job->conn_id, conn);
    assert_int_equal(job->in.start_tx.req.connector_id, 2);
    assert_string_equal(job->in.start_tx.req.id_tag, "TAG1");
    assert_int_equal(job->in.start_tx.req.meter_start, 1000);
    assert_int_equal(job->in.start_tx.req.timestamp_ms, T0 - 60000);
    assert_true(job->in.start_tx.candidate_tx_id > 0);
    assert_false(job->in.start_tx.check_concurrent);

    job->out.start_tx.transaction_id = 777;
    job->out.start_tx.session_id = 31;
    job->out.start_tx.info.status = OCPP_AUTH_ACCEPTED;
    core_fake_complete(fx->c, job, STORE_OK);

    const struct core_fake_conf *conf = core_fake_conf_for(&fx->f, conn, "s-1");
    assert_non_null(conf);
    assert_int_equal(conf->conf.action, OCPP_ACTION_START_TRANSACTION);
    assert_int_equal(conf->conf.body.start_tx.transaction_id, 777);
    assert_int_equal(conf->conf.body.start_tx.info.status, OCPP_AUTH_ACCEPTED);
    assert_int_equal(core_fake_event_count(&fx->f, CORE_EV_SESSION_STARTED), 1);
    const struct core_fake_event *ev = core_fake_event(&fx->f, CORE_EV_SESSION_STARTED, 0);
    assert_string_equal(ev->charger_id, "CP-1");
    assert_int_equal(ev->connector_id, 2);
    assert_int_equal(ev->session_id, 31);
    assert_int_equal(ev->transaction_id, 777);
    assert_string_equal(ev->status, "Accepted");
    assert_string_equal(ev->detail, "TAG1");

    /* the same start retried: answered with the stored id, no second session event */
    start_tx(fx, conn, "s-2", 2, "TAG1");
    job = core_fake_take(&fx->f, STORE_OP_START_TX);
    job->out.start_tx.transaction_id = 777;
    job->out.start_tx.session_id = 31;
    job->out.start_tx.existing = true;
    core_fake_complete(fx->c, job, STORE_OK);
    assert_int_equal(core_fake_conf_for(&fx->f, conn, "s-2")->conf.body.start_tx.transaction_id, 777);
    assert_int_equal(core_fake_event_count(&fx->f, CORE_EV_SESSION_STARTED), 1);

    /* a blocked tag is answered with its status, not an error */
    start_tx(fx, conn, "s-3", 1, "BAD");
    job = core_fake_take(&fx->f, STORE_OP_START_TX);
    job->out.start_tx.transaction_id = 778;
    job->out.start_tx.session_id = 32;
    job->out.start_tx.info.status = OCPP_AUTH_BLOCKED;
    core_fake_complete(fx->c, job, STORE_OK);
    assert_int_equal(core_fake_conf_for(&fx->f, conn, "s-3")->conf.body.start_tx.info.status,
                     OCPP_AUTH_BLOCKED);
    assert_string_equal(core_fake_event(&fx->f, CORE_EV_SESSION_STARTED, 1)->status, "Blocked");
    assert_int_equal(fx->f.n_errors, 0);
}

static void test_start_candidate_ids(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    /* raw draws with the sign bit set, and draws that would make id 0 */
    static const uint32_t script[] = { 0x80000001u, 0xffffffffu, 0x00000000u, 0x80000000u, 0x5u };
    core_fake_script_random(&fx->f, script, 5);
    int32_t ids[3 + 40];
    char msg[32];
    for (int i = 0; i < 43; i++) {
        snprintf(msg, sizeof msg, "s-%d", i);
        start_tx(fx, conn, msg, 1, "TAG");
        struct store_job *job = core_fake_take(&fx->f, STORE_OP_START_TX);
        assert_non_null(job);
        ids[i] = job->in.start_tx.candidate_tx_id;
        job->out.start_tx.transaction_id = ids[i];
        core_fake_complete(fx->c, job, STORE_OK);
    }
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 0x7fffffff);
    assert_int_equal(ids[2], 5);
    for (int i = 0; i < 43; i++) {
        assert_true(ids[i] > 0);
        for (int j = 0; j < i; j++)
            assert_true(ids[i] != ids[j]);
    }
    /* and consecutive ids are not neighbours */
    for (int i = 4; i < 43; i++)
        assert_true(ids[i] - ids[i - 1] != 1);
}

static void test_stop_transaction(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    static const enum store_stop_outcome outcomes[] = { STORE_STOP_CLOSED, STORE_STOP_REPEATED,
                                                        STORE_STOP_ORPHAN };
    char msg[32];
    for (int i = 0; i < 3; i++) {
        snprintf(msg, sizeof msg, "st-%d", i);
        stop_tx(fx, conn, msg, 4242);
        assert_null(core_fake_conf_for(&fx->f, conn, msg));
        struct store_job *job = core_fake_take(&fx->f, STORE_OP_STOP_TX);
        assert_non_null(job);
        /* the job owns the transactionData now */
        assert_int_equal(job->in.stop_tx.n_values, 2);
        assert_non_null(job->in.stop_tx.values);
        assert_string_equal(job->in.stop_tx.values[1].sampled[0].value, "1234.5");
        assert_int_equal(job->in.stop_tx.transaction_id, 4242);
        assert_string_equal(job->in.stop_tx.reason, "EVDisconnected");
        job->out.stop_tx.outcome = outcomes[i];
        job->out.stop_tx.session_id = outcomes[i] == STORE_STOP_ORPHAN ? 0 : 9;
        job->out.stop_tx.has_info = i == 0;
        job->out.stop_tx.info.status = OCPP_AUTH_EXPIRED;
        core_fake_complete(fx->c, job, STORE_OK);
        const struct core_fake_conf *conf = core_fake_conf_for(&fx->f, conn, msg);
        assert_non_null(conf); /* every outcome is answered, orphans included */
        assert_int_equal(conf->conf.action, OCPP_ACTION_STOP_TRANSACTION);
        assert_int_equal(conf->conf.body.stop_tx.has_info, i == 0);
        if (i == 0)
            assert_int_equal(conf->conf.body.stop_tx.info.status, OCPP_AUTH_EXPIRED);
    }
    /* only the stop that closed the session is an event */
    assert_int_equal(core_fake_event_count(&fx->f, CORE_EV_SESSION_STOPPED), 1);
    const struct core_fake_event *ev = core_fake_event(&fx->f, CORE_EV_SESSION_STOPPED, 0);
    assert_int_equal(ev->session_id, 9);
    assert_int_equal(ev->transaction_id, 4242);
    assert_string_equal(ev->status, "EVDisconnected");
    assert_int_equal(fx->f.n_errors, 0);
}

static void test_meter_values(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    meter_values(fx, conn, "m-1", 1, 4242);
    meter_values(fx, conn, "m-2", 2, 0);
    assert_int_equal(fx->f.n_confs, 0);

    struct store_job *job = core_fake_take(&fx->f, STORE_OP_METER_VALUES);
    assert_int_equal(job->in.meter_values.n_values, 3);
    assert_int_equal(job->in.meter_values.digest, 42);
    assert_string_equal(job->in.meter_values.values[2].sampled[1].value, "16.0");
    job->out.meter_values.session_id = 9;
    core_fake_complete(fx->c, job, STORE_OK);
    job = core_fake_take(&fx->f, STORE_OP_METER_VALUES);
    job->out.meter_values.duplicate = true;
    core_fake_complete(fx->c, job, STORE_OK);

    assert_int_equal(core_fake_conf_for(&fx->f, conn, "m-1")->conf.action, OCPP_ACTION_METER_VALUES);
    assert_non_null(core_fake_conf_for(&fx->f, conn, "m-2")); /* a retry is acknowledged */
    assert_int_equal(core_fake_event_count(&fx->f, CORE_EV_METER_VALUES), 1);
    const struct core_fake_event *ev = core_fake_event(&fx->f, CORE_EV_METER_VALUES, 0);
    assert_int_equal(ev->connector_id, 1);
    assert_int_equal(ev->session_id, 9);
    assert_int_equal(ev->transaction_id, 4242);
}

/* Durability: a job that failed is never acknowledged. */
static void test_store_failure_is_internal_error(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    static const enum store_status statuses[] = { STORE_ERR_UNAVAILABLE, STORE_ERR_FAILED };
    for (int k = 0; k < 2; k++) {
        core_fake_clear(&fx->f);
        authorize(fx, conn, "a", "TAG");
        start_tx(fx, conn, "s", 1, "TAG");
        stop_tx(fx, conn, "st", 7);
        meter_values(fx, conn, "m", 1, 7);
        static const enum store_op ops[] = { STORE_OP_AUTHORIZE, STORE_OP_START_TX,
                                             STORE_OP_STOP_TX, STORE_OP_METER_VALUES };
        for (int i = 0; i < 4; i++) {
            struct store_job *job = core_fake_take(&fx->f, ops[i]);
            assert_non_null(job);
            /* what a half-filled result could carry must not leak out */
            job->out.start_tx.transaction_id = 99;
            job->out.stop_tx.outcome = STORE_STOP_CLOSED;
            core_fake_complete(fx->c, job, statuses[k]);
        }
        static const char *const ids[] = { "a", "s", "st", "m" };
        for (int i = 0; i < 4; i++) {
            const struct core_fake_error *e = core_fake_error_for(&fx->f, conn, ids[i]);
            assert_non_null(e);
            assert_int_equal(e->err, OCPP_ERR_INTERNAL);
            assert_false(core_request_pending(fx->c, conn, ids[i]));
        }
        assert_int_equal(fx->f.n_confs, 0);
        assert_int_equal(fx->f.n_events, 0);
    }
}

static void test_duplicate_message_id(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    uint64_t conn2 = open_charger(fx, "CP-2");
    authorize(fx, conn, "dup", "TAG");
    authorize(fx, conn, "dup", "TAG");
    start_tx(fx, conn, "dup", 1, "TAG");
    meter_values(fx, conn, "dup", 1, 0); /* owned values freed even when refused */
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_AUTHORIZE), 1);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_START_TX), 0);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_METER_VALUES), 0);
    assert_int_equal(fx->f.n_errors, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(fx->f.errors[i].err, OCPP_ERR_PROTOCOL);
        assert_string_equal(fx->f.errors[i].msg_id, "dup");
    }

    /* the same id on another connection is its own call */
    authorize(fx, conn2, "dup", "TAG");
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_AUTHORIZE), 2);

    /* once answered, the id may be used again */
    core_fake_complete(fx->c, core_fake_take(&fx->f, STORE_OP_AUTHORIZE), STORE_OK);
    assert_int_equal(fx->f.n_confs, 1);
    authorize(fx, conn, "dup", "TAG");
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_AUTHORIZE), 2);
    assert_int_equal(fx->f.n_errors, 3);
}

static void test_too_many_pending(void **state)
{
    struct fx *fx = *state;
    fx->cfg.max_inflight_per_conn = 2;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    authorize(fx, conn, "a-1", "TAG");
    meter_values(fx, conn, "m-1", 1, 0);
    start_tx(fx, conn, "s-1", 1, "TAG");
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_START_TX), 0);
    const struct core_fake_error *e = core_fake_error_for(&fx->f, conn, "s-1");
    assert_non_null(e);
    assert_true(e->err != OCPP_OK);
    assert_false(core_request_pending(fx->c, conn, "s-1"));

    core_fake_complete(fx->c, core_fake_take(&fx->f, STORE_OP_AUTHORIZE), STORE_OK);
    start_tx(fx, conn, "s-2", 1, "TAG");
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_START_TX), 1);
    assert_int_equal(fx->f.n_errors, 1);
}

static void test_not_supported_and_unknown(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    size_t jobs = fx->f.n_jobs;
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    request(fx, conn, "x-1", OCPP_ACTION_REMOTE_START_TRANSACTION, &r);
    request(fx, conn, "x-2", OCPP_ACTION_RESET, &r);
    assert_int_equal(core_fake_error_for(&fx->f, conn, "x-1")->err, OCPP_ERR_NOT_SUPPORTED);
    assert_int_equal(core_fake_error_for(&fx->f, conn, "x-2")->err, OCPP_ERR_NOT_SUPPORTED);
    assert_int_equal(fx->f.n_jobs, jobs);

    /* requests after the connection closed are dropped, their memory freed */
    core_conn_closed(fx->c, conn, "gone");
    core_fake_clear(&fx->f);
    meter_values(fx, conn, "m", 1, 0);
    stop_tx(fx, conn, "st", 1);
    heartbeat(fx, conn, "h");
    assert_int_equal(fx->f.n_confs + fx->f.n_errors, 0);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_METER_VALUES), 0);
}

static void test_data_transfer(void **state)
{
    struct fx *fx = *state;
    fx->cfg.data_transfer_vendors = "com.acme, org.example";
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    static const struct { const char *vendor, *want; } cases[] = {
        { "com.acme", "Accepted" },
        { "org.example", "Accepted" },
        { "com.acm", "UnknownVendorId" },
        { "com.acme.x", "UnknownVendorId" },
        { "other", "UnknownVendorId" },
    };
    char msg[32];
    for (size_t i = 0; i < 5; i++) {
        union ocpp_req r;
        memset(&r, 0, sizeof r);
        str_copy(r.data_transfer.vendor_id, sizeof r.data_transfer.vendor_id, cases[i].vendor);
        str_copy(r.data_transfer.message_id, sizeof r.data_transfer.message_id, "Ping");
        r.data_transfer.data = xstrdup("{\"k\":1}");
        snprintf(msg, sizeof msg, "dt-%zu", i);
        request(fx, conn, msg, OCPP_ACTION_DATA_TRANSFER, &r);
        const struct core_fake_conf *conf = core_fake_conf_for(&fx->f, conn, msg);
        assert_non_null(conf);
        assert_string_equal(conf->conf.body.data_transfer.status, cases[i].want);
    }
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_DATA_TRANSFER), 5);
    struct store_job *job = core_fake_job(&fx->f, STORE_OP_DATA_TRANSFER, 0);
    assert_string_equal(job->in.data_transfer.data, "{\"k\":1}");
    assert_string_equal(job->in.data_transfer.vendor_id, "com.acme");
    assert_int_equal(core_fake_event_count(&fx->f, CORE_EV_DATA_TRANSFER), 5);
    assert_string_equal(core_fake_event(&fx->f, CORE_EV_DATA_TRANSFER, 0)->status, "com.acme");
    assert_string_equal(core_fake_event(&fx->f, CORE_EV_DATA_TRANSFER, 0)->detail, "Ping");

    /* without configured vendors nothing is accepted */
    fx->cfg.data_transfer_vendors = NULL;
    restart(fx);
    conn = open_charger(fx, "CP-1");
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    str_copy(r.data_transfer.vendor_id, sizeof r.data_transfer.vendor_id, "com.acme");
    request(fx, conn, "dt", OCPP_ACTION_DATA_TRANSFER, &r);
    assert_string_equal(core_fake_conf_for(&fx->f, conn, "dt")->conf.body.data_transfer.status,
                        "UnknownVendorId");
}

static void test_firmware_and_diagnostics_status(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    str_copy(r.fw_diag_status.status, sizeof r.fw_diag_status.status, "Installing");
    request(fx, conn, "fw", OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION, &r);
    str_copy(r.fw_diag_status.status, sizeof r.fw_diag_status.status, "Uploaded");
    request(fx, conn, "dg", OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION, &r);

    assert_int_equal(core_fake_conf_for(&fx->f, conn, "fw")->conf.action,
                     OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION);
    assert_int_equal(core_fake_conf_for(&fx->f, conn, "dg")->conf.action,
                     OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION);
    assert_string_equal(core_fake_job(&fx->f, STORE_OP_FIRMWARE_STATUS, 0)->in.fw_diag_status.status,
                        "Installing");
    assert_string_equal(core_fake_job(&fx->f, STORE_OP_DIAGNOSTICS_STATUS, 0)->in.fw_diag_status.status,
                        "Uploaded");
    assert_string_equal(core_fake_event(&fx->f, CORE_EV_FIRMWARE_STATUS, 0)->status, "Installing");
    assert_string_equal(core_fake_event(&fx->f, CORE_EV_DIAGNOSTICS_STATUS, 0)->status, "Uploaded");
}

/* ================================================================ the Security Extension */

static void test_security_extension_notifications(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    str_copy(r.security_event.type, sizeof r.security_event.type, "FirmwareUpdated");
    r.security_event.timestamp_ms = T0 - 5000;
    str_copy(r.security_event.tech_info, sizeof r.security_event.tech_info, "to 2.1");
    request(fx, conn, "se", OCPP_ACTION_SECURITY_EVENT_NOTIFICATION, &r);
    memset(&r, 0, sizeof r);
    str_copy(r.request_status.status, sizeof r.request_status.status, "InvalidSignature");
    r.request_status.has_request_id = true;
    r.request_status.request_id = 7;
    request(fx, conn, "sf", OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION, &r);
    memset(&r, 0, sizeof r);
    str_copy(r.request_status.status, sizeof r.request_status.status, "Idle");
    request(fx, conn, "ls", OCPP_ACTION_LOG_STATUS_NOTIFICATION, &r);

    /* answered {} at once, written behind */
    assert_int_equal(core_fake_conf_for(&fx->f, conn, "se")->conf.action, OCPP_ACTION_SECURITY_EVENT_NOTIFICATION);
    assert_int_equal(core_fake_conf_for(&fx->f, conn, "sf")->conf.action,
                     OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION);
    assert_int_equal(core_fake_conf_for(&fx->f, conn, "ls")->conf.action, OCPP_ACTION_LOG_STATUS_NOTIFICATION);
    const struct store_job *job = core_fake_job(&fx->f, STORE_OP_CP_SECURITY_EVENT, 0);
    assert_non_null(job);
    assert_string_equal(job->charger_id, "CP-1");
    assert_string_equal(job->in.cp_security_event.type, "FirmwareUpdated");
    assert_int_equal(job->in.cp_security_event.timestamp_ms, T0 - 5000);
    assert_string_equal(job->in.cp_security_event.tech_info, "to 2.1");
    job = core_fake_job(&fx->f, STORE_OP_SIGNED_FW_STATUS, 0);
    assert_string_equal(job->in.request_status.status, "InvalidSignature");
    assert_true(job->in.request_status.has_request_id);
    assert_int_equal(job->in.request_status.request_id, 7);
    job = core_fake_job(&fx->f, STORE_OP_LOG_STATUS, 0);
    assert_string_equal(job->in.request_status.status, "Idle");
    assert_false(job->in.request_status.has_request_id);
    assert_string_equal(core_fake_event(&fx->f, CORE_EV_SECURITY, 0)->status, "FirmwareUpdated");
    /* none of them is the gateway's own security observation */
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_SECURITY_EVENT), 0);
}

static struct {
    int n;
    char charger_id[OCPP_CHARGER_ID_MAX + 1];
    char csr[64];
} signed_req;

static void fake_sign_csr(void *ctx, const char *charger_id, const char *csr_pem)
{
    (void)ctx;
    signed_req.n++;
    str_copy(signed_req.charger_id, sizeof signed_req.charger_id, charger_id);
    str_copy(signed_req.csr, sizeof signed_req.csr, csr_pem);
}

static void sign_certificate(struct fx *fx, uint64_t conn, const char *msg_id, const char *csr)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    r.sign_certificate.csr = xstrdup(csr);      /* the core takes it */
    request(fx, conn, msg_id, OCPP_ACTION_SIGN_CERTIFICATE, &r);
}

static void test_sign_certificate_without_ca_is_rejected(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    sign_certificate(fx, conn, "sc", "-----BEGIN CERTIFICATE REQUEST-----");
    const struct core_fake_conf *conf = core_fake_conf_for(&fx->f, conn, "sc");
    assert_int_equal(conf->conf.action, OCPP_ACTION_SIGN_CERTIFICATE);
    assert_false(conf->conf.body.sign_certificate_accepted);
    assert_int_equal(fx->f.n_calls, 0);
}

static void test_sign_certificate_then_certificate_signed(void **state)
{
    struct fx *fx = *state;
    core_free(fx->c);
    struct core_io io = core_fake_io(&fx->f);
    io.sign_csr = fake_sign_csr;
    fx->c = core_new(&io, &fx->cfg);
    memset(&signed_req, 0, sizeof signed_req);
    uint64_t conn = open_charger(fx, "CP-1");

    sign_certificate(fx, conn, "sc", "CSR-TEXT");
    assert_true(core_fake_conf_for(&fx->f, conn, "sc")->conf.body.sign_certificate_accepted);
    assert_int_equal(signed_req.n, 1);
    assert_string_equal(signed_req.charger_id, "CP-1");
    assert_string_equal(signed_req.csr, "CSR-TEXT");
    assert_int_equal(fx->f.n_calls, 0);         /* nothing until the signer answers */
    /* one CSR of a charger at a time: a second one meanwhile is Rejected and not signed */
    sign_certificate(fx, conn, "sc2", "CSR-TEXT-2");
    assert_false(core_fake_conf_for(&fx->f, conn, "sc2")->conf.body.sign_certificate_accepted);
    assert_int_equal(signed_req.n, 1);

    /* the signer's answer: a CertificateSigned command of the gateway's own */
    core_on_csr_signed(fx->c, "CP-1", "{\"certificateChain\":\"PEM\"}", NULL);
    assert_int_equal(fx->f.n_calls, 1);
    assert_int_equal(fx->f.calls[0].conn_id, conn);
    assert_int_equal(fx->f.calls[0].action, OCPP_ACTION_CERTIFICATE_SIGNED);
    assert_string_equal(fx->f.calls[0].payload, "{\"certificateChain\":\"PEM\"}");
    const struct store_job *row = core_fake_job(&fx->f, STORE_OP_COMMAND, 0);
    assert_non_null(row);
    assert_string_equal(row->in.command.action, "CertificateSigned");
    assert_string_equal(row->in.command.origin, "gateway");
    assert_int_equal(row->in.command.api_key_id, 0);

    /* a refused CSR: no certificate, a security event of the gateway's */
    core_on_csr_signed(fx->c, "CP-1", NULL, "subject CN must be the charge point id 'CP-1'");
    assert_int_equal(fx->f.n_calls, 1);
    assert_int_equal(security_jobs(fx, "csr_rejected"), 1);
    /* answered: the charger may ask again */
    sign_certificate(fx, conn, "sc3", "CSR-TEXT-3");
    assert_true(core_fake_conf_for(&fx->f, conn, "sc3")->conf.body.sign_certificate_accepted);
    assert_int_equal(signed_req.n, 2);
    core_on_csr_signed(fx->c, "CP-1", NULL, "weak key");

    /* an answer for a charger that left meanwhile sends nothing */
    core_conn_closed(fx->c, conn, "gone");
    core_on_csr_signed(fx->c, "CP-1", "{\"certificateChain\":\"PEM\"}", NULL);
    assert_int_equal(fx->f.n_calls, 1);
}

/* ================================================================ time */

static const struct store_last_seen *last_seen_item(const struct store_job *job, const char *id)
{
    for (size_t i = 0; i < job->in.last_seen.n; i++)
        if (strcmp(job->in.last_seen.items[i].charger_id, id) == 0)
            return &job->in.last_seen.items[i];
    return NULL;
}

static void test_last_seen_flush(void **state)
{
    struct fx *fx = *state;
    fx->cfg.last_seen_flush_ms = 5000;
    restart(fx);
    uint64_t a = open_charger(fx, "CP-A");
    uint64_t b = open_charger(fx, "CP-B");
    open_charger(fx, "CP-IDLE");
    add_charger(fx, "CP-OFF", NULL, 0, "Accepted");

    core_fake_advance(&fx->f, 1000);
    heartbeat(fx, a, "h1");
    core_fake_advance(&fx->f, 1000);
    heartbeat(fx, b, "h1");
    core_fake_advance(&fx->f, 1000);
    heartbeat(fx, a, "h2");
    core_fake_advance(&fx->f, 1999);
    int wait = core_expire(fx->c);
    assert_true(wait >= 0 && wait <= 1000);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_LAST_SEEN), 0);

    core_fake_advance(&fx->f, 1);
    core_expire(fx->c);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_LAST_SEEN), 1);
    struct store_job *job = core_fake_job(&fx->f, STORE_OP_LAST_SEEN, 0);
    assert_int_equal(job->in.last_seen.n, 2);
    assert_non_null(last_seen_item(job, "CP-A"));
    assert_non_null(last_seen_item(job, "CP-B"));
    assert_int_equal(last_seen_item(job, "CP-A")->at_ms, T0 + 3000);
    assert_int_equal(last_seen_item(job, "CP-B")->at_ms, T0 + 2000);
    core_fake_complete(fx->c, core_fake_take(&fx->f, STORE_OP_LAST_SEEN), STORE_OK);

    /* nothing new: no job at the next flush */
    core_fake_advance(&fx->f, 5000);
    core_expire(fx->c);
    assert_int_equal(core_fake_job_count(&fx->f, STORE_OP_LAST_SEEN), 0);

    /* activity from a charger that then disconnects is still written */
    heartbeat(fx, b, "h2");
    core_conn_closed(fx->c, b, "gone");
    core_fake_advance(&fx->f, 5000);
    core_expire(fx->c);
    job = core_fake_job(&fx->f, STORE_OP_LAST_SEEN, 0);
    assert_non_null(job);
    assert_int_equal(job->in.last_seen.n, 1);
    assert_int_equal(job->in.last_seen.items[0].at_ms, T0 + 10000);
}

static void test_expire_deadline(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_timeout_ms = 300;
    restart(fx);
    open_charger(fx, "CP-1");
    int wait = core_expire(fx->c);
    assert_true(wait > 0 && wait <= 1000);
    struct core_fake_cmd *r = recs(fx, 1);
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", r, NULL),
                     CORE_CALL_OK);
    core_fake_advance(&fx->f, 100);
    wait = core_expire(fx->c);
    assert_true(wait <= 200);
    core_fake_advance(&fx->f, wait);
    core_expire(fx->c);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->state, CORE_CMD_FAILED);
    assert_int_equal(r->outcome, CORE_CMD_TIMEOUT);
}

/* ================================================================ commands' CALLs */

/*
 * Commands here are plain ones (ClearCache, Reset, ...): what they check is
 * the CALL slot every command rides on. What is special to commands (rows,
 * remote-start waits, stop dedup) is in test_core_commands.c.
 */

/* A command of action a, whose waiter is cb(user). */
static enum core_call_err command_cb(struct core *c, const char *charger_id, enum ocpp_action a,
                                     const char *payload, core_command_cb cb, void *user)
{
    struct core_command_req req = { .charger_id = charger_id, .action = a, .payload_json = payload };
    return core_command_submit(c, &req, cb, user, NULL, NULL);
}

static void test_call_one_in_flight(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r1 = recs(fx, 1);
    struct core_fake_cmd *r2 = recs(fx, 1);
    char id1[CORE_CMD_ID_LEN + 1], id2[CORE_CMD_ID_LEN + 1];
    struct core_fake_cmd v;

    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_RESET, "{\"type\":\"Hard\"}", r1,
                                       id1), CORE_CALL_OK);
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_UNLOCK_CONNECTOR,
                                       "{\"connectorId\":1}", r2, id2), CORE_CALL_OK);
    assert_string_not_equal(id1, id2);
    /* the first went out, the second waits behind it */
    assert_true(core_fake_find(fx->c, id1, &v));
    assert_int_equal(v.state, CORE_CMD_SENT);
    assert_true(v.sent);
    assert_true(core_fake_find(fx->c, id2, &v));
    assert_int_equal(v.state, CORE_CMD_QUEUED);
    assert_false(v.sent);
    assert_int_equal(fx->f.n_calls, 1);
    char m1[OCPP_ID_MAX + 1];
    str_copy(m1, sizeof m1, fx->f.calls[0].msg_id);
    assert_true(strlen(m1) > 0 && strlen(m1) <= OCPP_ID_MAX);
    assert_int_equal(fx->f.calls[0].conn_id, conn);
    assert_int_equal(fx->f.calls[0].action, OCPP_ACTION_RESET);
    assert_string_equal(fx->f.calls[0].payload, "{\"type\":\"Hard\"}");

    core_fake_result(fx->c, conn, m1, ACCEPTED, "Accepted");
    assert_int_equal(r1->n, 1);
    assert_int_equal(r1->state, CORE_CMD_COMPLETED);
    assert_int_equal(r1->outcome, CORE_CMD_ANSWERED);
    assert_string_equal(r1->response, ACCEPTED);
    assert_int_equal(r2->n, 0);
    assert_int_equal(fx->f.n_calls, 2);
    assert_string_not_equal(fx->f.calls[1].msg_id, m1);
    assert_int_equal(fx->f.calls[1].action, OCPP_ACTION_UNLOCK_CONNECTOR);
    assert_true(core_fake_find(fx->c, id2, &v));
    assert_int_equal(v.state, CORE_CMD_SENT);

    core_fake_result(fx->c, conn, fx->f.calls[1].msg_id, "{\"status\":\"Unlocked\"}", "Unlocked");
    assert_int_equal(r2->n, 1);
    assert_int_equal(r2->outcome, CORE_CMD_ANSWERED);
    assert_string_equal(r2->response, "{\"status\":\"Unlocked\"}");
    /* a late duplicate answer is dropped */
    core_fake_result(fx->c, conn, fx->f.calls[1].msg_id, "{\"status\":\"Unlocked\"}", "Unlocked");
    assert_int_equal(r2->n, 1);
    assert_int_equal(r1->n, 1);
    assert_int_equal(fx->f.n_calls, 2);
}

static void test_calls_are_per_charger(void **state)
{
    struct fx *fx = *state;
    uint64_t a = open_charger(fx, "CP-A");
    uint64_t b = open_charger(fx, "CP-B");
    struct core_fake_cmd *ra = recs(fx, 1);
    struct core_fake_cmd *rb = recs(fx, 1);
    core_fake_command(fx->c, "CP-A", OCPP_ACTION_CLEAR_CACHE, "{}", ra, NULL);
    core_fake_command(fx->c, "CP-B", OCPP_ACTION_CLEAR_CACHE, "{}", rb, NULL);
    assert_int_equal(fx->f.n_calls, 2); /* one in flight each */
    assert_int_equal(fx->f.calls[0].conn_id, a);
    assert_int_equal(fx->f.calls[1].conn_id, b);
    const char *ida = fx->f.calls[0].msg_id, *idb = fx->f.calls[1].msg_id;
    /* an answer on the wrong connection does not complete the other's call */
    core_fake_result(fx->c, b, ida, "{}", NULL);
    assert_int_equal(ra->n, 0);
    assert_int_equal(rb->n, 0);
    core_fake_result(fx->c, a, ida, "{}", NULL);
    core_fake_result(fx->c, b, idb, "{}", NULL);
    assert_int_equal(ra->n, 1);
    assert_int_equal(rb->n, 1);
    assert_int_equal(ra->outcome, CORE_CMD_ANSWERED);
    assert_int_equal(rb->outcome, CORE_CMD_ANSWERED);
}

static void test_call_timeout(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_timeout_ms = 30000;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r1 = recs(fx, 1);
    struct core_fake_cmd *r2 = recs(fx, 1);
    char id2[CORE_CMD_ID_LEN + 1];
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_GET_CONFIGURATION, "{}", r1, NULL);
    core_fake_advance(&fx->f, 10000);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", r2, id2);
    char m1[OCPP_ID_MAX + 1];
    str_copy(m1, sizeof m1, fx->f.calls[0].msg_id);

    core_fake_advance(&fx->f, 19999);
    core_expire(fx->c);
    assert_int_equal(r1->n, 0);
    assert_int_equal(fx->f.n_calls, 1);

    core_fake_advance(&fx->f, 1);
    core_expire(fx->c);
    assert_int_equal(r1->n, 1);
    assert_int_equal(r1->state, CORE_CMD_FAILED);
    assert_int_equal(r1->outcome, CORE_CMD_TIMEOUT);
    assert_true(r1->sent);
    assert_int_equal(fx->f.n_calls, 2);
    assert_int_equal(fx->f.calls[1].action, OCPP_ACTION_CLEAR_CACHE);

    /* the answer to the timed-out call comes too late: dropped */
    core_fake_result(fx->c, conn, m1, "{}", NULL);
    assert_int_equal(r1->n, 1);
    assert_int_equal(r2->n, 0);
    struct core_fake_cmd v;
    assert_true(core_fake_find(fx->c, id2, &v));
    assert_int_equal(v.state, CORE_CMD_SENT);

    /* the second call's deadline runs from when it was sent */
    core_fake_advance(&fx->f, 29999);
    core_expire(fx->c);
    assert_int_equal(r2->n, 0);
    core_fake_advance(&fx->f, 1);
    core_expire(fx->c);
    assert_int_equal(r2->n, 1);
    assert_int_equal(r2->outcome, CORE_CMD_TIMEOUT);
    assert_true(core_charger_connected(fx->c, "CP-1")); /* a timeout does not drop the charger */
}

static void test_timeouts_on_several_chargers(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_timeout_ms = 1000;
    restart(fx);
    uint64_t a = open_charger(fx, "CP-A");
    uint64_t b = open_charger(fx, "CP-B");
    struct core_fake_cmd *r = recs(fx, 4);
    core_fake_command(fx->c, "CP-A", OCPP_ACTION_CLEAR_CACHE, "{\"a\":1}", &r[0], NULL);
    core_fake_command(fx->c, "CP-B", OCPP_ACTION_CLEAR_CACHE, "{\"b\":1}", &r[1], NULL);
    core_fake_command(fx->c, "CP-A", OCPP_ACTION_CLEAR_CACHE, "{\"a\":2}", &r[2], NULL);
    core_fake_command(fx->c, "CP-B", OCPP_ACTION_CLEAR_CACHE, "{\"b\":2}", &r[3], NULL);
    assert_int_equal(fx->f.n_calls, 2);

    core_fake_advance(&fx->f, 1000);
    core_expire(fx->c);
    assert_int_equal(r[0].outcome, CORE_CMD_TIMEOUT);
    assert_int_equal(r[1].outcome, CORE_CMD_TIMEOUT);
    assert_int_equal(r[0].n + r[1].n, 2);
    assert_int_equal(r[2].n + r[3].n, 0);
    /* both chargers got their next call, each on its own connection */
    assert_int_equal(fx->f.n_calls, 4);
    for (size_t i = 2; i < 4; i++) {
        const struct core_fake_call *call = &fx->f.calls[i];
        assert_string_equal(call->payload, call->conn_id == a ? "{\"a\":2}" : "{\"b\":2}");
        assert_true(call->conn_id == a || call->conn_id == b);
    }
    assert_true(fx->f.calls[2].conn_id != fx->f.calls[3].conn_id);
    core_fake_advance(&fx->f, 999);
    core_expire(fx->c);
    assert_int_equal(r[2].n + r[3].n, 0);
    core_fake_advance(&fx->f, 1);
    core_expire(fx->c);
    assert_int_equal(r[2].n, 1);
    assert_int_equal(r[3].n, 1);
    assert_int_equal(r[2].outcome, CORE_CMD_TIMEOUT);
    assert_int_equal(r[3].outcome, CORE_CMD_TIMEOUT);
}

static void test_call_error(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r1 = recs(fx, 1);
    struct core_fake_cmd *r2 = recs(fx, 1);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_RESERVE_NOW, "{}", r1, NULL);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", r2, NULL);
    char m1[OCPP_ID_MAX + 1];
    str_copy(m1, sizeof m1, fx->f.calls[0].msg_id);
    core_on_call_error(fx->c, conn, "no-such-id", "InternalError", "x");
    assert_int_equal(r1->n, 0);
    core_on_call_error(fx->c, conn, m1, "NotSupported", "reservations are off");
    assert_int_equal(r1->n, 1);
    assert_int_equal(r1->state, CORE_CMD_FAILED);
    assert_int_equal(r1->outcome, CORE_CMD_CALL_ERROR);
    assert_string_equal(r1->error_code, "NotSupported");
    assert_string_equal(r1->error_description, "reservations are off");
    assert_false(r1->has_response);
    assert_int_equal(fx->f.n_calls, 2); /* the next one went out */
    core_fake_result(fx->c, conn, fx->f.calls[1].msg_id, ACCEPTED, "Accepted");
    assert_int_equal(r2->n, 1);
    assert_int_equal(r2->outcome, CORE_CMD_ANSWERED);
    assert_string_equal(r2->status, "Accepted");
}

static void test_call_unknown_id_dropped(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 1);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", r, NULL);
    char id[OCPP_ID_MAX + 1];
    str_copy(id, sizeof id, fx->f.calls[0].msg_id);
    core_fake_result(fx->c, conn, "not-ours", "{}", NULL);
    core_fake_result(fx->c, conn + 1000, id, "{}", NULL); /* a connection that does not exist */
    core_on_call_error(fx->c, conn + 1000, id, "GenericError", "");
    assert_int_equal(r->n, 0);
    core_fake_result(fx->c, conn, id, "{}", NULL);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->outcome, CORE_CMD_ANSWERED);
    /* results with no call in flight at all */
    core_fake_result(fx->c, conn, "whatever", "{}", NULL);
    core_on_call_error(fx->c, conn, "whatever", "GenericError", NULL);
    assert_int_equal(r->n, 1);
}

static void test_call_disconnect_fails_all(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", &r[i], NULL),
                         CORE_CALL_OK);
    char id0[OCPP_ID_MAX + 1];
    str_copy(id0, sizeof id0, fx->f.calls[0].msg_id);
    core_conn_closed(fx->c, conn, "network");
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].n, 1);
        assert_int_equal(r[i].state, CORE_CMD_FAILED);
        assert_int_equal(r[i].outcome, CORE_CMD_DISCONNECTED);
        assert_int_equal(r[i].sent, i == 0); /* the queued ones never went out */
        assert_false(r[i].has_response);     /* no payload for a call never answered */
        assert_false(r[i].has_error_code);
    }
    assert_int_equal(fx->f.n_calls, 1);

    /* nothing fires again: late answer, timeout, reconnect, shutdown */
    core_fake_result(fx->c, conn, id0, "{}", NULL);
    core_fake_advance(&fx->f, 60000);
    core_expire(fx->c);
    uint64_t conn2 = connect_from(fx, "CP-1", ADDR, NULL);
    core_fake_result(fx->c, conn2, id0, "{}", NULL);
    assert_int_equal(fx->f.n_calls, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i].n, 1);
    /* the new connection takes calls again */
    struct core_fake_cmd *again = recs(fx, 1);
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", again, NULL),
                     CORE_CALL_OK);
    assert_int_equal(fx->f.n_calls, 2);
    assert_int_equal(fx->f.calls[1].conn_id, conn2);
    core_fake_result(fx->c, conn2, fx->f.calls[1].msg_id, "{}", NULL);
    assert_int_equal(again->n, 1);
    assert_int_equal(again->outcome, CORE_CMD_ANSWERED);
}

static void test_call_replacement_fails_all(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", PW, 1, "Accepted");
    uint64_t old = connect_from(fx, "CP-1", ADDR, PW);
    struct core_fake_cmd *r1 = recs(fx, 1);
    struct core_fake_cmd *r2 = recs(fx, 1);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", r1, NULL);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", r2, NULL);
    char id1[OCPP_ID_MAX + 1];
    str_copy(id1, sizeof id1, fx->f.calls[0].msg_id);
    uint64_t neu = connect_from(fx, "CP-1", ADDR2, PW);
    assert_int_equal(r1->n, 1);
    assert_int_equal(r1->outcome, CORE_CMD_DISCONNECTED);
    assert_true(r1->sent);
    assert_int_equal(r2->n, 1);
    assert_int_equal(r2->outcome, CORE_CMD_DISCONNECTED);
    assert_false(r2->sent);
    /* the old socket's answer to the old call completes nothing */
    core_fake_result(fx->c, old, id1, "{}", NULL);
    core_fake_result(fx->c, neu, id1, "{}", NULL);
    core_conn_closed(fx->c, old, "replaced");
    assert_int_equal(r1->n, 1);
    assert_int_equal(r2->n, 1);
    assert_int_equal(fx->f.n_calls, 1);
}

static void test_call_queue_full(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_queue_max = 2;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    struct core_fake_cmd *r = recs(fx, 5);
    /* one in flight, call_queue_max waiting */
    for (int i = 0; i < 3; i++)
        assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", &r[i], NULL),
                         CORE_CALL_OK);
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", &r[3], NULL),
                     CORE_CALL_ERR_QUEUE_FULL);
    assert_int_equal(r[3].n, 0); /* a refused call has no callback */
    assert_int_equal(core_commands_live(fx->c), 3);

    /* one answered: there is room for one more */
    core_fake_result(fx->c, conn, fx->f.calls[0].msg_id, "{}", NULL);
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", &r[4], NULL),
                     CORE_CALL_OK);
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", &r[3], NULL),
                     CORE_CALL_ERR_QUEUE_FULL);
    /* answered in order */
    for (int i = 1; i < 3; i++)
        core_fake_result(fx->c, conn, fx->f.calls[i].msg_id, "{}", NULL);
    core_fake_result(fx->c, conn, fx->f.calls[3].msg_id, "{}", NULL);
    for (int i = 0; i < 5; i++)
        assert_int_equal(r[i].n, i == 3 ? 0 : 1);
    assert_int_equal(fx->f.n_calls, 4);
}

static void test_call_offline_unknown(void **state)
{
    struct fx *fx = *state;
    add_charger(fx, "CP-1", NULL, 0, "Accepted");
    struct core_fake_cmd *r = recs(fx, 1);
    char id[CORE_CMD_ID_LEN + 1] = "untouched";
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_RESET, "{}", r, id),
                     CORE_CALL_ERR_OFFLINE);
    assert_int_equal(core_fake_command(fx->c, "NOPE", OCPP_ACTION_RESET, "{}", r, id),
                     CORE_CALL_ERR_UNKNOWN_CHARGER);
    uint64_t conn = connect_from(fx, "CP-1", ADDR, NULL);
    core_conn_closed(fx->c, conn, "bye");
    assert_int_equal(core_fake_command(fx->c, "CP-1", OCPP_ACTION_RESET, "{}", r, id),
                     CORE_CALL_ERR_OFFLINE);
    assert_int_equal(r->n, 0);
    assert_int_equal(fx->f.n_calls, 0);
    assert_string_equal(id, "untouched");
    assert_int_equal(core_commands_live(fx->c), 0);
}

static void test_free_cancels_calls(void **state)
{
    struct fx *fx = *state;
    open_charger(fx, "CP-1");
    open_charger(fx, "CP-2");
    uint64_t conn3 = open_charger(fx, "CP-3");
    authorize(fx, conn3, "a", "TAG");        /* an inbound call parked at shutdown */
    meter_values(fx, conn3, "m", 1, 0);
    struct core_fake_cmd *r = recs(fx, 5);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", &r[0], NULL);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", &r[1], NULL);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", &r[2], NULL);
    core_fake_command(fx->c, "CP-2", OCPP_ACTION_CLEAR_CACHE, "{}", &r[3], NULL);
    core_fake_command(fx->c, "CP-3", OCPP_ACTION_CLEAR_CACHE, "{}", &r[4], NULL);
    assert_int_equal(fx->f.calls[2].conn_id, conn3);
    core_fake_result(fx->c, conn3, fx->f.calls[2].msg_id, "{}", NULL);
    assert_int_equal(r[4].n, 1);

    core_free(fx->c);
    fx->c = NULL;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].n, 1);
        assert_int_equal(r[i].state, CORE_CMD_FAILED);
        assert_int_equal(r[i].outcome, CORE_CMD_CANCELLED);
    }
    assert_int_equal(r[4].n, 1);
    assert_int_equal(r[4].outcome, CORE_CMD_ANSWERED);
    /* the jobs still at the "store" are freed by the fake in teardown (leak checkers watch) */
}

/* A waiter that submits a follow-up command, as a REST "retry" would. */
struct chain {
    struct core *c;
    struct core_fake_cmd first;
    struct core_fake_cmd second;
    enum core_call_err second_err;
};

static void chain_cb(void *user, const struct core_command_view *v)
{
    struct chain *ch = user;
    core_fake_record(&ch->first, v);
    ch->second_err = core_fake_command(ch->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{\"n\":2}",
                                       &ch->second, NULL);
}

static void test_call_from_callback(void **state)
{
    struct fx *fx = *state;
    uint64_t conn = open_charger(fx, "CP-1");
    struct chain *ch = scratch(fx, sizeof *ch);
    ch->c = fx->c;
    struct core_fake_cmd *queued = recs(fx, 1);
    command_cb(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{\"n\":1}", chain_cb, ch);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{\"n\":1.5}", queued, NULL);
    core_fake_result(fx->c, conn, fx->f.calls[0].msg_id, "{}", NULL);
    assert_int_equal(ch->first.n, 1);
    assert_int_equal(ch->second_err, CORE_CALL_OK);
    /* still one at a time, in the order they were asked for */
    assert_int_equal(fx->f.n_calls, 2);
    assert_string_equal(fx->f.calls[1].payload, "{\"n\":1.5}");
    core_fake_result(fx->c, conn, fx->f.calls[1].msg_id, "{}", NULL);
    assert_int_equal(queued->n, 1);
    assert_int_equal(fx->f.n_calls, 3);
    assert_string_equal(fx->f.calls[2].payload, "{\"n\":2}");

    /* a callback run by a disconnect cannot queue onto the dead connection */
    struct chain *ch2 = scratch(fx, sizeof *ch2);
    ch2->c = fx->c;
    core_fake_result(fx->c, conn, fx->f.calls[2].msg_id, "{}", NULL);
    assert_int_equal(ch->second.n, 1);
    command_cb(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", chain_cb, ch2);
    core_conn_closed(fx->c, conn, "gone");
    assert_int_equal(ch2->first.n, 1);
    assert_int_equal(ch2->first.outcome, CORE_CMD_DISCONNECTED);
    assert_int_equal(ch2->second_err, CORE_CALL_ERR_OFFLINE);
    assert_int_equal(ch2->second.n, 0);
}

/* A waiter that asks for another command whatever happened, as a naive retry would. */
struct retry {
    struct core *c;
    const char *charger_id;
    struct core_fake_cmd got;
    enum core_call_err retry_err;
};

static void retry_cb(void *user, const struct core_command_view *v)
{
    struct retry *r = user;
    core_fake_record(&r->got, v);
    r->retry_err = command_cb(r->c, r->charger_id, OCPP_ACTION_CLEAR_CACHE, "{}", retry_cb, r);
}

static void test_retry_from_timeout_callback(void **state)
{
    struct fx *fx = *state;
    fx->cfg.call_timeout_ms = 1000;
    restart(fx);
    uint64_t conn = open_charger(fx, "CP-1");
    struct retry *r = scratch(fx, sizeof *r);
    r->c = fx->c;
    r->charger_id = "CP-1";
    struct core_fake_cmd *behind = recs(fx, 1);
    command_cb(fx->c, "CP-1", OCPP_ACTION_CLEAR_CACHE, "{}", retry_cb, r);
    core_fake_command(fx->c, "CP-1", OCPP_ACTION_RESET, "{\"type\":\"Soft\"}", behind, NULL);
    core_fake_advance(&fx->f, 1000);
    core_expire(fx->c);
    assert_int_equal(r->got.n, 1);
    assert_int_equal(r->got.outcome, CORE_CMD_TIMEOUT);
    assert_int_equal(r->retry_err, CORE_CALL_OK);
    /* the retry waits behind what was already queued; one call in flight */
    assert_int_equal(fx->f.n_calls, 2);
    assert_int_equal(fx->f.calls[1].action, OCPP_ACTION_RESET);
    core_fake_result(fx->c, conn, fx->f.calls[1].msg_id, "{}", NULL);
    assert_int_equal(behind->n, 1);
    assert_int_equal(fx->f.n_calls, 3);
    assert_int_equal(fx->f.calls[2].action, OCPP_ACTION_CLEAR_CACHE);
    /* the retried command's waiter runs once more; stop retrying by asking for an unknown charger */
    r->charger_id = "NOPE";
    core_fake_result(fx->c, conn, fx->f.calls[2].msg_id, "{}", NULL);
    assert_int_equal(r->got.n, 2);
    assert_int_equal(r->got.outcome, CORE_CMD_ANSWERED);
    assert_int_equal(r->retry_err, CORE_CALL_ERR_UNKNOWN_CHARGER);
}

static void test_free_refuses_calls_from_callbacks(void **state)
{
    struct fx *fx = *state;
    open_charger(fx, "CP-1");
    open_charger(fx, "CP-2");
    struct retry *r = scratch(fx, 4 * sizeof *r);
    static const char *const retry_to[4] = { "CP-1", "CP-2", "CP-2", "CP-1" };
    for (int i = 0; i < 4; i++) {
        r[i].c = fx->c;
        r[i].charger_id = retry_to[i];
    }
    static const char *const to[4] = { "CP-1", "CP-1", "CP-2", "CP-2" };
    for (int i = 0; i < 4; i++)
        assert_int_equal(command_cb(fx->c, to[i], OCPP_ACTION_CLEAR_CACHE, "{}", retry_cb, &r[i]),
                         CORE_CALL_OK);
    size_t sent = fx->f.n_calls;

    /* shutting down: a command asked for from a CANCELLED waiter is refused, not lost */
    core_free(fx->c);
    fx->c = NULL;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].got.n, 1);
        assert_int_equal(r[i].got.outcome, CORE_CMD_CANCELLED);
        assert_true(r[i].retry_err != CORE_CALL_OK);
    }
    assert_int_equal(fx->f.n_calls, sent); /* nothing sent on a socket being torn down */
}

/* ---- load management configuration: the site registry, a charger's limits ---- */

static struct store_site site_row(const char *id, int32_t max_da, int64_t power_w, int64_t version)
{
    struct store_site row = { .max_current_da = max_da, .max_power_w = power_w, .min_current_da = 60,
                              .phases = 3, .voltage = 230, .redistribute = true, .version = version };
    str_copy(row.id, sizeof row.id, id);
    return row;
}

static void test_site_registry(void **state)
{
    struct fx *fx = *state;
    assert_null(core_site_get(fx->c, "S1"));
    struct store_site row = site_row("S1", 320, 22000, 1);
    row.lb_enabled = true;
    row.strategy = LOAD_STRATEGY_PRIORITY;
    core_site_upsert(fx->c, &row);
    const struct core_site *s = core_site_get(fx->c, "S1");
    assert_non_null(s);
    assert_int_equal(s->max_current_da, 320);
    assert_int_equal(s->limit_da, 318);         /* 22000 W / 690 V = 31.88 A, down to 31.8 */
    assert_true(s->lb_enabled);
    assert_int_equal(s->strategy, LOAD_STRATEGY_PRIORITY);
    assert_int_equal(s->min_current_da, 60);

    /* a newer row changes it; an older one read late does not */
    struct store_site newer = site_row("S1", 160, 0, 3);
    core_site_upsert(fx->c, &newer);
    assert_int_equal(core_site_get(fx->c, "S1")->limit_da, 160);
    assert_false(core_site_get(fx->c, "S1")->lb_enabled);
    core_site_upsert(fx->c, &row);              /* version 1 < 3 */
    assert_int_equal(core_site_get(fx->c, "S1")->limit_da, 160);

    /* no limit at all */
    struct store_site none = site_row("S2", LOAD_NONE, 0, 0);
    core_site_upsert(fx->c, &none);
    assert_int_equal(core_site_get(fx->c, "S2")->limit_da, LOAD_NONE);
    assert_int_equal(core_site_count(fx->c), 2);

    /* deleted */
    struct store_site gone = { .deleted = true };
    str_copy(gone.id, sizeof gone.id, "S2");
    core_site_upsert(fx->c, &gone);
    assert_null(core_site_get(fx->c, "S2"));
    assert_null(core_site_get(fx->c, ""));

    /* reloaded: S1 changed after the mark stays as it is, S3 new, a site missing from the table goes */
    uint64_t mark = core_registry_mark(fx->c);
    struct store_site s4 = site_row("S4", 100, 0, 0);
    core_site_upsert(fx->c, &s4);               /* after the mark: kept though the snapshot lacks it */
    struct store_site later = site_row("S1", 200, 0, 4);
    core_site_upsert(fx->c, &later);            /* after the mark */
    struct store_site rows[2] = { site_row("S1", 160, 0, 3), site_row("S3", 630, 0, 0) };
    struct store_site s5 = site_row("S5", 50, 0, 0);
    core_site_upsert(fx->c, &s5);
    core_sites_sync(fx->c, rows, 2, mark);
    assert_int_equal(core_site_get(fx->c, "S1")->limit_da, 200);
    assert_int_equal(core_site_get(fx->c, "S3")->limit_da, 630);
    assert_non_null(core_site_get(fx->c, "S4"));
    assert_non_null(core_site_get(fx->c, "S5"));    /* also changed after the mark */
    uint64_t mark2 = core_registry_mark(fx->c);
    core_sites_sync(fx->c, rows, 2, mark2);
    assert_null(core_site_get(fx->c, "S4"));
    assert_null(core_site_get(fx->c, "S5"));
    assert_int_equal(core_site_count(fx->c), 2);
}

/* A charger row with its load management columns (load_known). */
static void add_charger_limits(struct fx *fx, const char *id, const char *site, int32_t max_da, int32_t limit_da,
                               int64_t version)
{
    struct store_charger row = { .load_known = true, .max_current_da = max_da, .power_limit_da = limit_da,
                                 .version = version };
    str_copy(row.id, sizeof row.id, id);
    str_copy(row.registration, sizeof row.registration, "Accepted");
    str_copy(row.site_id, sizeof row.site_id, site);
    core_charger_upsert(fx->c, &row);
}

static void boot(struct fx *fx, uint64_t conn, const char *msg_id)
{
    union ocpp_req r;
    memset(&r, 0, sizeof r);
    str_copy(r.boot.vendor, sizeof r.boot.vendor, "Acme");
    str_copy(r.boot.model, sizeof r.boot.model, "W");
    request(fx, conn, msg_id, OCPP_ACTION_BOOT_NOTIFICATION, &r);
}

static void test_power_limit_sent_at_boot(void **state)
{
    struct fx *fx = *state;
    fx->cfg.load_stack_level = 3;
    restart(fx);
    add_charger_limits(fx, "CP-L", "S1", 320, 125, 1);
    uint64_t conn = connect_from(fx, "CP-L", ADDR, NULL);
    size_t calls = fx->f.n_calls;
    boot(fx, conn, "b-1");
    assert_int_equal(fx->f.n_calls, calls + 1);
    const struct core_fake_call *k = &fx->f.calls[calls];
    assert_true(k->conn_id == conn);
    assert_int_equal(k->action, OCPP_ACTION_SET_CHARGING_PROFILE);
    struct store_job *row = core_fake_job(&fx->f, STORE_OP_COMMAND, 0);
    assert_non_null(row);
    assert_string_equal(row->in.command.origin, "gateway");
    assert_string_equal(row->in.command.action, "SetChargingProfile");
    assert_string_equal(row->in.command.payload,
                        "{\"connectorId\":0,\"csChargingProfiles\":{\"chargingProfileId\":9000,\"stackLevel\":3,"
                        "\"chargingProfilePurpose\":\"ChargePointMaxProfile\",\"chargingProfileKind\":\"Relative\","
                        "\"chargingSchedule\":{\"chargingRateUnit\":\"A\",\"chargingSchedulePeriod\":"
                        "[{\"startPeriod\":0,\"limit\":12.5}]}}}");

    /* a partial row (a write that did not read the load columns) keeps them: still sent at the next boot */
    struct store_charger partial = { .security_profile = 0, .version = 2 };
    str_copy(partial.id, sizeof partial.id, "CP-L");
    str_copy(partial.registration, sizeof partial.registration, "Accepted");
    core_charger_upsert(fx->c, &partial);
    core_on_call_result(fx->c, conn, k->msg_id, &(struct core_answer){ .payload_json = ACCEPTED,
                                                                        .status = "Accepted" });
    calls = fx->f.n_calls;
    boot(fx, conn, "b-2");
    assert_int_equal(fx->f.n_calls, calls + 1);
    assert_int_equal(fx->f.calls[calls].action, OCPP_ACTION_SET_CHARGING_PROFILE);
    {
        size_t n = core_fake_job_count(&fx->f, STORE_OP_COMMAND);
        assert_non_null(strstr(core_fake_job(&fx->f, STORE_OP_COMMAND, n - 1)->in.command.payload,
                               "\"limit\":12.5}"));
    }
    core_on_call_result(fx->c, conn, fx->f.calls[calls].msg_id,
                        &(struct core_answer){ .payload_json = ACCEPTED, .status = "Accepted" });

    /* the limit removed: nothing at boot */
    add_charger_limits(fx, "CP-L", "S1", 320, LOAD_NONE, 3);
    calls = fx->f.n_calls;
    boot(fx, conn, "b-3");
    assert_int_equal(fx->f.n_calls, calls);

    /* a charger without a stored limit, or one that is not Accepted, gets none */
    add_charger_limits(fx, "CP-N", "", LOAD_NONE, LOAD_NONE, 0);
    uint64_t conn2 = connect_from(fx, "CP-N", ADDR, NULL);
    boot(fx, conn2, "b-4");
    assert_int_equal(fx->f.n_calls, calls);
}

static void test_power_limit_command(void **state)
{
    struct fx *fx = *state;
    add_charger_limits(fx, "CP-P", "", LOAD_NONE, LOAD_NONE, 0);
    uint64_t conn = connect_from(fx, "CP-P", ADDR, NULL);
    struct core_command_req req = { .charger_id = "CP-P", .api_key_id = 7, .origin = CORE_CMD_ORIGIN_LOAD };
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(core_power_limit_command(fx->c, &req, LOAD_NONE, NULL, NULL, id), CORE_CALL_OK);
    const struct core_fake_call *k = &fx->f.calls[fx->f.n_calls - 1];
    assert_true(k->conn_id == conn);
    assert_int_equal(k->action, OCPP_ACTION_CLEAR_CHARGING_PROFILE);
    struct store_job *row = core_fake_job(&fx->f, STORE_OP_COMMAND, 0);
    assert_string_equal(row->in.command.origin, "load");
    assert_string_equal(row->in.command.payload,
                        "{\"connectorId\":0,\"chargingProfilePurpose\":\"ChargePointMaxProfile\",\"stackLevel\":1}");
    /* offline: refused like any command */
    req.charger_id = "CP-nobody";
    assert_int_equal(core_power_limit_command(fx->c, &req, 160, NULL, NULL, id), CORE_CALL_ERR_UNKNOWN_CHARGER);
    assert_string_equal(core_cmd_origin_name(CORE_CMD_ORIGIN_API), "api");
    assert_string_equal(core_cmd_origin_name(CORE_CMD_ORIGIN_GATEWAY), "gateway");
}

/*
 * A power limit changed while the charger is connected here, as the
 * registry learns it (another gateway's write: its NOTIFY): sent after the
 * grace period; when this process sends that limit itself first (its REST
 * write, whose row may come after the NOTIFY), only once.
 */
static void test_power_limit_changed_elsewhere(void **state)
{
    struct fx *fx = *state;
    add_charger_limits(fx, "CP-E", "", LOAD_NONE, LOAD_NONE, 1);
    uint64_t conn = connect_from(fx, "CP-E", ADDR, NULL);
    size_t calls = fx->f.n_calls;
    add_charger_limits(fx, "CP-E", "", LOAD_NONE, 160, 2);
    core_expire(fx->c);
    assert_int_equal(fx->f.n_calls, calls);         /* not yet: this process may be sending it */
    core_fake_advance(&fx->f, 2000);
    core_expire(fx->c);
    assert_int_equal(fx->f.n_calls, calls + 1);
    assert_true(fx->f.calls[calls].conn_id == conn);
    assert_int_equal(fx->f.calls[calls].action, OCPP_ACTION_SET_CHARGING_PROFILE);
    core_on_call_result(fx->c, conn, fx->f.calls[calls].msg_id,
                        &(struct core_answer){ .payload_json = ACCEPTED, .status = "Accepted" });
    core_fake_advance(&fx->f, 5000);
    core_expire(fx->c);
    assert_int_equal(fx->f.n_calls, calls + 1);     /* once */

    /* this process sends the new limit itself: no second send */
    add_charger_limits(fx, "CP-E", "", LOAD_NONE, LOAD_NONE, 3);
    struct core_command_req req = { .charger_id = "CP-E" };
    char id[CORE_CMD_ID_LEN + 1];
    assert_int_equal(core_power_limit_command(fx->c, &req, LOAD_NONE, NULL, NULL, id), CORE_CALL_OK);
    assert_int_equal(fx->f.n_calls, calls + 2);
    assert_int_equal(fx->f.calls[calls + 1].action, OCPP_ACTION_CLEAR_CHARGING_PROFILE);
    core_on_call_result(fx->c, conn, fx->f.calls[calls + 1].msg_id,
                        &(struct core_answer){ .payload_json = ACCEPTED, .status = "Accepted" });
    core_fake_advance(&fx->f, 5000);
    core_expire(fx->c);
    assert_int_equal(fx->f.n_calls, calls + 2);

    /* not connected: nothing then (it gets the limit when it boots) */
    add_charger_limits(fx, "CP-F", "", LOAD_NONE, LOAD_NONE, 1);
    add_charger_limits(fx, "CP-F", "", LOAD_NONE, 100, 2);
    core_fake_advance(&fx->f, 5000);
    core_expire(fx->c);
    assert_int_equal(fx->f.n_calls, calls + 2);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_id_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_site_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_limit_sent_at_boot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_limit_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_limit_changed_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admit_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admit_auto_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admit_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admit_profile1_without_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admit_security_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_unknown_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_per_address_and_charger_spares_neighbours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_address_limit_is_for_many_chargers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_charger_long_term_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_rate_limit_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_attempts_leave_live_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_change_invalidates_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replacement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_sync_keeps_what_changed_after_the_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_disconnects_at_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_disconnects_in_one_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_read_after_delete_is_read_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_row_version_is_not_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_change_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_charger_deleted_while_connected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boot_registration_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_charger_only_boots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_notification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorize_waits_for_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_candidate_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meter_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failure_is_internal_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_message_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_supported_and_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_transfer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firmware_and_diagnostics_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_security_extension_notifications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_certificate_without_ca_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_certificate_then_certificate_signed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_seen_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_one_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calls_are_per_charger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeouts_on_several_chargers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_unknown_id_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_disconnect_fails_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_replacement_fails_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_offline_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_cancels_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_from_timeout_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_refuses_calls_from_callbacks, setup, teardown),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
