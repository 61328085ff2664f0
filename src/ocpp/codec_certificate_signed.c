/*
 * CertificateSigned (gateway to charger, security white paper): the chain
 * of a certificate the gateway's CA signed for the charger's CSR
 * (SignCertificate), the charger's certificate first. The gateway builds
 * this payload itself; it travels as a command like any other.
 */
#include <string.h>

#include <cJSON.h>

#include "ocpp.h"

#define CERTIFICATE_CHAIN_MAX 10000     /* CertificateSigned.req maxLength */

char *ocpp_certificate_signed_payload(const char *chain_pem)
{
    if (!chain_pem || !chain_pem[0] || strlen(chain_pem) > CERTIFICATE_CHAIN_MAX)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "certificateChain", chain_pem);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
