/*
 * The model (src/model/): OCPP 1.6 messages as plain C, the vocabulary
 * beneath the core, the wire and the store. The action list and the typed
 * payloads of the charger-initiated actions the core handles. src/ocpp/
 * turns JSON into these (after schema validation) and these into JSON; the
 * core and the store see only these structs. Gateway-initiated actions travel as opaque, validated
 * JSON text (the core only routes them), so they have no struct here.
 *
 * String fields are fixed arrays sized by the 1.6 schema's maxLength + 1, so
 * a parsed message owns no heap memory except where noted (DataTransfer data,
 * meter value arrays): those are freed by ocpp_req_free().
 */
#ifndef OCPPGW_OCPP_MSG_H
#define OCPPGW_OCPP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every action of OCPP 1.6 (core profiles + security white paper), sorted by name. */
enum ocpp_action {
    OCPP_ACTION_AUTHORIZE,
    OCPP_ACTION_BOOT_NOTIFICATION,
    OCPP_ACTION_CANCEL_RESERVATION,
    OCPP_ACTION_CERTIFICATE_SIGNED,
    OCPP_ACTION_CHANGE_AVAILABILITY,
    OCPP_ACTION_CHANGE_CONFIGURATION,
    OCPP_ACTION_CLEAR_CACHE,
    OCPP_ACTION_CLEAR_CHARGING_PROFILE,
    OCPP_ACTION_DATA_TRANSFER,
    OCPP_ACTION_DELETE_CERTIFICATE,
    OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION,
    OCPP_ACTION_EXTENDED_TRIGGER_MESSAGE,
    OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION,
    OCPP_ACTION_GET_COMPOSITE_SCHEDULE,
    OCPP_ACTION_GET_CONFIGURATION,
    OCPP_ACTION_GET_DIAGNOSTICS,
    OCPP_ACTION_GET_INSTALLED_CERTIFICATE_IDS,
    OCPP_ACTION_GET_LOCAL_LIST_VERSION,
    OCPP_ACTION_GET_LOG,
    OCPP_ACTION_HEARTBEAT,
    OCPP_ACTION_INSTALL_CERTIFICATE,
    OCPP_ACTION_LOG_STATUS_NOTIFICATION,
    OCPP_ACTION_METER_VALUES,
    OCPP_ACTION_REMOTE_START_TRANSACTION,
    OCPP_ACTION_REMOTE_STOP_TRANSACTION,
    OCPP_ACTION_RESERVE_NOW,
    OCPP_ACTION_RESET,
    OCPP_ACTION_SECURITY_EVENT_NOTIFICATION,
    OCPP_ACTION_SEND_LOCAL_LIST,
    OCPP_ACTION_SET_CHARGING_PROFILE,
    OCPP_ACTION_SIGN_CERTIFICATE,
    OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION,
    OCPP_ACTION_SIGNED_UPDATE_FIRMWARE,
    OCPP_ACTION_START_TRANSACTION,
    OCPP_ACTION_STATUS_NOTIFICATION,
    OCPP_ACTION_STOP_TRANSACTION,
    OCPP_ACTION_TRIGGER_MESSAGE,
    OCPP_ACTION_UNLOCK_CONNECTOR,
    OCPP_ACTION_UPDATE_FIRMWARE,
    OCPP_ACTION_COUNT,
    OCPP_ACTION_NONE = -1
};

/* "BootNotification" etc. Static strings. */
const char *ocpp_action_name(enum ocpp_action a);
/* Exact, case-sensitive lookup; OCPP_ACTION_NONE if unknown. */
enum ocpp_action ocpp_action_lookup(const char *name);
/* True for the 14 charger-initiated actions the core handles (10 of 1.6, 4 of the security white paper). */
bool ocpp_action_is_charger_initiated(enum ocpp_action a);
/* True for the 26 actions the Central System sends: the 19 of 1.6 (DataTransfer is
 * both) and the 7 of the Security Extension (white paper edition 3). */
bool ocpp_action_is_gateway_initiated(enum ocpp_action a);

/*
 * The internal error every layer returns. Only src/ocpp/ maps it to a
 * CALLERROR code (ocpp_error_code()) and only src/rest/ to an HTTP status.
 */
