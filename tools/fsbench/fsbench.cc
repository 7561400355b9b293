// fsbench: file system benchmarks for any directory. Test names follow
// WinFsp's fsbench so that results compare. Each test runs R times; the
// median is reported, with the minimum and maximum. Metadata tests report
// operations per second, data tests MiB per second; --threads N runs N
// workers at once, each in its own directory, and sums their rates.
//
//   fsbench DIR [--files N] [--size BYTES] [--iterations K] [--runs R]
//               [--threads N] [--tests a,b,...] [--csv FILE]
//   fsbench DIR --scale [--scale-sizes 1000,10000,100000] [--runs R] [--tests ...]
//   fsbench --list
//
// Everything fsbench creates lives in DIR/fsbench.PID and is removed at the
// end, also after a failure or Ctrl-C. Uses only the standard library and
// Linux system calls.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <latch>
#include <memory>
#include <sstream>
#include <thread>

#include "fsbench.h"

namespace fsbench {

std::atomic<int> g_interrupted{0};

namespace {

void on_signal(int sig) {
  if (g_interrupted.exchange(sig)) _exit(128 + sig);  // a second Ctrl-C: leave now
}

void install_signal_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked call returns EINTR and the run stops
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    if (sigaction(sig, &sa, nullptr) != 0) fail_errno("sigaction", errno);
  }
}

const char* kUsage =
    "usage: fsbench DIR [options]      benchmark the file system that holds DIR\n"
    "       fsbench --list             list the tests\n"
    "\n"
    "  --files N         files per test directory (default 1000)\n"
    "  --size BYTES      data file size for the data tests, a multiple of 4096;\n"
    "                    K, M, G suffixes are powers of 1024 (default 64M)\n"
    "  --iterations K    passes of each test's timed loop (default 1)\n"
    "  --runs R          runs of each test; the median is reported (default 5)\n"
    "  --threads N       N workers at once, each in its own directory; rates are summed\n"
    "  --tests a,b,...   tests or groups to run (default all; see --list)\n"
    "  --csv FILE        also write test,unit,median,min,max,runs to FILE ('-': stdout only CSV)\n"
    "  --scale           cost per operation (us/op) of file_create and file_open (or the\n"
    "                    --tests given) in one directory of 1,000, 10,000 and 100,000 files\n"
    "  --scale-sizes L   the directory sizes for --scale, comma-separated\n"
    "\n"
    "Everything is created under DIR/fsbench.PID and removed afterwards. A failing\n"
    "system call stops the run with the test, the call and the errno. O_DIRECT or\n"
    "shared mmap refused by the file system: the test is reported as skipped.\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "fsbench: %s\nTry 'fsbench --help'.\n", message.c_str());
  std::exit(2);
}

// A positive integer in [lo, hi]; with size_suffix, K/M/G multiply by 1024^n.
long long parse_number(const std::string& flag, const std::string& text, long long lo, long long hi,
                       bool size_suffix = false) {
  errno = 0;
  char* end = nullptr;
  long long v = text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])) ? -1
                                                                                    : std::strtoll(text.c_str(), &end, 10);
  int shift = 0;
  if (v >= 0 && size_suffix && *end) {
    switch (*end) {
      case 'K': case 'k': shift = 10; break;
      case 'M': case 'm': shift = 20; break;
      case 'G': case 'g': shift = 30; break;
      default: shift = -1;
    }
    if (shift > 0) ++end;
    if (shift > 0 && (*end == 'i' || *end == 'I')) ++end;  // KiB, MiB
    if (shift > 0 && (*end == 'B' || *end == 'b')) ++end;
  }
  if (v < 0 || errno || shift < 0 || *end || (shift && v > (hi >> shift))) {
    usage_error(flag + ": expected a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got '" +
                text + "'");
  }
  v <<= shift;
  if (v < lo || v > hi) {
    usage_error(flag + ": expected a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got '" +
                text + "'");
  }
  return v;
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

