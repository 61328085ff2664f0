/*
 * The OCPP 1.6 vocabulary every layer shares (model): action names and
 * directions, CALLERROR code names and authorisation statuses. The action table is indexed by enum ocpp_action,
 * whose order is the byte order of the names, so the same table serves
 * name -> action (bsearch) and action -> name (index). test_rpc checks that
 * the table is sorted.
 */
#include <stdlib.h>
#include <string.h>

#include "ocpp_msg.h"

#define CHARGER_INITIATED 1u
#define GATEWAY_INITIATED 2u   /* the 19 Central System -> Charge Point actions of 1.6 and the 7 of the Security Extension */

struct action_entry {
    const char *name;
    unsigned flags;
};

static const struct action_entry actions[OCPP_ACTION_COUNT] = {
    [OCPP_ACTION_AUTHORIZE] = { "Authorize", CHARGER_INITIATED },
    [OCPP_ACTION_BOOT_NOTIFICATION] = { "BootNotification", CHARGER_INITIATED },
    [OCPP_ACTION_CANCEL_RESERVATION] = { "CancelReservation", GATEWAY_INITIATED },
    [OCPP_ACTION_CERTIFICATE_SIGNED] = { "CertificateSigned", GATEWAY_INITIATED },
    [OCPP_ACTION_CHANGE_AVAILABILITY] = { "ChangeAvailability", GATEWAY_INITIATED },
    [OCPP_ACTION_CHANGE_CONFIGURATION] = { "ChangeConfiguration", GATEWAY_INITIATED },
    [OCPP_ACTION_CLEAR_CACHE] = { "ClearCache", GATEWAY_INITIATED },
    [OCPP_ACTION_CLEAR_CHARGING_PROFILE] = { "ClearChargingProfile", GATEWAY_INITIATED },
    [OCPP_ACTION_DATA_TRANSFER] = { "DataTransfer", CHARGER_INITIATED | GATEWAY_INITIATED },
    [OCPP_ACTION_DELETE_CERTIFICATE] = { "DeleteCertificate", GATEWAY_INITIATED },
    [OCPP_ACTION_DIAGNOSTICS_STATUS_NOTIFICATION] = { "DiagnosticsStatusNotification", CHARGER_INITIATED },
    [OCPP_ACTION_EXTENDED_TRIGGER_MESSAGE] = { "ExtendedTriggerMessage", GATEWAY_INITIATED },
    [OCPP_ACTION_FIRMWARE_STATUS_NOTIFICATION] = { "FirmwareStatusNotification", CHARGER_INITIATED },
    [OCPP_ACTION_GET_COMPOSITE_SCHEDULE] = { "GetCompositeSchedule", GATEWAY_INITIATED },
    [OCPP_ACTION_GET_CONFIGURATION] = { "GetConfiguration", GATEWAY_INITIATED },
    [OCPP_ACTION_GET_DIAGNOSTICS] = { "GetDiagnostics", GATEWAY_INITIATED },
    [OCPP_ACTION_GET_INSTALLED_CERTIFICATE_IDS] = { "GetInstalledCertificateIds", GATEWAY_INITIATED },
    [OCPP_ACTION_GET_LOCAL_LIST_VERSION] = { "GetLocalListVersion", GATEWAY_INITIATED },
    [OCPP_ACTION_GET_LOG] = { "GetLog", GATEWAY_INITIATED },
    [OCPP_ACTION_HEARTBEAT] = { "Heartbeat", CHARGER_INITIATED },
    [OCPP_ACTION_INSTALL_CERTIFICATE] = { "InstallCertificate", GATEWAY_INITIATED },
    [OCPP_ACTION_LOG_STATUS_NOTIFICATION] = { "LogStatusNotification", CHARGER_INITIATED },
    [OCPP_ACTION_METER_VALUES] = { "MeterValues", CHARGER_INITIATED },
    [OCPP_ACTION_REMOTE_START_TRANSACTION] = { "RemoteStartTransaction", GATEWAY_INITIATED },
    [OCPP_ACTION_REMOTE_STOP_TRANSACTION] = { "RemoteStopTransaction", GATEWAY_INITIATED },
    [OCPP_ACTION_RESERVE_NOW] = { "ReserveNow", GATEWAY_INITIATED },
    [OCPP_ACTION_RESET] = { "Reset", GATEWAY_INITIATED },
    [OCPP_ACTION_SECURITY_EVENT_NOTIFICATION] = { "SecurityEventNotification", CHARGER_INITIATED },
    [OCPP_ACTION_SEND_LOCAL_LIST] = { "SendLocalList", GATEWAY_INITIATED },
    [OCPP_ACTION_SET_CHARGING_PROFILE] = { "SetChargingProfile", GATEWAY_INITIATED },
    [OCPP_ACTION_SIGN_CERTIFICATE] = { "SignCertificate", CHARGER_INITIATED },
    [OCPP_ACTION_SIGNED_FIRMWARE_STATUS_NOTIFICATION] = { "SignedFirmwareStatusNotification", CHARGER_INITIATED },
    [OCPP_ACTION_SIGNED_UPDATE_FIRMWARE] = { "SignedUpdateFirmware", GATEWAY_INITIATED },
    [OCPP_ACTION_START_TRANSACTION] = { "StartTransaction", CHARGER_INITIATED },
    [OCPP_ACTION_STATUS_NOTIFICATION] = { "StatusNotification", CHARGER_INITIATED },
    [OCPP_ACTION_STOP_TRANSACTION] = { "StopTransaction", CHARGER_INITIATED },
    [OCPP_ACTION_TRIGGER_MESSAGE] = { "TriggerMessage", GATEWAY_INITIATED },
    [OCPP_ACTION_UNLOCK_CONNECTOR] = { "UnlockConnector", GATEWAY_INITIATED },
    [OCPP_ACTION_UPDATE_FIRMWARE] = { "UpdateFirmware", GATEWAY_INITIATED },
};

