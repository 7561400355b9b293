// fsbench: the tests. Names follow WinFsp's fsbench so that results compare;
// the operations are their POSIX counterparts.
//
// N = --files, K = --iterations, S = --size. Every test runs in its own empty
// directory (one per thread) that the runner creates before the setup and
// removes after the body; only what a body runs inside Worker::timed counts.
#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "fsbench.h"

namespace fsbench {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kLarge = 1 << 20;

volatile uint64_t g_sink;  // keeps mmap_read's loads alive

long N(const Worker& w) { return w.config.files; }
long K(const Worker& w) { return w.config.iterations; }
size_t S(const Worker& w) { return w.config.size; }

void create_all(Worker& w) {
  for (long i = 0; i < N(w); ++i) sys::touch(w.file(i));
}
void unlink_all(Worker& w) {
  for (long i = 0; i < N(w); ++i) sys::unlink(w.file(i));
}
void mkdir_all(Worker& w) {
  for (long i = 0; i < N(w); ++i) sys::mkdir(w.file(i));
}
void rmdir_all(Worker& w) {
  for (long i = 0; i < N(w); ++i) sys::rmdir(w.file(i));
}
void expect_entries(const std::string& dir, long found, long expected) {
  if (found != expected) {
    fail("readdir " + dir + ": found " + std::to_string(found) + " entries, expected " + std::to_string(expected));
  }
}

// ---- metadata -------------------------------------------------------------

// K times: create N new files (open O_CREAT|O_EXCL + close); they are
// removed, untimed, between passes.
void file_create(Worker& w) {
  for (long k = 0; k < K(w); ++k) {
    if (k) unlink_all(w);
    w.timed([&] { create_all(w); });
    w.count(N(w));
  }
}

// K times: open and close each of N existing files, read-only.
void file_open(Worker& w) {
  w.timed([&] {
    for (long k = 0; k < K(w); ++k) {
      for (long i = 0; i < N(w); ++i) sys::close(sys::open(w.file(i), O_RDONLY), w.file(i));
    }
  });
  w.count(N(w) * K(w));
}

// K times: open each of N existing files with O_CREAT|O_TRUNC for writing
// (what a shell's '>' does), and close it.
void file_overwrite(Worker& w) {
  w.timed([&] {
    for (long k = 0; k < K(w); ++k) {
      for (long i = 0; i < N(w); ++i) {
        sys::close(sys::open(w.file(i), O_WRONLY | O_CREAT | O_TRUNC), w.file(i));
      }
    }
  });
  w.count(N(w) * K(w));
}

// K times: stat each of N existing files.
void file_attr(Worker& w) {
  w.timed([&] {
    for (long k = 0; k < K(w); ++k) {
      for (long i = 0; i < N(w); ++i) sys::stat(w.file(i));
    }
  });
  w.count(N(w) * K(w));
}

// K times: read a directory of N files and stat each entry (ls -l). One
// operation is one entry.
void file_list(Worker& w) {
  w.timed([&] {
    for (long k = 0; k < K(w); ++k) expect_entries(w.dir, sys::list(w.dir, true), N(w));
  });
  w.count(N(w) * K(w));
}

void one_file(Worker& w) { sys::touch(w.file(0)); }

// N*K times: read a directory that holds one file (opendir, readdir to the
// end, closedir).
void file_list_single(Worker& w) {
  w.timed([&] {
    for (long j = 0; j < N(w) * K(w); ++j) expect_entries(w.dir, sys::list(w.dir, false), 1);
  });
  w.count(N(w) * K(w));
}

// K times: look up each of N names that do not exist (stat fails with
// ENOENT) in a directory of N files: a search that finds nothing.
void file_list_none(Worker& w) {
  w.timed([&] {
    for (long k = 0; k < K(w); ++k) {
      for (long i = 0; i < N(w); ++i) sys::stat_absent(w.other(i));
    }
  });
  w.count(N(w) * K(w));
}

std::string empty_dir(const Worker& w) { return w.dir + "/empty"; }
void make_empty_dir(Worker& w) { sys::mkdir(empty_dir(w)); }

// N*K times: read an empty directory.
void file_list_empty(Worker& w) {
  const std::string dir = empty_dir(w);
  w.timed([&] {
    for (long j = 0; j < N(w) * K(w); ++j) expect_entries(dir, sys::list(dir, false), 0);
  });
  w.count(N(w) * K(w));
}

// K times: unlink N files; they are created again, untimed, between passes.
void file_delete(Worker& w) {
  for (long k = 0; k < K(w); ++k) {
    if (k) create_all(w);
    w.timed([&] { unlink_all(w); });
    w.count(N(w));
  }
}

// K times: make N directories; removed, untimed, between passes.
void file_mkdir(Worker& w) {
  for (long k = 0; k < K(w); ++k) {
    if (k) rmdir_all(w);
    w.timed([&] { mkdir_all(w); });
    w.count(N(w));
  }
}

// K times: remove N empty directories; made again, untimed, between passes.
void file_rmdir(Worker& w) {
  for (long k = 0; k < K(w); ++k) {
    if (k) mkdir_all(w);
    w.timed([&] { rmdir_all(w); });
    w.count(N(w));
  }
}

// K times: rename each of N files within the directory (f -> g, and back
// on the next pass).
void file_rename(Worker& w) {
  w.timed([&] {
    for (long k = 0; k < K(w); ++k) {
      for (long i = 0; i < N(w); ++i) {
        if (k % 2 == 0) sys::rename(w.file(i), w.other(i));
        else sys::rename(w.other(i), w.file(i));
      }
    }
  });
  w.count(N(w) * K(w));
}

// ---- data -----------------------------------------------------------------

// Writes or reads the data file once from start to end in `chunk` pieces.
void sweep(Worker& w, size_t chunk, bool write, bool direct) {
  const std::string path = w.data_path();
  for (size_t off = 0; off < S(w); off += chunk) {
    size_t n = std::min(chunk, S(w) - off);
    if (write) sys::write_at(w.fd, w.buf.data(), n, static_cast<off_t>(off), path, direct);
    else sys::read_at(w.fd, w.buf.data(), n, static_cast<off_t>(off), path, direct);
  }
}

// rdwr_*_write_*: K times: write a file of S bytes from empty, sequentially,
// in Chunk pieces. The file is truncated to 0, untimed, between passes.
template <size_t Chunk, bool Direct>
void write_setup(Worker& w) {
  w.buf = Buffer(Chunk, w.index);
  int flags = O_CREAT | O_TRUNC | O_WRONLY;
  w.fd = Direct ? sys::open_direct(w.data_path(), flags) : sys::open(w.data_path(), flags);
}
template <size_t Chunk, bool Direct>
void write_body(Worker& w) {
  for (long k = 0; k < K(w); ++k) {
    if (k) sys::ftruncate(w.fd, 0, w.data_path());
    w.timed([&] { sweep(w, Chunk, true, Direct); });
    w.count(static_cast<double>(S(w)));
  }
}

// rdwr_*_read_*: K times: read a file of S bytes sequentially in Chunk
// pieces. Through the cache (cc), the file was read once before, untimed.
template <size_t Chunk, bool Direct>
void read_setup(Worker& w) {
  sys::make_file(w.data_path(), S(w), !Direct);
  w.buf = Buffer(Chunk, w.index);
  w.fd = Direct ? sys::open_direct(w.data_path(), O_RDONLY) : sys::open(w.data_path(), O_RDONLY);
}
template <size_t Chunk, bool Direct>
void read_body(Worker& w) {
  w.timed([&] {
    for (long k = 0; k < K(w); ++k) sweep(w, Chunk, false, Direct);
  });
  w.count(static_cast<double>(S(w)) * static_cast<double>(K(w)));
}

// rand_cc_read_page: K times: S/4096 reads of 4 KiB at random page offsets
// of a file of S bytes that was read once before.
void rand_setup(Worker& w) {
  read_setup<kPage, false>(w);
  size_t pages = S(w) / kPage;
  uint64_t x = 0x9E3779B97F4A7C15ull ^ (w.index + 1);  // xorshift64: fixed per thread
  w.offsets.resize(pages);
  for (auto& off : w.offsets) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    off = static_cast<off_t>((x % pages) * kPage);
  }
}
void rand_body(Worker& w) {
  const std::string path = w.data_path();
  w.timed([&] {
    for (long k = 0; k < K(w); ++k) {
      for (off_t off : w.offsets) sys::read_at(w.fd, w.buf.data(), kPage, off, path);
    }
  });
  w.count(static_cast<double>(w.offsets.size() * kPage) * static_cast<double>(K(w)));
}

