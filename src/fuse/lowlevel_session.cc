// The session's life: fuse_session_new (options), mount, the loops, exit,
// unmount, destroy; shared by the low-level API and struct fuse. The host
// mounts in fuse_session_mount() and serves from the loop, so a program may
// fuse_daemonize() (fork) in between: the request threads are created in
// the process that serves.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "fuse/lowlevel.h"

namespace linfsp::fuse {
namespace {

struct ParseState {
  HostOptions* options;
  std::vector<Option> table;
  bool failed = false;
};

bool key_matches(const std::string& pattern, const std::string& key) {
  if (pattern.empty() || pattern[0] == '-') return false;  // a command-line switch, not a -o key
  if (pattern.back() == '*') return key.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  return pattern == key;
}

// One option or argument of fuse_session_new's args.
int take_arg(void* data, const char* arg, int key, fuse_args*) {
  auto* st = static_cast<ParseState*>(data);
  std::string a = arg;
  if (key == FUSE_OPT_KEY_NONOPT) {
    fuse_log(FUSE_LOG_ERR, "fuse: unknown argument `%s'\n", arg);
    return -1;
  }
  if (a == "-d" || a == "--debug" || a == "debug") {
    st->options->debug = true;
    return 0;
  }
  if (!a.empty() && a[0] == '-') {
    fuse_log(FUSE_LOG_ERR, "fuse: unknown option `%s'\n", arg);
    return -1;
  }
  size_t eq = a.find('=');
  std::string name = a.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
  // libfuse's own mount options that LinFsp has no use for.
  if (name == "auto_unmount" || name == "max_read" || name == "blksize" || name == "blkdev") return 0;
  if (name == "allow_root") {
    // Approximation: the kernel has no "root too" mode; fusermount3 lets
    // root in through allow_other, which requires user_allow_other.
    st->options->allow_other = true;
    return 0;
  }
  if (name == "io_uring") {
    st->options->uring = true;
    return 0;
  }
  for (const Option& opt : st->table) {
    for (const std::string& n : opt.names) {
      if (!key_matches(n, name)) continue;
      if (Status s = opt.set(value); !s) {
        fuse_log(FUSE_LOG_ERR, "fuse: option `%s': %s\n", arg, s.message().c_str());
        return -1;
      }
      return 0;
    }
  }
  fuse_log(FUSE_LOG_ERR, "fuse: unknown option `%s'\n", arg);
  return -1;
}

}  // namespace

bool parse_session_args(fuse_args* args, HostOptions* options) {
  ParseState st{options, host_options(options)};
  static const fuse_opt none[] = {FUSE_OPT_END};
  if (args == nullptr || args->argc == 0) return true;
  // Parse a copy: libfuse leaves the caller's args alone here.
  fuse_args copy = FUSE_ARGS_INIT(0, nullptr);
  for (int i = 0; i < args->argc; ++i) {
    if (fuse_opt_add_arg(&copy, args->argv[i]) != 0) return false;
  }
  int res = fuse_opt_parse(&copy, &st, none, take_arg);
  fuse_opt_free_args(&copy);
  return res == 0;
}

int serve_session(fuse_session* se, unsigned threads) {
  if (se == nullptr || se->host == nullptr) {
    fuse_log(FUSE_LOG_ERR, "fuse: the session is not mounted (call fuse_session_mount first)\n");
    return -EINVAL;
  }
  int efd = se->wake_fd.load();
  if (efd < 0) {
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) return -errno;
    se->wake_fd.store(efd);
  }
  uint64_t drained;
  while (read(efd, &drained, sizeof(drained)) > 0) {
  }
  if (se->exited.load()) return se->error.load();
  if (Status s = se->host->serve(threads); !s) {
    fuse_log(FUSE_LOG_ERR, "fuse: %s\n", s.message().c_str());
    return -(s.err() > 0 ? s.err() : EIO);
  }
  // The host ends by itself when the kernel says the mount went away.
  std::thread watcher([se, efd] {
    se->host->wait();
    uint64_t one = 1;
    ssize_t n = write(efd, &one, sizeof(one));
    (void)n;
  });
  for (;;) {
    if (se->exited.load()) break;
    pollfd p{efd, POLLIN, 0};
    int n = ::poll(&p, 1, -1);
    if (n < 0 && errno == EINTR) continue;
    break;  // woken: exit, unmount, or a poll failure
  }
  se->exited.store(1);
  se->host->stop();  // unmount; the request threads end
  watcher.join();
  // The low-level program's destroy(), now that no request runs.
  if (se->owned_node_fs) static_cast<LowLevelFs*>(se->owned_node_fs.get())->finish();
  return se->error.load();
}

}  // namespace linfsp::fuse

using linfsp::fuse::serve_session;

