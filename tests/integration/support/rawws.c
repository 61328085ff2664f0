/* A websocket client by hand (rawws.h). */
#include "rawws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "it.h"

int raw_ws_begin(int port, const char *id, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect to 127.0.0.1:%d for %s: %s", port, id, strerror(errno));
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ocpp/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n",
                     id);
    assert_int_equal(write(fd, req, (size_t)n), n);
    return fd;
}

void raw_ws_finish(int fd, const char *id, int timeout_ms)
{
    /* byte by byte up to the blank line: nothing after the 101 is taken from the socket */
    char resp[1024] = "";
    size_t got = 0;
    int64_t end = it_now_ms() + timeout_ms;
    while (!strstr(resp, "\r\n\r\n") && got < sizeof resp - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        int64_t left = end - it_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) != 1)
            fail_msg("upgrade of %s: no answer within %d ms (so far: \"%s\")", id, timeout_ms, resp);
        ssize_t r = read(fd, resp + got, 1);
        if (r != 1)
            fail_msg("upgrade of %s: the connection closed (so far: \"%s\")", id, resp);
        got++;
        resp[got] = '\0';
    }
    if (!strstr(resp, " 101 "))
        fail_msg("upgrade of %s: %s", id, resp);
}

int raw_ws_open(int port, const char *id, int rcvbuf)
{
    int fd = raw_ws_begin(port, id, rcvbuf);
    raw_ws_finish(fd, id, IT_CALL_MS);
    return fd;
}

bool raw_ws_send_text(int fd, const char *text, size_t len, int timeout_ms)
{
    return raw_ws_send(fd, 0x1, text, len, timeout_ms);
}

bool raw_ws_send(int fd, int opcode, const void *payload, size_t len, int timeout_ms)
{
    unsigned char frame[16 + 4096];
    const unsigned char *text = payload;
    if (len > 4096)
        return false;
    size_t h = 0;
    frame[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        frame[h++] = (unsigned char)(0x80 | len);
    } else {
        frame[h++] = 0x80 | 126;
        frame[h++] = (unsigned char)(len >> 8);
        frame[h++] = (unsigned char)(len & 0xff);
    }
    static const unsigned char mask[4] = { 0x12, 0x34, 0x56, 0x78 };
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        frame[h + i] = text[i] ^ mask[i % 4];
    size_t total = h + len, sent = 0;
    int64_t end = it_now_ms() + timeout_ms;
    while (sent < total) {
        struct pollfd p = { fd, POLLOUT, 0 };
        int64_t left = end - it_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) != 1)
            return false;
        if (p.revents & (POLLERR | POLLHUP))
            return false;
        ssize_t w = send(fd, frame + sent, total - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return false;
        }
        sent += (size_t)w;
    }
    return true;
}
