/*
 * Private to src/store/: what the store thread's files and the synchronous
 * administration (admin.c) share about talking to PostgreSQL, plus the
 * fault-injection seam the integration test drives. The row readers are in
 * ops.c, the connection helpers in conn.c, the seam in thread.c. What only
 * the store thread's files share is in store_internal.h.
 */
#ifndef OCPPGW_STORE_PG_INTERNAL_H
#define OCPPGW_STORE_PG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "store.h"

/* The columns of a chargers row as struct store_charger wants them, in order. */
#define STORE_CHARGER_COLUMNS \
    "id, coalesce(auth_hash, ''), security_profile, registration_status, registry_version," \
    " coalesce(site_id, ''), coalesce(max_available_current::text, ''), coalesce(power_limit::text, '')"

/* The columns of a sites row as struct store_site wants them, in order. */
#define STORE_SITE_COLUMNS \
    "id, coalesce(max_current::text, ''), coalesce(max_power, 0), lb_enabled, lb_strategy," \
    " lb_min_current::text, lb_phases, lb_voltage, lb_redistribute, registry_version"

/* Fills *out from row `row` of a result selecting STORE_CHARGER_COLUMNS. */
void store_pg_charger_from_row(const PGresult *r, int row, struct store_charger *out);
/* Fills *out from row `row` of a result selecting STORE_SITE_COLUMNS. */
void store_pg_site_from_row(const PGresult *r, int row, struct store_site *out);

/* Fills *out (strings owned: store_apikey_clear) from a row selecting STORE_APIKEY_COLUMNS. */
void store_pg_apikey_from_row(const PGresult *r, int row, struct store_apikey *out);

/* Whether libpq can parse the conninfo (key=value or URL). Says nothing else: it may hold a password. */
bool store_pg_conninfo_valid(const char *conninfo);

/*
 * Starts a connection (PQconnectStartParams when async, else a blocking
 * PQconnectdbParams) with our defaults (application_name, TCP keepalives),
 * any of which the conninfo may override. Caller finishes it with PQfinish.
 * Never NULL. A conninfo may hold a password: it is never logged.
 */
PGconn *store_pg_connect(const char *conninfo, const char *application_name, bool async);

/* Routes server notices (NOTICE, WARNING) to the debug log instead of stderr. */
void store_pg_quiet_notices(PGconn *conn);

/* The first line of a libpq message into buf (no trailing newline). */
void store_pg_error_line(const char *message, char *buf, size_t cap);

/*
 * Test seam (it_store's fault injection): after `nth` more socket operations
 * of the store thread on its connection, the socket is shut down as if the
 * network had failed at that point. 0 disables. Any thread.
 */
void store_test_fail_io_after(struct store *s, long nth);

#endif
