/*
 * Integration: presence (docs/architecture.md, "Presence"). No charger row
 * may say `connected = true` when no gateway holds its websocket:
 *
 *   - SIGTERM: every charger of the gateway is marked disconnected, with a
 *     'disconnected' event; also when the database is slow at that moment
 *     and the per-connection writes do not all fit in the store's queue
 *     (the store's last write, one statement, catches them);
 *   - kill -9: the rows stay connected until the same node starts again,
 *     which clears them (a charger already on the new process stays);
 *   - two gateways on one database: when one is killed, the other marks
 *     its chargers disconnected once its heartbeat is three intervals old,
 *     and leaves its own alone;
 *   - a gateway another one declared lost while it was alive (cut off from
 *     the database) takes its chargers back on its next heartbeat.
 *
 * Every test starts its own gateways. Charger ids start with "ipr-".
 */
#include "it.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "gw.h"
#include "http.h"

#define MAX_CHARGERS 64

/* The gateways, simulators and chargers of one test; the teardown frees them. */
static struct {
    struct gw *gw[2];
    struct sim *sim[2];
    char seq0[24];              /* the highest event seq when the test began */
} T;

static int setup(void **state)
{
    (void)state;
    memset(&T, 0, sizeof T);
    gw_migrate_once();
    snprintf(T.seq0, sizeof T.seq0, "%lld", (long long)db_int("SELECT coalesce(max(seq), 0) FROM events"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        if (T.sim[i])
            sim_free(T.sim[i]);
        if (T.gw[i] && gw_free(T.gw[i]) != 0)
            rc = -1;                /* did not exit cleanly (sanitizer, leak, crash) */
    }
    memset(&T, 0, sizeof T);
    return rc;
}

/* n profile-0 chargers "<prefix>NN" with two connectors, rows and events of earlier runs removed. */
static void add_chargers(const char *prefix, int n)
{
    char *like = it_strf("%s%%", prefix);
    db_exec("DELETE FROM charger_events WHERE charger_id LIKE $1", like);
    db_exec("DELETE FROM chargers WHERE id LIKE $1", like);
    char *count = it_strf("%d", n);
    db_exec("INSERT INTO chargers (id, security_profile)"
            " SELECT $1 || lpad(i::text, 2, '0'), 0 FROM generate_series(0, $2::integer - 1) i",
            prefix, count);
    /* two connectors each: a connection event's charger document lists them */
    db_exec("INSERT INTO connectors (charger_id, connector_id, status)"
            " SELECT c.id, k, 'Available' FROM chargers c, generate_series(0, 1) k WHERE c.id LIKE $1", like);
    free(count);
    free(like);
}

static char *charger_id(const char *prefix, int i)
{
    return it_strf("%s%02d", prefix, i);
}

/* Connects chargers "<prefix>00" .. n-1 through s (the sim keeps them). */
static void connect_all(struct sim *s, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char *id = charger_id(prefix, i);
        (void)it_connect(s, id, NULL);
        free(id);
    }
}

struct count_query {
    const char *sql;
    const char *p1, *p2;
    int64_t expect;
};

static bool count_reached(void *arg)
{
    const struct count_query *q = arg;
    const char *sp[] = { q->sql, q->p1, q->p2, NULL };
    if (!q->p1)
        sp[1] = NULL;
    else if (!q->p2)
        sp[2] = NULL;
    return db_try_int_equals(q->expect, sp);
}

/* Polls (servicing s, may be NULL) until the query's count equals expect; false after timeout_ms. */
static bool wait_count(struct sim *s, int timeout_ms, int64_t expect, const char *sql, const char *p1,
                       const char *p2)
{
    struct count_query q = { sql, p1, p2, expect };
    return wait_until(s, count_reached, &q, timeout_ms);
}

/* Chargers LIKE $1 that are connected and name a node, node $2 unless '' (their connect committed). */
static const char SQL_HELD[] =
    "SELECT count(*) FROM chargers WHERE id LIKE $1 AND connected AND connected_node IS NOT NULL"
    " AND ($2 = '' OR connected_node = $2)";

/*
 * Chargers LIKE $1 that are not connected, name no node, and whose last
 * connection event is a 'disconnected' one newer than their last
 * 'connected' one, with detail $2 ('' = any).
 */
