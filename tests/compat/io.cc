// Data: read/write/pread/pwrite, readv/writev, sparse files, truncate,
// fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range.
#include <linux/falloc.h>
#include <sys/uio.h>

#include "compat.h"

using namespace compat;

GROUP("rw.basic") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  CHECK_EQ(write(fd, "abcd", 4), 4);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 4);
  CHECK_EQ(write(fd, "", 0), 0);
  CHECK_EQ(fst(fd).st_size, 4);
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  char buf[16];
  CHECK_EQ(read(fd, buf, 3), 3);
  CHECK_EQ(std::string(buf, 3), "abc");
  CHECK_EQ(read(fd, buf, sizeof(buf)), 1);  // short read at the end
  CHECK_EQ(read(fd, buf, sizeof(buf)), 0);  // then end of file
  CHECK_EQ(lseek(fd, 1, SEEK_SET), 1);
  CHECK_EQ(write(fd, "XY", 2), 2);  // overwrite in the middle
  CHECK_EQ(fst(fd).st_size, 4);
  close(fd);
  CHECK_EQ(get("f"), "aXYd");
  CHECK_EQ(st("f").st_size, 4);
}

GROUP("rw.pread_pwrite") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  CHECK_EQ(pwrite(fd, "hello", 5, 0), 5);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);  // pwrite leaves the offset alone
  CHECK_EQ(pwrite(fd, "world", 5, 10), 5);
  CHECK_EQ(fst(fd).st_size, 15);
  CHECK_EQ(pread_str(fd, 0, 15), std::string("hello\0\0\0\0\0world", 15));
  char buf[8];
  CHECK_EQ(pread(fd, buf, 8, 12), 3);
  CHECK_EQ(pread(fd, buf, 8, 15), 0);
  CHECK_EQ(pread(fd, buf, 8, 1000), 0);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);  // pread leaves it alone too
  CHECK_ERRNO(pwrite(fd, "x", 1, -1), EINVAL);
  CHECK_ERRNO(pread(fd, buf, 1, -1), EINVAL);
  close(fd);
  CHECK_OK(mkdir("d", 0755));
  int dfd = CHECK_OK(open("d", O_RDONLY));
  CHECK_ERRNO(pread(dfd, buf, 1, 0), EISDIR);
  close(dfd);
  int ro = CHECK_OK(open("f", O_RDONLY));
  CHECK_ERRNO(pwrite(ro, "x", 1, 0), EBADF);
  close(ro);
}

GROUP("rw.large") {
  // 8 MiB written in odd-sized chunks, read back with other chunk sizes.
  const std::string data = pattern(8 << 20, 7);
  int fd = CHECK_OK(open("big", O_RDWR | O_CREAT, 0644));
  bool wrote = true;
  for (size_t off = 0; wrote && off < data.size(); off += 12345) {
    size_t n = std::min<size_t>(12345, data.size() - off);
    wrote = write(fd, data.data() + off, n) == static_cast<ssize_t>(n);
  }
  CHECK(wrote);
  CHECK_EQ(fst(fd).st_size, static_cast<off_t>(data.size()));
  std::string back;
  std::string buf(65537, '\0');
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  for (;;) {
    ssize_t r = read(fd, buf.data(), buf.size());
    if (r <= 0) break;
    back.append(buf.data(), r);
  }
  CHECK(back == data);
  close(fd);
  CHECK(get("big") == data);
  // Unaligned overwrite that straddles page boundaries.
  fd = CHECK_OK(open("big", O_RDWR));
  std::string patch = pattern(10000, 8);
  CHECK(write_all(fd, patch.data(), patch.size(), 4095));
  std::string expect = data;
  expect.replace(4095, patch.size(), patch);
  close(fd);
  CHECK(get("big") == expect);
}

