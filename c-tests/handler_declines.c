/* A C handler answers what it knows and declines the rest to the Lua script. */
#include "check.h"
#include "http.h"

static const char script[] =
    "return function(req) return 'lua saw ' .. req.path .. ' ' .. req.body end\n";

static flutter_handler_result answer_api(void *userdata, const flutter_request *req,
                                         flutter_response *resp) {
    flutter_str path = flutter_request_path(req);
    const uint8_t *body;
    size_t len;
    (void)userdata;
    if (path.len < 5 || memcmp(path.data, "/api/", 5) != 0)
        return FLUTTER_HANDLER_RESULT_DECLINED;
    /* What a declining handler set before declining is dropped. */
    if (path.len == 10 && memcmp(path.data, "/api/maybe", 10) == 0) {
        flutter_response_set_status(resp, 418);
        return FLUTTER_HANDLER_RESULT_DECLINED;
    }
    if (flutter_request_body(req, &body, &len) != FLUTTER_RESULT_OK)
        return (flutter_handler_result)99;
    flutter_response_add_header(resp, "x-from", "c");
    flutter_response_set_body(resp, body, len); /* echo */
    return FLUTTER_HANDLER_RESULT_ANSWERED;
}

int main(void) {
    int status = 1;
    flutter_config *cfg = test_config();
    flutter_server *server = NULL;
    struct http_response r = {0};
    uint16_t port;

    CHECK(cfg != NULL);
    CHECK_OK(flutter_config_set_script_source(cfg, "declines.lua", script, sizeof script - 1));
    CHECK_OK(flutter_config_set_handler(cfg, answer_api, NULL));
    CHECK_OK(flutter_server_start(cfg, &server));
    port = flutter_server_port(server, 0);

    CHECK(http_request(port, "POST", "/api/echo", "ping", 4, &r) == 0);
    CHECK(r.status == 200);
    CHECK(http_has_header(&r, "x-from", "c"));
    CHECK(http_body_is(&r, "ping"));
    http_response_free(&r);

    CHECK(http_request(port, "POST", "/page", "body", 4, &r) == 0);
    CHECK(r.status == 200);
    CHECK(!http_has_header(&r, "x-from", "c"));
    CHECK(http_body_is(&r, "lua saw /page body"));
    http_response_free(&r);

    CHECK(http_get(port, "/api/maybe", &r) == 0);
    CHECK(r.status == 200);
    CHECK(http_body_is(&r, "lua saw /api/maybe "));
    status = 0;
cleanup:
    http_response_free(&r);
    flutter_server_free(server);
    flutter_config_free(cfg);
    return status;
}