static const char SQL_RELEASED[] =
    "SELECT count(*) FROM chargers c WHERE c.id LIKE $1 AND NOT c.connected"
    " AND EXISTS (SELECT 1 FROM charger_events e WHERE e.charger_id = c.id AND e.kind = 'disconnected'"
    "  AND ($2 = '' OR e.detail = $2)"
    "  AND e.id > (SELECT max(k.id) FROM charger_events k WHERE k.charger_id = c.id AND k.kind = 'connected'))";

/*
 * The events of the chargers LIKE $1 since the test began (seq > $2) agree
 * with their connection records, whichever path wrote them (a connection's
 * own write, or a node's stop, start or sweep, which emit in bulk, sql/014):
 * one charger.connected / charger.disconnected per 'connected' /
 * 'disconnected' record; every disconnect's reason and occurredAt those of
 * a 'disconnected' record of that charger; and each charger's last such
 * event carrying the charger as GET shows it (ocppgw_charger_doc, which
 * it_events compares with GET) but for what moves by itself.
 */
static void assert_connection_events(const char *like, const char *what)
{
    int64_t records = db_int("SELECT count(*) FROM charger_events k WHERE k.charger_id LIKE $1"
                             " AND k.kind IN ('connected', 'disconnected')", like);
    int64_t events = db_int("SELECT count(*) FROM events e WHERE e.charger_id LIKE $1 AND e.seq > $2::bigint"
                            " AND e.type IN ('charger.connected', 'charger.disconnected')", like, T.seq0);
    if (events != records)
        fail_msg("%s: %lld charger.connected/disconnected events for %lld connection records of %s", what,
                 (long long)events, (long long)records, like);
    int64_t unmatched = db_int("SELECT count(*) FROM events e WHERE e.charger_id LIKE $1 AND e.seq > $2::bigint"
                               " AND e.type = 'charger.disconnected' AND NOT EXISTS (SELECT 1 FROM charger_events k"
                               "  WHERE k.charger_id = e.charger_id AND k.kind = 'disconnected'"
                               "  AND k.detail = e.data ->> 'reason' AND k.at = e.occurred_at)", like, T.seq0);
    if (unmatched)
        fail_msg("%s: %lld charger.disconnected events of %s without a record of their reason and time", what,
                 (long long)unmatched, like);
    int64_t unlike = db_int("SELECT count(*) FROM chargers c CROSS JOIN LATERAL (SELECT e.data FROM events e"
                            "  WHERE e.charger_id = c.id AND e.seq > $2::bigint"
                            "  AND e.type IN ('charger.connected', 'charger.disconnected') ORDER BY e.seq DESC LIMIT 1) l"
                            " WHERE c.id LIKE $1 AND l.data - 'reason' - 'lastSeenAt' - 'updatedAt'"
                            "  <> ocppgw_charger_doc(c) - 'lastSeenAt' - 'updatedAt'", like, T.seq0);
    if (unlike)
        fail_msg("%s: the last connection event of %lld chargers %s is not the charger as GET shows it", what,
                 (long long)unlike, like);
}

static void assert_released(struct sim *s, const char *prefix, int n, const char *detail, const char *what)
{
    char *like = it_strf("%s%%", prefix);
    if (!wait_count(s, IT_WAIT_MS * 3, n, SQL_RELEASED, like, detail)) {
        const char *sp[] = { SQL_RELEASED, like, detail, NULL };
        int64_t got = db_int_(sp);
        fail_msg("%s: %lld of %d chargers %s* marked disconnected with a 'disconnected' event%s%s%s",
                 what, (long long)got, n, prefix, detail[0] ? " '" : "", detail, detail[0] ? "'" : "");
    }
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id LIKE $1 AND connected", like), 0);
    assert_connection_events(like, what);
    free(like);
}

static void wait_held(struct sim *s, const char *prefix, int n, const char *node)
{
    char *like = it_strf("%s%%", prefix);
    if (!wait_count(s, IT_WAIT_MS, n, SQL_HELD, like, node ? node : ""))
        fail_msg("%d chargers %s* not all recorded as connected%s%s", n, prefix, node ? " to node " : "",
                 node ? node : "");
    free(like);
}

/* ---------------------------------------------------------------- SIGTERM */

