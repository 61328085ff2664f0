/*
 * Integration: the load manager (src/core/core_load.c,
 * ../shared/spec/load-management.md) checked from the SIMULATOR'S OWN RECORD
 * of what its chargers were told (tests/sim/charging.c), never from what
 * the gateway says it did:
 *
 *  - the invariant: after every SetChargingProfile any charger of a site
 *    receives (the on_profile hook, which runs once the profile is applied
 *    and before it is answered) and at every turn of the test's loop, the
 *    sum of the effective limits of the connectors with a running
 *    transaction (no profile: the charger's own maximum) is at most the
 *    site's limit; and, once every charger of the site holds a profile,
 *    the same sum over all connectors (idle ones by their
 *    TxDefaultProfile). The invariant is about what chargers have
 *    Accepted: where profiles are answered late (answers.delay_ms), a
 *    reduction counts from its answer and an increase from its receipt, so
 *    a gateway that sends an increase before the reductions that make room
 *    for it are answered fails (a TxProfile's old value stops counting when
 *    its transaction ends);
 *  - 10 chargers with random sessions for two minutes (tests/sim/fleet.h,
 *    a fixed seed), then a known set of sessions and their shares, the
 *    GET /v1/sites/{id}/load table and /metrics;
 *  - equal shares, pausing under minCurrent, a capped charger, priorities,
 *    redistribution of what an EV does not draw, the limit lowered under
 *    load (reductions before increases), a charger that rejects profiles,
 *    the commands of origin "load", two gateways on one database.
 *
 * Each test has a site of its own and chargers "ild-<test>-<n>". The site is
 * created with load balancing off, its chargers connect and report their
 * connector, then balancing is turned on: every charger is then counted
 * from its first profile on (a charger that connects to a balanced site may
 * draw its full current until its first profile is accepted, which no
 * gateway can prevent; the strict form of the invariant starts once every
 * charger holds one). IT_ONLY='*lowered*' runs the tests whose names match.
 */
#include "it.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "fleet.h"
#include "gw.h"
#include "http.h"
#include "sim.h"
#include "support/rest.h"
#include "util.h"

#define PORT gw_port(W.gw)
#define TAG "ILD-TAG"
#define MAXC 12
#define EPS 1e-6

#define LOAD_INI API_UNLIMITED_INI "[load]\ninterval = 5\n"

static char *admin;

/* ---- the simulator's record ---- */

struct rig {
    const char *site;
    int n;
    struct sim_charger *c[MAXC];
    char id[MAXC][32];
    double limit;               /* A: what the sums are checked against */
    double lower_to;            /* > 0: the limit is being lowered to this (test 7) */
    bool strict;                /* every charger held a profile: the sum over all connectors too */
    double worst_running, worst_all;
    long checks_running, checks_all, hook_calls;
    int violations;
    char first_violation[512];
    /*
     * A reduction counts only once the charger has answered it (the
     * invariant is about what chargers have Accepted): with a delay on
     * the answers, the charger's old limit is held until then.
     */
    double hold[MAXC];
    double seen[MAXC];          /* each charger's limit at the last check */
    int hold_purpose[MAXC];     /* of the profile whose reduction is held */
    int hold_tx[MAXC];          /* its transaction (TxProfile) */
    int64_t hold_until_us[MAXC];
    /* test 7: the order of reductions and increases after the PATCH */
    bool track;
    double last[MAXC];
    int seq, last_reduction, first_increase;
};

static struct rig R;

/* The last changes the checks saw (profiles, and limits that moved without one), shown with a violation. */
#define RING 48
static struct {
    int64_t t_us;
    int i, purpose, tx;
    double limit, before, after;
    bool running;
    char what[12];
} ring[RING];
static int ring_n;
static char ring_dump[8192];

static void ring_add(const char *what, int i, int purpose, double limit, int tx, double before, double after,
                     bool running)
{
    int k = ring_n++ % RING;
    ring[k].t_us = time_mono_us();
    ring[k].i = i;
    ring[k].purpose = purpose;
    ring[k].limit = limit;
    ring[k].tx = tx;
    ring[k].before = before;
    ring[k].after = after;
    ring[k].running = running;
    snprintf(ring[k].what, sizeof ring[k].what, "%s", what);
}

static void ring_print(void)
{
    int off = 0, first = ring_n > RING ? ring_n - RING : 0;
    int64_t t0 = ring[first % RING].t_us;
    for (int n = first; n < ring_n && off < (int)sizeof ring_dump - 200; n++) {
        int k = n % RING;
        off += snprintf(ring_dump + off, sizeof ring_dump - (size_t)off,
                        "  +%7.3f %-9s %s purpose %d limit %g tx %d: %g -> %g%s\n",
                        (double)(ring[k].t_us - t0) / 1e6, ring[k].what, R.id[ring[k].i], ring[k].purpose,
                        ring[k].limit, ring[k].tx, ring[k].before, ring[k].after, ring[k].running ? " (tx)" : "");
    }
}
static struct sim_answers answers, answers_reject;