static bool action_valid(enum ocpp_action a)
{
    return a >= 0 && a < OCPP_ACTION_COUNT;
}

const char *ocpp_action_name(enum ocpp_action a)
{
    return action_valid(a) ? actions[a].name : "";
}

static int compare_name(const void *key, const void *entry)
{
    return strcmp(key, ((const struct action_entry *)entry)->name);
}

enum ocpp_action ocpp_action_lookup(const char *name)
{
    const struct action_entry *e =
        bsearch(name, actions, OCPP_ACTION_COUNT, sizeof actions[0], compare_name);
    return e ? (enum ocpp_action)(e - actions) : OCPP_ACTION_NONE;
}

bool ocpp_action_is_charger_initiated(enum ocpp_action a)
{
    return action_valid(a) && (actions[a].flags & CHARGER_INITIATED);
}

bool ocpp_action_is_gateway_initiated(enum ocpp_action a)
{
    return action_valid(a) && (actions[a].flags & GATEWAY_INITIATED);
}

const char *ocpp_error_code(enum ocpp_err e)
{
    switch (e) {
    case OCPP_ERR_NOT_IMPLEMENTED: return "NotImplemented";
    case OCPP_ERR_NOT_SUPPORTED: return "NotSupported";
    case OCPP_ERR_INTERNAL: return "InternalError";
    case OCPP_ERR_PROTOCOL: return "ProtocolError";
    case OCPP_ERR_SECURITY: return "SecurityError";
    case OCPP_ERR_FORMATION: return "FormationViolation";
    case OCPP_ERR_PROPERTY_CONSTRAINT: return "PropertyConstraintViolation";
    case OCPP_ERR_OCCURENCE_CONSTRAINT: return "OccurenceConstraintViolation";
    case OCPP_ERR_TYPE_CONSTRAINT: return "TypeConstraintViolation";
    case OCPP_OK:
    case OCPP_ERR_GENERIC:
        break;
    }
    /* OCPP_OK is not an error: a CALLERROR built from it still carries a valid code. */
    return "GenericError";
}

static const char *const auth_status_names[] = {
    [OCPP_AUTH_ACCEPTED] = "Accepted",
    [OCPP_AUTH_BLOCKED] = "Blocked",
    [OCPP_AUTH_EXPIRED] = "Expired",
    [OCPP_AUTH_INVALID] = "Invalid",
    [OCPP_AUTH_CONCURRENT_TX] = "ConcurrentTx",
};
#define AUTH_STATUS_COUNT (sizeof auth_status_names / sizeof auth_status_names[0])

const char *ocpp_auth_status_name(enum ocpp_auth_status s)
{
    return (size_t)s < AUTH_STATUS_COUNT ? auth_status_names[s] : "Invalid";
}

bool ocpp_auth_status_parse(const char *s, enum ocpp_auth_status *out)
{
    for (size_t i = 0; i < AUTH_STATUS_COUNT; i++) {
        if (strcmp(s, auth_status_names[i]) == 0) {
            *out = (enum ocpp_auth_status)i;
            return true;
        }
    }
    return false;
}
