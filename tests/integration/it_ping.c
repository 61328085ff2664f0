/*
 * Websocket ping and idle timeout (ocpp.md: "a charger silent past its
 * timeout is marked disconnected"). The gateway runs with ping_interval 1 s
 * and ping_timeout 1 s. A raw TCP client completes the upgrade by hand and
 * then never answers a ping: the gateway must drop it and store the
 * disconnect. A simulator charger (libwebsockets answers pings) must stay.
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

static int group_setup(void **state)
{
    (void)state;
    db_add_charger("iping-silent", NULL, 0);
    db_add_charger("iping-alive", NULL, 0);
    struct gw_opts o = { .name = "it_ping", .ini = "[ocpp]\nping_interval = 1\nping_timeout = 1\n" };
    W.gw = gw_start(&o);
    return 0;
}

/* Opens a websocket by hand and returns the socket, after reading the 101. */
static int raw_upgrade(int port, const char *id)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ocpp/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n",
                     id);
    assert_int_equal(write(fd, req, (size_t)n), n);
    char resp[1024] = "";
    size_t got = 0;
    while (!strstr(resp, "\r\n\r\n") && got < sizeof resp - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        assert_true(poll(&p, 1, IT_CALL_MS) == 1);
        ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
        assert_true(r > 0);
        got += (size_t)r;
        resp[got] = '\0';
    }
    assert_non_null(strstr(resp, " 101 "));
    return fd;
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
    int fd = raw_upgrade(gw_port(W.gw), "iping-silent");
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

static void test_charger_answering_pings_stays(void **state)
{
    (void)state;
    struct sim_charger *c = it_connect(W.sim, "iping-alive", NULL);
    assert_non_null(c);
    /* three times the hang-up delay, servicing the socket (libwebsockets pongs) */
    it_pause(W.sim, 6000);
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