enum ocpp_err {
    OCPP_OK = 0,
    OCPP_ERR_NOT_IMPLEMENTED,          /* unknown action */
    OCPP_ERR_NOT_SUPPORTED,            /* known action we do not take in this direction */
    OCPP_ERR_INTERNAL,                 /* our fault, or the database is down */
    OCPP_ERR_PROTOCOL,                 /* incomplete frame, duplicate id, ... */
    OCPP_ERR_SECURITY,                 /* not allowed before boot / not authorised */
    OCPP_ERR_FORMATION,                /* not a valid OCPP-J frame or wrong payload shape */
    OCPP_ERR_PROPERTY_CONSTRAINT,      /* too long, out of range, bad value */
    OCPP_ERR_OCCURENCE_CONSTRAINT,     /* required field missing */
    OCPP_ERR_TYPE_CONSTRAINT,          /* wrong type or enum value */
    OCPP_ERR_GENERIC
};
/* The 1.6 CALLERROR code string ("OccurenceConstraintViolation", ...). */
const char *ocpp_error_code(enum ocpp_err e);

/* ---- shared value types ---- */

#define OCPP_IDTAG_MAX 20               /* CiString20 */
#define OCPP_ID_MAX 36                  /* message unique id */
#define OCPP_CHARGER_ID_MAX 48

enum ocpp_auth_status {
    OCPP_AUTH_ACCEPTED,
    OCPP_AUTH_BLOCKED,
    OCPP_AUTH_EXPIRED,
    OCPP_AUTH_INVALID,
    OCPP_AUTH_CONCURRENT_TX
};
const char *ocpp_auth_status_name(enum ocpp_auth_status s);
/* false if unknown */
bool ocpp_auth_status_parse(const char *s, enum ocpp_auth_status *out);

struct ocpp_id_tag_info {
    enum ocpp_auth_status status;
    int64_t expiry_ms;                  /* 0 = none */
    char parent_id_tag[OCPP_IDTAG_MAX + 1]; /* "" = none */
};

/* One sampledValue; strings hold the value as sent or the spec default. */
struct ocpp_sampled_value {
    char *value;                        /* owned; a 1.6 value has no length limit */
    char context[24];                   /* default "Sample.Periodic" */
    char format[12];                    /* default "Raw" */
    char measurand[40];                 /* default "Energy.Active.Import.Register" */
    char phase[8];                      /* "" = absent */
    char location[8];                   /* default "Outlet" */
    char unit[12];                      /* default "Wh" */
};

struct ocpp_meter_value {
    int64_t timestamp_ms;
    size_t n_sampled;
    struct ocpp_sampled_value *sampled; /* owned array */
};

/* ---- charger-initiated requests ---- */

struct ocpp_authorize_req {
    char id_tag[OCPP_IDTAG_MAX + 1];
};

struct ocpp_boot_req {
    char vendor[21];
    char model[21];
    char cp_serial[26];
    char cb_serial[26];
    char firmware[51];
    char iccid[21];
    char imsi[21];
    char meter_type[26];
    char meter_serial[26];
};

struct ocpp_data_transfer_req {
    char vendor_id[256];
    char message_id[51];                /* "" = absent */
    char *data;                         /* owned, NULL = absent; JSON text of any type */
};

struct ocpp_status_req {               /* Diagnostics/FirmwareStatusNotification */
    char status[24];
};

/* SecurityEventNotification (security white paper) */
struct ocpp_security_event_req {
    char type[51];
    int64_t timestamp_ms;               /* the charger's */
    char tech_info[256];                /* "" = absent */
};

/* SignedFirmwareStatusNotification, LogStatusNotification (security white paper) */
struct ocpp_request_status_req {
    char status[32];
    bool has_request_id;
    int32_t request_id;
};

/* SignCertificate (security white paper) */
struct ocpp_sign_certificate_req {
    char *csr;                          /* owned: PEM PKCS#10, at most 5500 bytes */
};

struct ocpp_meter_values_req {
    int connector_id;
    bool has_transaction_id;
    int32_t transaction_id;
    size_t n_values;
    struct ocpp_meter_value *values;    /* owned array */
    uint64_t digest;                    /* of the payload, for dedup of retries */
};

struct ocpp_start_tx_req {
    int connector_id;
    char id_tag[OCPP_IDTAG_MAX + 1];
    int64_t meter_start;
    bool has_reservation_id;
    int32_t reservation_id;
    int64_t timestamp_ms;
};