static void test_sigterm_marks_every_charger_disconnected(void **state)
{
    (void)state;
    const int n = 50;
    add_chargers("ipr-term-", n);
    struct gw_opts o = { .name = "it_presence-term" };
    T.gw[0] = gw_start(&o);
    T.sim[0] = it_sim(gw_port(T.gw[0]));
    connect_all(T.sim[0], "ipr-term-", n);
    wait_held(T.sim[0], "ipr-term-", n, NULL);

    gw_term(T.gw[0]);
    assert_int_equal(gw_wait(T.gw[0], 30000), 0);
    assert_released(NULL, "ipr-term-", n, "", "after SIGTERM");
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id LIKE 'ipr-term-%'"
                            " AND connected_node IS NOT NULL"), 0);
}

/*
 * The database is slow while the gateway stops (the chargers' rows are
 * locked by another transaction), the store writes one job per transaction
 * and queues at most 16: most per-connection disconnects are refused at
 * submit. The store's last write still marks every one of them
 * disconnected once the lock is gone.
 */
static void test_sigterm_with_a_slow_database_still_marks_all(void **state)
{
    (void)state;
    const int n = 50;
    add_chargers("ipr-slow-", n);
    struct gw_opts o = { .name = "it_presence-slow", .ini = "[database]\nbatch_max = 1\nqueue_max = 16\n" };
    T.gw[0] = gw_start(&o);
    T.sim[0] = it_sim(gw_port(T.gw[0]));
    struct sim_charger *c[MAX_CHARGERS];
    for (int i = 0; i < n; i++) {   /* one at a time: the queue of 16 must hold the connect writes */
        char *id = charger_id("ipr-slow-", i);
        c[i] = it_connect(T.sim[0], id, NULL);
        free(id);
        wait_held(T.sim[0], "ipr-slow-", i + 1, NULL);
    }

    PGconn *lock = PQconnectdb(it_env("OCPPGW_TEST_DB"));
    assert_int_equal(PQstatus(lock), CONNECTION_OK);
    PGresult *r = PQexec(lock, "BEGIN");
    PQclear(r);
    r = PQexec(lock, "SELECT id FROM chargers WHERE id LIKE 'ipr-slow-%' FOR UPDATE");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), n);
    PQclear(r);

    gw_term(T.gw[0]);
    for (int i = 0; i < n; i++)
        if (!sim_wait_closed(c[i], IT_WAIT_MS))
            fail_msg("SIGTERM: charger %d was not closed", i);
    it_pause(T.sim[0], 1000);       /* the gateway's close callbacks submit their writes */
    r = PQexec(lock, "COMMIT");
    PQclear(r);
    PQfinish(lock);

    assert_int_equal(gw_wait(T.gw[0], 30000), 0);
    assert_released(NULL, "ipr-slow-", n, "", "after SIGTERM with a slow database");
    /* the case this test is for: some were left to the store's last write */
    if (!gw_log_contains(T.gw[0], "still held marked disconnected"))
        fail_msg("every per-connection disconnect fitted in the queue: the shutdown statement was not exercised"
                 " (log %s)", gw_log_path(T.gw[0]));
}

/* ---------------------------------------------------------------- kill -9 */