static double conn_limit(const struct sim_charger *c, int k)
{
    double e = sim_answers_effective_limit(c, k);
    return e < 0 ? sim_answers_max_current(c) : e;
}

static int rig_index(const struct sim_charger *c);
static int conn_tx(const struct sim_charger *c, int k);

/* What the charger may draw by what it has answered: its limit, or a higher one whose reduction is not answered yet. */
static double conn_accounted(const struct sim_charger *c, int k)
{
    double v = conn_limit(c, k);
    int i = rig_index(c);
    /* a TxProfile ends with its transaction: what it held no longer counts once the transaction is over */
    if (i >= 0 && time_mono_us() < R.hold_until_us[i] && R.hold[i] > v &&
        (R.hold_purpose[i] != SIM_PURPOSE_TX || conn_tx(c, k) == R.hold_tx[i]))
        v = R.hold[i];
    return v;
}

/* The transaction running on connector k, 0 if none. */
static int conn_tx(const struct sim_charger *c, int k)
{
    struct sim_answers_tx tx[16];
    int n = sim_answers_transactions(c, tx, 16);
    for (int i = 0; i < n && i < 16; i++)
        if (tx[i].connector == k)
            return tx[i].transaction_id;
    return 0;
}

static bool conn_running(const struct sim_charger *c, int k)
{
    struct sim_answers_tx tx[16];
    int n = sim_answers_transactions(c, tx, 16);
    for (int i = 0; i < n && i < 16; i++)
        if (tx[i].connector == k)
            return true;
    return false;
}

static int rig_index(const struct sim_charger *c)
{
    for (int i = 0; i < R.n; i++)
        if (R.c[i] == c)
            return i;
    return -1;
}

static bool all_have_profiles(void)
{
    for (int i = 0; i < R.n; i++)
        if (!R.c[i] || sim_answers_profile_log(R.c[i], NULL, 0) == 0)
            return false;
    return true;
}

static double sum_all(void)
{
    double s = 0;
    for (int i = 0; i < R.n; i++)
        if (R.c[i])
            s += conn_accounted(R.c[i], 1);
    return s;
}

static void violation(const char *where, const char *form, double sum)
{
    R.violations++;
    if (R.violations > 1)
        return;
    ring_print();
    int off = snprintf(R.first_violation, sizeof R.first_violation, "%s: sum over %s %.1f A > %.1f A:", where, form,
                       sum, R.limit);
    for (int i = 0; i < R.n && off > 0 && (size_t)off < sizeof R.first_violation; i++)
        if (R.c[i])
            off += snprintf(R.first_violation + off, sizeof R.first_violation - (size_t)off, " %s=%g(%g)%s", R.id[i],
                            conn_limit(R.c[i], 1), conn_accounted(R.c[i], 1), conn_running(R.c[i], 1) ? "(tx)" : "");
}

/* The invariant, from the chargers' own limits now. */
static void check(const char *where)
{
    if (!R.n)
        return;
    double run = 0;
    for (int i = 0; i < R.n; i++)
        if (R.c[i] && conn_running(R.c[i], 1))
            run += conn_accounted(R.c[i], 1);
    double all = sum_all();
    /* the limit being lowered: the old one holds until the chargers' limits fit the new one */
    if (R.lower_to > 0 && all <= R.lower_to + EPS) {
        R.limit = R.lower_to;
        R.lower_to = 0;
        R.worst_running = R.worst_all = 0;      /* the worst from now on is the new limit's */
    }
    for (int i = 0; i < R.n; i++)
        if (R.c[i]) {
            double now = conn_limit(R.c[i], 1);
            if (fabs(now - R.seen[i]) > EPS)
                ring_add(where, i, -1, -1, 0, R.seen[i], now, conn_running(R.c[i], 1));
            R.seen[i] = now;
        }
    R.checks_running++;
    if (run > R.worst_running)
        R.worst_running = run;
    if (run > R.limit + EPS)
        violation(where, "running sessions", run);
    if (!R.strict && all_have_profiles() && all <= R.limit + EPS)
        R.strict = true;
    if (R.strict) {
        R.checks_all++;
        if (all > R.worst_all)
            R.worst_all = all;
        if (all > R.limit + EPS)
            violation(where, "all connectors", all);
    }
}

