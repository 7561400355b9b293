// O_DIRECT, mmap, fsync/fdatasync, concurrent writers (threads and processes).
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
#include <thread>

#include "compat.h"

using namespace compat;

GROUP("odirect.rw") {
  int fd = open("f", O_RDWR | O_CREAT | O_DIRECT, 0644);
  if (fd < 0 && errno == EINVAL) {
    skip("O_DIRECT is not supported (EINVAL on open)");
    return;
  }
  CHECK(fd >= 0);
  if (fd < 0) return;
  constexpr size_t kLen = 64 * 1024;
  void* raw = nullptr;
  if (posix_memalign(&raw, 4096, kLen) != 0) return;
  std::unique_ptr<char, decltype(&free)> buf(static_cast<char*>(raw), &free);
  const std::string data = pattern(kLen, 31);
  std::memcpy(buf.get(), data.data(), kLen);
  CHECK_EQ(pwrite(fd, buf.get(), kLen, 0), static_cast<ssize_t>(kLen));
  CHECK_EQ(pwrite(fd, buf.get(), 4096, 1 << 20), 4096);
  std::memset(buf.get(), 0, kLen);
  CHECK_EQ(pread(fd, buf.get(), kLen, 0), static_cast<ssize_t>(kLen));
  CHECK(std::memcmp(buf.get(), data.data(), kLen) == 0);
  CHECK_EQ(fst(fd).st_size, (1 << 20) + 4096);
  // Buffered and direct I/O see each other's data.
  int bfd = CHECK_OK(open("f", O_RDWR));
  CHECK(pread_str(bfd, 0, kLen) == data);
  CHECK_EQ(pwrite(bfd, "buffered", 8, 8192), 8);
  CHECK_OK(fsync(bfd));
  CHECK_EQ(pread(fd, buf.get(), 4096, 8192), 4096);
  CHECK_EQ(std::string(buf.get(), 8), "buffered");
  close(bfd);
  close(fd);
}

GROUP("mmap.shared") {
  const size_t len = 5 * 4096;
  put("f", pattern(len, 41));
  int fd = CHECK_OK(open("f", O_RDWR));
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(p != MAP_FAILED);
  if (p == MAP_FAILED) return;
  char* m = static_cast<char*>(p);
  CHECK(std::memcmp(m, pattern(len, 41).data(), len) == 0);
  std::memcpy(m + 4090, "through the map", 15);  // straddles a page boundary
  CHECK_OK(msync(m, len, MS_SYNC));
  CHECK_EQ(pread_str(fd, 4090, 15), "through the map");
  int other = CHECK_OK(open("f", O_RDONLY));  // another descriptor sees it too
  CHECK_EQ(pread_str(other, 4090, 15), "through the map");
  close(other);
  // write(2) shows up in the mapping.
  CHECK_EQ(pwrite(fd, "via write", 9, 3 * 4096), 9);
  CHECK(std::memcmp(m + 3 * 4096, "via write", 9) == 0);
  CHECK_OK(munmap(m, len));
  close(fd);
  // The data survives unmapping and closing.
  std::string back = get("f");
  CHECK(back.size() == len && back.compare(4090, 15, "through the map") == 0);

  // A private mapping never writes back.
  fd = CHECK_OK(open("f", O_RDWR));
  p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  CHECK(p != MAP_FAILED);
  if (p != MAP_FAILED) {
    std::memcpy(p, "private", 7);
    munmap(p, len);
  }
  close(fd);
  CHECK(get("f").compare(0, 7, "private") != 0);
  // A shared writable mapping needs a descriptor open for writing.
  fd = CHECK_OK(open("f", O_RDONLY));
  CHECK(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EACCES);
  close(fd);
}

GROUP("mmap.extend") {
  // A file grown with ftruncate can be written through a mapping of the new part.
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  CHECK_OK(ftruncate(fd, 3 * 4096));
  void* p = mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(p != MAP_FAILED);
  if (p == MAP_FAILED) return;
  char* m = static_cast<char*>(p);
  CHECK(m[5000] == 0);
  m[2 * 4096 + 7] = 'q';
  CHECK_OK(msync(m, 3 * 4096, MS_SYNC));
  munmap(m, 3 * 4096);
  close(fd);
  std::string back = get("f");
  CHECK(back.size() == 3 * 4096 && back[2 * 4096 + 7] == 'q');
}

GROUP("fsync.basic") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  CHECK_EQ(write(fd, "durable", 7), 7);
  CHECK_OK(fsync(fd));
  CHECK_OK(fdatasync(fd));
  CHECK_OK(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
  CHECK_OK(syncfs(fd));
  close(fd);
  int ro = CHECK_OK(open("f", O_RDONLY));
  CHECK_OK(fsync(ro));  // allowed on a read-only descriptor
  close(ro);
  int dfd = CHECK_OK(open(".", O_RDONLY | O_DIRECTORY));
  CHECK_OK(fsync(dfd));
  CHECK_OK(fdatasync(dfd));
  close(dfd);
  int sfd = CHECK_OK(open("f", O_RDWR | O_SYNC));
  CHECK_EQ(write(sfd, "S", 1), 1);
  close(sfd);
  int dsfd = CHECK_OK(open("f", O_RDWR | O_DSYNC));
  CHECK_EQ(pwrite(dsfd, "D", 1, 1), 1);
  close(dsfd);
  CHECK_EQ(get("f"), "SDrable");
}

