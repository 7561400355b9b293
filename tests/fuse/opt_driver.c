/*
 * The fuse_opt/fuse_log differential driver. It runs fuse_opt_parse and the
 * other fuse_opt_* functions over a fixed table of awkward argument vectors
 * and parser tables and prints every outcome to stdout: return codes, the
 * output vector, every field of the data block, each call of the processing
 * function, and each message logged. opt.cmake builds it twice, against
 * LinFsp's libfuse3 and against the system's libfuse, and requires the two
 * transcripts to be identical.
 *
 * With --which it prints only the file the fuse_opt functions were loaded
 * from, so the test can prove which library each build really uses.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse_opt.h>
#include <fuse_log.h>

/* The reference build must see the system's header, ours must see ours:
 * libfuse guards its header with FUSE_OPT_H_, LinFsp's does not. */
#if defined(OPT_DRIVER_REFERENCE) != defined(FUSE_OPT_H_)
#error "opt_driver.c was compiled against the wrong fuse_opt.h"
#endif

/* ---- the data block that the parser tables write into ---- */

struct data {
	int a, b, c;
	int num, num2;
	unsigned unum;
	long lnum;
	double dbl;
	int hex;
	char ch;
	char buf[16];
	char *str1, *str2;
};

#define FIELD(t, f, v) { t, offsetof(struct data, f), v }

static void print_data(const struct data *d)
{
	printf("  data: a=%d b=%d c=%d num=%d num2=%d unum=%u lnum=%ld dbl=%g hex=%d ch=%d buf=\"%s\"",
	       d->a, d->b, d->c, d->num, d->num2, d->unum, d->lnum, d->dbl, d->hex, (int)d->ch, d->buf);
	printf(" str1=%s%s%s", d->str1 ? "\"" : "", d->str1 ? d->str1 : "(null)", d->str1 ? "\"" : "");
	printf(" str2=%s%s%s\n", d->str2 ? "\"" : "", d->str2 ? d->str2 : "(null)", d->str2 ? "\"" : "");
}

static void print_args(const char *label, const struct fuse_args *args)
{
	int i;
	printf("  %s: argc=%d allocated=%d argv=[", label, args->argc, args->allocated);
	if (args->argv) {
		for (i = 0; i < args->argc; i++)
			printf("%s\"%s\"", i ? " " : "", args->argv[i]);
		printf("] terminated=%s\n", args->argv[args->argc] == NULL ? "yes" : "NO");
	} else {
		printf("] argv=NULL\n");
	}
}

/* ---- the processing function ---- */

enum proc_mode {
	PROC_NONE,        /* fuse_opt_parse gets a NULL proc */
	PROC_KEEP,        /* returns 1 for everything */
	PROC_DROP,        /* returns 0 for everything */
	PROC_BY_KEY,      /* per key, see below */
	PROC_MOUNTPOINT,  /* first non-option captured into str2 and dropped */
	PROC_FAIL_NONOPT, /* -1 for a non-option */
	PROC_REPLACE_END, /* a non-option takes the place of a "--" before it */
};

/* Keys of the tables below, and what PROC_BY_KEY does with them. */
enum {
	K_DROP = 10,   /* returns 0 */
	K_KEEP = 11,   /* returns 1 */
	K_FAIL = 12,   /* returns -1 */
	K_TWO = 13,    /* returns 2 (also keeps) */
	K_MINUS2 = 14, /* returns -2 (also keeps) */
	K_GROW = 15,   /* appends an argument to outargs, returns 0 */
	K_FRONT = 16,  /* inserts an argument at outargs[1], returns 1 */
};

static enum proc_mode proc_mode;
static struct data *expected_data;