static void on_profile(void *user, struct sim_charger *c, const struct sim_profile_event *ev)
{
    (void)user;
    R.hook_calls++;
    int i = rig_index(c);
    if (i < 0)
        return;
    /* the limit before: as the last check saw it (a transaction's end changes it without a profile) */
    double before = R.seen[i];
    double after = conn_limit(c, 1);
    ring_add(ev->applied ? "profile" : ev->answer, i, ev->purpose, ev->limit, ev->transaction_id, before, after,
             conn_running(c, 1));
    R.seen[i] = after;
    if (ev->applied && after < before - EPS) {
        double keep = time_mono_us() < R.hold_until_us[i] && R.hold[i] > before ? R.hold[i] : before;
        R.hold[i] = keep;
        R.hold_until_us[i] = ev->t_us + (int64_t)answers.delay_ms * 1000;
        R.hold_purpose[i] = ev->purpose;
        R.hold_tx[i] = ev->transaction_id;
    }
    if (R.track)
        print_message("  t=%.3f %s %s purpose %d limit %g tx %d %s: %g -> %g\n", (double)ev->t_us / 1e6, R.id[i],
                      ev->set ? "Set" : "Clear", ev->purpose, ev->limit, ev->transaction_id, ev->answer, R.last[i],
                      conn_limit(c, 1));
    if (R.track && ev->set && ev->applied) {
        double now = conn_limit(c, 1);
        if (now < R.last[i] - EPS)
            R.last_reduction = ++R.seq;
        else if (now > R.last[i] + EPS && !R.first_increase)
            R.first_increase = ++R.seq;
        R.last[i] = now;
    }
    check("profile");
}

static void expect_invariant(void)
{
    if (R.violations) {
        fputs("the changes before the first violation:\n", stdout);
        fputs(ring_dump, stdout);
        fflush(stdout);
    }
    if (R.violations)
        fail_msg("site %s: %d violations of the invariant; the first: %s\nthe changes before it:\n%s", R.site,
                 R.violations, R.first_violation, ring_dump);
    print_message("site %s: invariant held: worst %.1f A over running sessions (%ld checks), %.1f A over all "
                  "connectors (%ld checks), limit %.1f A, %ld profiles\n",
                  R.site, R.worst_running, R.checks_running, R.worst_all, R.checks_all, R.limit, R.hook_calls);
}

/* Services the simulator for ms, checking the invariant at every turn. */
static void run_for(int ms)
{
    for (int64_t end = it_now_ms() + ms; it_now_ms() < end;) {
        sim_service(W.sim, 20);
        if (W.sim2)
            sim_service(W.sim2, 1);
        check("loop");
    }
}

/* Polls fn with the invariant checked at every turn; false after timeout_ms. */
static bool wait_checked(bool (*fn)(void *), void *arg, int timeout_ms)
{
    for (int64_t end = it_now_ms() + timeout_ms;;) {
        if (fn(arg))
            return true;
        if (it_now_ms() >= end)
            return false;
        run_for(50);
    }
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM commands WHERE charger_id LIKE 'ild-%'");
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'ild-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'ild-%'");
    db_exec("DELETE FROM tokens WHERE id_tag LIKE 'ILD-%'");
    static const int counts[] = { 0, 10, 3, 6, 3, 3, 3, 3, 3, 1, 2 };
    for (int t = 1; t <= 10; t++)
        for (int i = 1; i <= counts[t]; i++) {
            char id[32];
            snprintf(id, sizeof id, "ild-%d-%d", t, i);
            db_add_charger(id, NULL, 0);
        }
    db_add_token(TAG, "Accepted", NULL, NULL);
    db_add_token("ILD-HIGH", "Accepted", NULL, NULL);
    admin = api_group_start_ini("it_load", "ild-admin", "[load]\ninterval = 5\n");
    return 0;
}

static int test_setup(void **state)
{
    memset(&R, 0, sizeof R);
    ring_n = 0;
    ring_dump[0] = '\0';
    sim_answers_init(&answers);
    answers.on_profile = on_profile;
    sim_answers_init(&answers_reject);
    answers_reject.on_profile = on_profile;
    sim_answers_set(&answers_reject, "SetChargingProfile", SIM_ANSWER_REJECT);
    return it_test_setup(state);
}

static int test_teardown(void **state)
{
    R.n = 0;
    return it_test_teardown(state);
}

static void rest_ok(int port, const char *method, const char *path, const char *body, int status)
{
    struct api_req q = { .method = method, .path = path, .key = admin, .body = body };
    struct api_resp *r = api_send(port, &q);
    api_expect(r, status);
    api_free(r);
}

static void send_status(struct sim_charger *c, const char *status)
{
    char *p = it_strf("{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"%s\"}", status);
    cJSON_Delete(it_ok(c, "StatusNotification", p));
    free(p);
}

/*
 * A site of n chargers "ild-<t>-<i>" with load balancing (lb: the
 * loadBalancing members besides enabled, e.g. "\"minCurrent\":6"), its
 * chargers connected (max[i] > 0: the charger's maxAvailableCurrent and the
 * simulator's own maximum; sims[i]: the simulator, NULL = W.sim; rej[i]:
 * it rejects profiles); balancing is turned on once they are all there, and
 * this returns once every charger holds a profile and the sum fits.
 */
