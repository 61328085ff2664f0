/*
 * Every event type of ../shared/spec/events.md as a table of cases, each
 * making the charger (simulator) or the REST API cause one such event, and
 * the checks the event must pass, whatever read path brought it: GET
 * /v1/events (it_events.c), GET /v1/events/stream (it_event_stream.c), a
 * webhook receiver that verifies signatures (it_webhooks.c). A read path
 * is a struct it_ev_reader; it_ev_run_case does the rest:
 *
 *   1. a fresh charger (registered, security profile 1, on a site) or
 *      token for the case, and the highest seq committed so far;
 *   2. the case's cause, which also says what the event's data must hold;
 *   3. the reader's find, polled (servicing the simulator) until it hands
 *      back an event of the case's type, charger (or token) after that seq;
 *   4. the event against docs/openapi.json (Event, the reader's own
 *      schema when it has one, and data against the case's schema), its
 *      type, chargerId, siteId, occurredAt and data, and the whole of it
 *      against GET /v1/events/{id}: every path hands out the collection's
 *      JSON;
 *   5. data against the resource as GET shows it now (GET /v1/chargers/{id},
 *      /v1/sessions/{id}, /v1/commands/{id}, /v1/tokens/{idTag}, the
 *      charger's connector, its security-events item), key by key: the
 *      same keys, the same values, except what moves by itself between the
 *      commit and the GET (lastSeenAt, an active session's
 *      chargingDuration: not older in GET) and what the event adds
 *      (`reason`, a connector's `chargerId`, a security event's `source`).
 *
 * Charger ids are "<prefix>-<n>" (n counts runs), tokens "<prefix>t<n>".
 * The gateway must know chargers from the database (NOTIFY): runs wait for
 * it. The token idTags of env->tag must exist (start/stop a session).
 */
#ifndef OCPPGW_IT_EVENT_CASES_H
#define OCPPGW_IT_EVENT_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "it.h"

struct sim;
struct sim_charger;

/* What the cases need of the test file. */
struct it_ev_env {
    int port;                   /* the gateway's REST and OCPP port */
    const char *key;            /* an admin API key (makes and reads every resource) */
    struct sim *sim;            /* the simulator the cases connect with (serviced while waiting) */
    const char *prefix;         /* charger ids and tags start with it (at most 12 characters) */
    const char *tag;            /* an Accepted idTag for sessions */
};

struct it_ev_case;

/* One run of a case. */
struct it_ev_run {
    const struct it_ev_case *c;
    const struct it_ev_env *env;
    char charger[49];           /* "" for events without a charger (token.*) */
    char site[65];              /* the charger's site ("" none) */
    char tag[21];               /* token.*: the token's idTag */
    int64_t after_seq;          /* the highest seq committed before the cause */
    cJSON *expect;              /* members data must have with these values (owned) */
    char occurred[40];          /* the exact occurredAt, when the cause knows it ("" = any) */
    char resource[256];         /* GET path of the resource to compare data with ("" = none) */
    struct sim_charger *conn[2];    /* connections the cause opened (closed by the runner) */
};

struct it_ev_case {
    const char *name;           /* "charger.connected", "security.event (auth failed)", ... */
    const char *type;
    const char *data_schema;    /* docs/openapi.json schema of data */
    bool no_charger;            /* token events: chargerId and siteId null */
    bool fresh;                 /* the cause creates the charger itself */
    bool occurred;              /* occurredAt is set */
    void (*cause)(struct it_ev_run *run);
};

extern const struct it_ev_case it_ev_cases[];
extern const size_t it_ev_ncases;

/* A read path. */
struct it_ev_reader {
    /*
     * An event the path delivered with seq > run->after_seq for which
     * it_ev_matches(run, e) holds (a new object, caller deletes), or NULL
     * when there is none yet. Polled until IT_WAIT_MS.
     */
    cJSON *(*find)(void *ctx, const struct it_ev_run *run);
    void *ctx;
    const char *schema;         /* docs/openapi.json schema what it reads must fit besides Event (NULL: none) */
};

/*
 * The one type no wildcard matches (events.md): a webhook subscription and
 * a stream without `type` leave it out, so a reader must name it.
 */
#define IT_EV_NAMED_ONLY "meter_values.received"

/* True if e is the event run waits for: its type and charger (or token), seq past after_seq. */
bool it_ev_matches(const struct it_ev_run *run, const cJSON *e);

/* Runs one case through reader (fails the test with the case's name on any difference). */
void it_ev_run_case(const struct it_ev_case *c, const struct it_ev_env *env, const struct it_ev_reader *reader);

/*
 * Runs group `group`: one test "<prefix> <case name>" per case of
 * it_ev_cases (fn, with the case as *state, between setup and teardown),
 * then the others.
 */
int it_ev_run_group(const char *group, const char *prefix, CMUnitTestFunction fn, CMFixtureFunction setup,
                    CMFixtureFunction teardown, const struct CMUnitTest *others, size_t nothers,
                    CMFixtureFunction group_setup, CMFixtureFunction group_teardown);

/*
 * data against the resource body got by GET: true if they agree as
 * described above; otherwise false with the first difference in why.
 * extra: keys only data has (NULL-terminated, may be NULL).
 */
bool it_ev_same_as_get(const cJSON *data, const cJSON *got, const char *const *extra, char *why, size_t cap);

/* The highest seq committed now (0 when none). */
int64_t it_ev_last_seq(void);

#endif
