// struct fuse's life and libfuse's high-level entry points: fuse_new (the
// fuse_config options, then the session's mount options), fuse_mount (init,
// then the session mounts), the loops, fuse_destroy (destroy), fuse_main,
// and the context functions operations call.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "fuse/highlevel.h"
#include "fuse/lowlevel.h"

namespace linfsp::fuse {
namespace {

// Bit of FUSE_CAP_* LinFsp's host offers a path file system (it asks the
// kernel for the rest itself or has no use for them).
constexpr unsigned kCapable = FUSE_CAP_ASYNC_READ | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_ATOMIC_O_TRUNC |
                              FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_READDIRPLUS |
                              FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_PARALLEL_DIROPS |
                              FUSE_CAP_CACHE_SYMLINKS | FUSE_CAP_EXPORT_SUPPORT;

// libfuse's defaults for what a file system wants.
constexpr unsigned kWantedByDefault = FUSE_CAP_ASYNC_READ | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_ATOMIC_O_TRUNC |
                                      FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_READDIRPLUS |
                                      FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_PARALLEL_DIROPS;

#define LINFSP_CONF(templ, field, value) \
  { templ, offsetof(struct fuse_config, field), value }

// The options fuse_new takes for itself; the session takes the rest.
const fuse_opt kConfigOptions[] = {
    LINFSP_CONF("debug", debug, 1),
    LINFSP_CONF("-d", debug, 1),
    LINFSP_CONF("kernel_cache", kernel_cache, 1),
    LINFSP_CONF("auto_cache", auto_cache, 1),
    LINFSP_CONF("noauto_cache", auto_cache, 0),
    LINFSP_CONF("no_rofd_flush", no_rofd_flush, 1),
    LINFSP_CONF("umask=", set_mode, 1),
    LINFSP_CONF("umask=%o", umask, 0),
    LINFSP_CONF("uid=", set_uid, 1),
    LINFSP_CONF("uid=%d", uid, 0),
    LINFSP_CONF("gid=", set_gid, 1),
    LINFSP_CONF("gid=%d", gid, 0),
    LINFSP_CONF("entry_timeout=%lf", entry_timeout, 0),
    LINFSP_CONF("attr_timeout=%lf", attr_timeout, 0),
    LINFSP_CONF("ac_attr_timeout=%lf", ac_attr_timeout, 0),
    LINFSP_CONF("ac_attr_timeout=", ac_attr_timeout_set, 1),
    LINFSP_CONF("negative_timeout=%lf", negative_timeout, 0),
    LINFSP_CONF("noforget", remember, -1),
    LINFSP_CONF("remember=%u", remember, 0),
    LINFSP_CONF("modules=%s", modules, 0),
    LINFSP_CONF("hard_remove", hard_remove, 1),
    LINFSP_CONF("use_ino", use_ino, 1),
    LINFSP_CONF("readdir_ino", readdir_ino, 1),
    LINFSP_CONF("direct_io", direct_io, 1),
    LINFSP_CONF("nullpath_ok", nullpath_ok, 1),
    LINFSP_CONF("intr", intr, 1),
    LINFSP_CONF("nointr", intr, 0),
    LINFSP_CONF("intr_signal=%d", intr_signal, 0),
    LINFSP_CONF("-h", show_help, 1),
    LINFSP_CONF("--help", show_help, 1),
    FUSE_OPT_END,
};

#undef LINFSP_CONF

// Anything that is not ours stays in args for the session.
int keep_the_rest(void*, const char*, int, fuse_args*) { return 1; }

void free_fuse(::fuse* f) {
  if (f == nullptr) return;
  if (f->se) fuse_session_destroy(f->se);
  f->se = nullptr;
  f->path_fs.reset();
  std::free(f->conf.modules);
  delete f->fs;
  delete f;
}

// The operations run from here on with what init() and the options said.
void apply_config(::fuse* f) {
  HostOptions& o = f->se->options;
  const fuse_config& c = f->conf;
  o.entry_timeout = c.entry_timeout > 0 ? c.entry_timeout : 0;
  o.attr_timeout = c.attr_timeout > 0 ? c.attr_timeout : 0;
  o.negative_timeout = c.negative_timeout > 0 ? c.negative_timeout : 0;
  if (c.debug) o.debug = true;
  o.writeback_cache = f->conn.want & FUSE_CAP_WRITEBACK_CACHE;
  o.auto_inval_data = f->conn.want & FUSE_CAP_AUTO_INVAL_DATA;
  if (f->conn.max_write >= 4096 && f->conn.max_write < o.max_write) o.max_write = f->conn.max_write;
}

::fuse* new_fuse(fuse_args* args, const fuse_operations* op, size_t op_size, void* user_data) {
  auto* f = new ::fuse;
  f->conf.entry_timeout = 1.0;
  f->conf.attr_timeout = 1.0;
  f->conf.negative_timeout = 0.0;
  f->conf.intr_signal = SIGUSR1;
  f->fs = new_fs(op, op_size, user_data);
  if (f->fs == nullptr) {
    delete f;
    return nullptr;
  }
  fuse_args none = FUSE_ARGS_INIT(0, nullptr);
  if (args == nullptr) args = &none;
  if (fuse_opt_parse(args, &f->conf, kConfigOptions, keep_the_rest) == -1) {
    free_fuse(f);
    return nullptr;
  }
  if (f->conf.show_help) {
    fuse_lib_help(args);
    free_fuse(f);
    return nullptr;
  }
  if (f->conf.modules != nullptr) {
    fuse_log(FUSE_LOG_ERR,
             "fuse: -o modules=%s: LinFsp loads no file system modules (subdir, iconv); "
             "mount the file system without them\n",
             f->conf.modules);
    free_fuse(f);
    return nullptr;
  }
  if (!f->conf.ac_attr_timeout_set) f->conf.ac_attr_timeout = f->conf.attr_timeout;
  f->fs->debug = f->conf.debug;

  auto se = std::make_unique<fuse_session>();
  if (args->argc > 0 && args->argv[0] != nullptr && args->argv[0][0] != '\0') {
    const char* base = std::strrchr(args->argv[0], '/');
    se->options.fsname = base ? base + 1 : args->argv[0];
  }
  se->options.allow_nonempty = true;  // libfuse 3 mounts over non-empty directories
  if (!parse_session_args(args, &se->options)) {
    free_fuse(f);
    return nullptr;
  }
  f->path_fs = std::make_unique<FuseFileSystem>(f);
  se->path_fs = f->path_fs.get();
  f->se = se.release();
  f->conn.proto_major = 7;
  f->conn.proto_minor = 31;
  f->conn.capable = kCapable;
  f->conn.want = kWantedByDefault;
  f->conn.max_write = f->se->options.max_write;
  f->conn.max_read = f->se->options.max_write;
  f->conn.max_readahead = 128 * 1024;
  f->conn.max_background = 12;
  f->conn.congestion_threshold = 9;
  apply_config(f);
  return f;
}

}  // namespace
}  // namespace linfsp::fuse