struct rig_opts {
    int t, n;
    double limit;
    const char *lb;
    double max[MAXC];
    bool reject[MAXC];
    struct sim *sims[MAXC];
};

static void rig_up(const char *site, const struct rig_opts *o)
{
    R.site = site;
    R.limit = o->limit;
    char *body = it_strf("{\"id\":\"%s\",\"maxCurrent\":%.1f,\"loadBalancing\":{\"enabled\":false%s%s}}", site,
                         o->limit, o->lb ? "," : "", o->lb ? o->lb : "");
    rest_ok(PORT, "POST", "/v1/sites", body, 201);
    free(body);
    for (int i = 0; i < o->n; i++) {
        snprintf(R.id[i], sizeof R.id[i], "ild-%d-%d", o->t, i + 1);
        char *path = it_strf("/v1/chargers/%s", R.id[i]);
        char *b = o->max[i] > 0 ? it_strf("{\"siteId\":\"%s\",\"maxAvailableCurrent\":%.1f}", site, o->max[i])
                                : it_strf("{\"siteId\":\"%s\"}", site);
        rest_ok(PORT, "PATCH", path, b, 200);
        free(path);
        free(b);
    }
    for (int i = 0; i < o->n; i++) {
        struct sim *s = o->sims[i] ? o->sims[i] : W.sim;
        sim_set_default_responder(s, sim_answers_responder, o->reject[i] ? &answers_reject : &answers);
        struct sim_charger *c = it_connect_booted(s, R.id[i], NULL);
        if (o->max[i] > 0)
            sim_answers_set_max_current(c, o->max[i]);
        R.seen[i] = conn_limit(c, 1);
        send_status(c, "Available");
        R.c[i] = c;
        R.n = i + 1;
    }
    char *path = it_strf("/v1/sites/%s", site);
    rest_ok(PORT, "PATCH", path, "{\"loadBalancing\":{\"enabled\":true}}", 200);
    free(path);
}

static bool settled(void *arg)
{
    (void)arg;
    return R.strict;
}

static void rig_wait_profiles(void)
{
    if (!wait_checked(settled, NULL, IT_WAIT_MS))
        fail_msg("site %s: not every charger got a profile (sum over all %.1f A)", R.site, sum_all());
}

/* Starts a session on charger i's connector 1 and waits until the charger knows its transaction. */
struct tx_wait {
    struct sim_charger *c;
    bool want;
};

static bool tx_is(void *arg)
{
    struct tx_wait *w = arg;
    return conn_running(w->c, 1) == w->want;
}

static int start_session(int i, const char *tag)
{
    assert_int_equal(sim_answers_start_transaction(R.c[i], 1, tag), 0);
    struct tx_wait w = { R.c[i], true };
    if (!wait_checked(tx_is, &w, IT_WAIT_MS))
        fail_msg("%s: no transaction", R.id[i]);
    send_status(R.c[i], "Charging");
    return sim_answers_last_transaction_id(R.c[i]);
}

static void stop_session(int i)
{
    struct sim_answers_tx tx[4];
    int n = sim_answers_transactions(R.c[i], tx, 4);
    for (int k = 0; k < n && k < 4; k++)
        if (tx[k].connector == 1)
            assert_int_equal(sim_answers_stop_transaction(R.c[i], tx[k].transaction_id, "Local"), 0);
    check("stop");
    struct tx_wait w = { R.c[i], false };
    assert_true(wait_checked(tx_is, &w, IT_WAIT_MS));
}

/* Each charger's connector-1 limit (running or idle) within tol of want[i] (want < 0: not checked). */
struct want {
    double v[MAXC];
    double tol;
};

static bool limits_are(void *arg)
{
    const struct want *w = arg;
    for (int i = 0; i < R.n; i++)
        if (w->v[i] >= 0 && fabs(conn_limit(R.c[i], 1) - w->v[i]) > w->tol + EPS)
            return false;
    return true;
}

static void expect_limits_tol(const char *what, const double *v, double tol)
{
    struct want w = { .tol = tol };
    memcpy(w.v, v, sizeof w.v);
    if (!wait_checked(limits_are, &w, IT_WAIT_MS)) {
        char got[512];
        int off = 0;
        for (int i = 0; i < R.n; i++)
            off += snprintf(got + off, sizeof got - (size_t)off, " %s=%g/want %g", R.id[i], conn_limit(R.c[i], 1),
                            w.v[i]);
        fail_msg("%s: limits not reached:%s", what, got);
    }
    /* and they stay (no flapping a round later) */
    run_for(300);
    assert_true(limits_are(&w));
}

