// Command line parsing shared by every file system program. Every option is
// one entry of a table (host_options() or the file system's own); the parser
// and usage() both read the tables, so neither can forget an option.
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "linfsp/host.h"

namespace linfsp {

// host.h promises mount(2)'s values, so the flags go to the kernel unchanged.
static_assert(kMountNoSuid == MS_NOSUID && kMountNoDev == MS_NODEV && kMountNoExec == MS_NOEXEC);
static_assert(kMountSynchronous == MS_SYNCHRONOUS && kMountDirSync == MS_DIRSYNC);
static_assert(kMountNoAtime == MS_NOATIME && kMountNoDirAtime == MS_NODIRATIME);
static_assert(kMountRelatime == MS_RELATIME && kMountStrictAtime == MS_STRICTATIME);
static_assert(kMountLazyTime == MS_LAZYTIME);

namespace {

Status bad(const std::string& what) { return Status::error(EINVAL, what); }

bool is_switch(const std::string& name) { return !name.empty() && name[0] == '-'; }
bool has_switch(const Option& opt) { return std::any_of(opt.names.begin(), opt.names.end(), is_switch); }
// A placeholder in brackets ("[NAME]") marks a value that may be left out.
bool value_optional(const Option& opt) { return !opt.value.empty() && opt.value[0] == '['; }

bool key_matches(const std::string& pattern, const std::string& key) {
  if (is_switch(pattern)) return false;
  if (!pattern.empty() && pattern.back() == '*') {
    return key.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  }
  return pattern == key;
}

// The file system's tables come first, so it may take over a spelling.
const Option* find(const std::vector<const std::vector<Option>*>& tables, const std::string& name,
                   bool key) {
  for (const auto* table : tables) {
    for (const Option& opt : *table) {
      for (const std::string& n : opt.names) {
        if (key ? key_matches(n, name) : n == name) return &opt;
      }
    }
  }
  return nullptr;
}

Status apply(const Option& opt, const std::string& spelling, const std::string& value) {
  Status s = opt.set(value);
  if (!s) return Status::error(s.err(), spelling + ": " + s.message());
  return s;
}

// One KEY[=VALUE] of a -o list.
Status apply_key(const std::vector<const std::vector<Option>*>& tables, const std::string& item) {
  size_t eq = item.find('=');
  std::string key = item.substr(0, eq);
  bool has_value = eq != std::string::npos;
  std::string value = has_value ? item.substr(eq + 1) : "";
  const Option* opt = find(tables, key, true);
  if (opt == nullptr) return bad("unknown mount option '" + key + "'");
  if (opt->value.empty() && has_value) return bad("mount option '" + key + "' takes no value");
  if (!opt->value.empty() && !has_value && !value_optional(*opt)) {
    return bad("mount option '" + key + "' needs a value (" + key + "=" + opt->value + ")");
  }
  return apply(*opt, key, value);
}

Status apply_list(const std::vector<const std::vector<Option>*>& tables, const std::string& list) {
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    if (Status s = apply_key(tables, item); !s) return s;
  }
  return Status::ok();
}

Status parse_name(const std::string& text, bool allow_empty, std::string* out) {
  if ((text.empty() && !allow_empty) || text.find_first_of(", \t\n") != std::string::npos) {
    return bad("expected a name without commas or spaces, got '" + text + "'");
  }
  *out = text;
  return Status::ok();
}

Option::Setter set_narrow_count(unsigned* field, uint64_t min, uint64_t max) {
  return [=](const std::string& v) {
    uint64_t n = 0;
    Status s = set_count(&n, min, max)(v);
    if (s) *field = static_cast<unsigned>(n);
    return s;
  };
}

// "  -t, --threads N" or "  --max-nodes N, -o max_nodes=N" or "  fsname=NAME".
std::string spell(const Option& opt) {
  bool switches = has_switch(opt);
  bool optional = value_optional(opt);
  std::string bare = optional ? opt.value.substr(1, opt.value.size() - 2) : opt.value;
  std::string left;
  for (int pass = 0; pass < 2; ++pass) {
    bool want_switch = pass == 0;
    std::string last;
    for (const std::string& n : opt.names) {
      if (is_switch(n) != want_switch) continue;
      if (!left.empty()) left += ", ";
      left += (!want_switch && switches) ? "-o " + n : n;
      last = n;
    }
    if (last.empty() || bare.empty()) continue;
    if (want_switch && last.rfind("--", 0) != 0 && optional) continue;  // -x has no '=' form
    if (want_switch) {
      left += optional ? "[=" + bare + "]" : " " + bare;
    } else {
      left += optional ? "[=" + bare + "]" : "=" + bare;
    }
  }
  return left;
}

void append_row(std::string* u, const std::string& left, const std::string& help) {
  constexpr size_t kColumn = 28;
  std::string line = "  " + left;
  if (line.size() + 1 > kColumn) {
    *u += line + "\n";
    line.clear();
  }
  line.resize(kColumn, ' ');
  *u += line + help + "\n";
}

}  // namespace