struct Options {
  std::string dir;
  Config config;
  int runs = 5;
  std::vector<std::string> tests;
  std::string csv;
  bool scale = false;
  bool threads_given = false;
  std::vector<long> scale_sizes = {1000, 10000, 100000};
  bool list = false;
};

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool inline_value = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      value = arg.substr(arg.find('=') + 1);
      arg.resize(arg.find('='));
      inline_value = true;
    }
    auto take = [&]() -> std::string {
      if (inline_value) return value;
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--files") {
      o.config.files = parse_number(arg, take(), 1, 10'000'000);
    } else if (arg == "--size") {
      o.config.size = static_cast<size_t>(parse_number(arg, take(), 4096, 1ll << 40, true));
      if (o.config.size % 4096) usage_error("--size: must be a multiple of 4096 (O_DIRECT and page tests)");
    } else if (arg == "--iterations") {
      o.config.iterations = parse_number(arg, take(), 1, 1'000'000);
    } else if (arg == "--runs") {
      o.runs = static_cast<int>(parse_number(arg, take(), 1, 1000));
    } else if (arg == "--threads") {
      o.config.threads = static_cast<int>(parse_number(arg, take(), 1, 256));
      o.threads_given = true;
    } else if (arg == "--tests") {
      o.tests = split(take());
    } else if (arg == "--csv") {
      o.csv = take();
      if (o.csv.empty()) usage_error("--csv needs a file name");
    } else if (arg == "--scale") {
      o.scale = true;
    } else if (arg == "--scale-sizes") {
      o.scale_sizes.clear();
      for (const auto& s : split(take())) o.scale_sizes.push_back(parse_number(arg, s, 1, 10'000'000));
      if (o.scale_sizes.empty()) usage_error("--scale-sizes needs at least one size");
    } else if (arg == "--list") {
      o.list = true;
    } else if (!arg.empty() && arg[0] == '-') {
      usage_error("unknown option " + arg);
    } else if (o.dir.empty()) {
      o.dir = arg;
    } else {
      usage_error("unexpected argument '" + arg + "' (one directory only)");
    }
    if (inline_value && (arg == "--scale" || arg == "--list")) usage_error(arg + " takes no value");
  }
  if (!o.list && o.dir.empty()) usage_error("which directory? fsbench DIR [options]");
  if (o.scale && o.threads_given) usage_error("--scale measures one directory; drop --threads");
  return o;
}

// The tests named by --tests (test or group names), in their usual order.
std::vector<const Test*> select_tests(const std::vector<std::string>& names, bool scale) {
  const auto& all = all_tests();
  std::vector<std::string> wanted = names;
  if (wanted.empty() && scale) wanted = {"file_create", "file_open"};
  for (const auto& n : wanted) {
    bool known = n == "all" || std::any_of(all.begin(), all.end(), [&](const Test& t) {
                   return n == t.name || n == t.group;
                 });
    if (!known) usage_error("unknown test or group '" + n + "' (see fsbench --list)");
  }
  std::vector<const Test*> out;
  for (const auto& t : all) {
    bool chosen = wanted.empty() || std::any_of(wanted.begin(), wanted.end(), [&](const std::string& n) {
                    return n == "all" || n == t.name || n == t.group;
                  });
    if (!chosen) continue;
    if (scale && t.unit != Unit::kOps) usage_error(std::string("--scale: ") + t.name + " is not a metadata test");
    out.push_back(&t);
  }
  return out;
}

// Rethrows the first exception of a set, preferring a failure over a skip.
void rethrow_first(const std::vector<std::exception_ptr>& errors) {
  std::exception_ptr skip;
  for (const auto& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const Skip&) {
      if (!skip) skip = e;
    } catch (...) {
      throw;
    }
  }
  if (skip) std::rethrow_exception(skip);
}

