/* Serves a Lua script given as a string; a runtime error names the chunk. */
#include "check.h"
#include "http.h"

static const char script[] =
    "local n = 0\n"
    "return function(req)\n"
    "  if req.path == '/fail' then error('deliberate') end\n"
    "  n = n + 1\n"
    "  return { status = 201, body = 'source ' .. req.method .. ' ' .. #req.body }\n"
    "end\n";

int main(void) {
    int status = 1;
    flutter_config *cfg = test_config();
    flutter_server *server = NULL;
    struct http_response r = {0};
    uint16_t port;

    CHECK(cfg != NULL);
    CHECK_OK(flutter_config_set_dev(cfg, true));
    CHECK_OK(flutter_config_set_script_source(cfg, "inline.lua", script, sizeof script - 1));
    CHECK_OK(flutter_server_start(cfg, &server));
    /* The server copied the config: freeing it now changes nothing. */
    flutter_config_free(cfg);
    cfg = NULL;
    port = flutter_server_port(server, 0);

    CHECK(http_request(port, "PUT", "/x", "12345", 5, &r) == 0);
    CHECK(r.status == 201);
    CHECK(http_body_is(&r, "source PUT 5"));
    http_response_free(&r);

    /* In dev mode the error page carries the traceback, naming the chunk and line. */
    CHECK(http_get(port, "/fail", &r) == 0);
    CHECK(r.status == 500);
    CHECK(strstr(r.body, "inline.lua:3:") != NULL);
    status = 0;
cleanup:
    http_response_free(&r);
    flutter_server_free(server);
    flutter_config_free(cfg);
    return status;
}
