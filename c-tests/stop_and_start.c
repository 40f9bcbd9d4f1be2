/* Stop a server, then start it again from the same config on the same port,
 * three times; then one config started twice after a stop, on port 0. */
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
    flutter_config *cfg = flutter_config_new(), *any_port = test_config();
    flutter_server *server = NULL;
    struct http_response r = {0};
    pthread_t stopper;
    uint16_t port = http_free_port();
    char address[32];

    CHECK(cfg != NULL && any_port != NULL && port != 0);
    snprintf(address, sizeof address, "127.0.0.1:%u", port);
    CHECK_OK(flutter_config_add_listen(cfg, address));
    CHECK_OK(flutter_config_set_workers(cfg, 2));
    CHECK_OK(flutter_config_set_access_log(cfg, "off"));
    CHECK_OK(flutter_config_set_script_source(cfg, "up.lua", script, sizeof script - 1));
    for (round = 0; round < 3; round++) {
        /* The port of the previous round can be bound again right away. */
        CHECK_OK(flutter_server_start(cfg, &server));
        CHECK(flutter_server_port(server, 0) == port);
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

    CHECK_OK(flutter_config_set_script_source(any_port, "up.lua", script, sizeof script - 1));
    for (round = 0; round < 2; round++) {
        CHECK_OK(flutter_server_start(any_port, &server));
        CHECK(http_get(flutter_server_port(server, 0), "/again", &r) == 0 &&
              http_body_is(&r, "up /again"));
        http_response_free(&r);
        CHECK(flutter_server_port(server, 1) == 0);
        CHECK_OK(flutter_server_stop(server));
        CHECK_OK(flutter_server_wait(server));
        flutter_server_free(server);
        server = NULL;
    }
    /* flutter_server_free stops a running server itself. */
    CHECK_OK(flutter_server_start(any_port, &server));
    status = 0;
cleanup:
    http_response_free(&r);
    flutter_server_free(server);
    flutter_config_free(cfg);
    flutter_config_free(any_port);
    return status;
}
