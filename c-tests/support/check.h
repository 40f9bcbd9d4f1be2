/* Checks for the C tests: each test's main has one exit, `cleanup:`, and a
 * failed check prints where and why, then jumps there. */
#ifndef FLUTTER_TEST_CHECK_H
#define FLUTTER_TEST_CHECK_H

#include <flutter.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)

/* A flutter call that must succeed; on failure prints its result and message. */
#define CHECK_OK(call)                                                         \
    do {                                                                       \
        flutter_result check_ok_result_ = (call);                              \
        if (check_ok_result_ != FLUTTER_RESULT_OK) {                           \
            fprintf(stderr, "%s:%d: %s gave %u: %s\n", __FILE__, __LINE__,     \
                    #call, (unsigned)check_ok_result_, flutter_last_error());   \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)

/* A flutter call that must fail with `expected` and a message containing `part`. */
#define CHECK_FAILS(call, expected, part)                                      \
    do {                                                                       \
        flutter_result check_fails_result_ = (call);                           \
        if (check_fails_result_ != (expected) ||                               \
            strstr(flutter_last_error(), (part)) == NULL) {                     \
            fprintf(stderr, "%s:%d: %s gave %u (%s), expected %s with \"%s\"\n", \
                    __FILE__, __LINE__, #call, (unsigned)check_fails_result_,  \
                    flutter_last_error(), #expected, (part));                  \
            goto cleanup;                                                      \
        }                                                                      \
    } while (0)

/* A configuration for a test server: 127.0.0.1 on a free port, two
 * workers, no access log. NULL if any of it fails (with a message). */
static inline flutter_config *test_config(void) {
    flutter_config *cfg = flutter_config_new();
    if (cfg == NULL || flutter_config_add_listen(cfg, "127.0.0.1:0") != FLUTTER_RESULT_OK ||
        flutter_config_set_workers(cfg, 2) != FLUTTER_RESULT_OK ||
        flutter_config_set_access_log(cfg, "off") != FLUTTER_RESULT_OK) {
        fprintf(stderr, "test_config: %s\n", flutter_last_error());
        flutter_config_free(cfg);
        return NULL;
    }
    return cfg;
}

#endif
