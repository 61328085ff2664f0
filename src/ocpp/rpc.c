/*
 * OCPP-J framing: one websocket text message is one JSON array
 *   CALL       [2, "id", "Action", {payload}]
 *   CALLRESULT [3, "id", {payload}]
 *   CALLERROR  [4, "id", "Code", "description", {details}]
 * ocpp_frame_parse() decides whether a message is such a frame and, when it
 * is not, which CALLERROR answers it; the payload itself is left to the
 * schema validator. The builders go through cJSON so that ids, codes and
 * descriptions are escaped however they look.
 *
 * Decisions, in the order they are taken:
 *   not JSON (or trailing bytes, or a NUL byte,
 *   raw or as \u0000 in a string)                FormationViolation
 *   not an array                                 FormationViolation
 *   []                                           ProtocolError
 *   first element not a number                   FormationViolation
 *   a number other than 2, 3, 4                  ignored (OCPP-J 4.1.3)
 *   too few elements for the type                ProtocolError
 *   id not a string                              FormationViolation
 *   id empty                                     ProtocolError
 *   id over 36 bytes (UTF-8, not characters)     FormationViolation
 *   too many elements for the type               FormationViolation
 *   action / code / description not a string,
 *   payload / details not an object              FormationViolation
 * The id is read as soon as the second element is a string, so that every
 * error after that can be answered with it.
 */
#include <math.h>
#include <string.h>

#include <cJSON.h>

#include "ocpp.h"
#include "util.h"

struct frame_shape {
    int min, max;               /* number of array elements */
};

static const struct frame_shape shapes[] = {
    [OCPP_CALL] = { 4, 4 },
    [OCPP_CALLRESULT] = { 3, 3 },
    [OCPP_CALLERROR] = { 3, 5 },  /* description and details may be left out */
};

static enum ocpp_parse_result parse_error(enum ocpp_err *err, const char **why,
                                          enum ocpp_err e, const char *reason)
{
    *err = e;
    *why = reason;
    return OCPP_PARSE_ERROR;
}

static bool only_whitespace(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return false;
    return true;
}

/*
 * Whether valid JSON text holds a \u0000 escape: cJSON would end that string
 * there, so an id "a\u0000b" would be answered as "a" (cut), and no OCPP
 * string may hold a NUL. Backslashes only occur in strings of valid JSON, and
 * every escape is a backslash and one character (then four hex digits for u).
 */
static bool has_escaped_nul(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (*p != '\\' || end - p < 2)
            continue;
        if (p[1] == 'u' && end - p >= 6 && memcmp(p + 2, "0000", 4) == 0)
            return true;
        p++;                    /* the escaped character */
    }
    return false;
}

/* The frame's type, or 0 if the first element is a number other than 2/3/4. */
static int frame_type(const cJSON *first)
{
    double d = first->valuedouble;
    if (d == OCPP_CALL || d == OCPP_CALLRESULT || d == OCPP_CALLERROR)
        return (int)d;
    return 0;
}

static enum ocpp_parse_result parse_elements(struct ocpp_frame *f, const cJSON *id,
                                             enum ocpp_err *err, const char **why)
{
    const cJSON *third = id->next;
    if (f->type == OCPP_CALLRESULT) {
        if (!cJSON_IsObject(third))
            return parse_error(err, why, OCPP_ERR_FORMATION, "payload is not an object");
        f->payload = third;
        return OCPP_PARSE_OK;
    }
    if (f->type == OCPP_CALL) {
        if (!cJSON_IsString(third))
            return parse_error(err, why, OCPP_ERR_FORMATION, "action is not a string");
        if (!cJSON_IsObject(third->next))
            return parse_error(err, why, OCPP_ERR_FORMATION, "payload is not an object");
        str_copy(f->action, sizeof f->action, third->valuestring); /* cut: matches no action */
        f->payload = third->next;
        return OCPP_PARSE_OK;
    }
    const cJSON *desc = third->next, *details = desc ? desc->next : NULL;
    if (!cJSON_IsString(third) || (desc && !cJSON_IsString(desc)))
        return parse_error(err, why, OCPP_ERR_FORMATION, "error code or description is not a string");
    if (details && !cJSON_IsObject(details))
        return parse_error(err, why, OCPP_ERR_FORMATION, "error details is not an object");
    f->error_code = third->valuestring;
    f->error_description = desc ? desc->valuestring : "";
    return OCPP_PARSE_OK;
}

