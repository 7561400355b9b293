// The helpers around a session: fuse_parse_cmdline (both layouts of
// struct fuse_cmdline_opts), the help and version texts, fuse_daemonize,
// the signal handlers that end the loop, and the connection options
// (fuse_parse_conn_info_opts / fuse_apply_conn_info_opts).
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuse/lowlevel.h"
#include "kernel/protocol.h"

namespace {

// ---- fuse_parse_cmdline ----

struct CmdlineState {
  fuse_cmdline_opts* opts;
  bool failed = false;
};

bool starts_with(const char* s, const char* prefix) { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }

bool parse_uint(const char* text, unsigned* out) {
  errno = 0;
  char* end = nullptr;
  unsigned long v = std::strtoul(text, &end, 10);
  if (errno || end == text || *end || v > UINT_MAX) return false;
  *out = static_cast<unsigned>(v);
  return true;
}

// Returns 0 to take the argument, 1 to leave it for fuse_session_new, -1 on error.
int take_cmdline_arg(void* data, const char* arg, int key, fuse_args*) {
  auto* st = static_cast<CmdlineState*>(data);
  fuse_cmdline_opts* o = st->opts;
  if (key == FUSE_OPT_KEY_NONOPT) {
    if (o->mountpoint) {
      fuse_log(FUSE_LOG_ERR, "fuse: invalid argument `%s'\n", arg);
      return -1;
    }
    char resolved[PATH_MAX];
    if (realpath(arg, resolved) == nullptr) {
      fuse_log(FUSE_LOG_ERR, "fuse: bad mount point `%s': %s\n", arg, std::strerror(errno));
      return -1;
    }
    o->mountpoint = strdup(resolved);
    return o->mountpoint ? 0 : -1;
  }
  std::string a = arg;
  if (a == "-h" || a == "--help") return o->show_help = 1, 0;
  if (a == "-V" || a == "--version") return o->show_version = 1, 0;
  if (a == "-f") return o->foreground = 1, 0;
  if (a == "-s") return o->singlethread = 1, 0;
  if (a == "clone_fd") return o->clone_fd = 1, 0;
  if (a == "-d" || a == "debug") return o->debug = 1, 1;  // the session wants it too
  if (starts_with(arg, "fsname=") || starts_with(arg, "subtype=")) return o->nodefault_subtype = 1, 1;
  if (starts_with(arg, "max_idle_threads=")) {
    // -1 (libfuse's default spelling) means no limit.
    const char* v = arg + std::strlen("max_idle_threads=");
    if (std::strcmp(v, "-1") == 0) return o->max_idle_threads = UINT_MAX, 0;
    if (parse_uint(v, &o->max_idle_threads)) return 0;
    fuse_log(FUSE_LOG_ERR, "fuse: invalid value in `%s'\n", arg);
    return -1;
  }
  if (starts_with(arg, "max_threads=")) {
    if (parse_uint(arg + std::strlen("max_threads="), &o->max_threads)) return 0;
    fuse_log(FUSE_LOG_ERR, "fuse: invalid value in `%s'\n", arg);
    return -1;
  }
  return 1;
}

int parse_cmdline(fuse_args* args, fuse_cmdline_opts* opts) {
  static const fuse_opt none[] = {FUSE_OPT_END};
  CmdlineState st{opts};
  if (fuse_opt_parse(args, &st, none, take_cmdline_arg) == -1) return -1;
  // Without -o fsname or -o subtype, the mount's type names the program.
  if (!opts->nodefault_subtype && args->argc > 0 && args->argv[0]) {
    const char* base = std::strrchr(args->argv[0], '/');
    base = base ? base + 1 : args->argv[0];
    if (*base) {
      std::string opt = std::string("-osubtype=") + base;
      if (fuse_opt_add_arg(args, opt.c_str()) == -1) return -1;
    }
  }
  return 0;
}

// ---- signals ----

fuse_session* signal_session = nullptr;  // the session fuse_set_signal_handlers serves

void end_session_on_signal(int sig) {
  fuse_session* se = signal_session;
  if (se == nullptr) return;
  se->error.store(sig);
  fuse_session_exit(se);
}

void ignore_signal(int) {}

// Installs `handler` for sig if nobody else handles it (or, removing, puts
// the default back if `handler` is what is installed).
int swap_handler(int sig, void (*handler)(int), bool remove) {
  struct sigaction old;
  if (sigaction(sig, nullptr, &old) == -1) {
    fuse_log(FUSE_LOG_ERR, "fuse: cannot read the handler of signal %d: %s\n", sig, std::strerror(errno));
    return -1;
  }
  if (old.sa_handler != (remove ? handler : SIG_DFL)) return 0;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = remove ? SIG_DFL : handler;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, nullptr) == -1) {
    fuse_log(FUSE_LOG_ERR, "fuse: cannot set the handler of signal %d: %s\n", sig, std::strerror(errno));
    return -1;
  }
  return 0;
}

}  // namespace