static int proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct data *d = data;
	printf("  proc: key=%d arg=\"%s\" outargc=%d%s\n", key, arg, outargs->argc,
	       data == expected_data ? "" : " WRONG-DATA");
	switch (proc_mode) {
	case PROC_KEEP:
		return 1;
	case PROC_DROP:
		return 0;
	case PROC_MOUNTPOINT:
		if (key == FUSE_OPT_KEY_NONOPT && !d->str2) {
			d->str2 = strdup(arg);
			return 0;
		}
		return 1;
	case PROC_FAIL_NONOPT:
		return key == FUSE_OPT_KEY_NONOPT ? -1 : 1;
	case PROC_REPLACE_END:
		/* Leaves outargs as long as it was right after "--", but
		 * ending in something else: only a trailing "--" is dropped. */
		if (key == FUSE_OPT_KEY_NONOPT && outargs->argc > 0 &&
		    strcmp(outargs->argv[outargs->argc - 1], "--") == 0) {
			free(outargs->argv[--outargs->argc]);
			outargs->argv[outargs->argc] = NULL;
			fuse_opt_add_arg(outargs, arg);
			return 0;
		}
		return 1;
	case PROC_BY_KEY:
		switch (key) {
		case K_DROP: return 0;
		case K_FAIL: return -1;
		case K_TWO: return 2;
		case K_MINUS2: return -2;
		case K_GROW:
			printf("  proc: add_arg=%d\n", fuse_opt_add_arg(outargs, "added-by-proc"));
			return 0;
		case K_FRONT:
			printf("  proc: insert_arg=%d\n", fuse_opt_insert_arg(outargs, 1, "inserted-by-proc"));
			return 1;
		default: return 1;
		}
	case PROC_NONE:
		break;
	}
	return 1;
}

/* ---- the log sink: every message goes to stdout with its level ---- */

static void log_to_stdout(enum fuse_log_level level, const char *fmt, va_list ap)
{
	printf("  log[%d]: ", (int)level);
	vprintf(fmt, ap);
}

/* ---- parser tables ---- */

