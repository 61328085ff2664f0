/*
 * Websocket ping and idle timeout (ocpp.md: "a charger silent past its
 * timeout is marked disconnected"). The gateway runs with ping_interval 1 s
 * and ping_timeout 1 s. A raw TCP client completes the upgrade by hand and
 * then never answers a ping: the gateway must drop it and store the
 * disconnect. A client that answers every ping (by hand, counting them) and
 * a simulator charger (libwebsockets answers pings) must stay.
 */
#include "it.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sim.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "rawws.h"

static int group_setup(void **state)
{
    (void)state;
    db_add_charger("iping-silent", NULL, 0);
    db_add_charger("iping-alive", NULL, 0);
    db_add_charger("iping-pong", NULL, 0);
    struct gw_opts o = { .name = "it_ping", .ini = "[ocpp]\nping_interval = 1\nping_timeout = 1\n" };
    W.gw = gw_start(&o);
    return 0;
}

/* Reads (and ignores: no PONG) until the server closes; true if it did in time. */
static bool closed_by_server(int fd, int timeout_ms, int *pings)
{
    int64_t end = it_now_ms() + timeout_ms;
    unsigned char buf[256];
    while (it_now_ms() < end) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 200) != 1)
            continue;
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0)
            return true;
        if ((buf[0] & 0x0f) == 0x9)
            (*pings)++;
    }
    return false;
}

static void test_silent_charger_is_dropped_and_marked_disconnected(void **state)
{
    (void)state;
    int fd = raw_ws_open(gw_port(W.gw), "iping-silent", 0);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM chargers WHERE id = 'iping-silent' AND connected"), 1);
    int pings = 0;
    assert_true(closed_by_server(fd, IT_WAIT_MS, &pings));
    assert_true(pings >= 1); /* it was pinged before being dropped */
    close(fd);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1,
                                 "SELECT count(*) FROM chargers WHERE id = 'iping-silent' AND NOT connected"
                                 " AND disconnected_at IS NOT NULL"),
                     1);
}

/* Sends one masked client frame (FIN, opcode) with a payload of at most 125 bytes. */
static void send_frame(int fd, int opcode, const void *payload, size_t len)
{
    assert_true(len <= 125);
    assert_true(raw_ws_send(fd, opcode, payload, len, IT_CALL_MS));
}

/* A client that answers pings by hand: what it has read and what it saw. */
struct ponger {
    int fd;
    unsigned char buf[8192];
    size_t have;
    int pings;
    bool closed;
    char text[1024];                /* the last text frame */
};

/*
 * Reads what arrives within timeout_ms and handles every whole frame: a
 * ping is answered with a pong of its payload, a text frame kept in
 * p->text, a close or EOF marks p->closed. Returns after the first frame
 * handled, or the timeout.
 */
static void ponger_step(struct ponger *p, int timeout_ms)
{
    struct pollfd pf = { p->fd, POLLIN, 0 };
    if (poll(&pf, 1, timeout_ms) != 1)
        return;
    ssize_t r = read(p->fd, p->buf + p->have, sizeof p->buf - p->have);
    if (r <= 0) {
        p->closed = true;
        return;
    }
    p->have += (size_t)r;
    while (p->have >= 2) {
        size_t len = p->buf[1] & 0x7f, hdr = 2;
        if (len == 126) {
            if (p->have < 4)
                return;
            len = (size_t)p->buf[2] << 8 | p->buf[3];
            hdr = 4;
        } else if (len == 127) {
            fail_msg("the gateway sent a frame of more than 64 KiB");
        }
        if (p->have < hdr + len)
            return;
        int opcode = p->buf[0] & 0x0f;
        const unsigned char *payload = p->buf + hdr;
        if (opcode == 0x9) {
            p->pings++;
            send_frame(p->fd, 0xA, payload, len);
        } else if (opcode == 0x1) {
            snprintf(p->text, sizeof p->text, "%.*s", (int)len, (const char *)payload);
        } else if (opcode == 0x8) {
            p->closed = true;
        }
        memmove(p->buf, p->buf + hdr + len, p->have - hdr - len);
        p->have -= hdr + len;
    }
}

/*
 * A charger that answers every ping stays connected. Shown by events, not
 * by a wait: a client answering pings by hand must get three pings (two
 * ping_timeout periods after the first) and still be connected and served;
 * the simulator's charger (libwebsockets pongs on its own), connected before
 * it and pinged on the same schedule, must still be open and served too.
 */
static void test_charger_answering_pings_stays(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect(W.sim, "iping-alive", NULL);
    struct ponger p = { .fd = raw_ws_open(gw_port(W.gw), "iping-pong", 0) };
    for (int64_t end = it_now_ms() + IT_WAIT_MS; p.pings < 3 && !p.closed && it_now_ms() < end;) {
        ponger_step(&p, 20);
        sim_service(W.sim, 0);
    }
    if (p.closed)
        fail_msg("the gateway closed a connection that answered its %d pings", p.pings);
    if (p.pings < 3)
        fail_msg("only %d pings in %d ms with ping_interval = 1", p.pings, IT_WAIT_MS);
    /* still served: a Heartbeat answered on the hand-made connection */
    const char *hb = "[2,\"iping-hb\",\"Heartbeat\",{}]";
    send_frame(p.fd, 0x1, hb, strlen(hb));
    for (int64_t end = it_now_ms() + IT_CALL_MS; !p.text[0] && !p.closed && it_now_ms() < end;)
        ponger_step(&p, 50);
    if (!strstr(p.text, "\"iping-hb\"") || strncmp(p.text, "[3,", 3) != 0)
        fail_msg("no CALLRESULT to the Heartbeat after %d pings (got \"%s\"%s)", p.pings, p.text,
                 p.closed ? ", connection closed" : "");
    close(p.fd);
    assert_int_equal(sim_state(c), SIM_OPEN);
    assert_true(it_heartbeat_ok(c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_silent_charger_is_dropped_and_marked_disconnected,
                                        it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_charger_answering_pings_stays, it_test_setup,
                                        it_test_teardown),
    };
    return cmocka_run_group_tests_name("it_ping", tests, group_setup, it_group_teardown);
}
