/*
 * LinFsp: libfuse 3.14's log hook, same names and behaviour, implemented in
 * src/fuse/log.cc. Everything libfuse's API prints goes through fuse_log; by
 * default it is written to stderr, and a program may send it elsewhere.
 */
#ifndef LINFSP_FUSE3_FUSE_LOG_H
#define LINFSP_FUSE3_FUSE_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Severity of a message, most severe first (the syslog(3) levels). */
enum fuse_log_level {
	FUSE_LOG_EMERG,
	FUSE_LOG_ALERT,
	FUSE_LOG_CRIT,
	FUSE_LOG_ERR,
	FUSE_LOG_WARNING,
	FUSE_LOG_NOTICE,
	FUSE_LOG_INFO,
	FUSE_LOG_DEBUG
};

/* Receives each message: a printf format and its arguments. A message
 * carries its own trailing newline. */
typedef void (*fuse_log_func_t)(enum fuse_log_level level,
				const char *fmt, va_list ap);

/* Sends every later message to func; NULL restores the default (stderr). */
void fuse_set_log_func(fuse_log_func_t func);

/* Formats a message and hands it to the current log function. */
void fuse_log(enum fuse_log_level level, const char *fmt, ...);

#ifdef __cplusplus
}
#endif

#endif /* LINFSP_FUSE3_FUSE_LOG_H */
