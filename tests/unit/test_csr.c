/*
 * csr_sign() and the signing thread (include/csr.h) against a throwaway CA
 * made here with OpenSSL: what a good CSR gets (a chain that verifies for
 * client authentication, CN and O as asked, the key usages of the white
 * paper, a random serial), and what every bad one gets (no certificate and
 * the reason): wrong CN or O, a broken signature, a weak key, not a CSR.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "csr.h"

struct fx {
    EVP_PKEY *ca_key;
    X509 *ca_cert;
    char cert_path[64], key_path[64];
    struct csr_ca *ca;
};

static EVP_PKEY *ec_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    return k;
}

static X509 *self_signed_ca(EVP_PKEY *k, const char *cn)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    return x;
}

static void write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (cert)
        assert_true(PEM_write_X509(f, cert));
    if (key)
        assert_true(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    fclose(f);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    fx->ca_key = ec_key();
    fx->ca_cert = self_signed_ca(fx->ca_key, "Test Charging CA");
    snprintf(fx->cert_path, sizeof fx->cert_path, "/tmp/test_csr_ca_%d.pem", (int)getpid());
    snprintf(fx->key_path, sizeof fx->key_path, "/tmp/test_csr_key_%d.pem", (int)getpid());
    write_pem(fx->cert_path, fx->ca_cert, NULL);
    write_pem(fx->key_path, NULL, fx->ca_key);
    char err[256];
    fx->ca = csr_ca_load(fx->cert_path, fx->key_path, err, sizeof err);
    if (!fx->ca)
        fail_msg("%s", err);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    csr_ca_free(fx->ca);
    unlink(fx->cert_path);
    unlink(fx->key_path);
    X509_free(fx->ca_cert);
    EVP_PKEY_free(fx->ca_key);
    free(fx);
    return 0;
}

/* A PEM CSR (caller frees) with that CN and O (NULL: none), signed by k. */
static char *make_csr(EVP_PKEY *k, const char *cn, const char *org)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *n = X509_REQ_get_subject_name(req);
    if (org)
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)org, -1, -1, 0);
    if (cn)
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_pubkey(req, k);
    assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(b, req);
    char *data;
    long len = BIO_get_mem_data(b, &data);
    char *out = strndup(data, (size_t)len);
    BIO_free(b);
    X509_REQ_free(req);
    return out;
}

static STACK_OF(X509) *read_chain(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        sk_X509_push(sk, x);
    BIO_free(b);
    return sk;
}

static void name_is(const X509_NAME *n, int nid, const char *want)
{
    char buf[256];
    assert_true(X509_NAME_get_text_by_NID((X509_NAME *)n, nid, buf, sizeof buf) > 0);
    assert_string_equal(buf, want);
}

static void test_good_csr_gets_a_chain_that_verifies(void **state)
{
    struct fx *fx = *state;
    EVP_PKEY *k = ec_key();
    char *csr = make_csr(k, "CP-1", "ACME Charging");
    char *chain = NULL, why[256];
    assert_int_equal(csr_sign(fx->ca, csr, "CP-1", "ACME Charging", 30, &chain, why, sizeof why), CSR_OK);
    assert_non_null(chain);

    STACK_OF(X509) *sk = read_chain(chain);
    assert_int_equal(sk_X509_num(sk), 2);
    X509 *leaf = sk_X509_value(sk, 0);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 1), fx->ca_cert), 0);
    name_is(X509_get_subject_name(leaf), NID_commonName, "CP-1");
    name_is(X509_get_subject_name(leaf), NID_organizationName, "ACME Charging");
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(fx->ca_cert)), 0);
    assert_int_equal(X509_get_version(leaf), 2);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), k), 1);
    /* white paper: digitalSignature + keyAgreement, for TLS client authentication */
    assert_true(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE);
    assert_true(X509_get_key_usage(leaf) & KU_KEY_AGREEMENT);
    assert_false(X509_get_key_usage(leaf) & KU_KEY_CERT_SIGN);
    assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);
    assert_int_equal(X509_check_ca(leaf), 0);

    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, fx->ca_cert);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, NULL);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    int ok = X509_verify_cert(ctx);
    if (ok != 1)
        fail_msg("chain does not verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);

    /* a second certificate for the same CSR has another (random) serial */
    char *chain2 = NULL;
    assert_int_equal(csr_sign(fx->ca, csr, "CP-1", "ACME Charging", 30, &chain2, why, sizeof why), CSR_OK);
    STACK_OF(X509) *sk2 = read_chain(chain2);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf),
                                          X509_get0_serialNumber(sk_X509_value(sk2, 0))), 0);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    assert_true(BN_num_bits(bn) >= 120);
    BN_free(bn);

    sk_X509_pop_free(sk, X509_free);
    sk_X509_pop_free(sk2, X509_free);
    free(chain);
    free(chain2);
    free(csr);
    EVP_PKEY_free(k);
}

static void refused(struct fx *fx, const char *csr, const char *cn, const char *org, enum csr_status want,
                    const char *why_has)
{
    char *chain = (char *)1, why[256];
    assert_int_equal(csr_sign(fx->ca, csr, cn, org, 30, &chain, why, sizeof why), want);
    assert_null(chain);
    if (!strstr(why, why_has))
        fail_msg("why '%s' lacks '%s'", why, why_has);
}