struct ocpp_status_notification_req {
    int connector_id;
    char error_code[24];
    char info[51];
    char status[16];
    bool has_timestamp;
    int64_t timestamp_ms;
    char vendor_id[256];
    char vendor_error_code[51];
};

struct ocpp_stop_tx_req {
    char id_tag[OCPP_IDTAG_MAX + 1];    /* "" = absent */
    int64_t meter_stop;
    int64_t timestamp_ms;
    int32_t transaction_id;
    char reason[24];                    /* default "Local" */
    size_t n_values;                    /* transactionData */
    struct ocpp_meter_value *values;    /* owned array */
    uint64_t digest;                    /* of transactionData, for dedup of retries */
};

union ocpp_req {
    struct ocpp_authorize_req authorize;
    struct ocpp_boot_req boot;
    struct ocpp_data_transfer_req data_transfer;
    struct ocpp_status_req fw_diag_status;
    struct ocpp_meter_values_req meter_values;
    struct ocpp_start_tx_req start_tx;
    struct ocpp_status_notification_req status;
    struct ocpp_stop_tx_req stop_tx;
    struct ocpp_security_event_req security_event;
    struct ocpp_request_status_req request_status;
    struct ocpp_sign_certificate_req sign_certificate;
};

/* Frees what a parsed request of that action owns (not req itself). */
void ocpp_req_free(enum ocpp_action a, union ocpp_req *req);
/* Frees a meter value array of n entries and its strings. */
void ocpp_meter_values_free(struct ocpp_meter_value *v, size_t n);

/* ---- answers to charger-initiated requests ---- */

enum ocpp_registration { OCPP_REG_ACCEPTED, OCPP_REG_PENDING, OCPP_REG_REJECTED };

struct ocpp_boot_conf {
    enum ocpp_registration status;
    int64_t current_time_ms;
    int interval_s;
};

struct ocpp_start_tx_conf {
    int32_t transaction_id;
    struct ocpp_id_tag_info info;
};

struct ocpp_stop_tx_conf {
    bool has_info;
    struct ocpp_id_tag_info info;
};

struct ocpp_data_transfer_conf {
    char status[20];                    /* Accepted, Rejected, UnknownMessageId, UnknownVendorId */
};

union ocpp_conf_body {
    struct ocpp_id_tag_info authorize;  /* Authorize.conf */
    struct ocpp_boot_conf boot;
    int64_t heartbeat_time_ms;          /* Heartbeat.conf currentTime */
    struct ocpp_start_tx_conf start_tx;
    struct ocpp_stop_tx_conf stop_tx;
    struct ocpp_data_transfer_conf data_transfer;
    bool sign_certificate_accepted;     /* SignCertificate.conf status */
    /* StatusNotification, MeterValues, *StatusNotification: empty {} */
};

struct ocpp_conf {
    enum ocpp_action action;
    union ocpp_conf_body body;
};

/* ---- Smart Charging payloads the gateway sends (src/model/smart_charging.c) ---- */

enum ocpp_profile_purpose {
    OCPP_PROFILE_CHARGE_POINT_MAX,      /* ChargePointMaxProfile (connector 0) */
    OCPP_PROFILE_TX_DEFAULT,            /* TxDefaultProfile */
    OCPP_PROFILE_TX                     /* TxProfile (needs transaction_id) */
};
const char *ocpp_profile_purpose_name(enum ocpp_profile_purpose p);

/* A charging profile of one period that holds from its start, in A (0.1 A steps). */
struct ocpp_profile_spec {
    int connector_id;
    int profile_id;                     /* chargingProfileId: the same id replaces the earlier one */
    int32_t transaction_id;             /* TxProfile: its transaction; else 0 (omitted) */
    int stack_level;
    enum ocpp_profile_purpose purpose;
    int32_t limit_da;                   /* deci-amperes, >= 0 */
    int phases;                         /* numberPhases, 0 = omitted (the charger's default: 3) */
};

/*
 * The SetChargingProfile.req payload as JSON text into buf (kind Relative,
 * unit A, one period at startPeriod 0). Returns its length, or -1 if it does
 * not fit.
 */
int ocpp_profile_payload(char *buf, size_t cap, const struct ocpp_profile_spec *p);
/* The ClearChargingProfile.req payload that removes the profile of that chargingProfileId. */
int ocpp_clear_profile_payload(char *buf, size_t cap, int profile_id);

#endif
