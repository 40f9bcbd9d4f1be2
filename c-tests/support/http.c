#define _POSIX_C_SOURCE 200809L
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int connect_to(uint16_t port) {
    struct sockaddr_in addr;
    struct timeval timeout = {60, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int http_request(uint16_t port, const char *method, const char *path,
                 const void *body, size_t body_len, struct http_response *out) {
    char head[1024];
    size_t cap = 65536;
    int fd = -1, result = -1, n;
    char *end;

    memset(out, 0, sizeof *out);
    fd = connect_to(port);
    if (fd < 0) {
        fprintf(stderr, "http: cannot connect to port %u: %s\n", port, strerror(errno));
        goto cleanup;
    }
    n = snprintf(head, sizeof head,
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 method, path, port, body_len);
    if (n < 0 || (size_t)n >= sizeof head || send_all(fd, head, (size_t)n) != 0 ||
        (body_len > 0 && send_all(fd, body, body_len) != 0)) {
        fprintf(stderr, "http: cannot send the request: %s\n", strerror(errno));
        goto cleanup;
    }
    out->raw = malloc(cap);
    if (out->raw == NULL)
        goto cleanup;
    for (;;) {
        ssize_t got;
        if (out->raw_len + 1 == cap) {
            char *bigger = realloc(out->raw, cap * 2);
            if (bigger == NULL)
                goto cleanup;
            out->raw = bigger;
            cap *= 2;
        }
        got = recv(fd, out->raw + out->raw_len, cap - 1 - out->raw_len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "http: cannot read the response: %s\n", strerror(errno));
            goto cleanup;
        }
        if (got == 0)
            break;
        out->raw_len += (size_t)got;
    }
    out->raw[out->raw_len] = '\0';
    end = strstr(out->raw, "\r\n\r\n");
    if (end == NULL || sscanf(out->raw, "HTTP/1.%*d %d", &out->status) != 1) {
        fprintf(stderr, "http: malformed response: %s\n", out->raw);
        out->status = 0;
        goto cleanup;
    }
    out->body = end + 4;
    out->body_len = out->raw_len - (size_t)(out->body - out->raw);
    result = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    return result;
}

int http_get(uint16_t port, const char *path, struct http_response *out) {
    return http_request(port, "GET", path, NULL, 0, out);
}

int http_has_header(const struct http_response *r, const char *name, const char *value) {
    size_t name_len = strlen(name), value_len = strlen(value);
    const char *line;
    if (r->raw == NULL)
        return 0;
    line = strstr(r->raw, "\r\n");
    while (line != NULL && line + 2 < r->body) {
        line += 2;
        if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':' &&
            line[name_len + 1] == ' ' && strncmp(line + name_len + 2, value, value_len) == 0 &&
            line[name_len + 2 + value_len] == '\r')
            return 1;
        line = strstr(line, "\r\n");
    }
    return 0;
}

int http_body_is(const struct http_response *r, const char *text) {
    size_t len = strlen(text);
    if (r->body == NULL || r->body_len != len || memcmp(r->body, text, len) != 0) {
        fprintf(stderr, "http: expected body \"%s\", got status %d and \"%.*s\"\n", text,
                r->status, r->body ? (int)r->body_len : 0, r->body ? r->body : "");
        return 0;
    }
    return 1;
}

void http_response_free(struct http_response *r) {
    free(r->raw);
    memset(r, 0, sizeof *r);
}

uint16_t http_free_port(void) {
    /* Below the kernel's ephemeral range (32768 and up on Linux), so that no
     * server asking for port 0 meanwhile gets it: flutter's listeners use
     * SO_REUSEPORT, and two servers on one port would share its connections. */
    unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    int tries;
    for (tries = 0; tries < 100; tries++) {
        struct sockaddr_in addr;
        uint16_t port = (uint16_t)(20000 + (seed = seed * 1103515245u + 12345u) % 10000);
        int fd = socket(AF_INET, SOCK_STREAM, 0), bound;
        if (fd < 0)
            return 0;
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bound = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
        close(fd);
        if (bound)
            return port;
    }
    return 0;
}

int http_wait_listening(uint16_t port, int seconds) {
    struct timespec pause = {0, 50 * 1000 * 1000};
    int tries;
    for (tries = 0; tries < seconds * 20; tries++) {
        int fd = connect_to(port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        nanosleep(&pause, NULL);
    }
    return -1;
}
