// fsbench: file system micro-benchmarks, named after WinFsp's fsbench so
// results compare. Runs each test several times and reports the median.
//
//   fsbench DIR [--files N] [--size BYTES] [--runs R] [--threads N]
//               [--tests a,b,...] [--csv FILE] [--scale] [--list]
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  std::string dir;
  int files = 1000;
  size_t size = 64 << 20;
  int runs = 5;
  int threads = 1;
  std::vector<std::string> tests;
  std::string csv;
  bool scale = false;
};

[[noreturn]] void die(const std::string& test, const std::string& what) {
  std::fprintf(stderr, "fsbench: %s: %s: %s\n", test.c_str(), what.c_str(), std::strerror(errno));
  std::exit(1);
}

// One worker's view: its own directory, its own files.
struct Ctx {
  std::string test;
  std::string dir;
  int files;
  size_t size;
  std::string name(int i) const { return dir + "/file" + std::to_string(i); }
};

#define MUST(expr, what) \
  if ((expr) < 0) die(c.test, what)

void create_files(const Ctx& c, size_t bytes = 0) {
  std::string data(bytes, 'x');
  for (int i = 0; i < c.files; ++i) {
    int fd = open(c.name(i).c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    MUST(fd, "create " + c.name(i));
    if (bytes) MUST(write(fd, data.data(), bytes), "write");
    close(fd);
  }
}

void remove_all(const Ctx& c) {
  DIR* d = opendir(c.dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.push_back(e->d_name);
  }
  closedir(d);
  for (const auto& n : names) {
    std::string p = c.dir + "/" + n;
    if (unlink(p.c_str()) != 0) rmdir(p.c_str());
  }
}

// Fills a file of c.size bytes (untimed setup for read tests).
void make_data_file(const Ctx& c, const std::string& path) {
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  MUST(fd, "create data file");
  std::vector<char> buf(1 << 20, 'd');
  for (size_t done = 0; done < c.size; done += buf.size()) MUST(write(fd, buf.data(), buf.size()), "write");
  close(fd);
}

void* aligned(size_t n) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, n) != 0) std::abort();
  std::memset(p, 'a', n);
  return p;
}

// Sequential I/O over the whole file in `chunk` pieces. Returns bytes.
double sequential(const Ctx& c, const std::string& path, size_t chunk, bool write_mode, bool direct) {
  int flags = (write_mode ? O_WRONLY | O_CREAT : O_RDONLY) | (direct ? O_DIRECT : 0);
  int fd = open(path.c_str(), flags, 0644);
  if (fd < 0 && direct && errno == EINVAL) return -1;  // O_DIRECT unsupported
  MUST(fd, "open " + path);
  void* buf = aligned(chunk);
  for (size_t off = 0; off < c.size; off += chunk) {
    ssize_t n = write_mode ? pwrite(fd, buf, chunk, off) : pread(fd, buf, chunk, off);
    MUST(n, write_mode ? "pwrite" : "pread");
  }
  free(buf);
  close(fd);
  return static_cast<double>(c.size);
}

struct Test {
  const char* name;
  const char* unit;  // "ops/s" or "MiB/s"
  std::function<void(Ctx&)> setup;
  std::function<double(Ctx&)> run;  // returns operations or bytes
  std::function<void(Ctx&)> teardown;
};