// ---- connection options ----

struct fuse_conn_info_opts {
  unsigned set = 0;    // FUSE_CAP_* to switch on (when the kernel offers them)
  unsigned unset = 0;  // FUSE_CAP_* to switch off
  unsigned max_write = 0, max_readahead = 0, max_background = 0, congestion_threshold = 0, time_gran = 0;
  bool failed = false;
};

namespace {

struct CapWord {
  const char* on;
  const char* off;
  unsigned cap;
};
constexpr CapWord kCapWords[] = {
    {"async_read", "sync_read", FUSE_CAP_ASYNC_READ},
    {"atomic_o_trunc", nullptr, FUSE_CAP_ATOMIC_O_TRUNC},
    {nullptr, "no_remote_posix_lock", FUSE_CAP_POSIX_LOCKS},
    {nullptr, "no_remote_flock", FUSE_CAP_FLOCK_LOCKS},
    {"splice_write", "no_splice_write", FUSE_CAP_SPLICE_WRITE},
    {"splice_move", "no_splice_move", FUSE_CAP_SPLICE_MOVE},
    {"splice_read", "no_splice_read", FUSE_CAP_SPLICE_READ},
    {"auto_inval_data", "no_auto_inval_data", FUSE_CAP_AUTO_INVAL_DATA},
    {"async_dio", "no_async_dio", FUSE_CAP_ASYNC_DIO},
    {"writeback_cache", "no_writeback_cache", FUSE_CAP_WRITEBACK_CACHE},
};

int take_conn_arg(void* data, const char* arg, int key, fuse_args*) {
  auto* o = static_cast<fuse_conn_info_opts*>(data);
  if (key == FUSE_OPT_KEY_NONOPT) return 1;
  std::string a = arg;
  if (a == "no_remote_lock") {
    o->unset |= FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS;
    return 0;
  }
  for (const CapWord& w : kCapWords) {
    if (w.on && a == w.on) return o->set |= w.cap, o->unset &= ~w.cap, 0;
    if (w.off && a == w.off) return o->unset |= w.cap, o->set &= ~w.cap, 0;
  }
  if (a == "readdirplus=no") {
    o->unset |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
    return 0;
  }
  if (a == "readdirplus=yes") {
    o->set |= FUSE_CAP_READDIRPLUS;
    o->unset |= FUSE_CAP_READDIRPLUS_AUTO;
    return 0;
  }
  if (a == "readdirplus=auto") {
    o->set |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
    return 0;
  }
  struct Number {
    const char* prefix;
    unsigned* field;
  } numbers[] = {{"max_write=", &o->max_write},
                 {"max_readahead=", &o->max_readahead},
                 {"max_background=", &o->max_background},
                 {"congestion_threshold=", &o->congestion_threshold},
                 {"time_gran=", &o->time_gran}};
  for (const Number& n : numbers) {
    if (!starts_with(arg, n.prefix)) continue;
    if (parse_uint(arg + std::strlen(n.prefix), n.field)) return 0;
    fuse_log(FUSE_LOG_ERR, "fuse: invalid value in `%s'\n", arg);
    return -1;
  }
  return 1;
}

}  // namespace

