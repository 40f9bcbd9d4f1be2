#include <flutter.h>
#include <stdio.h>
#include <string.h>

static flutter_handler_result hello(void *userdata, const flutter_request *req, flutter_response *resp) {
    flutter_str path = flutter_request_path(req);
    (void)userdata;
    if (path.len != 6 || memcmp(path.data, "/hello", 6) != 0)
        return FLUTTER_HANDLER_RESULT_DECLINED; /* the Lua script answers */
    flutter_response_set_body(resp, (const uint8_t *)"hello from C", 12);
    return FLUTTER_HANDLER_RESULT_ANSWERED;
}

int main(int argc, char **argv) {
    flutter_config *cfg = flutter_config_new();
    flutter_result r = flutter_config_add_listen(cfg, argc > 1 ? argv[1] : "127.0.0.1:8080");
    if (!r) r = flutter_config_set_script_path(cfg, argc > 2 ? argv[2] : "app.lua");
    if (!r) r = flutter_config_set_handler(cfg, hello, NULL);
    if (!r) r = flutter_server_run(cfg); /* serves until SIGINT or SIGTERM */
    if (r) fprintf(stderr, "flutter: %s\n", flutter_last_error());
    flutter_config_free(cfg);
    return r ? 1 : 0;
}