std::vector<Test> all_tests() {
  auto none = [](Ctx&) {};
  auto clean = [](Ctx& c) { remove_all(c); };
  auto with_files = [](Ctx& c) { create_files(c); };
  auto data = [](Ctx& c) { return c.dir + "/data"; };
  std::vector<Test> t;
  t.push_back({"file_create", "ops/s", none,
               [](Ctx& c) {
                 create_files(c);
                 return double(c.files);
               },
               clean});
  t.push_back({"file_open", "ops/s", with_files,
               [](Ctx& c) {
                 for (int i = 0; i < c.files; ++i) {
                   int fd = open(c.name(i).c_str(), O_RDONLY);
                   MUST(fd, "open");
                   close(fd);
                 }
                 return double(c.files);
               },
               clean});
  t.push_back({"file_overwrite", "ops/s", with_files,
               [](Ctx& c) {
                 for (int i = 0; i < c.files; ++i) {
                   int fd = open(c.name(i).c_str(), O_WRONLY | O_TRUNC);
                   MUST(fd, "open O_TRUNC");
                   close(fd);
                 }
                 return double(c.files);
               },
               clean});
  t.push_back({"file_attr", "ops/s", with_files,
               [](Ctx& c) {
                 struct stat st;
                 for (int i = 0; i < c.files; ++i) MUST(stat(c.name(i).c_str(), &st), "stat");
                 return double(c.files);
               },
               clean});
  t.push_back({"file_list", "ops/s", with_files,
               [](Ctx& c) {
                 double entries = 0;
                 for (int pass = 0; pass < 10; ++pass) {
                   DIR* d = opendir(c.dir.c_str());
                   if (!d) die(c.test, "opendir");
                   struct stat st;
                   while (dirent* e = readdir(d)) {
                     if (e->d_name[0] == '.') continue;
                     MUST(fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW), "fstatat");
                     ++entries;
                   }
                   closedir(d);
                 }
                 return entries;
               },
               clean});
  t.push_back({"file_list_single", "ops/s",
               [](Ctx& c) {
                 Ctx one = c;
                 one.files = 1;
                 create_files(one);
               },
               [](Ctx& c) {
                 for (int i = 0; i < c.files; ++i) {
                   DIR* d = opendir(c.dir.c_str());
                   if (!d) die(c.test, "opendir");
                   while (readdir(d)) {
                   }
                   closedir(d);
                 }
                 return double(c.files);
               },
               clean});
  t.push_back({"file_list_none", "ops/s", none,
               [](Ctx& c) {
                 struct stat st;
                 for (int i = 0; i < c.files; ++i) {
                   if (stat((c.dir + "/none" + std::to_string(i)).c_str(), &st) == 0) die(c.test, "found");
                 }
                 return double(c.files);
               },
               clean});
  t.push_back({"file_delete", "ops/s", with_files,
               [](Ctx& c) {
                 for (int i = 0; i < c.files; ++i) MUST(unlink(c.name(i).c_str()), "unlink");
                 return double(c.files);
               },
               clean});
  t.push_back({"file_mkdir", "ops/s", none,
               [](Ctx& c) {
                 for (int i = 0; i < c.files; ++i) MUST(mkdir(c.name(i).c_str(), 0755), "mkdir");
                 return double(c.files);
               },
               clean});
  t.push_back({"file_rmdir", "ops/s",
               [](Ctx& c) {
                 for (int i = 0; i < c.files; ++i) MUST(mkdir(c.name(i).c_str(), 0755), "mkdir");
               },
               [](Ctx& c) {
                 for (int i = 0; i < c.files; ++i) MUST(rmdir(c.name(i).c_str()), "rmdir");
                 return double(c.files);
               },
               clean});
  t.push_back({"file_rename", "ops/s", with_files,
               [](Ctx& c) {
                 for (int i = 0; i < c.files; ++i) {
                   MUST(rename(c.name(i).c_str(), (c.name(i) + ".renamed").c_str()), "rename");
                 }
                 return double(c.files);
               },
               clean});
  struct Io {
    const char* name;
    size_t chunk;
    bool write;
    bool direct;
  };
  for (Io io : {Io{"rdwr_cc_write_page", 4096, true, false}, Io{"rdwr_cc_read_page", 4096, false, false},
                Io{"rdwr_cc_write_large", 1 << 20, true, false}, Io{"rdwr_cc_read_large", 1 << 20, false, false},
                Io{"rdwr_nc_write_page", 4096, true, true}, Io{"rdwr_nc_read_page", 4096, false, true},
                Io{"rdwr_nc_write_large", 1 << 20, true, true}, Io{"rdwr_nc_read_large", 1 << 20, false, true}}) {
    t.push_back({io.name, "MiB/s",
                 [io, data](Ctx& c) {
                   if (!io.write) {
                     make_data_file(c, data(c));
                     // Cached reads measure a file already read once.
                     if (!io.direct) sequential(c, data(c), 1 << 20, false, false);
                   }
                 },
                 [io, data](Ctx& c) { return sequential(c, data(c), io.chunk, io.write, io.direct); }, clean});
  }
  t.push_back({"rand_cc_read_page", "MiB/s",
               [data](Ctx& c) {
                 make_data_file(c, data(c));
                 sequential(c, data(c), 1 << 20, false, false);
               },
               [data](Ctx& c) {
                 int fd = open(data(c).c_str(), O_RDONLY);
                 MUST(fd, "open");
                 std::mt19937_64 rng(7);
                 size_t pages = c.size / 4096;
                 char buf[4096];
                 for (size_t i = 0; i < pages; ++i) MUST(pread(fd, buf, 4096, (rng() % pages) * 4096), "pread");
                 close(fd);
                 return double(pages * 4096);
               },
               clean});
  t.push_back({"mmap_write", "MiB/s", none,
               [data](Ctx& c) {
                 int fd = open(data(c).c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
                 MUST(fd, "open");
                 MUST(ftruncate(fd, c.size), "ftruncate");
                 void* m = mmap(nullptr, c.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                 if (m == MAP_FAILED) die(c.test, "mmap");
                 for (size_t off = 0; off < c.size; off += 4096) std::memset(static_cast<char*>(m) + off, 'm', 4096);
                 MUST(msync(m, c.size, MS_SYNC), "msync");
                 munmap(m, c.size);
                 close(fd);
                 return double(c.size);
               },
               clean});
  t.push_back({"mmap_read", "MiB/s", [data](Ctx& c) { make_data_file(c, data(c)); },
               [data](Ctx& c) {
                 int fd = open(data(c).c_str(), O_RDONLY);
                 MUST(fd, "open");
                 void* m = mmap(nullptr, c.size, PROT_READ, MAP_SHARED, fd, 0);
                 if (m == MAP_FAILED) die(c.test, "mmap");
                 volatile unsigned long sum = 0;
                 for (size_t off = 0; off < c.size; off += 4096) sum = sum + static_cast<char*>(m)[off];
                 munmap(m, c.size);
                 close(fd);
                 return double(c.size);
               },
               clean});
  return t;
}

// Runs a test once on `threads` workers, each in DIR/tN; returns units/s
// (or a negative value when the test cannot run here).
double run_once(const Test& test, const Options& o) {
  std::vector<Ctx> ctx(o.threads);
  for (int i = 0; i < o.threads; ++i) {
    ctx[i] = {test.name, o.dir + "/fsbench-t" + std::to_string(i), o.files, o.size};
    mkdir(ctx[i].dir.c_str(), 0755);
    remove_all(ctx[i]);
    test.setup(ctx[i]);
  }
  // Workers start together and each times its own run; the test took from
  // the first start to the last finish.
  std::vector<double> amount(o.threads);
  std::vector<std::chrono::steady_clock::time_point> began(o.threads), ended(o.threads);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int i = 0; i < o.threads; ++i) {
    workers.emplace_back([&, i] {
      ready++;
      while (!go.load()) std::this_thread::yield();
      began[i] = std::chrono::steady_clock::now();
      amount[i] = test.run(ctx[i]);
      ended[i] = std::chrono::steady_clock::now();
    });
  }
  while (ready.load() < o.threads) std::this_thread::yield();
  go = true;
  for (auto& w : workers) w.join();
  double seconds = std::chrono::duration<double>(*std::max_element(ended.begin(), ended.end()) -
                                                 *std::min_element(began.begin(), began.end()))
                       .count();
  double total = 0;
  for (int i = 0; i < o.threads; ++i) {
    if (amount[i] < 0) total = -1e300;
    total += amount[i];
    test.teardown(ctx[i]);
    rmdir(ctx[i].dir.c_str());
  }
  if (total < 0) return -1;
  if (std::string(test.unit) == "MiB/s") total /= 1 << 20;
  return total / seconds;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int usage() {
  std::fprintf(stderr,
               "usage: fsbench DIR [--files N] [--size BYTES] [--runs R] [--threads N]\n"
               "               [--tests a,b,...] [--csv FILE] [--scale] [--list]\n");
  return 2;
}

long parse_number(const char* flag, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (*end == 'K' || *end == 'k') v <<= 10, ++end;
  else if (*end == 'M' || *end == 'm') v <<= 20, ++end;
  else if (*end == 'G' || *end == 'g') v <<= 30, ++end;
  if (*end || v <= 0) {
    std::fprintf(stderr, "fsbench: %s: expected a positive number, got '%s'\n", flag, text);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) std::exit(usage());
      return argv[++i];
    };
    if (a == "--files") o.files = static_cast<int>(parse_number("--files", value()));
    else if (a == "--size") o.size = static_cast<size_t>(parse_number("--size", value())) & ~size_t{(1 << 20) - 1};
    else if (a == "--runs") o.runs = static_cast<int>(parse_number("--runs", value()));
    else if (a == "--threads") o.threads = static_cast<int>(parse_number("--threads", value()));
    else if (a == "--tests") o.tests = split(value());
    else if (a == "--csv") o.csv = value();
    else if (a == "--scale") o.scale = true;
    else if (a == "--list") list = true;
    else if (a[0] != '-' && o.dir.empty()) o.dir = a;
    else return usage();
  }
  std::vector<Test> tests = all_tests();
  if (list) {
    for (const auto& t : tests) std::printf("%s\n", t.name);
    return 0;
  }
  if (o.dir.empty() || o.size == 0) return usage();
  bool tty = isatty(2);
  FILE* csv = o.csv.empty() ? stdout : std::fopen(o.csv.c_str(), "w");
  if (!csv) {
    std::perror(o.csv.c_str());
    return 1;
  }
  std::fprintf(csv, "test,unit,median,min,max,runs\n");
  auto report = [&](const std::string& name, const char* unit, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::fprintf(csv, "%s,%s,%.1f,%.1f,%.1f,%zu\n", name.c_str(), unit, v[v.size() / 2], v.front(), v.back(),
                 v.size());
    std::fflush(csv);
  };
  if (o.scale) {
    // Cost per operation at growing directory sizes: it should not grow.
    for (int n : {1000, 10000, 100000}) {
      Options so = o;
      so.files = n;
      so.threads = 1;
      for (const auto& t : tests) {
        std::string name = t.name;
        if (name != "file_create" && name != "file_open") continue;
        std::vector<double> us;
        for (int r = 0; r < std::max(1, o.runs / 2); ++r) us.push_back(1e6 / run_once(t, so));
        if (tty) std::fprintf(stderr, "\r%-24s %7d files", t.name, n);
        report(name + "@" + std::to_string(n), "us/op", us);
      }
    }
    if (tty) std::fprintf(stderr, "\n");
    return 0;
  }
  for (const auto& t : tests) {
    if (!o.tests.empty() && std::find(o.tests.begin(), o.tests.end(), t.name) == o.tests.end()) continue;
    std::vector<double> results;
    for (int r = 0; r < o.runs; ++r) {
      if (tty) std::fprintf(stderr, "\r%-24s run %d/%d   ", t.name, r + 1, o.runs);
      double v = run_once(t, o);
      if (v < 0) break;
      results.push_back(v);
    }
    if (results.empty()) {
      if (tty) std::fprintf(stderr, "\r%-24s skipped (not supported here)\n", t.name);
      continue;
    }
    report(t.name, t.unit, results);
  }
  if (tty) std::fprintf(stderr, "\r%40s\r", "");
  return 0;
}
