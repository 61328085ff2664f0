/*
 * Certificate signing for the OCPP 1.6 Security Extension (util, OpenSSL).
 *
 * A charger sends SignCertificate with a PKCS#10 CSR; the gateway's own CA
 * (security.ca_cert, security.ca_key) issues it a charge point certificate,
 * sent back as CertificateSigned. Two parts:
 *
 *  - csr_sign(): the pure signing function. It checks the CSR's signature
 *    (proof of possession of the key), that its subject CN is the charger
 *    id and its O the configured organization, and that the key is not
 *    weak, then issues an X.509 v3 certificate (random 127-bit serial,
 *    keyUsage digitalSignature + keyAgreement, extendedKeyUsage clientAuth,
 *    CA:FALSE) signed by the CA. Unit-tested on its own.
 *  - struct csr_signer: a thread that runs csr_sign() off the event loop
 *    (public-key operations have no place on the lws service thread). The
 *    loop submits; results wait on a completion list and wake() tells the
 *    loop to take them, the way store results come back.
 */
#ifndef OCPPGW_CSR_H
#define OCPPGW_CSR_H

#include <stdbool.h>
#include <stddef.h>

struct csr_ca;

/*
 * Loads a CA certificate and its private key (PEM files) and checks that
 * they belong together. NULL with a one-line reason in err.
 */
struct csr_ca *csr_ca_load(const char *cert_path, const char *key_path, char *err, size_t errcap);
void csr_ca_free(struct csr_ca *ca);

enum csr_status {
    CSR_OK = 0,
    CSR_ERR_PARSE,                  /* not a PEM PKCS#10 request */
    CSR_ERR_SIGNATURE,              /* its signature does not verify with its own key */
    CSR_ERR_SUBJECT,                /* CN is not the charger id, or O not the organization */
    CSR_ERR_KEY,                    /* key too weak (RSA < 2048 bits, EC < 256) or of an unknown kind */
    CSR_ERR_INTERNAL                /* OpenSSL failed while issuing */
};

/*
 * Signs csr_pem for the charger `cn` of organization `org` (NULL or "": O
 * is not checked), valid from now for `days` days. On CSR_OK *chain_pem
 * (caller frees) is the new certificate followed by the CA certificate, in
 * PEM; otherwise it is NULL and why (may be NULL) says what was wrong.
 */
enum csr_status csr_sign(const struct csr_ca *ca, const char *csr_pem, const char *cn, const char *org,
                         int days, char **chain_pem, char *why, size_t whycap);

/* ---- the signing thread ---- */

struct csr_signer;

/* One outcome; a list linked by next. */
struct csr_signed {
    struct csr_signed *next;
    char charger_id[64];
    char *chain_pem;                /* owned; NULL: no certificate (why) */
    char why[256];
};

struct csr_signer_config {
    const char *org;                /* required O of the subject (copied); NULL = any */
    int days;                       /* validity of issued certificates */
    int queue_max;                  /* requests waiting to be signed; more are refused at once */
    void (*wake)(void *ctx);        /* results are waiting (called on the signing thread) */
    void *wake_ctx;
};

/* Starts the thread; takes ownership of ca. NULL if the thread cannot start (ca freed). */
struct csr_signer *csr_signer_start(struct csr_ca *ca, const struct csr_signer_config *cfg);
/*
 * Queues a CSR of that charger (strings copied). With the queue full the
 * request is refused at once: its outcome (no certificate, why) is on the
 * completion list like any other.
 */
void csr_signer_submit(struct csr_signer *s, const char *charger_id, const char *csr_pem);
/* Takes every outcome so far (oldest first); caller frees with csr_signed_free(). */
struct csr_signed *csr_signer_take(struct csr_signer *s);
void csr_signed_free(struct csr_signed *list);
/* Stops and joins the thread; requests not yet signed are dropped. NULL is fine. */
void csr_signer_stop(struct csr_signer *s);

#endif
