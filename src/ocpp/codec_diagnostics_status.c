/*
 * DiagnosticsStatusNotification: progress of an upload requested with
 * GetDiagnostics (Idle, Uploaded, UploadFailed, Uploading). Answered {}.
 */
#include <cJSON.h>

#include "codec.h"

enum ocpp_err ocpp_parse_diagnostics_status(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    struct ocpp_status_req *r = &req->fw_diag_status;
    return ocpp_get_string(p, "", "status", NULL, r->status, sizeof r->status, v);
}
