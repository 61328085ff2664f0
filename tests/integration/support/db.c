/*
 * libpq helpers for assertions on stored rows. One lazily opened connection
 * per test process; if the server went away (the durability test restarts
 * PostgreSQL) the next query reconnects. See db.h.
 */
#include "db.h"

#include "it.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "proc.h"

static PGconn *conn;

void db_disconnect(void)
{
    if (conn)
        PQfinish(conn);
    conn = NULL;
}

static PGconn *db_conn(void)
{
    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;
    db_disconnect();
    conn = PQconnectdb(it_env("OCPPGW_TEST_DB"));
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
        db_disconnect();
        fail_msg("cannot connect to the test database: %s", msg);
    }
    return conn;
}

/* Runs the query; NULL with *err filled on failure (never fails the test). */
static PGresult *run(const char *const *sp, char *err, size_t errcap)
{
    const char *sql = sp[0];
    int n = 0;
    while (sp[1 + n])
        n++;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!conn || PQstatus(conn) != CONNECTION_OK) {
            db_disconnect();
            conn = PQconnectdb(it_env("OCPPGW_TEST_DB"));
            if (PQstatus(conn) != CONNECTION_OK) {
                snprintf(err, errcap, "connect: %s", PQerrorMessage(conn));
                db_disconnect();
                return NULL;
            }
        }
        PGresult *r = PQexecParams(conn, sql, n, NULL, sp + 1, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            return r;
        snprintf(err, errcap, "%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        if (PQstatus(conn) == CONNECTION_OK)
            return NULL;            /* a real SQL error: do not retry */
        db_disconnect();            /* server restarted: reconnect once */
    }
    return NULL;
}

static PGresult *run_or_fail(const char *const *sp)
{
    char err[1024];
    (void)db_conn();
    PGresult *r = run(sp, err, sizeof err);
    if (!r)
        fail_msg("SQL failed: %s", err);
    return r;
}

char *db_str_(const char *const *sp)
{
    PGresult *r = run_or_fail(sp);
    char *v = NULL;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static int64_t to_int(const char *s)
{
    if (!s)
        return DB_NONE;
    if (strcmp(s, "t") == 0)
        return 1;
    if (strcmp(s, "f") == 0)
        return 0;
    return strtoll(s, NULL, 10);
}

int64_t db_int_(const char *const *sp)
{
    char *s = db_str_(sp);
    int64_t v = to_int(s);
    free(s);
    return v;
}

int64_t db_exec_(const char *const *sp)
{
    PGresult *r = run_or_fail(sp);
    const char *t = PQcmdTuples(r);
    int64_t n = (t && *t) ? strtoll(t, NULL, 10) : 0;
    PQclear(r);
    return n;
}

static int64_t try_int(const char *const *sp, bool *ok)
{
    char err[1024];
    PGresult *r = run(sp, err, sizeof err);
    *ok = r != NULL;
    if (!r)
        return DB_NONE;
    int64_t v = DB_NONE;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
        v = to_int(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

bool db_try_int_equals(int64_t expect, const char *const *sp)
{
    bool ok;
    return try_int(sp, &ok) == expect && ok;
}

int64_t db_wait_int_(int timeout_ms, int64_t expect, const char *const *sp)
{
    int64_t end = it_now_ms() + timeout_ms;
    int64_t v = DB_NONE;
    for (;;) {
        bool ok;
        v = try_int(sp, &ok);
        if (ok && v == expect)
            return v;
        if (it_now_ms() >= end) {
            if (!ok)
                (void)db_int_(sp);  /* fails the test with the SQL error */
            return v;
        }
        it_pause(NULL, 100);
    }
}

void db_add_charger(const char *id, const char *password, int security_profile)
{
    gw_migrate_once();
    db_exec("DELETE FROM chargers WHERE id = $1", id);
    const char *argv[12];
    int n = 0;
    argv[n++] = it_env("OCPPGW_BIN");
    argv[n++] = "charger";
    argv[n++] = "add";
    argv[n++] = id;
    if (password) {
        argv[n++] = "--auth-key";
        argv[n++] = password;
    } else {
        /* without a key the CLI would make one (profile 1): ask for none */
        argv[n++] = "--security-profile";
        argv[n++] = "0";
    }
    argv[n++] = "--db";
    argv[n++] = it_env("OCPPGW_TEST_DB");
    argv[n] = NULL;
    char what[96];
    snprintf(what, sizeof what, "ocppgw charger add %s", id);
    proc_run_ok(argv, what);
    char prof[8];
    snprintf(prof, sizeof prof, "%d", security_profile);
    if (db_exec("UPDATE chargers SET security_profile = $2 WHERE id = $1", id, prof) != 1)
        fail_msg("charger %s not in table chargers after `ocppgw charger add`", id);
    if (password) {
        char *hash = db_str("SELECT auth_hash FROM chargers WHERE id = $1", id);
        bool stored_plain = hash && strstr(hash, password) != NULL;
        bool missing = !hash || !*hash;
        free(hash);
        if (missing)
            fail_msg("charger %s: `charger add --auth-key` stored no auth_hash", id);
        if (stored_plain)
            fail_msg("charger %s: the AuthorizationKey is stored in clear", id);
    }
}

void db_add_token(const char *id_tag, const char *status, const char *expiry, const char *parent)
{
    gw_migrate_once();
    db_exec("DELETE FROM tokens WHERE id_tag = $1", id_tag);
    if (expiry && parent)
        db_exec("INSERT INTO tokens (id_tag, status, expiry_date, parent_id_tag) VALUES ($1, $2, $3, $4)",
                id_tag, status, expiry, parent);
    else if (expiry)
        db_exec("INSERT INTO tokens (id_tag, status, expiry_date) VALUES ($1, $2, $3)", id_tag, status,
                expiry);
    else if (parent)
        db_exec("INSERT INTO tokens (id_tag, status, parent_id_tag) VALUES ($1, $2, $3)", id_tag, status,
                parent);
    else
        db_exec("INSERT INTO tokens (id_tag, status) VALUES ($1, $2)", id_tag, status);
}

char *it_session_id_of(int32_t tx)
{
    char txs[16];
    snprintf(txs, sizeof txs, "%d", tx);
    char *id = db_str("SELECT id FROM sessions WHERE transaction_id = $1::int", txs);
    if (!id)
        fail_msg("no session row for transaction %d", tx);
    return id;
}