GROUP("rw.vectors") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  char a[] = "one-", b[] = "two-", c[] = "three";
  iovec out[3] = {{a, 4}, {b, 4}, {c, 5}};
  CHECK_EQ(writev(fd, out, 3), 13);
  CHECK_EQ(pwritev(fd, out, 1, 100), 4);
  char x[6] = {}, y[8] = {};
  iovec in[2] = {{x, 5}, {y, 8}};
  CHECK_EQ(preadv(fd, in, 2, 0), 13);
  CHECK_EQ(std::string(x, 5) + std::string(y, 8), "one-two-three");
  CHECK_EQ(pread_str(fd, 100, 10), "one-");
  close(fd);
}

GROUP("sparse.write_past_eof") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  CHECK_EQ(write(fd, "head", 4), 4);
  CHECK_EQ(lseek(fd, 3 << 20, SEEK_SET), 3 << 20);
  CHECK_EQ(write(fd, "tail", 4), 4);
  CHECK_EQ(fst(fd).st_size, (3 << 20) + 4);
  std::string all = pread_str(fd, 0, (3 << 20) + 100);
  CHECK_EQ(all.size(), static_cast<size_t>((3 << 20) + 4));
  CHECK(all.compare(0, 4, "head") == 0 && all.compare(3 << 20, 4, "tail") == 0);
  CHECK(all.find_first_not_of('\0', 4) == static_cast<size_t>(3 << 20));  // the gap reads as zeros
  // A write inside the gap leaves the rest of the gap zero.
  CHECK_EQ(pwrite(fd, "mid", 3, 1 << 20), 3);
  all = pread_str(fd, 0, (3 << 20) + 4);
  CHECK(all.find_first_not_of('\0', 4) == static_cast<size_t>(1 << 20));
  CHECK(all.find_first_not_of('\0', (1 << 20) + 3) == static_cast<size_t>(3 << 20));
  close(fd);
}

GROUP("truncate.shrink_grow") {
  const std::string data = pattern(100000, 3);
  put("f", data);
  CHECK_OK(truncate("f", 5000));
  CHECK_EQ(st("f").st_size, 5000);
  CHECK(get("f") == data.substr(0, 5000));
  // Growing again must not resurrect the old bytes.
  CHECK_OK(truncate("f", 100000));
  CHECK_EQ(st("f").st_size, 100000);
  std::string back = get("f");
  CHECK(back.compare(0, 5000, data, 0, 5000) == 0);
  CHECK(back.find_first_not_of('\0', 5000) == std::string::npos);
  // Unaligned shrink inside a page, then grow: the page tail is zero.
  CHECK_OK(truncate("f", 4097));
  put("g", data);
  int fd = CHECK_OK(open("g", O_RDWR));
  CHECK_OK(ftruncate(fd, 123));
  CHECK_OK(ftruncate(fd, 8192));
  std::string g = pread_str(fd, 0, 9000);
  CHECK_EQ(g.size(), 8192u);
  CHECK(g.compare(0, 123, data, 0, 123) == 0 && g.find_first_not_of('\0', 123) == std::string::npos);
  CHECK_OK(ftruncate(fd, 0));
  CHECK_EQ(fst(fd).st_size, 0);
  CHECK_EQ(pread_str(fd, 0, 10), "");
  // Writes through an offset past the new end extend it again.
  CHECK_EQ(lseek(fd, 10, SEEK_SET), 10);
  CHECK_EQ(write(fd, "x", 1), 1);
  CHECK_EQ(pread_str(fd, 0, 20), std::string(10, '\0') + "x");
  close(fd);
}

