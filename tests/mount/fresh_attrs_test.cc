// The FileInfo that write, fallocate and copy_range return answers the
// GETATTR the kernel sends after them, without calling the file system
// again; anything else that may change the file (a read: atime; a change
// behind the kernel's back, notified) makes the next GETATTR ask again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "embedded_host.h"
#include "linfsp/notify.h"

namespace linfsp::testing {
namespace {

// One file, /f. Each write makes its mtime 1000 + the number of writes so
// far; each read makes its atime 5000 + the number of reads. The test can
// also change its size behind the kernel's back.
class CountingFs : public FileSystemBase {
 public:
  Status get_file_info(const Caller&, const std::string& path, void*, FileInfo* info) override {
    std::lock_guard lock(mutex_);
    if (path == "/") {
      *info = FileInfo{1, S_IFDIR | 0755, 2};
      return Status::ok();
    }
    if (path != "/f") return Status::error(ENOENT);
    ++file_info_calls_;
    *info = file_;
    return Status::ok();
  }
  Status open(const Caller&, const std::string& path, int, void** file, FileInfo* info, OpenFlags*) override {
    if (path != "/f") return Status::error(ENOENT);
    *file = this;
    std::lock_guard lock(mutex_);
    *info = file_;
    return Status::ok();
  }
  Result<size_t> read(const Caller&, void*, void* buffer, uint64_t offset, size_t size) override {
    std::lock_guard lock(mutex_);
    file_.atime.tv_sec = 5000 + ++reads_;
    if (offset >= file_.size) return size_t{0};
    size_t n = std::min<size_t>(size, file_.size - offset);
    std::memset(buffer, 'x', n);
    return n;
  }
  Result<size_t> write(const Caller&, void*, const void*, uint64_t offset, size_t size, FileInfo* info) override {
    std::lock_guard lock(mutex_);
    file_.size = std::max<uint64_t>(file_.size, offset + size);
    file_.mtime.tv_sec = 1000 + ++writes_;
    *info = file_;
    return size;
  }
  Status fallocate(const Caller&, void*, int, uint64_t offset, uint64_t length, FileInfo* info) override {
    std::lock_guard lock(mutex_);
    file_.size = std::max<uint64_t>(file_.size, offset + length);
    file_.mtime.tv_sec = 1000 + ++writes_;
    *info = file_;
    return Status::ok();
  }
  void set_size_behind_the_kernels_back(uint64_t size) {
    std::lock_guard lock(mutex_);
    file_.size = size;
  }
  int file_info_calls() {
    std::lock_guard lock(mutex_);
    return file_info_calls_;
  }

 private:
  std::mutex mutex_;
  FileInfo file_{2, S_IFREG | 0666, 1};
  int file_info_calls_ = 0, reads_ = 0, writes_ = 0;
};

struct CountingHolder {
  CountingFs fs;
};
class EmbeddedCountingFs : private CountingHolder, public EmbeddedHost {
 public:
  explicit EmbeddedCountingFs(double attr_timeout = 60)
      : EmbeddedHost(CountingHolder::fs, options(attr_timeout), "fresh") {}
  CountingFs& fs() { return CountingHolder::fs; }

 private:
  static HostOptions options(double attr_timeout) {
    HostOptions o;
    o.attr_timeout = attr_timeout;
    o.entry_timeout = 60;
    return o;
  }
};

struct Stat {
  int err = 0;
  struct stat st {};
};
Stat fstat_of(int fd) {
  Stat r;
  if (fstat(fd, &r.st) != 0) r.err = errno;
  return r;
}

TEST(FreshAttrs, TheGetattrAfterAWriteIsAnsweredFromTheWritesFileInfo) {
  EmbeddedCountingFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  int fd = m.within("open", [&] { return open(m.path("f").c_str(), O_RDWR); });
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(m.within("write", [&] { return pwrite(fd, "0123456789", 10, 0); }), 10);
  int calls = m.fs().file_info_calls();
  Stat s = m.within("fstat", [&] { return fstat_of(fd); });
  ASSERT_EQ(s.err, 0);
  EXPECT_EQ(s.st.st_size, 10);
  EXPECT_EQ(s.st.st_mtime, 1001);
  EXPECT_EQ(m.fs().file_info_calls(), calls) << "the write's FileInfo should have answered";

  // fallocate reports the file's new FileInfo the same way.
  ASSERT_EQ(m.within("fallocate", [&] { return fallocate(fd, 0, 0, 4096); }), 0) << strerror(errno);
  calls = m.fs().file_info_calls();
  s = m.within("fstat", [&] { return fstat_of(fd); });
  EXPECT_EQ(s.st.st_size, 4096);
  EXPECT_EQ(s.st.st_mtime, 1002);
  EXPECT_EQ(m.fs().file_info_calls(), calls);
  close(fd);
}

TEST(FreshAttrs, AReadAfterTheWriteMakesTheNextGetattrAskTheFileSystem) {
  EmbeddedCountingFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  int fd = m.within("open", [&] { return open(m.path("f").c_str(), O_RDWR | O_DIRECT); });
  ASSERT_GE(fd, 0) << strerror(errno);
  alignas(4096) static char block[4096];
  ASSERT_EQ(m.within("write", [&] { return pwrite(fd, block, sizeof(block), 0); }), 4096);
  ASSERT_EQ(m.within("read", [&] { return pread(fd, block, sizeof(block), 0); }), 4096);
  int calls = m.fs().file_info_calls();
  Stat s = m.within("fstat", [&] { return fstat_of(fd); });
  EXPECT_EQ(s.st.st_atime, 5001) << "the read changed atime; the write's FileInfo is stale";
  EXPECT_GT(m.fs().file_info_calls(), calls);
  close(fd);
}

TEST(FreshAttrs, ANotifiedChangeIsSeenAtOnce) {
  EmbeddedCountingFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  int fd = m.within("open", [&] { return open(m.path("f").c_str(), O_RDWR); });
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(m.within("write", [&] { return pwrite(fd, "abc", 3, 0); }), 3);
  m.fs().set_size_behind_the_kernels_back(77);
  NotifyBatch batch;
  batch.add(NotifyAction::kModified, "/f");
  ASSERT_TRUE(m.host().notify_begin(std::chrono::seconds(5)));
  ASSERT_TRUE(m.host().notify(batch.data(), batch.size()));
  ASSERT_TRUE(m.host().notify_end());
  ASSERT_TRUE(m.host().notify_drain(std::chrono::seconds(10)));
  Stat s = m.within("fstat", [&] { return fstat_of(fd); });
  EXPECT_EQ(s.st.st_size, 77);
  close(fd);
}

TEST(FreshAttrs, WithNoAttributeTimeoutEveryGetattrAsks) {
  EmbeddedCountingFs m(0);
  ASSERT_TRUE(m.status()) << m.status().message();
  int fd = m.within("open", [&] { return open(m.path("f").c_str(), O_RDWR); });
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(m.within("write", [&] { return pwrite(fd, "abc", 3, 0); }), 3);
  int calls = m.fs().file_info_calls();
  Stat s = m.within("fstat", [&] { return fstat_of(fd); });
  EXPECT_EQ(s.st.st_size, 3);
  EXPECT_GT(m.fs().file_info_calls(), calls);
  close(fd);
}

}  // namespace
}  // namespace linfsp::testing