static const struct fuse_opt t_main[] = {
	FIELD("-f", a, 1),
	FIELD("foreground", a, 2),
	FIELD("-d", b, 1),
	FIELD("debug", b, 2),
	FIELD("num=%d", num, 0),
	FIELD("unum=%u", unum, 0),
	FIELD("--long=%li", lnum, 0),
	FIELD("dbl=%lf", dbl, 0),
	FIELD("hex=%x", hex, 0),
	FIELD("char=%c", ch, 0),
	FIELD("buf=%15[^:]", buf, 0),
	FIELD("str=%s", str1, 0),
	FIELD("-x ", c, 7),
	FIELD("-n %d", num2, 0),
	FIELD("name %s", str2, 0),
	FIELD("opt=", c, 3),
	FIELD("exact=yes", b, 9),
	FUSE_OPT_KEY("keyed", K_DROP),
	FUSE_OPT_KEY("keyval=", K_KEEP),
	FUSE_OPT_KEY("-k ", K_KEEP),
	FUSE_OPT_KEY("--kfmt=%s", K_KEEP),
	FUSE_OPT_KEY("discard", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("keep", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("-D", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-K", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("fail", K_FAIL),
	FUSE_OPT_KEY("two", K_TWO),
	FUSE_OPT_KEY("neg", K_MINUS2),
	FUSE_OPT_KEY("grow", K_GROW),
	FUSE_OPT_KEY("front", K_FRONT),
	FUSE_OPT_END
};

/* Several entries accept the same argument: all of them apply. */
static const struct fuse_opt t_multi[] = {
	FIELD("multi", a, 1),
	FUSE_OPT_KEY("multi", K_KEEP),
	FIELD("multi", b, 2),
	FIELD("m=%d", num, 0),
	FIELD("m=%u", unum, 0),
	FUSE_OPT_KEY("m=", K_KEEP),
	FIELD("pre %s", str1, 0),
	FIELD("pre %d", num2, 0),
	FIELD("-y ", a, 5),
	FUSE_OPT_KEY("-y ", K_DROP),
	FUSE_OPT_END
};

/* Templates at the edges of the matching rules. */
static const struct fuse_opt t_edge[] = {
	FIELD("=%d", num, 77),      /* separator first: a value never parsed */
	FIELD("a=b=%d", num2, 5),   /* first '=' not followed by %: exact only */
	FIELD("sp ace=%d", unum, 0),/* '=' wins over the earlier ' ' */
	FIELD("-", a, 1),
	FIELD("--", a, 9),          /* "--" ends options before any table */
	FIELD("-ofoo", a, 3),       /* -o... is always an option list */
	FIELD("", b, 4),            /* matches an empty option only */
	FIELD("tail ", c, 6),       /* "tail" plus the next argument, or tailX */
	FIELD("eq=x%d", hex, 8),    /* '=' then not '%': exact only */
	FUSE_OPT_END
};

/* A template whose prefix is empty: it accepts every option. */
static const struct fuse_opt t_all[] = {
	FIELD(" %d", c, 4),
	FUSE_OPT_END
};

/* ---- parse cases ---- */

struct parse_case {
	const char *name;
	const struct fuse_opt *table;
	enum proc_mode mode;
	const char *argv[12];
};

static const struct parse_case parse_cases[] = {
	{ "program name only", t_main, PROC_BY_KEY, { "prog" } },
	{ "flags", t_main, PROC_BY_KEY, { "prog", "-f", "-d" } },
	{ "-o list", t_main, PROC_BY_KEY, { "prog", "-o", "foreground,debug" } },
	{ "-o joined", t_main, PROC_BY_KEY, { "prog", "-oforeground,debug" } },
	{ "-o unknown kept", t_main, PROC_BY_KEY, { "prog", "-o", "foo,bar", "mnt" } },
	{ "-o unknown dropped", t_main, PROC_DROP, { "prog", "-o", "foo,bar", "mnt" } },
	{ "several -o merged", t_main, PROC_BY_KEY, { "prog", "-o", "a", "mnt", "-o", "b,c", "-ob", "-oforeground" } },
	{ "-o missing list", t_main, PROC_BY_KEY, { "prog", "-f", "-o" } },
	{ "-o takes a dash argument", t_main, PROC_BY_KEY, { "prog", "-o", "-f,-z" } },
	{ "escaped comma", t_main, PROC_BY_KEY, { "prog", "-o", "a\\,b,c" } },
	{ "escaped backslash", t_main, PROC_BY_KEY, { "prog", "-o", "a\\\\b,c\\d" } },
	{ "octal escapes", t_main, PROC_BY_KEY, { "prog", "-o", "x\\054y,z\\101\\1011" } },
	{ "octal out of range", t_main, PROC_BY_KEY, { "prog", "-o", "\\477,\\38,\\3777" } },
	{ "octal too short", t_main, PROC_BY_KEY, { "prog", "-o", "a\\07" } },
	{ "octal NUL truncates", t_main, PROC_BY_KEY, { "prog", "-o", "ab\\000cd,e" } },
	{ "trailing backslash", t_main, PROC_BY_KEY, { "prog", "-o", "abc\\" } },
	{ "escaped value for %s", t_main, PROC_BY_KEY, { "prog", "-o", "str=a\\,b\\\\c,debug" } },
	{ "empty options in list", t_main, PROC_BY_KEY, { "prog", "-o", ",a,,b," } },
	{ "one empty option", t_main, PROC_BY_KEY, { "prog", "-o", "" } },
	{ "empty option first then more", t_main, PROC_BY_KEY, { "prog", "-o", "", "-o", "x" } },
	{ "empty options dropped", t_main, PROC_DROP, { "prog", "-o", ",,", "m" } },
	{ "num=%d", t_main, PROC_BY_KEY, { "prog", "-o", "num=42" } },
	{ "num invalid", t_main, PROC_BY_KEY, { "prog", "-o", "debug,num=abc,foreground" } },
	{ "num empty", t_main, PROC_BY_KEY, { "prog", "-o", "num=" } },
	{ "num trailing junk", t_main, PROC_BY_KEY, { "prog", "-o", "num=12abc" } },
	{ "num leading space and sign", t_main, PROC_BY_KEY, { "prog", "-o", "num=  -0x10" } },
	{ "num without =", t_main, PROC_BY_KEY, { "prog", "-o", "num" } },
	{ "unum negative", t_main, PROC_BY_KEY, { "prog", "-o", "unum=-1" } },
	{ "--long=%li hex", t_main, PROC_BY_KEY, { "prog", "--long=0x7f", "mnt" } },
	{ "--long=%li octal in -o", t_main, PROC_BY_KEY, { "prog", "-o", "--long=017" } },
	{ "--long without value", t_main, PROC_BY_KEY, { "prog", "--long" } },
	{ "--long with space", t_main, PROC_BY_KEY, { "prog", "--long", "5" } },
	{ "dbl", t_main, PROC_BY_KEY, { "prog", "-o", "dbl=2.5e3" } },
	{ "hex", t_main, PROC_BY_KEY, { "prog", "-o", "hex=ff,hex=0X10" } },
	{ "char", t_main, PROC_BY_KEY, { "prog", "-o", "char=z" } },
	{ "char empty", t_main, PROC_BY_KEY, { "prog", "-o", "char=" } },
	{ "scanset", t_main, PROC_BY_KEY, { "prog", "-o", "buf=hello:world" } },
	{ "scanset no match", t_main, PROC_BY_KEY, { "prog", "-o", "buf=:x" } },
	{ "scanset width", t_main, PROC_BY_KEY, { "prog", "-o", "buf=0123456789abcdefghij" } },
	{ "%s twice replaces", t_main, PROC_BY_KEY, { "prog", "-o", "str=first,str=second" } },
	{ "%s keeps spaces", t_main, PROC_BY_KEY, { "prog", "-o", "str= a b " } },
	{ "%s empty", t_main, PROC_BY_KEY, { "prog", "-o", "str=" } },
	{ "%s as its own argument", t_main, PROC_BY_KEY, { "prog", "str=x" } },
	{ "-x separate", t_main, PROC_BY_KEY, { "prog", "-x", "val", "mnt" } },
	{ "-x joined", t_main, PROC_BY_KEY, { "prog", "-xval" } },
	{ "-x takes a dash", t_main, PROC_BY_KEY, { "prog", "-x", "-f" } },
	{ "-x missing", t_main, PROC_BY_KEY, { "prog", "-d", "-x" } },
	{ "-n %d separate", t_main, PROC_BY_KEY, { "prog", "-n", "5" } },
	{ "-n %d joined", t_main, PROC_BY_KEY, { "prog", "-n12" } },
	{ "-n invalid", t_main, PROC_BY_KEY, { "prog", "-n", "abc" } },
	{ "-n missing", t_main, PROC_BY_KEY, { "prog", "-n" } },
	{ "name %s in -o takes next", t_main, PROC_BY_KEY, { "prog", "-o", "name", "value", "mnt" } },
	{ "name %s joined", t_main, PROC_BY_KEY, { "prog", "-o", "namefoo,names" } },
	{ "name %s missing", t_main, PROC_BY_KEY, { "prog", "-o", "name" } },
	{ "name as non-option", t_main, PROC_BY_KEY, { "prog", "name", "x" } },
	{ "opt=", t_main, PROC_BY_KEY, { "prog", "-o", "opt=anything,opt=" } },
	{ "opt without =", t_main, PROC_BY_KEY, { "prog", "-o", "opt" } },
	{ "exact value", t_main, PROC_BY_KEY, { "prog", "-o", "exact=yes,exact=no" } },
	{ "key dropped by proc", t_main, PROC_BY_KEY, { "prog", "-o", "keyed,x" } },
	{ "key with =", t_main, PROC_BY_KEY, { "prog", "-o", "keyval=1,keyval=,keyval" } },
	{ "key -k separate", t_main, PROC_BY_KEY, { "prog", "-k", "arg", "mnt" } },
	{ "key -k in -o", t_main, PROC_BY_KEY, { "prog", "-o", "-k", "next" } },
	{ "key with format", t_main, PROC_BY_KEY, { "prog", "--kfmt=hello", "-o", "--kfmt=x" } },
	{ "DISCARD and KEEP", t_main, PROC_BY_KEY, { "prog", "-o", "discard,keep", "-D", "-K" } },
	{ "KEEP with NULL proc", t_main, PROC_NONE, { "prog", "-o", "keep,discard", "-K", "-D" } },
	{ "KEEP with dropping proc", t_main, PROC_DROP, { "prog", "-o", "keep,x", "-K", "y" } },
	{ "proc fails", t_main, PROC_BY_KEY, { "prog", "-f", "-o", "a,fail,b" } },
	{ "proc returns 2 and -2", t_main, PROC_BY_KEY, { "prog", "-o", "two,neg", "mnt" } },
	{ "proc grows outargs", t_main, PROC_BY_KEY, { "prog", "-o", "grow", "mnt" } },
	{ "proc inserts", t_main, PROC_BY_KEY, { "prog", "x", "-o", "front", "y" } },
	{ "-- ends options", t_main, PROC_BY_KEY, { "prog", "--", "-f", "-o", "x" } },
	{ "-- last is removed", t_main, PROC_BY_KEY, { "prog", "mnt", "--" } },
	{ "-- last stays after -o", t_main, PROC_BY_KEY, { "prog", "-o", "foo", "--" } },
	{ "-- then dropped non-options", t_main, PROC_DROP, { "prog", "--", "a", "b" } },
	{ "-- twice", t_main, PROC_BY_KEY, { "prog", "--", "--" } },
	{ "-- replaced by the proc", t_main, PROC_REPLACE_END, { "prog", "--", "mnt" } },
	{ "-- replaced, more follow", t_main, PROC_REPLACE_END, { "prog", "-f", "--", "a", "b" } },
	{ "-- inside -o", t_main, PROC_BY_KEY, { "prog", "-o", "--", "x" } },
	{ "NULL proc", t_main, PROC_NONE, { "prog", "-o", "foo,-f", "mnt", "-z", "-d" } },
	{ "NULL table", NULL, PROC_KEEP, { "prog", "-f", "-o", "a,b", "x", "-oc" } },
	{ "NULL table NULL proc", NULL, PROC_NONE, { "prog", "-f", "-o", "a\\,b", "x" } },
	{ "mountpoint captured", t_main, PROC_MOUNTPOINT, { "prog", "mnt", "-f", "extra" } },
	{ "non-option fails", t_main, PROC_FAIL_NONOPT, { "prog", "-f", "mnt" } },
	{ "single dash", t_main, PROC_BY_KEY, { "prog", "-" } },
	{ "unknown dash options", t_main, PROC_BY_KEY, { "prog", "-z", "--zz", "--zz=1", "-fd" } },
	{ "multi flags", t_multi, PROC_BY_KEY, { "prog", "-o", "multi" } },
	{ "multi values", t_multi, PROC_BY_KEY, { "prog", "-o", "m=7" } },
	{ "multi values negative", t_multi, PROC_BY_KEY, { "prog", "-o", "m=-3" } },
	{ "multi value invalid", t_multi, PROC_BY_KEY, { "prog", "-o", "m=q" } },
	{ "multi takes two arguments", t_multi, PROC_BY_KEY, { "prog", "-o", "pre", "s", "9", "mnt" } },
	{ "multi joined value", t_multi, PROC_BY_KEY, { "prog", "-o", "pre42" } },
	{ "multi -y takes two", t_multi, PROC_BY_KEY, { "prog", "-y", "z", "w", "mnt" } },
	{ "multi -y second missing", t_multi, PROC_BY_KEY, { "prog", "-y", "z" } },
	{ "edge separator first", t_edge, PROC_BY_KEY, { "prog", "-o", "=5,=" } },
	{ "edge second =", t_edge, PROC_BY_KEY, { "prog", "-o", "a=b=%d,a=b=3" } },
	{ "edge = after space", t_edge, PROC_BY_KEY, { "prog", "-o", "sp ace=3,sp", "ace=4" } },
	{ "edge dash and double dash", t_edge, PROC_BY_KEY, { "prog", "-", "--", "-" } },
	{ "edge -o prefix template", t_edge, PROC_BY_KEY, { "prog", "-ofoo" } },
	{ "edge empty template", t_edge, PROC_BY_KEY, { "prog", "-o", ",x," } },
	{ "edge bare space template", t_edge, PROC_BY_KEY, { "prog", "-o", "tail,tailer", "v" } },
	{ "edge literal after =", t_edge, PROC_BY_KEY, { "prog", "-o", "eq=x%d,eq=x5" } },
	{ "every option matches", t_all, PROC_BY_KEY, { "prog", "-q", "-o", "x,,y", "m", "--long" } },
};

static void run_parse_case(int n, const struct parse_case *pc)
{
	char *argv[12];
	int argc = 0;
	struct data d;
	struct fuse_args args;
	int res;

	while (pc->argv[argc]) {
		argv[argc] = (char *)pc->argv[argc];
		argc++;
	}
	argv[argc] = NULL;
	args.argc = argc;
	args.argv = argv;
	args.allocated = 0;

	memset(&d, 0, sizeof(d));
	expected_data = &d;
	proc_mode = pc->mode;

	printf("case %d: parse %s\n", n, pc->name);
	print_args("in", &args);
	res = fuse_opt_parse(&args, &d, pc->table, pc->mode == PROC_NONE ? NULL : proc);
	printf("  result=%d\n", res);
	print_args("out", &args);
	print_data(&d);
	free(d.str1);
	free(d.str2);
	fuse_opt_free_args(&args);
}

/* ---- cases for the other functions ---- */

static int case_number;

static void begin(const char *what)
{
	printf("case %d: %s\n", ++case_number, what);
}

static void other_cases(void)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char *fixed[] = { "prog", "a", NULL };
	char *opts = NULL;
	struct data d;
	int res;

	begin("parse with argc 0");
	args.argc = 0;
	args.argv = fixed;
	printf("  result=%d\n", fuse_opt_parse(&args, NULL, t_main, proc));
	print_args("out", &args);

	begin("parse with argv NULL");
	args.argc = 2;
	args.argv = NULL;
	printf("  result=%d\n", fuse_opt_parse(&args, NULL, t_main, proc));
	print_args("out", &args);

	begin("parse with args NULL");
	printf("  result=%d\n", fuse_opt_parse(NULL, NULL, t_main, proc));

	begin("free_args of a vector it does not own");
	args = (struct fuse_args)FUSE_ARGS_INIT(2, fixed);
	fuse_opt_free_args(&args);
	print_args("after", &args);
	printf("  fixed: \"%s\" \"%s\"\n", fixed[0], fixed[1]);

	begin("free_args NULL");
	fuse_opt_free_args(NULL);

	begin("add_arg builds a vector");
	args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	printf("  res=%d\n", fuse_opt_add_arg(&args, "one"));
	print_args("after one", &args);
	printf("  res=%d\n", fuse_opt_add_arg(&args, ""));
	printf("  res=%d\n", fuse_opt_add_arg(&args, "three"));
	print_args("after three", &args);

	begin("insert_arg at front, middle, end");
	printf("  res=%d\n", fuse_opt_insert_arg(&args, 0, "front"));
	printf("  res=%d\n", fuse_opt_insert_arg(&args, 2, "middle"));
	printf("  res=%d\n", fuse_opt_insert_arg(&args, args.argc, "end"));
	print_args("after", &args);

	begin("parse an allocated vector, then parse the result again");
	memset(&d, 0, sizeof(d));
	expected_data = &d;
	proc_mode = PROC_BY_KEY;
	fuse_opt_free_args(&args);
	fuse_opt_add_arg(&args, "prog");
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, "debug,zz\\,y,multi");
	fuse_opt_add_arg(&args, "mnt");
	fuse_opt_add_arg(&args, "--");
	res = fuse_opt_parse(&args, &d, t_main, proc);
	printf("  result=%d\n", res);
	print_args("first", &args);
	res = fuse_opt_parse(&args, &d, t_multi, proc);
	printf("  result=%d\n", res);
	print_args("second", &args);
	print_data(&d);

	begin("failed parse leaves an allocated vector alone");
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, "fail");
	res = fuse_opt_parse(&args, &d, t_main, proc);
	printf("  result=%d\n", res);
	print_args("after", &args);
	fuse_opt_free_args(&args);
	print_args("freed", &args);

	begin("add_opt plain");
	printf("  res=%d\n", fuse_opt_add_opt(&opts, "a"));
	printf("  res=%d\n", fuse_opt_add_opt(&opts, "b,c\\d"));
	printf("  res=%d\n", fuse_opt_add_opt(&opts, ""));
	printf("  res=%d\n", fuse_opt_add_opt(&opts, "e"));
	printf("  opts=\"%s\"\n", opts);
	free(opts);
	opts = NULL;

	begin("add_opt_escaped");
	printf("  res=%d\n", fuse_opt_add_opt_escaped(&opts, "x,y\\z"));
	printf("  res=%d\n", fuse_opt_add_opt_escaped(&opts, ",\\,"));
	printf("  res=%d\n", fuse_opt_add_opt(&opts, "p,q"));
	printf("  opts=\"%s\"\n", opts);
	free(opts);
	opts = NULL;

	begin("add_opt onto an empty list");
	printf("  res=%d\n", fuse_opt_add_opt(&opts, ""));
	printf("  opts=\"%s\"\n", opts);
	printf("  res=%d\n", fuse_opt_add_opt_escaped(&opts, "a"));
	printf("  res=%d\n", fuse_opt_add_opt(&opts, "b"));
	printf("  opts=\"%s\"\n", opts);
	free(opts);
	opts = NULL;
}