static void test_wrong_subject_is_refused(void **state)
{
    struct fx *fx = *state;
    EVP_PKEY *k = ec_key();
    char *other_cn = make_csr(k, "CP-2", "ACME Charging");
    char *other_org = make_csr(k, "CP-1", "Evil Corp");
    char *no_org = make_csr(k, "CP-1", NULL);
    char *no_cn = make_csr(k, NULL, "ACME Charging");
    refused(fx, other_cn, "CP-1", "ACME Charging", CSR_ERR_SUBJECT, "CN");
    refused(fx, other_org, "CP-1", "ACME Charging", CSR_ERR_SUBJECT, "O must be");
    refused(fx, no_org, "CP-1", "ACME Charging", CSR_ERR_SUBJECT, "O must be");
    refused(fx, no_cn, "CP-1", "ACME Charging", CSR_ERR_SUBJECT, "CN");
    free(other_cn);
    free(other_org);
    free(no_org);
    free(no_cn);
    EVP_PKEY_free(k);
}

static void test_bad_signature_weak_key_and_garbage(void **state)
{
    struct fx *fx = *state;
    /* signed by another key than the one it carries: no proof of possession */
    EVP_PKEY *k = ec_key(), *other = ec_key();
    X509_REQ *req = X509_REQ_new();
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
                               (const unsigned char *)"CP-1", -1, -1, 0);
    X509_REQ_set_pubkey(req, k);
    X509_REQ_sign(req, other, EVP_sha256());
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(b, req);
    char *data;
    long len = BIO_get_mem_data(b, &data);
    char *forged = strndup(data, (size_t)len);
    BIO_free(b);
    X509_REQ_free(req);
    refused(fx, forged, "CP-1", NULL, CSR_ERR_SIGNATURE, "signature");
    free(forged);

    EVP_PKEY *weak = EVP_RSA_gen(1024);
    assert_non_null(weak);
    char *weak_csr = make_csr(weak, "CP-1", "ACME Charging");
    refused(fx, weak_csr, "CP-1", "ACME Charging", CSR_ERR_KEY, "weak");
    free(weak_csr);

    refused(fx, "-----BEGIN CERTIFICATE REQUEST-----\nMIIB...\n-----END CERTIFICATE REQUEST-----", "CP-1",
            NULL, CSR_ERR_PARSE, "not a PEM");
    refused(fx, "", "CP-1", NULL, CSR_ERR_PARSE, "not a PEM");
    EVP_PKEY_free(weak);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

static void test_ca_load_errors(void **state)
{
    struct fx *fx = *state;
    char err[256];
    assert_null(csr_ca_load("/nonexistent/ca.pem", fx->key_path, err, sizeof err));
    assert_non_null(strstr(err, "security.ca_cert"));
    assert_null(csr_ca_load(fx->cert_path, "/nonexistent/key.pem", err, sizeof err));
    assert_non_null(strstr(err, "security.ca_key"));
    /* a key of another CA */
    EVP_PKEY *other = ec_key();
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_csr_other_%d.pem", (int)getpid());
    write_pem(path, NULL, other);
    assert_null(csr_ca_load(fx->cert_path, path, err, sizeof err));
    assert_non_null(strstr(err, "does not belong"));
    /* the certificate file holds a key: no certificate */
    assert_null(csr_ca_load(path, path, err, sizeof err));
    unlink(path);
    EVP_PKEY_free(other);
}

/* ---- the thread ---- */

struct waker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wakes;
};

static void wake(void *ctx)
{
    struct waker *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->wakes++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Takes outcomes until n have come (each wake says more are there). */
static struct csr_signed *take_n(struct csr_signer *s, struct waker *w, int n)
{
    struct csr_signed *all = NULL, **tail = &all;
    int got = 0;
    while (got < n) {
        pthread_mutex_lock(&w->mu);
        while (w->wakes == 0)
            pthread_cond_wait(&w->cv, &w->mu);
        w->wakes = 0;
        pthread_mutex_unlock(&w->mu);
        for (struct csr_signed *d = csr_signer_take(s); d; d = d->next, got++) {
            *tail = d;
            tail = &d->next;
        }
    }
    return all;
}

static void test_signer_thread(void **state)
{
    struct fx *fx = *state;
    char err[256];
    struct csr_ca *ca = csr_ca_load(fx->cert_path, fx->key_path, err, sizeof err);
    assert_non_null(ca);
    struct waker w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    struct csr_signer_config cfg = { .org = "ACME Charging", .days = 10, .queue_max = 4, .wake = wake,
                                     .wake_ctx = &w };
    struct csr_signer *s = csr_signer_start(ca, &cfg);
    assert_non_null(s);
    EVP_PKEY *k = ec_key();
    char *good = make_csr(k, "CP-T", "ACME Charging");
    char *bad = make_csr(k, "CP-X", "ACME Charging");
    csr_signer_submit(s, "CP-T", good);
    csr_signer_submit(s, "CP-T", bad);
    struct csr_signed *d = take_n(s, &w, 2);
    assert_string_equal(d->charger_id, "CP-T");
    assert_non_null(d->chain_pem);
    assert_non_null(strstr(d->chain_pem, "BEGIN CERTIFICATE"));
    assert_non_null(d->next);
    assert_null(d->next->chain_pem);
    assert_non_null(strstr(d->next->why, "CN"));
    assert_null(d->next->next);
    csr_signed_free(d);
    csr_signer_stop(s);             /* frees the CA too */
    free(good);
    free(bad);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_csr_gets_a_chain_that_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_subject_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_signature_weak_key_and_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signer_thread, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