GROUP("truncate.errors") {
  put("f", "data");
  CHECK_OK(mkdir("d", 0755));
  CHECK_ERRNO(truncate("f", -1), EINVAL);
  CHECK_ERRNO(truncate("d", 0), EISDIR);
  CHECK_ERRNO(truncate("missing", 0), ENOENT);
  CHECK_ERRNO(truncate("f/x", 0), ENOTDIR);
  int ro = CHECK_OK(open("f", O_RDONLY));
  // ftruncate(2) allows EBADF or EINVAL; the Linux VFS says EINVAL.
  CHECK_ERRNO(ftruncate(ro, 0), EINVAL);
  close(ro);
  int dfd = CHECK_OK(open("d", O_RDONLY));
  CHECK_ERRNO(ftruncate(dfd, 0), EINVAL);
  close(dfd);
  CHECK_EQ(get("f"), "data");
  // truncate(2) follows symlinks.
  CHECK_OK(symlink("f", "lf"));
  CHECK_OK(truncate("lf", 2));
  CHECK_EQ(get("f"), "da");
  CHECK(S_ISLNK(lst("lf").st_mode));
}

GROUP("truncate.big_sparse") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  const off_t big = off_t(1) << 32;  // past 4 GiB: 64-bit offsets throughout
  if (ftruncate(fd, big) != 0 && (errno == EFBIG || errno == ENOSPC)) {
    skip("a 4 GiB sparse file exceeds this file system's limit: " + errstr(errno));
    return;
  }
  CHECK_EQ(fst(fd).st_blocks * 512 < big, true);  // no space for the hole
  CHECK_EQ(fst(fd).st_size, big);
  CHECK_EQ(pread_str(fd, big - 3, 10), std::string(3, '\0'));
  CHECK_EQ(pwrite(fd, "end", 3, big - 3), 3);
  CHECK_EQ(pread_str(fd, big - 4, 10), std::string(1, '\0') + "end");
  CHECK_EQ(fst(fd).st_size, big);
  CHECK_OK(ftruncate(fd, 0));
  close(fd);
}

namespace {
// Returns false (after a SKIP) when this file system has no fallocate at all.
bool fallocate_supported(int fd) {
  if (fallocate(fd, 0, 0, 1) == 0) return true;
  if (errno == EOPNOTSUPP || errno == ENOSYS) {
    skip("fallocate is not supported: " + errstr(errno));
    return false;
  }
  return true;
}
}  // namespace

GROUP("fallocate.default") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  if (!fallocate_supported(fd)) return;
  CHECK_OK(fallocate(fd, 0, 0, 1 << 20));
  CHECK_EQ(fst(fd).st_size, 1 << 20);
  CHECK(fst(fd).st_blocks * 512 >= (1 << 20));
  std::string back = pread_str(fd, 0, 1 << 20);
  CHECK(back.size() == (1u << 20) && back.find_first_not_of('\0') == std::string::npos);
  // Allocating over existing data keeps the data.
  CHECK_EQ(pwrite(fd, "keep", 4, 1000), 4);
  CHECK_OK(fallocate(fd, 0, 0, 4096));
  CHECK_EQ(pread_str(fd, 1000, 4), "keep");
  CHECK_EQ(fst(fd).st_size, 1 << 20);
  // Past the end, mode 0 extends the size.
  CHECK_OK(fallocate(fd, 0, 2 << 20, 10));
  CHECK_EQ(fst(fd).st_size, (2 << 20) + 10);
  close(fd);
}

GROUP("fallocate.keep_size") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  if (!fallocate_supported(fd)) return;
  CHECK_EQ(write(fd, "abc", 3), 3);
  blkcnt_t blocks = fst(fd).st_blocks;
  CHECK_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20));
  CHECK_EQ(fst(fd).st_size, 3);
  CHECK(fst(fd).st_blocks >= blocks);
  CHECK_EQ(pread_str(fd, 0, 100), "abc");
  // Writing into the preallocated range past EOF extends normally.
  CHECK_EQ(pwrite(fd, "z", 1, 5000), 1);
  CHECK_EQ(fst(fd).st_size, 5001);
  CHECK_EQ(pread_str(fd, 3, 4997).find_first_not_of('\0'), std::string::npos);
  close(fd);
}

