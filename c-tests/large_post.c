/* A 5 MB POST through the C handler: it gets the complete body at once. */
#include "check.h"
#include "http.h"

#include <stdlib.h>

#define BODY_BYTES (5u * 1024 * 1024)

static uint32_t fnv1a(const uint8_t *data, size_t len) {
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < len; i++)
        h = (h ^ data[i]) * 16777619u;
    return h;
}

static flutter_handler_result digest(void *userdata, const flutter_request *req,
                                     flutter_response *resp) {
    const uint8_t *body;
    size_t len;
    char text[64];
    int n;
    (void)userdata;
    if (flutter_request_body(req, &body, &len) != FLUTTER_RESULT_OK)
        return (flutter_handler_result)99;
    n = snprintf(text, sizeof text, "%zu %08x", len, (unsigned)fnv1a(body, len));
    flutter_response_set_body(resp, (const uint8_t *)text, (size_t)n);
    return FLUTTER_HANDLER_RESULT_ANSWERED;
}

int main(void) {
    int status = 1;
    flutter_config *cfg = test_config();
    flutter_server *server = NULL;
    struct http_response r = {0};
    uint8_t *body = malloc(BODY_BYTES);
    char expected[64];
    uint32_t x = 12345;
    size_t i;

    CHECK(cfg != NULL && body != NULL);
    for (i = 0; i < BODY_BYTES; i++) {
        x = x * 1103515245u + 12345u;
        body[i] = (uint8_t)(x >> 16);
    }
    snprintf(expected, sizeof expected, "%u %08x", BODY_BYTES, (unsigned)fnv1a(body, BODY_BYTES));
    CHECK_OK(flutter_config_set_max_body_bytes(cfg, 8u * 1024 * 1024));
    CHECK_OK(flutter_config_set_handler(cfg, digest, NULL));
    CHECK_OK(flutter_server_start(cfg, &server));

    CHECK(http_request(flutter_server_port(server, 0), "POST", "/upload", body, BODY_BYTES, &r) == 0);
    CHECK(r.status == 200);
    CHECK(http_body_is(&r, expected));
    http_response_free(&r);

    /* Over max_body_bytes: 413 before the handler runs. */
    CHECK_OK(flutter_server_stop(server));
    flutter_server_free(server);
    server = NULL;
    CHECK_OK(flutter_config_set_max_body_bytes(cfg, 1024 * 1024));
    CHECK_OK(flutter_server_start(cfg, &server));
    CHECK(http_request(flutter_server_port(server, 0), "POST", "/upload", body, BODY_BYTES, &r) == 0 ||
          r.status == 0); /* the server may close before reading it all */
    CHECK(r.status == 413 || r.status == 0);
    status = 0;
cleanup:
    http_response_free(&r);
    flutter_server_free(server);
    flutter_config_free(cfg);
    free(body);
    return status;
}
