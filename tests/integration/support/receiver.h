/*
 * A webhook receiver for the tests (it_webhooks): a small HTTP/1.1 server
 * on 127.0.0.1 in a thread of its own, which checks every request's
 * Standard Webhooks signature the way an integrator's receiver would
 * (HMAC-SHA256 with the key of each secret it was given, against every
 * "v1,..." of webhook-signature), records what came, and answers what the
 * test chose: a status (with Retry-After), a status for one charger's
 * events only, no answer at all (hang), or nothing listening (down). It
 * can also refuse, as an integrator's receiver must, what it cannot
 * verify (rcv_reject_unverified).
 */
#ifndef OCPPGW_IT_RECEIVER_H
#define OCPPGW_IT_RECEIVER_H

#include <stdbool.h>
#include <stdint.h>

struct rcv;

struct rcv_hit {
    char id[64];                /* webhook-id */
    int64_t ts;                 /* webhook-timestamp */
    char signature[400];        /* webhook-signature as sent */
    int nsigs;                  /* "v1,..." entries in it */
    unsigned valid;             /* bit i: secret i of rcv_secrets matched one of them */
    char user_agent[128];
    char content_type[64];
    char *body;                 /* owned by the copy (rcv_hit_clear) */
    char type[64], charger[64]; /* from the body */
    int64_t seq;
    int answered;               /* the status it was answered (0: not answered) */
};

/* Listens on a free port; fails the test if it cannot. */
struct rcv *rcv_start(void);
void rcv_free(struct rcv *r);
int rcv_port(const struct rcv *r);
/* "http://127.0.0.1:PORT<path>" (caller frees). */
char *rcv_url(const struct rcv *r, const char *path);
/* The secrets whose signatures count (bit 0, bit 1); NULL for none. Copied. */
void rcv_secrets(struct rcv *r, const char *s0, const char *s1);
/* Answer every request with status (and Retry-After when not NULL) from now on; 200 at start. */
void rcv_answer(struct rcv *r, int status, const char *retry_after);
/* Answer the events of that charger with status (0: as the others). */
void rcv_answer_charger(struct rcv *r, const char *charger, int status);
/*
 * Answer 401 to a request that no secret given signed, or whose
 * webhook-timestamp is more than RCV_TOLERANCE_S from now (the Standard
 * Webhooks receiver's checks), whatever was chosen to answer (true); off
 * at start.
 */
#define RCV_TOLERANCE_S 300
void rcv_reject_unverified(struct rcv *r, bool reject);
/* Read requests but never answer them (true) or answer again (false; the held ones stay unanswered). */
void rcv_hang(struct rcv *r, bool hang);
/* Stop listening and close every connection (connections are refused) / listen again on the same port. */
void rcv_down(struct rcv *r);
void rcv_up(struct rcv *r);
/* Requests received so far (answered or not). */
int rcv_count(struct rcv *r);
/* Requests answered 2xx whose signature matched secret 0. */
int rcv_count_ok(struct rcv *r);
/* Distinct webhook-ids answered 2xx with a valid signature (secret 0). */
int rcv_distinct_ok(struct rcv *r);
/* A copy of request i (0 = first); false if there is none. */
bool rcv_hit(struct rcv *r, int i, struct rcv_hit *out);
void rcv_hit_clear(struct rcv_hit *h);
/* Forgets what was received. */
void rcv_reset(struct rcv *r);
/* Waits until rcv_count_ok >= n (timeout_ms); true if it got there. */
bool rcv_wait_ok(struct rcv *r, int n, int timeout_ms);

#endif