static void test_kill9_rows_cleared_when_the_node_restarts(void **state)
{
    (void)state;
    const int n = 9;
    add_chargers("ipr-kill-", n);
    add_chargers("ipr-back-", 1);
    struct gw_opts o = { .name = "it_presence-kill" };     /* the default node id: host:port */
    T.gw[0] = gw_start(&o);
    T.sim[0] = it_sim(gw_port(T.gw[0]));
    connect_all(T.sim[0], "ipr-kill-", n);
    connect_all(T.sim[0], "ipr-back-", 1);
    wait_held(T.sim[0], "ipr-kill-", n, NULL);
    wait_held(T.sim[0], "ipr-back-", 1, NULL);
    char *node = db_str("SELECT connected_node FROM chargers WHERE id = 'ipr-back-00'");
    char *old_boot = db_str("SELECT connected_boot FROM chargers WHERE id = 'ipr-back-00'");
    assert_non_null(node);
    assert_non_null(old_boot);
    char *port = it_strf(":%d", gw_port(T.gw[0]));
    if (strlen(node) < strlen(port) || strcmp(node + strlen(node) - strlen(port), port) != 0)
        fail_msg("the default node id '%s' does not end with the listen port '%s'", node, port);
    free(port);

    gw_kill9(T.gw[0]);
    sim_free(T.sim[0]);
    T.sim[0] = NULL;
    /* nothing stopped cleanly: the rows still say connected */
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE (id LIKE 'ipr-kill-%' OR id LIKE 'ipr-back-%')"
                            " AND connected"), n + 1);

    gw_restart(T.gw[0]);            /* same port and config: the same node, a new boot */
    T.sim[0] = it_sim(gw_port(T.gw[0]));
    (void)it_connect(T.sim[0], "ipr-back-00", NULL);       /* one charger is back at once */
    assert_released(T.sim[0], "ipr-kill-", n, "gateway restarted", "after kill -9 and a restart");

    /* the one on the new process is held by the new boot, and stays so */
    wait_held(T.sim[0], "ipr-back-", 1, node);
    char *new_boot = db_str("SELECT boot_id FROM gateway_nodes WHERE node_id = $1 AND stopped_at IS NULL", node);
    assert_non_null(new_boot);
    assert_string_not_equal(new_boot, old_boot);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'ipr-back-00' AND connected"
                            " AND connected_boot = $1", new_boot), 1);
    if (metrics_get(gw_port(T.gw[0]), "ocppgw_presence_chargers_cleared_total", "reason=\"restart\"") < n)
        fail_msg("/metrics: ocppgw_presence_chargers_cleared_total{reason=\"restart\"} < %d", n);
    assert_int_equal(gw_stop(T.gw[0]), 0);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'ipr-back-00' AND connected"), 0);
    free(new_boot);
    free(node);
    free(old_boot);
}

/*
 * The rule that makes the clear at start safe in any order: a charger that
 * the new boot's first write already connected (its job committed before
 * the node's start job) is not touched; an earlier boot's is. The database
 * functions directly, as two boots of one node would call them.
 */
static void test_start_clears_only_earlier_boots(void **state)
{
    (void)state;
    add_chargers("ipr-order-", 2);
    db_exec("DELETE FROM gateway_nodes WHERE node_id = 'ipr-order-node'");
    db_exec("SELECT ocppgw_node_start('ipr-order-node', 'boot-old', 'test', 10)");
    db_exec("SELECT ocppgw_charger_connected('ipr-order-00', false, ocppgw_ms(now()), '127.0.0.1',"
            " 'ipr-order-node', 'boot-old')");
    /* boot-old dies; boot-new's first connect commits before its start */
    db_exec("SELECT ocppgw_charger_connected('ipr-order-01', false, ocppgw_ms(now()), '127.0.0.1',"
            " 'ipr-order-node', 'boot-new')");
    assert_int_equal(db_int("SELECT cleared FROM ocppgw_node_start('ipr-order-node', 'boot-new', 'test', 10)"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'ipr-order-00' AND NOT connected"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'ipr-order-01' AND connected"
                            " AND connected_boot = 'boot-new'"), 1);
    /* run again (a retry after an unknown commit): nothing more */
    assert_int_equal(db_int("SELECT cleared FROM ocppgw_node_start('ipr-order-node', 'boot-new', 'test', 10)"), 0);
    assert_int_equal(db_int("SELECT ocppgw_node_stop('ipr-order-node', 'boot-new')"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id LIKE 'ipr-order-%' AND connected"), 0);
    db_exec("DELETE FROM gateway_nodes WHERE node_id = 'ipr-order-node'");
}

/* ---------------------------------------------------------------- two gateways */

static struct gw *start_node(const char *name, const char *node_id)
{
    char *ini = it_strf("[cluster]\nnode_id = %s\nheartbeat_interval = 1\n", node_id);
    struct gw_opts o = { .name = name, .ini = ini };
    struct gw *g = gw_start(&o);
    free(ini);
    return g;
}

static void test_a_lost_node_is_swept_by_another(void **state)
{
    (void)state;
    add_chargers("ipr-two-a-", 5);
    add_chargers("ipr-two-b-", 3);
    T.gw[0] = start_node("it_presence-a", "ipr-node-a");
    T.gw[1] = start_node("it_presence-b", "ipr-node-b");
    T.sim[0] = it_sim(gw_port(T.gw[0]));
    T.sim[1] = it_sim(gw_port(T.gw[1]));
    connect_all(T.sim[0], "ipr-two-a-", 5);
    connect_all(T.sim[1], "ipr-two-b-", 3);
    wait_held(T.sim[0], "ipr-two-a-", 5, "ipr-node-a");
    wait_held(T.sim[1], "ipr-two-b-", 3, "ipr-node-b");

    gw_kill9(T.gw[0]);
    sim_free(T.sim[0]);
    T.sim[0] = NULL;
    /* a generous bound: 3 heartbeat intervals of silence, then B's next sweep */
    assert_released(T.sim[1], "ipr-two-a-", 5, "gateway node lost", "A killed, B alive");
    assert_int_equal(db_int("SELECT count(*) FROM gateway_nodes WHERE node_id = 'ipr-node-a'"
                            " AND stopped_at IS NOT NULL"), 1);
    /* B's own chargers are untouched, and B said what it did */
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id LIKE 'ipr-two-b-%' AND connected"
                            " AND connected_node = 'ipr-node-b'"), 3);
    assert_int_equal(db_int("SELECT count(*) FROM gateway_nodes WHERE node_id = 'ipr-node-b'"
                            " AND stopped_at IS NULL"), 1);
    if (!gw_log_contains(T.gw[1], "presence: node ipr-node-a"))
        fail_msg("B's log does not say that node ipr-node-a was lost (log %s)", gw_log_path(T.gw[1]));
    if (metrics_get(gw_port(T.gw[1]), "ocppgw_presence_nodes_lost_total", NULL) < 1)
        fail_msg("/metrics of B: ocppgw_presence_nodes_lost_total < 1");
}