using linfsp::fuse::CallScope;

extern "C" {

struct fuse* fuse_new_31(struct fuse_args* args, const struct fuse_operations* op, size_t op_size,
                         void* user_data);
struct fuse* fuse_new_30(struct fuse_args* args, const struct fuse_operations* op, size_t op_size,
                         void* user_data);
int fuse_loop_mt_31(struct fuse* f, int clone_fd);
int fuse_loop_mt_32(struct fuse* f, struct fuse_loop_config_v1* config);
int fuse_loop_mt_312(struct fuse* f, struct fuse_loop_config* config);
// The session's and the command line's current versions, by their own names
// (the header names them by their default versions).
int fuse_session_loop_mt_312(struct fuse_session* se, struct fuse_loop_config* config);
int fuse_parse_cmdline_312(struct fuse_args* args, struct fuse_cmdline_opts* opts);

// libfuse's versions: fuse_new@FUSE_3.0 is the API-30 one, the default
// @@FUSE_3.1 the later; fuse_loop_mt has one per loop-configuration layout.
__asm__(".symver fuse_new_30,fuse_new@FUSE_3.0");
__asm__(".symver fuse_new_31,fuse_new@@FUSE_3.1");
__asm__(".symver fuse_loop_mt_31,fuse_loop_mt@FUSE_3.0");
__asm__(".symver fuse_loop_mt_32,fuse_loop_mt@FUSE_3.2");
__asm__(".symver fuse_loop_mt_312,fuse_loop_mt@@FUSE_3.12");

struct fuse* fuse_new_31(struct fuse_args* args, const struct fuse_operations* op, size_t op_size,
                         void* user_data) {
  return linfsp::fuse::new_fuse(args, op, op_size, user_data);
}

struct fuse* fuse_new_30(struct fuse_args* args, const struct fuse_operations* op, size_t op_size,
                         void* user_data) {
  // API 30 had -h in fuse_new itself; the later one handles it the same.
  return linfsp::fuse::new_fuse(args, op, op_size, user_data);
}

void fuse_lib_help(struct fuse_args* args) {
  (void)args;
  std::printf(
      "    -o hard_remove         remove open files at once (no .fuse_hidden names)\n"
      "    -o use_ino             report the file system's own inode numbers\n"
      "    -o readdir_ino         (accepted; listings always carry inode numbers)\n"
      "    -o direct_io           every open bypasses the page cache\n"
      "    -o kernel_cache        keep cached file data across opens\n"
      "    -o [no]auto_cache      keep cached data while mtime and size stay (off)\n"
      "    -o no_rofd_flush       (accepted) no flush when a read-only file closes\n"
      "    -o umask=M             report permissions 0777 & ~M (octal)\n"
      "    -o uid=N               report owner N for every file\n"
      "    -o gid=N               report group N for every file\n"
      "    -o entry_timeout=T     seconds the kernel caches names (1.0)\n"
      "    -o negative_timeout=T  seconds it caches absent names (0.0)\n"
      "    -o attr_timeout=T      seconds it caches attributes (1.0)\n"
      "    -o ac_attr_timeout=T   attribute timeout of auto_cache (attr_timeout)\n"
      "    -o noforget            (accepted) inode numbers are never forgotten\n"
      "    -o remember=T          (accepted) inode numbers are never forgotten\n"
      "    -o nullpath_ok         operations on open files may get a NULL path\n"
      "    -o [no]intr            (accepted) fuse_interrupted() reports interrupts\n"
      "    -o intr_signal=NUM     (accepted; no signal is sent) default %d\n"
      "\n",
      SIGUSR1);
  fuse_lowlevel_help();
}

int fuse_mount(struct fuse* f, const char* mountpoint) {
  if (f == nullptr || mountpoint == nullptr) return -1;
  if (!f->initialized) {
    // Before the session mounts: the volume reads the root and takes its
    // cache timeouts then, and init() may change both.
    CallScope scope(f, nullptr);
    fuse_fs_init(f->fs, &f->conn, &f->conf);
    f->initialized = true;
    linfsp::fuse::apply_config(f);
  }
  return fuse_session_mount(f->se, mountpoint) == 0 ? 0 : -1;
}

void fuse_unmount(struct fuse* f) {
  if (f != nullptr) fuse_session_unmount(f->se);
}

void fuse_destroy(struct fuse* f) {
  if (f == nullptr) return;
  // The host stops first: no operation runs while destroy() does.
  if (f->se && f->se->host) f->se->host->stop();
  if (f->initialized) {
    CallScope scope(f, nullptr);
    fuse_fs_destroy(f->fs);
    f->initialized = false;
  }
  linfsp::fuse::free_fuse(f);
}

int fuse_loop(struct fuse* f) {
  if (f == nullptr) return -1;
  return fuse_session_loop(f->se);
}

int fuse_loop_mt_312(struct fuse* f, struct fuse_loop_config* config) {
  if (f == nullptr) return -1;
  return fuse_session_loop_mt_312(f->se, config);
}

int fuse_loop_mt_32(struct fuse* f, struct fuse_loop_config_v1* config) {
  if (f == nullptr) return -1;
  struct fuse_loop_config* c = fuse_loop_cfg_create();
  if (c == nullptr) return -ENOMEM;
  if (config != nullptr) fuse_loop_cfg_convert(c, config);
  int res = fuse_loop_mt_312(f, c);
  fuse_loop_cfg_destroy(c);
  return res;
}

int fuse_loop_mt_31(struct fuse* f, int clone_fd) {
  struct fuse_loop_config_v1 config {};
  config.clone_fd = clone_fd;
  config.max_idle_threads = 10;
  return fuse_loop_mt_32(f, &config);
}

void fuse_exit(struct fuse* f) {
  if (f != nullptr) fuse_session_exit(f->se);
}

struct fuse_session* fuse_get_session(struct fuse* f) { return f ? f->se : nullptr; }

struct fuse_context* fuse_get_context(void) { return linfsp::fuse::thread_context(); }

int fuse_getgroups(int size, gid_t list[]) {
  const linfsp::Caller* caller = linfsp::fuse::current_caller();
  if (caller == nullptr) return -EINVAL;
  std::vector<gid_t> groups;
  if (linfsp::Status s = caller->supplementary_groups(&groups); !s) return -s.err();
  for (int i = 0; i < size && static_cast<size_t>(i) < groups.size(); ++i) list[i] = groups[i];
  return static_cast<int>(groups.size());
}

int fuse_interrupted(void) {
  const linfsp::Caller* caller = linfsp::fuse::current_caller();
  return caller != nullptr && caller->is_interrupted() ? 1 : 0;
}

int fuse_invalidate_path(struct fuse* f, const char* path) {
  if (f == nullptr || !f->path_fs) return -EINVAL;
  return f->path_fs->invalidate_path(path);
}

int fuse_notify_poll(struct fuse_pollhandle* ph) {
  if (ph == nullptr) return -EINVAL;
  // Handles of a high-level session come from FuseFileSystem::poll.
  if (ph->se != nullptr && ph->se->path_fs != nullptr) {
    return static_cast<linfsp::fuse::FuseFileSystem*>(ph->se->path_fs)->wake_poll(ph->kernel_handle);
  }
  return fuse_lowlevel_notify_poll(ph);
}

int fuse_start_cleanup_thread(struct fuse*) { return 0; }
void fuse_stop_cleanup_thread(struct fuse*) {}
int fuse_clean_cache(struct fuse*) { return 3600; }

int fuse_open_channel(const char* mountpoint, const char* options) {
  (void)mountpoint;
  (void)options;
  fuse_log(FUSE_LOG_ERR, "fuse: fuse_open_channel is not supported by LinFsp (it mounts and serves itself)\n");
  errno = ENOTSUP;
  return -1;
}

int fuse_main_real(int argc, char* argv[], const struct fuse_operations* op, size_t op_size, void* user_data) {
  fuse_args args = FUSE_ARGS_INIT(argc, argv);
  fuse_cmdline_opts opts{};
  if (fuse_parse_cmdline_312(&args, &opts) != 0) return 1;
  int res = 0;
  struct fuse* f = nullptr;
  struct fuse_loop_config* loop_config = nullptr;
  if (opts.show_version) {
    std::printf("FUSE library version %s\n", fuse_pkgversion());
    fuse_lowlevel_version();
    goto done;
  }
  if (opts.show_help) {
    if (args.argv[0] != nullptr && args.argv[0][0] != '\0') std::printf("usage: %s [options] <mountpoint>\n\n", args.argv[0]);
    std::printf("FUSE options:\n");
    fuse_cmdline_help();
    fuse_lib_help(&args);
    goto done;
  }
  if (opts.mountpoint == nullptr) {
    fuse_log(FUSE_LOG_ERR, "error: no mountpoint specified\n");
    res = 2;
    goto done;
  }
  f = fuse_new_31(&args, op, op_size, user_data);
  if (f == nullptr) {
    res = 3;
    goto done;
  }
  if (fuse_mount(f, opts.mountpoint) != 0) {
    res = 4;
    goto destroy;
  }
  if (fuse_daemonize(opts.foreground) != 0) {
    res = 5;
    goto unmount;
  }
  if (fuse_set_signal_handlers(f->se) != 0) {
    res = 6;
    goto unmount;
  }
  if (opts.singlethread) {
    res = fuse_loop(f);
  } else {
    loop_config = fuse_loop_cfg_create();
    if (loop_config == nullptr) {
      res = 7;
      goto unmount;
    }
    fuse_loop_cfg_set_clone_fd(loop_config, static_cast<unsigned>(opts.clone_fd));
    fuse_loop_cfg_set_idle_threads(loop_config, opts.max_idle_threads);
    fuse_loop_cfg_set_max_threads(loop_config, opts.max_threads);
    res = fuse_loop_mt_312(f, loop_config);
  }
  if (res != 0) res = 8;  // as libfuse: a loop ended by a signal or an error
  fuse_remove_signal_handlers(f->se);
unmount:
  fuse_unmount(f);
destroy:
  fuse_destroy(f);
done:
  if (loop_config != nullptr) fuse_loop_cfg_destroy(loop_config);
  std::free(opts.mountpoint);
  fuse_opt_free_args(&args);
  return res;
}

}  // extern "C"
