/*
 * The event types of ../shared/spec/events.md and the rule that matches a
 * subscription's patterns against them (model: the vocabulary the REST
 * resources and the webhook layer share). A pattern is a type itself,
 * "prefix.*" (every type that starts with "prefix.") or "*" (every type);
 * no wildcard matches meter_values.received, which must be named. The SQL
 * of the fan-out (ocppgw_webhook_type_matches, sql/013_webhooks.sql)
 * follows the same rule; it_webhooks checks the two agree.
 */
#ifndef OCPPGW_EVENT_TYPES_H
#define OCPPGW_EVENT_TYPES_H

#include <stdbool.h>
#include <stddef.h>

/* Every event type, NULL-terminated, in the order of events.md's table (then load management's). */
extern const char *const event_types[];
/* At least how many there are (event_types.c checks it at compile time). */
#define EVENT_TYPES_MAX 48
/* The type a webhook endpoint's test delivery carries (never stored). */
#define EVENT_TYPE_WEBHOOK_TEST "webhook.test"
/* The type no wildcard matches. */
#define EVENT_TYPE_METER_VALUES "meter_values.received"

/* Whether type is one of event_types. */
bool event_type_known(const char *type);
/*
 * Whether a subscription pattern is acceptable: a known type, "*", or
 * "prefix.*" where some known type starts with "prefix.".
 */
bool event_type_pattern_valid(const char *pattern);
/* Whether pattern matches type (see above). */
bool event_type_matches(const char *pattern, const char *type);

#endif