struct match_case {
	const struct fuse_opt *table;
	const char *table_name;
	const char *opt;
};

static const struct fuse_opt t_one_s[] = { FIELD("foo %s", str1, 0), FUSE_OPT_END };
static const struct fuse_opt t_one_eq[] = { FIELD("foo=", a, 0), FUSE_OPT_END };
static const struct fuse_opt t_one_fmt[] = { FIELD("foo=%d", a, 0), FUSE_OPT_END };
static const struct fuse_opt t_one_dash[] = { FIELD("-x ", a, 0), FUSE_OPT_END };
static const struct fuse_opt t_empty[] = { FUSE_OPT_END };

static const struct match_case match_cases[] = {
	{ t_main, "main", "-f" },
	{ t_main, "main", "-F" },
	{ t_main, "main", "num=1" },
	{ t_main, "main", "num=" },
	{ t_main, "main", "num" },
	{ t_main, "main", "-xanything" },
	{ t_main, "main", "-x" },
	{ t_main, "main", "-" },
	{ t_main, "main", "keyval=" },
	{ t_main, "main", "exact=no" },
	{ t_main, "main", "" },
	{ t_one_s, "foo %s", "foo" },
	{ t_one_s, "foo %s", "foobar" },
	{ t_one_s, "foo %s", "foo bar" },
	{ t_one_s, "foo %s", "fo" },
	{ t_one_eq, "foo=", "foo=" },
	{ t_one_eq, "foo=", "foo" },
	{ t_one_eq, "foo=", "foo=1" },
	{ t_one_fmt, "foo=%d", "foo=x" },
	{ t_one_fmt, "foo=%d", "foox" },
	{ t_one_dash, "-x ", "-x" },
	{ t_one_dash, "-x ", "-x " },
	{ t_one_dash, "-x ", "-" },
	{ t_edge, "edge", "" },
	{ t_edge, "edge", "a=b=%d" },
	{ t_edge, "edge", "a=b=1" },
	{ t_edge, "edge", "=9" },
	{ t_all, "all", "whatever" },
	{ t_all, "all", "" },
	{ t_empty, "empty", "x" },
	{ NULL, "NULL", "x" },
};

