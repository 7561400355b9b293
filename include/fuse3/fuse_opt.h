/*
 * LinFsp: libfuse 3.14's option parser (fuse_opt_*), same names, layouts and
 * behaviour, implemented in src/fuse/opt.cc. Usable from C and C++.
 *
 * A parser is a table of struct fuse_opt ended by FUSE_OPT_END. Each entry's
 * template says which arguments it accepts:
 *
 *   "name"          exactly "name"
 *   "name="         any "name=..."; the value is ignored
 *   "name=%fmt"     "name=VALUE"; VALUE is scanned with sscanf("%fmt")
 *   "name %fmt"     "nameVALUE", or "name" followed by VALUE in the next
 *                   argument
 *   "-x "           "-x" followed by an argument, or "-xVALUE"
 *
 * "%s" stores a malloc'ed copy of VALUE in a char * (freeing the pointer that
 * was there, so it must start NULL or malloc'ed). An entry with an offset
 * writes into the data block at that offset: a formatted value for a template
 * with a format, otherwise the entry's value as an int. An entry made with
 * FUSE_OPT_KEY hands the argument to the processing function with the
 * entry's value as key instead. Every entry whose template matches is applied,
 * in table order.
 *
 * On the command line, "-o a,b" and "-oa,b" carry a comma-separated list of
 * options (a backslash escapes the next character; \ooo gives an octal
 * byte); every other argument that starts with '-' is an option on its own;
 * everything else, and everything after "--", is a non-option.
 */
#ifndef LINFSP_FUSE3_FUSE_OPT_H
#define LINFSP_FUSE3_FUSE_OPT_H

/* For NULL in FUSE_OPT_END (libfuse's header leaves that to the includer). */
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One entry of a parser table. */
struct fuse_opt {
	/* What to match, and the format of the value if any (see above). */
	const char *templ;

	/* Where in the data block the result goes, or -1U for a key entry
	 * (FUSE_OPT_KEY). */
	unsigned long offset;

	/* Stored as an int at offset for a template without a format; passed
	 * as the key to the processing function for a key entry. */
	int value;
};

/* An entry that calls the processing function with key instead of storing. */
#define FUSE_OPT_KEY(templ, key) { templ, -1U, key }

/* Ends a parser table. */
#define FUSE_OPT_END { NULL, 0, 0 }

/* An argument vector. */
struct fuse_args {
	/* Number of arguments in argv. */
	int argc;

	/* The arguments, followed by a NULL pointer. */
	char **argv;

	/* Nonzero when argv and its strings are malloc'ed and owned by this
	 * struct (fuse_opt_free_args frees them). */
	int allocated;
};

/* A fuse_args over a caller-owned vector, such as main's. */
#define FUSE_ARGS_INIT(argc, argv) { argc, argv, 0 }

/* Keys the processing function receives for arguments that no table entry
 * matched. */
#define FUSE_OPT_KEY_OPT     -1  /* an option (from -o or starting with -) */
#define FUSE_OPT_KEY_NONOPT  -2  /* a non-option */

/* Keys a table entry may carry to skip the processing function. */
#define FUSE_OPT_KEY_KEEP    -3  /* the argument goes to the output as is */
#define FUSE_OPT_KEY_DISCARD -4  /* the argument is dropped */

/*
 * The processing function: data is fuse_opt_parse's data, arg the whole
 * argument (for an option taken from -o, that option alone), key the table
 * entry's value or FUSE_OPT_KEY_OPT/NONOPT, outargs the output built so far
 * (it may add to it). Returns -1 to fail the parse, 0 to drop the argument,
 * 1 to keep it in the output.
 */
typedef int (*fuse_opt_proc_t)(void *data, const char *arg, int key,
			       struct fuse_args *outargs);

/*
 * Parses args against the table opts (may be NULL), storing into data and
 * calling proc (may be NULL, which keeps everything unmatched). On success,
 * args is replaced by the arguments that were kept: argv[0], then "-o" and
 * the kept options joined by commas (if any), then the other kept arguments
 * in order; the old vector is freed if it was allocated. Returns 0, or -1
 * after logging an error (args unchanged).
 */
int fuse_opt_parse(struct fuse_args *args, void *data,
		   const struct fuse_opt opts[], fuse_opt_proc_t proc);

/* Appends opt to the comma-separated list *opts (a malloc'ed string or
 * NULL). Returns 0, or -1 when out of memory. */
int fuse_opt_add_opt(char **opts, const char *opt);

/* Like fuse_opt_add_opt, with each ',' and '\' of opt escaped by a '\'. */
int fuse_opt_add_opt_escaped(char **opts, const char *opt);

/* Appends a copy of arg to args (which must be empty or allocated).
 * Returns 0, or -1 when out of memory. */
int fuse_opt_add_arg(struct fuse_args *args, const char *arg);

/* Inserts a copy of arg at index pos (0 <= pos <= argc) of args.
 * Returns 0, or -1 when out of memory. */
int fuse_opt_insert_arg(struct fuse_args *args, int pos, const char *arg);

/* Frees an allocated vector and empties args (argc 0, argv NULL). */
void fuse_opt_free_args(struct fuse_args *args);

/* Returns 1 if some entry of opts matches the option opt, 0 if none does. */
int fuse_opt_match(const struct fuse_opt opts[], const char *opt);

#ifdef __cplusplus
}
#endif

#endif /* LINFSP_FUSE3_FUSE_OPT_H */
