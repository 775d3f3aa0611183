/* error.c: status names and error-message formatting. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sail_status_name(sail_status s) {
    switch (s) {
    case SAIL_OK: return "ok";
    case SAIL_ERR_INVALID_ARG: return "invalid argument";
    case SAIL_ERR_IO: return "I/O error";
    case SAIL_ERR_FORMAT: return "format error";
    case SAIL_ERR_NOMEM: return "out of memory";
    case SAIL_ERR_UNSUPPORTED: return "unsupported";
    case SAIL_ERR_LIMIT: return "limit exceeded";
    case SAIL_ERR_UNAVAILABLE: return "unavailable";
    }
    return "unknown status";
}

const char *sail_version(void) { return SAIL_VERSION_STRING; }

sail_status sail_set_error(sail_error *err, sail_status status,
                           const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void sail_error_prefix(sail_error *err, const char *fmt, ...) {
    if (!err) return;
    char pre[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, pre, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3, len = strnlen(old, room);
    memcpy(err->msg + n + 2, old, len);
    err->msg[n + 2 + len] = 0;
}