GROUP("fallocate.punch_hole") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  if (!fallocate_supported(fd)) return;
  const std::string data = pattern(3 * 65536, 11);
  CHECK(write_all(fd, data.data(), data.size(), 0));
  int r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65536, 65536);
  if (r != 0 && errno == EOPNOTSUPP) {
    skip("FALLOC_FL_PUNCH_HOLE is not supported");
    return;
  }
  CHECK_EQ(r, 0);
  CHECK_EQ(fst(fd).st_size, 3 * 65536);
  std::string back = pread_str(fd, 0, data.size());
  CHECK(back.compare(0, 65536, data, 0, 65536) == 0);
  CHECK(back.substr(65536, 65536) == std::string(65536, '\0'));
  CHECK(back.compare(131072, 65536, data, 131072, 65536) == 0);
  // An unaligned hole zeroes exactly the bytes asked for.
  CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 50));
  back = pread_str(fd, 0, 200);
  CHECK(back.compare(0, 100, data, 0, 100) == 0 && back.substr(100, 50) == std::string(50, '\0') &&
        back.compare(150, 50, data, 150, 50) == 0);
  // A hole past EOF changes nothing.
  CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1 << 20, 4096));
  CHECK_EQ(fst(fd).st_size, 3 * 65536);
  // PUNCH_HOLE must come with KEEP_SIZE.
  CHECK_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
  close(fd);
}

GROUP("fallocate.errors") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  if (!fallocate_supported(fd)) return;
  CHECK_ERRNO(fallocate(fd, 0, 0, 0), EINVAL);
  CHECK_ERRNO(fallocate(fd, 0, -1, 10), EINVAL);
  close(fd);
  int ro = CHECK_OK(open("f", O_RDONLY));
  CHECK_ERRNO(fallocate(ro, 0, 0, 4096), EBADF);
  close(ro);
  CHECK_OK(mkdir("d", 0755));
  int dfd = CHECK_OK(open("d", O_RDONLY));
  CHECK_ERRNO(fallocate(dfd, 0, 0, 4096), EBADF);  // not open for writing
  close(dfd);
}

GROUP("seek.data_hole") {
  // Data at [0, 4K) and [1M, 1M+4K); a hole between. A file system may
  // report the whole file as data, so only the portable guarantees are checked.
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  const off_t m = 1 << 20;
  std::string block = pattern(4096, 5);
  CHECK(write_all(fd, block.data(), block.size(), 0));
  CHECK(write_all(fd, block.data(), block.size(), m));
  const off_t size = m + 4096;
  CHECK_EQ(lseek(fd, 0, SEEK_DATA), 0);
  off_t hole = lseek(fd, 0, SEEK_HOLE);
  CHECK(hole >= 4096 && hole <= size);
  off_t data = lseek(fd, 8192, SEEK_DATA);
  CHECK(data >= 8192 && data <= m);
  CHECK_EQ(lseek(fd, m + 100, SEEK_DATA), m + 100);
  CHECK_EQ(lseek(fd, m + 100, SEEK_HOLE), size);  // the virtual hole at EOF
  CHECK_EQ(lseek(fd, size - 1, SEEK_HOLE), size);
  CHECK_ERRNO(lseek(fd, size, SEEK_DATA), ENXIO);
  CHECK_ERRNO(lseek(fd, size, SEEK_HOLE), ENXIO);
  CHECK_ERRNO(lseek(fd, size + 5000, SEEK_DATA), ENXIO);
  CHECK_ERRNO(lseek(fd, -1, SEEK_DATA), ENXIO, EINVAL);
  // The offset moved to the result.
  lseek(fd, 0, SEEK_HOLE);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), hole);
  close(fd);
  // An empty file has neither data nor holes.
  int e = CHECK_OK(open("empty", O_RDWR | O_CREAT, 0644));
  CHECK_ERRNO(lseek(e, 0, SEEK_DATA), ENXIO);
  CHECK_ERRNO(lseek(e, 0, SEEK_HOLE), ENXIO);
  close(e);
}

