/*
 * Token buckets per API key id: `rate` tokens a second up to `burst`; each
 * request takes one. The clock is a parameter (monotonic microseconds), so
 * the unit test drives it with a fake one. A bucket is made full on a key's
 * first request and forgotten when the key is revoked.
 */
#include <math.h>
#include <stdlib.h>

#include "framework.h"
#include "hmap.h"
#include "util.h"

struct bucket {
    double tokens;
    int64_t at_us;
};

struct rest_ratelimit {
    double rate, burst;
    struct hmap *buckets;           /* key id -> struct bucket (owned) */
};

struct rest_ratelimit *rest_rl_new(double rate_per_s, double burst)
{
    struct rest_ratelimit *rl = xcalloc(1, sizeof *rl);
    rl->rate = rate_per_s > 0 ? rate_per_s : 1;
    rl->burst = burst >= 1 ? burst : 1;
    rl->buckets = hmap_new();
    return rl;
}

void rest_rl_free(struct rest_ratelimit *rl)
{
    if (!rl)
        return;
    hmap_clear_free(rl->buckets);
    hmap_free(rl->buckets);
    free(rl);
}

struct rest_rl_result rest_rl_take(struct rest_ratelimit *rl, int64_t key_id, int64_t now_us)
{
    uint64_t id = (uint64_t)key_id;
    struct bucket *b = hmap_get_u64(rl->buckets, id);
    if (!b) {
        b = xmalloc(sizeof *b);
        b->tokens = rl->burst;
        b->at_us = now_us;
        hmap_put_u64(rl->buckets, id, b);
    } else if (now_us > b->at_us) {
        b->tokens = fmin(rl->burst, b->tokens + (double)(now_us - b->at_us) * rl->rate / 1e6);
        b->at_us = now_us;
    }
    struct rest_rl_result res = { .limit = (long)rl->burst };
    if (b->tokens >= 1) {
        b->tokens -= 1;
        res.allowed = true;
    } else {
        double wait_s = (1 - b->tokens) / rl->rate;
        res.retry_after_s = (long)ceil(wait_s);
        if (res.retry_after_s < 1)
            res.retry_after_s = 1;
    }
    res.remaining = (long)floor(b->tokens);
    return res;
}

void rest_rl_forget(struct rest_ratelimit *rl, int64_t key_id)
{
    free(hmap_del_u64(rl->buckets, (uint64_t)key_id));
}

size_t rest_rl_count(const struct rest_ratelimit *rl)
{
    return hmap_count(rl->buckets);
}