extern "C" {

int fuse_parse_cmdline_30(struct fuse_args* args, struct fuse_cmdline_opts* opts);
int fuse_parse_cmdline_312(struct fuse_args* args, struct fuse_cmdline_opts* opts);

// Programs built for API < 3.12 bind fuse_parse_cmdline@FUSE_3.0 and pass the
// structure without max_threads; newer ones the default @@FUSE_3.12.
__asm__(".symver fuse_parse_cmdline_30,fuse_parse_cmdline@FUSE_3.0");
__asm__(".symver fuse_parse_cmdline_312,fuse_parse_cmdline@@FUSE_3.12");

int fuse_parse_cmdline_312(struct fuse_args* args, struct fuse_cmdline_opts* opts) {
  std::memset(opts, 0, sizeof(*opts));
  opts->max_idle_threads = UINT_MAX;  // 3.12's default: no limit
  opts->max_threads = 10;
  return parse_cmdline(args, opts);
}

int fuse_parse_cmdline_30(struct fuse_args* args, struct fuse_cmdline_opts* opts) {
  // The caller's structure ends before max_threads: parse into a whole one
  // and copy back only what it has room for.
  fuse_cmdline_opts whole;
  std::memset(&whole, 0, sizeof(whole));
  whole.max_idle_threads = UINT_MAX;  // as libfuse 3.14 answers both versions
  whole.max_threads = 10;
  int res = parse_cmdline(args, &whole);
  std::memcpy(opts, &whole, offsetof(fuse_cmdline_opts, max_threads));
  return res;
}

void fuse_cmdline_help(void) {
  std::printf(
      "    -h   --help            print this help\n"
      "    -V   --version         print the version\n"
      "    -d   -o debug          trace every request (on stderr)\n"
      "    -f                     stay in the foreground\n"
      "    -s                     serve with a single thread\n"
      "    -o clone_fd            a /dev/fuse clone per thread (always, on LinFsp)\n"
      "    -o max_idle_threads    idle request threads kept (default: -1, no limit)\n"
      "    -o max_threads         request threads at most (default: 10)\n");
}

void fuse_lowlevel_help(void) {
  std::printf(
      "    -o allow_other         every user may reach the mount\n"
      "    -o allow_root          root may reach the mount too (as allow_other on LinFsp)\n"
      "    -o auto_unmount        unmount when the process ends (always, on LinFsp)\n"
      "    -o io_uring            serve over FUSE-over-io_uring where the kernel allows it\n");
}

void fuse_lowlevel_version(void) {
  std::printf("using FUSE kernel interface version %u.%u (LinFsp %s)\n", FUSE_KERNEL_VERSION,
              linfsp::kernel::kMaxMinor, linfsp::version().c_str());
}

int fuse_daemonize(int foreground) {
  if (foreground) return 0;
  int ready[2];
  if (pipe(ready) == -1) {
    fuse_log(FUSE_LOG_ERR, "fuse: daemonize: pipe: %s\n", std::strerror(errno));
    return -1;
  }
  switch (fork()) {
    case -1:
      fuse_log(FUSE_LOG_ERR, "fuse: daemonize: fork: %s\n", std::strerror(errno));
      close(ready[0]);
      close(ready[1]);
      return -1;
    case 0:
      break;
    default: {
      // The parent leaves once the child is set up (or gone).
      close(ready[1]);
      char byte;
      while (read(ready[0], &byte, 1) < 0 && errno == EINTR) {
      }
      _exit(0);
    }
  }
  close(ready[0]);
  if (setsid() == -1) {
    fuse_log(FUSE_LOG_ERR, "fuse: daemonize: setsid: %s\n", std::strerror(errno));
    close(ready[1]);
    return -1;
  }
  if (chdir("/") == -1) {
    // Not fatal: the daemon keeps its directory.
  }
  int null = open("/dev/null", O_RDWR);
  if (null != -1) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
  char byte = 0;
  ssize_t n = write(ready[1], &byte, 1);
  (void)n;
  close(ready[1]);
  return 0;
}

int fuse_set_signal_handlers(struct fuse_session* se) {
  if (se == nullptr) return -1;
  if (swap_handler(SIGHUP, end_session_on_signal, false) == -1 ||
      swap_handler(SIGINT, end_session_on_signal, false) == -1 ||
      swap_handler(SIGTERM, end_session_on_signal, false) == -1 || swap_handler(SIGPIPE, ignore_signal, false) == -1) {
    return -1;
  }
  signal_session = se;
  return 0;
}

void fuse_remove_signal_handlers(struct fuse_session* se) {
  if (signal_session != se) {
    fuse_log(FUSE_LOG_ERR, "fuse: fuse_remove_signal_handlers: not the session the handlers serve\n");
  } else {
    signal_session = nullptr;
  }
  swap_handler(SIGHUP, end_session_on_signal, true);
  swap_handler(SIGINT, end_session_on_signal, true);
  swap_handler(SIGTERM, end_session_on_signal, true);
  swap_handler(SIGPIPE, ignore_signal, true);
}

struct fuse_conn_info_opts* fuse_parse_conn_info_opts(struct fuse_args* args) {
  auto* opts = static_cast<fuse_conn_info_opts*>(std::calloc(1, sizeof(fuse_conn_info_opts)));
  if (opts == nullptr) return nullptr;
  static const fuse_opt none[] = {FUSE_OPT_END};
  if (fuse_opt_parse(args, opts, none, take_conn_arg) == -1) {
    std::free(opts);
    return nullptr;
  }
  return opts;
}

void fuse_apply_conn_info_opts(struct fuse_conn_info_opts* opts, struct fuse_conn_info* conn) {
  conn->want |= opts->set & conn->capable;
  conn->want &= ~opts->unset;
  if (opts->max_write) conn->max_write = opts->max_write;
  if (opts->max_readahead) conn->max_readahead = opts->max_readahead;
  if (opts->max_background) conn->max_background = opts->max_background;
  if (opts->congestion_threshold) conn->congestion_threshold = opts->congestion_threshold;
  if (opts->time_gran) conn->time_gran = opts->time_gran;
}

}  // extern "C"
