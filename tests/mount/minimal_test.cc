// Issue 10: "Minimal file systems never crash" and "Exceptions and locks".
//
// - The README's HelloFs (samples/hello) survives ls, stat, cat, touch and
//   mkdir, and exits 0 when unmounted.
// - minimal_fs, which implements only get_file_info, survives the compat
//   suite and every system call the suite makes, each from a forked child.
// - A file system whose rename, create and read_directory throw keeps
//   serving renames, opens, mkdir, listings and notify sessions afterwards.
//
// Errors from the file systems are expected; a crash or a hang fails. Every
// system call runs with a time limit (a child killed after it, or a thread
// watched by fail_hang), so a hang ends the test instead of wedging ctest.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "linfsp/host.h"
#include "embedded_host.h"
#include "mount_guard.h"

namespace linfsp::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kCallLimit = 20s;  // one system call or one command

std::string minimal_fs_binary() {
  const char* env = std::getenv("LINFSP_MINIMAL_FS");
  return env ? env : LINFSP_MINIMAL_FS_BINARY;
}

std::string compat_binary() {
  const char* env = std::getenv("LINFSP_COMPAT");
  return env ? env : LINFSP_COMPAT_BINARY;
}

std::string compat_in_place_binary() {
  const char* env = std::getenv("LINFSP_COMPAT_IN_PLACE");
  return env ? env : LINFSP_COMPAT_IN_PLACE_BINARY;
}

std::string errno_name(int err) {
  if (err == 0) return "success";
  const char* name = strerrorname_np(err);
  return name ? name : "errno " + std::to_string(err);
}

// Runs `fn` in a forked child and returns its result: 0 for success, the
// errno for a failure (fn returns -1 with errno set), or -1 when it did not
// end within `limit` (the child is then killed).
int in_child(const std::function<long()>& fn, std::chrono::milliseconds limit = kCallLimit) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    errno = 0;
    long r = fn();
    _exit(r == -1 ? (errno & 0xff ? errno & 0xff : 255) : 0);
  }
  if (pid < 0) return -2;
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(2ms);
  }
  kill(pid, SIGKILL);
  for (int i = 0; i < 500 && waitpid(pid, nullptr, WNOHANG) != pid; ++i) std::this_thread::sleep_for(10ms);
  return -1;
}

// The file system process runs and its mount answers a stat of the root.
::testing::AssertionResult serving(MountedMemfs& fs, const std::string& after) {
  if (!fs.alive()) {
    return ::testing::AssertionFailure() << "the file system died after " << after << " (exit status "
                                         << fs.exit_status() << ", 128+N is signal N); its log:\n"
                                         << fs.log();
  }
  const std::string root = fs.dir();
  int r = in_child([&] {
    struct stat st;
    return static_cast<long>(stat(root.c_str(), &st));
  });
  if (r == -1) return ::testing::AssertionFailure() << "a stat of the root hangs after " << after;
  if (r != 0) return ::testing::AssertionFailure() << "a stat of the root fails after " << after << ": " << errno_name(r);
  return ::testing::AssertionSuccess();
}

std::unique_ptr<MountedMemfs> start_program(const std::string& binary, const std::vector<std::string>& args = {}) {
  std::string error;
  auto fs = MountedMemfs::start_binary(binary, args, &error);
  EXPECT_TRUE(fs) << error;
  return fs;
}

// Unmounts from outside and expects the process to exit 0 by itself.
void expect_clean_exit(MountedMemfs& fs) {
  std::string out;
  EXPECT_EQ(run("umount " + fs.dir(), &out), 0) << out;
  EXPECT_EQ(fs.wait_exit(20s), 0) << fs.log();
  EXPECT_FALSE(is_mounted(fs.dir()));
}

// ---- The README's example ------------------------------------------------

