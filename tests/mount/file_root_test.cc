// A file system whose root is a regular file, mounted on a regular file, as
// libfuse allows (its null example): the kernel is given rootmode=S_IFREG,
// the mount point shows the file system's file, and unmounting gives the
// old file back. The root's type must match the mount point's.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include "embedded_host.h"

namespace linfsp::testing {
namespace {

constexpr uint64_t kSize = 4096;
constexpr int kWritten = 3;  // what write() answers: fewer bytes than asked

// "/" is a regular file of kSize 'x's; writes are accepted (kWritten bytes)
// and dropped.
class FileRootFs : public FileSystemBase {
 public:
  explicit FileRootFs(mode_t root_type = S_IFREG) : root_type_(root_type) {}

  Status get_file_info(const Caller&, const std::string& path, void*, FileInfo* info) override {
    if (path != "/") return Status::error(ENOENT);
    info->ino = 1;
    info->uid = getuid();
    info->gid = getgid();
    if (root_type_ == S_IFDIR) {
      info->mode = S_IFDIR | 0755;
      info->nlink = 2;
      return Status::ok();
    }
    info->mode = S_IFREG | 0644;
    info->nlink = 1;
    info->size = kSize;
    info->blocks = kSize / 512;
    return Status::ok();
  }
  Status open(const Caller&, const std::string& path, int, void** file, FileInfo* info, OpenFlags*) override {
    if (path != "/") return Status::error(ENOENT);
    *file = nullptr;
    return get_file_info(Caller{}, path, nullptr, info);
  }
  Result<size_t> read(const Caller&, void*, void* buffer, uint64_t offset, size_t size) override {
    if (offset >= kSize) return size_t{0};
    size_t n = std::min<uint64_t>(size, kSize - offset);
    std::memset(buffer, 'x', n);
    return n;
  }
  Result<size_t> write(const Caller&, void*, const void*, uint64_t, size_t size, FileInfo* info) override {
    get_file_info(Caller{}, "/", nullptr, info);
    return std::min<size_t>(size, kWritten);
  }

 private:
  mode_t root_type_;
};

std::string contents(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Mounts `fs` on a regular file holding "before" (EmbeddedHost makes a
// directory), with the same hang watchdog.
class FileMount {
 public:
  explicit FileMount(FileSystemBase& fs) {
    path_ = dir_.path() + "/mountpoint";
    std::ofstream(path_) << "before";
    register_mount(path_);
    HostOptions options;
    options.mountpoint = path_;
    options.subtype = "fileroot";
    host_ = std::make_unique<FileSystemHost>(fs, options);
    status_ = host_->start();
  }
  ~FileMount() {
    host_.reset();
    umount2(path_.c_str(), MNT_DETACH);
    unregister_mount(path_);
  }
  void unmount() { host_.reset(); }
  const Status& status() const { return status_; }
  const std::string& path() const { return path_; }

  template <typename F>
  auto within(const std::string& what, F fn) {
    auto f = std::async(std::launch::async, fn);
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      std::string state = host_->describe_state();
      abort_fuse_connection(path_);
      fail_hang(what + " did not complete in time", state);
    }
    return f.get();
  }

 private:
  TempDir dir_;
  std::string path_;
  std::unique_ptr<FileSystemHost> host_;
  Status status_;
};

TEST(FileRoot, ARootThatIsAFileMountsOnAFile) {
  FileRootFs fs;
  FileMount m(fs);
  ASSERT_TRUE(m.status()) << m.status().message();
  ASSERT_TRUE(is_mounted(m.path()));

  struct stat st;
  ASSERT_EQ(m.within("stat", [&] { return stat(m.path().c_str(), &st); }), 0) << std::strerror(errno);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << std::oct << st.st_mode;
  EXPECT_EQ(st.st_size, static_cast<off_t>(kSize));
  EXPECT_EQ(m.within("read", [&] { return contents(m.path()); }), std::string(kSize, 'x'));

  int fd = m.within("open", [&] { return open(m.path().c_str(), O_WRONLY); });
  ASSERT_GE(fd, 0) << std::strerror(errno);
  EXPECT_EQ(m.within("write", [&] { return pwrite(fd, "hello", 5, 0); }), kWritten);
  close(fd);

  // Directory operations: the kernel answers them itself. (errno is the
  // other thread's: each call returns it.)
  EXPECT_EQ(m.within("opendir", [&] {
    DIR* d = opendir(m.path().c_str());
    if (d != nullptr) closedir(d);
    return d == nullptr ? errno : 0;
  }),
            ENOTDIR);
  EXPECT_EQ(m.within("stat below", [&] { return stat((m.path() + "/a").c_str(), &st) == 0 ? 0 : errno; }),
            ENOTDIR);

  m.unmount();
  EXPECT_FALSE(is_mounted(m.path()));
  EXPECT_EQ(contents(m.path()), "before");
}

TEST(FileRoot, ADirectoryRootDoesNotMountOnAFile) {
  FileRootFs fs(S_IFDIR);
  FileMount m(fs);
  EXPECT_FALSE(m.status());
  EXPECT_EQ(m.status().err(), ENOTDIR) << m.status().message();
  EXPECT_FALSE(is_mounted(m.path()));
}

TEST(FileRoot, AFileRootDoesNotMountOnADirectory) {
  FileRootFs fs;
  EmbeddedHost m(fs, HostOptions{}, "fileroot");
  EXPECT_FALSE(m.status());
  EXPECT_EQ(m.status().err(), ENOTDIR) << m.status().message();
  EXPECT_FALSE(is_mounted(m.dir()));
}

}  // namespace
}  // namespace linfsp::testing
