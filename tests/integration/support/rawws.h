/*
 * A websocket client by hand, on a plain blocking TCP socket: for chargers
 * that misbehave in ways libwebsockets will not (never answering a ping,
 * never reading what they are sent). The upgrade offers ocpp1.6 without
 * credentials, so the charger must be security profile 0.
 */
#ifndef OCPPGW_IT_RAWWS_H
#define OCPPGW_IT_RAWWS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Connects to 127.0.0.1:port, upgrades /ocpp/<id> and reads the 101 (fails
 * the test otherwise). rcvbuf > 0 sets SO_RCVBUF before connecting (a small
 * window: what the charger does not read soon backs up into the gateway).
 * Returns the socket.
 */
int raw_ws_open(int port, const char *id, int rcvbuf);
/*
 * raw_ws_open in two halves: connect (failing the test if the port refuses)
 * and send the upgrade request; then read the answer, which must be the 101
 * within timeout_ms.
 */
int raw_ws_begin(int port, const char *id, int rcvbuf);
void raw_ws_finish(int fd, const char *id, int timeout_ms);
/*
 * Writes one masked client frame (FIN, opcode: 0x1 text, 0x9 ping, 0xA
 * pong, ...) of at most 4096 bytes, waiting at most timeout_ms for the
 * socket to take it. false when the connection is gone (reset, closed) or
 * the socket did not take it in time.
 */
bool raw_ws_send(int fd, int opcode, const void *payload, size_t len, int timeout_ms);
/* raw_ws_send of a text frame. */
bool raw_ws_send_text(int fd, const char *text, size_t len, int timeout_ms);

#endif