TEST(MinimalFs, ReadmeHelloSurvivesLsStatCatTouchMkdir) {
  auto fs = start_program(hello_binary());
  ASSERT_TRUE(fs);
  const std::string d = fs->dir();
  const std::string limit = "timeout -s KILL " + std::to_string(kCallLimit.count()) + " ";
  for (const std::string& cmd : {"ls " + d, "ls -la " + d, "stat " + d, "stat " + d + "/missing",
                                 "cat " + d + "/missing", "cat " + d, "touch " + d + "/new",
                                 "mkdir " + d + "/dir", "ls " + d}) {
    std::string out;
    int rc = run(limit + cmd, &out);
    ASSERT_NE(rc, 137) << cmd << " hangs";
    ASSERT_TRUE(serving(*fs, "`" + cmd + "` (exit " + std::to_string(rc) + ": " + out + ")"));
  }
  expect_clean_exit(*fs);
}

// ---- A file system with get_file_info only --------------------------------

TEST(MinimalFs, GetFileInfoOnlySurvivesTheCompatSuite) {
  auto fs = start_program(minimal_fs_binary(), {"-o", "allow_other"});
  ASSERT_TRUE(fs);
  // fsp-compat keeps going after failed checks; it stops early here, since
  // it cannot create its scratch directory without mkdir.
  // Each run is bounded (50 s, a group 20 s) inside the test's watchdog (120 s).
  std::string out;
  int rc = run("timeout -s KILL 50 " + compat_binary() + " " + fs->dir() + " --timeout 20", &out);
  EXPECT_NE(rc, 137) << "fsp-compat was killed after 50 s:\n" << out;
  EXPECT_NE(rc, 3) << "fsp-compat reports a hang:\n" << out;
  std::printf("fsp-compat exited %d:\n%s", rc, out.c_str());
  ASSERT_TRUE(serving(*fs, "fsp-compat (exit " + std::to_string(rc) + "):\n" + out));
  // So every group of the suite runs again with the mount's root as its
  // working directory: every system call the suite makes reaches the mount.
  rc = run("timeout -s KILL 50 " + compat_in_place_binary() + " " + fs->dir() + " --timeout 20", &out);
  EXPECT_NE(rc, 137) << "fsp-compat-in-place was killed after 50 s:\n" << out;
  EXPECT_NE(rc, 3) << "a compat group hangs:\n" << out;
  EXPECT_EQ(rc, 0) << out;
  ASSERT_TRUE(serving(*fs, "fsp-compat-in-place (exit " + std::to_string(rc) + "):\n" + out));
  expect_clean_exit(*fs);
}

struct Call {
  std::string name;
  std::function<long()> fn;
};