GROUP("concurrent.threads") {
  // Eight threads write disjoint, interleaved 4 KiB blocks of one file through
  // their own descriptors, then a second pass through one shared descriptor.
  constexpr int kThreads = 8, kBlocks = 64, kBlock = 4096;
  CHECK_OK(closed(open("f", O_RDWR | O_CREAT, 0644)));
  auto block_of = [](int t, int b) { return pattern(kBlock, static_cast<unsigned>(t * 1000 + b)); };
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int fd = open("f", O_RDWR);
      if (fd < 0) {
        ++failures;
        return;
      }
      for (int b = 0; b < kBlocks; ++b) {
        std::string data = block_of(t, b);
        off_t off = (static_cast<off_t>(b) * kThreads + t) * kBlock;
        if (!write_all(fd, data.data(), data.size(), off)) ++failures;
      }
      close(fd);
    });
  }
  for (auto& th : threads) th.join();
  CHECK_EQ(failures.load(), 0);
  std::string all = get("f");
  CHECK_EQ(all.size(), static_cast<size_t>(kThreads * kBlocks * kBlock));
  bool intact = all.size() == static_cast<size_t>(kThreads * kBlocks * kBlock);
  for (int t = 0; intact && t < kThreads; ++t) {
    for (int b = 0; intact && b < kBlocks; ++b) {
      intact = all.compare((static_cast<size_t>(b) * kThreads + t) * kBlock, kBlock, block_of(t, b)) == 0;
    }
  }
  CHECK(intact);

  // Shared descriptor, odd sizes that do not align with pages.
  int fd = CHECK_OK(open("g", O_RDWR | O_CREAT, 0644));
  threads.clear();
  constexpr int kChunk = 3001, kChunks = 40;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kChunks; ++c) {
        std::string data(kChunk, static_cast<char>('A' + t));
        off_t off = (static_cast<off_t>(c) * kThreads + t) * kChunk;
        if (!write_all(fd, data.data(), data.size(), off)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  std::string g = pread_str(fd, 0, kThreads * kChunks * kChunk + 10);
  bool ok = g.size() == static_cast<size_t>(kThreads * kChunks * kChunk);
  for (size_t i = 0; ok && i < g.size(); ++i) ok = g[i] == 'A' + static_cast<int>((i / kChunk) % kThreads);
  CHECK(ok);
  close(fd);
}

GROUP("concurrent.processes") {
  // A forked process writes the odd blocks, this one the even blocks, both
  // while the other is writing; a reader thread checks completed blocks.
  constexpr int kBlocks = 256, kBlock = 8192;
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  CHECK_OK(ftruncate(fd, kBlocks * kBlock));
  int go[2];
  CHECK_OK(pipe(go));
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    int own = open("f", O_WRONLY);
    bool ok = own >= 0;
    for (int b = 1; ok && b < kBlocks; b += 2) {
      std::string data = pattern(kBlock, 500 + b);
      ok = write_all(b % 4 == 1 ? own : fd, data.data(), data.size(), static_cast<off_t>(b) * kBlock);
    }
    _exit(ok ? 0 : 1);
  }
  close(go[0]);
  CHECK_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  bool ok = true;
  for (int b = 0; b < kBlocks; b += 2) {
    std::string data = pattern(kBlock, 500 + b);
    ok = ok && write_all(fd, data.data(), data.size(), static_cast<off_t>(b) * kBlock);
  }
  CHECK(ok);
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string all = get("f");
  bool intact = all.size() == static_cast<size_t>(kBlocks * kBlock);
  for (int b = 0; intact && b < kBlocks; ++b) {
    intact = all.compare(static_cast<size_t>(b) * kBlock, kBlock, pattern(kBlock, 500 + b)) == 0;
  }
  CHECK(intact);
  close(fd);
}

GROUP("concurrent.read_while_write") {
  // Readers never see a size beyond what was written, nor bytes that were
  // never written.
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    int r = open("f", O_RDONLY);
    while (!done) {
      std::string s = pread_str(r, 0, 1 << 20);
      if (s.find_first_not_of('w') != std::string::npos) ++bad;
    }
    close(r);
  });
  std::string chunk(1000, 'w');
  bool ok = true;
  for (int i = 0; i < 500; ++i) ok = ok && write(fd, chunk.data(), chunk.size()) == 1000;
  done = true;
  reader.join();
  CHECK(ok);
  CHECK_EQ(bad.load(), 0);
  CHECK_EQ(fst(fd).st_size, 500000);
  close(fd);
}
