/*
 * Private to src/ocpp/: the per-action codecs (one codec_<action>.c per
 * charger-initiated action: parse its request, build its answer), the table in codec.c
 * that ocpp_parse_request() / ocpp_conf_to_json() dispatch through, and the
 * small field readers and writers they share.
 *
 * Parse functions receive a payload that already passed the schema; they
 * still check what they read (type, range, fit in the fixed buffers of
 * ocpp_msg.h) and report a violation with the JSON path rather than trust
 * it. On error they may leave partly filled heap parts in req: the caller
 * (ocpp_parse_request) frees them with ocpp_req_free(), so arrays are
 * attached to req as soon as they are allocated, zeroed.
 */
#ifndef OCPPGW_OCPP_CODEC_H
#define OCPPGW_OCPP_CODEC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "ocpp.h"

struct cJSON;

/* ---- violations (schema.c): fill *v, return err ---- */
enum ocpp_err ocpp_violation_set(struct ocpp_violation *v, enum ocpp_err err, const char *path,
                                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void ocpp_violation_vset(struct ocpp_violation *v, enum ocpp_err err, const char *path,
                         const char *fmt, va_list ap);

/* ---- field readers (codec.c) ----
 * `prefix` is the JSON path of obj ("" for the payload, "meterValue[0]"),
 * used only for the violation. All borrow obj and write into caller memory.
 */

/*
 * The member `name` of obj, or NULL: absent (fine when present is non-NULL,
 * *err = OCCURENCE when present is NULL, i.e. required) or not passing
 * is_type (*err = TYPE, message type_msg). *err = OCPP_OK otherwise.
 */
const struct cJSON *ocpp_get_member(const struct cJSON *obj, const char *prefix, const char *name,
                                    int (*is_type)(const struct cJSON *), const char *type_msg,
                                    bool *present, struct ocpp_violation *v, enum ocpp_err *err);
/* dst = prefix.name[index] (no dot when prefix is "", no [index] when index < 0), cut to cap. */
void ocpp_path_join(char *dst, size_t cap, const char *prefix, const char *name, long index);
/* String member into dst[cap]. dflt NULL: required; else used when absent. */
enum ocpp_err ocpp_get_string(const struct cJSON *obj, const char *prefix, const char *name,
                              const char *dflt, char *dst, size_t cap, struct ocpp_violation *v);
/* Integral member within [min, max] (PROPERTY otherwise). present NULL: required. */
enum ocpp_err ocpp_get_int(const struct cJSON *obj, const char *prefix, const char *name,
                           int64_t min, int64_t max, int64_t *out, bool *present,
                           struct ocpp_violation *v);
/* date-time member as ms since the epoch (TYPE if it does not parse). present NULL: required. */
enum ocpp_err ocpp_get_time(const struct cJSON *obj, const char *prefix, const char *name,
                            int64_t *out, bool *present, struct ocpp_violation *v);

#define OCPP_CONNECTOR_MAX INT32_MAX
#define OCPP_INT53_MAX INT64_C(9007199254740992)  /* what a JSON integer can carry */

/* ---- writers (codec.c) ---- */
/* Adds name: "YYYY-MM-DDTHH:MM:SS.mmmZ" to obj. */
void ocpp_add_time(struct cJSON *obj, const char *name, int64_t ms);
/* idTagInfo object (caller owns): status, expiryDate if set, parentIdTag if non-empty. */
struct cJSON *ocpp_id_tag_info_to_json(const struct ocpp_id_tag_info *info);

/* ---- shared by MeterValues and StopTransaction (codec_meter_values.c) ---- */
/*
 * Reads a meterValue array (path names it in violations) into a new array
 * attached to *out / *n at once (caller frees with ocpp_meter_values_free,
 * also on error). Fills the spec defaults of every sampledValue.
 */
enum ocpp_err ocpp_parse_meter_value_array(const struct cJSON *arr, const char *path,
                                           struct ocpp_meter_value **out, size_t *n,
                                           struct ocpp_violation *v);

/* ---- one pair per action (codec_<action>.c) ---- */
enum ocpp_err ocpp_parse_authorize(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_boot_notification(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_data_transfer(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_diagnostics_status(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_firmware_status(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_meter_values(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_security_event(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
/* SignedFirmwareStatusNotification and LogStatusNotification share one shape */
enum ocpp_err ocpp_parse_request_status(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_sign_certificate(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_start_transaction(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_status_notification(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);
enum ocpp_err ocpp_parse_stop_transaction(const struct cJSON *p, union ocpp_req *req, struct ocpp_violation *v);

/* Conf builders: new cJSON object, caller frees. Actions with an empty conf have none. */
struct cJSON *ocpp_build_authorize_conf(const struct ocpp_conf *conf);
struct cJSON *ocpp_build_boot_notification_conf(const struct ocpp_conf *conf);
struct cJSON *ocpp_build_data_transfer_conf(const struct ocpp_conf *conf);
struct cJSON *ocpp_build_heartbeat_conf(const struct ocpp_conf *conf);
struct cJSON *ocpp_build_sign_certificate_conf(const struct ocpp_conf *conf);
struct cJSON *ocpp_build_start_transaction_conf(const struct ocpp_conf *conf);
struct cJSON *ocpp_build_stop_transaction_conf(const struct ocpp_conf *conf);

#endif
