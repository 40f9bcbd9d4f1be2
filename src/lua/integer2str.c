/*
 * Lua 5.3/5.4 turn every integer into text with snprintf(buf, 44, "%lld", n)
 * (lua_integer2str in luaconf.h): `..`, tostring, string.format("%d") and
 * the JSON encoder all go through it. glibc's stdio machinery costs several
 * hundred instructions per call, a third of bench/'s /work handler.
 *
 * build.rs links flutter with -Wl,--wrap=snprintf, so every snprintf call in
 * the program comes here: exactly "%lld" is formatted directly, with the
 * same result and return value; any other format goes to vsnprintf as is.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int __wrap_snprintf(char *buf, size_t size, const char *fmt, ...);

static int format_lld(char *buf, size_t size, long long v)
{
    char digits[24];
    char *p = digits + sizeof digits;
    /* In unsigned arithmetic -LLONG_MIN does not overflow. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(digits + sizeof digits - p);
    if (size > 0) {
        size_t copy = n < size - 1 ? n : size - 1;
        memcpy(buf, p, copy);
        buf[copy] = '\0';
    }
    return (int)n;
}

int __wrap_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    if (fmt[0] == '%' && fmt[1] == 'l' && fmt[2] == 'l' && fmt[3] == 'd' && fmt[4] == '\0')
        n = format_lld(buf, size, va_arg(ap, long long));
    else
        n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
