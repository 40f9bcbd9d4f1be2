/* Stop a server, then start again: from the same config, and on the same port. */
#include "check.h"
#include "http.h"

#include <pthread.h>

static const char script[] = "return function(req) return 'up ' .. req.path end\n";

static void *stop_soon(void *server) {
    flutter_server_stop(server);
    return NULL;
}

int main(void) {
    int status = 1, round;
    flutter_config *cfg = test_config(), *same_port = test_config();
    flutter_server *server = NULL;
    struct http_response r = {0};
    pthread_t stopper;
    uint16_t port = 0;
    char address[32];

    CHECK(cfg != NULL && same_port != NULL);
    CHECK_OK(flutter_config_set_script_source(cfg, "up.lua", script, sizeof script - 1));
    for (round = 0; round < 3; round++) {
        CHECK_OK(flutter_server_start(cfg, &server));
        port = flutter_server_port(server, 0);
        CHECK(http_get(port, "/round", &r) == 0 && http_body_is(&r, "up /round"));
        http_response_free(&r);
        /* Stop from another thread while this one waits. */
        CHECK(pthread_create(&stopper, NULL, stop_soon, server) == 0);
        CHECK_OK(flutter_server_wait(server));
        CHECK(pthread_join(stopper, NULL) == 0);
        CHECK_OK(flutter_server_wait(server)); /* already ended: returns at once */
        CHECK_OK(flutter_server_stop(server)); /* harmless */
        flutter_server_free(server);
        server = NULL;
        /* Stopped means closed. */
        CHECK(http_get(port, "/gone", &r) != 0);
        http_response_free(&r);
    }

    /* The port of the last round can be bound again right away. */
    snprintf(address, sizeof address, "127.0.0.1:%u", port);
    CHECK_OK(flutter_config_set_script_source(same_port, "up.lua", script, sizeof script - 1));
    CHECK_OK(flutter_config_add_listen(same_port, address));
    CHECK_OK(flutter_server_start(same_port, &server));
    CHECK(flutter_server_port(server, 0) != 0);
    CHECK(flutter_server_port(server, 1) == port);
    CHECK(http_get(port, "/again", &r) == 0 && http_body_is(&r, "up /again"));
    /* flutter_server_free stops a running server itself. */
    status = 0;
cleanup:
    http_response_free(&r);
    flutter_server_free(server);
    flutter_config_free(cfg);
    flutter_config_free(same_port);
    return status;
}