/*
 * A gateway that another one declared lost while it was alive (its
 * heartbeat did not reach the database for a while) marks its chargers
 * connected again on its next heartbeat. The other gateway's sweep is made
 * here by hand: the node's heartbeat set an hour back, then the sweep, in
 * one transaction.
 */
static void test_a_node_declared_lost_takes_its_chargers_back(void **state)
{
    (void)state;
    add_chargers("ipr-res-", 3);
    T.gw[0] = start_node("it_presence-r", "ipr-node-r");
    T.sim[0] = it_sim(gw_port(T.gw[0]));
    connect_all(T.sim[0], "ipr-res-", 3);
    wait_held(T.sim[0], "ipr-res-", 3, "ipr-node-r");

    db_exec("DO $$ BEGIN"
            " UPDATE gateway_nodes SET heartbeat_at = now() - interval '1 hour' WHERE node_id = 'ipr-node-r';"
            " PERFORM ocppgw_node_sweep('ipr-sweeper', 16);"
            " END $$");
    assert_int_equal(db_int("SELECT count(*) FROM charger_events WHERE charger_id LIKE 'ipr-res-%'"
                            " AND kind = 'disconnected' AND detail = 'gateway node lost'"), 3);

    if (!wait_count(T.sim[0], IT_WAIT_MS, 3,
                    "SELECT count(*) FROM chargers c WHERE c.id LIKE $1 AND c.connected"
                    " AND c.connected_node = 'ipr-node-r' AND EXISTS (SELECT 1 FROM charger_events e"
                    "  WHERE e.charger_id = c.id AND e.kind = 'connected' AND e.detail = $2)",
                    "ipr-res-%", "gateway node resumed"))
        fail_msg("the node declared lost did not mark its chargers connected again (log %s)",
                 gw_log_path(T.gw[0]));
    assert_int_equal(db_int("SELECT count(*) FROM gateway_nodes WHERE node_id = 'ipr-node-r'"
                            " AND stopped_at IS NULL AND heartbeat_at > now() - interval '1 minute'"), 1);
    if (metrics_get(gw_port(T.gw[0]), "ocppgw_presence_chargers_resumed_total", NULL) < 3)
        fail_msg("/metrics: ocppgw_presence_chargers_resumed_total < 3");
    /* and a clean stop still releases them */
    assert_int_equal(gw_stop(T.gw[0]), 0);
    assert_released(NULL, "ipr-res-", 3, "", "after the node took them back and stopped");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigterm_marks_every_charger_disconnected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_with_a_slow_database_still_marks_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_rows_cleared_when_the_node_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_clears_only_earlier_boots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_lost_node_is_swept_by_another, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_node_declared_lost_takes_its_chargers_back, setup, teardown),
    };
    return cmocka_run_group_tests_name("it_presence", tests, NULL, NULL);
}
