/* A tiny HTTP/1.1 client for the C tests: one request per connection
 * (Connection: close) to 127.0.0.1, the whole response read into memory. */
#ifndef FLUTTER_TEST_HTTP_H
#define FLUTTER_TEST_HTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct http_response {
    int status;      /* 0 until a response was read */
    char *raw;       /* the whole response, NUL-terminated */
    size_t raw_len;
    const char *body; /* inside raw */
    size_t body_len;
};

/* Sends `method path` with `body_len` bytes of `body` (may be NULL) and
 * reads the response into `*out`. Returns 0 on success, -1 on a socket
 * error or a malformed response (with a message on stderr). Free `*out`
 * with http_response_free() either way. */
int http_request(uint16_t port, const char *method, const char *path,
                 const void *body, size_t body_len, struct http_response *out);

/* http_request() for a GET. */
int http_get(uint16_t port, const char *path, struct http_response *out);

/* Whether the response head has the field `name: value` (name in any case). */
int http_has_header(const struct http_response *r, const char *name, const char *value);

/* Whether the body is exactly `text`. */
int http_body_is(const struct http_response *r, const char *text);

void http_response_free(struct http_response *r);

/* A port on 127.0.0.1 that was free a moment ago (bound, then closed),
 * outside the range the kernel gives to port 0. */
uint16_t http_free_port(void);

/* Waits until 127.0.0.1:port accepts connections, up to `seconds`. 0 when it does. */
int http_wait_listening(uint16_t port, int seconds);

#ifdef __cplusplus
}
#endif

#endif
