/*
 * SignCertificate (security white paper): the charger sends a PEM PKCS#10
 * CSR for its charge point certificate. The answer says whether the
 * gateway will try to sign it (Accepted when a CA is configured); the
 * certificate itself follows later as a CertificateSigned command.
 */
#include <cJSON.h>

#include "codec.h"
#include "util.h"

enum ocpp_err ocpp_parse_sign_certificate(const cJSON *p, union ocpp_req *req, struct ocpp_violation *v)
{
    enum ocpp_err err;
    const cJSON *csr = ocpp_get_member(p, "", "csr", cJSON_IsString, "must be a string", NULL, v, &err);
    if (!csr)
        return err;
    if (!csr->valuestring[0])
        return ocpp_violation_set(v, OCPP_ERR_PROPERTY_CONSTRAINT, "csr", "must not be empty");
    req->sign_certificate.csr = xstrdup(csr->valuestring);
    return OCPP_OK;
}

cJSON *ocpp_build_sign_certificate_conf(const struct ocpp_conf *conf)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", conf->body.sign_certificate_accepted ? "Accepted" : "Rejected");
    return o;
}