namespace {
// Copies all of n bytes with copy_file_range, looping over short copies.
ssize_t copy_range(int in, loff_t* off_in, int out, loff_t* off_out, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = copy_file_range(in, off_in, out, off_out, n - done, 0);
    if (r < 0) return done > 0 ? static_cast<ssize_t>(done) : -1;
    if (r == 0) break;
    done += r;
  }
  return done;
}
}  // namespace

GROUP("copy_file_range.basic") {
  const std::string data = pattern(200000, 21);
  put("src", data);
  int in = CHECK_OK(open("src", O_RDONLY));
  int out = CHECK_OK(open("dst", O_RDWR | O_CREAT, 0644));
  ssize_t first = copy_file_range(in, nullptr, out, nullptr, data.size(), 0);
  if (first < 0 && (errno == ENOSYS || errno == EXDEV || errno == EOPNOTSUPP)) {
    skip("copy_file_range is not supported: " + errstr(errno));
    return;
  }
  CHECK(first > 0);
  if (first < 0) return;
  CHECK_EQ(copy_range(in, nullptr, out, nullptr, data.size() - first) + first, static_cast<ssize_t>(data.size()));
  CHECK_EQ(lseek(in, 0, SEEK_CUR), static_cast<off_t>(data.size()));  // offsets advanced
  CHECK_EQ(lseek(out, 0, SEEK_CUR), static_cast<off_t>(data.size()));
  CHECK(get("dst") == data);
  // At the end of the source: 0 bytes.
  CHECK_EQ(copy_file_range(in, nullptr, out, nullptr, 100, 0), 0);
  // Explicit offsets: copied into the middle; file offsets untouched.
  loff_t off_in = 1000, off_out = 50000;
  CHECK_EQ(copy_range(in, &off_in, out, &off_out, 3000), 3000);
  CHECK_EQ(off_in, 4000);
  CHECK_EQ(off_out, 53000);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), static_cast<off_t>(data.size()));
  std::string expect = data;
  expect.replace(50000, 3000, data, 1000, 3000);
  CHECK(get("dst") == expect);
  // Past the end of the destination: the gap reads as zeros.
  off_in = 0;
  off_out = 300000;
  CHECK_EQ(copy_range(in, &off_in, out, &off_out, 10), 10);
  CHECK_EQ(fst(out).st_size, 300010);
  CHECK_EQ(pread_str(out, 200000, 100000).find_first_not_of('\0'), std::string::npos);
  close(in);
  close(out);
}

GROUP("copy_file_range.errors") {
  put("src", pattern(10000, 2));
  int in = CHECK_OK(open("src", O_RDWR));
  int ro = CHECK_OK(open("src", O_RDONLY));
  loff_t a = 0, b = 100;
  errno = 0;
  if (copy_file_range(in, &a, in, &b, 1, 0) < 0 && (errno == ENOSYS || errno == EOPNOTSUPP || errno == EXDEV)) {
    skip("copy_file_range is not supported: " + errstr(errno));
    return;
  }
  a = 0;
  b = 100;
  CHECK_ERRNO(copy_file_range(in, &a, in, &b, 1000, 0), EINVAL);  // overlapping ranges of one file
  a = 0;
  b = 0;
  CHECK_ERRNO(copy_file_range(in, &a, ro, &b, 10, 0), EBADF);  // destination not writable
  CHECK_ERRNO(copy_file_range(in, &a, in, &b, 10, 1), EINVAL);  // flags must be 0
  CHECK_OK(mkdir("d", 0755));
  int dfd = CHECK_OK(open("d", O_RDONLY));
  CHECK_ERRNO(copy_file_range(dfd, nullptr, in, nullptr, 10, 0), EISDIR);
  close(dfd);
  close(in);
  close(ro);
}