// mmap_write: K times: map a file of S bytes, write every byte, msync, unmap.
void mmap_write_setup(Worker& w) {
  w.fd = sys::open(w.data_path(), O_CREAT | O_TRUNC | O_RDWR);
  sys::ftruncate(w.fd, static_cast<off_t>(S(w)), w.data_path());
}
void mmap_write(Worker& w) {
  const std::string path = w.data_path();
  for (long k = 0; k < K(w); ++k) {
    w.timed([&] {
      char* p = static_cast<char*>(sys::map(S(w), PROT_READ | PROT_WRITE, w.fd, path));
      std::memset(p, static_cast<int>('a' + k % 26), S(w));
      sys::msync(p, S(w), path);
      sys::unmap(p, S(w), path);
    });
    w.count(static_cast<double>(S(w)));
  }
}

// mmap_read: K times: map a file of S bytes (read once before), read every
// byte, unmap.
void mmap_read_setup(Worker& w) {
  sys::make_file(w.data_path(), S(w), true);
  w.fd = sys::open(w.data_path(), O_RDONLY);
}
void mmap_read(Worker& w) {
  const std::string path = w.data_path();
  uint64_t sum = 0;
  w.timed([&] {
    for (long k = 0; k < K(w); ++k) {
      const char* p = static_cast<const char*>(sys::map(S(w), PROT_READ, w.fd, path));
      for (size_t off = 0; off < S(w); off += sizeof(uint64_t)) {
        uint64_t v;
        std::memcpy(&v, p + off, sizeof v);
        sum += v;
      }
      sys::unmap(const_cast<char*>(p), S(w), path);
    }
  });
  g_sink = sum;
  w.count(static_cast<double>(S(w)) * static_cast<double>(K(w)));
}

}  // namespace

