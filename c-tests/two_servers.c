/* Two servers in one process, each with its own script, handler and port. */
#include "check.h"
#include "http.h"

static const char script_a[] = "return function(req) return 'A ' .. req.path end\n";
static const char script_b[] = "return function(req) return 'B ' .. req.path end\n";

static flutter_handler_result tag(void *userdata, const flutter_request *req,
                                  flutter_response *resp) {
    const char *name = userdata;
    flutter_str path = flutter_request_path(req);
    if (path.len != 4 || memcmp(path.data, "/tag", 4) != 0)
        return FLUTTER_HANDLER_RESULT_DECLINED;
    flutter_response_set_body(resp, (const uint8_t *)name, strlen(name));
    return FLUTTER_HANDLER_RESULT_ANSWERED;
}

int main(void) {
    int status = 1, i;
    flutter_config *cfg_a = test_config(), *cfg_b = test_config();
    flutter_server *a = NULL, *b = NULL;
    struct http_response r = {0};
    uint16_t port_a, port_b;

    CHECK(cfg_a != NULL && cfg_b != NULL);
    CHECK_OK(flutter_config_set_script_source(cfg_a, "a.lua", script_a, sizeof script_a - 1));
    CHECK_OK(flutter_config_set_script_source(cfg_b, "b.lua", script_b, sizeof script_b - 1));
    CHECK_OK(flutter_config_set_handler(cfg_a, tag, "tag of a"));
    CHECK_OK(flutter_config_set_handler(cfg_b, tag, "tag of b"));
    CHECK_OK(flutter_server_start(cfg_a, &a));
    CHECK_OK(flutter_server_start(cfg_b, &b));
    port_a = flutter_server_port(a, 0);
    port_b = flutter_server_port(b, 0);
    CHECK(port_a != 0 && port_b != 0 && port_a != port_b);

    for (i = 0; i < 5; i++) {
        CHECK(http_get(port_a, "/x", &r) == 0 && http_body_is(&r, "A /x"));
        http_response_free(&r);
        CHECK(http_get(port_b, "/y", &r) == 0 && http_body_is(&r, "B /y"));
        http_response_free(&r);
        CHECK(http_get(port_a, "/tag", &r) == 0 && http_body_is(&r, "tag of a"));
        http_response_free(&r);
        CHECK(http_get(port_b, "/tag", &r) == 0 && http_body_is(&r, "tag of b"));
        http_response_free(&r);
    }

    /* Stopping one leaves the other serving. */
    CHECK_OK(flutter_server_stop(a));
    CHECK_OK(flutter_server_wait(a));
    CHECK(http_get(port_b, "/still", &r) == 0 && http_body_is(&r, "B /still"));
    status = 0;
cleanup:
    http_response_free(&r);
    flutter_server_free(a);
    flutter_server_free(b);
    flutter_config_free(cfg_a);
    flutter_config_free(cfg_b);
    return status;
}