#define EXPECT(what, ...)                                                                                            \
    do {                                                                                                             \
        const double v_[MAXC] = { __VA_ARGS__ };                                                                     \
        expect_limits_tol(what, v_, 0.0);                                                                            \
    } while (0)

/* ---- GET /v1/sites/{id}/load and /metrics ---- */

static cJSON *site_load(int port, const char *site)
{
    char *path = it_strf("/v1/sites/%s/load", site);
    struct api_resp *r = api_get(port, admin, path);
    free(path);
    cJSON *out = cJSON_Duplicate(api_expect(r, 200), 1);
    api_free(r);
    return out;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

struct load_agrees {
    int sessions;
    double share[MAXC];         /* per charger index, < 0: no session */
    char why[256];
};

/* The decider's table says what the chargers hold. */
static bool load_table_agrees(void *arg)
{
    struct load_agrees *a = arg;
    cJSON *j = site_load(PORT, R.site);
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(j, "sessions"), *s;
    bool ok = cJSON_GetArraySize(ss) == a->sessions;
    double alloc = 0;
    cJSON_ArrayForEach(s, ss) {
        const char *ch = js(s, "chargerId");
        int i = -1;
        for (int k = 0; k < R.n && ch; k++)
            if (strcmp(R.id[k], ch) == 0)
                i = k;
        if (i < 0 || a->share[i] < 0) {
            ok = false;
            continue;
        }
        double al = jnum(s, "allocatedCurrent"), ac = jnum(s, "acceptedCurrent");
        alloc += al;
        if (fabs(al - conn_limit(R.c[i], 1)) > EPS || fabs(ac - conn_limit(R.c[i], 1)) > EPS)
            ok = false;
    }
    if (fabs(jnum(j, "allocated") - alloc) > 0.05 || fabs(jnum(j, "maxCurrent") - R.limit) > EPS)
        ok = false;
    char *txt = cJSON_PrintUnformatted(j);
    snprintf(a->why, sizeof a->why, "%s", txt);
    free(txt);
    cJSON_Delete(j);
    return ok;
}

static double site_metric(int port, const char *name)
{
    char *labels = it_strf("site=\"%s\"", R.site);
    double v = metrics_get(port, name, labels);
    free(labels);
    return v;
}

/* ================================================================== 1: random sessions */

static void test_random_sessions_keep_the_invariant(void **state)
{
    (void)state;
    struct rig_opts o = { .t = 1, .n = 10, .limit = 32, .lb = "\"minCurrent\":6" };
    rig_up("ild-s1", &o);
    rig_wait_profiles();

    struct fleet_opts fo = { .mean_on_s = 12, .mean_off_s = 8, .meter_interval_ms = 2000, .id_tag = TAG,
                             .demand_lo = 3, .demand_hi = 32, .seed = 14 };
    struct fleet *f = fleet_new(&fo, R.n);
    answers.delay_ms = 300;         /* profiles answered late: a reduction counts from its answer */
    int64_t end = it_now_ms() + 110000;
    while (it_now_ms() < end && !R.violations) {
        int64_t now = time_mono_us();
        for (int i = 0; i < R.n; i++)
            fleet_tick(f, i, R.c[i], true, now);
        check("loop");
        sim_service(W.sim, 20);
        check("loop");
    }
    if (R.violations)
        expect_invariant();         /* fails, with the trail */
    struct fleet_counts k;
    fleet_counts(f, &k);
    fleet_free(f);
    print_message("fleet: %d sessions started, %d stopped, %d MeterValues, %ld profiles\n", k.sessions_started,
                  k.sessions_stopped, k.meter_values, R.hook_calls);
    assert_true(k.sessions_started >= 10);
    assert_true(R.hook_calls >= 20);

    /* no more random sessions: stop all, let starts in flight land, stop those too */
    for (int round = 0; round < 3; round++) {
        run_for(500);
        for (int i = 0; i < R.n; i++) {
            sim_answers_set_demand(R.c[i], 0, 32);
            if (conn_running(R.c[i], 1))
                stop_session(i);
        }
    }
    for (int i = 0; i < R.n; i++)
        assert_false(conn_running(R.c[i], 1));
    /* a known set of 3: 32 / 3 = 10.6 each */
    int running[] = { 2, 5, 7 };
    for (int j = 0; j < 3; j++)
        start_session(running[j], TAG);
    struct want w = { .tol = 0.5 };
    for (int i = 0; i < R.n; i++)
        w.v[i] = -1;
    for (int j = 0; j < 3; j++)
        w.v[running[j]] = 10.6;
    expect_limits_tol("three sessions", w.v, 0.5);
    /* the idle ones: headroom 0.2 A: 0 */
    for (int i = 0; i < R.n; i++)
        if (w.v[i] < 0)
            assert_true(conn_limit(R.c[i], 1) < EPS);
    struct load_agrees a = { .sessions = 3 };
    for (int i = 0; i < R.n; i++)
        a.share[i] = w.v[i];
    if (!wait_checked(load_table_agrees, &a, IT_WAIT_MS))
        fail_msg("GET /v1/sites/ild-s1/load disagrees with the chargers: %s", a.why);
    double acc = site_metric(PORT, "ocppgw_site_current_accounted_amperes");
    double lim = site_metric(PORT, "ocppgw_site_current_limit_amperes");
    double alloc = site_metric(PORT, "ocppgw_site_current_allocated_amperes");
    print_message("metrics: limit %.1f accounted %.1f allocated %.1f\n", lim, acc, alloc);
    assert_true(fabs(lim - 32) < EPS);
    assert_true(acc >= 0 && acc <= lim + EPS);
    assert_true(fabs(alloc - 31.8) < 0.05);
    expect_invariant();
    assert_true(R.checks_all > 100);
    /* every charger accepts: a rejection here is a TxProfile that crossed its transaction's StopTransaction */
    char *why = db_str("SELECT count(*) || ': ' || coalesce(string_agg(DISTINCT (data->>'chargingProfilePurpose')"
                       " || ' ' || (data->>'outcome'), ', '), '') FROM events WHERE type = 'load.profile_rejected'"
                       " AND data->>'siteId' = 'ild-s1'");
    print_message("load.profile_rejected events of ild-s1: %s\n", why);
    free(why);
}

/* ================================================================== 2: equal shares, 9: commands */

static void test_equal_shares_and_load_commands(void **state)
{
    (void)state;
    struct rig_opts o = { .t = 2, .n = 3, .limit = 32, .lb = "\"minCurrent\":6" };
    rig_up("ild-s2", &o);
    rig_wait_profiles();
    EXPECT("idle", 10.6, 10.6, 10.6);
    start_session(0, TAG);
    EXPECT("one session", 32, 0, 0);
    start_session(1, TAG);
    EXPECT("two sessions", 16, 16, 0);
    start_session(2, TAG);
    EXPECT("three sessions", 10.6, 10.6, 10.6);
    stop_session(1);
    EXPECT("one stopped", 16, 0, 16);
    stop_session(0);
    /* one session: all of it (its cap); no headroom for the idle ones */
    EXPECT("two stopped", 0, 0, 32);
    expect_invariant();

    /* 9: the profiles are commands of origin "load" */
    struct api_resp *r = api_get(PORT, admin, "/v1/chargers/ild-2-1/commands?perPage=100");
    const cJSON *items = api_data(api_expect(r, 200)), *it;
    int load = 0;
    cJSON_ArrayForEach(it, items) {
        if (js(it, "origin") && strcmp(js(it, "origin"), "load") == 0) {
            assert_string_equal(js(it, "action"), "SetChargingProfile");
            load++;
        }
    }
    api_free(r);
    int got = sim_answers_profile_log(R.c[0], NULL, 0);
    print_message("ild-2-1: %d commands of origin load, %d profiles received\n", load, got);
    assert_true(load >= 4);
    assert_int_equal(load, got);
}

/* ================================================================== 3: pausing */

static void test_pausing_under_min_current(void **state)
{
    (void)state;
    struct rig_opts o = { .t = 3, .n = 6, .limit = 32, .lb = "\"minCurrent\":6" };
    rig_up("ild-s3", &o);
    rig_wait_profiles();
    for (int i = 0; i < 6; i++)
        start_session(i, TAG);
    EXPECT("six sessions", 6.4, 6.4, 6.4, 6.4, 6.4, 0);
    stop_session(1);
    EXPECT("one stopped", 6.4, 0, 6.4, 6.4, 6.4, 6.4);
    expect_invariant();
}

/* ================================================================== 4: a capped charger */

static void test_capped_charger(void **state)
{
    (void)state;
    struct rig_opts o = { .t = 4, .n = 3, .limit = 32, .lb = "\"minCurrent\":6", .max = { 8 } };
    rig_up("ild-s4", &o);
    rig_wait_profiles();
    for (int i = 0; i < 3; i++)
        start_session(i, TAG);
    EXPECT("capped", 8, 12, 12);
    expect_invariant();
}

/* ================================================================== 5: priorities */

static void test_priorities(void **state)
{
    (void)state;
    rest_ok(PORT, "PATCH", "/v1/tokens/ILD-HIGH", "{\"priority\":5}", 200);
    struct rig_opts o = { .t = 5, .n = 3, .limit = 32, .lb = "\"minCurrent\":6,\"strategy\":\"priority\"",
                          .max = { 16 } };
    rig_up("ild-s5", &o);
    rig_wait_profiles();
    start_session(1, TAG);
    start_session(2, TAG);
    EXPECT("two of priority 0", 0, 16, 16);
    start_session(0, "ILD-HIGH");
    EXPECT("priority 5 first", 16, 8, 8);
    expect_invariant();
}

/* ================================================================== 6: redistribution */

struct mv_count {
    struct sim_charger *c;
    int n;
};

static bool mv_answered(void *arg)
{
    struct mv_count *m = arg;
    struct sim_answers_stats st;
    sim_answers_get_stats(m->c, &st);
    return st.meter_values_answered >= m->n;
}

static void meter_values(int i)
{
    struct sim_answers_stats st;
    sim_answers_get_stats(R.c[i], &st);
    assert_int_equal(sim_answers_send_meter_values(R.c[i], 1), 0);
    struct mv_count m = { R.c[i], st.meter_values_answered + 1 };
    assert_true(wait_checked(mv_answered, &m, IT_WAIT_MS));
}

static void test_redistribution(void **state)
{
    (void)state;
    struct rig_opts o = { .t = 6, .n = 3, .limit = 32, .lb = "\"minCurrent\":6,\"redistribute\":true" };
    rig_up("ild-s6", &o);
    rig_wait_profiles();
    for (int i = 0; i < 3; i++)
        start_session(i, TAG);
    EXPECT("three", 10.6, 10.6, 10.6);
    sim_answers_set_demand(R.c[0], 1, 4);
    meter_values(0);
    meter_values(0);
    /* max(minCurrent, 4 + 1) = 6; the others (32 - 6) / 2 = 13 */
    EXPECT("one draws 4 A", 6, 13, 13);
    for (int k = 0; k < 3; k++) {
        meter_values(0);
        meter_values(1);
        meter_values(2);
    }
    EXPECT("still", 6, 13, 13);
    sim_answers_set_demand(R.c[0], 1, 32);
    meter_values(0);
    EXPECT("its draw rose: its share back", 10.6, 10.6, 10.6);
    expect_invariant();
}

/* ================================================================== 7: the limit lowered under load */

static bool limit_switched(void *arg)
{
    (void)arg;
    return R.lower_to == 0;
}

static void test_limit_lowered_under_load(void **state)
{
    (void)state;
    struct rig_opts o = { .t = 7, .n = 3, .limit = 32, .lb = "\"minCurrent\":10" };
    rig_up("ild-s7", &o);
    rig_wait_profiles();
    for (int i = 0; i < 3; i++)
        start_session(i, TAG);
    EXPECT("three", 10.6, 10.6, 10.6);
    /* 16 A: only the earliest can have minCurrent 10: 16, 0, 0; its increase must wait for both reductions */
    for (int i = 0; i < R.n; i++)
        R.last[i] = conn_limit(R.c[i], 1);
    R.track = true;
    R.lower_to = 16;
    answers.delay_ms = 1000;        /* the reductions are answered late: the increase must wait for them */
    rest_ok(PORT, "PATCH", "/v1/sites/ild-s7", "{\"maxCurrent\":16}", 200);
    EXPECT("lowered", 16, 0, 0);
    if (!wait_checked(limit_switched, NULL, IT_WAIT_MS))
        fail_msg("the chargers' accounted limits never fit 16 A (%.1f A); %d violations, the first: %s", sum_all(),
                 R.violations, R.first_violation);
    expect_invariant();
    print_message("after the PATCH: last reduction #%d, first increase #%d\n", R.last_reduction, R.first_increase);
    assert_true(R.last_reduction > 0 && R.first_increase > 0);
    if (R.first_increase < R.last_reduction)
        fail_msg("an increase (#%d) reached a charger before the last reduction (#%d)", R.first_increase,
                 R.last_reduction);
    /* and back up (checked against the higher limit at once: the lower one may hold until the gateway knows) */
    R.track = false;
    R.limit = 32;
    rest_ok(PORT, "PATCH", "/v1/sites/ild-s7", "{\"maxCurrent\":32}", 200);
    EXPECT("raised", 10.6, 10.6, 10.6);
    expect_invariant();
}

/* ================================================================== 8: a charger that rejects */

static bool rejected_seen(void *arg)
{
    (void)arg;
    return db_int("SELECT count(*) FROM events WHERE type = 'load.profile_rejected'"
                  " AND data->>'chargerId' = 'ild-8-1'") >= 1;
}

static void test_rejecting_charger(void **state)
{
    (void)state;
    double before = metrics_get(PORT, "ocppgw_load_profiles_total", "outcome=\"rejected\"");
    struct rig_opts o = { .t = 8, .n = 3, .limit = 64, .lb = "\"minCurrent\":6", .reject = { true } };
    rig_up("ild-s8", &o);
    /* ild-8-1 never holds a profile: the strict form cannot start; the running form is checked */
    for (int i = 0; i < 3; i++)
        start_session(i, TAG);
    /* it keeps its full 32 A; the others share 64 - 32 */
    EXPECT("others reduced", 32, 16, 16);
    if (!wait_checked(rejected_seen, NULL, IT_WAIT_MS))
        fail_msg("no load.profile_rejected event for ild-8-1");
    struct api_resp *r = api_get(PORT, admin, "/v1/events?type=load.profile_rejected&chargerId=ild-8-1&perPage=100");
    const cJSON *items = api_data(api_expect(r, 200));
    assert_true(cJSON_GetArraySize(items) >= 1);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items, 0), "data");
    assert_string_equal(js(data, "siteId"), "ild-s8");
    assert_string_equal(js(data, "outcome"), "Rejected");
    api_free(r);
    double after = metrics_get(PORT, "ocppgw_load_profiles_total", "outcome=\"rejected\"");
    print_message("rejected profiles: %g -> %g\n", before, after);
    assert_true(after > (before < 0 ? 0 : before));
    /* the accounting counts it at 32 */
    double acc = site_metric(PORT, "ocppgw_site_current_accounted_amperes");
    assert_true(acc <= 64 + EPS && acc >= 64 - EPS);
    expect_invariant();
}

