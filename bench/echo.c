/* The compiled tablet of the fair fan-out floor (bench/swarm.py): one libmosquitto client with
 * the tablet's own identity that echoes every message on `wing/bench-all` to its own
 * `tablet/<id>/telemetry`, QoS 1. One connection per tablet (the wing broker takes the client id
 * from the certificate, so a tablet cannot have two).
 *
 *   echo HOST PORT ID [CAFILE CERT KEY]
 *
 * The prototypes are declared here (the image has libmosquitto but not its headers). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mosquitto;
struct mosquitto_message {
    int mid;
    char *topic;
    void *payload;
    int payloadlen;
    int qos;
    bool retain;
};
int mosquitto_lib_init(void);
struct mosquitto *mosquitto_new(const char *id, bool clean_session, void *obj);
int mosquitto_tls_set(struct mosquitto *m, const char *cafile, const char *capath,
                      const char *certfile, const char *keyfile, void *pw_callback);
int mosquitto_connect(struct mosquitto *m, const char *host, int port, int keepalive);
int mosquitto_subscribe(struct mosquitto *m, int *mid, const char *sub, int qos);
int mosquitto_publish(struct mosquitto *m, int *mid, const char *topic, int payloadlen,
                      const void *payload, int qos, bool retain);
void mosquitto_connect_callback_set(struct mosquitto *m, void (*cb)(struct mosquitto *, void *,
                                                                    int));
void mosquitto_message_callback_set(struct mosquitto *m,
                                    void (*cb)(struct mosquitto *, void *,
                                               const struct mosquitto_message *));
int mosquitto_loop_forever(struct mosquitto *m, int timeout, int max_packets);

static char answer[256];

static void on_connect(struct mosquitto *m, void *obj, int rc) {
    (void)obj;
    if (rc == 0) mosquitto_subscribe(m, NULL, "wing/bench-all", 1);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg) {
    (void)obj;
    mosquitto_publish(m, NULL, answer, msg->payloadlen, msg->payload, 1, false);
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 7) {
        fprintf(stderr, "usage: echo HOST PORT ID [CAFILE CERT KEY]\n");
        return 2;
    }
    snprintf(answer, sizeof answer, "tablet/%s/telemetry", argv[3]);
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(argv[3], true, NULL);
    if (m == NULL) return 1;
    if (argc == 7 && mosquitto_tls_set(m, argv[4], NULL, argv[5], argv[6], NULL) != 0) return 1;
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, argv[1], atoi(argv[2]), 60) != 0) return 1;
    return mosquitto_loop_forever(m, -1, 1);
}
