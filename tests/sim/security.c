/*
 * The simulator's side of the OCPP 1.6 Security Extension (white paper
 * edition 3), charger-initiated messages: a CSR like a charger makes for
 * SignCertificate (a fresh P-256 key, subject O and CN as asked, signed with
 * that key), and the four CALLs with payloads valid against the official
 * schemas. The answers to CertificateSigned live with the other ready-made
 * answers (answers.c: sim_answers_certificate_chain).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sim.h"

static char *bio_text(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = malloc((size_t)(n > 0 ? n : 0) + 1);
    if (!out)
        abort();
    if (n > 0)
        memcpy(out, data, (size_t)n);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

char *sim_csr_new(const char *cn, const char *org, char **key_pem)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509_REQ *req = X509_REQ_new();
    char *out = NULL;
    if (!k || !req)
        goto out;
    X509_NAME *n = X509_REQ_get_subject_name(req);
    if (org)
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0);
    if (cn)
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    if (!X509_REQ_set_pubkey(req, k) || X509_REQ_sign(req, k, EVP_sha256()) <= 0)
        goto out;
    BIO *b = BIO_new(BIO_s_mem());
    if (b && PEM_write_bio_X509_REQ(b, req))
        out = bio_text(b);
    BIO_free(b);
    if (out && key_pem) {
        b = BIO_new(BIO_s_mem());
        *key_pem = b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) ? bio_text(b) : NULL;
        BIO_free(b);
    }
out:
    X509_REQ_free(req);
    EVP_PKEY_free(k);
    return out;
}

static char *call_json(struct sim_charger *c, const char *action, cJSON *payload, int timeout_ms)
{
    char *text = cJSON_PrintUnformatted(payload);
    cJSON_Delete(payload);
    char *reply = text ? sim_call(c, action, text, timeout_ms) : NULL;
    cJSON_free(text);
    return reply;
}

char *sim_security_event(struct sim_charger *c, const char *type, const char *timestamp,
                         const char *tech_info, int timeout_ms)
{
    char now[32];
    if (!timestamp) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
        timestamp = now;
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", type);
    cJSON_AddStringToObject(p, "timestamp", timestamp);
    if (tech_info)
        cJSON_AddStringToObject(p, "techInfo", tech_info);
    return call_json(c, "SecurityEventNotification", p, timeout_ms);
}

char *sim_sign_certificate(struct sim_charger *c, const char *csr_pem, int timeout_ms)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "csr", csr_pem);
    return call_json(c, "SignCertificate", p, timeout_ms);
}

static char *request_status(struct sim_charger *c, const char *action, const char *status, int request_id,
                            int timeout_ms)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "status", status);
    if (request_id >= 0)
        cJSON_AddNumberToObject(p, "requestId", request_id);
    return call_json(c, action, p, timeout_ms);
}

char *sim_signed_firmware_status(struct sim_charger *c, const char *status, int request_id, int timeout_ms)
{
    return request_status(c, "SignedFirmwareStatusNotification", status, request_id, timeout_ms);
}

char *sim_log_status(struct sim_charger *c, const char *status, int request_id, int timeout_ms)
{
    return request_status(c, "LogStatusNotification", status, request_id, timeout_ms);
}