int main(int argc, char **argv)
{
	size_t i;

	if (argc == 2 && strcmp(argv[1], "--which") == 0) {
		Dl_info info;
		if (!dladdr((void *)fuse_opt_parse, &info) || !info.dli_fname) {
			fprintf(stderr, "dladdr failed\n");
			return 1;
		}
		printf("%s\n", info.dli_fname);
		return 0;
	}

	/* Messages come to stdout, in order with the rest of the transcript. */
	fuse_set_log_func(log_to_stdout);

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++)
		run_parse_case(++case_number, &parse_cases[i]);

	other_cases();

	for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		begin("match");
		printf("  table=%s opt=\"%s\" result=%d\n", match_cases[i].table_name,
		       match_cases[i].opt, fuse_opt_match(match_cases[i].table, match_cases[i].opt));
	}

	begin("fuse_log through the sink");
	fuse_log(FUSE_LOG_DEBUG, "debug %d %s\n", 42, "text");
	fuse_log(FUSE_LOG_EMERG, "emerg %c%%\n", 'x');

	/* NULL restores the default, which writes to stderr: stderr goes to a
	 * temporary file for a while, and what it caught is printed after. */
	begin("default log function restored");
	{
		char *v[] = { "prog", "-o", NULL };
		struct fuse_args a = FUSE_ARGS_INIT(2, v);
		FILE *caught = tmpfile();
		int saved = dup(STDERR_FILENO);
		char line[256];
		int r;

		if (!caught || saved < 0) {
			printf("  cannot redirect stderr\n");
			return 1;
		}
		fflush(stdout);
		fflush(stderr);
		dup2(fileno(caught), STDERR_FILENO);
		fuse_set_log_func(NULL);
		r = fuse_opt_parse(&a, NULL, NULL, NULL);
		fuse_log(FUSE_LOG_WARNING, "default %s\n", "sink");
		fflush(stdout);
		fflush(stderr);
		dup2(saved, STDERR_FILENO);
		close(saved);
		printf("  result=%d\n", r);
		rewind(caught);
		while (fgets(line, sizeof(line), caught))
			printf("  stderr: %s", line);
		fclose(caught);
	}

	printf("cases: %d\n", case_number);
	return 0;
}