Option::Setter set_flag(bool* field, bool value) {
  return [=](const std::string&) {
    *field = value;
    return Status::ok();
  };
}

Option::Setter set_bits(uint32_t* field, uint32_t set, uint32_t clear) {
  return [=](const std::string&) {
    *field = (*field & ~clear) | set;
    return Status::ok();
  };
}

Option::Setter set_seconds(double* field) {
  return [=](const std::string& text) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || errno != 0 || !std::isfinite(v) || v < 0 || v > 1e9) {
      return bad("expected a number of seconds, got '" + text + "'");
    }
    *field = v;
    return Status::ok();
  };
}

Option::Setter set_count(uint64_t* field, uint64_t min, uint64_t max) {
  return [=](const std::string& text) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || v < min || v > max) {
      return bad("expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                 ", got '" + text + "'");
    }
    *field = v;
    return Status::ok();
  };
}

Option::Setter ignore_option() {
  return [](const std::string&) { return Status::ok(); };
}

std::vector<Option> host_options(HostOptions* o) {
  uint32_t* flags = &o->mount_flags;
  constexpr uint32_t kAtimes = kMountNoAtime | kMountRelatime | kMountStrictAtime;
  return {
      // Command-line switches (some with a -o key too).
      {{"-h", "--help"}, "", "print this help and exit", set_flag(&o->help, true)},
      {{"--version"}, "", "print the version and exit", set_flag(&o->version, true)},
      {{"-d", "--debug", "debug"}, "", "trace every request and reply on stderr", set_flag(&o->debug, true)},
      {{"-f", "--foreground"}, "", "accepted; the file system always runs in the foreground", ignore_option()},
      {{"-t", "--threads"}, "N", "request threads (default: CPUs, at least 2)",
       set_narrow_count(&o->threads, 1, 256)},
      {{"--uring", "uring"}, "", "serve over FUSE-over-io_uring", set_flag(&o->uring, true)},
      {{"--ready-fd"}, "N", "write READY=1 to descriptor N once mounted (for a starter)",
       [o](const std::string& v) {
         uint64_t n = 0;
         Status s = set_count(&n, 0, 1 << 20)(v);
         if (s) o->ready_fd = static_cast<int>(n);
         return s;
       }},
      {{"--entry-timeout", "entry_timeout"}, "S", "kernel name cache timeout in seconds",
       set_seconds(&o->entry_timeout)},
      {{"--attr-timeout", "attr_timeout"}, "S", "kernel attribute cache timeout in seconds",
       set_seconds(&o->attr_timeout)},
      {{"--negative-timeout", "negative_timeout"}, "S", "cache 'no such name' answers (seconds)",
       set_seconds(&o->negative_timeout)},
      // FUSE mount options.
      {{"allow_other"}, "", "let every user reach the mount", set_flag(&o->allow_other, true)},
      {{"default_permissions"}, "", "the kernel checks permissions from the mode bits",
       set_flag(&o->default_permissions, true)},
      {{"ro"}, "", "mount read-only", set_flag(&o->read_only, true)},
      {{"rw"}, "", "mount read-write (the default)", set_flag(&o->read_only, false)},
      {{"nonempty"}, "", "mount over a non-empty directory", set_flag(&o->allow_nonempty, true)},
      {{"fsname"}, "NAME", "the source shown in /proc/mounts",
       [o](const std::string& v) { return parse_name(v, false, &o->fsname); }},
      {{"subtype"}, "NAME", "type fuse.NAME in /proc/mounts; empty: plain fuse",
       [o](const std::string& v) { return parse_name(v, true, &o->subtype); }},
      {{"keep_cache"}, "", "keep the page cache across opens (the default)", set_flag(&o->keep_cache, true)},
      {{"nokeep_cache"}, "", "drop a file's page cache when it is opened", set_flag(&o->keep_cache, false)},
      {{"writeback_cache"}, "", "the kernel caches writes", set_flag(&o->writeback_cache, true)},
      {{"auto_inval_data"}, "", "drop cached data when the mtime changes (the default)",
       set_flag(&o->auto_inval_data, true)},
      {{"noauto_inval_data"}, "", "keep cached data when the mtime changes",
       set_flag(&o->auto_inval_data, false)},
      {{"no_open"}, "", "no OPEN/RELEASE round trips (no state per open)", set_flag(&o->no_open, true)},
      {{"export_support"}, "", "file handles (NFS export, open_by_handle_at) stay valid", set_flag(&o->export_support, true)},
      {{"max_write"}, "BYTES", "largest write request, 4096 to 1048576",
       [o](const std::string& v) {
         uint64_t n = 0;
         Status s = set_count(&n, 4096, 1 << 20)(v);
         if (s) o->max_write = static_cast<uint32_t>(n);
         return s;
       }},
      // The generic options of mount(8), as mount flags.
      {{"nosuid"}, "", "ignore set-user-ID and set-group-ID bits (the default)", set_bits(flags, kMountNoSuid, 0)},
      {{"suid"}, "", "honour set-user-ID bits (privileged mounts only)", set_bits(flags, 0, kMountNoSuid)},
      {{"nodev"}, "", "no device files (the default)", set_bits(flags, kMountNoDev, 0)},
      {{"dev"}, "", "allow device files (privileged mounts only)", set_bits(flags, 0, kMountNoDev)},
      {{"noexec"}, "", "no program runs from the mount", set_bits(flags, kMountNoExec, 0)},
      {{"exec"}, "", "programs may run from the mount (the default)", set_bits(flags, 0, kMountNoExec)},
      {{"noatime"}, "", "never update access times", set_bits(flags, kMountNoAtime, kAtimes)},
      {{"atime"}, "", "access times as the kernel's default does", set_bits(flags, 0, kMountNoAtime)},
      {{"relatime"}, "", "update access times relative to mtime/ctime", set_bits(flags, kMountRelatime, kAtimes)},
      {{"strictatime"}, "", "update access times on every access", set_bits(flags, kMountStrictAtime, kAtimes)},
      {{"nodiratime"}, "", "never update directories' access times", set_bits(flags, kMountNoDirAtime, 0)},
      {{"diratime"}, "", "update directories' access times", set_bits(flags, 0, kMountNoDirAtime)},
      {{"lazytime"}, "", "keep time updates in memory only", set_bits(flags, kMountLazyTime, 0)},
      {{"nolazytime"}, "", "write time updates out", set_bits(flags, 0, kMountLazyTime)},
      {{"sync"}, "", "all writes are synchronous", set_bits(flags, kMountSynchronous, 0)},
      {{"async"}, "", "writes may be asynchronous (the default)", set_bits(flags, 0, kMountSynchronous)},
      {{"dirsync"}, "", "directory changes are synchronous", set_bits(flags, kMountDirSync, 0)},
      // What mount(8) and /etc/fstab pass along but means nothing here.
      {{"defaults", "auto", "noauto", "users", "nouser", "nofail", "_netdev"}, "",
       "accepted for mount(8) and /etc/fstab; no effect", ignore_option()},
      {{"user"}, "[NAME]", "accepted for mount(8); no effect", ignore_option()},
      {{"x-*"}, "[VALUE]", "userspace options of /etc/fstab; ignored", ignore_option()},
  };
}