TEST(MinimalFs, GetFileInfoOnlySurvivesEachSystemCall) {
  auto fs = start_program(minimal_fs_binary());
  ASSERT_TRUE(fs);
  const std::string root = fs->dir(), f = fs->path("f"), missing = fs->path("missing"),
                    dir = fs->path("dir"), other = fs->path("other");
  const char *R = root.c_str(), *F = f.c_str(), *M = missing.c_str(), *D = dir.c_str(), *O = other.c_str();
  // Opens F (falling back to a file on /tmp is not wanted: -1 fails the call).
  auto with_fd = [F](int flags, const std::function<long(int)>& use) -> std::function<long()> {
    return [F, flags, use]() -> long {
      int fd = open(F, flags);
      if (fd < 0) return -1;
      long r = use(fd);
      int saved = errno;
      close(fd);
      errno = saved;
      return r;
    };
  };
  char buf[8192] = {};
  const std::vector<Call> calls = {
      {"stat f", [F] { struct stat st; return static_cast<long>(stat(F, &st)); }},
      {"lstat missing", [M] { struct stat st; return static_cast<long>(lstat(M, &st)); }},
      {"statx f", [F] { struct statx sx; return static_cast<long>(statx(AT_FDCWD, F, 0, STATX_ALL, &sx)); }},
      {"access f", [F] { return static_cast<long>(access(F, R_OK | W_OK)); }},
      {"open f O_RDONLY", [F] { int fd = open(F, O_RDONLY); return fd < 0 ? -1L : close(fd); }},
      {"open f O_RDWR", [F] { int fd = open(F, O_RDWR); return fd < 0 ? -1L : close(fd); }},
      {"open f O_WRONLY|O_TRUNC", [F] { int fd = open(F, O_WRONLY | O_TRUNC); return fd < 0 ? -1L : close(fd); }},
      {"open root O_DIRECTORY", [R] { int fd = open(R, O_RDONLY | O_DIRECTORY); return fd < 0 ? -1L : close(fd); }},
      {"open missing O_CREAT", [M] { int fd = open(M, O_CREAT | O_WRONLY, 0644); return fd < 0 ? -1L : close(fd); }},
      {"open missing O_CREAT|O_EXCL", [M] { int fd = open(M, O_CREAT | O_EXCL | O_RDWR, 0644); return fd < 0 ? -1L : close(fd); }},
      {"open root O_TMPFILE", [R] { int fd = open(R, O_TMPFILE | O_RDWR, 0600); return fd < 0 ? -1L : close(fd); }},
      {"read f", with_fd(O_RDONLY, [&buf](int fd) { return static_cast<long>(read(fd, buf, sizeof(buf))); })},
      {"pread f", with_fd(O_RDONLY, [&buf](int fd) { return static_cast<long>(pread(fd, buf, 100, 1000)); })},
      {"write f", with_fd(O_WRONLY, [&buf](int fd) { return static_cast<long>(write(fd, buf, 100)); })},
      {"pwrite f", with_fd(O_RDWR, [&buf](int fd) { return static_cast<long>(pwrite(fd, buf, 100, 5000)); })},
      {"mmap f", with_fd(O_RDONLY, [](int fd) -> long {
         void* p = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
         if (p == MAP_FAILED) return -1;
         volatile char c = static_cast<char*>(p)[0];  // may be SIGBUS: the child's status says so
         (void)c;
         return munmap(p, 4096);
       })},
      {"fsync f", with_fd(O_RDWR, [](int fd) { return static_cast<long>(fsync(fd)); })},
      {"fdatasync f", with_fd(O_RDWR, [](int fd) { return static_cast<long>(fdatasync(fd)); })},
      {"ftruncate f", with_fd(O_RDWR, [](int fd) { return static_cast<long>(ftruncate(fd, 10)); })},
      {"truncate f", [F] { return static_cast<long>(truncate(F, 0)); }},
      {"fallocate f", with_fd(O_RDWR, [](int fd) { return static_cast<long>(fallocate(fd, 0, 0, 65536)); })},
      {"fallocate f PUNCH_HOLE", with_fd(O_RDWR, [](int fd) {
         return static_cast<long>(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
       })},
      {"lseek f SEEK_DATA", with_fd(O_RDONLY, [](int fd) { return static_cast<long>(lseek(fd, 0, SEEK_DATA)); })},
      {"lseek f SEEK_HOLE", with_fd(O_RDONLY, [](int fd) { return static_cast<long>(lseek(fd, 0, SEEK_HOLE)); })},
      {"copy_file_range f f", with_fd(O_RDWR, [](int fd) {
         loff_t in = 0, out = 8192;
         return static_cast<long>(copy_file_range(fd, &in, fd, &out, 100, 0));
       })},
      {"sendfile f", with_fd(O_RDONLY, [](int fd) -> long {
         int out = open("/dev/null", O_WRONLY);
         long r = sendfile(out, fd, nullptr, 4096);
         close(out);
         return r;
       })},
      {"flock f", with_fd(O_RDONLY, [](int fd) { return static_cast<long>(flock(fd, LOCK_EX | LOCK_NB)); })},
      {"fcntl F_SETLK f", with_fd(O_RDWR, [](int fd) {
         struct flock l = {};
         l.l_type = F_WRLCK;
         l.l_whence = SEEK_SET;
         l.l_len = 10;
         return static_cast<long>(fcntl(fd, F_SETLK, &l));
       })},
      {"fcntl F_GETLK f", with_fd(O_RDWR, [](int fd) {
         struct flock l = {};
         l.l_type = F_RDLCK;
         l.l_whence = SEEK_SET;
         return static_cast<long>(fcntl(fd, F_GETLK, &l));
       })},
      {"fcntl F_OFD_SETLK f", with_fd(O_RDWR, [](int fd) {
         struct flock l = {};
         l.l_type = F_WRLCK;
         l.l_whence = SEEK_SET;
         return static_cast<long>(fcntl(fd, F_OFD_SETLK, &l));
       })},
      {"ioctl FS_IOC_GETFLAGS f", with_fd(O_RDONLY, [](int fd) {
         int flags = 0;
         return static_cast<long>(ioctl(fd, FS_IOC_GETFLAGS, &flags));
       })},
      {"opendir/readdir root", [R]() -> long {
         DIR* d = opendir(R);
         if (!d) return -1;
         errno = 0;
         while (readdir(d) != nullptr) {
         }
         int saved = errno;
         closedir(d);
         errno = saved;
         return saved ? -1 : 0;
       }},
      {"getdents64 root", [R]() -> long {
         int fd = open(R, O_RDONLY | O_DIRECTORY);
         if (fd < 0) return -1;
         char b[4096];
         long n;
         while ((n = syscall(SYS_getdents64, fd, b, sizeof(b))) > 0) {
         }
         int saved = errno;
         close(fd);
         errno = saved;
         return n;
       }},
      {"getdents64 + lseek root", [R]() -> long {
         int fd = open(R, O_RDONLY | O_DIRECTORY);
         if (fd < 0) return -1;
         char b[64];
         syscall(SYS_getdents64, fd, b, sizeof(b));
         lseek(fd, 1, SEEK_SET);
         long n = syscall(SYS_getdents64, fd, b, sizeof(b));
         close(fd);
         return n;
       }},
      {"opendir f", [F]() -> long {
         DIR* d = opendir(F);
         return d ? closedir(d) : -1;
       }},
      {"fsync root", [R]() -> long {
         int fd = open(R, O_RDONLY | O_DIRECTORY);
         if (fd < 0) return -1;
         long r = fsync(fd);
         close(fd);
         return r;
       }},
      {"mkdir dir", [D] { return static_cast<long>(mkdir(D, 0755)); }},
      {"rmdir dir", [D] { return static_cast<long>(rmdir(D)); }},
      {"rename f other", [F, O] { return static_cast<long>(rename(F, O)); }},
      {"rename missing other", [M, O] { return static_cast<long>(rename(M, O)); }},
      {"renameat2 f other NOREPLACE", [F, O] {
         return syscall(SYS_renameat2, AT_FDCWD, F, AT_FDCWD, O, RENAME_NOREPLACE);
       }},
      {"renameat2 f root EXCHANGE", [F, R] {
         return syscall(SYS_renameat2, AT_FDCWD, F, AT_FDCWD, R, RENAME_EXCHANGE);
       }},
      {"unlink f", [F] { return static_cast<long>(unlink(F)); }},
      {"unlink missing", [M] { return static_cast<long>(unlink(M)); }},
      {"setxattr f", [F] { return static_cast<long>(setxattr(F, "user.a", "v", 1, 0)); }},
      {"getxattr f", [F] {
         char v[64];
         return static_cast<long>(getxattr(F, "user.a", v, sizeof(v)));
       }},
      {"getxattr f size", [F] { return static_cast<long>(getxattr(F, "user.a", nullptr, 0)); }},
      {"listxattr f", [F] {
         char v[256];
         return static_cast<long>(listxattr(F, v, sizeof(v)));
       }},
      {"listxattr root size", [R] { return static_cast<long>(listxattr(R, nullptr, 0)); }},
      {"removexattr f", [F] { return static_cast<long>(removexattr(F, "user.a")); }},
      {"fsetxattr f", with_fd(O_RDONLY, [](int fd) { return static_cast<long>(fsetxattr(fd, "user.b", "w", 1, 0)); })},
      {"fgetxattr f", with_fd(O_RDONLY, [](int fd) {
         char v[64];
         return static_cast<long>(fgetxattr(fd, "user.b", v, sizeof(v)));
       })},
      {"chmod f", [F] { return static_cast<long>(chmod(F, 0600)); }},
      {"chown f", [F] { return static_cast<long>(chown(F, 1, 1)); }},
      {"fchmod f", with_fd(O_RDONLY, [](int fd) { return static_cast<long>(fchmod(fd, 0640)); })},
      {"utimensat f now", [F] { return static_cast<long>(utimensat(AT_FDCWD, F, nullptr, 0)); }},
      {"utimensat f times", [F] {
         struct timespec t[2] = {{1, 0}, {2, 0}};
         return static_cast<long>(utimensat(AT_FDCWD, F, t, 0));
       }},
      {"futimens f", with_fd(O_RDWR, [](int fd) { return static_cast<long>(futimens(fd, nullptr)); })},
      {"statfs root", [R] { struct statfs s; return static_cast<long>(statfs(R, &s)); }},
      {"mknod fifo", [M] { return static_cast<long>(mknod(M, S_IFIFO | 0644, 0)); }},
      {"mknod regular", [M] { return static_cast<long>(mknod(M, S_IFREG | 0644, 0)); }},
      {"mknod char device", [M] { return static_cast<long>(mknod(M, S_IFCHR | 0644, makedev(1, 3))); }},
      {"symlink", [M] { return static_cast<long>(symlink("f", M)); }},
      {"readlink f", [F] {
         char t[256];
         return static_cast<long>(readlink(F, t, sizeof(t)));
       }},
      {"readlink missing", [M] {
         char t[256];
         return static_cast<long>(readlink(M, t, sizeof(t)));
       }},
      {"link f missing", [F, M] { return static_cast<long>(link(F, M)); }},
      {"chdir root and getcwd", [R]() -> long {
         if (chdir(R) != 0) return -1;
         char cwd[4096];
         return getcwd(cwd, sizeof(cwd)) ? 0 : -1;
       }},
      {"umask 0 and open O_CREAT in root", [R]() -> long {
         umask(0);
         int dfd = open(R, O_RDONLY | O_DIRECTORY);
         if (dfd < 0) return -1;
         int fd = openat(dfd, "probe", O_CREAT | O_RDWR, 0666);
         close(dfd);
         return fd < 0 ? -1L : close(fd);
       }},
  };
  std::string results;
  for (const auto& c : calls) {
    int r = in_child(c.fn);
    ASSERT_NE(r, -1) << c.name << " hangs (killed after " << kCallLimit.count() << " s); results so far:\n"
                     << results;
    results += "  " + c.name + ": " + (r >= 200 ? std::string("child killed by ") + strsignal(r - 200)
                                                : errno_name(r)) + "\n";
    ASSERT_TRUE(serving(*fs, c.name + "\nresults so far:\n" + results));
  }
  std::printf("system calls on a get_file_info-only file system:\n%s", results.c_str());
  expect_clean_exit(*fs);
}

// ---- A file system that throws ---------------------------------------------

// A small in-memory tree whose rename, create and read_directory throw
// std::runtime_error for names containing "throw" (read_directory: for the
// directory /bad), and work otherwise.
class ThrowingFs : public FileSystemBase {
 public:
  ThrowingFs() {
    add("/", S_IFDIR | 0755);
    add("/good", S_IFDIR | 0755);
    add("/good/x", S_IFREG | 0644);
    add("/bad", S_IFDIR | 0755);
    add("/bad/y", S_IFREG | 0644);
    add("/a", S_IFREG | 0644);
    add("/throw-rename", S_IFREG | 0644);
  }

  Status get_file_info(const Caller&, const std::string& path, void* file, FileInfo* info) override {
    std::lock_guard lock(mutex_);
    return find(file ? static_cast<Context*>(file)->path : path, info);
  }
  Status set_file_info(const Caller&, const std::string& path, void* file, const SetAttr&, FileInfo* info) override {
    return get_file_info(Caller{}, path, file, info);
  }
  Status open(const Caller&, const std::string& path, int, void** file, FileInfo* info, OpenFlags*) override {
    std::lock_guard lock(mutex_);
    if (Status s = find(path, info); !s) return s;
    *file = new Context{path};
    return Status::ok();
  }
  Status create(const Caller&, const std::string& path, mode_t mode, int, void** file, FileInfo* info, OpenFlags*) override {
    if (path.find("throw") != std::string::npos) throw std::runtime_error("create throws on purpose");
    std::lock_guard lock(mutex_);
    *info = add(path, S_IFREG | (mode & 07777));
    *file = new Context{path};
    return Status::ok();
  }
  void close(void* file) override { delete static_cast<Context*>(file); }
  Result<size_t> read(const Caller&, void*, void*, uint64_t, size_t) override { return size_t{0}; }
  Status open_directory(const Caller&, const std::string& path, void** dir, OpenFlags*) override {
    std::lock_guard lock(mutex_);
    FileInfo info;
    if (Status s = find(path, &info); !s) return s;
    if (!S_ISDIR(info.mode)) return Status::error(ENOTDIR);
    *dir = new Context{path};
    return Status::ok();
  }
  void close_directory(void* dir) override { delete static_cast<Context*>(dir); }
  Status read_directory(const Caller&, void* dir, uint64_t offset, const DirFiller& filler) override {
    const std::string path = static_cast<Context*>(dir)->path;
    if (path == "/bad") throw std::runtime_error("read_directory throws on purpose");
    std::vector<std::pair<std::string, FileInfo>> children;
    {
      std::lock_guard lock(mutex_);
      const std::string prefix = path == "/" ? "/" : path + "/";
      for (const auto& [p, info] : files_) {
        if (p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0 &&
            p.find('/', prefix.size()) == std::string::npos) {
          children.emplace_back(p.substr(prefix.size()), info);
        }
      }
    }
    for (uint64_t i = offset; i < children.size(); ++i) {
      if (!filler(children[i].first, children[i].second, i + 1)) break;
    }
    return Status::ok();
  }
  Status mkdir(const Caller&, const std::string& path, mode_t mode, FileInfo* info) override {
    std::lock_guard lock(mutex_);
    if (files_.count(path)) return Status::error(EEXIST);
    *info = add(path, S_IFDIR | (mode & 07777));
    return Status::ok();
  }
  Status rename(const Caller&, const std::string& from, const std::string& to, unsigned flags) override {
    if (from.find("throw") != std::string::npos) throw std::runtime_error("rename throws on purpose");
    std::lock_guard lock(mutex_);
    auto it = files_.find(from);
    if (it == files_.end()) return Status::error(ENOENT);
    if (flags != 0 || S_ISDIR(it->second.mode)) return Status::error(EINVAL);  // enough for the tests
    FileInfo info = it->second;
    files_.erase(it);
    files_[to] = info;
    return Status::ok();
  }

 private:
  struct Context {
    std::string path;
  };
  FileInfo add(const std::string& path, mode_t mode) {  // REQUIRES: mutex_ held (or constructing)
    FileInfo info;
    info.ino = next_ino_++;
    info.mode = mode;
    info.nlink = S_ISDIR(mode) ? 2 : 1;
    return files_[path] = info;
  }
  Status find(const std::string& path, FileInfo* info) {  // REQUIRES: mutex_ held
    auto it = files_.find(path);
    if (it == files_.end()) return Status::error(ENOENT);
    *info = it->second;
    return Status::ok();
  }
  std::mutex mutex_;
  std::map<std::string, FileInfo> files_;  // guarded by mutex_
  uint64_t next_ino_ = 1;                  // guarded by mutex_
};

// ThrowingFs served in this process.
// The throwing file system, served in this process (the file system is a
// base so that it exists before the host mounts it).
struct ThrowingFsHolder {
  ThrowingFs fs_;
};
class EmbeddedThrowingFs : private ThrowingFsHolder, public EmbeddedHost {
 public:
  EmbeddedThrowingFs() : EmbeddedHost(fs_, options(), "throwing") {}

 private:
  static HostOptions options() {
    HostOptions o;
    o.threads = 4;  // a request stuck in the volume leaves others to serve
    return o;
  }
};

// The errno of a system call made through `call` (0 on success).
template <typename F>
int errno_of(F call) {
  errno = 0;
  return call() == -1 ? errno : 0;
}

int open_close(const std::string& path, int flags = O_RDONLY) {
  return errno_of([&] {
    int fd = open(path.c_str(), flags, 0644);
    return fd < 0 ? -1 : ::close(fd);
  });
}

// The names in a directory, or the errno of the listing.
std::pair<int, std::vector<std::string>> list(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  if (!d) return {errno, names};
  errno = 0;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  int err = errno;
  closedir(d);
  return {err, names};
}

TEST(ThrowingFs, ThrowingCreateIsEioAndOpensStillWork) {
  EmbeddedThrowingFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  EXPECT_EQ(m.within("open O_CREAT of a name whose create throws",
                     [&] { return open_close(m.path("throw-create"), O_CREAT | O_WRONLY); }),
            EIO);
  EXPECT_EQ(m.within("open of an existing file after a throwing create", [&] { return open_close(m.path("a")); }), 0);
  EXPECT_EQ(m.within("create after a throwing create",
                     [&] { return open_close(m.path("created"), O_CREAT | O_WRONLY); }),
            0);
  EXPECT_EQ(m.within("open of the created file", [&] { return open_close(m.path("created")); }), 0);
  EXPECT_EQ(m.within("rename after a throwing create",
                     [&] { return errno_of([&] { return rename(m.path("a").c_str(), m.path("a2").c_str()); }); }),
            0);
  EXPECT_EQ(m.host().check_consistency(), "");
}

TEST(ThrowingFs, ThrowingReadDirectoryIsEioAndOtherListingsWork) {
  EmbeddedThrowingFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  auto bad = m.within("ls of a directory whose read_directory throws", [&] { return list(m.path("bad")); });
  EXPECT_EQ(bad.first, EIO) << errno_name(bad.first);
  std::string out;
  EXPECT_NE(m.within("ls(1) of that directory", [&] { return run("ls " + m.path("bad"), &out); }), 0) << out;
  EXPECT_NE(out.find("Input/output error"), std::string::npos) << out;
  auto good = m.within("ls of another directory", [&] { return list(m.path("good")); });
  EXPECT_EQ(good.first, 0) << errno_name(good.first);
  EXPECT_EQ(good.second, std::vector<std::string>{"x"});
  auto root = m.within("ls of the root", [&] { return list(m.path("")); });
  EXPECT_EQ(root.first, 0) << errno_name(root.first);
  EXPECT_EQ(m.within("mkdir after a throwing read_directory",
                     [&] { return errno_of([&] { return ::mkdir(m.path("made").c_str(), 0755); }); }),
            0);
  EXPECT_EQ(m.within("rename after a throwing read_directory",
                     [&] { return errno_of([&] { return rename(m.path("a").c_str(), m.path("a2").c_str()); }); }),
            0);
  EXPECT_EQ(m.host().check_consistency(), "");
}

// Issue 10: a rename that throws must release the rename resource.
TEST(ThrowingFs, ThrowingRenameIsEioAndTheVolumeKeepsServing) {
  EmbeddedThrowingFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  auto rename_errno = [&](const std::string& from, const std::string& to) {
    return errno_of([&] { return rename(m.path(from).c_str(), m.path(to).c_str()); });
  };
  EXPECT_EQ(m.within("a rename whose file system rename throws", [&] { return rename_errno("throw-rename", "t2"); }),
            EIO);
  EXPECT_EQ(m.within("a second rename after a throwing rename", [&] { return rename_errno("a", "b"); }), 0);
  EXPECT_EQ(m.within("an open of an existing file after a throwing rename",
                     [&] { return open_close(m.path("good/x")); }),
            0);
  EXPECT_EQ(m.within("a mkdir after a throwing rename",
                     [&] { return errno_of([&] { return ::mkdir(m.path("made").c_str(), 0755); }); }),
            0);
  m.within("a notify session after a throwing rename", [&] {
    Status begun = m.host().notify_begin(5s);
    EXPECT_TRUE(begun) << begun.message() << "\n" << m.host().describe_state();
    if (!begun) return;
    NotifyBatch batch;
    batch.add(NotifyAction::kModified, "/b").add(NotifyAction::kAdded, "/made");
    EXPECT_TRUE(m.host().notify(batch.data(), batch.size()));
    EXPECT_TRUE(m.host().notify_end());
    EXPECT_TRUE(m.host().notify_drain(5s)) << m.host().describe_state();
  });
  EXPECT_EQ(m.within("a rename after the notify session", [&] { return rename_errno("b", "c"); }), 0);
  EXPECT_EQ(m.within("a throwing rename again", [&] { return rename_errno("throw-rename", "t3"); }), EIO);
  EXPECT_EQ(m.within("a rename after the second throwing rename", [&] { return rename_errno("c", "d"); }), 0);
  EXPECT_EQ(m.host().check_consistency(), "");
}

}  // namespace
}  // namespace linfsp::testing
