/*
 * Synchronous administration of the database: migrations, charger
 * registration, API keys. Used by the CLI (`ocppgw migrate`, `apikey`,
 * `charger`) and at start-up before the event loop runs; never from
 * the loop (every call blocks on a round trip). Each failure leaves one line
 * in errbuf, never the conninfo (it may hold a password).
 *
 * Writes made here on an operator's behalf are recorded in audit_log with
 * actor "cli", in the same statement as the change.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "embedded.h"
#include "pg_internal.h"
#include "store.h"
#include "util.h"

/* Any constant: serialises concurrent `ocppgw migrate` runs. */
#define MIGRATE_LOCK_KEY "7305418262371"

struct store_admin {
    PGconn *conn;
};

static void set_err(char *errbuf, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errbuf, size_t errcap, const char *fmt, ...)
{
    if (!errbuf || !errcap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errcap, fmt, ap);
    va_end(ap);
    errbuf[strcspn(errbuf, "\n")] = '\0';
}

/* The primary message of a failed result (or of the connection). */
static void result_err(struct store_admin *a, const PGresult *r, const char *what,
                       char *errbuf, size_t errcap)
{
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[256];
    store_pg_error_line(msg ? msg : PQerrorMessage(a->conn), line, sizeof line);
    set_err(errbuf, errcap, "%s: %s", what, line);
}

/*
 * Runs one statement with text parameters. Returns the result when its
 * status is `want`, else NULL with errbuf set. Caller PQclears.
 */
static PGresult *run(struct store_admin *a, ExecStatusType want, const char *what,
                     char *errbuf, size_t errcap, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(a->conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == want)
        return r;
    result_err(a, r, what, errbuf, errcap);
    PQclear(r);
    return NULL;
}

/*
 * Runs a statement whose one value is the number of rows it changed:
 * 0 when that is 1, 1 when it is 0 (nothing to do), -1 on error.
 */
static int run_change(struct store_admin *a, const char *what, char *errbuf, size_t errcap,
                      const char *sql, int n, const char *const *params)
{
    PGresult *r = run(a, PGRES_TUPLES_OK, what, errbuf, errcap, sql, n, params);
    if (!r)
        return -1;
    int rc = strcmp(PQgetvalue(r, 0, 0), "1") == 0 ? 0 : 1;
    PQclear(r);
    return rc;
}