extern "C" {

int fuse_session_loop_mt_31(struct fuse_session* se, int clone_fd);
int fuse_session_loop_mt_32(struct fuse_session* se, struct fuse_loop_config_v1* config);
int fuse_session_loop_mt_312(struct fuse_session* se, struct fuse_loop_config* config);

// libfuse's versions: a program built for API < 3.2 calls fuse_session_loop_mt@FUSE_3.0
// with an int, one for 3.2 .. 3.11 @FUSE_3.2 with the old configuration, a newer one
// the default @@FUSE_3.12 with the opaque configuration.
__asm__(".symver fuse_session_loop_mt_31,fuse_session_loop_mt@FUSE_3.0");
__asm__(".symver fuse_session_loop_mt_32,fuse_session_loop_mt@FUSE_3.2");
__asm__(".symver fuse_session_loop_mt_312,fuse_session_loop_mt@@FUSE_3.12");

struct fuse_session* fuse_session_new(struct fuse_args* args, const struct fuse_lowlevel_ops* op, size_t op_size,
                                      void* userdata) {
  if (op == nullptr) return nullptr;
  if (op_size > sizeof(fuse_lowlevel_ops)) {
    fuse_log(FUSE_LOG_ERR, "fuse: warning: the operations table is larger than this library knows\n");
    op_size = sizeof(fuse_lowlevel_ops);
  }
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof(ops));
  std::memcpy(&ops, op, op_size);

  auto se = std::make_unique<fuse_session>();
  if (args && args->argc > 0 && args->argv[0] && args->argv[0][0]) {
    const char* base = std::strrchr(args->argv[0], '/');
    se->options.fsname = base ? base + 1 : args->argv[0];
  }
  // libfuse 3 mounts over non-empty directories.
  se->options.allow_nonempty = true;
  if (!linfsp::fuse::parse_session_args(args, &se->options)) return nullptr;
  if (se->options.debug) fuse_log(FUSE_LOG_DEBUG, "FUSE library version: %s\n", fuse_pkgversion());
  se->owned_node_fs = std::make_unique<linfsp::fuse::LowLevelFs>(ops, userdata, se.get());
  se->node_fs = se->owned_node_fs.get();
  return se.release();
}

int fuse_session_custom_io(struct fuse_session*, const struct fuse_custom_io*, int) {
  fuse_log(FUSE_LOG_ERR, "fuse: fuse_session_custom_io is not supported by LinFsp\n");
  return -EOPNOTSUPP;
}

int fuse_session_mount(struct fuse_session* se, const char* mountpoint) {
  if (se == nullptr || mountpoint == nullptr) return -1;
  if (se->host) {
    fuse_log(FUSE_LOG_ERR, "fuse: the session is mounted already\n");
    return -1;
  }
  if (std::strncmp(mountpoint, "/dev/fd/", 8) == 0) {
    fuse_log(FUSE_LOG_ERR, "fuse: mounting on %s (a descriptor from the caller) is not supported\n", mountpoint);
    return -1;
  }
  se->mountpoint = mountpoint;
  se->options.mountpoint = mountpoint;
  if (se->node_fs) {
    se->host = std::make_unique<linfsp::FileSystemHost>(*se->node_fs, se->options);
  } else if (se->path_fs) {
    se->host = std::make_unique<linfsp::FileSystemHost>(*se->path_fs, se->options);
  } else {
    return -1;
  }
  if (linfsp::Status s = se->host->mount(); !s) {
    fuse_log(FUSE_LOG_ERR, "fuse: %s\n", s.message().c_str());
    se->host.reset();
    return -1;
  }
  return 0;
}

int fuse_session_fd(struct fuse_session* se) { return se && se->host ? se->host->fuse_fd() : -1; }

int fuse_session_loop(struct fuse_session* se) {
  if (se) se->single_threaded.store(true);
  return serve_session(se, 1);
}

int fuse_session_loop_mt_312(struct fuse_session* se, struct fuse_loop_config* config) {
  if (se) se->single_threaded.store(false);
  unsigned threads = config && config->max_threads ? config->max_threads : 10;
  return serve_session(se, threads);
}

int fuse_session_loop_mt_32(struct fuse_session* se, struct fuse_loop_config_v1*) { return serve_session(se, 10); }

int fuse_session_loop_mt_31(struct fuse_session* se, int) { return serve_session(se, 10); }

void fuse_session_exit(struct fuse_session* se) {
  // Async-signal-safe: an atomic store and a write(2).
  se->exited.store(1);
  int fd = se->wake_fd.load();
  if (fd >= 0) {
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof(one));
    (void)n;
  }
}

void fuse_session_reset(struct fuse_session* se) {
  se->exited.store(0);
  se->error.store(0);
}

int fuse_session_exited(struct fuse_session* se) { return se->exited.load(); }

void fuse_session_unmount(struct fuse_session* se) {
  if (se && se->host) se->host->stop();
  if (se && se->owned_node_fs) static_cast<linfsp::fuse::LowLevelFs*>(se->owned_node_fs.get())->finish();
}

void fuse_session_destroy(struct fuse_session* se) {
  if (se == nullptr) return;
  if (se->host) se->host->stop();
  if (se->owned_node_fs) static_cast<linfsp::fuse::LowLevelFs*>(se->owned_node_fs.get())->finish();
  se->host.reset();
  delete se;
}

int fuse_session_receive_buf(struct fuse_session* se, struct fuse_buf* buf) {
  // LinFsp reads the device itself: serve until the session ends, then
  // report the end of the connection (0), which ends a custom loop.
  se->single_threaded.store(true);
  int res = serve_session(se, 1);
  if (buf) buf->size = 0;
  return res < 0 ? res : 0;
}

void fuse_session_process_buf(struct fuse_session*, const struct fuse_buf*) {}

struct fuse_loop_config* fuse_loop_cfg_create(void) { return new (std::nothrow) fuse_loop_config; }

void fuse_loop_cfg_destroy(struct fuse_loop_config* config) { delete config; }

void fuse_loop_cfg_set_idle_threads(struct fuse_loop_config* config, unsigned int value) {
  config->max_idle_threads = value;
}

void fuse_loop_cfg_set_max_threads(struct fuse_loop_config* config, unsigned int value) {
  config->max_threads = value;
}

void fuse_loop_cfg_set_clone_fd(struct fuse_loop_config* config, unsigned int value) {
  config->clone_fd = static_cast<int>(value);
}

void fuse_loop_cfg_convert(struct fuse_loop_config* config, struct fuse_loop_config_v1* v1_conf) {
  config->clone_fd = v1_conf->clone_fd;
  config->max_idle_threads = v1_conf->max_idle_threads;
}

}  // extern "C"
