/*
 * The events of ../shared/spec/events.md as the REST layer reads them
 * (src/rest/res_events.c): the one place that knows the event types, turns
 * a request's filters into SQL over table `events` (sql/011_events.sql) and
 * an `events` row into the event JSON. GET /v1/events and
 * GET /v1/events/{id} use it; the event stream and webhook deliveries reuse
 * the same parsing, statement and rows, so that every read path filters and
 * shows an event the same way.
 *
 * Filters (all optional, combined with AND):
 *   type        repeated or comma-separated: an event type ("session.stopped")
 *               or a prefix ending in ".*" ("session.*"), which means every
 *               type under it except the types that must be named
 *               (meter_values.received): no wildcard matches those. A value
 *               that names no known type is a bad parameter (400). Absent:
 *               every stored event.
 *   chargerId   one charger; chargerIds: repeated or comma-separated
 *   siteId      the charger's site when the event was written
 *   from, to    createdAt in [from, to) (ISO 8601); createdAt follows seq
 * A key limited to chargers or sites only ever sees events of those
 * chargers (or sites): events without a charger (token.*) are not theirs.
 */
#ifndef OCPPGW_REST_RES_EVENTS_H
#define OCPPGW_REST_RES_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct rest_list_req;
struct rest_list_spec;
struct rest_param_error;
struct rest_query_source;
struct rest_sqlb;
struct store_job;

/* GET /v1/events and GET /v1/events/{id} (route table). */
struct rest_request;
void res_events_list(struct rest_request *r);
void res_event_get(struct rest_request *r);

/* Every event type: event_types[] of include/event_types.h. */
#include "event_types.h"
#define res_event_types event_types

/* True for a type no wildcard matches (it must be named): meter_values.received. */
bool res_event_type_named_only(const char *type);

/*
 * `type` values (exact types or "prefix.*") to the types they mean, as a
 * PostgreSQL text[] literal in event_types order without duplicates
 * (caller frees). NULL with *bad = the offending value (borrowed from
 * items) and reason filled when a value is malformed, unknown or a prefix
 * matching nothing.
 */
char *res_event_types_expand(const char *const *items, size_t n, const char **bad, char *reason,
                             size_t cap);

/* GET /v1/events: cursor pages by seq, oldest first (for the OpenAPI check of tests/unit/test_rest_lists.c). */
extern const struct rest_list_spec *const res_events_spec;

/*
 * The query parameters of GET /v1/events from src (perPage, after, before,
 * order and the filters), validated; false with err naming the parameter.
 * after / before are a cursor of this collection or an event's seq.
 * req is res_events_spec's; free it with rest_list_req_free either way.
 */
bool res_events_parse(const struct rest_query_source *src, struct rest_list_req *req,
                      struct rest_param_error *err);
/*
 * The same for a reader that pages by seq itself (the stream): only the
 * filters are read from src; paging parameters (after, before, perPage,
 * order, sort) are left to the caller and not validated here.
 */
bool res_events_parse_filters(const struct rest_query_source *src, struct rest_list_req *req,
                              struct rest_param_error *err);

/*
 * The page statement of a parsed request into b (initialised by the
 * caller), with the key's restriction (charger_ids, site_ids
 * NULL-terminated; both NULL = none). Its rows: key, seq, then the event
 * columns (res_event_row_json with col0 = 2).
 */
void res_events_sql(const struct rest_list_req *req, char *const *charger_ids, char *const *site_ids,
                    struct rest_sqlb *b);
/*
 * The events after seq `after_seq` that req's filters and the key's
 * restriction let through, oldest first: at most limit + 1 rows (one more
 * than limit says that more follow), columns as res_events_sql's.
 */
void res_events_after_sql(const struct rest_list_req *req, int64_t after_seq, int limit,
                          char *const *charger_ids, char *const *site_ids, struct rest_sqlb *b);
/* Row `row` of such a statement as the event object {id, seq, type, ...} (caller owns). */
struct cJSON *res_event_row_json(const struct store_job *job, int row, int col0);
/* The seq of row `row` of such a statement (col0 as above), 0 if absent. */
int64_t res_event_row_seq(const struct store_job *job, int row, int col0);

#endif
