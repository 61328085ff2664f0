/*
 * POST /v1/webhook-endpoints/{id}/test waits for the delivery thread: the
 * request is parked here by handle, the transport's io asks the thread
 * (rest_io.webhook_test), and the loop hands the answer back through
 * rest_on_webhook_test. A request whose client left is not answered; its
 * entry goes when the answer comes.
 */
#include <stdint.h>
#include <stdlib.h>

#include "framework.h"
#include "hmap.h"
#include "util.h"

static struct hmap *waiting;        /* handle -> struct waiter */

struct waiter {
    rest_webhook_test_done done;
};

bool rest_webhook_test(struct rest_request *r, const char *endpoint_id, rest_webhook_test_done done)
{
    const struct rest_io *io = rest_io();
    if (!io || !io->webhook_test)
        return false;
    if (!waiting)
        waiting = hmap_new();
    struct waiter *wt = xmalloc(sizeof *wt);
    wt->done = done;
    uint64_t handle = rest_request_handle(r);
    free(hmap_put_u64(waiting, handle, wt));
    io->webhook_test(io->ctx, handle, endpoint_id);
    return true;
}

void rest_on_webhook_test(uint64_t handle, const struct rest_webhook_test_result *res)
{
    struct waiter *wt = waiting ? hmap_del_u64(waiting, handle) : NULL;
    if (!wt)
        return;
    struct rest_request *r = rest_request_lookup(handle);
    if (r)
        wt->done(r, res);
    free(wt);
}