Status parse_command_line(int argc, char** argv, HostOptions* o, const std::vector<Option>& fs_options) {
  std::vector<Option> host = host_options(o);
  std::vector<const std::vector<Option>*> tables = {&fs_options, &host};
  bool have_mountpoint = false;
  bool positional_only = false;  // after "--"
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!positional_only && arg == "--") {
      positional_only = true;
      continue;
    }
    if (positional_only || !is_switch(arg) || arg == "-") {
      if (have_mountpoint) return bad("unexpected argument '" + arg + "' (one mount point only)");
      o->mountpoint = arg;
      have_mountpoint = true;
      continue;
    }
    if (arg.rfind("-o", 0) == 0) {  // -o LIST or -oLIST
      if (arg.size() == 2 && i + 1 >= argc) return bad("option -o needs a value");
      if (Status s = apply_list(tables, arg.size() > 2 ? arg.substr(2) : argv[++i]); !s) return s;
      continue;
    }
    // --name=value gives the value inline.
    std::string value;
    bool inline_value = false;
    if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
      inline_value = true;
    }
    const Option* opt = find(tables, arg, false);
    if (opt == nullptr) return bad("unknown option " + arg);
    if (opt->value.empty() && inline_value) return bad("option " + arg + " takes no value");
    if (!opt->value.empty() && !inline_value && !value_optional(*opt)) {
      if (i + 1 >= argc) return bad("option " + arg + " needs a value");
      value = argv[++i];
    }
    if (Status s = apply(*opt, arg, value); !s) return s;
    // The program prints and exits; the rest of the line does not matter.
    if (o->help || o->version) return Status::ok();
  }
  if (!have_mountpoint) return bad("missing mount point");
  return Status::ok();
}

std::string usage(const std::string& program, const std::vector<Option>& fs_options) {
  HostOptions scratch;  // the tables are read, never applied
  std::vector<Option> host = host_options(&scratch);
  std::string u = "usage: " + program + " MOUNTPOINT [options]\n\noptions:\n";
  for (const Option& opt : host) {
    if (has_switch(opt)) append_row(&u, spell(opt), opt.help);
  }
  append_row(&u, "-o OPT[,OPT...]", "mount options, listed below");
  if (!fs_options.empty()) {
    u += "\n" + program + " options:\n";
    for (const Option& opt : fs_options) append_row(&u, spell(opt), opt.help);
  }
  u += "\nmount options (-o):\n";
  for (const Option& opt : host) {
    if (!has_switch(opt)) append_row(&u, spell(opt), opt.help);
  }
  return u;
}

std::string version() { return LINFSP_VERSION; }

}  // namespace linfsp
