/* A C handler answers every request; no Lua script at all. */
#include "check.h"
#include "http.h"


struct greeting {
    const char *text;
};

static int str_is(flutter_str s, const char *text) {
    return s.len == strlen(text) && memcmp(s.data, text, s.len) == 0;
}

static flutter_handler_result answer(void *userdata, const flutter_request *req,
                                     flutter_response *resp) {
    const struct greeting *g = userdata;
    flutter_str method = flutter_request_method(req), path = flutter_request_path(req);
    flutter_str query = flutter_request_query(req), name, value, host;
    char body[512];
    int n;

    if (str_is(path, "/declined"))
        return FLUTTER_HANDLER_RESULT_DECLINED; /* no script: 404 */
    if (str_is(path, "/weird"))
        return (flutter_handler_result)7; /* neither: 500 */
    if (flutter_request_header(req, "HOST", &host) != FLUTTER_RESULT_OK ||
        flutter_request_header(req, "x-none", &value) != FLUTTER_RESULT_NOT_FOUND ||
        flutter_request_header_at(req, flutter_request_header_count(req), &name, &value) !=
            FLUTTER_RESULT_NOT_FOUND ||
        flutter_request_header_at(req, 0, &name, &value) != FLUTTER_RESULT_OK)
        return FLUTTER_HANDLER_RESULT_DECLINED;
    n = snprintf(body, sizeof body, "%s %.*s %.*s?%.*s first=%.*s host=%.*s headers=%zu v=%.*s",
                 g->text, (int)method.len, method.data, (int)path.len, path.data,
                 (int)query.len, query.data, (int)name.len, name.data, (int)host.len, host.data,
                 flutter_request_header_count(req), (int)flutter_request_version(req).len,
                 flutter_request_version(req).data);
    if (flutter_response_set_status(resp, 202) != FLUTTER_RESULT_OK ||
        flutter_response_set_status(resp, 99) != FLUTTER_RESULT_INVALID_ARGUMENT ||
        flutter_response_add_header(resp, "content-type", "text/plain") != FLUTTER_RESULT_OK ||
        flutter_response_add_header(resp, "set-cookie", "a=1") != FLUTTER_RESULT_OK ||
        flutter_response_add_header(resp, "set-cookie", "b=2") != FLUTTER_RESULT_OK ||
        flutter_response_add_header(resp, "x-bad", "a\r\nx-injected: 1") !=
            FLUTTER_RESULT_INVALID_ARGUMENT ||
        flutter_response_set_body(resp, (const uint8_t *)body, (size_t)n) != FLUTTER_RESULT_OK)
        return (flutter_handler_result)99;
    return FLUTTER_HANDLER_RESULT_ANSWERED;
}

int main(void) {
    int status = 1;
    struct greeting g = {"hi"};
    flutter_config *cfg = test_config();
    flutter_server *server = NULL;
    struct http_response r = {0};
    uint16_t port;

    CHECK(cfg != NULL);
    CHECK_OK(flutter_config_set_handler(cfg, answer, &g));
    CHECK_OK(flutter_server_start(cfg, &server));
    port = flutter_server_port(server, 0);

    CHECK(http_get(port, "/p/q?x=1", &r) == 0);
    CHECK(r.status == 202);
    CHECK(http_has_header(&r, "content-type", "text/plain"));
    CHECK(http_has_header(&r, "set-cookie", "a=1"));
    CHECK(http_has_header(&r, "set-cookie", "b=2"));
    CHECK(!http_has_header(&r, "x-injected", "1"));
    CHECK(strstr(r.body, "hi GET /p/q?x=1 first=host host=127.0.0.1:") == r.body);
    CHECK(strstr(r.body, "headers=3 v=1.1") != NULL);
    http_response_free(&r);

    CHECK(http_get(port, "/declined", &r) == 0);
    CHECK(r.status == 404);
    http_response_free(&r);

    CHECK(http_get(port, "/weird", &r) == 0);
    CHECK(r.status == 500);
    status = 0;
cleanup:
    http_response_free(&r);
    flutter_server_free(server);
    flutter_config_free(cfg);
    return status;
}
