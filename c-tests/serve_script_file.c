/* Serves a Lua script from a file and talks to it over a real socket. */
#include "check.h"
#include "http.h"

int main(void) {
    int status = 1;
    flutter_config *cfg = test_config();
    flutter_server *server = NULL;
    struct http_response r = {0};
    uint16_t port;

    CHECK(cfg != NULL);
    CHECK_OK(flutter_config_set_script_path(cfg, FLUTTER_TEST_SCRIPTS "/hello.lua"));
    CHECK_OK(flutter_server_start(cfg, &server));
    port = flutter_server_port(server, 0);
    CHECK(port != 0);

    CHECK(http_get(port, "/a/b", &r) == 0);
    CHECK(r.status == 200);
    CHECK(http_has_header(&r, "x-from", "lua file"));
    CHECK(http_body_is(&r, "hello /a/b"));
    http_response_free(&r);

    CHECK(http_get(port, "/json?name=c", &r) == 0);
    CHECK(http_has_header(&r, "content-type", "application/json"));
    CHECK(strstr(r.body, "\"name\":\"c\"") != NULL);
    http_response_free(&r);

    CHECK_OK(flutter_server_stop(server));
    CHECK_OK(flutter_server_wait(server));
    status = 0;
cleanup:
    http_response_free(&r);
    flutter_server_free(server);
    flutter_config_free(cfg);
    return status;
}