/* ================================================================== 10: two gateways */

static bool a_decider(void *arg)
{
    (void)arg;
    return gw_log_contains(W.gw, "this node now decides site ild-s10") ||
           gw_log_contains(W.gw2, "this node now decides site ild-s10");
}

struct same_load {
    char a[2048], b[2048];
};

static bool load_same(void *arg)
{
    struct same_load *s = arg;
    cJSON *x = site_load(PORT, "ild-s10"), *y = site_load(gw_port(W.gw2), "ild-s10");
    char *tx = cJSON_PrintUnformatted(x), *ty = cJSON_PrintUnformatted(y);
    snprintf(s->a, sizeof s->a, "%s", tx);
    snprintf(s->b, sizeof s->b, "%s", ty);
    /* the decider lists the sessions of its own chargers (sql/022: not those another gateway holds) */
    bool ok = strcmp(tx, ty) == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(x, "sessions")) == 1;
    free(tx);
    free(ty);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return ok;
}

static void test_two_gateways_one_decider(void **state)
{
    (void)state;
    struct gw_opts go = { .name = "it_load-2", .ini = LOAD_INI };
    W.gw2 = gw_start(&go);
    W.sim2 = it_sim(gw_port(W.gw2));
    /* 48 A: the decider counts the other gateway's charger at its full 32 A and gives its own 16 A */
    struct rig_opts o = { .t = 10, .n = 2, .limit = 48, .lb = "\"minCurrent\":6", .sims = { NULL, W.sim2 } };
    rig_up("ild-s10", &o);
    if (!wait_checked(a_decider, NULL, IT_WAIT_MS))
        fail_msg("no gateway decides site ild-s10");
    run_for(6000);          /* a round of load.interval on both */
    bool first = gw_log_contains(W.gw, "this node now decides site ild-s10");
    bool second = gw_log_contains(W.gw2, "this node now decides site ild-s10");
    print_message("decider: %s\n", first && second ? "both" : first ? "the first" : "the second");
    assert_true(first != second);
    int mine = first ? 0 : 1, other = 1 - mine;
    start_session(0, TAG);
    start_session(1, TAG);
    double want[MAXC] = { 0 };
    want[mine] = 16;
    want[other] = 32;
    expect_limits_tol("the decider's charger", want, 0.0);
    assert_int_equal(sim_answers_profile_log(R.c[other], NULL, 0), 0);
    struct same_load s;
    if (!wait_checked(load_same, &s, IT_WAIT_MS))
        fail_msg("GET /v1/sites/ild-s10/load differs:\n%s\n%s", s.a, s.b);
    int dport = first ? PORT : gw_port(W.gw2), oport = first ? gw_port(W.gw2) : PORT;
    assert_true(fabs(site_metric(dport, "ocppgw_site_current_limit_amperes") - 48) < EPS);
    assert_true(site_metric(oport, "ocppgw_site_current_limit_amperes") < 0);
    expect_invariant();
}

int main(void)
{
    if (getenv("IT_ONLY"))
        cmocka_set_test_filter(getenv("IT_ONLY"));   /* e.g. IT_ONLY='*lowered*' */
#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_equal_shares_and_load_commands),
        T(test_pausing_under_min_current),
        T(test_capped_charger),
        T(test_priorities),
        T(test_redistribution),
        T(test_limit_lowered_under_load),
        T(test_rejecting_charger),
        T(test_two_gateways_one_decider),
        T(test_random_sessions_keep_the_invariant),
    };
#undef T
    return cmocka_run_group_tests_name("it_load", tests, group_setup, api_group_teardown);
}