enum ocpp_parse_result ocpp_frame_parse(const char *text, size_t len, struct ocpp_frame *f,
                                        enum ocpp_err *err, const char **why)
{
    memset(f, 0, sizeof *f);
    const char *end = NULL;
    if (memchr(text, '\0', len) ||
        !(f->root = cJSON_ParseWithLengthOpts(text, len, &end, false)) ||
        !only_whitespace(end, text + len))
        return parse_error(err, why, OCPP_ERR_FORMATION, "not valid JSON");
    if (has_escaped_nul(text, text + len))
        return parse_error(err, why, OCPP_ERR_FORMATION, "NUL character (\\u0000) in a string");
    if (!cJSON_IsArray(f->root))
        return parse_error(err, why, OCPP_ERR_FORMATION, "not a JSON array");
    const cJSON *first = f->root->child;
    if (!first)
        return parse_error(err, why, OCPP_ERR_PROTOCOL, "empty frame");
    const cJSON *id = first->next;
    if (cJSON_IsString(id) && strlen(id->valuestring) < sizeof f->id)
        strcpy(f->id, id->valuestring);
    if (!cJSON_IsNumber(first))
        return parse_error(err, why, OCPP_ERR_FORMATION, "message type is not a number");
    if (!(f->type = frame_type(first))) {
        double d = first->valuedouble;
        f->type = d == trunc(d) && fabs(d) <= INT32_MAX ? (int)d : -1;
        return OCPP_PARSE_IGNORE;
    }
    int n = cJSON_GetArraySize(f->root);
    if (n < shapes[f->type].min)
        return parse_error(err, why, OCPP_ERR_PROTOCOL, "frame is incomplete");
    if (!cJSON_IsString(id))
        return parse_error(err, why, OCPP_ERR_FORMATION, "unique id is not a string");
    /*
     * By bytes: every buffer downstream holds OCPP_ID_MAX bytes + NUL, so an
     * id of 20 three-byte characters accepted here would be cut there.
     */
    size_t id_len = strlen(id->valuestring);
    if (id_len == 0)
        return parse_error(err, why, OCPP_ERR_PROTOCOL, "unique id is empty");
    if (id_len > OCPP_ID_MAX)
        return parse_error(err, why, OCPP_ERR_FORMATION, "unique id longer than 36 bytes");
    if (n > shapes[f->type].max)
        return parse_error(err, why, OCPP_ERR_FORMATION, "too many elements in frame");
    return parse_elements(f, id, err, why);
}

void ocpp_frame_free(struct ocpp_frame *f)
{
    cJSON_Delete(f->root);
    f->root = NULL;
    f->payload = NULL;
    f->error_code = f->error_description = NULL;
}

/* ---- builders ---- */

static const char *answer_id(const char *id)
{
    return id && *id ? id : "-1";
}

/* Prints and frees frame; caller frees the text. */
static char *print_frame(cJSON *frame)
{
    char *text = cJSON_PrintUnformatted(frame);
    cJSON_Delete(frame);
    return text;
}

static cJSON *frame_head(int type, const char *id)
{
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(type));
    cJSON_AddItemToArray(a, cJSON_CreateString(answer_id(id)));
    return a;
}

char *ocpp_build_callresult(const char *id, const struct cJSON *payload)
{
    cJSON *a = frame_head(OCPP_CALLRESULT, id);
    /* a reference to the caller's members: printed, never copied or freed */
    cJSON_AddItemToArray(a, cJSON_IsObject(payload) ? cJSON_CreateObjectReference(payload->child)
                                                    : cJSON_CreateObject());
    return print_frame(a);
}

char *ocpp_build_callerror(const char *id, enum ocpp_err err, const char *description)
{
    cJSON *a = frame_head(OCPP_CALLERROR, id);
    cJSON_AddItemToArray(a, cJSON_CreateString(ocpp_error_code(err)));
    cJSON_AddItemToArray(a, cJSON_CreateString(description ? description : ""));
    cJSON_AddItemToArray(a, cJSON_CreateObject());
    return print_frame(a);
}

char *ocpp_build_call(const char *id, enum ocpp_action a, const char *payload_json)
{
    if (a < 0 || a >= OCPP_ACTION_COUNT)
        return NULL;
    cJSON *payload = payload_json ? cJSON_ParseWithOpts(payload_json, NULL, true) : cJSON_CreateObject();
    if (!cJSON_IsObject(payload)) {
        cJSON_Delete(payload);
        return NULL;
    }
    cJSON *frame = frame_head(OCPP_CALL, id);
    cJSON_AddItemToArray(frame, cJSON_CreateString(ocpp_action_name(a)));
    cJSON_AddItemToArray(frame, payload);
    return print_frame(frame);
}