void run_bodies(const Test& t, std::vector<std::unique_ptr<Worker>>& ws) {
  if (ws.size() == 1) {
    t.body(*ws[0]);
    return;
  }
  std::latch start(static_cast<std::ptrdiff_t>(ws.size()));
  std::vector<std::exception_ptr> errors(ws.size());
  std::vector<std::thread> threads;
  try {
    for (size_t i = 0; i < ws.size(); ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();  // all workers start together
        try {
          t.body(*ws[i]);
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    }
  } catch (...) {
    start.count_down(static_cast<std::ptrdiff_t>(ws.size() - threads.size()));
    for (auto& th : threads) th.join();
    throw;
  }
  for (auto& th : threads) th.join();
  rethrow_first(errors);
}

// One run of one test: per-worker directories, untimed setup, the timed
// bodies, untimed teardown. Returns ops/s or MiB/s, summed over workers.
double run_once(const Test& t, const Options& o, const std::string& root) {
  std::vector<std::unique_ptr<Worker>> ws;
  for (int i = 0; i < o.config.threads; ++i) {
    std::string dir = root + "/t" + std::to_string(i);
    sys::mkdir(dir);
    ws.push_back(std::make_unique<Worker>(o.config, dir, static_cast<unsigned>(i)));
  }
  std::exception_ptr skipped;
  try {
    if (t.setup) {
      for (auto& w : ws) t.setup(*w);
    }
    run_bodies(t, ws);
  } catch (const Skip&) {
    skipped = std::current_exception();  // still clean up, checked
  }
  for (auto& w : ws) {
    if (w->fd >= 0) {
      int fd = w->fd;
      w->fd = -1;
      sys::close(fd, w->data_path());
    }
    sys::remove_tree(w->dir);
  }
  if (skipped) std::rethrow_exception(skipped);
  poll_interrupted();
  double total = 0;
  for (auto& w : ws) {
    if (w->seconds <= 0) fail("the timed part took no measurable time; use more --files or a larger --size");
    double rate = w->amount / w->seconds;
    if (t.unit == Unit::kBytes) rate /= 1 << 20;
    total += rate;
  }
  return total;
}

struct Row {
  std::string test;
  std::string unit;
  std::vector<double> values;  // empty: skipped
  std::string skipped;
  std::string note;  // a derived value (one number) and what it means
  int runs = 0;      // runs behind a derived value
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

class Report {
 public:
  explicit Report(const Options& o) : table_(o.csv != "-"), tty_(isatty(2)) {
    if (o.csv == "-") {
      csv_ = stdout;
    } else if (!o.csv.empty()) {
      csv_ = std::fopen(o.csv.c_str(), "w");
      if (!csv_) fail_errno("open " + o.csv, errno);
      own_csv_ = true;
    }
    if (csv_) std::fprintf(csv_, "test,unit,median,min,max,runs\n");
  }
  ~Report() {
    if (own_csv_ && csv_) std::fclose(csv_);
  }

  void header(const Options& o) {
    if (!table_) return;
    if (o.scale) {
      std::printf("# fsbench %s: --scale, %d runs\n", o.dir.c_str(), o.runs);
    } else {
      std::printf("# fsbench %s: %ld files, %.6g MiB data files, %ld iteration%s, %d runs, %d thread%s\n",
                  o.dir.c_str(), o.config.files, static_cast<double>(o.config.size) / (1 << 20), o.config.iterations,
                  o.config.iterations == 1 ? "" : "s", o.runs, o.config.threads, o.config.threads == 1 ? "" : "s");
    }
    std::printf("%-24s %-6s %14s %14s %14s %5s\n", "test", "unit", "median", "min", "max", "runs");
    std::fflush(stdout);
  }

  void progress(const std::string& what, int run, int runs) {
    if (!tty_) return;
    std::fprintf(stderr, "\r\033[K%s: run %d/%d", what.c_str(), run, runs);
  }

  void add(const Row& r) {
    clear_progress();
    int prec = r.unit == "us/op" || r.unit == "x" ? 3 : 1;
    if (r.values.empty()) {
      if (table_) std::printf("%-24s %-6s skipped: %s\n", r.test.c_str(), r.unit.c_str(), r.skipped.c_str());
      if (csv_) std::fprintf(csv_, "%s,%s,,,,0\n", r.test.c_str(), r.unit.c_str());
    } else {
      double med = median(r.values);
      double lo = *std::min_element(r.values.begin(), r.values.end());
      double hi = *std::max_element(r.values.begin(), r.values.end());
      if (table_) {
        if (r.note.empty()) {
          std::printf("%-24s %-6s %14.*f %14.*f %14.*f %5zu\n", r.test.c_str(), r.unit.c_str(), prec, med, prec, lo,
                      prec, hi, r.values.size());
        } else {
          std::printf("%-24s %-6s %14.*f   %s\n", r.test.c_str(), r.unit.c_str(), prec, med, r.note.c_str());
        }
      }
      if (csv_ && r.note.empty()) {
        std::fprintf(csv_, "%s,%s,%.*f,%.*f,%.*f,%zu\n", r.test.c_str(), r.unit.c_str(), prec, med, prec, lo, prec, hi,
                     r.values.size());
      } else if (csv_) {
        std::fprintf(csv_, "%s,%s,%.*f,,,%d\n", r.test.c_str(), r.unit.c_str(), prec, med, r.runs);
      }
    }
    std::fflush(stdout);
    if (csv_) std::fflush(csv_);
  }

  void finish() {
    clear_progress();
    if (own_csv_) {
      FILE* f = csv_;
      csv_ = nullptr;
      if (std::ferror(f) | std::fclose(f)) fail("writing the CSV file failed");
    } else if (csv_ && std::ferror(csv_)) {
      fail("writing the CSV to stdout failed");
    }
  }

  void clear_progress() {
    if (tty_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool table_;
  bool tty_;
  FILE* csv_ = nullptr;
  bool own_csv_ = false;
};

std::string g_current;  // the test running, for error messages

// Runs each selected test R times.
void run_tests(const Options& o, const std::vector<const Test*>& tests, const std::string& root, Report& report) {
  for (const Test* t : tests) {
    g_current = t->name;
    Row row{t->name, t->unit == Unit::kOps ? "ops/s" : "MiB/s", {}, {}, {}, 0};
    for (int r = 0; r < o.runs; ++r) {
      report.progress(t->name, r + 1, o.runs);
      try {
        row.values.push_back(run_once(*t, o, root));
      } catch (const Skip& s) {
        row.values.clear();
        row.skipped = s.reason;
        break;
      }
    }
    report.add(row);
  }
}

// --scale: the cost of one operation (us) at each directory size, and how
// much it grew from the smallest to the largest.
void run_scale(const Options& o, const std::vector<const Test*>& tests, const std::string& root, Report& report) {
  for (const Test* t : tests) {
    std::vector<double> medians;
    for (long n : o.scale_sizes) {
      Options so = o;
      so.config.files = n;
      so.config.iterations = 1;
      so.config.threads = 1;
      std::string name = std::string(t->name) + "@" + std::to_string(n);
      g_current = name;
      Row row{name, "us/op", {}, {}, {}, 0};
      for (int r = 0; r < o.runs; ++r) {
        report.progress(name, r + 1, o.runs);
        row.values.push_back(1e6 / run_once(*t, so, root));
      }
      medians.push_back(median(row.values));
      report.add(row);
    }
    if (medians.size() > 1) {
      std::string note = "us/op at " + std::to_string(o.scale_sizes.back()) + " files / at " +
                         std::to_string(o.scale_sizes.front());
      report.add({std::string(t->name) + "@growth", "x", {medians.back() / medians.front()}, {}, note, o.runs});
    }
  }
}

}  // namespace
}  // namespace fsbench

int main(int argc, char** argv) {
  using namespace fsbench;
  Options o = parse_args(argc, argv);
  if (o.list) {
    for (const auto& t : all_tests()) {
      std::printf("%-22s %-8s %-6s %s\n", t.name, t.group, t.unit == Unit::kOps ? "ops/s" : "MiB/s", t.what);
    }
    return 0;
  }
  std::vector<const Test*> tests = select_tests(o.tests, o.scale);

  struct stat st;
  if (::stat(o.dir.c_str(), &st) != 0) {
    std::fprintf(stderr, "fsbench: %s: %s\n", o.dir.c_str(), errno_text(errno).c_str());
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "fsbench: %s: not a directory\n", o.dir.c_str());
    return 1;
  }
  std::string root = o.dir + "/fsbench." + std::to_string(getpid());
  bool made_root = false;
  try {
    install_signal_handlers();
    Report report(o);
    sys::mkdir(root);
    made_root = true;
    report.header(o);
    if (o.scale) run_scale(o, tests, root, report);
    else run_tests(o, tests, root, report);
    g_current.clear();
    sys::rmdir(root);
    made_root = false;
    report.finish();
    return 0;
  } catch (const Failure& f) {
    if (isatty(2)) std::fprintf(stderr, "\r\033[K");
    if (g_interrupted.load()) {
      std::fprintf(stderr, "fsbench: interrupted%s%s\n", g_current.empty() ? "" : " during ", g_current.c_str());
    } else {
      std::fprintf(stderr, "fsbench: %s%s%s\n", g_current.c_str(), g_current.empty() ? "" : ": ",
                   f.message.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fsbench: %s%s%s\n", g_current.c_str(), g_current.empty() ? "" : ": ", e.what());
  }
  if (made_root) sys::remove_tree(root, true);
  int sig = g_interrupted.load();
  return sig ? 128 + sig : 1;
}
