/*
 * csr_sign() and the CA it signs with (include/csr.h): OpenSSL's X509_REQ
 * in, an X509 v3 charge point certificate out. Everything the charger
 * controls is checked before anything is issued: the request parses, its
 * signature verifies with the key it carries, its key is strong enough, and
 * its subject names this charger (CN) of this operator (O). The issued
 * subject is built anew from those two values, so nothing else the charger
 * put in its request (other attributes, requested extensions) reaches the
 * certificate.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "csr.h"
#include "util.h"

struct csr_ca {
    X509 *cert;
    EVP_PKEY *key;
    char *cert_pem;                 /* the CA certificate, the chain's tail */
};

__attribute__((format(printf, 3, 4)))
static void say(char *buf, size_t cap, const char *fmt, ...)
{
    if (!buf || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

/* The text of a memory BIO, NUL-terminated; caller frees. */
static char *bio_text(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = xmalloc((size_t)(n > 0 ? n : 0) + 1);
    if (n > 0)
        memcpy(out, data, (size_t)n);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

static char *cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b && PEM_write_bio_X509(b, x))
        out = bio_text(b);
    BIO_free(b);
    return out;
}

struct csr_ca *csr_ca_load(const char *cert_path, const char *key_path, char *err, size_t errcap)
{
    struct csr_ca *ca = xcalloc(1, sizeof *ca);
    FILE *f = fopen(cert_path, "r");
    if (!f) {
        say(err, errcap, "security.ca_cert: cannot open %s", cert_path);
        goto fail;
    }
    ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!ca->cert) {
        say(err, errcap, "security.ca_cert: %s holds no PEM certificate", cert_path);
        goto fail;
    }
    f = fopen(key_path, "r");
    if (!f) {
        say(err, errcap, "security.ca_key: cannot open %s", key_path);
        goto fail;
    }
    ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!ca->key) {
        say(err, errcap, "security.ca_key: %s holds no unencrypted PEM private key", key_path);
        goto fail;
    }
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        say(err, errcap, "security.ca_key does not belong to security.ca_cert");
        goto fail;
    }
    if (X509_check_ca(ca->cert) == 0) {
        say(err, errcap, "security.ca_cert is not a CA certificate (basicConstraints CA:TRUE)");
        goto fail;
    }
    ca->cert_pem = cert_pem(ca->cert);
    if (!ca->cert_pem) {
        say(err, errcap, "security.ca_cert: cannot encode the certificate");
        goto fail;
    }
    ERR_clear_error();
    return ca;
fail:
    ERR_clear_error();
    csr_ca_free(ca);
    return NULL;
}

void csr_ca_free(struct csr_ca *ca)
{
    if (!ca)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    free(ca->cert_pem);
    free(ca);
}

/*
 * The one entry of nid in name as UTF-8 into out; false when it is missing,
 * repeated, or does not fit.
 */
static bool name_entry(const X509_NAME *name, int nid, char *out, size_t cap)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0)
        return false;
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    bool ok = n >= 0 && (size_t)n < cap && memchr(utf8, '\0', (size_t)n) == NULL;
    if (ok) {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
    }
    OPENSSL_free(utf8);
    return ok;
}

static bool key_strong(EVP_PKEY *k)
{
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
        return EVP_PKEY_get_bits(k) >= 2048;
    case EVP_PKEY_EC:
        return EVP_PKEY_get_bits(k) >= 256;
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
        return true;
    default:
        return false;
    }
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    bool ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* A positive random serial of 127 bits (RFC 5280: at most 20 octets, unpredictable). */
static bool random_serial(X509 *x)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return false;
    b[0] &= 0x7f;
    b[0] |= 0x40;                   /* never a short serial */
    BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

/* The certificate for pub, subject O=org (if any), CN=cn; NULL if OpenSSL fails. */
static X509 *issue(const struct csr_ca *ca, EVP_PKEY *pub, const char *cn, const char *org, int days)
{
    X509 *x = X509_new();
    X509_NAME *subject = X509_NAME_new();
    bool ok = x && subject && X509_set_version(x, 2) && random_serial(x);
    if (ok && org && org[0])
        ok = X509_NAME_add_entry_by_NID(subject, NID_organizationName, MBSTRING_UTF8,
                                        (const unsigned char *)org, -1, -1, 0);
    ok = ok && X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                          (const unsigned char *)cn, -1, -1, 0);
    ok = ok && X509_set_subject_name(x, subject) && X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) &&
         X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
         X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) && X509_set_pubkey(x, pub);
    if (ok) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
             add_ext(x, &ctx, NID_ext_key_usage, "clientAuth") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    }
    /* Ed25519/Ed448 CA keys sign without a separate digest */
    const EVP_MD *md = EVP_PKEY_get_base_id(ca->key) == EVP_PKEY_ED25519 ||
                               EVP_PKEY_get_base_id(ca->key) == EVP_PKEY_ED448
                           ? NULL
                           : EVP_sha256();
    ok = ok && X509_sign(x, ca->key, md) > 0;
    X509_NAME_free(subject);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

enum csr_status csr_sign(const struct csr_ca *ca, const char *csr_pem, const char *cn, const char *org,
                         int days, char **chain_pem, char *why, size_t whycap)
{
    enum csr_status st = CSR_ERR_PARSE;
    *chain_pem = NULL;
    say(why, whycap, "%s", "");
    BIO *in = csr_pem ? BIO_new_mem_buf(csr_pem, -1) : NULL;
    X509_REQ *req = in ? PEM_read_bio_X509_REQ(in, NULL, NULL, NULL) : NULL;
    X509 *x = NULL;
    if (!req) {
        say(why, whycap, "not a PEM certificate signing request");
        goto out;
    }
    EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
    if (!pub || X509_REQ_verify(req, pub) != 1) {
        st = CSR_ERR_SIGNATURE;
        say(why, whycap, "the request's signature does not verify with its key");
        goto out;
    }
    if (!key_strong(pub)) {
        st = CSR_ERR_KEY;
        say(why, whycap, "weak or unsupported key (RSA needs 2048 bits, EC 256)");
        goto out;
    }
    const X509_NAME *name = X509_REQ_get_subject_name(req);
    char got[256];
    st = CSR_ERR_SUBJECT;
    if (!name_entry(name, NID_commonName, got, sizeof got) || strcmp(got, cn) != 0) {
        say(why, whycap, "subject CN must be the charge point id '%s'", cn);
        goto out;
    }
    if (org && org[0] && (!name_entry(name, NID_organizationName, got, sizeof got) || strcmp(got, org) != 0)) {
        say(why, whycap, "subject O must be '%s' (security.organization)", org);
        goto out;
    }
    st = CSR_ERR_INTERNAL;
    x = issue(ca, pub, cn, org, days);
    char *leaf = x ? cert_pem(x) : NULL;
    if (!leaf) {
        say(why, whycap, "OpenSSL failed to issue the certificate");
        goto out;
    }
    size_t n1 = strlen(leaf), n2 = strlen(ca->cert_pem);
    *chain_pem = xmalloc(n1 + n2 + 1);
    memcpy(*chain_pem, leaf, n1);
    memcpy(*chain_pem + n1, ca->cert_pem, n2 + 1);
    free(leaf);
    st = CSR_OK;
out:
    X509_free(x);
    X509_REQ_free(req);
    BIO_free(in);
    ERR_clear_error();
    return st;
}