const std::vector<Test>& all_tests() {
  static const std::vector<Test> tests = {
      {"file_create", "file", Unit::kOps, "create N new files (open O_CREAT|O_EXCL, close)", nullptr, file_create},
      {"file_open", "file", Unit::kOps, "open and close N existing files", create_all, file_open},
      {"file_overwrite", "file", Unit::kOps, "open N existing files O_CREAT|O_TRUNC, close", create_all,
       file_overwrite},
      {"file_attr", "file", Unit::kOps, "stat N existing files", create_all, file_attr},
      {"file_delete", "file", Unit::kOps, "unlink N files", create_all, file_delete},
      {"file_list", "list", Unit::kOps, "readdir a directory of N files and stat each entry", create_all,
       file_list},
      {"file_list_single", "list", Unit::kOps, "readdir a directory of one file, N times", one_file,
       file_list_single},
      {"file_list_none", "list", Unit::kOps, "stat N names that do not exist, among N files", create_all,
       file_list_none},
      {"file_list_empty", "list", Unit::kOps, "readdir an empty directory, N times", make_empty_dir,
       file_list_empty},
      {"file_mkdir", "dir", Unit::kOps, "make N directories", nullptr, file_mkdir},
      {"file_rmdir", "dir", Unit::kOps, "remove N empty directories", mkdir_all, file_rmdir},
      {"file_rename", "dir", Unit::kOps, "rename N files in their directory", create_all, file_rename},
      {"rdwr_cc_write_page", "rdwr_cc", Unit::kBytes, "write S bytes in 4 KiB pwrites", write_setup<kPage, false>,
       write_body<kPage, false>},
      {"rdwr_cc_read_page", "rdwr_cc", Unit::kBytes, "read S cached bytes in 4 KiB preads",
       read_setup<kPage, false>, read_body<kPage, false>},
      {"rdwr_cc_write_large", "rdwr_cc", Unit::kBytes, "write S bytes in 1 MiB pwrites",
       write_setup<kLarge, false>, write_body<kLarge, false>},
      {"rdwr_cc_read_large", "rdwr_cc", Unit::kBytes, "read S cached bytes in 1 MiB preads",
       read_setup<kLarge, false>, read_body<kLarge, false>},
      {"rand_cc_read_page", "rdwr_cc", Unit::kBytes, "S/4 KiB preads of 4 KiB at random offsets, cached",
       rand_setup, rand_body},
      {"rdwr_nc_write_page", "rdwr_nc", Unit::kBytes, "write S bytes in 4 KiB O_DIRECT pwrites",
       write_setup<kPage, true>, write_body<kPage, true>},
      {"rdwr_nc_read_page", "rdwr_nc", Unit::kBytes, "read S bytes in 4 KiB O_DIRECT preads",
       read_setup<kPage, true>, read_body<kPage, true>},
      {"rdwr_nc_write_large", "rdwr_nc", Unit::kBytes, "write S bytes in 1 MiB O_DIRECT pwrites",
       write_setup<kLarge, true>, write_body<kLarge, true>},
      {"rdwr_nc_read_large", "rdwr_nc", Unit::kBytes, "read S bytes in 1 MiB O_DIRECT preads",
       read_setup<kLarge, true>, read_body<kLarge, true>},
      {"mmap_write", "mmap", Unit::kBytes, "map S bytes shared, write every byte, msync", mmap_write_setup,
       mmap_write},
      {"mmap_read", "mmap", Unit::kBytes, "map S cached bytes, read every byte", mmap_read_setup, mmap_read},
  };
  return tests;
}

}  // namespace fsbench
