/*
 * The test's own view of the database (libpq, conninfo from
 * OCPPGW_TEST_DB): what a user would check with psql. Any query error fails
 * the running test. Queries take text parameters $1, $2, ... :
 *
 *     int64_t n = db_int("SELECT count(*) FROM sessions WHERE charger_id = $1", id);
 *
 * (the macros end the list with NULL, so a parameter itself cannot be NULL;
 * write IS NULL in the SQL instead).
 */
#ifndef OCPPGW_IT_DB_H
#define OCPPGW_IT_DB_H

#include <stdbool.h>
#include <stdint.h>

#define DB_NONE INT64_MIN       /* db_int: no row, or SQL NULL */

/* First column of the first row as text (caller frees), or NULL (no row / SQL NULL). */
char *db_str_(const char *const *sql_and_params);
#define db_str(...) db_str_((const char *const[]){ __VA_ARGS__, NULL })

/* First column of the first row as an integer (a boolean reads 1/0), or DB_NONE. */
int64_t db_int_(const char *const *sql_and_params);
#define db_int(...) db_int_((const char *const[]){ __VA_ARGS__, NULL })

/* Runs a command (INSERT/UPDATE/DELETE/...). Returns the affected row count. */
int64_t db_exec_(const char *const *sql_and_params);
#define db_exec(...) db_exec_((const char *const[]){ __VA_ARGS__, NULL })

/*
 * Re-runs the query until its integer equals expect or timeout_ms passes
 * (for write-behind rows); returns the last value read. Transient errors
 * while polling (database restarting) are retried, not fatal.
 */
int64_t db_wait_int_(int timeout_ms, int64_t expect, const char *const *sql_and_params);
#define db_wait_int(timeout_ms, expect, ...) \
    db_wait_int_((timeout_ms), (expect), (const char *const[]){ __VA_ARGS__, NULL })

/* Same check done once without failing: true if the query's integer equals expect. */
bool db_try_int_equals(int64_t expect, const char *const *sql_and_params);

/*
 * Registers a charger the way an operator does: `ocppgw charger add ID
 * --auth-key KEY` (the CLI hashes the key) or, without a password,
 * `ocppgw charger add ID --security-profile 0` (no key), then sets its
 * security profile. A row of that id is deleted first. Runs
 * the migrations first if this process has not yet.
 */
void db_add_charger(const char *id, const char *password, int security_profile);

/* Inserts or replaces a token; expiry is an ISO 8601 time or NULL, parent may be NULL. */
void db_add_token(const char *id_tag, const char *status, const char *expiry, const char *parent);

/* Drops the connection (the next query reconnects). */
void db_disconnect(void);

/* The id of the session of that transaction (caller frees); fails the test if there is none. */
char *it_session_id_of(int32_t tx);

#endif