/* Runs a statement with no parameters and no rows; false with errbuf set. */
static bool run_cmd(struct store_admin *a, const char *what, char *errbuf, size_t errcap,
                    const char *sql)
{
    PGresult *r = PQexec(a->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        result_err(a, r, what, errbuf, errcap);
    PQclear(r);
    return ok;
}

struct store_admin *store_admin_connect(const char *conninfo, char *errbuf, size_t errcap)
{
    if (!conninfo || !*conninfo) {
        set_err(errbuf, errcap, "database: no connection string");
        return NULL;
    }
    if (!store_pg_conninfo_valid(conninfo)) {
        set_err(errbuf, errcap, "database: the connection string is malformed");
        return NULL;
    }
    PGconn *c = store_pg_connect(conninfo, "ocppgw-admin", false);
    if (PQstatus(c) != CONNECTION_OK) {
        char line[256];
        store_pg_error_line(PQerrorMessage(c), line, sizeof line);
        set_err(errbuf, errcap, "database: %s", line);
        PQfinish(c);
        return NULL;
    }
    store_pg_quiet_notices(c);
    struct store_admin *a = xcalloc(1, sizeof *a);
    a->conn = c;
    return a;
}

void store_admin_close(struct store_admin *a)
{
    if (!a)
        return;
    PQfinish(a->conn);
    free(a);
}

/* "NNN_name.sql" -> version "NNN_name" in buf; false for any other name. */
static bool migration_version(const char *name, char *buf, size_t cap)
{
    size_t len = strlen(name);
    if (len < 9 || strcmp(name + len - 4, ".sql") != 0)
        return false;
    if (!isdigit((unsigned char)name[0]) || !isdigit((unsigned char)name[1]) ||
        !isdigit((unsigned char)name[2]) || name[3] != '_')
        return false;
    if (len - 4 >= cap)
        return false;
    memcpy(buf, name, len - 4);
    buf[len - 4] = '\0';
    return true;
}

/* One migration file and its version row in one transaction. */
static bool apply_migration(struct store_admin *a, const struct embedded_file *f,
                            const char *version, char *errbuf, size_t errcap)
{
    if (!run_cmd(a, f->name, errbuf, errcap, "BEGIN"))
        return false;
    const char *params[] = { version };
    PGresult *r = NULL;
    if (!run_cmd(a, f->name, errbuf, errcap, (const char *)f->data) ||
        !(r = run(a, PGRES_COMMAND_OK, f->name, errbuf, errcap,
                  "INSERT INTO schema_migrations (version) VALUES ($1)", 1, params)) ||
        !run_cmd(a, f->name, errbuf, errcap, "COMMIT")) {
        PQclear(r);
        PQclear(PQexec(a->conn, "ROLLBACK"));
        return false;
    }
    PQclear(r);
    return true;
}

int store_admin_migrate(struct store_admin *a, char *errbuf, size_t errcap)
{
    int applied = -1;
    PGresult *done = NULL;
    if (!run_cmd(a, "migrate lock", errbuf, errcap, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")"))
        return -1;
    if (!run_cmd(a, "schema_migrations", errbuf, errcap,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"))
        goto out;
    done = run(a, PGRES_TUPLES_OK, "schema_migrations", errbuf, errcap,
               "SELECT version FROM schema_migrations", 0, NULL);
    if (!done)
        goto out;

    int count = 0;
    for (size_t i = 0; i < embedded_files_count; i++) {
        const struct embedded_file *f = &embedded_files[i];
        char version[256];
        if (!migration_version(f->name, version, sizeof version))
            continue;
        bool seen = false;
        for (int row = 0; row < PQntuples(done) && !seen; row++)
            seen = strcmp(PQgetvalue(done, row, 0), version) == 0;
        if (seen)
            continue;
        if (!apply_migration(a, f, version, errbuf, errcap))
            goto out;
        log_info(NULL, "migrate: applied %s", f->name);
        count++;
    }
    applied = count;
out:
    PQclear(done);
    PQclear(PQexec(a->conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    return applied;
}

int store_admin_load_chargers(struct store_admin *a,
                              void (*fn)(void *ctx, const struct store_charger *c), void *ctx,
                              char *errbuf, size_t errcap)
{
    PGresult *r = run(a, PGRES_TUPLES_OK, "loading chargers", errbuf, errcap,
                      "SELECT " STORE_CHARGER_COLUMNS " FROM chargers ORDER BY id", 0, NULL);
    if (!r)
        return -1;
    int n = PQntuples(r);
    for (int row = 0; row < n; row++) {
        struct store_charger c;
        store_pg_charger_from_row(r, row, &c);
        fn(ctx, &c);
    }
    PQclear(r);
    return n;
}

int store_admin_load_sites(struct store_admin *a, void (*fn)(void *ctx, const struct store_site *s),
                           void *ctx, char *errbuf, size_t errcap)
{
    PGresult *r = run(a, PGRES_TUPLES_OK, "loading sites", errbuf, errcap,
                      "SELECT " STORE_SITE_COLUMNS " FROM sites ORDER BY id", 0, NULL);
    if (!r)
        return -1;
    int n = PQntuples(r);
    for (int row = 0; row < n; row++) {
        struct store_site s;
        store_pg_site_from_row(r, row, &s);
        fn(ctx, &s);
    }
    PQclear(r);
    return n;
}

int store_admin_add_charger(struct store_admin *a, const char *id, const char *name,
                            const char *auth_hash, int security_profile,
                            char *errbuf, size_t errcap)
{
    char profile[16];
    snprintf(profile, sizeof profile, "%d", security_profile);
    const char *params[] = { id, name && *name ? name : NULL,
                             auth_hash && *auth_hash ? auth_hash : NULL, profile };
    return run_change(a, "adding charger", errbuf, errcap,
                      "WITH c AS ("
                      "  INSERT INTO chargers (id, name, auth_hash, security_profile)"
                      "  VALUES ($1, $2, $3, $4::smallint) ON CONFLICT (id) DO NOTHING RETURNING id),"
                      " a AS ("
                      "  INSERT INTO audit_log (actor, action, resource, result)"
                      "  SELECT 'cli', 'charger.create', id, 'ok' FROM c)"
                      " SELECT count(*) FROM c",
                      4, params);
}

int store_admin_list_chargers(struct store_admin *a, struct store_admin_charger **rows,
                              char *errbuf, size_t errcap)
{
    *rows = NULL;
    PGresult *r = run(a, PGRES_TUPLES_OK, "listing chargers", errbuf, errcap,
                      "SELECT id, coalesce(name, ''), security_profile, auth_hash IS NOT NULL,"
                      " registration_status, connected,"
                      " coalesce(to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
                      " json_build_object('id', id, 'name', name, 'securityProfile', security_profile,"
                      "   'hasAuthorizationKey', auth_hash IS NOT NULL, 'registrationStatus', registration_status,"
                      "   'connected', connected,"
                      "   'lastSeenAt', to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                      "   'siteId', site_id, 'autoRegistered', auto_registered)::text"
                      " FROM chargers ORDER BY id",
                      0, NULL);
    if (!r)
        return -1;
    int n = PQntuples(r);
    struct store_admin_charger *out = xcalloc(n ? (size_t)n : 1, sizeof *out);
    for (int row = 0; row < n; row++) {
        struct store_admin_charger *c = &out[row];
        str_copy(c->id, sizeof c->id, PQgetvalue(r, row, 0));
        str_copy(c->name, sizeof c->name, PQgetvalue(r, row, 1));
        c->security_profile = atoi(PQgetvalue(r, row, 2));
        c->has_key = PQgetvalue(r, row, 3)[0] == 't';
        str_copy(c->registration, sizeof c->registration, PQgetvalue(r, row, 4));
        c->connected = PQgetvalue(r, row, 5)[0] == 't';
        str_copy(c->last_seen, sizeof c->last_seen, PQgetvalue(r, row, 6));
        c->json = xstrdup(PQgetvalue(r, row, 7));
    }
    PQclear(r);
    *rows = out;
    return n;
}

void store_admin_chargers_free(struct store_admin_charger *rows, int n)
{
    for (int i = 0; rows && i < n; i++)
        free(rows[i].json);
    free(rows);
}

int store_admin_remove_charger(struct store_admin *a, const char *id, char *errbuf, size_t errcap)
{
    const char *params[] = { id };
    return run_change(a, "removing charger", errbuf, errcap,
                      "WITH c AS (DELETE FROM chargers WHERE id = $1 RETURNING id),"
                      " a AS ("
                      "  INSERT INTO audit_log (actor, action, resource, result)"
                      "  SELECT 'cli', 'charger.delete', id, 'ok' FROM c)"
                      " SELECT count(*) FROM c",
                      1, params);
}

int store_admin_set_charger_key(struct store_admin *a, const char *id, const char *auth_hash,
                                int *old_profile, int *new_profile, char *errbuf, size_t errcap)
{
    const char *params[] = { id, auth_hash };
    PGresult *r = run(a, PGRES_TUPLES_OK, "setting the charger's key", errbuf, errcap,
                      "WITH o AS (SELECT id, security_profile FROM chargers WHERE id = $1 FOR UPDATE),"
                      " c AS ("
                      "  UPDATE chargers c SET auth_hash = $2,"
                      "   security_profile = greatest(c.security_profile, 1), updated_at = now()"
                      "  FROM o WHERE c.id = o.id AND o.security_profile <> 3"
                      "  RETURNING c.id, c.security_profile),"
                      " a AS ("
                      "  INSERT INTO audit_log (actor, action, resource, detail, result)"
                      "  SELECT 'cli', 'charger.update', id, '{\"fields\":[\"authorizationKey\"]}', 'ok' FROM c)"
                      " SELECT (SELECT security_profile FROM o), (SELECT security_profile FROM c)",
                      2, params);
    if (!r)
        return -1;
    int rc;
    if (PQgetisnull(r, 0, 0))
        rc = 1;
    else if (PQgetisnull(r, 0, 1))
        rc = 2;
    else
        rc = 0;
    if (old_profile)
        *old_profile = rc == 1 ? -1 : atoi(PQgetvalue(r, 0, 0));
    if (new_profile)
        *new_profile = rc == 0 ? atoi(PQgetvalue(r, 0, 1)) : -1;
    PQclear(r);
    return rc;
}

int store_admin_apikey_create(struct store_admin *a, const char *name, const char *scopes_csv,
                              const char *key_prefix, const char *key_hash, int64_t *out_id,
                              char *errbuf, size_t errcap)
{
    const char *params[] = { name, scopes_csv, key_prefix, key_hash };
    PGresult *r = run(a, PGRES_TUPLES_OK, "creating API key", errbuf, errcap,
                      "WITH k AS ("
                      "  INSERT INTO api_keys (name, scopes, key_prefix, key_hash)"
                      "  VALUES ($1, ARRAY(SELECT btrim(s) FROM unnest(string_to_array($2, ',')) s"
                      "                    WHERE btrim(s) <> ''), $3, $4)"
                      "  RETURNING id),"
                      " a AS ("
                      "  INSERT INTO audit_log (actor, action, resource, result)"
                      "  SELECT 'cli', 'apikey.create', id::text, 'ok' FROM k)"
                      " SELECT id FROM k",
                      4, params);
    if (!r)
        return -1;
    if (out_id)
        *out_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int store_admin_apikey_list(struct store_admin *a, void *out_file, char *errbuf, size_t errcap)
{
    FILE *out = out_file;
    PGresult *r = run(a, PGRES_TUPLES_OK, "listing API keys", errbuf, errcap,
                      "SELECT id, name, key_prefix, array_to_string(scopes, ','),"
                      " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                      " CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
                      "      WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired'"
                      "      ELSE 'active' END"
                      " FROM api_keys ORDER BY id",
                      0, NULL);
    if (!r)
        return -1;
    int n = PQntuples(r);
    for (int row = 0; row < n; row++)
        fprintf(out, "%s\t%s\t%s\t%s\t%s\t%s\n", PQgetvalue(r, row, 0), PQgetvalue(r, row, 1),
                PQgetvalue(r, row, 2), PQgetvalue(r, row, 3), PQgetvalue(r, row, 4),
                PQgetvalue(r, row, 5));
    PQclear(r);
    return n;
}

int store_admin_apikey_revoke(struct store_admin *a, int64_t id, char *errbuf, size_t errcap)
{
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    const char *params[] = { idbuf };
    return run_change(a, "revoking API key", errbuf, errcap,
                      "WITH k AS ("
                      "  UPDATE api_keys SET revoked_at = now()"
                      "  WHERE id = $1::bigint AND revoked_at IS NULL RETURNING id),"
                      " a AS ("
                      "  INSERT INTO audit_log (actor, action, resource, result)"
                      "  SELECT 'cli', 'apikey.revoke', id::text, 'ok' FROM k)"
                      " SELECT count(*) FROM k",
                      1, params);
}

int store_admin_apikey_load(struct store_admin *a,
                            void (*fn)(void *ctx, const struct store_apikey *k), void *ctx,
                            char *errbuf, size_t errcap)
{
    PGresult *r = run(a, PGRES_TUPLES_OK, "loading API keys", errbuf, errcap,
                      "SELECT " STORE_APIKEY_COLUMNS " FROM api_keys WHERE revoked_at IS NULL"
                      " ORDER BY id",
                      0, NULL);
    if (!r)
        return -1;
    int n = PQntuples(r);
    for (int row = 0; row < n; row++) {
        struct store_apikey k;
        store_pg_apikey_from_row(r, row, &k);
        fn(ctx, &k);
        store_apikey_clear(&k);
    }
    PQclear(r);
    return n;
}

int store_admin_apikey_count_admin(struct store_admin *a, char *errbuf, size_t errcap)
{
    PGresult *r = run(a, PGRES_TUPLES_OK, "counting admin API keys", errbuf, errcap,
                      "SELECT count(*) FROM api_keys WHERE 'admin' = ANY (scopes)"
                      " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
                      0, NULL);
    if (!r)
        return -1;
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}
