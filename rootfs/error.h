/* The error convention of the host side (builder/, images/, rootfs/,
 * policies/; the init keeps its own, see init/README.md), in the spirit of
 * crun's libcrun_error_t:
 *
 * - A function that can fail takes `struct mb_err *err` (last) and returns
 *   0 on success, -1 on error with *err filled.  Where a function has a
 *   legitimate third answer ("not found", "no match") it returns a
 *   documented positive value, never another negative one.
 * - The setters return -1, so that reporting an error is one line:
 *       return mb_error(err, errno, "cannot open `%s`", path);
 *   errnum != 0 appends ": strerror(errnum)" to the message and is kept in
 *   err->errnum; 0 means no system error is behind it.
 * - A usage error (the user's command line is wrong) is mb_usage(): the same
 *   -1, with err->usage set; main() and the cmd_* front ends map it to exit
 *   code 2 (MK_EXIT_USAGE), every other error to 1.
 * - A caller adds context to its callee's error with mb_wrap() instead of
 *   rewriting or strstr-ing the callee's text:
 *       if (layer_write(..., err) < 0)
 *               return mb_wrap(err, "cannot write layer `%s`", name);
 *   gives "cannot write layer `x`: <the callee's message>".
 * - err may be NULL everywhere: the message is dropped, -1 still returned.
 * - The caller owns the object: `struct mb_err err = {0};`, and only main()
 *   and the cmd_* front ends print err.msg (library code never prints).
 *
 * Header-only (static inline), so that every host folder can include it
 * without a link dependency. */
#ifndef MINBASE_ERROR_H
#define MINBASE_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MB_ERRLEN 512

struct mb_err {
	int errnum;          /* the errno behind it, 0 if none */
	bool usage;          /* the command line is wrong: exit code 2 */
	char msg[MB_ERRLEN]; /* lowercase, names the object, no trailing newline */
};

static inline void mb_err_vset(struct mb_err *e, int errnum, bool usage,
                               const char *fmt, va_list ap)
{
	int n;

	e->errnum = errnum;
	e->usage = usage;
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (n < 0)
		n = 0;
	if (errnum && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", strerror(errnum));
}

/* Fills e (if not NULL) with fmt, plus ": strerror(errnum)" when errnum is
 * not 0; returns -1. */
__attribute__((format(printf, 3, 4)))
static inline int mb_error(struct mb_err *e, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	va_start(ap, fmt);
	mb_err_vset(e, errnum, false, fmt, ap);
	va_end(ap);
	return -1;
}

/* A usage error: as mb_error with no errno, and e->usage set (exit 2). */
__attribute__((format(printf, 2, 3)))
static inline int mb_usage(struct mb_err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	va_start(ap, fmt);
	mb_err_vset(e, 0, true, fmt, ap);
	va_end(ap);
	return -1;
}

/* Puts context in front of the message a callee left in e ("context:
 * callee's message"), keeping its errnum and usage; returns -1.  Too long:
 * the end of the callee's message is cut ("..."), the context kept. */
__attribute__((format(printf, 2, 3)))
static inline int mb_wrap(struct mb_err *e, const char *fmt, ...)
{
	char inner[MB_ERRLEN], ctx[MB_ERRLEN];
	va_list ap;

	if (!e)
		return -1;
	memcpy(inner, e->msg, sizeof(inner));
	inner[sizeof(inner) - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (snprintf(e->msg, sizeof(e->msg), "%s: %s", ctx, inner) >= (int)sizeof(e->msg))
		memcpy(e->msg + sizeof(e->msg) - 4, "...", 4);
	return -1;
}

#endif
